"""``nnconform bench`` / ``python -m benchmarks``: options, orchestration and bench.json.

By default every backend is timed in a process of its own (:mod:`benchmarks.isolate`) with the same
thread policy; ``--in-process`` times them one after the other in this process (faster to start, but a
previous backend's spinning thread pools can slow the next one down: for debugging only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from contextlib import ExitStack

from nnconform.schema import BENCH_SCHEMA

from . import cases as _cases
from .isolate import run_in_process
from .loading import default_names, load_backends, safe_metadata
from .rounds import merge_rows, merge_skipped, round_order
from .runner import run_benchmarks
from .table import RATIO_CONVENTION, fill_ratios, format_table, loadavg, machine_info
from .threads import default_threads, pin_threads
from .timing import SAMPLE_TARGET_S

DEFAULT_OUT = os.path.join("nnconform-out", "bench.json")  # beside results.json: the report picks it up
WORKER_SLACK_S = 120.0
"""A worker's whole-run limit on top of its per-measurement limits (start-up, inputs, roofline GEMMs)."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnconform bench", description="Time every op x backend, forward and "
                                "forward+VJP, at realistic sizes; write bench.json.",
                                formatter_class=argparse.RawDescriptionHelpFormatter, epilog=RATIO_CONVENTION)
    p.add_argument("--backend", action="append", dest="backends", metavar="NAME",
                   help="backend to time (repeatable; a registered name or 'module:attr'; 'spec' for the "
                        "reference). Default: every registered backend, plus spec; with --backend, spec runs "
                        "only when named.")
    p.add_argument("--no-spec", action="store_true", help="without --backend: do not time spec")
    p.add_argument("--quick", action="store_true", help="much smaller sizes and budgets: a smoke test in seconds")
    p.add_argument("--only", action="append", metavar="SUBSTRING",
                   help="keep only cases whose 'op case' contains SUBSTRING (repeatable: any of them)")
    p.add_argument("--repeats", type=int, default=None, help="max timed samples per case and mode (default 25; quick 3)")
    p.add_argument("--min-repeats", type=int, default=None, help="samples always taken (default 11; quick 2)")
    p.add_argument("--min-time", type=float, default=None,
                   help="time budget per case and mode in seconds: sampling stops once this is spent and "
                        "--min-repeats samples exist (default 0.5; quick 0.02)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up runs (default 3; quick 1)")
    p.add_argument("--processes", type=int, default=None,
                   help="fresh processes per backend; a row is the median of their medians (default 3; quick 1): "
                        "one backend's median moves by 20-40%% between processes on a shared VM")
    p.add_argument("--threads", type=int, default=None,
                   help=f"threads for every backend (default: all usable cores, {default_threads()} here)")
    p.add_argument("--case-timeout", type=float, default=None,
                   help="give up on one case/backend/mode after this many seconds (default 300; quick 60)")
    p.add_argument("--in-process", action="store_true",
                   help="time every backend in this process instead of one process per backend (not fair: "
                        "for debugging)")
    p.add_argument("--seed", type=int, default=0, help="seed of inputs and cotangents")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"JSON output path (default {DEFAULT_OUT})")
    p.add_argument("--verbose", "-v", action="store_true", help="print each timing as it is taken")
    return p


def _options(parser, argv):
    opts = parser.parse_args(argv)
    q = opts.quick
    # 11 samples at least: with 5, one torch-cpu conv forward+vjp row read 102 ms (IQR 61 ms) where runs
    # with 11 or more read 39-45 ms; the 0.5 s budget alone stops a 50 ms call after 5 samples
    defaults = {"repeats": 3 if q else 25, "min_repeats": 2 if q else 11, "min_time": 0.02 if q else 0.5,
                "warmup": 1 if q else 3, "processes": 1 if q else 3, "case_timeout": 60.0 if q else 300.0,
                "threads": default_threads()}
    for key, value in defaults.items():
        if getattr(opts, key) is None:
            setattr(opts, key, value)
    for key in ("repeats", "min_repeats", "threads", "processes"):
        if getattr(opts, key) < 1:
            parser.error(f"--{key.replace('_', '-')}={getattr(opts, key)}: expected >= 1")
    if opts.warmup < 0 or opts.min_time < 0:
        parser.error("--warmup and --min-time must be >= 0")
    opts.min_repeats = min(opts.min_repeats, opts.repeats)
    return opts


def _timing_opts(opts) -> dict:
    return {k: getattr(opts, k) for k in ("seed", "warmup", "repeats", "min_repeats", "min_time", "case_timeout",
                                          "verbose")}


