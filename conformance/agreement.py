"""Cross-backend agreement: how far each pair of backends (spec included) is apart, per op and dtype.

Every column runs the same few fixed cases, drawn once from the op's own strategy with a fixed
seed, forward and VJP (one fixed random cotangent per case). For each pair the distance is the
largest ``tol_ratio`` of the tolerance rule (``tolerance.compare``, the op table's K, magnitude and
C), so 1 means "one tolerance apart". A pair with spec is exactly the forward/gradient check's
ratio; two backends that both conform may be up to 2 apart. NaN/Inf patterns or shapes that differ
give infinity. This makes "torch and JAX agree with each other but not with spec" visible at once.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings

import spec
from impls.base import NotImplementedOp, implements

from .checks import n_gradients, reference_outputs
from .hypothesis_helpers import Case, cotangent
from .optable import OP_TABLE, OpRecord
from .pytest_helpers import ConformanceFailure, Hung, call_op
from .tolerance import compare

SPEC = "spec"
N_CASES = 3
DRAWN = 12
"""Cases drawn from the strategy; the N_CASES largest are kept (more terms, more rounding to compare)."""
CASE_SEED = 20261202


def _size(case: Case) -> int:
    return sum(int(a.size) for a in case.args if isinstance(a, np.ndarray))


@functools.cache
def fixed_cases(opname: str, dtype: str, n: int = N_CASES) -> tuple[Case, ...]:
    """``n`` cases of the op's strategy, the same in every run and on every machine (fixed seed)."""
    drawn: list[Case] = []

    @seed(CASE_SEED)
    @settings(max_examples=DRAWN, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(case=OP_TABLE[opname].cases(dtype))
    def collect(case):
        drawn.append(case)

    collect()
    return tuple(sorted(drawn, key=lambda c: -_size(c))[:n])


def _outputs(backend, record: OpRecord, case: Case, dtype: str, mode: str, g):
    if mode == "forward":
        return call_op(backend, record.name, case.args, case.kwargs, dtype=dtype, n_outputs=record.n_outputs)
    return call_op(backend, record.name + "_vjp", (g, *case.args), case.kwargs, dtype=dtype,
                   n_outputs=n_gradients(record, case))


def _failure_text(exc: BaseException) -> str:
    if isinstance(exc, ConformanceFailure):
        return f"error: {exc.category}"
    return f"error: {type(exc).__name__}"


def measure(backends: dict, opname: str, dtype: str, cases=None) -> dict:
    """Pairwise distances of ``{"spec", *backends}`` on op ``opname`` in ``dtype``.

    Returns ``{"columns": [...], "cases": n, "status": {mode: {column: "ok" | "n/i" | "error: ..."}},
    "pairs": {mode: [[a, b, worst tol_ratio], ...]}}``; a pair is listed when both produced outputs.
    """
    record = OP_TABLE[opname]
    cases = fixed_cases(opname, dtype) if cases is None else cases
    columns = [SPEC, *backends]
    modes = ("forward", "gradient") if record.has_vjp else ("forward",)
    out = {"columns": columns, "cases": len(cases), "status": {}, "pairs": {}}
    hung: set[str] = set()
    for mode in modes:
        opname_mode = record.name if mode == "forward" else record.name + "_vjp"
        status = {SPEC: "ok"}
        worst: dict[tuple[str, str], float] = {}
        for name, b in backends.items():
            status[name] = "ok" if implements(b, opname_mode) else "n/i"
        for i, case in enumerate(cases):
            g = None
            if mode == "gradient":
                g = cotangent(reference_outputs(spec, record, case, "forward", None)[0].shape, dtype, seed=i)
            results = {SPEC: reference_outputs(spec, record, case, mode, g)}
            for name, b in backends.items():
                if status[name] != "ok" or name in hung:
                    continue
                try:
                    with np.errstate(all="ignore"):
                        results[name] = _outputs(b, record, case, dtype, mode, g)
                except NotImplementedOp:
                    status[name] = "n/i"
                except Hung as exc:
                    hung.add(name)
                    status[name] = _failure_text(exc.failure)
                except Exception as exc:  # noqa: BLE001 - one odd backend must not cost the others their row
                    status[name] = _failure_text(exc)
            if mode == "forward":
                mags, ks = record.magnitude(spec, case), (record.reduction(case),) * record.n_outputs
            else:
                mags, ks = record.vjp_magnitude(spec, case, g), record.vjp_reduction(case)
            for a, b in itertools.combinations([c for c in columns if c in results and status[c] == "ok"], 2):
                ratio = 0.0
                for x, y, m, k in zip(results[a], results[b], mags, ks, strict=False):
                    with np.errstate(all="ignore"):
                        ratio = max(ratio, compare(x, y, m, dtype=dtype, reduction=k, c=record.c).tol_ratio)
                worst[(a, b)] = max(worst.get((a, b), 0.0), ratio)
        out["status"][mode] = status
        out["pairs"][mode] = [[a, b, r] for (a, b), r in worst.items() if status[a] == "ok" and status[b] == "ok"]
    return out
