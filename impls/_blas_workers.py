"""Independent parts of a numpy kernel on as many threads as numpy's BLAS may use, each part's BLAS
calls single-threaded.

Why: the blocked im2col conv (:mod:`impls._numpy_kernels`) copies its columns on the calling thread only,
and its per-block GEMMs have only C_out rows, so they scale badly over OpenBLAS's own threads. Measured on
conv2d N=32 C=64->64 32x32 k3 'same' with 2 BLAS threads (AMD EPYC, 2 cores, 2026-12-02): float32 35 ms
and float64 142 ms (float64 on ONE BLAS thread: 73 ms); with two threads that each copy AND multiply whole
blocks, 24 ms and 47 ms. The thread count is numpy's BLAS setting at the time of the call, so whatever pins
the BLAS (threadpoolctl, OPENBLAS_NUM_THREADS, the benchmark's thread policy) pins this too; without
threadpoolctl everything runs on the calling thread.

Every part must write to memory no other part touches; the results of :func:`run` come back in the parts'
order, so a caller that sums them does so in a fixed order.
"""

from __future__ import annotations

import contextlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor, wait

import numpy as np

_lock = threading.Lock()
"""Held while a parallel section has the BLAS at one thread: a concurrent caller runs its parts serially
instead of racing the limit (which is process-wide) and restoring it to the wrong value."""
_state: dict = {}


def _reset_after_fork() -> None:
    # A forked child inherits the pool object but not its threads: work submitted there would never run.
    global _lock
    _lock = threading.Lock()
    _state.clear()


os.register_at_fork(after_in_child=_reset_after_fork)


def _numpy_blas():
    """(controller, numpy's BLAS lib controller) or (None, None) without threadpoolctl or a known BLAS."""
    if "ctl" not in _state:
        try:
            import threadpoolctl
        except ImportError:
            _state["ctl"], _state["lib"] = None, None
        else:
            np.ones(1) @ np.ones(1)  # numpy has loaded its BLAS by now; make sure before scanning
            ctl = threadpoolctl.ThreadpoolController().select(user_api="blas")
            libs = ctl.lib_controllers
            own = [lib for lib in libs if "numpy" in (lib.filepath or "")]
            _state["ctl"], _state["lib"] = (ctl, (own or libs)[0]) if libs else (None, None)
    return _state["ctl"], _state["lib"]


def workers() -> int:
    """How many parts a caller should make: numpy's BLAS thread count now (1 without threadpoolctl)."""
    _, lib = _numpy_blas()
    return max(1, int(lib.num_threads)) if lib is not None else 1


def split(items: list, parts: int) -> list[list]:
    """``items`` in at most ``parts`` contiguous runs of near-equal length, none empty."""
    parts = max(1, min(parts, len(items)))
    return [items[i * len(items) // parts:(i + 1) * len(items) // parts] for i in range(parts)]


def run(fn, parts: list) -> list:
    """``[fn(p) for p in parts]``, the first part on the calling thread and each other on a thread of its own,
    with the BLAS at one thread, when there are several parts; serially when there is one, or when another
    parallel section holds the BLAS."""
    if len(parts) <= 1 or not _lock.acquire(blocking=False):
        return [fn(p) for p in parts]
    lock = _lock
    try:
        ctl, _ = _numpy_blas()
        pool = _state.get("pool")
        if pool is None or _state.get("size", 0) < len(parts) - 1:
            if pool is not None:
                pool.shutdown(wait=False)
            pool = _state["pool"] = ThreadPoolExecutor(len(parts) - 1, thread_name_prefix="nnconform-blas")
            _state["size"] = len(parts) - 1
        with ctl.limit(limits=1, user_api="blas") if ctl is not None else contextlib.nullcontext():
            others = [pool.submit(fn, p) for p in parts[1:]]
            try:
                first = fn(parts[0])
            finally:  # every part is done before the BLAS setting and the lock are given back
                wait(others)
            return [first, *(f.result() for f in others)]
    finally:
        lock.release()
