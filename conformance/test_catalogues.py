"""The spec's catalogues, against every backend: the lecture's worked examples (exactly), the bad
inputs (the same ValueError naming the parameter) and the valid extreme inputs (agree with spec)."""

from __future__ import annotations

import numpy as np

import spec
from impls.base import NotImplementedOp, implements

from .hypothesis_helpers import Case
from .optable import OP_TABLE
from .plugin import Combo, combos
from .pytest_helpers import ConformanceFailure, call_limit, call_op, describe_call, time_limit, to_native
from .results import LISTED_ELEMENTS
from .runner import fail_row, not_implemented, pytest_repro

EXAMPLES = {ex.id: ex for ex in spec.WORKED_EXAMPLES}
BAD = {b.id: b for b in spec.BAD_INPUTS}
EXTREME = {e.id: e for e in spec.EXTREME_CASES}


def _exact_dtypes(backend):
    return [d for d in ("float64", "float32") if d in backend.dtypes]


def _example_combos(name, backend):
    return [Combo(name, ex.op, dt, ex_id) for ex_id, ex in EXAMPLES.items() for dt in _exact_dtypes(backend)]


def _fail(row, backend, exc, request):
    fail_row(row, backend, exc, repro=pytest_repro(request.node.nodeid, row.backend,
                                                   request.config.getoption("hypothesis_seed", None)))
    raise exc


@combos(_example_combos)
def test_worked_example(combo, backend, row, request):
    """The lecture's worked examples hold exactly (their values are small integers: no rounding)."""
    ex = EXAMPLES[combo.extra]
    row.name, row.extra["example_id"] = ex.id, ex.id
    if not implements(backend, ex.op):
        not_implemented(row, NotImplementedError(ex.op))
    try:
        try:
            (out,) = call_op(backend, ex.op, ex.args, ex.kwargs, dtype=combo.dtype)
        except NotImplementedOp as exc:
            not_implemented(row, exc)
        row.examples = 1
        row.extra["output"] = out.tolist() if out.size <= LISTED_ELEMENTS else f"shape {out.shape}"
        expected = np.asarray(ex.expected)
        if out.shape != expected.shape:
            raise ConformanceFailure("wrong_shape", f"out.shape={out.shape}, but should be {expected.shape} "
                                     f"[{ex.id}, slide '{ex.slide}']")
        if ex.check == "values" and not np.array_equal(out, expected):
            raise ConformanceFailure("mismatch", f"output differs from the lecture's worked example {ex.id} "
                                     f"(slide '{ex.slide}')", expected=str(expected.tolist()),
                                     actual=str(out.tolist()))
        row.tol_ratio = 0.0
    except ConformanceFailure as exc:
        _fail(row, backend, exc, request)


def _bad_combos(name, backend):
    dt = "float64" if "float64" in backend.dtypes else backend.dtypes[0]
    # A VJP's entries are filed under its op (conv_vjp -> conv), next to the op's gradient rows.
    return [Combo(name, b.op.removesuffix("_vjp"), dt, b.id) for b in BAD.values()]


def _native_args(backend, bad, dtype):
    """``bad.args`` as the backend's arrays, except the ``raw`` ones (kept as numpy arrays of their own dtype)."""
    return [a if i in bad.raw else to_native(backend, [a], dtype)[0] for i, a in enumerate(bad.args)]


@combos(_bad_combos)
def test_bad_input(combo, backend, row, request):
    """Bad input raises ValueError naming the parameter, as spec does."""
    bad = BAD[combo.extra]
    row.name = bad.id
    if not implements(backend, bad.op):
        not_implemented(row, NotImplementedError(bad.op))
    where = describe_call(backend.name, bad.op, bad.args, bad.kwargs)
    row.examples = 1
    try:
        native = _native_args(backend, bad, combo.dtype)
        try:
            with time_limit(call_limit(0.0)):  # bad input raises at once: the floor of the rule
                getattr(backend, bad.op)(*native, **bad.kwargs)
        except ValueError as exc:
            if bad.param not in str(exc):
                raise ConformanceFailure("wrong_valueerror", f"{where} raised ValueError({str(exc)!r}), which does "
                                         f"not name the parameter {bad.param!r}") from None
            return
        except NotImplementedOp as exc:
            not_implemented(row, exc)
        except Exception as exc:
            raise ConformanceFailure("unexpected_exception", f"{where} raised {type(exc).__name__}: {exc}, but "
                                     f"should raise ValueError naming {bad.param!r}") from None
        except BaseException as exc:  # the alarm of time_limit
            raise ConformanceFailure("timeout", f"{where}: {exc}") from None
        raise ConformanceFailure("no_valueerror", f"{where} returned normally, but should raise ValueError "
                                 f"naming {bad.param!r}")
    except ConformanceFailure as exc:
        _fail(row, backend, exc, request)


def _extreme_combos(name, backend):
    return [Combo(name, e.op, dt, e.id) for e in EXTREME.values() for dt in backend.dtypes]


@combos(_extreme_combos)
def test_extreme_input(combo, backend, row, request):
    """Valid but extreme inputs (size-1 axes, kernel as large as the input, 1e30, subnormals, N=0) work
    and agree with spec under the tolerance policy."""
    from .checks import check_op

    ext = EXTREME[combo.extra]
    row.name = ext.id
    if not implements(backend, ext.op):
        not_implemented(row, NotImplementedError(ext.op))
    case = Case(ext.args, dict(ext.kwargs)).rounded(combo.dtype)
    rec = OP_TABLE.get(ext.op)
    try:
        if rec is None:
            out = call_op(backend, ext.op, case.args, case.kwargs, dtype=combo.dtype, n_outputs=None)
            cmp = None
        else:
            with np.errstate(all="ignore"):
                cmp, out = check_op(backend, rec, case, combo.dtype, "forward")
        if ext.expected_shape is not None and out[0].shape != tuple(ext.expected_shape):
            raise ConformanceFailure("wrong_shape", f"out.shape={out[0].shape}, but should be "
                                     f"{tuple(ext.expected_shape)} [{ext.id}]")
    except NotImplementedOp as exc:
        not_implemented(row, exc)
    except ConformanceFailure as exc:
        _fail(row, backend, exc, request)
    row.observe(cmp)

