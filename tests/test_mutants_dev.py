"""Helper dev's mutants (tests/mutants.py DEV_MUTANTS): bounded deviations, exactness and subnormals.

Each planted bug is caught by the check kind meant for it, with the category meant for it; each
planted, declared deviation is reported "expected_deviation" with its strict ratio and bound.
"""

from __future__ import annotations

import pytest

from tests.mutants import DEV_MUTANTS
from tests.suite_runner import rows, run_suite

# One dtype per planted bug: shrinking a failing conv example is what costs time.
K = ("(test_forward and ((conv and float32) or (relu and float64) or (max_pool and float64) or dense "
     "or (TF32Declared and conv))) or (test_subnormals and (dense or relu))")


@pytest.fixture(scope="module")
def dev_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("dev_mutants")
    proc, results = run_suite(tmp, ["numpy", *DEV_MUTANTS], k=K, workers=2,
                              extra=["--report-html", str(tmp / "index.html")])
    assert results is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    results["_html"] = (tmp / "index.html").read_text()
    return proc, results


def test_numpy_itself_passes(dev_run):
    _, results = dev_run
    numpy_rows = rows(results, backend="numpy")
    assert numpy_rows and all(r["status"] == "pass" for r in numpy_rows), [
        (r["op"], r["check"], r["message"][:200]) for r in numpy_rows if r["status"] != "pass"]
    assert {r["extra"].get("behaviour") for r in rows(results, backend="numpy", check="subnormals")} == {"kept"}


@pytest.mark.parametrize("mutant", sorted(DEV_MUTANTS))
def test_dev_mutant_verdict(dev_run, mutant):
    _, results = dev_run
    op, dtype, check, status, category = DEV_MUTANTS[mutant]
    (r,) = rows(results, backend=mutant, op=op, dtype=dtype, check=check)
    assert (r["status"], r["category"] if status == "fail" else None) == (status, category), r
    if status == "expected_deviation":
        dev = r["extra"]["deviation"]
        assert dev["reason"] and dev["bound"] and dev["examples"] >= 1, dev
    # Nothing else the mutant did not touch is blamed: the failure is pinned to this check.
    others = [x for x in rows(results, backend=mutant) if (x["op"], x["dtype"], x["check"]) != (op, dtype, check)
              and x["status"] not in ("pass", "skipped", "not_implemented")]
    touched = {"conv"} if "TF32" in mutant or "Flipped" in mutant or "WrongShape" in mutant else {op}
    assert all(x["op"] in touched or (op == "dense" and x["check"] == "subnormals") for x in others), [
        (x["op"], x["dtype"], x["check"], x["status"]) for x in others]


def test_tf32_declared_records_strict_ratio_and_bound(dev_run):
    _, results = dev_run
    (r,) = rows(results, backend="tests.mutants:TF32Declared", op="conv", dtype="float32", check="forward")
    dev = r["extra"]["deviation"]
    # The strict float32 bound is exceeded (that is why the declaration was needed) ...
    assert r["tol_ratio"] > 1 and dev["strict_ratio"] > 1, (r["tol_ratio"], dev)
    # ... and the same rule recomputed with u = 2**-11 holds.
    assert dev["declared_ratio"] <= 1 and dev["bound"] == "u = 2**-11", dev
    # float64 is out of the declaration's scope and passes strictly.
    (r64,) = rows(results, backend="tests.mutants:TF32Declared", op="conv", dtype="float64", check="forward")
    assert r64["status"] == "pass"


def test_blanket_waiver_flipped_kernel_is_not_hidden(dev_run):
    _, results = dev_run
    for mutant in ("tests.mutants:BlanketWaiverFlippedKernel", "tests.mutants:BoundedWaiverFlippedKernel"):
        (r,) = rows(results, backend=mutant, op="conv", dtype="float32", check="forward")
        assert r["status"] == "fail" and r["falsifying_example"] and r["repro"], r


def test_flushing_is_recorded_as_behaviour(dev_run):
    _, results = dev_run
    for mutant in ("tests.mutants:FlushToZero", "tests.mutants:FlushToZeroDeclared"):
        sub = rows(results, backend=mutant, check="subnormals")
        assert {r["extra"].get("behaviour") for r in sub} == {"flushed"}, [(r["op"], r["extra"]) for r in sub]
    # Declared: every subnormals row is an expected deviation, and the ordinary checks still pass.
    declared = rows(results, backend="tests.mutants:FlushToZeroDeclared")
    assert {r["status"] for r in declared if r["check"] == "subnormals"} == {"expected_deviation"}
    assert all(r["status"] == "pass" for r in declared if r["check"] == "forward"), [
        (r["op"], r["dtype"], r["message"][:200]) for r in declared if r["check"] == "forward"]


def test_report_shows_declared_bound_and_unused(dev_run):
    _, results = dev_run
    html = results["_html"]
    assert "u = 2**-11" in html
    # BoundedWaiverFlippedKernel's declaration was needed by no result: listed as unused.
    assert "unused" in html
