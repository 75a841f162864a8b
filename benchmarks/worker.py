"""One backend's benchmarks in a process of its own: ``python -m benchmarks.worker JOB.json OUT.json``.

The job names the backend, the case selection and the timing options; the worker loads the backend,
THEN pins every thread pool (threadpoolctl sees only libraries already loaded), times the cases and
writes rows, skipped records and the thread policy it applied to OUT.json. Nothing else of the run is
in this process, so no other library's spinning worker threads compete with the one being timed.
"""

from __future__ import annotations

import json
import sys
from contextlib import ExitStack
from types import SimpleNamespace

from .cases import build_cases, select
from .loading import load_backend, safe_metadata
from .runner import run_benchmarks
from .threads import pin_threads, unpinned


def run_job(job: dict) -> dict:
    opts = SimpleNamespace(**job["opts"])
    lb = load_backend(job["backend"])
    with ExitStack() as stack:
        policy, details = pin_threads(job["threads"], stack)
        cases = select(build_cases(job["quick"]), job.get("only"))
        rows, skipped = run_benchmarks(cases, [lb], opts, log=lambda *a: print(*a, file=sys.stderr, flush=True))
        late = unpinned(job["threads"])
    return {"rows": rows, "skipped": skipped, "threads": policy, "thread_details": {**details, "unpinned_after": late},
            "backend": {"name": lb.name, "status": lb.status, "reason": lb.reason,
                        "device": str(getattr(lb.backend, "device", "")) if lb.backend is not None else "",
                        "metadata": safe_metadata(lb.backend)}}


def main(argv: list[str] | None = None) -> int:
    job_path, out_path = argv if argv is not None else sys.argv[1:]
    with open(job_path) as fh:
        job = json.load(fh)
    result = run_job(job)
    with open(out_path, "w") as fh:
        json.dump(result, fh, allow_nan=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
