"""The realistic tier's shared oracle answers exactly what the oracle computes, and charges its time."""

from __future__ import annotations

import numpy as np

import impls
from conformance.optable import NumpyView
from conformance.oracle_cache import SharedOracle, call_key


class _Counting:
    """A view that counts its calls and takes a known time (so the charged seconds can be checked)."""

    def __init__(self):
        self.calls = 0
        self.inner = NumpyView(impls.get_backend("numpy"), "float64")

    def __getattr__(self, name):
        fn = getattr(self.inner, name)

        def call(*a, **k):
            self.calls += 1
            return fn(*a, **k)
        return call


def _conv_args(seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((2, 3, 9, 9)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)), None


def test_a_second_worker_reads_the_same_bits_and_the_same_charge(tmp_path):
    first_view, second_view = _Counting(), _Counting()
    first, second = SharedOracle(first_view, "numpy", tmp_path), SharedOracle(second_view, "numpy", tmp_path)
    x, w, b = _conv_args()
    g = np.random.default_rng(1).standard_normal((2, 4, 9, 9))
    computed = first.conv_vjp(g, x, w, b, padding="same")
    read = second.conv_vjp(g, x, w, b, padding="same")
    assert (first_view.calls, second_view.calls) == (1, 0)
    assert isinstance(read, tuple) and len(read) == len(computed)
    for r, c in zip(read, computed, strict=True):
        assert r.dtype == c.dtype and r.tobytes() == c.tobytes()
    assert second.charged_s == first.charged_s > 0
    single = second.conv(x, w, b, padding="same")
    assert isinstance(single, np.ndarray) and second_view.calls == 1


def test_any_difference_in_the_call_is_a_different_answer():
    x, w, b = _conv_args()
    base = call_key("numpy", "conv", (x, w, b), {"padding": "same"})
    x2 = x.copy()
    x2.flat[5] = np.nextafter(x2.flat[5], np.float32(np.inf))
    assert len({base, call_key("torch-cpu", "conv", (x, w, b), {"padding": "same"}),
                call_key("numpy", "conv", (x2, w, b), {"padding": "same"}),
                call_key("numpy", "conv", (x.astype(np.float64), w, b), {"padding": "same"}),
                call_key("numpy", "conv", (x.reshape(2, 3, 81), w, b), {"padding": "same"}),
                call_key("numpy", "conv", (x, w, b), {"padding": "valid"}),
                call_key("numpy", "conv_vjp", (x, w, b), {"padding": "same"})}) == 7


def test_a_damaged_answer_is_computed_again(tmp_path):
    x, w, b = _conv_args()
    SharedOracle(_Counting(), "numpy", tmp_path).conv(x, w, b)
    (stored,) = tmp_path.glob("*.npz")
    stored.write_bytes(b"not an npz")
    view = _Counting()
    again = SharedOracle(view, "numpy", tmp_path).conv(x, w, b)
    assert view.calls == 1 and again.shape == (2, 4, 7, 7)


def test_without_a_folder_nothing_is_shared(tmp_path):
    view = _Counting()
    oracle = SharedOracle(view, "numpy", None)
    x, w, b = _conv_args()
    oracle.conv(x, w, b)
    oracle.conv(x, w, b)
    assert view.calls == 2


def test_a_bug_is_still_caught_when_the_oracle_answer_is_shared(tmp_path):
    """Two backends share one oracle (serially, so that one test computes and the next reads): the TF32-like
    mutant still fails its realistic conv, the clean backend still passes, no oracle folder is left behind."""
    from tests.suite_runner import rows, run_suite

    mutant = "tests.mutants:TF32Undeclared"
    proc, results = run_suite(tmp_path, ["scipy", mutant], profile="ci",
                              k="test_realistic and conv and forward and float32 and not graph and not locally")
    assert results is not None, proc.stdout[-3000:] + proc.stderr[-3000:]
    mutant_rows = [r for r in rows(results, op="conv", tier="realistic") if r["backend"] != "scipy"]
    assert mutant_rows and all(r["status"] == "fail" and r["category"] == "mismatch" for r in mutant_rows)
    clean = rows(results, backend="scipy", op="conv", tier="realistic")
    assert clean and all(r["status"] == "pass" for r in clean)
    assert sum(r["extra"].get("oracle_reads", 0) for r in [*mutant_rows, *clean]) > 0  # one answer was shared
    assert not list(tmp_path.glob("*.oracle"))
