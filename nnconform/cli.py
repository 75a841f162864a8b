"""The ``nnconform`` command line: the one module that orchestrates the packages.

    nnconform run [--backend NAME]... [--profile ci|dev|thorough] [--out DIR] [-n N] [--hypothesis-seed S]
                  [-- extra pytest args]
    nnconform report RESULTS.json|RUN_DIR [MORE ...] [--out DIR]   (several: one merged report)
    nnconform bench [args...]          (delegates to benchmarks.cli:main)
    nnconform backends
    nnconform --version

``--out`` is always a folder: ``run`` writes ``results.json``, ``results.jsonl`` and ``index.html``
into it (default ``./nnconform-out``); ``report`` writes ``index.html`` into it (default: the
folder of the results file).

This is the only module that imports both the suite (conformance, impls) and the renderer
(reports): conformance writes results, reports renders them, and neither imports the other.

Exit codes (also in ``--help`` and the README):

    0  every result passed or is a declared expected deviation (or: the command did its job)
    1  failures found: a result with status fail or error
    2  usage or input error (bad option, unreadable or invalid results file), an interrupted run,
       or an internal error; the message is one line on stderr, never a traceback
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import random
import subprocess
import sys
import time
import traceback
from pathlib import Path

from nnconform import packages

from . import __version__

__all__ = ["main", "build_pytest_command", "conformance_dir", "DEFAULT_OUT"]

EXIT_OK, EXIT_FAILURES, EXIT_ERROR = 0, 1, 2
PROFILES = ("ci", "dev", "thorough")
DEFAULT_OUT = "nnconform-out"
"""Default output folder of ``nnconform run``: in the current directory, never inside a source package."""
EXIT_CODES_HELP = """exit codes:
  0  all results passed or are declared expected deviations
  1  failures found (a result with status fail or error)
  2  usage or input error, interrupted run, or internal error (one line on stderr)
  python -m conformance.repro has its own: 0 passes, 1 the failure persists, 3 the backend cannot be loaded"""


class CliError(Exception):
    """A usage, input or environment problem: printed as one line, exit code 2."""


def _err(msg: str) -> None:
    print(f"nnconform: error: {' '.join(str(msg).split())}", file=sys.stderr)


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (no usage block) and never exits the interpreter itself."""

    def error(self, message):
        raise CliError(f"{message} (see '{self.prog} --help')")


# ---------------------------------------------------------------------------------------------- run
def conformance_dir() -> Path:
    """Directory of the installed ``conformance`` package (what pytest collects)."""
    spec = importlib.util.find_spec("conformance")
    if spec is None or not spec.submodule_search_locations:
        raise CliError("the 'conformance' package is not importable; is nnconform installed (pip install -e .)?")
    return Path(list(spec.submodule_search_locations)[0])


def _has_xdist() -> bool:
    return importlib.util.find_spec("xdist") is not None


def _plugin_registered() -> bool:
    """True when the conformance plugin is registered through the pytest11 entry point."""
    from importlib.metadata import entry_points

    return any(ep.value.split(":")[0] == "conformance.plugin" for ep in entry_points(group="pytest11"))


def build_pytest_command(*, backends=(), profile: str = "ci", out=DEFAULT_OUT, n: str = "auto",
                         hypothesis_seed=None, extra=(), python: str | None = None) -> list[str]:
    """The pytest command line ``nnconform run`` executes: results go to ``out/results.json``.

    The report is rendered afterwards by :func:`_cmd_run` (conformance never imports the renderer).
    """
    out = Path(out)
    cmd = [python or sys.executable, "-m", "pytest", str(conformance_dir())]
    if not _plugin_registered():  # running from a source tree without entry points
        cmd += ["-p", "conformance.plugin"]
    if _has_xdist():
        cmd += ["-n", str(n)]
    # without pytest-xdist there is no -n option at all: running without it is the same as -n 0
    cmd += ["--conformance-profile", profile, "--results-json", str(out / "results.json")]
    for b in backends:
        cmd += ["--backend", b]
    if hypothesis_seed is not None:
        cmd += ["--hypothesis-seed", str(hypothesis_seed)]
    cmd += ["-q", *extra]
    return cmd


