"""Bounded deviations, bit-exact comparison and the subnormal probes, in-process (fast)."""

from __future__ import annotations

import numpy as np
import pytest

import spec
from conformance import deviations
from conformance.test_subnormals import behaviour, probes
from conformance.tolerance import compare, compare_exact
from impls.base import ExpectedDeviation
from tests.mutants import _tf32

TF32 = ExpectedDeviation("dense", "float32", "*", "tf32", unit_roundoff=2**-11)


def _dense_case(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((4, 64)).astype(np.float32).astype(np.float64)
    w = rng.standard_normal((3, 64)).astype(np.float32).astype(np.float64)
    return x, w


def test_unit_roundoff_bound_recomputes_the_same_rule():
    x, w = _dense_case()
    e = spec.dense(x, w)
    tf = spec.dense(_tf32(x.astype(np.float32)).astype(np.float64), _tf32(w.astype(np.float32)).astype(np.float64))
    cmp = compare(tf, e, spec.dense(np.abs(x), np.abs(w)), dtype="float32", reduction=64)
    assert not cmp.ok and cmp.tol_ratio > 10  # TF32 is far outside float32's bound ...
    assert cmp.ratio_at(2**-11) <= 1  # ... and inside the bound recomputed with u = 2**-11
    assert cmp.ratio_at(2**-11) == pytest.approx(cmp.tol_ratio * 2**-13, rel=0.5)  # atol is negligible here


def test_judge_scope_category_and_bound():
    class Plain:  # not an impls.Backend
        expected_deviations = (TF32,)

    x, w = _dense_case(1)
    e, m = spec.dense(x, w), spec.dense(np.abs(x), np.abs(w))
    tf = spec.dense(_tf32(x.astype(np.float32)).astype(np.float64), _tf32(w.astype(np.float32)).astype(np.float64))
    inside = compare(tf, e, m, dtype="float32", reduction=64)
    verdict = deviations.judge(Plain(), "dense", "float32", "forward", inside.category, inside)
    assert verdict and verdict["strict_ratio"] > 1 >= verdict["declared_ratio"] and verdict["bound"] == "u = 2**-11"
    wrong = compare(-e, e, m, dtype="float32", reduction=64)
    assert deviations.judge(Plain(), "dense", "float32", "forward", wrong.category, wrong) is None  # beyond
    assert deviations.judge(Plain(), "dense", "float64", "forward", inside.category, inside) is None  # dtype
    assert deviations.judge(Plain(), "dense", "float32", "forward", "wrong_shape", None) is None  # category
    blanket = type("B", (), {"expected_deviations": (ExpectedDeviation("*", "*", "*", "no bound"),)})()
    assert deviations.judge(blanket, "dense", "float32", "forward", inside.category, inside) is None
    # A check without a tolerance (a policy check) is covered by an unbounded declaration of its category.
    assert deviations.judge(blanket, "max_pool", "float32", "nan_policy", "mismatch", None) is not None


@pytest.mark.parametrize("kw", [{"categories": ()}, {"unit_roundoff": 2.0}, {"max_tol_ratio": 0.5}])
def test_bad_declarations_raise(kw):
    with pytest.raises(ValueError):
        ExpectedDeviation("conv", "float32", "*", "r", **kw)


def test_exact_comparison_sees_one_ulp_and_signed_zero():
    e = np.array([0.0, 1.5, -2.0, np.nan])
    for a in (np.array([0.0, np.nextafter(1.5, 2), -2.0, np.nan]), np.array([-0.0, 1.5, -2.0, np.nan])):
        within = compare(a, e, np.abs(np.nan_to_num(e)), dtype="float64", reduction=1)
        assert within.ok  # the rounding tolerance cannot see it ...
        assert compare_exact(a, e, within).category == "inexact"  # ... the exact comparison does
    same = e.copy()
    assert compare_exact(same, e, compare(same, e, np.abs(np.nan_to_num(e)), dtype="float64", reduction=1)).ok


@pytest.mark.parametrize("dtype", ["float64", "float32", "float16"])
@pytest.mark.parametrize("op", ["relu", "dense", "conv"])
def test_subnormal_probes_are_exact_in_their_dtype(op, dtype):
    for label, args, kwargs, want in probes(op, dtype):
        arrays = [a for a in args if isinstance(a, np.ndarray)]
        assert all(np.array_equal(a.astype(dtype).astype(np.float64), a) for a in arrays), label
        assert np.array_equal(np.asarray(want).astype(dtype).astype(np.float64), want), label
        assert np.any((np.abs(want) < np.finfo(dtype).tiny) & (want != 0)) or any(
            np.any((np.abs(a) < np.finfo(dtype).tiny) & (a != 0)) for a in arrays), label  # a subnormal somewhere
        got = getattr(spec, op)(*args, **kwargs)
        assert behaviour(np.asarray(got), want) == "kept", label  # spec keeps them
        assert behaviour(np.zeros_like(want), want) == "flushed"


def _strided_nan_weight_case():
    """torch's measured case (impls/torch_backend.py): a NaN weight, stride 2 along the last axis."""
    from conformance.hypothesis_helpers import Case

    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 1, 2, 5))
    w = np.zeros((2, 1, 2, 4))
    w[0, 0, 0, 1] = np.nan  # spec's dx is NaN at x[..., 0, 1]; the mutants' leak puts NaN at x[..., 0]
    return Case((x, w, None), {"stride": (1, 2)})


