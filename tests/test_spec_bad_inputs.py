"""spec raises the shared ValueErrors for every bad input, and handles every valid extreme input."""

from __future__ import annotations

import numpy as np
import pytest

import spec
from spec.catalogue import BY_NAME, CATALOGUE, FUNCTION_NAMES, INDEX_DTYPE, ArgRole

DIFFERENTIABLE = {op.name for op in CATALOGUE if op.vjp is not None}


@pytest.mark.parametrize("bad", spec.BAD_INPUTS, ids=lambda b: b.id)
def test_bad_input_raises_valueerror_naming_the_parameter(bad):
    with pytest.raises(ValueError) as info:
        getattr(spec, bad.op)(*bad.args, **bad.kwargs)
    assert f"{bad.param}=" in str(info.value), f"{bad.id}: message {str(info.value)!r} does not name {bad.param}"


@pytest.mark.parametrize("bad", [b for b in spec.BAD_INPUTS if b.op in DIFFERENTIABLE], ids=lambda b: b.id)
def test_vjp_rejects_the_same_bad_input(bad):
    """A VJP validates the forward arguments before it looks at the cotangent."""
    with pytest.raises(ValueError) as info:
        getattr(spec, bad.op + "_vjp")(np.zeros(1), *bad.args, **bad.kwargs)
    assert f"{bad.param}=" in str(info.value)


def test_bad_inputs_cover_every_op():
    assert len(spec.BAD_INPUTS) >= 25
    ids = [b.id for b in spec.BAD_INPUTS]
    assert len(ids) == len(set(ids))
    assert {b.op for b in spec.BAD_INPUTS} == set(FUNCTION_NAMES), "every op and VJP of the catalogue needs a bad input"
    for b in spec.BAD_INPUTS:
        for i, a in enumerate(b.args):
            if i in b.raw:  # handed over as is: it must be of a dtype no backend's asarray would make
                assert isinstance(a, np.ndarray) and a.dtype.kind != "f", b.id
            else:  # floats are float64; integer arrays are index arrays (or deliberately bad ones)
                assert not isinstance(a, np.ndarray) or a.dtype in (np.float64, np.dtype(INDEX_DTYPE)), b.id


@pytest.mark.parametrize("op", [op.name for op in CATALOGUE if op.vjp is not None])
def test_every_vjp_has_a_wrong_shape_and_a_wrong_dtype_cotangent(op):
    entries = {b.param: b for b in spec.BAD_INPUTS if b.op == op + "_vjp"}
    assert set(entries) == {"g.shape", "g.dtype"}, sorted(entries)
    for b in entries.values():
        # The forward arguments are valid: the forward op runs, so only the cotangent can be to blame.
        out = getattr(spec, op)(*b.args[1:], **b.kwargs)
        out_shape = (out[0] if isinstance(out, tuple) else out).shape
        g = b.args[0]
        if b.param == "g.shape":
            assert g.shape != out_shape and g.ndim == len(out_shape)
        else:
            assert g.shape == out_shape and g.dtype.kind in "biuc"
    # The same op accepts a float cotangent of the right shape (the entries differ from a valid call only in g).
    good = np.random.default_rng(1).standard_normal(out_shape)
    assert len(getattr(spec, op + "_vjp")(good, *b.args[1:], **b.kwargs)) >= 1


@pytest.mark.parametrize("op", CATALOGUE, ids=lambda op: op.name)
def test_every_bad_input_sits_on_its_ops_record(op):
    """A record's bad inputs name its own op or its VJP, and cover both: none can sit on the wrong record."""
    misplaced = [(b.id, b.op) for b in op.bad_inputs if b.op not in op.function_names]
    assert not misplaced, f"{op.name}'s record holds bad inputs of other ops: {misplaced}"
    assert {b.op for b in op.bad_inputs} == set(op.function_names), f"{op.name}: every function needs a bad input"


def test_bad_inputs_are_the_records_bad_inputs():
    assert spec.BAD_INPUTS == [b for op in CATALOGUE for b in op.bad_inputs]


def test_a_broadcasting_cotangent_is_among_the_bad_inputs():
    """A VJP that broadcasts g to the output's shape (numpy's habit) must be caught: most shape entries broadcast."""
    broadcasting = [b for b in spec.BAD_INPUTS if b.param == "g.shape" and b.id.endswith("broadcasts")]
    assert {b.op for b in broadcasting} >= {"conv_vjp", "dense_vjp", "dropout_vjp", "batch_norm_vjp"}


def test_index_arguments_are_integer_in_every_valid_case():
    """An INDEX argument of the catalogue is an int64 array wherever the input is valid."""
    for case in [*spec.EXTREME_CASES, *spec.WORKED_EXAMPLES]:
        for a, arg in zip(case.args, BY_NAME[case.op].args, strict=False):
            assert (arg.role == ArgRole.INDEX) == (isinstance(a, np.ndarray) and a.dtype.kind == "i"), case.id


