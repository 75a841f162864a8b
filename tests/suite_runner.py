"""Run the conformance suite in a subprocess against given backends, and read its results back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_suite(tmp_path, backends, *, k=None, profile="dev", extra=(), timeout=900, workers=0, unset=()):
    """``unset``: environment variables the suite must not inherit from this process."""
    out = Path(tmp_path) / "results.json"
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "conformance"), "-q", "-p", "no:cacheprovider",
           "--conformance-profile", profile, "--results-json", str(out), "--hypothesis-seed", "12345",
           "-n", str(workers), *extra]
    for b in backends:
        cmd += ["--backend", b]
    if k:
        cmd += ["-k", k]
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    for name in unset:
        env.pop(name, None)
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    results = json.loads(out.read_text()) if out.exists() else None
    return proc, results


def rows(results, **match):
    return [r for r in results["results"] if all(r.get(k) == v for k, v in match.items())]


def run_shell(command: str, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