@pytest.mark.parametrize("mutant, verdict", [
    ("ConvVjpNanLeak", "fail"),  # undeclared: the NaN pattern differs
    ("ConvVjpNanLeakDeclared", "expected_deviation"),
    ("ConvVjpNanDroppedBehindLeak", "fail"),  # a missing NaN is beyond "extra NaNs only"
    ("ConvVjpWrongValueBehindLeak", "fail"),  # so is a wrong number beside the extra NaNs
])
def test_extra_nans_only_bounds_a_nan_pattern(mutant, verdict):
    from conformance.checks import check_op
    from conformance.optable import OP_TABLE
    from conformance.pytest_helpers import ConformanceFailure
    from tests import mutants

    backend = getattr(mutants, mutant)()
    case = _strided_nan_weight_case()
    if verdict == "fail":
        with pytest.raises(ConformanceFailure) as info:
            check_op(backend, OP_TABLE["conv"], case, "float64", "gradient", seed=5)
        assert info.value.category == "nan_mismatch"
        return
    cmp, _ = check_op(backend, OP_TABLE["conv"], case, "float64", "gradient", seed=5)
    assert cmp.category == "nan_mismatch" and cmp.extra_nans_only
    assert cmp.deviation["reason"] == mutants.NAN_LEAK_REASON and "nothing else" in cmp.deviation["bound"]


def test_torch_cpu_declares_its_strided_conv_nan_leak():
    """The real framework behaviour the declaration is for: torch's dx has extra NaNs, nothing else."""
    pytest.importorskip("torch")
    import impls
    from conformance.checks import check_op
    from conformance.optable import OP_TABLE

    torch_cpu, case = impls.get_backend("torch-cpu"), _strided_nan_weight_case()
    cmp, _ = check_op(torch_cpu, OP_TABLE["conv"], case.rounded("float32"), "float32", "gradient", seed=5)
    assert cmp.category == "nan_mismatch" and cmp.deviation and "strided conv backward" in cmp.deviation["reason"]
    strict, _ = check_op(torch_cpu, OP_TABLE["conv"], case, "float64", "gradient", seed=5)
    assert strict.ok and strict.deviation is None  # float64 takes another kernel: out of the declaration's scope


def test_extra_nans_only_needs_the_nan_category():
    with pytest.raises(ValueError, match="nan_mismatch"):
        ExpectedDeviation("conv", "*", "*", "r", extra_nans_only=True)
