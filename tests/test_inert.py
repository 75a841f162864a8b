"""Inert unless asked: installed, the pytest11 plug-in changes nothing in another project's pytest session.

An unrelated project's hypothesis test keeps hypothesis's defaults (100 examples, its example database),
no backend is instantiated and torch is not imported, while the plug-in is loaded (its options exist).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib.metadata import entry_points

from tests.suite_runner import ROOT

UNRELATED = '''
import json, os, sys
from hypothesis import given, settings, strategies as st
from hypothesis.database import DirectoryBasedExampleDatabase

CALLS = []


@given(st.integers())
def test_runs_its_own_number_of_examples(x):
    CALLS.append(x)


def test_its_settings_and_modules_are_untouched(request):
    assert request.config.getoption("backend", default="no such option") is None  # the plug-in IS loaded
    seen = {
        "calls": len(CALLS),
        "max_examples": settings.default.max_examples,
        "database": isinstance(settings.default.database, DirectoryBasedExampleDatabase),
        "database_path": str(getattr(settings.default.database, "path", "")),
        "profile": settings._current_profile,
        "modules": sorted(m for m in sys.modules
                          if m.split(".")[0] in ("torch", "scipy") or m.endswith("_backend") or "_kernels" in m),
        "nnconform_state": hasattr(request.config, "_nnconform"),
    }
    with open(os.environ["SEEN_FILE"], "w") as fh:
        json.dump(seen, fh)
'''


def _plugin_args() -> list[str]:
    """Load the plug-in as an installed environment does; from a source tree without its entry point, by name."""
    if any(ep.value == "conformance.plugin" for ep in entry_points(group="pytest11")):
        return []
    return ["-p", "conformance.plugin"]


def test_plugin_leaves_an_unrelated_hypothesis_project_alone(tmp_path):
    project = tmp_path / "other_project"
    project.mkdir()
    (project / "test_unrelated.py").write_text(UNRELATED)
    seen_file = tmp_path / "seen.json"
    env = dict(os.environ, PYTHONPATH=str(ROOT), SEEN_FILE=str(seen_file))
    env.pop("NNCONFORM_PROFILE", None)
    # Hypothesis itself picks its "ci" profile (no database) when it sees a CI variable: run the unrelated
    # project as on a developer's machine, so that any change to its settings can only come from our plug-in.
    from hypothesis._settings import _CI_VARS

    for name in _CI_VARS:
        env.pop(name, None)
    proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "0", *_plugin_args(),
                           "test_unrelated.py"], cwd=project, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = json.loads(seen_file.read_text())
    assert seen["calls"] == 100 and seen["max_examples"] == 100, seen
    assert seen["database"] is True and seen["profile"] == "default", seen
    assert seen["modules"] == [] and seen["nnconform_state"] is False, seen
    assert seen["database_path"] == str(project / ".hypothesis" / "examples"), seen  # the project's own database
    assert not (project / "nnconform-out").exists()  # and no results were written


def test_the_suite_still_activates_when_collected(tmp_path):
    """The counterpart: naming the suite's path, and no option of ours, activates the plug-in with its defaults."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("NNCONFORM_PROFILE", None)
    proc = subprocess.run([sys.executable, "-m", "pytest", str(ROOT / "conformance" / "test_ops.py"), "-q", "-n", "0",
                           "-p", "no:cacheprovider", *_plugin_args(), "-k", "test_forward and numpy and relu and float64"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    doc = json.loads((tmp_path / "nnconform-out" / "results.json").read_text())  # the default output folder
    assert doc["run"]["profile"] == "ci"
    assert ("numpy", "relu", "pass", 25) in [(r["backend"], r["op"], r["status"], r["examples"]) for r in doc["results"]]
