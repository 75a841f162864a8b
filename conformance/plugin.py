"""The nnconform pytest plugin (entry point ``pytest11``), so ``pytest --backend NAME`` works anywhere.

* ``--backend NAME`` (repeatable; registered name or ``module:attr``); default: every registered backend.
* ``--conformance-profile ci|dev|thorough``; ``--example-timeout SECONDS`` per backend call.
* ``--results-json PATH`` (default ``reports/results.json`` under the rootdir) and ``--report-html PATH``.

Tests ask for a ``combo`` argument and get one parametrisation per selected backend x op x dtype
(see :func:`pytest_generate_tests`). Each test fills a result :class:`~conformance.runner.Row`;
the rows travel in ``report.user_properties`` (so they survive xdist) and the controller writes
them incrementally through :class:`~conformance.results.ResultsWriter`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

import impls

from . import profiles, pytest_helpers
from .results import ResultsWriter, backend_entries, run_metadata
from .runner import Row

ROW_KEY = "nnconform_row"


@dataclass(frozen=True)
class Combo:
    backend: str
    op: str = "-"
    dtype: str = "-"
    extra: str = ""

    def __str__(self):
        return "|".join(p for p in (self.backend, self.op, self.dtype, self.extra) if p)


def pytest_addoption(parser):
    group = parser.getgroup("nnconform", "nnconform conformance suite")
    group.addoption("--backend", action="append", default=None, metavar="NAME",
                    help="backend to test (repeatable): a registered name or module:attr; default: all")
    group.addoption("--conformance-profile", default=None, choices=sorted(profiles.PROFILES),
                    help="how hard to try: dev, ci (default) or thorough")
    group.addoption("--results-json", default=None, metavar="PATH",
                    help="where to write results (default: reports/results.json under the rootdir)")
    group.addoption("--report-html", default=None, metavar="PATH", help="also render the HTML report here")
    group.addoption("--example-timeout", type=float, default=None, metavar="SECONDS",
                    help=f"time limit per backend call (default {pytest_helpers.EXAMPLE_TIMEOUT_S:g})")


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


class _State:
    def __init__(self, config):
        names = config.getoption("backend") or None
        self.statuses = impls.backend_statuses(names)
        self.available = [s.name for s in self.statuses if s.status == "available"]
        self.writer: ResultsWriter | None = None


def pytest_configure(config):
    config.addinivalue_line("markers", "nnconform_ops(predicate): which op records a test runs over")
    config.addinivalue_line("markers", "nnconform_dtypes(names): restrict a test's dtypes")
    profiles.load(config.getoption("conformance_profile"))
    if config.getoption("example_timeout") is not None:
        pytest_helpers.EXAMPLE_TIMEOUT_S = config.getoption("example_timeout")
    state = _State(config)
    config._nnconform = state
    if _is_worker(config):
        return
    json_path = config.getoption("results_json") or str(Path(config.rootpath) / "reports" / "results.json")
    html_path = config.getoption("report_html")
    meta = run_metadata(config)
    state.writer = ResultsWriter(json_path, html_path, meta, backend_entries(state.statuses))
    for s in state.statuses:
        if s.status == "error":
            state.writer.add([Row(backend=s.name, op="*", dtype="-", check="load", status="error",
                                  category="import_error", message=s.reason.strip().splitlines()[-1][:400],
                                  traceback=s.reason[-4000:], name="load backend").as_dict()])


def pytest_report_header(config):
    state = getattr(config, "_nnconform", None)
    if state is None:
        return None
    lines = [f"nnconform profile: {profiles.current().name}"]
    for s in state.statuses:
        why = f" ({s.reason.strip().splitlines()[-1][:100]})" if s.reason else ""
        lines.append(f"nnconform backend {s.name}: {s.status}{why}")
    return lines


def selected_backends(config) -> list[str]:
    return list(config._nnconform.available)


def pytest_generate_tests(metafunc):
    if "combo" not in metafunc.fixturenames:
        return
    config = metafunc.config
    gen = getattr(metafunc.function, "nnconform_combos", None)
    if gen is None:
        raise pytest.UsageError(f"{metafunc.function.__name__} asks for 'combo' but has no nnconform_combos")
    combos = []
    for name in selected_backends(config):
        try:
            combos.extend(gen(name, impls.get_backend(name)))
        except Exception as exc:  # a backend whose attributes raise still must not break collection
            combos.append(Combo(name, "*", "-", f"collect-error:{type(exc).__name__}"))
    metafunc.parametrize("combo", combos, ids=[str(c) for c in combos])


def combos(fn):
    """Decorator: ``@combos(lambda name, backend: [Combo(...), ...])`` defines a test's parametrisation."""
    def wrap(test):
        test.nnconform_combos = fn
        return test
    return wrap


