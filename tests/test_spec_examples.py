"""spec against the lecture's worked examples (exact equality), the errata/decisions catalogue and the API."""

from __future__ import annotations

import dataclasses
import pathlib

import numpy as np
import pytest

import spec
from impls.base import ALL_OP_NAMES
from spec.errata import render_markdown

ROOT = pathlib.Path(spec.__file__).resolve().parent.parent


def _copy_args(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


@pytest.mark.parametrize("ex", spec.WORKED_EXAMPLES, ids=lambda e: e.id)
def test_worked_example(ex):
    before = _copy_args(ex.args)
    y = getattr(spec, ex.op)(*ex.args, **ex.kwargs)
    assert isinstance(y, np.ndarray) and y.dtype == np.float64
    assert y.shape == ex.expected.shape
    if ex.check == "values":
        assert np.array_equal(y, ex.expected), f"{ex.id}: got\n{y}\nexpected\n{ex.expected}"
    for a, b in zip(ex.args, before, strict=True):  # spec never writes into its inputs
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b)


@pytest.mark.parametrize("ex", spec.WORKED_EXAMPLES, ids=lambda e: e.id)
def test_worked_example_is_exact_in_float32(ex):
    """Every example is exact in float32 too, so backends can be held to array_equal."""
    if ex.check != "values":
        pytest.skip("shape-only example")
    assert np.array_equal(ex.expected.astype(np.float32).astype(np.float64), ex.expected)
    for a in ex.args:
        if isinstance(a, np.ndarray):
            assert np.array_equal(a.astype(np.float32).astype(np.float64), a)


def test_worked_examples_are_well_formed():
    ids = [ex.id for ex in spec.WORKED_EXAMPLES]
    assert len(ids) == len(set(ids))
    for ex in spec.WORKED_EXAMPLES:
        assert ex.op in spec.__all__ and not ex.op.endswith("_vjp")
        assert ex.check in ("values", "shape")
        assert isinstance(ex.expected, np.ndarray) and ex.expected.dtype == np.float64
        assert ex.slide and ex.description
        if ex.printed is not None:
            assert not (ex.printed.shape == ex.expected.shape and np.array_equal(ex.printed, ex.expected)), (
                f"{ex.id}: 'printed' is only for slides that differ from 'expected'"
            )


def test_the_required_lecture_examples_are_present():
    by_id = {ex.id: ex for ex in spec.WORKED_EXAMPLES}
    for required in (
        "conv1d-valid",
        "conv1d-same",
        "conv1d-periodic",
        "edge-2d-valid",
        "channels-320x240x3",
        "pool-upsample-loss",
        "dropout-dense-mask",
        "batchnorm-train",
    ):
        assert required in by_id
    # the lecture's printed 1-D results, copied from the slides
    assert by_id["conv1d-valid"].expected.ravel().tolist() == [-4, -2, -1, -1, 6]
    assert by_id["conv1d-same"].expected.ravel().tolist() == [2, -4, -2, -1, -1, 6, 1]
    assert by_id["conv1d-periodic"].expected.ravel().tolist() == [0, -4, -2, -1, -1, 6, 2]
    edge = by_id["edge-2d-valid"]
    assert edge.args[0].shape == (1, 1, 9, 6)
    assert edge.expected.shape == (1, 1, 7, 4) and edge.printed.shape == (1, 1, 6, 4)
    assert by_id["channels-320x240x3"].expected.shape == (1, 1, 320, 240)
    # downsample + upsample != original
    loss = by_id["pool-upsample-loss"]
    assert not np.array_equal(loss.expected, by_id["maxpool-2x2"].args[0])


def test_errata_are_mirrored_in_markdown():
    md = (ROOT / "spec" / "ERRATA.md").read_text()
    ids = [e.id for e in spec.ERRATA]
    assert len(ids) == len(set(ids)) and len(ids) >= 5
    for e in spec.ERRATA:
        assert f"## {e.id}" in md, (
            f"{e.id} missing from spec/ERRATA.md (python -m spec.errata > spec/ERRATA.md)"
        )
        for f in dataclasses.fields(e):
            assert getattr(e, f.name), f"{e.id}.{f.name} is empty"
    assert md == render_markdown(), "spec/ERRATA.md is stale: python -m spec.errata > spec/ERRATA.md"


