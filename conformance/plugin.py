"""The nnconform pytest plugin (entry point ``pytest11``), so ``pytest --backend NAME`` works anywhere.

* ``--backend NAME`` (repeatable; registered name or ``module:attr``); default: every registered backend.
* ``--conformance-profile ci|dev|thorough``; ``--example-timeout SECONDS`` fixes the per-call time limit
  (default: the scaled rule of :func:`conformance.pytest_helpers.call_limit`).
* ``--results-json PATH`` (default ``nnconform-out/results.json`` under the directory pytest was started
  in) and ``--report-html PATH`` (rendered by the ``nnconform.renderers`` entry point ``html``).

**Inert unless asked.** Installed, the plugin is loaded into every pytest session of the environment.
It only adds its options there. It activates (loads its hypothesis profile, instantiates backends,
writes results) only when the session collects the conformance suite (a path inside this package
among pytest's arguments or testpaths) or passes one of its own options (``--backend``, ...).

Tests ask for a ``combo`` argument and get one parametrisation per selected backend x op x dtype
(see :func:`pytest_generate_tests`). Each test fills a result :class:`~conformance.runner.Row`;
the rows travel in ``report.user_properties`` (so they survive xdist) and the controller writes
them incrementally through :class:`~conformance.results.ResultsWriter`.

**Quarantine.** After a backend's op times out or kills its worker, the rest of that backend's tests
of that op are not run: they are recorded at once with the same status and category, and a message
naming the first failing test (:class:`~conformance.quarantine.Quarantine`, marker files next to the
results file, so xdist workers share them).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from nnconform.schema import ERROR, EXPECTED_DEVIATION, FAIL, PASS, SKIPPED

from . import oracle_cache, profiles, pytest_helpers, worker_threads
from .quarantine import Quarantine
from .runner import Row

ROW_KEY = "nnconform_row"
DEFAULT_RESULTS = Path("nnconform-out") / "results.json"
"""Default results file, relative to the directory pytest was started in (never inside a source package)."""
_OWN_OPTIONS = ("backend", "conformance_profile", "results_json", "report_html", "example_timeout")
_SUITE_DIR = Path(__file__).resolve().parent


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
                    help=f"where to write results (default: ./{DEFAULT_RESULTS.as_posix()})")
    group.addoption("--report-html", default=None, metavar="PATH", help="also render the HTML report here")
    group.addoption("--example-timeout", type=float, default=None, metavar="SECONDS",
                    help="fixed time limit per backend call (default: "
                         f"{pytest_helpers.LIMIT_FACTOR:g}x the float64 reference's time on the same case, "
                         f"at least {pytest_helpers.LIMIT_FLOOR_S:g} s, at most {pytest_helpers.LIMIT_CEILING_S:g} s)")


def _xdist_workers(config) -> int:
    n = config.getoption("numprocesses", default=None)  # xdist has turned "auto" into a number by now
    try:
        return int(n or 0)
    except (TypeError, ValueError):
        return 0


def _is_worker(config) -> bool:
    return hasattr(config, "workerinput")


def _inside_suite(arg: str, base: Path) -> bool:
    target = arg.split("::", 1)[0]
    if target == "conformance" or target.startswith("conformance."):  # --pyargs
        return True
    try:
        path = (base / target).resolve()
    except (OSError, ValueError):
        return False
    return path == _SUITE_DIR or _SUITE_DIR in path.parents


def wants_suite(config) -> bool:
    """Whether this session asked for the conformance suite (see the module docstring)."""
    if any(config.getoption(name) is not None for name in _OWN_OPTIONS):
        return True
    base = Path(config.invocation_params.dir)
    return any(_inside_suite(str(a), base) for a in config.args)


def results_path(config) -> Path:
    given = config.getoption("results_json")
    return Path(config.invocation_params.dir) / (given or DEFAULT_RESULTS)


class _State:
    def __init__(self, config):
        import impls

        names = config.getoption("backend") or None
        self.statuses = impls.backend_statuses(names)
        self.available = [s.name for s in self.statuses if s.status == "available"]
        self.writer = None
        self.quarantine = Quarantine.beside(results_path(config))


def pytest_configure(config):
    if wants_suite(config):
        activate(config)


def activate(config) -> _State:
    """Load the profile, the backends and (on the controller) the results writer. Idempotent."""
    state = getattr(config, "_nnconform", None)
    if state is not None:
        return state
    config.addinivalue_line("markers", "nnconform_ops(predicate): which op records a test runs over")
    config.addinivalue_line("markers", "nnconform_dtypes(names): restrict a test's dtypes")
    profiles.load(config.getoption("conformance_profile"))
    pytest_helpers.LIMIT_OVERRIDE_S = config.getoption("example_timeout")
    state = _State(config)
    config._nnconform = state
    if _is_worker(config):
        return state
    from .results import ResultsWriter, backend_entries, run_metadata

    state.quarantine.clear()  # before any worker starts: markers of an earlier run in this folder go
    oracle_cache.clear(oracle_cache.folder_beside(results_path(config)))
    meta = run_metadata(config)
    meta["worker_threads"] = worker_threads.share_out(_xdist_workers(config))  # before xdist starts them
    state.writer = ResultsWriter(results_path(config), config.getoption("report_html"), meta,
                                 backend_entries(state.statuses))
    for s in state.statuses:
        if s.status == "error":
            state.writer.add([Row(backend=s.name, op="*", dtype="-", check="load", status=ERROR,
                                  category="import_error", message=s.reason.strip().splitlines()[-1][:400],
                                  traceback=s.reason[-4000:], name="load backend").as_dict()])
    return state


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
    activate(config)  # the suite was collected by a path wants_suite did not recognise
    import impls

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


_QUARANTINED_CHECK = {"realistic": "", "keep_rate": "statistics", "seeds": "statistics", "expectation": "statistics",
                      "nan_window_policy": "nan_policy", "network": "composite", "mask_independence": "independence",
                      "seed_independence": "independence", "vjp_determinism": "determinism",
                      "semantics_spec": "semantics"}
"""Check kind of a test that is not run (the test body sets it otherwise); "" = the combo's mode."""


