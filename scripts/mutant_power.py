#!/usr/bin/env python
"""How often the corner strategies catch each planted bug of tests/mutants.py STRAT_MUTANTS, over several seeds.

tests/test_mutants_strat.py asserts every bug is caught at the test command's one fixed seed; this script
measures the same runs (ci profile, 2 workers, numpy plus every mutant) at other hypothesis seeds, with
shapes drawn freely and from the skeleton pool, so that a catch rate below 1 is visible. It asserts
nothing; the issue notes quote its table.

    .venv/bin/python scripts/mutant_power.py 1 2 3 4      # seeds; each run takes about a minute here
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.mutants import STRAT_MUTANTS  # noqa: E402
from tests.suite_runner import rows, run_suite  # noqa: E402
from tests.test_mutants_strat import K  # noqa: E402


def caught(results, mutant) -> bool:
    op, check = STRAT_MUTANTS[mutant]
    return any(r["status"] == "fail" for r in rows(results, backend=mutant, op=op, check=check))


def numpy_clean(results) -> bool:
    return all(r["status"] == "pass" for r in rows(results, backend="numpy"))


def main(seeds: list[str]) -> int:
    table = {}
    for mode, pool in (("free", "off"), ("pooled", "on")):
        for seed in seeds:
            os.environ["NNCONFORM_SHAPE_POOL"] = pool
            with tempfile.TemporaryDirectory() as tmp:
                proc, results = run_suite(tmp, ["numpy", *STRAT_MUTANTS], k=K, profile="ci", workers=2,
                                          extra=["--hypothesis-seed", seed])
            if results is None:
                print(proc.stdout[-2000:], proc.stderr[-2000:], file=sys.stderr)
                return 2
            table[(mode, seed)] = {m: caught(results, m) for m in STRAT_MUTANTS} | {"numpy passes": numpy_clean(results)}
            print(f"{mode} seed {seed}: missed {[m for m in STRAT_MUTANTS if not table[(mode, seed)][m]]}", flush=True)
    names = [*STRAT_MUTANTS, "numpy passes"]
    print(f"\n| mutant | {' | '.join(f'{m} {s}' for m, s in table)} | rate |")
    print(f"|---|{'---|' * len(table)}---|")
    for name in names:
        marks = [table[key][name] for key in table]
        print(f"| {name.split(':')[-1]} | {' | '.join('yes' if v else '**no**' for v in marks)} | "
              f"{sum(marks)}/{len(marks)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["1", "2"]))
