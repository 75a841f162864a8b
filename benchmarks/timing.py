"""One measurement: warm-up, samples of about a millisecond each, median and IQR.

``warmup`` untimed calls, then samples until ``repeats`` samples, or until ``min_time`` seconds have
been spent once at least ``min_repeats`` samples exist (a run slower than ten budgets stops after one
sample). A call slower than ten budgets and 1 s is timed ONCE: its warm-up call is the sample (IQR 0,
repeats 1). A sample repeats a fast call back to back until it lasts about SAMPLE_TARGET_S, so
microsecond ops are not timer noise; times are per call. The garbage collector is off while timing; a
GPU backend is synchronised after every call.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from conformance import composite as _composite
from conformance.dtype_helpers import arg_dtype
from conformance.pytest_helpers import time_limit as _time_limit

SAMPLE_TARGET_S = 1e-3
"""A sample repeats a fast call back to back until it lasts about this long."""
MAX_NUMBER = 10_000


class Timeout(Exception):
    """One case/backend/mode ran past ``--case-timeout``."""


def time_limit(seconds: float | None):
    return _time_limit(seconds, exc=Timeout)


@dataclass
class Timing:
    median_s: float
    iqr_s: float
    repeats: int
    number: int
    """Calls per sample."""


def measure(fn: Callable[[], object], *, warmup: int, repeats: int, min_repeats: int, min_time: float,
            sync: Callable[[], None] | None = None) -> Timing:
    """Median and IQR of the per-call time of ``fn`` (see the module doc for the stopping rule)."""

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


def _nbytes(a) -> int:
    shape, dtype = getattr(a, "shape", None), getattr(a, "dtype", None)
    if shape is None or dtype is None:
        return 0
    try:
        return int(np.prod([int(s) for s in shape])) * np.dtype(str(dtype).replace("torch.", "")).itemsize
    except TypeError:
        return 0


@dataclass
class Prepared:
    """Native inputs bound into the callables that are timed."""

    forward: Callable[[], object]
    forward_vjp: Callable[[], object] | None
    first_s: float | None = None
    """Time of the first forward call (which sized the cotangent), or None."""
    bytes_fwd: int | None = None
    bytes_vjp: int | None = None
    """Compulsory traffic: every array input read once and every output written once (the VJP: g, the
    inputs, and the gradients)."""


def prepare(case, backend, rng_seed: int, sync=None) -> Prepared:
    """Native inputs of ``case`` for ``backend`` and the two timed callables (forward+vjp with a RANDOM
    cotangent of the output's shape, drawn once, never all-ones)."""
    rng = np.random.default_rng(rng_seed)
    dtype = case.dtype
    if case.composite:
        params_np, batch_np = case.args(rng)
        params = _composite.to_backend(backend, params_np, dtype)
        batch = _composite.to_backend(backend, batch_np, dtype)
        return Prepared(lambda: _composite.composite_forward(backend, params, batch),
                        lambda: _composite.composite_step(backend, params, batch))
    # an integer index array (graph_conv's edges) keeps the index dtype, as in the suite
    args = [backend.asarray(a, arg_dtype(a, dtype)) if isinstance(a, np.ndarray) else a for a in case.args(rng)]
    kwargs = dict(case.kwargs)
    op = _method(backend, case.method)
    forward = lambda: op(*args, **kwargs)  # noqa: E731
    in_bytes = sum(_nbytes(a) for a in args)
    t0 = time.perf_counter()
    y = forward()
    if sync is not None:
        sync()
    first = time.perf_counter() - t0
    outs = y if isinstance(y, tuple | list) else (y,)
    out_bytes = sum(_nbytes(o) for o in outs)
    if not case.has_vjp:
        return Prepared(forward, None, first, in_bytes + out_bytes)
    shape = tuple(int(s) for s in y.shape)
    g = backend.asarray(rng.standard_normal(shape), dtype)
    vjp = _method(backend, case.method + "_vjp") if callable(getattr(backend, case.method + "_vjp", None)) else None

    def forward_vjp():
        forward()
        return (vjp or _method(backend, case.method + "_vjp"))(g, *args, **kwargs)

    try:
        grads = vjp(g, *args, **kwargs) if vjp is not None else ()
        grad_bytes = sum(_nbytes(a) for a in (grads if isinstance(grads, tuple | list) else (grads,)))
    except Exception:  # the timed call raises it again, and it is recorded there
        grad_bytes = None
    bytes_vjp = None if vjp is None or grad_bytes is None else out_bytes + in_bytes + grad_bytes
    return Prepared(forward, forward_vjp, first, in_bytes + out_bytes, bytes_vjp)
