"""The helper checks have teeth: each planted bug of CHECK_MUTANTS (tests/mutants.py) is caught by the check
kind meant for it, while the clean numpy backend passes the same checks. One suite run (dev profile, only
the checks concerned) serves every test here."""

from __future__ import annotations

import pytest

from tests.mutants import CHECK_MUTANTS
from tests.suite_runner import rows, run_suite

K = ("(test_vjp_determinism and conv) or test_keep_rate or independence or test_network"
     " or (test_property and (periodic or nyquist)) or (test_bad_input and conv_vjp) or (test_forward and conv)")


@pytest.fixture(scope="module")
def check_run(tmp_path_factory):
    proc, results = run_suite(tmp_path_factory.mktemp("check-mutants"), ["numpy", *CHECK_MUTANTS], k=K, workers=2)
    assert results is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results


def test_numpy_passes_the_same_checks(check_run):
    mine = rows(check_run, backend="numpy")
    checks = {r["check"] for r in mine}
    assert {"determinism", "statistics", "independence", "property", "bad_input", "composite", "forward"} <= checks
    assert all(r["status"] == "pass" for r in mine), [(r["check"], r["name"], r["message"][:200])
                                                      for r in mine if r["status"] != "pass"]


@pytest.mark.parametrize("mutant", sorted(CHECK_MUTANTS))
def test_mutant_is_caught_by_its_check(check_run, mutant):
    op, dtype, check, name, status, category = CHECK_MUTANTS[mutant]
    hits = [r for r in rows(check_run, backend=mutant, op=op, check=check)
            if name in r["name"] and (dtype is None or r["dtype"] == dtype)]
    assert hits, f"{mutant}: no {op}/{check} row named {name!r}"
    assert any(r["status"] == status and r["category"] == category for r in hits), [
        (r["name"], r["dtype"], r["status"], r["category"], r["message"][:300]) for r in hits]


@pytest.mark.parametrize("mutant", ["tests.mutants:ShuffledBatchWeightGradient", "tests.mutants:Float32PeriodicEdge",
                                    "tests.mutants:BroadcastingCotangent"])
def test_the_forward_checks_miss_it(check_run, mutant):
    """The bug is one only the new check sees: the forward rows of conv pass."""
    fwd = rows(check_run, backend=mutant, op="conv", check="forward")
    assert fwd and all(r["status"] == "pass" for r in fwd), [(r["dtype"], r["status"]) for r in fwd]


def test_a_float32_only_backend_gets_property_rows(check_run):
    mutant = "tests.mutants:Float32PeriodicEdge"
    props = rows(check_run, backend=mutant, check="property")
    assert props and {r["dtype"] for r in props} == {"float32"}
    others = [r for r in props if r["name"] != "periodic_shift_equivariance"]
    assert others and all(r["status"] == "pass" for r in others), [(r["name"], r["status"]) for r in others]


def test_a_property_exception_is_the_backends_not_the_suites(check_run):
    mutant = "tests.mutants:KeyErrorOnCheckerboard"
    assert not [r for r in rows(check_run, backend=mutant) if r["category"] == "harness_error"]
    row = next(r for r in rows(check_run, backend=mutant, check="property") if "nyquist" in r["name"])
    assert "KeyError" in row["message"]


def test_a_missing_op_is_not_a_network_failure(check_run):
    net = rows(check_run, backend="tests.mutants:NoBatchNorm", check="composite")
    assert net and all(r["status"] == "not_implemented" for r in net), net
    assert all("batch_norm" in r["reason"] for r in net)


def test_vjp_determinism_cotangent_shapes_match_spec():
    """test_vjp_determinism sizes its cotangent by the catalogue's output_shape (spec's shape rules) instead of
    running spec's slow loops, and widens per-sample arguments (dropout's mask) with the batch."""
    from hypothesis import given, settings

    import spec
    from conformance.optable import OP_TABLE
    from conformance.test_hygiene import _wide_batch
    from spec.catalogue import get

    def check(rec):
        @settings(max_examples=5, deadline=None, database=None)
        @given(_wide_batch(rec, "float64"))
        def agrees(case):
            out = getattr(spec, rec.name)(*case.args, **case.kwargs)
            assert (out[0] if isinstance(out, tuple) else out).shape == get(rec.name).out_shape(case.args, case.kwargs)
            assert case.args[0].shape[0] >= 3

        agrees()

    for rec in OP_TABLE.values():
        if rec.has_vjp:
            check(rec)
