"""Benchmark harness: every op x backend, forward and forward+vjp, at realistic and small sizes.

Run ``python -m conformance.bench`` (or ``nnconform bench``); ``--help`` lists the options.

What is measured
    Each case is timed per backend in two modes: ``forward`` (the op) and ``forward+vjp`` (the
    op, then its ``*_vjp`` with a RANDOM cotangent of the output's shape, drawn once per case).
    The composite network's ``forward+vjp`` is a whole training step
    (:func:`conformance.composite.composite_step`). Ops without a gradient have ``forward`` only.

    Two tiers: "realistic" sizes (conv2d N=32, C=64->64, 32x32; 1-D signals of 1e5 samples;
    memory-bound ops on (32, 64, 64, 64)) in float32 for the optimized backends, and "small"
    sizes in float64 run by every backend AND by ``spec`` (the slow loop reference), which gives
    the "speed-up over spec" column. spec never runs the realistic tier.

How it is timed
    ``--warmup`` untimed runs, then samples until ``--repeats`` samples, or until ``--min-time``
    seconds have been spent once at least ``--min-repeats`` samples exist (a run slower than
    ten budgets stops after one sample). A call slower than ten budgets and 1 s (scipy's conv2d at
    the realistic size takes ~20 s) is timed ONCE: its warm-up run (for forward, the call that
    sized the cotangent) is the single sample, with IQR 0 and repeats 1. A sample times enough
    back-to-back calls to last about a millisecond, so microsecond ops are not timer noise; times
    are per call. Reported: median and
    interquartile range (IQR) of the samples. The garbage collector is off while timing; a CUDA
    backend is synchronised after every call (its ``synchronize()`` method, or torch.cuda's).

Columns
    ``gflops`` = FLOPs / median (conv: 2*N*C_out*prod(out)*C_in*prod(k); dense: 2*N*F_in*F_out;
    the composite step: its conv + dense FLOPs; forward+vjp = 3x forward), null where FLOPs are
    not defined (memory-bound ops, which get ``gbps`` instead: compulsory traffic, each input
    read once and each output written once, / median). ``ratio_to_torch_cpu`` = torch-cpu
    median / backend median for the same case and mode, measured in the same run (> 1: faster than
    torch-cpu). ``speedup_over_spec`` = spec median / backend median (small tier only).

Failures never stop the run: a backend that is unavailable, an op raising
:class:`impls.base.NotImplementedOp`, any exception, or a per-measurement timeout is recorded in
the JSON's ``skipped`` list and shown under the table.

Threads: ``--threads N`` (default: all usable cores) is applied identically for every backend:
``torch.set_num_threads(N)`` when torch is loaded, and ``threadpoolctl.threadpool_limits(N)`` for
BLAS/OpenMP pools when threadpoolctl is installed. The environment is never changed (see
shared/notes/facts.md); what could and could not be pinned is printed and stored in ``threads``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import gc
import json
import math
import os
import platform
import socket
import sys
import time
import traceback
import zlib
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np

from conformance import composite as _composite
from conformance.pytest_helpers import time_limit
from conformance.results import cpu_model
from reports.atomic import write_json_atomic

SCHEMA = "nnconform.bench/1"
DEFAULT_OUT = os.path.join("reports", "bench.json")
TORCH_CPU = "torch-cpu"
SPEC = "spec"
RATIO_CONVENTION = ("ratio_to_torch_cpu = torch-cpu median / backend median, same case and mode, same run "
                    "(> 1 means faster than torch-cpu); speedup_over_spec = spec median / backend median")
ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE",
            "NNCONFORM_PROFILE")
SAMPLE_TARGET_S = 1e-3
"""A sample repeats a fast call back to back until it lasts about this long."""
MAX_NUMBER = 10_000


# --------------------------------------------------------------------------------------------- cases

@dataclass
class Case:
    """One benchmark case: an op on fixed inputs.

    ``args`` are the op's positional arguments (numpy arrays become native arrays of ``dtype``;
    other values pass through), ``kwargs`` its keyword parameters. ``op`` is the label in the
    report ("conv2d"), ``method`` the backend method ("conv").
    """

    op: str
    case: str
    tier: str
    dtype: str
    method: str
    args: Callable[[np.random.Generator], list]
    kwargs: dict = field(default_factory=dict)
    has_vjp: bool = True
    flops: int | None = None
    """FLOPs of one forward call; forward+vjp counts 3x."""
    bytes_fwd: int | None = None
    bytes_vjp: int | None = None
    """Compulsory memory traffic of the forward call / of the vjp call alone."""
    composite: bool = False

    @property
    def key(self) -> tuple[str, str, str]:
        return self.op, self.case, self.tier


def _conv_case(tier, dtype, n, cin, cout, spatial, k, padding="same", label=None):
    nd = len(spatial)
    ks = (k,) * nd
    out = spatial  # 'same', stride 1
    fl = 2 * n * cout * math.prod(out) * cin * math.prod(ks)
    dims = "x".join(str(s) for s in spatial)
    name = label or f"N={n} C={cin}->{cout} {dims} k{k} {padding}"
    return Case(
        op=f"conv{nd}d", case=name, tier=tier, dtype=dtype, method="conv",
        args=lambda rng: [rng.standard_normal((n, cin, *spatial)),
                          rng.standard_normal((cout, cin, *ks)) / math.sqrt(cin * math.prod(ks))],
        kwargs={"padding": padding}, flops=fl)


def _dense_case(tier, dtype, n, fin, fout):
    return Case(
        op="dense", case=f"N={n} F={fin}->{fout}", tier=tier, dtype=dtype, method="dense",
        args=lambda rng: [rng.standard_normal((n, fin)), rng.standard_normal((fout, fin)) / math.sqrt(fin),
                          rng.standard_normal(fout)],
        flops=2 * n * fin * fout)


def _shape_label(shape):
    return "(" + ",".join(str(s) for s in shape) + ")"


def _memory_cases(tier, dtype, shape):
    """Elementwise / pooling / normalisation ops on one (N, C, *spatial) tensor (memory-bound)."""
    isz = np.dtype(dtype).itemsize
    nbytes = math.prod(shape) * isz
    quarter = nbytes // (2 ** (len(shape) - 2))  # pooled by 2 per spatial axis
    up = nbytes * 2 ** (len(shape) - 2)  # upsampled by 2 per spatial axis
    n, c = shape[:2]
    lbl = _shape_label(shape)
    x = lambda rng: rng.standard_normal(shape)  # noqa: E731
    vec = lambda rng: rng.standard_normal(c)  # noqa: E731
    pos = lambda rng: 0.5 + rng.random(c)  # noqa: E731
    mask = lambda rng: (rng.random((n, c)) < 0.8).astype(np.float64)  # noqa: E731
    cases = []
    for act in ("relu", "sigmoid", "tanh"):
        cases.append(Case(act, lbl, tier, dtype, act, lambda rng: [x(rng)],
                          bytes_fwd=2 * nbytes, bytes_vjp=3 * nbytes))
    cases += [
        Case("max_pool", f"{lbl} 2x2", tier, dtype, "max_pool", lambda rng: [x(rng)], {"size": 2},
             bytes_fwd=nbytes + quarter, bytes_vjp=quarter + 2 * nbytes),
        Case("avg_pool", f"{lbl} 2x2", tier, dtype, "avg_pool", lambda rng: [x(rng)], {"size": 2},
             bytes_fwd=nbytes + quarter, bytes_vjp=quarter + nbytes),
        Case("upsample", f"{lbl} x2", tier, dtype, "upsample", lambda rng: [x(rng)], {"factor": 2},
             bytes_fwd=nbytes + up, bytes_vjp=up + nbytes),
        Case("batch_norm", lbl, tier, dtype, "batch_norm", lambda rng: [x(rng), pos(rng), vec(rng)],
             bytes_fwd=2 * nbytes, bytes_vjp=3 * nbytes),
        Case("batch_norm_eval", lbl, tier, dtype, "batch_norm_eval",
             lambda rng: [x(rng), pos(rng), vec(rng), vec(rng), pos(rng)],
             bytes_fwd=2 * nbytes, bytes_vjp=3 * nbytes),
        Case("dropout", f"{lbl} keep=0.8 mask", tier, dtype, "dropout", lambda rng: [x(rng), mask(rng)],
             {"keep_prob": 0.8, "scaling": "none"}, bytes_fwd=2 * nbytes, bytes_vjp=2 * nbytes),
        Case("running_stats", lbl, tier, dtype, "running_stats", lambda rng: [x(rng), vec(rng), pos(rng)],
             {"momentum": 0.1}, has_vjp=False, bytes_fwd=nbytes),
        Case("dropout_mask", f"shape=({n},{c}) keep=0.8", tier, dtype, "dropout_mask", lambda rng: [(n, c)],
             {"keep_prob": 0.8, "seed": 0}, has_vjp=False),
    ]
    return cases


def _composite_case(tier, dtype, n, c0, c1, hw, n_out):
    params, batch = _composite.make_problem(n=n, c_in=c0, c_out=c1, h=hw, w=hw, n_out=n_out, seed=0)
    return Case(
        op="composite", case=f"N={n} C={c0}->{c1} {hw}x{hw} K={n_out} train step", tier=tier, dtype=dtype,
        method="composite", args=lambda rng: [params, batch], composite=True,
        flops=_composite.flops(params, batch))


def build_cases(quick: bool) -> list[Case]:
    """The benchmark cases: realistic tier (float32) then small tier (float64, with spec)."""
    r, f32 = "realistic", "float32"
    if quick:
        cases = [
            _conv_case(r, f32, 2, 8, 8, (16, 16), 3),
            *(_conv_case(r, f32, 1, 2, 2, (2000,), k) for k in (3, 31)),
            _dense_case(r, f32, 8, 64, 32),
            *_memory_cases(r, f32, (2, 4, 16, 16)),
            _composite_case(r, f32, 4, 3, 4, 8, 3),
        ]
    else:
        cases = [
            _conv_case(r, f32, 32, 64, 64, (32, 32), 3),
            *(_conv_case(r, f32, 1, 4, 4, (100_000,), k) for k in (3, 31, 101)),
            _dense_case(r, f32, 256, 4096, 1024),
            *_memory_cases(r, f32, (32, 64, 64, 64)),
            _composite_case(r, f32, 32, 3, 16, 32, 10),
        ]
    s, f64 = "small", "float64"
    cases += [
        _conv_case(s, f64, 1, 2, 2, (8, 8), 3),
        _conv_case(s, f64, 1, 1, 1, (64,), 3),
        _dense_case(s, f64, 2, 16, 4),
        *_memory_cases(s, f64, (2, 2, 8, 8)),
        _composite_case(s, f64, 2, 1, 2, 8, 3),
    ]
    return cases


# ------------------------------------------------------------------------------------------ backends

@dataclass
class _Loaded:
    name: str
    status: str  # available | unavailable | error
    reason: str = ""
    backend: object = None


def load_backends(names: list[str] | None, with_spec: bool) -> list[_Loaded]:
    """Load the requested backends (default: every registered one, plus spec); never raises."""
    import impls
    from impls.base import Unavailable

    loaded = []
    if names is None:
        try:
            names = [s.name for s in impls.backend_statuses()]
        except Exception:
            names = []
            loaded.append(_Loaded("<registry>", "error", traceback.format_exc(limit=4)))
        names = [n for n in names if n != SPEC]
        if with_spec:
            names.append(SPEC)
    for name in dict.fromkeys(names):
        if name == SPEC:
            try:
                from conformance.spec_backend import SpecBackend

                loaded.append(_Loaded(SPEC, "available", backend=SpecBackend()))
            except Exception:
                loaded.append(_Loaded(SPEC, "error", traceback.format_exc(limit=4)))
            continue
        try:
            loaded.append(_Loaded(name, "available", backend=impls.get_backend(name)))
        except Unavailable as exc:
            loaded.append(_Loaded(name, "unavailable", str(exc)))
        except KeyError as exc:
            loaded.append(_Loaded(name, "unavailable", str(exc.args[0]) if exc.args else str(exc)))
        except Exception:
            loaded.append(_Loaded(name, "error", traceback.format_exc(limit=6)))
    return loaded


def _sync_fn(backend) -> Callable[[], None] | None:
    """A function that waits for the backend's queued work (GPU backends), or None on CPU."""
    sync = getattr(backend, "synchronize", None)
    if callable(sync):
        return sync
    device = str(getattr(backend, "device", "cpu"))
    if device.startswith("cuda") and "torch" in sys.modules:
        torch = sys.modules["torch"]
        return torch.cuda.synchronize
    return None


