"""The semantics probes and the agreement measure have teeth: they name spec's decisions on spec, and
they name each planted bug (tests/mutants.py) for what it is. Run in-process: milliseconds each."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from conformance import agreement, pytest_helpers
from conformance.semantic_probes import HUNG, POINTS, observe
from conformance.spec_backend import SpecBackend
from impls.numpy_backend import NumpyBackend
from tests import mutants

# spec's decisions as DESIGN.md and spec/errata.py DECISIONS state them, typed here by hand.
SPEC_ANSWERS = {
    "conv 'same', even kernel: extra pad at": "end (SAME_UPPER)",
    "conv 'periodic', kernel longer than the input": "wraps (index mod n)",
    "conv gradient, NaN weight, stride 2: dx is NaN": "where the forward used it",
    "max-pool gradient on ties": "first",
    "max-pool forward, NaN in the window": "NaN",
    "max-pool gradient, NaN in the window": "first NaN",
    "max-pool of an all -inf window": "-inf",
    "relu(NaN)": "NaN",
    "relu'(0)": "0",
    "relu'(NaN)": "NaN",
    "sigmoid tail x << 0 (float32)": "relative",
    "sigmoid tail x << 0 (float64)": "relative",
    "subnormals (float32)": "kept",
    "subnormals (float64)": "kept",
    "dropout_mask's probability is": "keep probability",
    "dropout scalings supported": "both",
    "batch norm normalises with the variance": "biased (N)",
    "batch_norm_eval with running_var + eps = 0": "+-inf, NaN at x = mean (unfused, spec)",
    "running variance update uses": "unbiased (N-1)",
    "running statistics: momentum m weighs": "the batch (torch)",
}


@pytest.fixture(scope="module")
def spec_answers():
    return observe(SpecBackend(), force_dtype="float64")[0]


def test_every_point_is_covered_and_spec_answers_its_decisions(spec_answers):
    assert [p.label for p in POINTS] == list(SPEC_ANSWERS)
    assert spec_answers == SPEC_ANSWERS


def test_numpy_backend_answers_like_spec(spec_answers):
    assert observe(NumpyBackend())[0] == spec_answers


@pytest.mark.parametrize("mutant, answers", [
    (mutants.SameLowerPadding, {"conv 'same', even kernel: extra pad at": "start (SAME_LOWER)"}),
    (mutants.ConvVjpZeroCotangentLeak, {"conv gradient, NaN weight, stride 2: dx is NaN":
                                        "also at zero cotangent entries (0 * NaN)"}),
    (mutants.GradientToAllTies, {"max-pool gradient on ties": "all (each tied max gets g)",
                                 # x == max is False for NaN: the window's gradient is lost
                                 "max-pool gradient, NaN in the window": "dropped (all zero)"}),
    (mutants.UnbiasedVariance, {"batch norm normalises with the variance": "unbiased (N-1)"}),
    (mutants.ReluGradOneAtZero, {"relu'(0)": "1"}),
    (mutants.TanhSigmoid, {"sigmoid tail x << 0 (float32)": "absolute (tail lost)",
                           "sigmoid tail x << 0 (float64)": "absolute (tail lost)"}),
    (mutants.FlushesSubnormalResults, {"subnormals (float32)": "results flushed (FTZ)",
                                       "subnormals (float64)": "results flushed (FTZ)"}),
    (mutants.DropProbabilityMask, {"dropout_mask's probability is": "drop probability"}),
    (mutants.FusedBatchNormEval, {"batch_norm_eval with running_var + eps = 0": "NaN everywhere (fused scale and shift)"}),
    (mutants.RunningVarClamp, {"batch_norm_eval with running_var + eps = 0": "finite (clamped or guarded)"}),
], ids=lambda v: v.__name__ if isinstance(v, type) else "")
def test_probe_names_the_planted_bug(spec_answers, mutant, answers):
    got = observe(mutant())[0]
    # exactly the planted behaviour changes, named for what it is: each probe is pinned to one behaviour
    assert {k: v for k, v in got.items() if v != spec_answers[k]} == answers


class _Odd(NumpyBackend):
    """One op missing, one raising, one refusing: each gives its own answer, the rest are still probed."""

    name = "odd"

    relu = NumpyBackend.relu
    running_stats = None  # not callable: "not implemented"

    def relu_vjp(self, g, x):
        raise KeyError("boom")

    def conv(self, x, w, b=None, *, padding="valid", **kw):
        if padding == "periodic" and w.shape[-1] > x.shape[-1]:
            raise ValueError("w.shape: a periodic kernel may not be longer than the input")
        return super().conv(x, w, b, padding=padding, **kw)


def test_missing_raising_and_refusing_ops_never_stop_the_probes(spec_answers):
    got, detail = observe(_Odd())
    assert got["relu'(0)"] == got["relu'(NaN)"] == "error: KeyError"
    assert "boom" in detail["relu'(0)"]
    assert got["running variance update uses"] == "n/i"
    assert got["conv 'periodic', kernel longer than the input"] == "refused: ValueError"
    assert got["max-pool gradient on ties"] == spec_answers["max-pool gradient on ties"]


class _Float32Only(NumpyBackend):
    dtypes = ("float32",)


class _WrongDtypeRelu(NumpyBackend):
    def relu(self, x):
        return super().relu(x).astype(np.float16)


def test_a_probe_names_the_category_of_a_misbehaving_output():
    assert observe(_WrongDtypeRelu())[0]["relu(NaN)"] == "error: wrong_dtype"


def test_points_of_a_dtype_the_backend_lacks_are_not_applicable():
    got = observe(_Float32Only())[0]
    assert got["subnormals (float64)"] == "n/a (no float64)" and got["subnormals (float32)"] == "kept"


class _HangsInPooling(NumpyBackend):
    def max_pool_vjp(self, g, x, **kw):
        time.sleep(30)


def test_a_hanging_backend_costs_one_time_limit(monkeypatch):
    monkeypatch.setattr(pytest_helpers, "LIMIT_OVERRIDE_S", 0.3)  # what --example-timeout sets
    t0 = time.perf_counter()
    got = observe(_HangsInPooling())[0]
    assert time.perf_counter() - t0 < 5
    assert got["max-pool gradient on ties"] == "error: timeout"
    assert got["relu(NaN)"] == HUNG  # later probes are skipped, not waited out again


# ------------------------------------------------------------------------------------------ agreement
def _pairs(result, mode):
    return {(a, b): r for a, b, r in result["pairs"][mode]}


def test_agreement_separates_the_flipped_kernel():
    result = agreement.measure({"numpy": NumpyBackend(), "flipped": mutants.FlippedKernel()}, "conv", "float32")
    fwd = _pairs(result, "forward")
    assert fwd[("spec", "numpy")] <= 1.0
    assert fwd[("spec", "flipped")] > 1.0 and fwd[("numpy", "flipped")] > 1.0
    assert result["columns"] == ["spec", "numpy", "flipped"] and result["cases"] == agreement.N_CASES


class _NaNConv(NumpyBackend):
    def conv(self, *a, **k):
        y = super().conv(*a, **k)
        y.flat[0] = np.nan
        return y


class _RaisingConv(NumpyBackend):
    def conv_vjp(self, *a, **k):
        raise RuntimeError("no gradient today")


def test_agreement_marks_nan_patterns_and_raising_columns():
    result = agreement.measure({"numpy": NumpyBackend(), "nan": _NaNConv(), "raises": _RaisingConv()}, "conv",
                               "float64")
    assert math.isinf(_pairs(result, "forward")[("numpy", "nan")])
    assert result["status"]["gradient"]["raises"] == "error: unexpected_exception"
    assert ("numpy", "raises") not in _pairs(result, "gradient") and ("numpy", "raises") in _pairs(result, "forward")
    assert _pairs(result, "gradient")[("spec", "numpy")] <= 1.0


def test_agreement_cases_are_fixed(monkeypatch):
    import hypothesis.core

    first = [c.to_json() for c in agreement.fixed_cases.__wrapped__("conv", "float32")]
    monkeypatch.setattr(hypothesis.core, "global_force_seed", 12345)  # what --hypothesis-seed sets
    again = [c.to_json() for c in agreement.fixed_cases.__wrapped__("conv", "float32")]
    assert first == again and len(first) == agreement.N_CASES
    assert len(set(first)) == len(first)  # distinct cases


# ------------------------------------------------------------------------------ end to end, through pytest
def test_a_suite_run_records_both_and_the_report_shows_them(tmp_path):
    """The plugin ships the rows, the results file holds them, the report marks the planted bugs."""
    from reports.render import build_model
    from tests.suite_runner import rows, run_suite

    proc, results = run_suite(tmp_path, ["numpy", "tests.mutants:ReluGradOneAtZero", "tests.mutants:FlippedKernel"],
                              k="test_semantics or (test_agreement and conv and float64)")
    assert results is not None and proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    sem = {r["backend"]: r["extra"]["semantics"] for r in rows(results, check="semantics")}
    assert set(sem) == {"spec", "numpy", "tests.mutants:ReluGradOneAtZero", "tests.mutants:FlippedKernel"}
    assert sem["tests.mutants:ReluGradOneAtZero"]["relu'(0)"] == "1" and sem["numpy"]["relu'(0)"] == "0"
    (ag,) = rows(results, check="agreement", op="conv")  # "conv" in -k also matches graph_conv
    # float(): results.json writes an infinite ratio (NaN patterns that differ) as the string "inf"
    pairs = {(a, b): float(r) for a, b, r in ag["extra"]["agreement"]["pairs"]["forward"]}
    assert pairs[("spec", "numpy")] <= 1 < pairs[("spec", "tests.mutants:FlippedKernel")]
    model = build_model(results)
    relu0 = next(r for r in model["semantics"]["rows"] if r["point"] == "relu'(0)")
    assert [c["differs"] for c in relu0["cells"]] == [False, False, True, False]  # spec, numpy, relu mutant, flipped
    assert any(d["b"] == "tests.mutants:FlippedKernel" for d in model["agreement"]["disagreements"])
