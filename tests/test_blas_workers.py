"""impls/_blas_workers.py: parts run on one thread each with numpy's BLAS at one thread, the BLAS setting
comes back afterwards (also after an error), and a busy or forked process never stalls."""

from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest
import threadpoolctl

from impls import _blas_workers as BW


def _blas_threads() -> int:
    return BW.workers()


def test_split_gives_contiguous_near_equal_non_empty_runs():
    items = list(range(7))
    for parts in (1, 2, 3, 7, 20):
        runs = BW.split(items, parts)
        assert [i for run in runs for i in run] == items
        assert all(runs) and len(runs) == min(parts, len(items))
        assert max(map(len, runs)) - min(map(len, runs)) <= 1


def test_parts_run_on_their_own_threads_with_the_blas_at_one_thread_and_the_setting_returns():
    def part(i):
        time.sleep(0.05)  # both parts are alive at once, so two threads must be in use
        return i, threading.get_ident(), _blas_threads()

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        results = BW.run(part, [0, 1])
        after = _blas_threads()
    assert [r[0] for r in results] == [0, 1], "results come back in the parts' order"
    assert len({r[1] for r in results}) == 2
    assert all(r[2] == 1 for r in results), "inside a part the BLAS runs on one thread"
    assert after == 2, "the BLAS thread count is restored"


def test_an_error_in_a_part_propagates_and_the_blas_setting_still_returns():
    def part(i):
        if i == 1:
            raise ValueError("boom in part 1")
        return i

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        with pytest.raises(ValueError, match="boom in part 1"):
            BW.run(part, [0, 1])
        assert _blas_threads() == 2
        assert BW.run(lambda i: i * 10, [1, 2]) == [10, 20], "the lock was released"


def test_a_second_caller_runs_serially_on_its_own_thread_while_a_section_holds_the_blas():
    inner = []

    def part(i):
        if i == 0:  # a parallel section is running: a nested call must not wait for the pool it occupies
            inner.extend(BW.run(lambda j: (j, threading.get_ident()), [0, 1]))
        return threading.get_ident()

    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        idents = BW.run(part, [0, 1])
    assert [j for j, _ in inner] == [0, 1]
    assert {t for _, t in inner} == {idents[0]}, "the nested parts ran serially on the calling part's thread"


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_gets_working_threads_instead_of_the_parents_dead_pool():
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        assert BW.run(lambda i: i, [0, 1]) == [0, 1]  # the parent's pool exists now
        pid = os.fork()
        if pid == 0:  # pragma: no cover - runs in the child
            import signal

            signal.alarm(20)  # a stalled pool would hang here: the alarm kills the child instead
            ok = BW.run(lambda i: np.ones(3) @ np.ones(3) + i, [0, 1]) == [3.0, 4.0]
            os._exit(0 if ok else 1)
        _, status = os.waitpid(pid, 0)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"child status {status}"
