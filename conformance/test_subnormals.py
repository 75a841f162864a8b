"""Subnormals as one check: does the backend keep or flush subnormal inputs and intermediates?

Every probe is made of powers of two, so the kept result is exact in every dtype: a subnormal input
through relu, dense and conv (flushed on input: "denormals are zero"), and normal inputs whose
product is subnormal (flushed on output: "flush to zero"; XLA on CPU does this by design). The row
records the behaviour (``extra["behaviour"]``: kept / flushed). Flushing fails unless the backend
declares ``flushes_subnormals = True``; then it is an expected deviation, and the ordinary checks
give it the wider absolute floor of conformance/tolerance.py (spec/errata.py DECISIONS, "subnormals").
"""

from __future__ import annotations

import numpy as np

from impls.base import NotImplementedOp, implements

from .dtype_helpers import SMALLEST_NORMAL
from .plugin import Combo, combos
from .pytest_helpers import ConformanceFailure, call_op
from .runner import fail_row, finish_deviation, not_implemented, pytest_repro

PROBE_OPS = ("relu", "dense", "conv")


def _exponent(dtype: str) -> int:
    """e with tiny = 2**-e (1022, 126, 14, 126): even for every dtype, so 2**(-(e + 4) / 2) is exact."""
    return int(round(-np.log2(SMALLEST_NORMAL[dtype])))


def probes(op: str, dtype: str) -> list[tuple[str, tuple, dict, np.ndarray]]:
    """(label, args, kwargs, exact expected output) for ``op`` in ``dtype``."""
    e = _exponent(dtype)
    tiny, half = 2.0**-e, 2.0 ** (-(e + 4) // 2)
    sub = tiny / 8  # a subnormal in every dtype (float16's smallest is tiny / 1024)
    if op == "relu":
        return [("subnormal input", (np.array([[sub, -sub, tiny / 2]]),), {}, np.array([[sub, 0.0, tiny / 2]]))]
    if op == "dense":
        return [("subnormal input, normal result", (np.array([[sub]]), np.array([[2.0**8]]), None), {},
                 np.array([[tiny * 32]])),
                ("normal inputs, subnormal product", (np.array([[half]]), np.array([[half]]), None), {},
                 np.array([[tiny / 16]]))]
    return [("subnormal input, normal result", (np.full((1, 1, 4), sub), np.full((1, 1, 2), 2.0**4), None),
             {"padding": "valid"}, np.full((1, 1, 3), tiny * 4)),
            ("subnormal input, subnormal result", (np.full((1, 1, 3), sub), np.ones((1, 1, 2)), None),
             {"padding": "valid"}, np.full((1, 1, 2), tiny / 4)),
            ("normal inputs, subnormal products", (np.full((1, 1, 3), half), np.full((1, 1, 1), half), None),
             {"padding": "valid"}, np.full((1, 1, 3), tiny / 16))]


def behaviour(actual: np.ndarray, expected: np.ndarray) -> str:
    """kept (bit-exact), flushed (zero where a subnormal was expected or fed in), or wrong."""
    if actual.shape == expected.shape and np.array_equal(actual, expected):
        return "kept"
    if actual.shape == expected.shape and np.all((actual == 0) | (actual == expected)):
        return "flushed"
    return "wrong"


def _subnormal_combos(name, backend):
    return [Combo(name, op, dt) for op in PROBE_OPS if implements(backend, op) for dt in backend.dtypes
            if dt in SMALLEST_NORMAL]


@combos(_subnormal_combos)
def test_subnormals(combo, backend, row, request):
    """Subnormal inputs and intermediates: kept, or flushed (allowed only when declared)."""
    row.name = f"{combo.op} subnormal inputs and intermediates"
    if not implements(backend, combo.op):
        not_implemented(row, NotImplementedError(combo.op))
    declared = bool(getattr(backend, "flushes_subnormals", False))
    seen, report = set(), []
    try:
        for label, args, kwargs, want in probes(combo.op, combo.dtype):
            (got,) = call_op(backend, combo.op, args, kwargs, dtype=combo.dtype)
            row.examples += 1
            b = behaviour(got, want)
            seen.add(b)
            report.append({"probe": label, "behaviour": b, "expected": str(want.ravel().tolist()),
                           "actual": str(got.ravel().tolist())})
            if b == "wrong":
                raise ConformanceFailure("mismatch", f"{combo.op}, {label}: got {got.ravel().tolist()}, expected "
                                         f"{want.ravel().tolist()} (kept) or zeros (flushed)",
                                         expected=str(want.ravel().tolist()), actual=str(got.ravel().tolist()))
        row.extra["behaviour"] = "flushed" if "flushed" in seen else "kept"
        row.extra["probes"] = report
        if "flushed" in seen and not declared:
            flushed = [p["probe"] for p in report if p["behaviour"] == "flushed"]
            raise ConformanceFailure("flushed_subnormal", f"{combo.op} in {combo.dtype} flushed subnormals to zero "
                                     f"({'; '.join(flushed)}); declare flushes_subnormals = True if that is by "
                                     "design", expected=report[0]["expected"], actual=report[0]["actual"])
    except NotImplementedOp as exc:  # an op that declines a dtype at call time (onnxruntime's float64 conv)
        not_implemented(row, exc)
    except ConformanceFailure as exc:
        row.extra.setdefault("probes", report)
        fail_row(row, backend, exc, falsifying="; ".join(f"{p['probe']}: {p['actual']}" for p in report),
                 repro=pytest_repro(request.node.nodeid, row.backend, None))
        raise
    if "flushed" in seen:
        row.extra["deviation"] = {"op": combo.op, "dtype": combo.dtype, "check": "subnormals",
                                  "reason": f"{row.backend} declares flushes_subnormals = True",
                                  "categories": ["flushed_subnormal"], "bound": "declared flushes_subnormals = True",
                                  "category": "flushed_subnormal", "strict_ratio": None, "declared_ratio": None,
                                  "examples": row.examples}
        finish_deviation(row)
