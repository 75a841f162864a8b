"""Do the benchmark harness's ratios agree with a plain per-process timing of the same cases?

    python scripts/bench_compare.py [--only SUBSTRING] [--quick] [--backend numpy] [--rounds 5] [--threads N]

For each round: ``python -m benchmarks`` times the selected cases on the backend and on torch-cpu (its
default isolation: one process per backend), and, for each of the two backends, a fresh process
times the same cases with the plainest possible loop (pin threads, three warm-up calls, then the
median of individually timed calls with ``time.perf_counter``; no harness code but the case
definitions). Odd rounds run the harness first, even rounds the plain timings first, so a drift of the
machine during the run does not favour one side.

The unit of noise is the PROCESS: on a shared 2-core VM one backend's median moves by 20-40% between
fresh processes seconds apart, while it is steady within one. So each side's time for a backend is the
median over rounds of its per-process medians, and the ratio torch-cpu / backend is formed from those
(a ratio of medians, each over independent processes), not from one round's pair. It prints each
round's times, each backend's harness and plain medians side by side (where a difference comes from), the
two ratios and their relative difference; "agree" means within 15%. Beside it, the spread of each column
over processes and a resampling interval of the difference: where the rounds are resampled (each column
independently), the difference moves inside that interval from process noise alone, so a DISAGREE whose
interval reaches below 15% is marked "inside process noise" (more rounds can settle it) and one whose
interval lies above 15% is a harness bias. It never fails on speed (the machine may be noisy); ``--strict``
makes a disagreement exit 1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.rounds import spread  # noqa: E402  (the comparison's statistics, not its timing)

TOLERANCE = 0.15

PLAIN = r"""
import json, sys, time
import numpy as np
name, quick, only = sys.argv[1], sys.argv[2] == "1", json.loads(sys.argv[3])
threads, calls, dtype = int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
import impls
backend = impls.get_backend(name)
if "torch" in sys.modules:
    sys.modules["torch"].set_num_threads(threads)
import threadpoolctl
threadpoolctl.threadpool_limits(threads)
from benchmarks.cases import build_cases, select
from conformance.dtype_helpers import arg_dtype  # graph_conv's edges stay integer, as in the suite
out = {}
for case in select(build_cases(quick), only):
    if case.tier != "realistic" or case.composite or dtype not in ("any", case.dtype):
        continue
    rng = np.random.default_rng(0)
    args = [backend.asarray(a, arg_dtype(a, case.dtype)) if isinstance(a, np.ndarray) else a for a in case.args(rng)]
    op = getattr(backend, case.method)
    y = op(*args, **case.kwargs)
    fns = {"forward": lambda: op(*args, **case.kwargs)}
    if case.has_vjp:
        g = backend.asarray(rng.standard_normal(tuple(int(s) for s in y.shape)), case.dtype)
        vjp = getattr(backend, case.method + "_vjp")
        fns["forward+vjp"] = lambda: (op(*args, **case.kwargs), vjp(g, *args, **case.kwargs))
    for mode, fn in fns.items():
        for _ in range(3):
            fn()
        ts = []
        for _ in range(calls):
            t0 = time.perf_counter(); fn(); ts.append(time.perf_counter() - t0)
        out[f"{case.op} {case.case} {case.dtype} | {mode}"] = float(np.median(ts))
