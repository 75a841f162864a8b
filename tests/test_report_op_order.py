"""The report's op order comes from spec's catalogue through the results file, not from a list in reports."""

from __future__ import annotations

import pytest

from conformance.results import spec_sections
from reports.render import build_model
from spec.catalogue import OP_NAMES


def _results(ops_field):
    rows = [{"backend": "numpy", "op": op, "dtype": "float64", "check": "forward", "status": "pass"}
            for op in ("running_stats", "composite", "graph_conv", "conv", "locally_connected")]
    doc = {"schema": "nnconform.results/1", "complete": True, "run": {}, "results": rows,
           "backends": [{"name": "numpy", "status": "available"}]}
    if ops_field is not None:
        doc["ops"] = ops_field
    return doc


def test_results_file_carries_the_catalogue_order():
    assert spec_sections()["ops"] == list(OP_NAMES)
    assert OP_NAMES.index("locally_connected") < OP_NAMES.index("relu")


@pytest.mark.parametrize("order", [list(OP_NAMES), ["graph_conv", "running_stats", "conv", "locally_connected"]])
def test_report_follows_the_results_order(order):
    shown = [r["op"] for r in build_model(_results(order))["matrix"]]
    expected = [o for o in order if o in shown]
    assert shown[:len(expected)] == expected and shown[-1] == "composite"


def test_old_results_without_an_order_still_render():
    shown = [r["op"] for r in build_model(_results(None))["matrix"]]
    assert set(shown) == {"running_stats", "composite", "graph_conv", "conv", "locally_connected"}