# ------------------------------------------------------------------------------------------- threads

def pin_threads(n: int, stack: ExitStack) -> tuple[str, dict]:
    """Apply the same thread policy for every backend; returns (policy text, details)."""
    parts = [f"threads={n} for every backend"]
    details: dict = {"requested": n}
    torch = sys.modules.get("torch")
    if torch is None:
        parts.append("torch: not loaded, nothing to pin")
        details["torch"] = None
    else:
        try:
            torch.set_num_threads(n)
            details["torch"] = {"num_threads": torch.get_num_threads(),
                                "interop_threads": torch.get_num_interop_threads()}
            parts.append(f"torch.set_num_threads({n}) -> {torch.get_num_threads()}"
                         f" (interop {torch.get_num_interop_threads()}, unchanged)")
        except Exception as exc:  # pragma: no cover - torch refuses only in odd states
            details["torch"] = f"could not pin: {exc}"
            parts.append(f"torch: could not pin ({exc})")
    try:
        import threadpoolctl
    except ImportError:
        details["threadpoolctl"] = None
        env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        shown = ", ".join(f"{k}={v}" for k, v in env.items() if v is not None) or "no thread env vars set"
        parts.append(f"BLAS/OpenMP of numpy/scipy: NOT pinned (threadpoolctl not installed; {shown};"
                     " library default, usually all cores)")
    else:
        try:
            stack.enter_context(threadpoolctl.threadpool_limits(limits=n))
            info = threadpoolctl.threadpool_info()
            details["threadpoolctl"] = [{"api": i.get("user_api"), "internal_api": i.get("internal_api"),
                                         "num_threads": i.get("num_threads"), "filepath": i.get("filepath")}
                                        for i in info]
            libs = ", ".join(f"{i.get('internal_api')}={i.get('num_threads')}" for i in info) or "none found"
            parts.append(f"threadpoolctl.threadpool_limits({n}): {libs}")
        except Exception as exc:
            details["threadpoolctl"] = f"failed: {exc}"
            parts.append(f"threadpoolctl failed ({exc}): BLAS not pinned")
    details["env"] = {k: os.environ.get(k) for k in ENV_VARS}
    return "; ".join(parts), details


