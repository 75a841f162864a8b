"""Nothing lost: an interrupted run (Ctrl-C, a killed process) leaves every finished result on disk,
and `nnconform report` renders it marked incomplete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from tests.suite_runner import ROOT


def _start(tmp_path):
    out = tmp_path / "results.json"
    cmd = [sys.executable, "-m", "pytest", str(ROOT / "conformance"), "-q", "-p", "no:cacheprovider", "-n", "0",
           # The hanging backend keeps the run busy (limit 600 s per call) until it is interrupted.
           "--backend", "numpy", "--backend", "tests.gallery:Hangs", "--example-timeout", "600",
           "-k", "test_forward", "--conformance-profile", "dev", "--results-json", str(out),
           "--hypothesis-seed", "3"]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    jsonl = out.with_suffix(".jsonl")
    deadline = time.time() + 120
    while time.time() < deadline:
        if jsonl.exists() and len(jsonl.read_text().splitlines()) > 12 and out.exists():
            time.sleep(3)  # let the periodic rewrite of results.json catch up, then interrupt
            assert proc.poll() is None, "the run ended before it could be interrupted"
            return proc, out, jsonl
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    pytest.fail("the run did not produce results in time: " + proc.stdout.read().decode()[-2000:])


def _render(path, out_dir):
    return subprocess.run([sys.executable, "-m", "nnconform.cli", "report", str(path), "--out", str(out_dir)],
                          cwd=ROOT, capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_ctrl_c_keeps_finished_results(tmp_path):
    proc, out, jsonl = _start(tmp_path)
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=120)
    doc = json.loads(out.read_text())
    assert doc["complete"] is False
    finished = len(jsonl.read_text().splitlines()) - 1  # minus the header line
    assert len(doc["results"]) == finished > 10
    assert all(r["status"] == "pass" for r in doc["results"] if r["backend"] == "numpy")
    r = _render(out, tmp_path / "report")
    assert r.returncode == 0, r.stderr
    assert "incomplete" in (tmp_path / "report" / "index.html").read_text().lower()


def test_hard_kill_keeps_the_incremental_log(tmp_path):
    proc, out, jsonl = _start(tmp_path)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)
    lines = jsonl.read_text().splitlines()
    assert len(lines) > 12
    json.loads(out.read_text())  # the periodic atomic rewrite is never half-written
    r = _render(jsonl, tmp_path / "report")
    assert r.returncode == 0, r.stderr
    html = (tmp_path / "report" / "index.html").read_text()
    assert "incomplete" in html.lower() and "numpy" in html
