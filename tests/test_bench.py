"""Tests of the benchmark harness (benchmarks/) and the composite network (conformance/composite.py)."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import impls
from benchmarks import cases as bench_cases
from benchmarks import cli as bench_cli
from benchmarks import rounds, runner, table, threads, timing
from benchmarks.loading import Loaded
from conformance import composite as C
from impls.base import Backend

ROW_KEYS = {"op", "case", "mode", "backend", "dtype", "median_s", "iqr_s", "repeats", "gflops",
            "ratio_to_torch_cpu", "speedup_over_spec"}


def _available(*names: str) -> list[str]:
    return [s.name for s in impls.backend_statuses(list(names)) if s.status == "available"]


def _gradient_backend():
    """numpy in float64 when it exists, else torch-cpu; skip when neither can run."""
    names = _available("numpy", "torch-cpu")
    if not names:
        pytest.skip("neither the numpy nor the torch-cpu backend is available yet")
    return impls.get_backend(names[0])


# ------------------------------------------------------------------------------ smoke test of main()

def test_quick_bench_smoke(tmp_path, capsys):
    names = _available("numpy", "torch-cpu")
    if not names:
        pytest.skip("neither the numpy nor the torch-cpu backend is available yet")
    out = tmp_path / "sub" / "bench.json"
    # A representative subset keeps this under a few seconds even on a loaded 2-core machine.
    argv = ["--quick", "--out", str(out), "--no-spec", "--min-time", "0.005", "--repeats", "2",
            "--only", "conv2d", "--only", "relu", "--only", "max_pool", "--only", "batch_norm",
            "--only", "composite"]
    for name in names:
        argv += ["--backend", name]
    assert bench_cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "threads" in printed and "torch-cpu median / backend median" in printed

    data = json.loads(out.read_text())
    assert data["schema"] == "nnconform.bench/1"
    for key in ("host", "cpu", "cores", "versions", "date"):
        assert key in data["machine"]
    assert isinstance(data["threads"], str) and data["threads"]
    assert not [p for p in os.listdir(out.parent) if p != "bench.json"], "temp file left behind"

    rows = data["rows"]
    assert rows
    for r in rows:
        assert ROW_KEYS <= set(r), r
        assert r["mode"] in ("forward", "forward+vjp")
        assert r["median_s"] > 0 and r["iqr_s"] >= 0 and r["repeats"] >= 1
        assert r["gflops"] is None or r["gflops"] > 0
    assert {r["backend"] for r in rows} <= set(names)
    for name in names:
        mine = [r for r in rows if r["backend"] == name]
        assert any(r["mode"] == "forward+vjp" for r in mine), f"{name}: no forward+vjp rows"
        assert any(r["op"] == "conv2d" and r["gflops"] for r in mine), f"{name}: no conv2d GFLOP/s"
    torch_rows = [r for r in rows if r["backend"] == "torch-cpu"]
    assert all(r["ratio_to_torch_cpu"] == 1.0 for r in torch_rows)
    if torch_rows:
        torch_median = {(t["op"], t["case"], t["mode"]): t["median_s"] for t in torch_rows}
        for r in rows:
            key = (r["op"], r["case"], r["mode"])
            if key in torch_median:
                assert r["ratio_to_torch_cpu"] == pytest.approx(torch_median[key] / r["median_s"])
    else:
        assert all(r["ratio_to_torch_cpu"] is None for r in rows)


def test_only_without_match_returns_2(tmp_path):
    assert bench_cli.main(["--quick", "--only", "no-such-case-xyz", "--out", str(tmp_path / "b.json")]) == 2
    assert not (tmp_path / "b.json").exists()


# ------------------------------------------------------------- isolation: failures are rows, not crashes

class _FakeTorchCpu(Backend):
    """A stand-in named torch-cpu (plain numpy relu) so ratio and speed-up columns can be checked offline."""

    name = "torch-cpu"
    dtypes = ("float32", "float64")

    def relu(self, x):
        return np.maximum(x, 0)

    def relu_vjp(self, g, x):
        return (g * (x > 0),)


class _Broken(Backend):
    name = "broken"

    def relu(self, x):
        raise RuntimeError("boom")


class _Slowish(Backend):
    name = "slowish"

    def relu(self, x):
        return np.maximum(np.maximum(x, 0), 0)


class _Opts:
    seed, warmup, repeats, min_repeats, min_time, case_timeout, verbose = 0, 1, 3, 2, 0.005, 30.0, False


def test_failures_are_recorded_not_raised():
    cases = [c for c in bench_cases.build_cases(quick=True) if c.op in ("relu", "conv2d")]
    loaded = [Loaded("torch-cpu", "available", backend=_FakeTorchCpu()),
              Loaded("broken", "available", backend=_Broken()),
              Loaded("slowish", "available", backend=_Slowish()),
              Loaded("gone", "unavailable", "no such library")]
    rows, skipped = runner.run_benchmarks(cases, loaded, _Opts(), log=lambda *a: None)
    table.fill_ratios(rows)
    by = {(r["op"], r["case"], r["mode"], r["backend"]): r for r in rows}
    relu_fwd = [k for k in by if k[0] == "relu" and k[2] == "forward" and k[3] == "slowish"]
    assert relu_fwd
    for key in relu_fwd:
        torch_row = by[(*key[:3], "torch-cpu")]
        assert torch_row["ratio_to_torch_cpu"] == 1.0
        assert by[key]["ratio_to_torch_cpu"] == pytest.approx(torch_row["median_s"] / by[key]["median_s"])
        assert by[key]["gbps"] > 0 and by[key]["gflops"] is None
    status = {(s["backend"], s["op"], s["mode"]): s["status"] for s in skipped}
    assert status[("broken", "relu", "forward")] == "error"
    assert status[("slowish", "relu", "forward+vjp")] == "not_implemented"
    assert status[("torch-cpu", "conv2d", "forward")] == "not_implemented"
    assert status[("gone", "*", "*")] == "unavailable"
    assert any("boom" in s["reason"] for s in skipped if s["backend"] == "broken")
    text = table.format_table(rows, skipped)
    assert "not_implemented" in text and "boom" in text


def test_measure_stops_on_repeats_and_budget():
    t = timing.measure(lambda: None, warmup=1, repeats=5, min_repeats=2, min_time=10.0)
    assert t.repeats == 5 and t.median_s > 0 and t.iqr_s >= 0 and t.number > 1
    import time
    t = timing.measure(lambda: time.sleep(0.002), warmup=0, repeats=1000, min_repeats=2, min_time=0.01)
    assert 2 <= t.repeats < 1000 and t.number == 1 and t.median_s >= 0.002


def test_threads_policy_is_reported():
    from contextlib import ExitStack

    with ExitStack() as stack:
        policy, details = threads.pin_threads(1, stack)
        assert threads.unpinned(1) == [], "a pool loaded before pinning kept its own thread count"
    assert "threads=1" in policy and details["requested"] == 1
    assert "threadpoolctl.threadpool_limits(1)" in policy
    assert any(p["internal_api"] == "openblas" and p["num_threads"] == 1 for p in details["threadpoolctl"])


# -------------------------------------------------------------------------------------- composite

def test_composite_shapes_and_gradient_matches_finite_differences():
    backend = _gradient_backend()
    p_np, b_np = C.make_problem(n=3, c_in=2, c_out=3, h=6, w=6, k=3, n_out=4, keep_prob=0.7, seed=3)
    params = C.to_backend(backend, p_np, "float64")
    batch = C.to_backend(backend, b_np, "float64")
    loss, grads = C.composite_step(backend, params, batch)
    assert np.isfinite(loss) and loss > 0
    assert set(grads) == {*C.PARAM_NAMES, "x"}
    for name in C.PARAM_NAMES:
        assert tuple(backend.to_numpy(grads[name]).shape) == p_np[name].shape, name
    assert tuple(backend.to_numpy(grads["x"]).shape) == b_np["x"].shape

    rng = np.random.default_rng(11)
    for trial in range(3):
        v = {k: rng.standard_normal(p_np[k].shape) for k in C.PARAM_NAMES}
        vx = rng.standard_normal(b_np["x"].shape)

        def loss_at(t, v=v, vx=vx):
            pp = {k: p_np[k] + t * v[k] for k in C.PARAM_NAMES}
            bb = {**b_np, "x": b_np["x"] + t * vx}
            return C.composite_forward(backend, C.to_backend(backend, pp, "float64"),
                                       C.to_backend(backend, bb, "float64"))[0]

        eps = 1e-6
        fd = (loss_at(eps) - loss_at(-eps)) / (2 * eps)
        analytic = sum(float(np.sum(backend.to_numpy(grads[k]) * v[k])) for k in C.PARAM_NAMES)
        analytic += float(np.sum(backend.to_numpy(grads["x"]) * vx))
        assert fd == pytest.approx(analytic, rel=1e-5, abs=1e-8), f"trial {trial}"


def test_sgd_steps_reduce_loss_and_keep_inputs():
    backend = _gradient_backend()
    p_np, b_np = C.make_problem(n=4, c_in=1, c_out=2, h=8, w=8, n_out=3, seed=0)
    params = C.to_backend(backend, p_np, "float64")
    batch = C.to_backend(backend, b_np, "float64")
    before = C.to_numpy(backend, params)
    losses, new = C.sgd_steps(backend, params, batch, lr=0.1, steps=3)
    assert len(losses) == 3 and losses[2] < losses[0]
    for name in C.PARAM_NAMES:
        np.testing.assert_array_equal(backend.to_numpy(params[name]), before[name])
        assert backend.dtype_name(new[name]) == "float64"
    assert C.composite_forward(backend, new, batch)[0] < losses[-1]


# -------------------------------------------------------------------- fairness: one process per backend

def _quick_numpy_bench(tmp_path, *extra: str) -> dict:
    """bench.json of a quick numpy-only run on one thread, with ``extra`` arguments."""
    if not _available("numpy"):
        pytest.skip("the numpy backend is not available")
    out = tmp_path / "bench.json"
    argv = ["--quick", "--out", str(out), "--backend", "numpy", "--min-time", "0.005", "--repeats", "2",
            "--threads", "1", *extra]
    assert bench_cli.main(argv) == 0
    return json.loads(out.read_text())


def test_default_isolation_is_one_process_per_backend_with_roofline(tmp_path):
    data = _quick_numpy_bench(tmp_path, "--only", "conv2d N=2", "--only", "dense N=8")
    assert data["isolation"] == "process_per_backend"
    assert data["thread_policy"]["threads"] == 1
    policy = data["thread_policy"]["per_backend"][0]
    assert policy.startswith("numpy:") and "threadpool_limits(1)" in policy
    assert data["thread_details"]["numpy"]["unpinned_after"] == []
    assert data["machine"]["loadavg"] is None or len(data["machine"]["loadavg"]) == 3
    conv = [r for r in data["rows"] if r["op"] == "conv2d"]
    assert {r["mode"] for r in conv} == {"forward", "forward+vjp"}
    for r in conv:  # 2 x 16 x 16 output positions, 8 channels x 9 taps, 8 output channels
        assert r["gemm_mkn"] == [512, 72, 8]
        assert r["gemm_s"] > 0 and r["x_gemm"] == pytest.approx(r["median_s"] / r["gemm_s"])
    assert all(r["gemm_s"] is None for r in data["rows"] if r["tier"] == "small")


def test_several_processes_merge_into_the_median_of_their_medians(tmp_path):
    """--processes 3: each backend's worker runs three times; a row is the median of the three per-process
    medians, with their spread, and x GEMM is formed from the merged medians."""
    data = _quick_numpy_bench(tmp_path, "--only", "conv2d N=2", "--processes", "3")
    assert data["settings"]["processes"] == 3
    rows = [r for r in data["rows"] if r["op"] == "conv2d" and r["tier"] == "realistic"]
    assert {r["mode"] for r in rows} == {"forward", "forward+vjp"} and len(rows) == 2
    for r in rows:
        assert r["processes"] == 3 and len(r["process_medians_s"]) == 3
        assert r["median_s"] == sorted(r["process_medians_s"])[1]
        assert r["x_gemm"] == pytest.approx(r["median_s"] / r["gemm_s"])


def _fake_row(median, iqr=0.001, gemm=None, gflops=None, **kw):
    base = {"op": "conv2d", "case": "c", "mode": "forward", "dtype": "float32", "tier": "realistic",
            "backend": "b", "median_s": median, "iqr_s": iqr, "repeats": 5, "gflops": gflops, "gbps": None,
            "gemm_s": gemm, "gemm_iqr_s": None if gemm is None else 0.0, "x_gemm": None}
    return {**base, **kw}


def test_merge_rows_by_hand():
    merged = rounds.merge_rows([[_fake_row(0.010, iqr=0.001, gemm=0.008, gflops=100.0)],
                                [_fake_row(0.030, iqr=0.003, gemm=0.010, gflops=100 / 3)],
                                [_fake_row(0.020, iqr=0.002, gemm=0.009, gflops=50.0)]])
    [r] = merged
    assert r["median_s"] == 0.020 and r["iqr_s"] == 0.002 and r["repeats"] == 15
    assert r["process_medians_s"] == [0.010, 0.030, 0.020]
    assert r["process_spread"] == pytest.approx((0.025 - 0.015) / 0.020)  # IQR of 10, 20, 30 ms over 20 ms
    assert r["gemm_s"] == 0.009 and r["x_gemm"] == pytest.approx(0.020 / 0.009)
    assert r["gflops"] == pytest.approx(50.0)  # 100 GFLOP/s at 10 ms is the same work at 20 ms
    # a case one process measured and another skipped keeps its row and says so
    skip = {"op": "conv2d", "case": "c", "mode": "forward", "dtype": "float32", "tier": "realistic",
            "backend": "b", "status": "timeout", "reason": "ran past 1 s"}
    other = dict(skip, case="d")
    out = rounds.merge_skipped([[skip, other], [dict(other)]], merged)
    assert [s["case"] for s in out] == ["c", "d"]
    assert out[0]["reason"].startswith("some processes: ") and out[1]["reason"] == "ran past 1 s"
    assert rounds.round_order(["a", "b", "c"], 0) == ["a", "b", "c"]
    assert rounds.round_order(["a", "b", "c"], 1) == ["b", "c", "a"]
    assert rounds.round_order(["a", "b", "c"], 3) == ["a", "b", "c"]


def test_a_crashing_worker_is_a_record_not_a_crash(tmp_path):
    out = tmp_path / "bench.json"
    argv = ["--quick", "--out", str(out), "--backend", "tests.gallery:Crashes", "--min-time", "0.005",
            "--repeats", "2", "--only", "relu (2, 4"]  # its relu calls os._exit(3)
    assert bench_cli.main(argv) == 1  # no row measured
    data = json.loads(out.read_text())
    [rec] = data["skipped"]
    assert rec["backend"] == "tests.gallery:Crashes" and rec["status"] == "error"
    assert "exited with 3" in rec["reason"]


# ------------------------------------------------------------------------------ cases from the op table

def test_realistic_cases_come_from_the_op_table():
    from conformance.optable import OP_TABLE, REALISTIC_SEED

    full = bench_cases.build_cases(quick=False)
    derived = [c for c in full if c.source == "optable"]
    expected = [(name, label) for name, rec in OP_TABLE.items() if rec.realistic is not None
                for label, _ in rec.realistic(np.random.default_rng(REALISTIC_SEED))]
    assert len(derived) == len(expected)
    for case, (name, label) in zip(derived, expected, strict=True):
        assert case.method == name and case.tier == "realistic" and case.dtype == "float32"
        assert label.endswith(case.case), (label, case.case)
    conv = next(c for c in derived if c.case == "N=32 C=64->64 32x32 k3 same")
    assert conv.op == "conv2d" and conv.kwargs == {"padding": "same"}
    assert conv.gemm == (32 * 32 * 32, 64 * 9, 64)  # positions x (channels x taps) x output channels
    assert conv.flops == 2 * 32 * 32 * 32 * 64 * 9 * 64
    x, w, b = conv.args(np.random.default_rng(0))
    assert x.shape == (32, 64, 32, 32) and w.shape == (64, 64, 3, 3) and b.shape == (64,)
    # what the op table has no realistic case for is still timed at the realistic size
    assert {"batch_norm_eval", "running_stats", "dropout_mask", "composite"} <= {c.op for c in full if c.tier == "realistic"}


def test_conv_gemm_size_by_hand():
    # 'valid', stride 2: out = (10 - 3) // 2 + 1 = 4 per axis; 5 samples -> 80 positions; 3 x 9 columns
    assert bench_cases.conv_gemm((5, 3, 10, 10), (7, 3, 3, 3), {"padding": "valid", "stride": 2}) == (80, 27, 7)


def test_comparison_script_runs_and_prints_both_ratios():
    """scripts/bench_compare.py compares the harness's ratio with a plain per-process timing. Speed is never
    asserted: only that it runs and reports both numbers for the case."""
    import re
    import subprocess
    import sys
    from pathlib import Path

    if len(_available("numpy", "torch-cpu")) < 2:
        pytest.skip("needs the numpy and torch-cpu backends")
    script = Path(__file__).resolve().parent.parent / "scripts" / "bench_compare.py"
    res = subprocess.run([sys.executable, str(script), "--quick", "--only", "conv2d N=2", "--rounds", "1",
                          "--calls", "3", "--threads", "1"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    line = next(ln for ln in res.stdout.splitlines()  # the verdict line, not the table of medians above it
                if ln.startswith("conv2d N=2 C=8->8 16x16 k3 same float32 | forward ")
                and ln.rstrip().endswith(("agree", "DISAGREE", "(inside process noise)")))
    harness, plain = (float(v) for v in re.findall(r"\d+\.\d+", line.split("|")[1])[:2])
    assert harness > 0 and plain > 0
    medians = next(ln for ln in res.stdout.splitlines() if ln.startswith("conv2d N=2 C=8->8 16x16 k3 same float32 | "
                                                                          "forward ") and ln != line)
    assert len(re.findall(r"\d+\.\d+", medians.split("|")[1])) == 4  # both backends, harness and plain
    assert "largest difference" in res.stdout


def test_comparison_separates_a_harness_bias_from_process_noise():
    """The resampling interval of bench_compare: steady processes with the harness 30% slower on torch give
    an interval above 15% (a bias); the same mean difference drowned in per-process noise reaches below it."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parent.parent / "scripts" / "bench_compare.py"
    spec = importlib.util.spec_from_file_location("bench_compare", path)
    bc = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bc)
    rng = np.random.default_rng(1)
    steady = {"harness": [10.0] * 7, "plain": [10.0] * 7, "torch harness": list(13.0 + 0.1 * rng.random(7)),
              "torch plain": list(10.0 + 0.1 * rng.random(7))}
    lo, hi = bc._resampled_difference(steady)
    assert 0.25 < lo <= hi < 0.35
    same = {k: [10.0] * 7 for k in ("harness", "plain", "torch harness", "torch plain")}
    assert bc._resampled_difference(same) == (0.0, 0.0)
    noisy = dict(steady, **{"torch harness": [8.0, 18.0, 9.0, 17.0, 13.0, 8.5, 17.5],
                            "torch plain": [7.0, 14.0, 6.5, 13.5, 10.0, 6.0, 13.0]})
    assert bc._resampled_difference(noisy)[0] < bc.TOLERANCE
    assert rounds.spread([10.0] * 7) == 0.0 and rounds.spread([8.0, 10.0, 12.0]) == pytest.approx(0.2)


