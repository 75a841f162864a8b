"""A numpy backend that says it compiles per shape (as a JAX backend would) and logs the shape signature
of every op call to the file named by NNCONFORM_SHAPE_LOG, one JSON line each: tests/test_mutants_strat.py
counts the distinct signatures a run draws per op and dtype."""

from __future__ import annotations

import functools
import json
import os

from conformance.hypothesis_helpers import shape_signature
from impls.base import ALL_OP_NAMES
from impls.numpy_backend import NumpyBackend


def _logged(opname):
    base = getattr(NumpyBackend, opname)

    @functools.wraps(base)
    def op(self, *args, **kwargs):
        path = os.environ.get("NNCONFORM_SHAPE_LOG")
        if path:
            dtypes = sorted({str(a.dtype) for a in args if hasattr(a, "dtype")})
            with open(path, "a") as fh:
                fh.write(json.dumps([opname, dtypes, repr(shape_signature(opname, args, kwargs))]) + "\n")
        return base(self, *args, **kwargs)

    return op


class ShapeRecorder(NumpyBackend):
    name = "shape-recorder"
    compiles_per_shape = True


for _name in ALL_OP_NAMES:
    setattr(ShapeRecorder, _name, _logged(_name))
del _name
