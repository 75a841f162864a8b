"""Each backend timed in a process of its own (the default of ``nnconform bench``).

Why: after a numpy call OpenBLAS's worker threads keep spinning and take the cores from torch's OpenMP
threads; timed one after the other in one process, torch's conv took 36.6 ms instead of 9.7 ms
(shared/notes/facts.md). In its own process every backend runs with only its own pools, all pinned to
the same thread count (:mod:`benchmarks.threads`), so the ratios compare medians taken under identical
conditions. A worker that crashes or hangs becomes skipped records of its backend, never a failed run.
"""

from __future__ import annotations

import collections
import json
import os
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

from .runner import skip_record

_ROOT = str(Path(__file__).resolve().parent.parent)


def _echo(stream, tail: collections.deque) -> None:
    for line in stream:
        sys.stderr.write(line)
        sys.stderr.flush()
        tail.append(line)


def run_in_process(name: str, *, quick: bool, only, opts: dict, threads: int, timeout_s: float) -> dict:
    """Run one backend's worker; its result dict, or an error record when the worker failed."""
    job = {"backend": name, "quick": quick, "only": only, "opts": opts, "threads": threads}
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([_ROOT, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
    with tempfile.TemporaryDirectory(prefix="nnconform-bench-") as tmp:
        job_path, out_path = Path(tmp, "job.json"), Path(tmp, "out.json")
        job_path.write_text(json.dumps(job))
        tail: collections.deque = collections.deque(maxlen=20)
        proc = subprocess.Popen([sys.executable, "-m", "benchmarks.worker", str(job_path), str(out_path)],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
        reader = threading.Thread(target=_echo, args=(proc.stdout, tail), daemon=True)
        reader.start()
        try:
            rc = proc.wait(timeout=timeout_s)
            status = "error"
        except subprocess.TimeoutExpired:
            proc.kill()
            rc = proc.wait()
            status = "timeout"
        reader.join(timeout=5)
        if rc == 0 and out_path.exists():
            return json.loads(out_path.read_text())
    why = f"benchmark worker of {name!r} exited with {rc}" if status == "error" else \
        f"benchmark worker of {name!r} ran past {timeout_s:.0f} s"
    reason = why + (": " + "".join(tail).strip() if tail else "")
    return {"rows": [], "skipped": [skip_record(None, "*", name, status, reason)], "threads": "", "thread_details": {},
            "backend": {"name": name, "status": "error", "reason": reason, "device": "", "metadata": {}}}
