"""Tiny backends for tests/test_registry.py, loadable as ``"helpers.registry_backends:<attr>"``."""

from __future__ import annotations

import numpy as np

from impls.base import Backend
from impls.numpy_backend import NumpyBackend
from spec import validate


class MiniBackend(Backend):
    """A deliberately partial backend: relu and its VJP only; every other op is "not implemented"."""

    name = "mini"

    def __init__(self, name: str = "mini"):
        self.name = name

    def relu(self, x):
        validate.check_elementwise(x)
        x = np.asarray(x)
        return np.maximum(x, x.dtype.type(0))  # NaN propagates

    def relu_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, np.shape(x))
        x, g = np.asarray(x), np.asarray(g, dtype=np.asarray(x).dtype)
        gx = np.where(x > 0, g, x.dtype.type(0))
        return (np.where(np.isnan(x), x, gx),)


def make_mini() -> MiniBackend:
    """A zero-argument factory."""
    return MiniBackend(name="mini-from-factory")


MINI = MiniBackend(name="mini-object")
"""A ready-made backend object."""


class SigmoidViaTanh(NumpyBackend):
    """The numpy backend with ONE op replaced: sigmoid(x) = (1 + tanh(x / 2)) / 2, its own kernel."""

    name = "numpy-sigmoid-tanh"

    def sigmoid(self, x):
        validate.check_elementwise(x)
        x = np.asarray(x)
        dt = x.dtype if x.dtype.kind == "f" else np.dtype(np.float64)
        half = dt.type(0.5)
        return half + half * np.tanh(half * x.astype(dt, copy=False))