def _print_summary(results: dict, report: Path, *, stream=None) -> int:
    from reports.render import STATUS_STYLE, summarize

    stream = stream or sys.stdout
    s = summarize(results)
    counts = ", ".join(f"{n} {STATUS_STYLE[k][2]}" for k, n in s["counts"].items() if n)
    print("", file=stream)
    print(f"nnconform: {s['total']} results: {counts or 'none'}", file=stream)
    if not s["complete"]:
        print("nnconform: INCOMPLETE RUN: results.json says the run did not finish", file=stream)
    if s["failing_cells"]:
        print(f"nnconform: {len(s['failing_cells'])} failing cell(s) (backend / op / check kind):", file=stream)
        for backend, op, group, status in s["failing_cells"][:30]:
            print(f"  {status.upper():5s}  {backend} / {op} / {group}", file=stream)
        if len(s["failing_cells"]) > 30:
            print(f"  ... and {len(s['failing_cells']) - 30} more (see the report)", file=stream)
    print(f"nnconform: report: {report}", file=stream)
    return s["n_bad"]


def _cmd_run(args, extra) -> int:
    from reports.render import ResultsError, load_results, write_report

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CliError(f"--out={args.out}: exists and is not a folder (--out names a folder)")
    n = args.n
    if n != "auto":
        try:
            if int(n) < 0:
                raise ValueError
        except ValueError:
            raise CliError(f"-n={n!r}: expected 'auto' or a non-negative integer") from None
    # Every run gets a seed, shown in the report, so any run can be replayed exactly.
    seed = args.hypothesis_seed if args.hypothesis_seed is not None else str(random.randrange(2**31))
    cmd = build_pytest_command(backends=args.backend, profile=args.profile, out=out, n=n,
                               hypothesis_seed=seed, extra=extra)
    if not _has_xdist():
        print("nnconform: pytest-xdist is not installed; running in one process (-n 0)", file=sys.stderr)
    out.mkdir(parents=True, exist_ok=True)
    results_path, report_path = out / "results.json", out / "index.html"
    print("nnconform: " + " ".join(cmd), flush=True)
    started = time.time()
    try:
        rc = subprocess.call(cmd)
    except KeyboardInterrupt:
        rc = 2
    if rc in (3, 4):
        raise CliError(f"pytest exited with code {rc} ({'internal error' if rc == 3 else 'usage error'})")
    fresh = results_path.exists() and results_path.stat().st_mtime >= started - 1
    if not fresh:
        raise CliError(f"pytest exited with code {rc} and wrote no {results_path}")
    try:
        results = load_results(results_path)
    except (OSError, ResultsError) as exc:
        raise CliError(f"cannot read {results_path}: {exc}") from None
    write_report(results, report_path)
    n_bad = _print_summary(results, report_path.resolve())
    if rc == 2:
        raise CliError("the run was interrupted")
    if rc == 5:
        raise CliError("pytest collected no tests")
    return EXIT_FAILURES if (n_bad or rc == 1) else EXIT_OK