# -------------------------------------------------------------------------------------------- timing

class _Timeout(Exception):
    pass


def _time_limit(seconds: float | None):
    return time_limit(seconds, exc=_Timeout)


@dataclass
class Timing:
    median_s: float
    iqr_s: float
    repeats: int
    number: int


def measure(fn: Callable[[], object], *, warmup: int, repeats: int, min_repeats: int, min_time: float,
            sync: Callable[[], None] | None = None) -> Timing:
    """Median and IQR of per-call time of ``fn`` (see the module doc for the stopping rule)."""

    def call():
        fn()
        if sync is not None:
            sync()

    start = time.perf_counter()
    t1 = None
    for i in range(max(warmup, 1)):
        t0 = time.perf_counter()
        call()
        t1 = time.perf_counter() - t0
        if i + 1 >= warmup or time.perf_counter() - start > min_time:
            break
    if t1 >= 10 * min_time and t1 >= 1.0:
        return Timing(t1, 0.0, 1, 1)  # a very slow call: first-call overheads are noise, keep it
    number = 1 if t1 >= SAMPLE_TARGET_S else min(MAX_NUMBER, max(1, int(SAMPLE_TARGET_S / max(t1, 1e-9))))
    samples: list[float] = []
    begin = time.perf_counter()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        while True:
            t0 = time.perf_counter()
            for _ in range(number):
                call()
            samples.append((time.perf_counter() - t0) / number)
            spent = time.perf_counter() - begin
            if len(samples) >= repeats:
                break
            if spent >= min_time and len(samples) >= min_repeats:
                break
            if spent >= 10 * min_time and len(samples) >= 1:
                break
    finally:
        if was_enabled:
            gc.enable()
    q1, med, q3 = np.percentile(samples, [25, 50, 75])
    return Timing(float(med), float(q3 - q1), len(samples), number)


