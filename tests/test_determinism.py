"""Given --hypothesis-seed, two runs draw the same examples and reach the same verdicts, serial (-n 0)
and under pytest-xdist (-n 2) alike."""

from __future__ import annotations

from tests.suite_runner import run_suite


def _verdicts(results):
    return sorted((r["backend"], r["op"], r["dtype"], r["check"], r["status"], r["examples"],
                   r["falsifying_example"]) for r in results["results"])


def test_same_seed_same_verdicts_serial_and_xdist(tmp_path):
    backends = ["numpy", "tests.mutants:FlippedKernel"]
    k = "test_forward and (conv or dense)"
    _, first = run_suite(tmp_path / "a", backends, k=k, workers=0)
    _, second = run_suite(tmp_path / "b", backends, k=k, workers=2)
    assert first and second
    v1, v2 = _verdicts(first), _verdicts(second)
    assert v1 == v2
    assert any(v[4] == "fail" for v in v1) and any(v[4] == "pass" for v in v1)
