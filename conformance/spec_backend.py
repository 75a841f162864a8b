"""The spec module seen as a backend (float64 numpy arrays in and out).

Used where the suite runs the same generic code on spec and on a backend (the composite network)
and by the benchmarks ("speed-up over spec"). It is never one of the backends under test.
"""

from __future__ import annotations

import numpy as np

from impls.base import Backend
from spec.catalogue import CATALOGUE, INDEX_DTYPE


class SpecBackend(Backend):
    """Every op and VJP of spec's catalogue, bound as methods."""

    name = "spec"
    device = "cpu"
    dtypes = ("float64",)

    def __init__(self):
        for op in CATALOGUE:
            setattr(self, op.name, op.forward)
            if op.vjp is not None:
                setattr(self, op.vjp_name, op.vjp)

    def asarray(self, a, dtype):
        return np.array(a, dtype=np.int64 if dtype == INDEX_DTYPE else np.float64, copy=True)

    def dtype_name(self, a):
        return str(np.asarray(a).dtype)
