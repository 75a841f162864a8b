"""An nnconform plug-in backend: the built-in numpy backend with ONE op replaced.

This is the "I wrote one fast kernel, test it" case: derive from a built-in backend, override the
op you wrote, and register a factory under the entry-point group ``nnconform.backends`` (see
pyproject.toml). Every other op is inherited, so the suite tests your kernel inside the whole
table (forward, gradient, hygiene, bad inputs, the composite network) against the spec.
"""

from __future__ import annotations

import numpy as np

from impls.numpy_backend import NumpyBackend
from spec import validate

__all__ = ["ExampleBackend", "make_backend"]


class ExampleBackend(NumpyBackend):
    name = "example-numpy"

    def relu(self, x):
        validate.check_elementwise(x)  # same ValueErrors as every other backend
        x = np.asarray(x)
        dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        return np.maximum(x, 0, dtype=dt)  # one pass, keeps x's dtype, NaN propagates


def make_backend() -> ExampleBackend:
    """Zero-argument factory named by the entry point; may raise impls.Unavailable(reason)."""
    return ExampleBackend()
