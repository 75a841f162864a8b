"""Timing a list of cases on backends loaded in THIS process: rows, and a record for everything not measured.

Each case is timed per backend in two modes: ``forward`` (the op) and ``forward+vjp`` (the op, then its
``*_vjp`` with a random cotangent; the composite case: a whole training step). Ops without a VJP have
``forward`` only; spec runs the small tier only. A realistic conv or dense row also gets its roofline:
the plain GEMM of the same size timed in the same backend and mode (forward: one GEMM; forward+vjp: the
GEMM and its VJP, three GEMMs of that size, as the conv's own three). Failures never stop the run: an
unavailable backend, an op raising :class:`impls.base.NotImplementedOp`, any exception or a per-measurement
timeout is recorded in ``skipped``.
"""

from __future__ import annotations

import sys
import traceback
import zlib

from .cases import REALISTIC, SMALL, Case, gemm_case
from .loading import SPEC, Loaded, sync_fn
from .timing import Prepared, Timeout, Timing, measure, prepare, time_limit

MODES = ("forward", "forward+vjp")


def _classify(exc: BaseException) -> tuple[str, str]:
    from impls.base import NotImplementedOp, Unavailable

    if isinstance(exc, NotImplementedOp):
        return "not_implemented", str(exc)
    if isinstance(exc, Timeout):
        return "timeout", str(exc)
    if isinstance(exc, Unavailable):
        return "unavailable", str(exc)
    return "error", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=6)).strip()


def skip_record(case: Case | None, mode: str, backend: str, status: str, reason: str) -> dict:
    if case is None:
        return {"op": "*", "case": "*", "mode": "*", "backend": backend, "dtype": "*", "tier": "*",
                "status": status, "reason": reason}
    return {"op": case.op, "case": case.case, "mode": mode, "backend": backend, "dtype": case.dtype,
            "tier": case.tier, "status": status, "reason": reason}


def _row(case: Case, mode: str, backend: str, dtype: str, t: Timing, prep: Prepared) -> dict:
    mult = 3 if mode == "forward+vjp" else 1
    gflops = case.flops * mult / t.median_s / 1e9 if case.flops and t.median_s > 0 else None
    nbytes = None
    if case.flops is None and prep.bytes_fwd:
        nbytes = prep.bytes_fwd + ((prep.bytes_vjp or 0) if mode == "forward+vjp" else 0)
    return {
        "op": case.op, "case": case.case, "mode": mode, "backend": backend, "dtype": dtype,
        "median_s": t.median_s, "iqr_s": t.iqr_s, "repeats": t.repeats, "gflops": gflops,
        "ratio_to_torch_cpu": None, "speedup_over_spec": None,
        "gbps": nbytes / t.median_s / 1e9 if nbytes and t.median_s > 0 else None,
        "tier": case.tier, "calls_per_sample": t.number, "source": case.source,
        "gemm_mkn": list(case.gemm) if case.gemm else None, "gemm_s": None, "gemm_iqr_s": None, "x_gemm": None,
    }


def _timed(fn, prep_first, mode, opts, sync) -> Timing:
    with time_limit(opts.case_timeout):
        if mode == "forward" and prep_first is not None and prep_first >= max(10 * opts.min_time, 1.0):
            return Timing(prep_first, 0.0, 1, 1)  # too slow to repeat: the sizing call is the sample
        return measure(fn, warmup=opts.warmup, repeats=opts.repeats, min_repeats=opts.min_repeats,
                       min_time=opts.min_time, sync=sync)


def _seed(opts, case: Case) -> int:
    return opts.seed + zlib.crc32(f"{case.op} {case.case}".encode()) % 65536


def time_case(case: Case, lb: Loaded, opts, log=None) -> tuple[dict[str, Timing], dict[str, Prepared | None], list]:
    """Time ``case`` on one loaded backend: ({mode: Timing}, prepared inputs, skipped records)."""
    backend, skipped, timings = lb.backend, [], {}
    modes = list(MODES) if (case.has_vjp or case.composite) else ["forward"]
    dtypes = tuple(getattr(backend, "dtypes", ()) or ())
    if dtypes and case.dtype not in dtypes:
        reason = f"dtype {case.dtype} not in backend dtypes {list(dtypes)}"
        return {}, None, [skip_record(case, m, lb.name, "unavailable", reason) for m in modes]
    sync = sync_fn(backend)
    try:
        with time_limit(opts.case_timeout):
            prep = prepare(case, backend, _seed(opts, case), sync)
    except Exception as exc:
        status, reason = _classify(exc)
        return {}, None, [skip_record(case, m, lb.name, status, reason) for m in modes]
    for mode, fn in zip(MODES, (prep.forward, prep.forward_vjp), strict=True):
        if mode not in modes or fn is None:
            continue
        try:
            timings[mode] = _timed(fn, prep.first_s, mode, opts, sync)
        except Exception as exc:
            status, reason = _classify(exc)
            skipped.append(skip_record(case, mode, lb.name, status, reason))
            if log is not None and opts.verbose:
                log(f"  {case.op:<16} {case.case:<34} {mode:<12} {lb.name:<10} {status}")
    return timings, prep, skipped


def run_benchmarks(cases: list[Case], backends: list[Loaded], opts, log=print) -> tuple[list, list]:
    """Rows (one per case x backend x mode measured) and skipped records; ratios are NOT filled here."""
    rows, skipped = [], []
    gemm_cache: dict[tuple, dict[str, Timing]] = {}
    for b in backends:
        if b.status != "available":
            skipped.append(skip_record(None, "*", b.name, b.status, b.reason))
    available = [b for b in backends if b.status == "available"]
    for i, case in enumerate(cases, 1):
        if not opts.verbose:
            print(f"[{i}/{len(cases)}] {case.label}", file=sys.stderr, flush=True)
        for lb in available:
            if lb.name == SPEC and case.tier != SMALL:
                continue  # spec is a loop reference: small shapes only
            timings, prep, skips = time_case(case, lb, opts, log)
            skipped += skips
            roof = {}
            if timings and case.gemm and case.tier == REALISTIC:
                key = (lb.name, case.gemm, case.dtype)
                if key not in gemm_cache:
                    gemm_cache[key] = time_case(gemm_case(case), lb, opts)[0]
                roof = gemm_cache[key]
            for mode, t in timings.items():
                row = _row(case, mode, lb.name, "float64" if lb.name == SPEC else case.dtype, t, prep)
                if mode in roof and roof[mode].median_s > 0:
                    row["gemm_s"], row["gemm_iqr_s"] = roof[mode].median_s, roof[mode].iqr_s
                    row["x_gemm"] = t.median_s / roof[mode].median_s
                rows.append(row)
                if opts.verbose:
                    log(f"  {case.op:<16} {case.case:<34} {mode:<12} {lb.name:<10} {t.median_s * 1e3:10.4f} ms")
            del prep  # frees the inputs by reference counting (a full gc.collect() costs ~0.2 s with torch)
    return rows, skipped