# ------------------------------------------------------------------------------------------ report
def _cmd_report(args, extra) -> int:
    from reports import render
    from reports.merge import merge_results

    sources = []
    for name in args.results:
        src = Path(name)
        if src.is_dir():  # a run's output folder (what --out names)
            src = src / "results.json"
        if not src.exists():
            partial = src.with_suffix(".jsonl")
            if src.suffix == ".json" and partial.exists():
                print(f"nnconform: {src} not found; using the partial {partial}", file=sys.stderr)
                src = partial
            else:
                raise CliError(f"{src}: no such file")
        sources.append(src)
    docs = []
    for src in sources:
        try:
            docs.append(render.load_results(src))
        except OSError as exc:
            raise CliError(f"cannot read {src}: {exc.strerror or exc}") from None
        except render.ResultsError as exc:
            raise CliError(str(exc)) from None
    # Several files (one per machine) become one report; one file is returned unchanged.
    results = merge_results(docs, sources=[str(s) for s in sources])
    out = Path(args.out) if args.out else sources[0].parent
    if out.exists() and not out.is_dir():
        raise CliError(f"--out={args.out}: exists and is not a folder (--out names a folder; "
                       "the report is written to index.html inside it)")
    path = render.write_report(results, out / "index.html")
    print(f"nnconform: report: {path.resolve()}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------- bench
BENCH_ENTRIES = ("benchmarks.cli",)
"""Where the benchmark harness's ``main(argv)`` lives, newest layout first."""


def _cmd_bench(argv: list[str]) -> int:
    entry = None
    for name in BENCH_ENTRIES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and name.startswith(exc.name):
                continue  # this layout is not installed here; try the next
            raise
        entry = getattr(module, "main", None)
        if not callable(entry):
            raise CliError(f"{name} has no main(argv) function")
        break
    if entry is None:
        raise CliError(f"the benchmark harness is not installed in this checkout (looked for {', '.join(BENCH_ENTRIES)})")
    try:
        rc = entry(list(argv))
    except SystemExit as exc:  # argparse inside the harness
        rc = exc.code
    if rc is None:
        return EXIT_OK
    return rc if isinstance(rc, int) else EXIT_ERROR


# ---------------------------------------------------------------------------------------- backends
def _cmd_backends(args, extra) -> int:
    import impls

    rows = []
    for st in impls.backend_statuses():
        device, dtypes = "", ""
        if st.status == "available":
            try:
                be = impls.get_backend(st.name)
                device = str(getattr(be, "device", ""))
                dtypes = ", ".join(map(str, getattr(be, "dtypes", ()) or ()))
            except Exception:  # already reported as available; the details are best effort
                pass
        reason = (st.reason or "").strip().splitlines()
        reason = reason[-1] if reason else ""
        rows.append((st.name, st.status, device, dtypes, reason[:100]))
    head = ("backend", "status", "device", "dtypes", "reason")
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(head)]
    line = "  ".join(f"{{:{w}s}}" for w in widths[:-1]) + "  {}"
    print(line.format(*head))
    print(line.format(*("-" * w for w in widths[:-1]), "-" * len(head[-1])))
    for r in rows:
        print(line.format(*r).rstrip())
    if not rows:
        print("(no backends registered)")
    return EXIT_OK


# -------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="nnconform", description="Conformance suite: reference spec vs optimized NN backends.",
                epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"nnconform {__version__}")
    sub = p.add_subparsers(dest="cmd", metavar="{run,report,bench,backends}", parser_class=_Parser)
    sub.required = True
    r = sub.add_parser("run", help="run the conformance suite; writes results.json and index.html into --out",
                       description="Run the suite with pytest. Arguments after '--' go to pytest unchanged, "
                                   "e.g. nnconform run -- --junitxml=out.xml -x",
                       epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    r.add_argument("--backend", action="append", default=[], metavar="NAME",
                   help="backend to test (repeatable; a registered name or 'module:attr'); default: all available")
    r.add_argument("--profile", choices=PROFILES, default="ci", help="hypothesis profile (default: ci)")
    r.add_argument("--out", default=DEFAULT_OUT, metavar="DIR",
                   help=f"output folder for results.json, results.jsonl, index.html (default: ./{DEFAULT_OUT})")
    r.add_argument("-n", default="auto", metavar="N", help="pytest-xdist workers (default: auto)")
    r.add_argument("--hypothesis-seed", default=None, metavar="S", help="fixed hypothesis seed")
    r.set_defaults(func=_cmd_run)
    rep = sub.add_parser("report", help="re-render the HTML report from a saved results.json",
                         epilog=EXIT_CODES_HELP, formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("results", nargs="+", metavar="RESULTS.json",
                     help="results.json, a partial results.jsonl, or a run's output folder")
    rep.add_argument("--out", default=None, metavar="DIR",
                     help="output folder; the report is DIR/index.html (default: the results file's folder)")
    rep.set_defaults(func=_cmd_report)
    sub.add_parser("bench", help="run the benchmarks (arguments go to the benchmark harness)", add_help=False)
    b = sub.add_parser("backends", help="list the registered backends and whether they can run here")
    b.set_defaults(func=_cmd_backends)
    return p


def _dispatch(argv: list[str]) -> int:
    try:
        packages.check()  # our import names must be ours before anything of theirs is imported
    except packages.ShadowedPackage as exc:
        raise CliError(str(exc)) from None
    if argv and argv[0] == "bench":
        return _cmd_bench(argv[1:])
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # --help / --version (0)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if extra and args.cmd != "run":
        raise CliError(f"{args.cmd}: unexpected arguments after '--': {' '.join(extra)}")
    return args.func(args, extra)


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        return _dispatch(argv)
    except CliError as exc:
        _err(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_ERROR
    except Exception as exc:
        if os.environ.get("NNCONFORM_DEBUG"):
            traceback.print_exc()
        _err(f"internal error: {type(exc).__name__}: {exc} (set NNCONFORM_DEBUG=1 for the traceback)")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
