"""Integer index arrays (spec's INDEX role: graph_conv's edges) keep their integer dtype everywhere the
suite moves a case: rounding, JSON, asarray, the float64 oracle view and the repro command."""

from __future__ import annotations

import numpy as np
import pytest

import impls
from conformance.hypothesis_helpers import Case
from conformance.optable import NumpyView
from conformance.pytest_helpers import to_native
from conformance.repro import repro_command
from tests.suite_runner import run_shell

EDGES = np.array([[0, 1], [2, 1], [1, 1]], dtype=np.int64)
CASE = Case((np.array([[0.1, 2.0], [3.0, -1.0], [0.5, 0.25]]), EDGES, np.array([[1.0, -0.3]]), None),
            {"normalize": "symmetric", "self_loops": True})


def test_rounding_and_json_keep_the_index_array():
    rounded = CASE.rounded("float32")
    assert rounded.args[1].dtype == np.int64 and np.array_equal(rounded.args[1], EDGES)
    assert rounded.args[0][0, 0] == np.float32(0.1)  # floats are rounded
    back = Case.from_json(rounded.to_json())
    assert back.args[1].dtype == np.int64 and np.array_equal(back.args[1], EDGES)
    assert back.args[0].dtype == np.float64 and np.array_equal(back.args[0], rounded.args[0])


@pytest.mark.parametrize("name", ["numpy", "scipy", "torch-cpu"])
def test_asarray_keeps_integers_and_casts_floats(name):
    try:
        backend = impls.get_backend(name)
    except impls.Unavailable as exc:
        pytest.skip(str(exc))
    x, edges, w, _ = to_native(backend, CASE.args, "float32")
    assert backend.dtype_name(edges) == "int64" and backend.dtype_name(x) == "float32"
    y = NumpyView(backend, "float64").graph_conv(*CASE.args, **CASE.kwargs)
    assert y.shape == (3, 1)


def test_repro_command_round_trips_a_graph_case():
    cmd = repro_command("numpy", "graph_conv", "float32", "gradient", CASE.rounded("float32"), 3)
    proc = run_shell(cmd)
    assert proc.returncode == 0 and "PASS" in proc.stdout, proc.stdout + proc.stderr