def _method(backend, name: str):
    from impls.base import NotImplementedOp

    fn = getattr(backend, name, None)
    if not callable(fn):
        raise NotImplementedOp(f"backend {getattr(backend, 'name', backend)!r} has no {name}")
    return fn


def _prepare(case: Case, backend, rng_seed: int, sync=None):
    """Native inputs, the two timed callables and the time of a first forward call.

    Returns ``(forward, forward_vjp or None, first_forward_s or None)``.
    """
    rng = np.random.default_rng(rng_seed)
    dtype = case.dtype
    if case.composite:
        params_np, batch_np = case.args(rng)
        params = _composite.to_backend(backend, params_np, dtype)
        batch = _composite.to_backend(backend, batch_np, dtype)
        return (lambda: _composite.composite_forward(backend, params, batch),
                lambda: _composite.composite_step(backend, params, batch), None)
    args = [backend.asarray(np.asarray(a), dtype) if isinstance(a, np.ndarray) else a for a in case.args(rng)]
    kwargs = dict(case.kwargs)
    op = _method(backend, case.method)
    forward = lambda: op(*args, **kwargs)  # noqa: E731
    if not case.has_vjp:
        return forward, None, None
    t0 = time.perf_counter()
    y = forward()
    if sync is not None:
        sync()
    first = time.perf_counter() - t0
    shape = tuple(int(s) for s in y.shape)
    g = backend.asarray(rng.standard_normal(shape), dtype)  # random cotangent, never all-ones

    def forward_vjp():
        vjp = _method(backend, case.method + "_vjp")
        forward()
        return vjp(g, *args, **kwargs)

    return forward, forward_vjp, first


