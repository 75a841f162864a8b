"""The one generic check helper: forward, VJP, shape and dtype of any op in the table, in one call.

``check_op(backend, record, case, dtype, mode, ref)`` runs the backend and the reference
(spec, or a float64 oracle for the realistic tier) on the same case, compares every output
under the tolerance policy and returns the worst :class:`~conformance.tolerance.Comparison`,
raising :class:`ConformanceFailure` when an output is out of bounds.
"""

from __future__ import annotations

import functools
import inspect
import time

import numpy as np

import spec
from spec import catalogue

from . import deviations
from .hypothesis_helpers import Case, cotangent
from .optable import OpRecord, is_exact
from .pytest_helpers import ConformanceFailure, call_op
from .tolerance import Comparison, bit_exact, compare, compare_exact


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
             compare_to_ref: bool = True, check: str | None = None) -> tuple[Comparison, tuple]:
    """Check one example. ``mode`` is "forward" or "gradient". Returns (worst comparison, outputs).

    Ops with no rounding (optable.EXACT_WHEN) are compared bit for bit. A failure inside a deviation
    the backend declared for (op, dtype, ``check`` or ``mode``) does not raise: every output is still
    checked, and the verdict rides on the returned comparison's ``deviation``.
    """
    g = None
    t0 = time.perf_counter()
    charged0 = getattr(ref, "charged_s", None)  # a shared oracle charges an answer it read at its computing time
    if mode == "gradient":  # the cotangent's shape by spec's shape rules: no forward pass just for a shape
        g = cotangent(catalogue.get(record.name).out_shape(case.args, case.kwargs), dtype, seed)
        args, opname = (g, *case.args), record.name + "_vjp"
        n_out = n_gradients(record, case)
        names = gradient_names(record, case)
    else:
        args, opname, n_out = case.args, record.name, record.n_outputs
        names = ["out"] if n_out == 1 else [f"out[{i}]" for i in range(n_out)]
    # The reference runs first: the backend's time limit is a multiple of its time (pytest_helpers.call_limit).
    expected = reference_outputs(ref, record, case, mode, g) if compare_to_ref else None
    reference_s = None
    if compare_to_ref:
        reference_s = time.perf_counter() - t0 if charged0 is None else ref.charged_s - charged0
    actual = call_op(backend, opname, args, case.kwargs, dtype=dtype, n_outputs=n_out, reference_s=reference_s,
                     layout=getattr(case, "layout", "contiguous"))
    if not compare_to_ref:
        return None, actual
    exact = is_exact(record, mode, case)
    passed = [bit_exact(a, e) if exact else None for a, e in zip(actual, expected, strict=False)]
    if all(p is not None for p in passed) and len(passed) == len(expected):
        mags, ks = (None,) * n_out, (None,) * n_out  # bit-exact throughout: no bound is needed
    elif mode == "forward":
        mags, ks = record.magnitude(ref, case), (record.reduction(case),) * n_out
    else:
        mags, ks = record.vjp_magnitude(ref, case, g), record.vjp_reduction(case)
    worst, verdict = None, None
    flushes = bool(getattr(backend, "flushes_subnormals", False))
    for name, a, e, m, k, p in zip(names, actual, expected, mags, ks, passed, strict=False):
        if p is not None:
            cmp = p
        else:
            cmp = compare(a, e, m, dtype=dtype, reduction=k, c=record.c, what=name, flushes=flushes)
            if exact:
                cmp = compare_exact(a, e, cmp, what=name)
        if not cmp.ok:
            found = deviations.judge(backend, record.name, dtype, check or mode, cmp.category, cmp)
            if found is None:
                raise ConformanceFailure(cmp.category, f"{cmp.message} [{backend.name}.{opname}, {dtype}]",
                                         expected=_short(e), actual=_short(a), comparison=cmp)
            if verdict is None or (found["declared_ratio"] or 0.0) > (verdict["declared_ratio"] or 0.0):
                verdict = found  # the output that needed the declaration most speaks for the example
        if worst is None or cmp.tol_ratio > worst.tol_ratio:
            worst = cmp
    if worst is not None:
        worst.deviation = verdict
    return worst, actual


def checked_mask(backend, shape, keep_prob, seed) -> np.ndarray:
    """The backend's own dropout mask, checked to be 0/1 of ``shape``."""
    (m,) = call_op(backend, "dropout_mask", (), {"shape": shape, "keep_prob": keep_prob, "seed": seed},
                   dtype=None, n_outputs=1)
    if m.shape != tuple(shape) or not np.isin(m, (0.0, 1.0)).all():
        raise ConformanceFailure("mismatch", f"dropout_mask({shape}) gave shape {m.shape}, values "
                                 f"{np.unique(m)[:6]}; expected 0/1 of shape {shape}")
    return m