print("PLAIN-RESULT " + json.dumps(out))
"""


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    return env


def harness(backend: str, only, quick: bool, threads: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp, "bench.json")
        cmd = [sys.executable, "-m", "benchmarks", "--backend", backend, "--backend", "torch-cpu", "--out", str(out),
               "--threads", str(threads), "--processes", "1", *(["--quick"] if quick else [])]  # a round is one process
        for s in only:
            cmd += ["--only", s]
        subprocess.run(cmd, check=True, cwd=ROOT, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        rows = json.loads(out.read_text())["rows"]
    return {("torch:" if r["backend"] == "torch-cpu" else "") + f"{r['op']} {r['case']} {r['dtype']} | {r['mode']}":
            r["median_s"] for r in rows
            if r["tier"] == "realistic" and r["op"] != "composite" and r["backend"] in (backend, "torch-cpu")}


def plain(backend: str, only, quick: bool, threads: int, calls: int, dtype: str) -> dict:
    res = subprocess.run([sys.executable, "-c", PLAIN, backend, "1" if quick else "0", json.dumps(only), str(threads),
                          str(calls), dtype], check=True, cwd=ROOT, env=_env(), capture_output=True, text=True)
    line = next(ln for ln in res.stdout.splitlines() if ln.startswith("PLAIN-RESULT "))
    return json.loads(line[len("PLAIN-RESULT "):])


RESAMPLES = 2000


def _ratio(torch_times, backend_times) -> float:
    return statistics.median(torch_times) / statistics.median(backend_times)


def _resampled_difference(d: dict, seed: int = 0) -> tuple[float, float]:
    """5th and 95th percentiles of |harness ratio - plain ratio| / plain ratio when each of the four
    columns' rounds are resampled with replacement (they are independent processes): the difference
    that process-to-process noise alone produces at this number of rounds."""
    import random

    rng = random.Random(seed)
    diffs = []
    for _ in range(RESAMPLES):
        pick = {name: rng.choices(v, k=len(v)) for name, v in d.items()}
        hm = _ratio(pick["torch harness"], pick["harness"])
        pm = _ratio(pick["torch plain"], pick["plain"])
        diffs.append(abs(hm - pm) / pm)
    q = statistics.quantiles(diffs, n=20, method="inclusive")
    return q[0], q[-1]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--backend", default="numpy")
    p.add_argument("--only", action="append", default=None, help="case filter as in nnconform bench (default conv2d)")
    p.add_argument("--quick", action="store_true", help="the harness's tiny --quick cases")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--calls", type=int, default=15, help="timed calls per case and mode in the plain timing")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
                   else os.cpu_count())
    p.add_argument("--dtype", default="any", help="only cases of this dtype (default: any)")
    p.add_argument("--strict", action="store_true", help="exit 1 when a ratio differs by more than 15%%")
    opts = p.parse_args(argv)
    only = opts.only or ["conv2d"]
    times: dict[str, dict[str, list[float]]] = {}  # key -> {"harness", "plain", "torch harness", "torch plain"}

    def run_harness():
        return harness(opts.backend, only, opts.quick, opts.threads)

    def run_plain():
        return (plain(opts.backend, only, opts.quick, opts.threads, opts.calls, opts.dtype),
                plain("torch-cpu", only, opts.quick, opts.threads, opts.calls, opts.dtype))

    for r in range(opts.rounds):
        if r % 2 == 0:
            h = run_harness()
            mine, ref = run_plain()
        else:
            mine, ref = run_plain()
            h = run_harness()
        for key, t in mine.items():
            if key in ref and key in h and "torch:" + key in h:
                d = times.setdefault(key, {"harness": [], "plain": [], "torch harness": [], "torch plain": []})
                for name, value in (("harness", h[key]), ("plain", t), ("torch harness", h["torch:" + key]),
                                    ("torch plain", ref[key])):
                    d[name].append(value)
        print(f"round {r + 1}/{opts.rounds} ({'harness first' if r % 2 == 0 else 'plain first'}): load average "
              f"{[round(v, 2) for v in os.getloadavg()]}", flush=True)
        for key, d in times.items():  # each round's own times show the spread the medians hide
            print(f"  {key:<60} ms: {opts.backend} harness {d['harness'][-1] * 1e3:.2f} plain "
                  f"{d['plain'][-1] * 1e3:.2f} | torch-cpu harness {d['torch harness'][-1] * 1e3:.2f} plain "
                  f"{d['torch plain'][-1] * 1e3:.2f}", flush=True)
    if not times:
        print("no case measured by both")
        return 2
    worst = 0.0
    print(f"\nmedians over {opts.rounds} rounds (one process each), ms; threads={opts.threads}")
    print(f"{'case dtype | mode':<60} {opts.backend + ' harness':>15} {'plain':>8} {'torch harness':>14} {'plain':>8}")
    for key, d in times.items():
        med = {name: statistics.median(v) * 1e3 for name, v in d.items()}
        print(f"{key:<60} {med['harness']:15.2f} {med['plain']:8.2f} {med['torch harness']:14.2f} "
              f"{med['torch plain']:8.2f}")
    print("spread of those per-process medians (IQR / median)")
    for key, d in times.items():
        print(f"{key:<60} {spread(d['harness']):15.0%} {spread(d['plain']):8.0%} "
              f"{spread(d['torch harness']):14.0%} {spread(d['torch plain']):8.0%}")
    print(f"\nratio torch-cpu / {opts.backend} (> 1: faster than torch-cpu) from those medians; the interval holds "
          f"the difference in 90% of {RESAMPLES} resamplings of the rounds (how far process noise alone moves it)")
    print(f"{'case dtype | mode':<66} {'harness':>8} {'plain':>8} {'diff':>7}  {'90% interval':>14}")
    for key, d in times.items():
        hm = _ratio(d["torch harness"], d["harness"])
        pm = _ratio(d["torch plain"], d["plain"])
        diff = abs(hm - pm) / pm
        lo, hi = _resampled_difference(d)
        worst = max(worst, diff)
        verdict = "agree" if diff <= TOLERANCE else "DISAGREE" + (" (inside process noise)" if lo <= TOLERANCE else "")
        print(f"{key:<66} {hm:8.3f} {pm:8.3f} {diff:7.1%}  {lo:6.1%}..{hi:6.1%} {verdict}")
    print(f"largest difference {worst:.1%} (tolerance {TOLERANCE:.0%})")
    return 1 if opts.strict and worst > TOLERANCE else 0


if __name__ == "__main__":
    sys.exit(main())
