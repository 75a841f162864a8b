"""The corner strategies have teeth: each of helper strat's planted bugs (tests/mutants.py, STRAT_MUTANTS) is
caught by the check kind meant for it, the clean numpy backend passes the same checks, and the repro line of
a failure found through an omitted keyword or a memory layout reproduces it. Skeleton pools (for backends
that compile per shape) keep the suite's power and bound the distinct shapes a run draws."""

from __future__ import annotations

import collections
import json

import pytest

from tests.mutants import STRAT_MUTANTS
from tests.suite_runner import rows, run_shell, run_suite

OPS = "relu or sigmoid or tanh or conv or batch_norm or max_pool or locally_connected"  # conv: graph_conv too
# Each mutant runs its own check on its own op plus one other op's forward (to pin the failure to its op);
# numpy runs all of them: its rows must pass.
K = " or ".join([f"(numpy and ((test_forward and ({OPS})) or (test_gradient and relu)))"]
                + [f"({m.split(':')[1]} and test_{check} and ({op} or tanh or relu))"
                   for m, (op, check) in STRAT_MUTANTS.items()])


def _run(tmp_path_factory, name, env=None):
    tmp = tmp_path_factory.mktemp(name)
    with pytest.MonkeyPatch.context() as mp:
        for k, v in (env or {}).items():
            mp.setenv(k, v)
        proc, results = run_suite(tmp, ["numpy", *STRAT_MUTANTS], k=K, profile="ci", workers=2)
    assert results is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    return results


@pytest.fixture(scope="module")
def strat_run(tmp_path_factory):
    return _run(tmp_path_factory, "strat")


@pytest.fixture(scope="module")
def pooled_run(tmp_path_factory):
    return _run(tmp_path_factory, "strat-pooled", {"NNCONFORM_SHAPE_POOL": "on"})


def _caught(results, mutant):
    op, check = STRAT_MUTANTS[mutant]
    return [r for r in rows(results, backend=mutant, op=op, check=check) if r["status"] == "fail"]


def test_numpy_passes_the_same_checks(strat_run):
    numpy_rows = rows(strat_run, backend="numpy")
    assert numpy_rows and all(r["status"] == "pass" for r in numpy_rows), [
        (r["op"], r["dtype"], r["check"], r["message"][:200]) for r in numpy_rows if r["status"] != "pass"]


@pytest.mark.parametrize("mutant", sorted(STRAT_MUTANTS))
def test_mutant_is_caught_by_its_check(strat_run, mutant):
    failing = _caught(strat_run, mutant)
    assert failing, f"{mutant} was not reported failing on {STRAT_MUTANTS[mutant]}"
    r = failing[0]
    assert r["category"] in ("mismatch", "nan_mismatch", "wrong_shape"), r
    assert r["falsifying_example"] and r["repro"], r
    # Pinned to the right place: the mutant's other ops that ran pass their checks.
    op = STRAT_MUTANTS[mutant][0]
    others = [x for x in rows(strat_run, backend=mutant) if x["op"] not in (op, "batch_norm_eval")]
    assert others and all(x["status"] == "pass" for x in others), [(x["op"], x["status"]) for x in others]


@pytest.mark.parametrize("mutant, marker", [("tests.mutants:ConvDefaultPaddingSame", '"omitted"'),
                                            ("tests.mutants:AssumesCContiguous", '"layout"')])
def test_repro_keeps_omitted_keywords_and_layout(strat_run, mutant, marker):
    r = _caught(strat_run, mutant)[0]
    assert marker in r["repro"], r["repro"]
    proc = run_shell(r["repro"])
    assert proc.returncode == 1 and "FAIL" in proc.stdout, proc.stdout + proc.stderr
    ok = run_shell(r["repro"].replace(f"--backend {mutant}", "--backend numpy"))
    assert ok.returncode == 0, ok.stdout + ok.stderr


@pytest.mark.parametrize("mutant", sorted(STRAT_MUTANTS))
def test_pooled_shapes_keep_the_power(pooled_run, mutant):
    """With every backend's shapes drawn from the skeleton pool, the same bugs are still caught."""
    assert _caught(pooled_run, mutant), f"{mutant} escaped the pooled run"


def _signatures(tmp_path_factory, name, pool):
    tmp = tmp_path_factory.mktemp(name)
    log = tmp / "shapes.jsonl"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("NNCONFORM_SHAPE_LOG", str(log))
        mp.setenv("NNCONFORM_SHAPE_POOL", pool)
        proc, results = run_suite(tmp, ["tests.helpers.shape_recorder:ShapeRecorder"], profile="dev",
                                  k="(test_forward or test_gradient or test_determinism or test_nan) and not "
                                    "realistic and (conv or relu or batch_norm) and not graph_conv")
    assert results is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    seen = collections.defaultdict(set)
    for line in log.read_text().splitlines():
        op, dtypes, sig = json.loads(line)
        seen[(op, tuple(dtypes))].add(sig)
    return seen


def test_a_pooled_run_draws_few_shapes_per_op_and_dtype(tmp_path_factory):
    from conformance.profiles import PROFILES

    bound = PROFILES["dev"].shape_pool
    pooled = _signatures(tmp_path_factory, "pooled", "on")
    assert {"conv", "conv_vjp", "relu", "batch_norm_vjp"} <= {op for op, _ in pooled}
    assert all(len(s) <= bound for s in pooled.values()), {k: len(s) for k, s in pooled.items()}
    free = _signatures(tmp_path_factory, "free", "off")  # the same run without the pool: the bound has teeth
    # Without the pool the same run draws well over twice the pool's bound of distinct shapes per op.
    assert max(len(s) for s in free.values()) > 2 * bound, {k: len(s) for k, s in free.items()}