@pytest.mark.parametrize(
    "op, args, kwargs",
    [
        ("conv_vjp", (np.zeros((1, 1, 5)), np.ones((1, 1, 5)), np.ones((1, 1, 2))), {}),
        ("dense_vjp", (np.zeros((3, 2)), np.ones((2, 4)), np.ones((3, 4))), {}),
        ("relu_vjp", (np.zeros((2, 3)), np.ones((3, 2))), {}),
        ("max_pool_vjp", (np.zeros((1, 1, 3)), np.ones((1, 1, 4))), {}),
        ("avg_pool_vjp", (np.zeros((1, 1, 2, 1)), np.ones((1, 1, 4, 4))), {}),
        ("upsample_vjp", (np.zeros((1, 1, 4)), np.ones((1, 1, 3))), {}),
        ("dropout_vjp", (np.zeros((2, 3)), np.ones((2, 2)), np.ones((2, 2))), {"keep_prob": 0.5}),
        ("batch_norm_vjp", (np.zeros((2, 3)), np.ones((3, 2)), np.ones(2), np.ones(2)), {}),
    ],
)
def test_vjp_rejects_a_cotangent_of_the_wrong_shape(op, args, kwargs):
    with pytest.raises(ValueError, match=r"g\.shape="):
        getattr(spec, op)(*args, **kwargs)


@pytest.mark.parametrize("case", spec.EXTREME_CASES, ids=lambda c: c.id)
def test_extreme_case_runs_and_has_the_right_shape(case):
    before = [a.copy() if isinstance(a, np.ndarray) else a for a in case.args]
    out = getattr(spec, case.op)(*case.args, **case.kwargs)
    outs = out if isinstance(out, tuple) else (out,)
    assert outs[0].shape == case.expected_shape
    for o in outs:
        assert o.dtype == np.float64
        assert not np.any(np.isnan(o)), f"{case.id}: NaN from a valid input"
    for a, b in zip(case.args, before, strict=True):
        if isinstance(a, np.ndarray):
            assert np.array_equal(a, b)
    op = BY_NAME[case.op]
    if op.vjp is not None:  # the VJP handles the same input and returns one gradient per DIFF array given
        g = np.random.default_rng(0).standard_normal(outs[0].shape)
        grads = op.vjp(g, *case.args, **case.kwargs)
        given = [case.args[i] for i in op.diff_args if i < len(case.args) and case.args[i] is not None]
        assert len(grads) == len(given)
        for gr, a in zip(grads, given, strict=True):
            assert gr.shape == a.shape and gr.dtype == np.float64


def test_extreme_cases_cover_the_empty_batch():
    empty_ops = {c.op for c in spec.EXTREME_CASES if c.expected_shape and c.expected_shape[0] == 0}
    assert {
        "conv",
        "dense",
        "relu",
        "sigmoid",
        "tanh",
        "max_pool",
        "avg_pool",
        "upsample",
        "dropout",
        "locally_connected",
        "graph_conv",
    } <= empty_ops


def test_extreme_values_by_hand():
    by_id = {c.id: c for c in spec.EXTREME_CASES}

    def run(i):
        c = by_id[i]
        return getattr(spec, c.op)(*c.args, **c.kwargs)

    # 4x4 of 2^100 (~1.3e30), 3x3 kernel of -2, zero padding: corner 4 taps, edge 6, interior 9
    y = run("conv-huge-1e30")[0, 0]
    assert y[0, 0] == -8 * 2.0**100 and y[0, 1] == -12 * 2.0**100 and y[1, 1] == -18 * 2.0**100
    assert run("sigmoid-huge").tolist() == [[0.0, 1.0, 0.5, 0.5]]
    assert run("tanh-huge").tolist() == [[-1.0, 1.0, 1e-310, 0.0]]
    assert run("relu-subnormal").tolist() == [[0.0] * 3] * 2
    # a constant channel normalises to 0 (eps keeps the division finite): output = beta = 1
    assert np.array_equal(run("batch_norm-constant-channel"), np.ones((2, 3, 2)))
    assert np.array_equal(
        run("upsample-3d-mixed")[0, 0, :, 0, :],
        np.repeat(by_id["upsample-3d-mixed"].args[0][0, 0, :, 0, :], 3, axis=0).repeat(2, axis=1),
    )


def test_graph_bad_inputs_cover_the_issue():
    """Edge index outside [0, V), a non-integer or wrongly shaped edge array, an unknown normalize."""
    params = {b.param for b in spec.BAD_INPUTS if b.op == "graph_conv"}
    assert {"edges", "edges.dtype", "edges.shape", "normalize", "x.shape", "w.shape", "b.shape"} <= params
    lc = {b.param for b in spec.BAD_INPUTS if b.op == "locally_connected"}
    assert {"w.shape", "b.shape", "stride", "x.shape"} <= lc


@pytest.mark.parametrize("op, args, kwargs", [
    ("locally_connected_vjp", (np.zeros((1, 1, 2)), np.ones((1, 1, 4)), np.ones((3, 1, 1, 2))), {}),
    ("graph_conv_vjp", (np.zeros((2, 2)), np.ones((3, 2)), np.zeros((0, 2), dtype=np.int64), np.ones((2, 2))), {}),
])
def test_new_vjps_reject_a_cotangent_of_the_wrong_shape(op, args, kwargs):
    with pytest.raises(ValueError, match=r"g\.shape="):
        getattr(spec, op)(*args, **kwargs)
