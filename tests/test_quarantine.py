"""Unit tests of the quarantine markers and the scaled time limit (the end-to-end run: tests/test_gallery.py)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from conformance import plugin, pytest_helpers
from conformance.quarantine import Quarantine
from nnconform.schema import CATEGORIES, CHECK_KINDS

ROOT = Path(__file__).resolve().parents[1]


def _row(backend="b", op="conv", category="timeout", status="fail", nodeid="t::first"):
    return {"backend": backend, "op": op, "category": category, "status": status, "nodeid": nodeid, "message": "m"}


def test_marker_quarantines_exactly_one_backend_and_op(tmp_path):
    q = Quarantine.beside(tmp_path / "results.json")
    assert q.folder == tmp_path / "results.quarantine"
    assert q.record(_row())
    assert not q.record(_row(nodeid="t::second"))  # the first failure stays the one named
    other_process = Quarantine.beside(tmp_path / "results.json")  # an xdist worker reads the same folder
    assert other_process.lookup("b", "conv")["nodeid"] == "t::first"
    assert other_process.lookup("b", "relu") is None and other_process.lookup("c", "conv") is None
    assert other_process.lookup("b|conv", "") is None


@pytest.mark.parametrize("category", sorted(set(CATEGORIES) - {"timeout", "crash"}))
def test_only_hangs_and_crashes_quarantine(tmp_path, category):
    q = Quarantine(tmp_path / "q")
    assert not q.record(_row(category=category))
    assert q.lookup("b", "conv") is None


def test_crash_keeps_its_status_and_clear_forgets(tmp_path):
    q = Quarantine(tmp_path / "q")
    assert q.record(_row(category="crash", status="error"))
    assert (q.lookup("b", "conv")["status"], q.lookup("b", "conv")["category"]) == ("error", "crash")
    assert not q.record(_row(op="*")) and not q.record(_row(op="-"))  # a load error has no op to quarantine
    q.clear()
    assert q.lookup("b", "conv") is None


def test_time_limit_rule(monkeypatch):
    monkeypatch.setattr(pytest_helpers, "LIMIT_OVERRIDE_S", None)
    assert pytest_helpers.call_limit(None) == pytest_helpers.LIMIT_FLOOR_S
    assert pytest_helpers.call_limit(0.001) == pytest_helpers.LIMIT_FLOOR_S
    assert pytest_helpers.call_limit(0.5) == pytest.approx(pytest_helpers.LIMIT_FACTOR * 0.5)
    assert pytest_helpers.call_limit(1e4) == pytest_helpers.LIMIT_CEILING_S
    monkeypatch.setattr(pytest_helpers, "LIMIT_OVERRIDE_S", 3.0)  # --example-timeout
    assert pytest_helpers.call_limit(1e4) == pytest_helpers.call_limit(None) == 3.0


def test_quarantined_rows_carry_a_check_kind_of_the_schema():
    names = set()
    for f in (ROOT / "conformance").glob("test_*.py"):
        names |= set(re.findall(r"^def test_(\w+)\(", f.read_text(), re.M))
    assert names
    for name in names - {"realistic"}:  # realistic rows take the combo's mode: forward or gradient
        assert plugin._QUARANTINED_CHECK.get(name, name) in CHECK_KINDS, name
