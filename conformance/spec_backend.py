"""The spec module seen as a backend (float64 numpy arrays in and out).

Used where the suite runs the same generic code on spec and on a backend (the composite network)
and by the benchmarks ("speed-up over spec"). It is never one of the backends under test.
"""

from __future__ import annotations

import numpy as np

import spec
from impls.base import ALL_OP_NAMES, Backend


class SpecBackend(Backend):
    """Ops spec lacks stay Backend's "not implemented" defaults."""

    name = "spec"
    device = "cpu"
    dtypes = ("float64",)

    def __init__(self):
        for opname in ALL_OP_NAMES:
            fn = getattr(spec, opname, None)
            if callable(fn):
                setattr(self, opname, fn)

    def asarray(self, a, dtype):
        return np.array(a, dtype=np.float64, copy=True)

    def dtype_name(self, a):
        return "float64"