def test_report_renders_the_roofline_column():
    from pathlib import Path

    from reports.render import render_report

    results = json.loads((Path(__file__).parent / "fixtures" / "sample_results.json").read_text())
    row = dict(results["benchmarks"]["rows"][0], gemm_s=0.0179, x_gemm=1.43)
    results["benchmarks"]["rows"] = [row]
    html = render_report(results)
    assert "× GEMM" in html and "17.9 ms" in html and "1.4×" in html
    assert "torch-cpu time / backend time" in html  # the ratio's direction, as bench.json computes it


def test_every_op_table_case_runs_in_numpy_with_its_integer_edges_intact():
    """The bench converts float arrays to the case's dtype and keeps an index array (graph_conv's edges)
    integer, as the suite does: every realistic case then prepares and runs its forward and VJP."""
    if not _available("numpy"):
        pytest.skip("the numpy backend is not available")
    backend = impls.get_backend("numpy")
    cases = [c for c in bench_cases.build_cases(quick=False) if c.source == "optable"]
    assert any(c.op == "graph_conv" for c in cases)
    for case in cases:
        prep = timing.prepare(case, backend, rng_seed=0)
        y = prep.forward()
        assert np.isfinite(np.asarray(y)).all(), case.label
        if prep.forward_vjp is not None:
            grads = prep.forward_vjp()
            assert all(np.isfinite(np.asarray(g)).all() for g in grads), case.label
