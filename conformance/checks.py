"""The one generic check helper: forward, VJP, shape and dtype of any op in the table, in one call.

``check_op(backend, record, case, dtype, mode, ref)`` runs the backend and the reference
(spec, or a float64 oracle for the realistic tier) on the same case, compares every output
under the tolerance policy and returns the worst :class:`~conformance.tolerance.Comparison`,
raising :class:`ConformanceFailure` when an output is out of bounds.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

import spec

from .hypothesis_helpers import Case, cotangent
from .optable import OpRecord
from .pytest_helpers import ConformanceFailure, call_op
from .tolerance import Comparison, compare


def _short(a: np.ndarray, limit: int = 48) -> str:
    return np.array2string(np.asarray(a).ravel(), threshold=limit, precision=8, separator=", ")


def reference_outputs(ref, record: OpRecord, case: Case, mode: str, g: np.ndarray | None):
    if mode == "forward":
        out = getattr(ref, record.name)(*case.args, **case.kwargs)
        return tuple(np.asarray(o, dtype=np.float64) for o in (out if isinstance(out, tuple) else (out,)))
    return tuple(np.asarray(o, dtype=np.float64) for o in getattr(ref, record.name + "_vjp")(g, *case.args, **case.kwargs))


def n_gradients(record: OpRecord, case: Case) -> int:
    return sum(1 for i in record.diff_args if i < len(case.args) and case.args[i] is not None)


@functools.cache
def _param_names(opname: str) -> tuple[str, ...]:
    return tuple(inspect.signature(getattr(spec, opname)).parameters)


def gradient_names(record: OpRecord, case: Case) -> list[str]:
    params = _param_names(record.name)
    return ["d" + params[i] for i in record.diff_args if i < len(case.args) and case.args[i] is not None]


def check_op(backend, record: OpRecord, case: Case, dtype: str, mode: str, *, ref=spec, seed: int = 0,
             compare_to_ref: bool = True) -> tuple[Comparison, tuple]:
    """Check one example. ``mode`` is "forward" or "gradient". Returns (worst comparison, outputs)."""
    g = None
    if mode == "gradient":
        fwd = reference_outputs(ref, record, case, "forward", None)[0]
        g = cotangent(fwd.shape, dtype, seed)
        args, opname = (g, *case.args), record.name + "_vjp"
        n_out = n_gradients(record, case)
        names = gradient_names(record, case)
    else:
        args, opname, n_out = case.args, record.name, record.n_outputs
        names = ["out"] if n_out == 1 else [f"out[{i}]" for i in range(n_out)]
    actual = call_op(backend, opname, args, case.kwargs, dtype=dtype, n_outputs=n_out,
                     layout=getattr(case, "layout", "contiguous"))
    if not compare_to_ref:
        return None, actual
    expected = reference_outputs(ref, record, case, mode, g)
    if mode == "forward":
        mags, ks = record.magnitude(ref, case), (record.reduction(case),) * n_out
    else:
        mags, ks = record.vjp_magnitude(ref, case, g), record.vjp_reduction(case)
    worst = None
    for name, a, e, m, k in zip(names, actual, expected, mags, ks, strict=False):
        cmp = compare(a, e, m, dtype=dtype, reduction=k, c=record.c, what=name)
        if not cmp.ok:
            raise ConformanceFailure(cmp.category, f"{cmp.message} [{backend.name}.{opname}, {dtype}]",
                                     expected=_short(e), actual=_short(a), comparison=cmp)
        if worst is None or cmp.tol_ratio > worst.tol_ratio:
            worst = cmp
    return worst, actual


def checked_mask(backend, shape, keep_prob, seed) -> np.ndarray:
    """The backend's own dropout mask, checked to be 0/1 of ``shape``."""
    (m,) = call_op(backend, "dropout_mask", (), {"shape": shape, "keep_prob": keep_prob, "seed": seed},
                   dtype=None, n_outputs=1)
    if m.shape != tuple(shape) or not np.isin(m, (0.0, 1.0)).all():
        raise ConformanceFailure("mismatch", f"dropout_mask({shape}) gave shape {m.shape}, values "
                                 f"{np.unique(m)[:6]}; expected 0/1 of shape {shape}")
    return m
