"""The backend contract.

A backend is an object with

* ``name`` (str), ``device`` (str, e.g. ``"cpu"`` or ``"cuda:0"``) and ``dtypes``, the dtype
  names it supports (``"float32"``, ``"float64"``, ``"float16"``, ``"bfloat16"``);
* ``asarray(a: np.ndarray, dtype: str)`` -> native array, and ``to_numpy(native)`` -> ``np.ndarray``
  (low-precision dtypes numpy lacks come back as float32);
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
from dataclasses import KW_ONLY, dataclass

import numpy as np

OPS = (
    "conv", "dense", "relu", "sigmoid", "tanh", "max_pool", "avg_pool", "upsample",
    "dropout", "batch_norm", "batch_norm_eval",
)
"""Differentiable ops: each has ``op`` and ``op_vjp``."""

PLAIN_OPS = ("dropout_mask", "running_stats")
"""Ops without a gradient."""

ALL_OP_NAMES = tuple(n for op in OPS for n in (op, op + "_vjp")) + PLAIN_OPS


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
    _: KW_ONLY
    categories: tuple[str, ...] = ("mismatch",)
    unit_roundoff: float | None = None
    max_tol_ratio: float | None = None

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

    def asarray(self, a, dtype: str):
        return np.array(a, dtype=dtype, copy=True)

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
