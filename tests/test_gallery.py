"""Reliability: misbehaving backends become red cells, never a crashed run or a lost result."""

from __future__ import annotations

import json
import re

import pytest

from tests.gallery import GALLERY
from tests.suite_runner import rows, run_suite

K = "relu and (test_forward or test_determinism)"


@pytest.fixture(scope="module")
def gallery_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("gallery")
    proc, results = run_suite(tmp, ["numpy", *GALLERY], k=K, workers=2,
                              extra=["--example-timeout", "3", "--report-html", str(tmp / "index.html")])
    assert results is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc, results, tmp


def test_run_finishes_with_a_complete_report(gallery_run):
    proc, results, tmp = gallery_run
    assert proc.returncode == 1, proc.stdout[-3000:]
    assert results["complete"] is True
    assert (tmp / "index.html").exists()


@pytest.mark.parametrize("backend", sorted(GALLERY))
def test_misbehaviour_is_categorised(gallery_run, backend):
    _, results, _ = gallery_run
    op, check, category = GALLERY[backend]
    got = [r for r in rows(results, backend=backend, op=op, check=check) if r["status"] in ("fail", "error")]
    assert got, f"{backend}: no failing row for {op}/{check}; rows: " + json.dumps(
        [(r["op"], r["check"], r["status"], r["category"]) for r in rows(results, backend=backend)])
    assert {r["category"] for r in got} == {category}, [(r["dtype"], r["category"], r["message"][:200]) for r in got]


def test_other_backends_are_intact(gallery_run):
    _, results, _ = gallery_run
    numpy_rows = rows(results, backend="numpy")
    assert len(numpy_rows) == 4  # relu x {forward, determinism} x {float32, float64}
    assert all(r["status"] == "pass" and r["examples"] > 0 for r in numpy_rows), numpy_rows


def test_unaffected_checks_of_a_misbehaving_backend_still_pass(gallery_run):
    _, results, _ = gallery_run
    # WrongShape's relu is deterministic: its determinism check must not be collateral damage.
    det = rows(results, backend="tests.gallery:WrongShape", check="determinism")
    assert det and all(r["status"] == "pass" for r in det), det


def test_hostile_strings_are_escaped_in_the_report(gallery_run):
    _, _, tmp = gallery_run
    html = (tmp / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html or "&lt;script&gt;alert(1)" in html
    assert "<img src=x onerror" not in html
    assert not re.search(r"<script>alert", html)