def test_required_errata_are_present():
    text = " ".join(f"{e.id} {e.lecture_says} {e.evidence}" for e in spec.ERRATA)
    for needle in ("x_4", "2 n_k + 1", "7 rows", "variance", "p a in training", "cross-correlation"):
        assert needle in text


def test_decisions_are_data():
    assert len(spec.DECISIONS) >= 10
    for d in spec.DECISIONS:
        assert isinstance(d, spec.Decision) and d.topic and d.decision
        assert (ROOT / d.where).is_file(), d.where
    topics = {d.topic for d in spec.DECISIONS}
    assert {"padding", "max-pool ties", "dropout probability", "batch-norm variance"} <= topics


def test_every_op_of_the_contract_is_exported():
    for name in ALL_OP_NAMES:
        assert callable(getattr(spec, name)), name
    for name in spec.__all__:
        assert hasattr(spec, name), name


def test_spec_returns_float64_for_any_input_dtype():
    x = np.arange(12, dtype=np.int32).reshape(1, 2, 6)
    w = np.ones((1, 2, 3), dtype=np.float32)
    assert spec.conv(x, w).dtype == np.float64
    assert spec.max_pool(x).dtype == np.float64
    assert spec.relu(x.astype(np.float16)).dtype == np.float64


# ---------------------------------------------------------------------------------------------
# dropout mask: the documented drawing rule and its statistics


def test_dropout_mask_rule_and_determinism():
    m = spec.dropout_mask((5, 7), keep_prob=0.3, seed=123)
    assert m.shape == (5, 7) and m.dtype == np.float64
    assert set(np.unique(m)) <= {0.0, 1.0}
    assert np.array_equal(m, spec.dropout_mask((5, 7), keep_prob=0.3, seed=123))
    u = np.random.default_rng(123).random((5, 7))  # the rule written in the docstring
    assert np.array_equal(m, (u < 0.3).astype(np.float64))
    assert np.array_equal(spec.dropout_mask((3, 4), keep_prob=1.0, seed=9), np.ones((3, 4)))


@pytest.mark.parametrize("keep_prob", [0.1, 0.5, 0.9])
def test_dropout_mask_keeps_the_right_fraction(keep_prob):
    n = 200 * 200
    m = spec.dropout_mask((200, 200), keep_prob=keep_prob, seed=2024)
    sd = np.sqrt(n * keep_prob * (1 - keep_prob))
    assert abs(m.sum() - n * keep_prob) < 6 * sd  # binomial, 6 standard deviations


@pytest.mark.parametrize("scaling, factor", [("none", 0.25), ("inverted", 1.0)])
def test_dropout_expected_training_output(scaling, factor):
    """Erratum E05: E[train output] = p x without rescaling, x with inverted scaling; eval gives x."""
    keep_prob, trials = 0.25, 4000
    x = np.array([[[2.0, -4.0]]])
    masks = spec.dropout_mask((trials, 1), keep_prob=keep_prob, seed=5)
    total = np.zeros_like(x)
    for t in range(trials):
        total += spec.dropout(x, masks[t : t + 1], keep_prob=keep_prob, scaling=scaling)
    mean = total / trials
    sd = (
        np.abs(x)
        / (keep_prob if scaling == "inverted" else 1.0)
        * np.sqrt(keep_prob * (1 - keep_prob) / trials)
    )
    assert np.all(np.abs(mean - factor * x) < 6 * sd)
    assert np.array_equal(spec.dropout(x, np.zeros((1, 1)), keep_prob=keep_prob, training=False), x)


def test_the_generalizations_have_hand_computed_examples():
    """The lecture's two generalizations of conv ("Downsides") each have worked examples, edges as integers."""
    by_id = {ex.id: ex for ex in spec.WORKED_EXAMPLES}
    for required in ("locally-connected-1d", "locally-connected-2d", "locally-connected-stride2",
                     "graph-conv-gcn-star", "graph-conv-mean-duplicates", "graph-conv-zero-degree"):
        assert required in by_id
    assert {by_id[i].op for i in by_id if i.startswith("graph-conv")} == {"graph_conv"}
    assert all(by_id[i].args[1].dtype == np.int64 for i in by_id if i.startswith("graph-conv"))
    # directed edges: in the star 1, 2, 3 -> 0 node 0's features reach no other node
    assert by_id["graph-conv-gcn-star"].expected[1:].tolist() == [[1, 2], [-3, 4], [-7, 6]]
