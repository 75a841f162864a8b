"""Runs a hypothesis-driven check and turns its outcome into one structured result row."""

from __future__ import annotations

import shlex
import sys
import traceback
from dataclasses import asdict, dataclass, field

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable

from impls.base import NotImplementedOp

from . import deviations, hypothesis_helpers, profiles
from .pytest_helpers import ConformanceFailure, Hung, untested_layouts_note

MAX_TEXT = 4000


@dataclass
class Row:
    """One result: backend x op x dtype x check (x tier). Field meanings: DESIGN.md."""

    backend: str
    op: str
    dtype: str
    check: str
    tier: str = "-"
    name: str = ""
    nodeid: str = ""
    status: str | None = None
    category: str | None = None
    examples: int = 0
    max_abs_err: float | None = None
    max_rel_err: float | None = None
    tol_ratio: float | None = None
    tolerance: dict = field(default_factory=dict)
    message: str = ""
    traceback: str = ""
    falsifying_example: str = ""
    expected: str = ""
    actual: str = ""
    repro: str = ""
    duration_s: float = 0.0
    reason: str = ""
    extra: dict = field(default_factory=dict)

    def observe(self, cmp) -> None:
        """Fold one example's comparison into the worst-case summary."""
        self.examples += 1
        if cmp is None:
            return
        if self.tol_ratio is None or cmp.tol_ratio >= self.tol_ratio:
            self.tol_ratio = cmp.tol_ratio
            self.tolerance = cmp.tolerance()
        self.max_abs_err = max(self.max_abs_err or 0.0, cmp.max_abs_err)
        self.max_rel_err = max(self.max_rel_err or 0.0, cmp.max_rel_err)
        if getattr(cmp, "deviation", None):
            self.extra["deviation"] = deviations.merge(self.extra.get("deviation"), cmp.deviation)

    def as_dict(self) -> dict:
        return asdict(self)


def python_cmd() -> str:
    return "python" if sys.executable.endswith(("python", "python3")) else shlex.quote(sys.executable)


def pytest_repro(nodeid: str, backend: str, seed) -> str:
    parts = ["python", "-m", "pytest", shlex.quote(nodeid), "--backend", shlex.quote(backend), "-p", "no:randomly"]
    if seed is not None:
        parts += ["--hypothesis-seed", str(seed)]
    return " ".join(parts)


def _notes(exc: BaseException) -> str:
    return "\n".join(getattr(exc, "__notes__", []) or [])


def _first_failure(exc: BaseException):
    if isinstance(exc, ConformanceFailure):
        return exc
    if isinstance(exc, Hung):
        return exc.failure
    if isinstance(exc, BaseExceptionGroup):
        for sub in exc.exceptions:
            found = _first_failure(sub)
            if found is not None:
                return found
    cause = exc.__cause__ or exc.__context__
    return _first_failure(cause) if cause is not None and cause is not exc else None


def fail_row(row: Row, backend, exc: ConformanceFailure, *, falsifying: str = "", repro: str = "") -> None:
    """Record a failure; an expected deviation the backend declared becomes an xfail."""
    row.category = exc.category
    row.message = exc.message[:MAX_TEXT]
    row.expected, row.actual = (exc.expected or "")[:MAX_TEXT], (exc.actual or "")[:MAX_TEXT]
    row.falsifying_example = falsifying[:MAX_TEXT]
    row.repro = repro
    if exc.comparison is not None:
        row.max_abs_err, row.max_rel_err = exc.comparison.max_abs_err, exc.comparison.max_rel_err
        row.tol_ratio = exc.comparison.tol_ratio
        row.tolerance = exc.comparison.tolerance()
    row.traceback = "".join(traceback.format_exception(exc, limit=6))[-MAX_TEXT:]
    verdict = deviations.judge(backend, row.op, row.dtype, row.check, exc.category, exc.comparison)
    if verdict is not None:
        row.extra["deviation"] = deviations.merge(row.extra.get("deviation"), verdict)
        finish_deviation(row)
    row.status = "fail"


def finish_deviation(row: Row) -> None:
    """A row that needed a declared deviation (and had no failure beyond it) ends "expected_deviation"."""
    dev = row.extra.get("deviation")
    if not dev:
        return
    row.status, row.reason = "expected_deviation", dev["reason"]
    if row.tol_ratio is None and dev.get("strict_ratio") is not None:
        row.tol_ratio = dev["strict_ratio"]
    pytest.xfail(f"expected deviation declared by {row.backend} ({dev['bound']}): {dev['reason']}")


def not_implemented(row: Row, exc: BaseException) -> None:
    row.status, row.reason = "not_implemented", str(exc)[:MAX_TEXT]
    pytest.skip(f"not implemented: {exc}")


EXAMPLE_PHASES = (Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink)


class _Missing(BaseException):
    """An op the backend does not implement, carried out of hypothesis. A BaseException, so hypothesis stops
    at once: as an ordinary exception it counted as a failure and was shrunk, which cost up to 30 s per
    not-implemented cell (onnxruntime's float64 ops) and showed nothing."""

    def __init__(self, exc: NotImplementedOp):
        super().__init__(str(exc))
        self.exc = exc


def run_examples(row: Row, backend, strategy, check, *, repro, max_examples: int | None = None) -> None:
    """Run ``check(case, seed) -> Comparison | None`` on hypothesis-drawn cases.

    ``repro(case, seed) -> str`` builds the one-line command that reproduces a failing example.
    """
    state = {"last": None}
    n = max_examples if max_examples is not None else profiles.current().examples
    # A pooled backend (compiles per shape) runs as many examples as any other: twice as many cost jax-cpu
    # 2.8x numpy's time per run (issue 13 asks at most 2x). Without them the strat mutants are caught at the
    # tests' seed; at seeds 1 and 2 the pooled run missed 2 + 1 of 14, against 3 + 0 with the doubling
    # (issue 10's note): pooled power is marginal either way.

    # No explain phase: its "lines always and only run by failing examples" name the suite's own code, and
    # they depend on which process-level caches earlier tests filled (a run under xdist explained other
    # lines than a serial one), while its tracing slowed every shrink.
    @settings(max_examples=n, deadline=None, database=None, phases=EXAMPLE_PHASES,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                     HealthCheck.filter_too_much])
    @given(case=strategy, seed=st.integers(0, 2**31 - 1))
    def examples(case, seed):
        state["last"] = (case, seed)
        try:
            row.observe(check(case, seed))
        except NotImplementedOp as exc:
            raise _Missing(exc) from None

    if untested_layouts_note(backend):
        row.extra["layouts"] = untested_layouts_note(backend)
    try:
        with hypothesis_helpers.shape_pool(backend):  # backends that compile per shape reuse a few shapes
            examples()
    except _Missing as missing:
        not_implemented(row, missing.exc)
    except NotImplementedOp as exc:
        not_implemented(row, exc)
    except Unsatisfiable as exc:
        not_implemented(row, exc)
    except BaseException as exc:
        failure = _first_failure(exc)
        if failure is None:
            raise
        case, seed = state["last"]
        fail_row(row, backend, failure, falsifying=f"{case!r}, cotangent seed={seed}\n{_notes(exc)}".strip(),
                 repro=repro(case, seed))
        raise failure from None
    finish_deviation(row)
