"""The suite has teeth: each deliberately wrong backend (tests/mutants.py) is reported failing,
with a shrunk falsifying example and a repro command that, run on its own, reproduces the failure."""

from __future__ import annotations

import math
import re

import pytest
from markupsafe import escape as html_escape

from tests.mutants import MUTANTS
from tests.suite_runner import rows, run_shell, run_suite

K = "(test_forward and (conv or batch_norm or dropout)) or test_tie_policy"


@pytest.fixture(scope="module")
def mutant_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mutants")
    proc, results = run_suite(tmp, ["numpy", *MUTANTS], k=K, workers=2,
                              extra=["--report-html", str(tmp / "index.html")])
    assert results is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    results["_html"] = (tmp / "index.html").read_text()
    return proc, results


def test_run_fails_but_completes(mutant_run):
    proc, results = mutant_run
    assert proc.returncode == 1, proc.stdout[-2000:]
    assert results["complete"] is True


def test_numpy_itself_passes(mutant_run):
    _, results = mutant_run
    numpy_rows = rows(results, backend="numpy")
    assert numpy_rows and all(r["status"] == "pass" for r in numpy_rows), [
        (r["op"], r["check"], r["message"][:200]) for r in numpy_rows if r["status"] != "pass"]


@pytest.mark.parametrize("mutant", sorted(MUTANTS))
def test_mutant_is_caught(mutant_run, mutant):
    _, results = mutant_run
    op, check = MUTANTS[mutant]
    failing = [r for r in rows(results, backend=mutant, op=op, check=check) if r["status"] == "fail"]
    assert failing, f"{mutant} was not reported failing on {op}/{check}"
    r = failing[0]
    assert r["category"] in ("mismatch", "nan_mismatch", "wrong_shape"), r
    assert r["falsifying_example"] and r["repro"], r
    # Ops the mutant did not touch still pass: the failure is pinned to the right place.
    untouched = [x for x in rows(results, backend=mutant, check="forward") if x["op"] not in (op, "batch_norm_eval")]
    assert all(x["status"] == "pass" for x in untouched), [(x["op"], x["status"]) for x in untouched]


@pytest.mark.parametrize("mutant", ["tests.mutants:FlippedKernel", "tests.mutants:SameLowerPadding",
                                    "tests.mutants:UnbiasedVariance"])
def test_repro_command_reproduces(mutant_run, mutant):
    _, results = mutant_run
    op, check = MUTANTS[mutant]
    r = next(r for r in rows(results, backend=mutant, op=op, check=check) if r["status"] == "fail")
    assert " -m conformance.repro " in r["repro"], r["repro"]  # after PYTHONPATH=... and the interpreter
    proc = run_shell(r["repro"])
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "FAIL" in proc.stdout
    # The same command against the correct backend passes: the example itself is valid.
    ok = run_shell(r["repro"].replace(f"--backend {mutant}", "--backend numpy"))
    assert ok.returncode == 0, ok.stdout + ok.stderr


def test_shrunk_examples_are_small(mutant_run):
    _, results = mutant_run
    r = next(r for r in rows(results, backend="tests.mutants:FlippedKernel", op="conv", check="forward")
             if r["status"] == "fail")
    # A flipped kernel shows with two inputs and an asymmetric kernel of 2 taps: hypothesis shrinks to
    # a handful of elements, not the dozens it may first draw.
    x_shape = re.search(r"array\(shape=\(([\d, ]+)\)", r["falsifying_example"]).group(1)
    assert math.prod(int(v) for v in x_shape.split(",") if v.strip()) <= 12, r["falsifying_example"]


def test_report_shows_failure_and_repro(mutant_run):
    """End to end: the rendered report shows the failing cell, its shrunk example and its repro line."""
    _, results = mutant_run
    html = results["_html"]
    r = next(r for r in rows(results, backend="tests.mutants:UnbiasedVariance", op="batch_norm", check="forward")
             if r["status"] == "fail")
    assert "tests.mutants:UnbiasedVariance" in html
    assert html_escape(r["repro"]) in html
    assert html_escape(r["message"][:60]) in html
