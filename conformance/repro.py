"""Reproduce one failing example on its own, from the one-line command the report prints.

    python -m conformance.repro --backend numpy --op conv --dtype float32 --mode forward \\
        --seed 3 --case '{"args": [...], "kwargs": {...}}'

prints the backend's and spec's outputs side by side and exits 1 if the check fails, 0 if it
passes. ``--realistic LABEL`` re-runs a realistic-tier case (drawn from a fixed rng seed).
"""

from __future__ import annotations

import argparse
import shlex
import sys


def repro_command(backend: str, op: str, dtype: str, mode: str, case, seed: int, *, realistic: str | None = None) -> str:
    parts = ["python", "-m", "conformance.repro", "--backend", shlex.quote(backend), "--op", op, "--dtype", dtype,
             "--mode", mode, "--seed", str(seed)]
    if realistic is not None:
        parts += ["--realistic", shlex.quote(realistic)]
    else:
        parts += ["--case", shlex.quote(case.to_json())]
    return " ".join(parts)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m conformance.repro", description=__doc__.split("\n\n")[0])
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

    rec = OP_TABLE[args.op]
    backend = impls.get_backend(args.backend)
    ref = None
    if args.realistic:
        oracle = pick_oracle(args.backend, impls.available_backends())
        ref = NumpyView(impls.get_backend(oracle), "float64")
        case = dict(realistic_cases(rec, args.dtype))[args.realistic]
    else:
        case = Case.from_json(args.case)
    print(f"case: {case!r}")
    try:
        kwargs = {"ref": ref} if ref is not None else {}
        cmp, actual = check_op(backend, rec, case, args.dtype, args.mode, seed=args.seed, **kwargs)
    except ConformanceFailure as exc:
        print(f"FAIL [{exc.category}] {exc.message}")
        if exc.expected:
            print(f"expected: {exc.expected}\nactual:   {exc.actual}")
        return 1
    worst = f"{cmp.tol_ratio:.3g}x tolerance" if cmp is not None else "n/a"
    print(f"PASS: worst error {worst}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
