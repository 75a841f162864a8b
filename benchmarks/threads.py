"""The thread policy: the same number of threads for every backend, every native pool pinned.

``threadpoolctl.threadpool_limits(n)`` pins every BLAS and OpenMP pool loaded in the process
(numpy's and scipy's OpenBLAS, torch's OpenMP, MKL), and ``torch.set_num_threads(n)`` torch's intra-op
pool. threadpoolctl only sees the libraries loaded when it is called, so the caller pins AFTER loading
the backend, and :func:`unpinned` checks again once the timings are done. The environment is never
changed.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack

ENV_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_CORETYPE", "NNCONFORM_PROFILE")


def default_threads() -> int:
    """All cores this process may use."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _pools() -> list[dict]:
    import threadpoolctl

    return [{"api": i.get("user_api"), "internal_api": i.get("internal_api"), "num_threads": i.get("num_threads"),
             "filepath": i.get("filepath")} for i in threadpoolctl.threadpool_info()]


def pin_threads(n: int, stack: ExitStack) -> tuple[str, dict]:
    """Pin torch and every loaded native pool to ``n`` threads until ``stack`` closes; (policy text, details)."""
    parts = [f"threads={n} for every backend"]
    details: dict = {"requested": n}
    torch = sys.modules.get("torch")
    if torch is None:
        details["torch"] = None
    else:
        try:
            torch.set_num_threads(n)
            details["torch"] = {"num_threads": torch.get_num_threads(),
                                "interop_threads": torch.get_num_interop_threads()}
            parts.append(f"torch.set_num_threads({n}) -> {torch.get_num_threads()}")
        except Exception as exc:  # pragma: no cover - torch refuses only in odd states
            details["torch"] = f"could not pin: {exc}"
            parts.append(f"torch: could not pin ({exc})")
    try:
        import threadpoolctl
    except ImportError:
        details["threadpoolctl"] = None
        env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
        shown = ", ".join(f"{k}={v}" for k, v in env.items() if v is not None) or "no thread env vars set"
        parts.append(f"BLAS/OpenMP pools NOT pinned (threadpoolctl not installed; {shown})")
    else:
        try:
            stack.enter_context(threadpoolctl.threadpool_limits(limits=n))
            details["threadpoolctl"] = _pools()
            libs = ", ".join(f"{p['internal_api']}={p['num_threads']}" for p in details["threadpoolctl"]) or "none loaded"
            parts.append(f"threadpoolctl.threadpool_limits({n}): {libs}")
        except Exception as exc:
            details["threadpoolctl"] = f"failed: {exc}"
            parts.append(f"threadpoolctl failed ({exc}): pools not pinned")
    details["env"] = {k: os.environ.get(k) for k in ENV_VARS}
    return "; ".join(parts), details


def unpinned(n: int) -> list[dict]:
    """Pools loaded now whose thread count is not ``n`` (a library loaded after pinning), [] when all are."""
    try:
        return [p for p in _pools() if p["num_threads"] != n]
    except ImportError:
        return []