# --------------------------------------------------------------------------------------------- run

def _row(case: Case, mode: str, backend_name: str, dtype: str, t: Timing) -> dict:
    mult = 3 if mode == "forward+vjp" else 1
    gflops = case.flops * mult / t.median_s / 1e9 if case.flops and t.median_s > 0 else None
    nbytes = None
    if case.bytes_fwd is not None:
        nbytes = case.bytes_fwd + ((case.bytes_vjp or 0) if mode == "forward+vjp" else 0)
    gbps = nbytes / t.median_s / 1e9 if nbytes and t.median_s > 0 else None
    return {
        "op": case.op, "case": case.case, "mode": mode, "backend": backend_name, "dtype": dtype,
        "median_s": t.median_s, "iqr_s": t.iqr_s, "repeats": t.repeats, "gflops": gflops,
        "ratio_to_torch_cpu": None, "speedup_over_spec": None,
        "gbps": gbps, "tier": case.tier, "calls_per_sample": t.number,
    }


def _skip(case: Case, mode: str, backend_name: str, status: str, reason: str) -> dict:
    return {"op": case.op, "case": case.case, "mode": mode, "backend": backend_name, "dtype": case.dtype,
            "tier": case.tier, "status": status, "reason": reason}


def _classify(exc: BaseException) -> tuple[str, str]:
    from impls.base import NotImplementedOp, Unavailable

    if isinstance(exc, NotImplementedOp):
        return "not_implemented", str(exc)
    if isinstance(exc, _Timeout):
        return "timeout", str(exc)
    if isinstance(exc, Unavailable):
        return "unavailable", str(exc)
    return "error", "".join(traceback.format_exception(type(exc), exc, exc.__traceback__, limit=6)).strip()


