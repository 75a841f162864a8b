"""Reproduce one failing example on its own, from the one-line command the report prints.

    python -m conformance.repro --backend numpy --op conv --dtype float32 --mode forward \\
        --seed 3 --case '{"args": [...], "kwargs": {...}}'

prints the backend's and spec's outputs side by side. ``--realistic LABEL`` re-runs a
realistic-tier case (drawn from a fixed rng seed).

Exit codes: 0 the check passes (or fails only within a deviation the backend declared, printed as
such); 1 the failure persists; 2 usage error (bad arguments);
3 the backend (or the realistic tier's oracle) cannot be loaded here, so nothing was checked.

The printed line runs as is from the directory the run was started in, and from any other: when
the backend (``module:attr``) or the suite itself is importable only through the run's path (its
current directory, ``PYTHONPATH``, pytest's rootdir), the line starts with ``PYTHONPATH=...``
naming those folders, and it names the interpreter when ``python`` on PATH is another one.
"""

from __future__ import annotations

import argparse
import functools
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EXIT_PASS, EXIT_FAILS, EXIT_USAGE, EXIT_NO_BACKEND = 0, 1, 2, 3


_WHERE = ("import importlib.util as u, pathlib, sys; s = u.find_spec(sys.argv[1]); "
          "l = list(s.submodule_search_locations or []) if s else []; "
          "print(pathlib.Path(s.origin if s and s.origin and not l else l[0] if l else '').resolve() if s else '')")
"""Prints where the top-level package or module ``sys.argv[1]`` is found (a file or a package folder)."""


def _where(top: str) -> str:
    try:
        spec = importlib.util.find_spec(top)
    except (ImportError, ValueError):
        return ""
    if spec is None:
        return ""
    locations = list(spec.submodule_search_locations or [])
    return str(Path(spec.origin if spec.origin and not locations else locations[0] if locations else "").resolve())


@functools.cache
def _needs_path(module: str) -> str:
    """The folder to put on PYTHONPATH for ``module`` to import as it does here, or "" when it already would.

    "Already would": a fresh interpreter started in another folder without PYTHONPATH finds the same file.
    """
    top = module.split(".")[0]
    here = _where(top)
    if not here or here in ("built-in", "frozen"):
        return ""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    try:
        there = subprocess.run([sys.executable, "-c", _WHERE, top], cwd=tempfile.gettempdir(), env=env,
                               capture_output=True, text=True, timeout=60).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        there = ""
    return "" if there == here else str(Path(here).parent)


@functools.cache
def command_prefix(backend: str) -> str:
    """``PYTHONPATH=... python`` (or just ``python``): what makes the repro line run as printed, from anywhere."""
    modules = ["conformance"] + ([backend.partition(":")[0]] if ":" in backend else [])
    paths = list(dict.fromkeys(p for p in map(_needs_path, modules) if p))
    on_path = shutil.which("python")
    python = "python" if on_path and os.path.realpath(on_path) == os.path.realpath(sys.executable) else sys.executable
    prefix = f"PYTHONPATH={shlex.quote(os.pathsep.join(paths))} " if paths else ""
    return prefix + shlex.quote(python)


def repro_command(backend: str, op: str, dtype: str, mode: str, case, seed: int, *, realistic: str | None = None) -> str:
    parts = [command_prefix(backend), "-m", "conformance.repro", "--backend", shlex.quote(backend), "--op", op,
             "--dtype", dtype, "--mode", mode, "--seed", str(seed)]
    if realistic is not None:
        parts += ["--realistic", shlex.quote(realistic)]
    else:
        parts += ["--case", shlex.quote(case.to_json())]
    return " ".join(parts)


def _load(name: str):
    """The backend, or exit with EXIT_NO_BACKEND and one line saying why it cannot be loaded."""
    import impls

    try:
        return impls.get_backend(name)
    except Exception as exc:  # import error, Unavailable, unknown name, a raising factory: not the bug under test
        why = " ".join(str(exc).split()) or type(exc).__name__
        print(f"conformance.repro: cannot load backend {name!r}: {type(exc).__name__}: {why}", file=sys.stderr)
        raise SystemExit(EXIT_NO_BACKEND) from None


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.repro", description=__doc__.split("\n\n")[0],
                                epilog="exit codes: 0 passes, 1 the failure persists, 2 usage error, "
                                       "3 the backend cannot be loaded")
    p.add_argument("--backend", required=True)
    p.add_argument("--op", required=True)
    p.add_argument("--dtype", required=True)
    p.add_argument("--mode", choices=("forward", "gradient"), required=True)
    p.add_argument("--seed", type=int, default=0, help="seed of the random cotangent")
    p.add_argument("--case", help="the case as JSON (from the report)")
    p.add_argument("--realistic", help="label of a realistic-tier case")
    args = p.parse_args(argv)

    import impls

    from .checks import check_op
    from .hypothesis_helpers import Case
    from .optable import OP_TABLE, NumpyView, pick_oracle, realistic_cases
    from .pytest_helpers import ConformanceFailure

    if args.op not in OP_TABLE:
        p.error(f"--op={args.op!r}: unknown; known are {', '.join(sorted(OP_TABLE))}")
    rec = OP_TABLE[args.op]
    backend = _load(args.backend)
    ref = None
    if args.realistic:
        oracle = pick_oracle(args.backend, impls.available_backends())
        if oracle is None:
            print("conformance.repro: no float64 oracle backend is available here", file=sys.stderr)
            return EXIT_NO_BACKEND
        ref = NumpyView(_load(oracle), "float64")
        case = dict(realistic_cases(rec, args.dtype))[args.realistic]
    else:
        if not args.case:
            p.error("--case is required without --realistic")
        case = Case.from_json(args.case)
    print(f"case: {case!r}")
    try:
        kwargs = {"ref": ref} if ref is not None else {}
        cmp, actual = check_op(backend, rec, case, args.dtype, args.mode, seed=args.seed, **kwargs)
    except ConformanceFailure as exc:
        print(f"FAIL [{exc.category}] {exc.message}")
        if exc.expected:
            print(f"expected: {exc.expected}\nactual:   {exc.actual}")
        return EXIT_FAILS
    worst = f"{cmp.tol_ratio:.3g}x tolerance" if cmp is not None else "n/a"
    if cmp is not None and cmp.deviation:
        d = cmp.deviation
        print(f"EXPECTED DEVIATION [{d['category']}]: {cmp.message}\n  declared by the backend: {d['reason']}\n"
              f"  bound: {d['bound']}; strict ratio {d['strict_ratio']}, under the declared bound "
              f"{d['declared_ratio'] if d['declared_ratio'] is not None else 'n/a'}")
        return EXIT_PASS
    print(f"PASS: worst error {worst}")
    return EXIT_PASS


if __name__ == "__main__":
    sys.exit(main())