def _isolated(names, opts, n_cases) -> tuple[list, list, list, dict, list]:
    limit = opts.case_timeout * (3 * n_cases + 2) + WORKER_SLACK_S
    results: dict[str, list[dict]] = {name: [] for name in names}
    for r in range(opts.processes):
        for name in round_order(names, r):
            print(f"-- {name}: own process ({r + 1}/{opts.processes})", file=sys.stderr, flush=True)
            results[name].append(run_in_process(name, quick=opts.quick, only=opts.only, opts=_timing_opts(opts),
                                                threads=opts.threads, timeout_s=limit))
    rows, skipped, backends, details, policies = [], [], [], {}, []
    for name in names:  # report order stays the order asked for
        runs = results[name]
        merged = merge_rows([res["rows"] for res in runs])
        rows += merged
        skipped += merge_skipped([res["skipped"] for res in runs], merged)
        backends.append(next((res["backend"] for res in runs if res["rows"]), runs[0]["backend"]))
        details[name] = runs[0]["thread_details"]
        if runs[0]["threads"]:
            policies.append(f"{name}: {runs[0]['threads']}")
    return rows, skipped, backends, details, policies


def _in_process(names, opts, cases) -> tuple[list, list, list, dict, list]:
    loaded = load_backends(names, with_spec=not opts.no_spec)
    with ExitStack() as stack:
        policy, details = pin_threads(opts.threads, stack)
        rows, skipped = run_benchmarks(cases, loaded, opts)
    backends = [{"name": b.name, "status": b.status, "reason": b.reason,
                 "device": str(getattr(b.backend, "device", "")) if b.backend is not None else "",
                 "metadata": safe_metadata(b.backend)} for b in loaded]
    return rows, skipped, backends, {"in_process": details}, [policy]


def main(argv: list[str] | None = None) -> int:
    from nnconform.atomic import write_json_atomic

    parser = build_parser()
    opts = _options(parser, argv)
    cases = _cases.select(_cases.build_cases(opts.quick), opts.only)
    if not cases:
        print(f"no case matches --only {opts.only}", file=sys.stderr)
        return 2
    names = opts.backends if opts.backends is not None else None
    if names is None and not opts.in_process:
        names = default_names(with_spec=not opts.no_spec)
    names = list(dict.fromkeys(names)) if names is not None else None

    started = time.perf_counter()
    machine = machine_info()
    isolation = "none: every backend in one process, one after the other" if opts.in_process else \
        f"{opts.processes} process(es) per backend, the backends' order rotated between rounds; a row is the " \
        "median of the per-process medians"
    print(f"nnconform bench ({'quick' if opts.quick else 'full'}): {len(cases)} cases; {machine['cpu']}, "
          f"{machine['cores_usable']}/{machine['cores']} cores, {machine['host']}")
    print(f"isolation: {isolation}; threads={opts.threads} for every backend (threadpoolctl + torch.set_num_threads)")
    print(f"load average at start: {machine['loadavg']} (a loaded machine makes every timing noisier)")
    print(f"timing: warm-up {opts.warmup}, up to {opts.repeats} samples, budget {opts.min_time:g} s per case and mode "
          f"(at least {opts.min_repeats} samples); median and IQR")
    print(RATIO_CONVENTION)
    sys.stdout.flush()
    if opts.in_process:
        rows, skipped, backends, details, policies = _in_process(names, opts, cases)
    else:
        rows, skipped, backends, details, policies = _isolated(names, opts, len(cases))
    fill_ratios(rows)
    threads = f"isolation: {isolation}; threads={opts.threads} for every backend"
    data = {
        "schema": BENCH_SCHEMA,
        "machine": machine,
        "threads": threads,
        "isolation": "in_process" if opts.in_process else "process_per_backend",
        "thread_policy": {"threads": opts.threads, "per_backend": policies,
                          "how": "threadpoolctl.threadpool_limits(threads) on every loaded BLAS/OpenMP pool, after "
                                 "the backend is loaded; torch.set_num_threads(threads); environment unchanged"},
        "thread_details": details,
        "rows": rows,
        "ratio_convention": RATIO_CONVENTION,
        "backends": backends,
        "skipped": skipped,
        "settings": {"quick": opts.quick, "repeats": opts.repeats, "min_repeats": opts.min_repeats,
                     "min_time_s": opts.min_time, "warmup": opts.warmup, "seed": opts.seed, "only": opts.only,
                     "case_timeout_s": opts.case_timeout, "sample_target_s": SAMPLE_TARGET_S,
                     "processes": 1 if opts.in_process else opts.processes},
        "command": " ".join(["python -m benchmarks", *(argv if argv is not None else sys.argv[1:])]),
        "duration_s": round(time.perf_counter() - started, 3),
        "loadavg_end": loadavg(),
    }
    print()
    print(format_table(rows, skipped))
    for p in policies:
        print(f"threads {p}")
    write_json_atomic(opts.out, data, indent=1)
    print(f"\nload average at end: {data['loadavg_end']}")
    print(f"wrote {opts.out} ({len(rows)} rows, {len(skipped)} not measured) in {data['duration_s']:.1f} s")
    return 0 if rows else 1
