"""The ``nnconform`` command line.

    nnconform run [--backend NAME]... [--profile ci|dev|thorough] [--out DIR] [-n N] [--hypothesis-seed S]
                  [-- extra pytest args]
    nnconform report RESULTS.json [--out index.html]
    nnconform bench [args...]          (delegates to benchmarks.cli.main)
    nnconform backends

Exit codes: 0 no failures, 1 failures (a fail or error result), 2 usage or internal error.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import random
import subprocess
import sys
import time
import traceback
from pathlib import Path

__all__ = ["main", "build_pytest_command", "conformance_dir"]

EXIT_OK, EXIT_FAILURES, EXIT_ERROR = 0, 1, 2
PROFILES = ("ci", "dev", "thorough")


class CliError(Exception):
    """A usage or environment problem: printed without a traceback, exit code 2."""


def _err(msg: str) -> None:
    print(f"nnconform: error: {msg}", file=sys.stderr)


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


def build_pytest_command(*, backends=(), profile: str = "ci", out="reports", n: str = "auto",
                         hypothesis_seed=None, extra=(), python: str | None = None) -> list[str]:
    """The pytest command line ``nnconform run`` executes (see the module docstring)."""
    out = Path(out)
    cmd = [python or sys.executable, "-m", "pytest", str(conformance_dir())]
    if not _plugin_registered():  # running from a source tree without entry points
        cmd += ["-p", "conformance.plugin"]
    if _has_xdist():
        cmd += ["-n", str(n)]
    # without pytest-xdist there is no -n option at all: running without it is the same as -n 0
    cmd += ["--conformance-profile", profile,
            "--results-json", str(out / "results.json"),
            "--report-html", str(out / "index.html")]
    for b in backends:
        cmd += ["--backend", b]
    if hypothesis_seed is not None:
        cmd += ["--hypothesis-seed", str(hypothesis_seed)]
    cmd += ["-q", *extra]
    return cmd


def _print_summary(results: dict, report: Path, *, stream=None) -> int:
    from .render import STATUS_STYLE, summarize

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
    from .render import load_results, write_report

    out = Path(args.out)
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
        _err(f"pytest exited with code {rc} ({'internal error' if rc == 3 else 'usage error'})")
        return EXIT_ERROR
    fresh = results_path.exists() and results_path.stat().st_mtime >= started - 1
    if not fresh:
        _err(f"pytest exited with code {rc} and wrote no {results_path}")
        return EXIT_ERROR
    try:
        results = load_results(results_path)
    except (OSError, ValueError) as exc:
        _err(f"cannot read {results_path}: {exc}")
        return EXIT_ERROR
    if not report_path.exists() or report_path.stat().st_mtime < started - 1:
        write_report(results, report_path)  # the plugin did not render one: do it here
    n_bad = _print_summary(results, report_path.resolve())
    if rc == 2:
        _err("the run was interrupted")
        return EXIT_ERROR
    if rc == 5:
        _err("pytest collected no tests")
        return EXIT_ERROR
    return EXIT_FAILURES if (n_bad or rc == 1) else EXIT_OK


# ------------------------------------------------------------------------------------------ report
def _cmd_report(args, extra) -> int:
    from .render import load_results, write_report

    src = Path(args.results)
    if not src.exists():
        partial = src.with_suffix(".jsonl")
        if src.suffix == ".json" and partial.exists():
            print(f"nnconform: {src} not found; using the partial {partial}", file=sys.stderr)
            src = partial
        else:
            raise CliError(f"{src}: no such file")
    try:
        results = load_results(src)
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {src}: {exc}") from None
    out = Path(args.out) if args.out else src.with_name("index.html")
    path = write_report(results, out)
    print(f"nnconform: report: {path.resolve()}")
    return EXIT_OK


# ------------------------------------------------------------------------------------------- bench
def _cmd_bench(argv: list[str]) -> int:
    try:
        bench = importlib.import_module("benchmarks.cli")
    except ModuleNotFoundError as exc:
        if exc.name in ("benchmarks", "benchmarks.cli"):
            _err("the benchmark harness (benchmarks.cli) is not installed in this checkout")
            return EXIT_ERROR
        raise
    entry = getattr(bench, "main", None)
    if not callable(entry):
        _err("benchmarks.cli has no main(argv) function")
        return EXIT_ERROR
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
    p = argparse.ArgumentParser(prog="nnconform",
                                description="Conformance suite: reference spec vs optimized NN backends.")
    sub = p.add_subparsers(dest="cmd", metavar="{run,report,bench,backends}")
    sub.required = True
    r = sub.add_parser("run", help="run the conformance suite and write results.json + index.html",
                       description="Run the suite with pytest. Arguments after '--' go to pytest unchanged.")
    r.add_argument("--backend", action="append", default=[], metavar="NAME",
                   help="backend to test (repeatable; a registered name or 'module:attr'); default: all available")
    r.add_argument("--profile", choices=PROFILES, default="ci", help="hypothesis profile (default: ci)")
    r.add_argument("--out", default="reports", metavar="DIR", help="output directory (default: ./reports)")
    r.add_argument("-n", default="auto", metavar="N", help="pytest-xdist workers (default: auto)")
    r.add_argument("--hypothesis-seed", default=None, metavar="S", help="fixed hypothesis seed")
    r.set_defaults(func=_cmd_run)
    rep = sub.add_parser("report", help="re-render the HTML report from a saved results.json")
    rep.add_argument("results", metavar="RESULTS.json", help="results.json (or a partial results.jsonl)")
    rep.add_argument("--out", default=None, metavar="HTML", help="output file (default: index.html next to it)")
    rep.set_defaults(func=_cmd_report)
    sub.add_parser("bench", help="run the benchmarks (arguments go to benchmarks.cli)", add_help=False)
    b = sub.add_parser("backends", help="list the registered backends and whether they can run here")
    b.set_defaults(func=_cmd_backends)
    return p


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "bench":
        return _cmd_bench(argv[1:])
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1:]
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help (0) or a usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    if extra and args.cmd != "run":
        _err(f"{args.cmd}: unexpected arguments after '--': {' '.join(extra)}")
        return EXIT_ERROR
    try:
        return args.func(args, extra)
    except CliError as exc:
        _err(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        _err("interrupted")
        return EXIT_ERROR
    except Exception:
        traceback.print_exc()
        _err("internal error (traceback above)")
        return EXIT_ERROR


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
