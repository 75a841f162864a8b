"""Our generic import names (spec, impls, conformance, reports, benchmarks) are never silently someone else's."""

from __future__ import annotations

import subprocess
import sys

from nnconform import packages


def test_every_name_resolves_to_our_folder_here():
    packages.check()
    for name in packages.PACKAGES:
        assert packages.where(name) == packages.ROOT / name, name


def _run(args, cwd):
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_cli_refuses_a_shadowing_folder_with_one_line(tmp_path):
    (tmp_path / "reports").mkdir()
    (tmp_path / "reports" / "__init__.py").write_text("raise SystemExit('their reports package was imported')\n")
    proc = _run(["nnconform.cli", "backends"], tmp_path)  # -m puts the cwd, with its reports/, first on sys.path
    assert proc.returncode == 2, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "'reports'" in lines[0] and str(tmp_path / "reports") in lines[0], proc.stderr
    assert "their reports package" not in proc.stdout + proc.stderr  # refused before importing it


def test_the_plugin_refuses_a_shadowing_folder(tmp_path):
    (tmp_path / "spec.py").write_text("X = 1\n")  # a module shadows as well as a folder
    proc = _run(["pytest", "-q", "-p", "no:cacheprovider", "--backend", "numpy", "--collect-only"], tmp_path)
    assert proc.returncode != 0, proc.stdout + proc.stderr  # the plug-in does not load in their place
    assert "import name 'spec' resolves to" in proc.stdout + proc.stderr
    assert "X = 1" not in proc.stdout + proc.stderr


def test_without_a_shadow_the_same_commands_run(tmp_path):
    proc = _run(["nnconform.cli", "--version"], tmp_path)
    assert proc.returncode == 0 and proc.stdout.startswith("nnconform "), proc.stdout + proc.stderr
