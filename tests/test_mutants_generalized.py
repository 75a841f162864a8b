"""The properties that tie locally_connected and graph_conv to conv have teeth: each planted bug
(tests/mutants.py, block "ops") is reported failing by its property, while numpy passes them all."""

from __future__ import annotations

import pytest

from tests.mutants import GENERALIZED_MUTANTS
from tests.suite_runner import rows, run_suite


@pytest.fixture(scope="module")
def generalized_run(tmp_path_factory):
    proc, results = run_suite(tmp_path_factory.mktemp("generalized"), ["numpy", *GENERALIZED_MUTANTS],
                              k="test_properties_generalized")
    assert results is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results


def test_numpy_passes_the_properties(generalized_run):
    mine = rows(generalized_run, backend="numpy", check="property")
    assert len(mine) == 2 and all(r["status"] == "pass" for r in mine), [(r["name"], r["status"]) for r in mine]


@pytest.mark.parametrize("mutant", sorted(GENERALIZED_MUTANTS))
def test_mutant_fails_its_property(generalized_run, mutant):
    op, prop = GENERALIZED_MUTANTS[mutant]
    row = next(r for r in rows(generalized_run, backend=mutant, op=op, check="property") if r["name"] == prop)
    assert row["status"] == "fail" and row["category"] == "mismatch", row
    assert row["falsifying_example"] and row["repro"], row
    others = [r for r in rows(generalized_run, backend=mutant, check="property") if r["name"] != prop]
    assert all(r["status"] == "pass" for r in others), "the bug is pinned to its own property"