@pytest.fixture
def backend(combo, row, request):
    if combo.extra.startswith("collect-error"):
        pytest.fail(f"backend {combo.backend!r} raised while listing its dtypes/ops: {combo.extra}")
    first = request.config._nnconform.quarantine.lookup(combo.backend, combo.op)
    if first is not None:
        row.status, row.category = first["status"], first["category"]
        row.check = _QUARANTINED_CHECK.get(row.check, row.check) or combo.extra
        row.tier = "realistic" if request.function.__name__ == "test_realistic" else row.tier
        row.extra["quarantined_after"] = first["nodeid"]
        row.reason = (f"not run: {combo.backend} / {combo.op} is quarantined after the {first['category']} of "
                      f"{first['nodeid']}")
        row.message = f"{row.reason}: {first['message']}"[:1000]
        pytest.fail(row.message, pytrace=False)
    import impls

    return impls.get_backend(combo.backend)


def _finalise(row: Row, rep, item) -> None:
    row.duration_s = round(time.perf_counter() - getattr(item, "_nnconform_t0", time.perf_counter()), 4)
    if rep.passed:
        row.status = row.status or PASS
    elif hasattr(rep, "wasxfail"):
        row.status = EXPECTED_DEVIATION
        row.reason = row.reason or str(rep.wasxfail)
    elif rep.skipped:
        row.status = row.status or SKIPPED
        if not row.reason and isinstance(rep.longrepr, tuple):
            row.reason = str(rep.longrepr[2])
    else:
        text = rep.longreprtext or ""
        if row.status not in (FAIL, ERROR):
            row.status = FAIL
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
        if "quarantined_after" not in row.extra:
            item.config._nnconform.quarantine.record(row.as_dict())
        rep.user_properties.append((ROW_KEY, row.as_dict()))
        item._nnconform_shipped = True


def _crash_row(report) -> dict | None:
    nodeid = report.nodeid
    if "[" not in nodeid:
        return None
    parts = nodeid[nodeid.index("[") + 1:-1].split("|")
    text = report.longreprtext or ""
    crashed = "crashed" in text or "worker" in text and "died" in text
    lines = [ln for ln in text.strip().splitlines() if "crashed" in ln] or text.strip().splitlines() or [""]
    r = Row(backend=parts[0], op=parts[1] if len(parts) > 1 else "*", dtype=parts[2] if len(parts) > 2 else "-",
            check=nodeid.split("::")[-1].split("[")[0].removeprefix("test_"), nodeid=nodeid, status=ERROR,
            category="crash" if crashed else "unexpected_exception", message=lines[-1][-600:],
            traceback=text[-4000:], name=nodeid.split("::")[-1])
    return r.as_dict()


_SESSION_CONFIG = []
"""The controller's config, for hooks that receive none (logreport, keyboard interrupt)."""


def pytest_runtest_logreport(report):
    config = _SESSION_CONFIG[-1] if _SESSION_CONFIG else None
    state = getattr(config, "_nnconform", None)
    if state is None or state.writer is None:
        return
    rows = [v for k, v in report.user_properties if k == ROW_KEY]
    if rows:
        state.writer.add(rows)
    elif report.failed and (report.when not in ("setup", "call", "teardown") or "crashed" in report.longreprtext):
        crash = _crash_row(report)
        if crash is not None:
            state.quarantine.record(crash)  # the replacement worker reads it before its next test
            state.writer.add([crash])


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _SESSION_CONFIG.append(session.config)


def pytest_keyboard_interrupt(excinfo):
    config = _SESSION_CONFIG[-1] if _SESSION_CONFIG else None
    state = getattr(config, "_nnconform", None)
    if state is not None and state.writer is not None:
        state.writer.finish(complete=False, note="interrupted (KeyboardInterrupt)")


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    state = getattr(config, "_nnconform", None)
    if state is None or _is_worker(config) or state.writer is None:
        return
    oracle_cache.clear(oracle_cache.folder_beside(results_path(config)))  # answers are for this run only
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
