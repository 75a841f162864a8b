"""The backend contract.

A backend is an object with

* ``name`` (str), ``device`` (str, e.g. ``"cpu"`` or ``"cuda:0"``) and ``dtypes``, the dtype
  names it supports (``"float32"``, ``"float64"``, ``"float16"``, ``"bfloat16"``);
* ``asarray(a: np.ndarray, dtype: str)`` -> native array, and ``to_numpy(native)`` -> ``np.ndarray``
  (low-precision dtypes numpy lacks come back as float32);
* optionally a ``layout`` keyword on ``asarray`` (one of :data:`LAYOUTS`): the native array then holds
  the same values in that memory layout, so the suite tests the ops on non-contiguous input too; a
  backend that supports only some layouts lists them in ``layouts``;
* ``dtype_name(native)`` -> the dtype name of a native array;
* ``metadata()`` -> dict of facts the report shows (library versions, device name, TF32 state...);
* ``expected_deviations``: list of :class:`ExpectedDeviation` the backend declares up front;
* the ops of the spec table, as methods with spec's names and signatures (``conv``,
  ``conv_vjp``, ``max_pool``...), taking and returning native arrays.  A ``*_vjp`` returns a tuple
  with one gradient per differentiable positional argument that was given (not ``None``).

An op the backend does not define is reported "not implemented"; :class:`Backend` makes every
op raise :class:`NotImplementedOp` by default, so a partial backend still imports and collects.
"""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass

import numpy as np

OPS = (
    "conv", "dense", "relu", "sigmoid", "tanh", "max_pool", "avg_pool", "upsample",
    "dropout", "batch_norm", "batch_norm_eval",
)
"""Differentiable ops: each has ``op`` and ``op_vjp``."""

PLAIN_OPS = ("dropout_mask", "running_stats")
"""Ops without a gradient."""

ALL_OP_NAMES = tuple(n for op in OPS for n in (op, op + "_vjp")) + PLAIN_OPS


LAYOUTS = ("contiguous", "fortran", "strided", "reversed", "channels_last")
"""Memory layouts ``asarray(a, dtype, layout=...)`` may be asked for; the values are the same in each:
C-contiguous; Fortran order; a view of every other element of a bigger array (the gaps hold NaN, so
a kernel that reads them shows); a view with negative strides on every axis; channels last
((N, *spatial, C) in memory, viewed as (N, C, *spatial); arrays of fewer than 3 axes stay contiguous)."""


def numpy_layout(a: np.ndarray, layout: str = "contiguous") -> np.ndarray:
    """A new numpy array equal to ``a``, laid out in memory as ``layout`` says (see :data:`LAYOUTS`)."""
    if layout == "contiguous":
        return np.array(a, order="C", copy=True)
    if layout == "fortran":
        return np.array(a, order="F", copy=True)
    if layout == "strided":
        gap = np.nan if a.dtype.kind in "fc" else 0
        big = np.full(tuple(2 * s + 1 for s in a.shape), gap, dtype=a.dtype)
        view = big[tuple(slice(1, None, 2) for _ in a.shape)]
        view[...] = a
        return view
    if layout == "reversed":
        return np.flip(np.flip(a).copy())
    if layout == "channels_last":
        if a.ndim < 3:
            return np.array(a, order="C", copy=True)
        return np.moveaxis(np.ascontiguousarray(np.moveaxis(a, 1, -1)), -1, 1)
    raise ValueError(f"layout={layout!r}: expected one of {LAYOUTS}")


class NotImplementedOp(NotImplementedError):
    """Raised by an op the backend does not provide; reported as "not implemented", not as a failure."""


@dataclass(frozen=True)
class ExpectedDeviation:
    """A deviation from spec the backend declares and explains up front.

    ``op``, ``dtype`` and ``check`` are fnmatch patterns (``"conv*"``, ``"float32"``, ``"*"``).
    A failing check that matches is reported as "expected deviation", with ``reason``; a passing
    one is reported as a pass (the declaration was not needed for that case).
    """

    op: str
    dtype: str
    check: str
    reason: str

    def matches(self, op: str, dtype: str, check: str) -> bool:
        return (fnmatch.fnmatchcase(op, self.op) and fnmatch.fnmatchcase(dtype, self.dtype)
                and fnmatch.fnmatchcase(check, self.check))


class Unavailable(RuntimeError):
    """Raised by a backend factory when the backend cannot run here (no torch, no GPU...).

    The message is the reason the report shows. It is not an error.
    """


def _not_implemented(opname):
    def op(self, *args, **kwargs):
        raise NotImplementedOp(f"backend {self.name!r} does not implement {opname}")

    op.__name__ = opname
    op.__nnconform_missing__ = True
    return op


class Backend:
    """Convenience base class: numpy-array plumbing and "not implemented" for every op.

    Subclass it and define the ops you have. Deriving from a built-in backend and overriding
    one method is the usual way to test a single new kernel.
    """

    name = "unnamed"
    device = "cpu"
    dtypes: tuple[str, ...] = ("float32", "float64")
    expected_deviations: tuple[ExpectedDeviation, ...] = ()
    deterministic = True
    """Two identical calls on this backend must agree bitwise (checked by the suite)."""

    def asarray(self, a, dtype: str, layout: str = "contiguous"):
        return numpy_layout(np.asarray(a, dtype=dtype), layout)

    def to_numpy(self, a) -> np.ndarray:
        return np.asarray(a)

    def dtype_name(self, a) -> str:
        return str(np.asarray(a).dtype)

    def metadata(self) -> dict:
        return {"numpy": np.__version__}

    def implements(self, opname: str) -> bool:
        fn = getattr(self, opname, None)
        return callable(fn) and not getattr(fn, "__nnconform_missing__", False)

    def deviation_for(self, op: str, dtype: str, check: str):
        for dev in self.expected_deviations:
            if dev.matches(op, dtype, check):
                return dev
        return None

    def __repr__(self):
        return f"<backend {self.name} on {self.device}>"


for _opname in ALL_OP_NAMES:
    setattr(Backend, _opname, _not_implemented(_opname))
del _opname


def implements(backend, opname: str) -> bool:
    """Whether ``backend`` provides ``opname`` (works for objects not derived from Backend)."""
    fn = getattr(backend, opname, None)
    return callable(fn) and not getattr(fn, "__nnconform_missing__", False)
