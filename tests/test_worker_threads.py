"""conformance/worker_threads.py: xdist workers share the cores out instead of each taking all of them, a
user's own setting wins, and the run's metadata says which policy applied."""

from __future__ import annotations

from conformance import worker_threads as WT
from tests.suite_runner import run_suite


def test_one_process_keeps_the_libraries_defaults():
    env = {}
    assert WT.share_out(1, env).startswith("one process")
    assert env == {}


def test_workers_get_the_cores_shared_out(monkeypatch):
    monkeypatch.setattr(WT, "usable_cores", lambda: 8)
    env = {}
    policy = WT.share_out(4, env)
    assert env == {v: "2" for v in WT.VARIABLES}
    assert "4 workers on 8 cores" in policy and "OPENBLAS_NUM_THREADS" in policy
    env = {}
    WT.share_out(16, env)  # more workers than cores: never 0 threads
    assert env == {v: "1" for v in WT.VARIABLES}


def test_a_variable_the_user_set_is_kept_and_named(monkeypatch):
    monkeypatch.setattr(WT, "usable_cores", lambda: 2)
    env = {"OMP_NUM_THREADS": "3"}
    policy = WT.share_out(2, env)
    assert env["OMP_NUM_THREADS"] == "3" and env["OPENBLAS_NUM_THREADS"] == "1"
    assert "OMP_NUM_THREADS=3 (set by the user)" in policy
    assert "OPENBLAS_NUM_THREADS, MKL_NUM_THREADS=1" in policy


def test_the_run_records_the_policy_it_applied(tmp_path):
    k = "test_bad_input and dense"
    _, two = run_suite(tmp_path / "two", ["numpy"], k=k, workers=2, unset=WT.VARIABLES)
    _, one = run_suite(tmp_path / "one", ["numpy"], k=k, workers=0, unset=WT.VARIABLES)
    assert two is not None and one is not None
    assert two["run"]["worker_threads"].startswith("2 workers on "), two["run"]["worker_threads"]
    assert "OPENBLAS_NUM_THREADS" in two["run"]["worker_threads"]
    assert one["run"]["worker_threads"].startswith("one process")
