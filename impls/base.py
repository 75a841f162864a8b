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
  An integer index argument (graph_conv's ``edges``) arrives as ``asarray(a, INDEX_DTYPE)``
  (``"int64"``): a backend's ``asarray`` must accept that dtype name besides its float ``dtypes``.

An op the backend does not define is reported "not implemented"; :class:`Backend` makes every
op raise :class:`NotImplementedOp` by default, so a partial backend still imports and collects.
"""

from __future__ import annotations

import fnmatch
import math
from dataclasses import dataclass

import numpy as np

from spec.catalogue import CATALOGUE, FUNCTION_NAMES

OPS = tuple(op.name for op in CATALOGUE if op.vjp is not None)
"""Differentiable ops: each has ``op`` and ``op_vjp``."""

PLAIN_OPS = tuple(op.name for op in CATALOGUE if op.vjp is None)
"""Ops without a gradient."""

ALL_OP_NAMES = FUNCTION_NAMES
"""Every method of a complete backend, in catalogue order (each op, then its VJP)."""


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
    """A deviation from spec the backend declares and explains up front: its scope and its bound.

    ``op``, ``dtype`` and ``check`` are fnmatch patterns (``"conv*"``, ``"float32"``, ``"*"``).
    ``categories`` are the failure categories it covers (nnconform.schema.CATEGORIES); a wrong shape,
    dtype, NaN pattern or an exception is never covered unless named. A "mismatch" judged by the
tolerance rule is covered only within a bound (without one, only mismatches of checks that have no
tolerance, such as a policy check, are covered):

    * ``unit_roundoff``: the precision the backend really computes in (TF32: ``2**-11`` in place of
      float32's ``2**-24``); the result must pass the same tolerance rule recomputed with that u;
    * ``max_tol_ratio``: or the strict tolerance ratio may go up to this.

    A result inside the bound is reported "expected deviation" (strict ratio and bound side by
    side); beyond it, or of another category, it fails. Any backend object may list these in
    ``expected_deviations``; conformance/deviations.py applies them.
    """

    op: str
    dtype: str
    check: str
    reason: str
    categories: tuple[str, ...] = ("mismatch",)
    unit_roundoff: float | None = None
    max_tol_ratio: float | None = None
    max_abs_err: float | None = None
    """An absolute bound: for a kernel whose error is absolute, not relative (a sigmoid computed through
    tanh, say), where no tolerance ratio stays bounded in the tails."""
    extra_nans_only: bool = False
    """The bound of a covered "nan_mismatch": the backend may return NaN where spec has a number (finite or
    infinite), and nothing else: every NaN of spec is NaN, every Inf of spec that is not NaN is the same
    Inf, and every other element passes the strict tolerance. Without it, a covered nan_mismatch is
    covered whatever the pattern."""

    def __init__(self, op: str, dtype: str, check: str, reason: str, *, categories=("mismatch",),
                 unit_roundoff: float | None = None, max_tol_ratio: float | None = None,
                 max_abs_err: float | None = None, extra_nans_only: bool = False):
        cats = (categories,) if isinstance(categories, str) else tuple(categories)
        for name, value in (("op", op), ("dtype", dtype), ("check", check), ("reason", reason)):
            object.__setattr__(self, name, value)
        object.__setattr__(self, "categories", cats)
        object.__setattr__(self, "unit_roundoff", None if unit_roundoff is None else float(unit_roundoff))
        object.__setattr__(self, "max_tol_ratio", None if max_tol_ratio is None else float(max_tol_ratio))
        object.__setattr__(self, "max_abs_err", None if max_abs_err is None else float(max_abs_err))
        object.__setattr__(self, "extra_nans_only", bool(extra_nans_only))
        if extra_nans_only and "nan_mismatch" not in cats:
            raise ValueError("extra_nans_only=True bounds a NaN pattern: add 'nan_mismatch' to categories")
        if max_abs_err is not None and not 0 < max_abs_err < math.inf:
            raise ValueError(f"max_abs_err={max_abs_err!r}: must be a positive finite absolute error")
        if not cats:
            raise ValueError(f"categories={categories!r}: name at least one failure category to cover")
        if unit_roundoff is not None and not 0 < unit_roundoff < 1:
            raise ValueError(f"unit_roundoff={unit_roundoff!r}: must lie in (0, 1), e.g. 2**-11 for TF32")
        if max_tol_ratio is not None and not max_tol_ratio >= 1:
            raise ValueError(f"max_tol_ratio={max_tol_ratio!r}: must be >= 1 (1 is the strict bound)")

    def matches(self, op: str, dtype: str, check: str) -> bool:
        return (fnmatch.fnmatchcase(op, self.op) and fnmatch.fnmatchcase(dtype, self.dtype)
                and fnmatch.fnmatchcase(check, self.check))

    def covers(self, op: str, dtype: str, check: str, category: str | None) -> bool:
        """In scope: op, dtype and check match, and ``category`` is one it names."""
        return category in self.categories and self.matches(op, dtype, check)

    def bound_text(self) -> str:
        parts = []
        if self.unit_roundoff is not None:
            exp = math.log2(self.unit_roundoff)
            parts.append(f"u = 2**{exp:g}" if exp == int(exp) else f"u = {self.unit_roundoff:.3g}")
        if self.max_tol_ratio is not None:
            parts.append(f"tol_ratio <= {self.max_tol_ratio:g}")
        if self.max_abs_err is not None:
            parts.append(f"|err| <= {self.max_abs_err:.3g}")
        other = [c for c in self.categories if c != "mismatch"]
        if self.extra_nans_only:
            parts.append("NaN where spec has a number, nothing else")
        if other:
            parts.append("covers " + ", ".join(other))
        return "; ".join(parts) or "no bound (covers only checks without a tolerance)"


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

    def deviation_for(self, op: str, dtype: str, check: str, category: str | None = "mismatch"):
        return deviation_for(self, op, dtype, check, category)

    def __repr__(self):
        return f"<backend {self.name} on {self.device}>"


for _opname in ALL_OP_NAMES:
    setattr(Backend, _opname, _not_implemented(_opname))
del _opname


def implements(backend, opname: str) -> bool:
    """Whether ``backend`` provides ``opname`` (works for objects not derived from Backend)."""
    fn = getattr(backend, opname, None)
    return callable(fn) and not getattr(fn, "__nnconform_missing__", False)


def deviation_for(backend, op: str, dtype: str, check: str, category: str | None = "mismatch"):
    """The first declaration of ``backend`` (any object) whose scope covers this failure, else None."""
    for dev in getattr(backend, "expected_deviations", ()) or ():
        if isinstance(dev, ExpectedDeviation) and dev.covers(op, dtype, check, category):
            return dev
    return None
