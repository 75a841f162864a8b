"""A printed repro line runs as printed: pasted into a shell in another folder, for a ``module:attr`` backend
that was importable in the run only through the run's own directory. Exit 1 while the failure persists;
exit 3 (not 1) when the backend cannot be loaded, so "the bug is still there" is never confused with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.suite_runner import ROOT

BACKEND_MODULE = '''
from impls.numpy_backend import NumpyBackend


class LeakyRelu(NumpyBackend):
    """relu with a slope of 0.01 for negative inputs: a real, deterministic mismatch."""
    name = "leaky-relu"

    def relu(self, x):
        return super().relu(x) + 0.01 * (x - super().relu(x))
'''


def _shell(line: str, cwd, env):
    return subprocess.run(line, shell=True, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


def test_printed_repro_line_runs_from_another_folder(tmp_path):
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    project.mkdir()
    elsewhere.mkdir()
    (project / "my_kernels.py").write_text(BACKEND_MODULE)
    run_env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = project / "out" / "results.json"
    proc = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "conformance" / "test_ops.py"), "-q", "-n", "0",
                           "-p", "no:cacheprovider", "--backend", "my_kernels:LeakyRelu", "--conformance-profile", "dev",
                           "--results-json", str(out), "--hypothesis-seed", "5", "-k", "test_forward and relu and float64"],
                          cwd=project, env=run_env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout[-3000:] + proc.stderr[-3000:]
    (row,) = [r for r in json.loads(out.read_text())["results"] if r["status"] == "fail"]
    line = row["repro"]
    assert "PYTHONPATH=" in line and str(project) in line, line  # what made my_kernels importable in the run

    # pasted as printed, in another folder, in a shell whose PYTHONPATH knows nothing of the run
    paste_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    persists = _shell(line, elsewhere, paste_env)
    assert persists.returncode == 1, persists.stdout + persists.stderr
    assert "FAIL [mismatch]" in persists.stdout

    # the backend's module is gone: a distinct exit code and one line saying why, not "the failure persists"
    (project / "my_kernels.py").rename(tmp_path / "my_kernels.py.moved")
    gone = _shell(line, elsewhere, paste_env)
    assert gone.returncode == 3, gone.stdout + gone.stderr
    assert "cannot load backend 'my_kernels:LeakyRelu'" in gone.stderr and "Traceback" not in gone.stderr
    assert len(gone.stderr.strip().splitlines()) == 1, gone.stderr


def test_repro_exit_codes_for_a_registered_backend(tmp_path):
    case = json.dumps({"args": [{"array": [-1.0, 2.0], "shape": [1, 1, 2], "special": {}}], "kwargs": {}})
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    base = [sys.executable, "-m", "conformance.repro", "--op", "relu", "--dtype", "float64", "--mode", "forward"]
    unknown = subprocess.run([*base, "--backend", "no-such-backend", "--case", case], cwd=tmp_path, env=env,
                             capture_output=True, text=True, timeout=300)
    assert unknown.returncode == 3 and "cannot load backend 'no-such-backend'" in unknown.stderr, unknown.stderr
    usage = subprocess.run([*base[:4], "--backend", "numpy"], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=300)
    assert usage.returncode == 2, usage.stderr
    passes = subprocess.run([*base, "--backend", "numpy", "--case", case], cwd=tmp_path, env=env, capture_output=True,
                            text=True, timeout=300)
    assert passes.returncode == 0 and "PASS" in passes.stdout, passes.stdout + passes.stderr