def _fill_ratios(rows: list[dict]) -> None:
    index = {(r["op"], r["case"], r["mode"], r["backend"]): r for r in rows}
    for r in rows:
        torch_row = index.get((r["op"], r["case"], r["mode"], TORCH_CPU))
        if torch_row is not None and r["median_s"] > 0:
            r["ratio_to_torch_cpu"] = 1.0 if r is torch_row else torch_row["median_s"] / r["median_s"]
        spec_row = index.get((r["op"], r["case"], r["mode"], SPEC))
        if spec_row is not None and r["median_s"] > 0:
            r["speedup_over_spec"] = 1.0 if r is spec_row else spec_row["median_s"] / r["median_s"]


def run_benchmarks(cases: list[Case], backends: list[_Loaded], opts, log=print) -> tuple[list, list]:
    rows, skipped = [], []
    available = [b for b in backends if b.status == "available"]
    for b in backends:
        if b.status != "available":
            skipped.append({"op": "*", "case": "*", "mode": "*", "backend": b.name, "dtype": "*", "tier": "*",
                            "status": b.status, "reason": b.reason})
    for i, case in enumerate(cases, 1):
        if not opts.verbose:
            print(f"[{i}/{len(cases)}] {case.op} {case.case}", file=sys.stderr, flush=True)
        for lb in available:
            backend = lb.backend
            modes = ["forward", "forward+vjp"] if (case.has_vjp or case.composite) else ["forward"]
            if lb.name == SPEC and case.tier != "small":
                continue  # spec is a loop reference: small shapes only
            dtypes = tuple(getattr(backend, "dtypes", ()) or ())
            if dtypes and case.dtype not in dtypes:
                for mode in modes:
                    skipped.append(_skip(case, mode, lb.name, "unavailable",
                                         f"dtype {case.dtype} not in backend dtypes {list(dtypes)}"))
                continue
            sync = _sync_fn(backend)
            seed = opts.seed + zlib.crc32(f"{case.op} {case.case}".encode()) % 65536
            try:
                with _time_limit(opts.case_timeout):
                    fns = _prepare(case, backend, seed, sync)
            except Exception as exc:
                status, reason = _classify(exc)
                for mode in modes:
                    skipped.append(_skip(case, mode, lb.name, status, reason))
                continue
            first = fns[2]
            for mode, fn in zip(["forward", "forward+vjp"], fns[:2], strict=True):
                if fn is None:
                    continue
                try:
                    with _time_limit(opts.case_timeout):
                        if mode == "forward" and first is not None and first >= max(10 * opts.min_time, 1.0):
                            t = Timing(first, 0.0, 1, 1)  # too slow to repeat: the sizing call is the sample
                        else:
                            t = measure(fn, warmup=opts.warmup, repeats=opts.repeats,
                                        min_repeats=opts.min_repeats, min_time=opts.min_time, sync=sync)
                except Exception as exc:
                    status, reason = _classify(exc)
                    skipped.append(_skip(case, mode, lb.name, status, reason))
                    if opts.verbose:
                        log(f"  {case.op:<16} {case.case:<34} {mode:<12} {lb.name:<10} {status}")
                    continue
                rows.append(_row(case, mode, lb.name, "float64" if lb.name == SPEC else case.dtype, t))
                if opts.verbose:
                    log(f"  {case.op:<16} {case.case:<34} {mode:<12} {lb.name:<10} "
                        f"{t.median_s * 1e3:10.4f} ms")
            del fns  # frees the inputs by reference counting (a full gc.collect() costs ~0.2 s with torch)
    _fill_ratios(rows)
    return rows, skipped


# ----------------------------------------------------------------------------------------- reporting

def machine_info() -> dict:
    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("scipy", "torch", "threadpoolctl"):
        m = sys.modules.get(mod)
        if m is None:
            try:
                import importlib.metadata as md
                versions[mod] = md.version(mod)
            except Exception:
                versions[mod] = None
        else:
            versions[mod] = getattr(m, "__version__", None)
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "host": socket.gethostname(), "platform": platform.platform(), "cpu": cpu_model(),
        "cores": os.cpu_count(), "cores_usable": usable, "python": sys.version.split()[0],
        "versions": versions, "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "env": {k: os.environ.get(k) for k in ENV_VARS},
        "loadavg": _loadavg(),
    }