@pytest.fixture
def row(request, combo) -> Row:
    """The result row this test fills in; the plugin finalises and ships it."""
    check = getattr(request.function, "nnconform_check", request.function.__name__.removeprefix("test_"))
    r = Row(backend=combo.backend, op=combo.op, dtype=combo.dtype, check=check, nodeid=request.node.nodeid,
            name=request.node.name)
    request.node._nnconform_row = r
    request.node._nnconform_t0 = time.perf_counter()
    return r


@pytest.fixture
def backend(combo):
    if combo.extra.startswith("collect-error"):
        pytest.fail(f"backend {combo.backend!r} raised while listing its dtypes/ops: {combo.extra}")
    return impls.get_backend(combo.backend)


def _finalise(row: Row, rep, item) -> None:
    row.duration_s = round(time.perf_counter() - getattr(item, "_nnconform_t0", time.perf_counter()), 4)
    if rep.passed:
        row.status = row.status or "pass"
    elif hasattr(rep, "wasxfail"):
        row.status = "expected_deviation"
        row.reason = row.reason or str(rep.wasxfail)
    elif rep.skipped:
        row.status = row.status or "skipped"
        if not row.reason and isinstance(rep.longrepr, tuple):
            row.reason = str(rep.longrepr[2])
    else:
        text = rep.longreprtext or ""
        if row.status not in ("fail", "error"):
            row.status = "fail"
            last = text.strip().splitlines()[-1] if text.strip() else ""
            timed_out = "Timeout" in last or "Timeout >" in text or "did not return within" in text
            # Backend calls go through call_op, which turns every backend misbehaviour into a categorised
            # ConformanceFailure; anything else that escapes a test is the suite's own fault.
            row.category = row.category or ("timeout" if timed_out else "harness_error")
            row.message = row.message or (text.strip().splitlines() or [""])[-1][:1000]
        if not row.traceback:
            row.traceback = text[-4000:]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    rep = outcome.get_result()
    row = getattr(item, "_nnconform_row", None)
    if row is None or getattr(item, "_nnconform_shipped", False):
        return
    if rep.when == "call" or (rep.when == "setup" and not rep.passed):
        _finalise(row, rep, item)
        rep.user_properties.append((ROW_KEY, row.as_dict()))
        item._nnconform_shipped = True


def _crash_row(report) -> dict | None:
    nodeid = report.nodeid
    if "[" not in nodeid:
        return None
    parts = nodeid[nodeid.index("[") + 1:-1].split("|")
    text = report.longreprtext or ""
    crashed = "crashed" in text or "worker" in text and "died" in text
    r = Row(backend=parts[0], op=parts[1] if len(parts) > 1 else "*", dtype=parts[2] if len(parts) > 2 else "-",
            check=nodeid.split("::")[-1].split("[")[0].removeprefix("test_"), nodeid=nodeid, status="error",
            category="crash" if crashed else "unexpected_exception", message=text.strip()[-600:],
            traceback=text[-4000:], name=nodeid.split("::")[-1])
    return r.as_dict()


_SESSION_CONFIG = []
"""The controller's config, for hooks that receive none (logreport, keyboard interrupt)."""


def pytest_runtest_logreport(report):
    config = _SESSION_CONFIG[-1] if _SESSION_CONFIG else None
    if config is None or _is_worker(config):
        return
    writer = config._nnconform.writer
    rows = [v for k, v in report.user_properties if k == ROW_KEY]
    if rows:
        writer.add(rows)
    elif report.failed and (report.when not in ("setup", "call", "teardown") or "crashed" in report.longreprtext):
        crash = _crash_row(report)
        if crash is not None:
            writer.add([crash])


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _SESSION_CONFIG.append(session.config)


def pytest_keyboard_interrupt(excinfo):
    config = _SESSION_CONFIG[-1] if _SESSION_CONFIG else None
    if config is not None and not _is_worker(config) and config._nnconform.writer:
        config._nnconform.writer.finish(complete=False, note="interrupted (KeyboardInterrupt)")


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    state = getattr(config, "_nnconform", None)
    if state is None or _is_worker(config) or state.writer is None:
        return
    interrupted = exitstatus in (pytest.ExitCode.INTERRUPTED, pytest.ExitCode.INTERNAL_ERROR) or bool(
        session.shouldstop)
    state.writer.finish(complete=not interrupted, note=str(session.shouldstop or ""),
                        exitstatus=int(exitstatus))


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    state = getattr(config, "_nnconform", None)
    if state is None or _is_worker(config) or state.writer is None or not state.writer.rows:
        return
    counts = state.writer.counts()
    terminalreporter.write_sep("=", "nnconform")
    terminalreporter.write_line(", ".join(f"{v} {k}" for k, v in sorted(counts.items())))
    terminalreporter.write_line(f"results: {state.writer.json_path}")
    if state.writer.html_path:
        terminalreporter.write_line(f"report:  {state.writer.html_path}")
