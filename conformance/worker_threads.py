"""Thread pools of the xdist workers: the cores shared out instead of every worker's BLAS and OpenMP pools
each taking all of them.

Why: with 2 workers on 2 cores, numpy's OpenBLAS and torch's OpenMP in each worker start 2 threads, which
spin and take the cores from the other worker. Measured on the main job (six backends, 2-core AMD EPYC,
2026-12-02): 126 and 132 s as it was, 101 and 112 s with one thread per worker, in alternation.

The controller sets the variables before xdist starts its workers, so each worker's libraries read them
when they load. A variable the user has set is left alone, and the policy is written into the run's
metadata (and so into the report).
"""

from __future__ import annotations

import os

VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS")


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def share_out(workers: int, environ=os.environ) -> str:
    """Set each unset variable to ``usable cores // workers`` (at least 1) when there are 2 or more workers;
    return the policy in words."""
    if workers < 2:
        return "one process: the libraries' own defaults"
    per = max(1, usable_cores() // workers)
    kept = [f"{v}={environ[v]} (set by the user)" for v in VARIABLES if v in environ]
    given = [v for v in VARIABLES if v not in environ]
    environ.update({v: str(per) for v in given})
    words = f"{workers} workers on {usable_cores()} cores" + (f": {', '.join(given)}={per}" if given else "")
    return "; ".join([words, *kept])