def _loadavg() -> list[float] | None:
    """1, 5 and 15 minute load averages: a loaded (shared) machine makes every timing noisier."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def _last_line(text: str) -> str:
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def summarize_skipped(skipped: list[dict]) -> list[str]:
    """One line per (backend, status, reason): the ops it concerns, "op[mode]" when one mode only."""
    groups: dict[tuple, dict[str, set]] = {}
    for s in skipped:
        reason = "" if s["status"] == "not_implemented" else _last_line(s["reason"])[:160]
        key = (s["backend"], s["status"], reason)
        groups.setdefault(key, {}).setdefault(s["op"], set()).add(s["mode"])
    out = []
    for (backend, status, reason), ops in groups.items():
        names = [op if len(modes) > 1 or "*" in modes else f"{op}[{next(iter(modes))}]"
                 for op, modes in ops.items()]
        what = "" if names == ["*"] else " (" + ", ".join(names) + ")"
        out.append(f"  {backend}: {status}{what}" + (f": {reason}" if reason else ""))
    return out


def format_table(rows: list[dict], skipped: list[dict]) -> str:
    head = ("op", "case", "mode", "backend", "dtype", "median ms", "IQR ms", "n", "GFLOP/s", "GB/s",
            "x torch-cpu", "x spec")
    body = [(r["op"], r["case"], r["mode"], r["backend"], r["dtype"], _fmt(r["median_s"] * 1e3, ".4g"),
             _fmt(r["iqr_s"] * 1e3, ".2g"), str(r["repeats"]), _fmt(r["gflops"], ".3g"),
             _fmt(r.get("gbps"), ".1f"),
             _fmt(r["ratio_to_torch_cpu"], ".2f"), _fmt(r["speedup_over_spec"], ".3g")) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    numeric = set(range(5, len(head)))

    def line(cells):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [line(head), line(["-" * w for w in widths])]
    prev = None
    for r, b in zip(rows, body, strict=True):
        key = (r["op"], r["case"])
        if prev is not None and key != prev:
            out.append("")
        prev = key
        out.append(line(b))
    out.append("")
    out.append("x torch-cpu = torch-cpu median / backend median (> 1: faster than torch-cpu, same run); "
               "x spec = spec median / backend median (small tier).")
    out.append("GFLOP/s: conv 2*N*Cout*prod(out)*Cin*prod(k), dense 2*N*Fin*Fout, composite = its "
               "conv+dense; forward+vjp = 3x forward. "
               "GB/s: compulsory traffic (inputs read once, outputs written once).")
    if skipped:
        out.append("")
        out.append(f"not measured ({len(skipped)} case/mode/backend combinations):")
        out.extend(summarize_skipped(skipped))
    return "\n".join(out)


# -------------------------------------------------------------------------------------------- CLI

def _default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="nnconform bench", description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog=RATIO_CONVENTION)
    p.add_argument("--backend", action="append", dest="backends", metavar="NAME",
                   help="backend to time (repeatable; a registered name or 'module:attr'; 'spec' for the "
                        "reference). Default: every registered backend that is available, plus spec; "
                        "with --backend, spec runs only when named.")
    p.add_argument("--no-spec", action="store_true",
                   help="without --backend: do not time spec (no speed-up over spec column)")
    p.add_argument("--quick", action="store_true",
                   help="much smaller sizes and budgets: a smoke test in seconds")
    p.add_argument("--only", action="append", metavar="SUBSTRING",
                   help="keep only cases whose 'op case' contains SUBSTRING (repeatable: any of them)")
    p.add_argument("--repeats", type=int, default=None,
                   help="max timed samples per case and mode (default 25; quick 3)")
    p.add_argument("--min-repeats", type=int, default=None, help="samples always taken (default 3; quick 2)")
    p.add_argument("--min-time", type=float, default=None,
                   help="time budget per case and mode in seconds: sampling stops once this is spent and "
                        "--min-repeats samples exist (default 0.5; quick 0.02)")
    p.add_argument("--warmup", type=int, default=None, help="untimed warm-up runs (default 2; quick 1)")
    p.add_argument("--threads", type=int, default=None,
                   help=f"threads for every backend (default: all usable cores, {_default_threads()} here)")
    p.add_argument("--case-timeout", type=float, default=None,
                   help="give up on one case/backend/mode after this many seconds (default 300; quick 60)")
    p.add_argument("--seed", type=int, default=0, help="seed of inputs and cotangents")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"JSON output path (default {DEFAULT_OUT})")
    p.add_argument("--verbose", "-v", action="store_true", help="print each timing as it is taken")
    return p


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    opts = parser.parse_args(argv)
    q = opts.quick
    defaults = {"repeats": 3 if q else 25, "min_repeats": 2 if q else 3, "min_time": 0.02 if q else 0.5,
                "warmup": 1 if q else 2, "case_timeout": 60.0 if q else 300.0, "threads": _default_threads()}
    for key, value in defaults.items():
        if getattr(opts, key) is None:
            setattr(opts, key, value)
    for key in ("repeats", "min_repeats", "threads"):
        if getattr(opts, key) < 1:
            parser.error(f"--{key.replace('_', '-')}={getattr(opts, key)}: expected >= 1")
    if opts.warmup < 0 or opts.min_time < 0:
        parser.error("--warmup and --min-time must be >= 0")
    opts.min_repeats = min(opts.min_repeats, opts.repeats)

    cases = build_cases(q)
    if opts.only:
        cases = [c for c in cases if any(s.lower() in f"{c.op} {c.case}".lower() for s in opts.only)]
    if not cases:
        print(f"no case matches --only {opts.only}", file=sys.stderr)
        return 2

    started = time.perf_counter()
    backends = load_backends(opts.backends, with_spec=not opts.no_spec)
    with ExitStack() as stack:
        policy, thread_details = pin_threads(opts.threads, stack)
        machine = machine_info()
        print(f"nnconform bench ({'quick' if q else 'full'}): {len(cases)} cases; {machine['cpu']}, "
              f"{machine['cores_usable']}/{machine['cores']} cores, {machine['host']}")
        print(f"threads: {policy}")
        print(f"load average at start: {machine['loadavg']} (a loaded machine makes every timing noisier)")
        print("backends: " + ", ".join(f"{b.name} ({b.status})" for b in backends))
        print(f"timing: warm-up {opts.warmup}, up to {opts.repeats} samples, budget {opts.min_time:g} s per "
              f"case and mode (at least {opts.min_repeats} samples); median and IQR")
        print(RATIO_CONVENTION)
        sys.stdout.flush()
        rows, skipped = run_benchmarks(cases, backends, opts)

    data = {
        "schema": SCHEMA,
        "machine": machine,
        "threads": policy,
        "rows": rows,
        "thread_details": thread_details,
        "ratio_convention": RATIO_CONVENTION,
        "backends": [{"name": b.name, "status": b.status, "reason": b.reason,
                      "device": str(getattr(b.backend, "device", "")) if b.backend is not None else "",
                      "metadata": _safe_metadata(b.backend)} for b in backends],
        "skipped": skipped,
        "settings": {"quick": q, "repeats": opts.repeats, "min_repeats": opts.min_repeats,
                     "min_time_s": opts.min_time, "warmup": opts.warmup, "seed": opts.seed,
                     "only": opts.only, "case_timeout_s": opts.case_timeout,
                     "sample_target_s": SAMPLE_TARGET_S},
        "command": " ".join(["python -m conformance.bench", *(argv if argv is not None else sys.argv[1:])]),
        "duration_s": round(time.perf_counter() - started, 3),
        "loadavg_end": _loadavg(),
    }
    print()
    print(format_table(rows, skipped))
    write_json_atomic(opts.out, data, indent=1)
    print(f"\nwrote {opts.out} ({len(rows)} rows, {len(skipped)} not measured) in {data['duration_s']:.1f} s")
    return 0 if rows else 1


def _safe_metadata(backend) -> dict:
    if backend is None:
        return {}
    try:
        meta = backend.metadata()
        json.dumps(meta)
        return meta
    except Exception as exc:
        return {"error": f"metadata() raised {type(exc).__name__}: {exc}"}


if __name__ == "__main__":
    sys.exit(main())
