"""The numpy conv's internal paths against spec's loops: the banded 1-D path (few channels, long kernels) and
the blocked im2col with blocks far smaller than a sample, neither of which the small hypothesis tier reaches
(its kernels have at most 4 taps and its inputs fit one block)."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import threadpoolctl

import spec
from impls import _numpy_kernels as K
from impls.numpy_backend import NumpyBackend


def _check(be, x, w, b, kw, rtol=1e-12):
    rng = np.random.default_rng(5)
    y = be.conv(x, w, b, **kw)
    ref = spec.conv(x, w, b, **kw)
    np.testing.assert_allclose(y, ref, rtol=rtol, atol=1e-12 * np.abs(ref).max())
    g = rng.standard_normal(ref.shape)  # a random cotangent
    for got, exp in zip(be.conv_vjp(g, x, w, b, **kw), spec.conv_vjp(g, x, w, b, **kw), strict=True):
        np.testing.assert_allclose(got, exp, rtol=rtol, atol=1e-11 * max(np.abs(exp).max(), 1))


@pytest.mark.parametrize("padding", ["valid", "same", "periodic"])
@pytest.mark.parametrize("dilation", [1, 2])
def test_banded_1d_path_matches_spec(padding, dilation):
    rng = np.random.default_rng(dilation)
    x, w, b = rng.standard_normal((2, 3, 150)), rng.standard_normal((2, 3, 33)), rng.standard_normal(2)
    assert K._banded(x, w, (1,), x), "this case must take the banded path"
    _check(NumpyBackend(), x, w, b, {"padding": padding, "dilation": dilation})


def test_banded_path_falls_back_on_non_finite_input():
    """An inf in x times a zero of the band would be NaN where spec has inf: such inputs take im2col."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((1, 1, 80)), rng.standard_normal((1, 1, 9))
    x[0, 0, 40] = np.inf
    assert not K._banded(x, w, (1,), x)
    y, ref = NumpyBackend().conv(x, w, padding="same"), spec.conv(x, w, padding="same")
    np.testing.assert_array_equal(np.isnan(y), np.isnan(ref))
    np.testing.assert_array_equal(np.isinf(y), np.isinf(ref))
    assert np.isinf(y).sum() == 9  # exactly the outputs whose window holds the inf


@pytest.mark.parametrize("threads", [1, 2])  # one worker per BLAS thread (impls/_blas_workers.py)
@pytest.mark.parametrize("block", [200, 3000])  # a few rows of one sample per block / several samples per block
@pytest.mark.parametrize("kw", [{"padding": "same"}, {"padding": "periodic", "dilation": 2},
                                {"padding": "valid", "stride": 2}, {"padding": "same", "stride": (2, 1)}])
def test_blocked_im2col_with_tiny_blocks_matches_spec(monkeypatch, block, kw, threads):
    monkeypatch.setattr(K, "COL_BLOCK_BYTES", block)
    rng = np.random.default_rng(1)
    x, w, b = rng.standard_normal((3, 2, 9, 7)), rng.standard_normal((3, 2, 3, 2)), rng.standard_normal(3)
    with threadpoolctl.threadpool_limits(threads, user_api="blas"):
        _check(NumpyBackend(), x, w, b, kw)


@pytest.mark.parametrize("kw", [{"padding": "same"}, {"padding": "valid", "stride": 2}])
def test_two_workers_share_the_blocks_and_keep_the_bits(monkeypatch, kw):
    """With 2 BLAS threads the blocks run on 2 threads; the forward is the 1-thread forward bit for bit (each
    block is the same GEMM), and the VJP gives the same bits on every call (its parts are summed in order)."""
    monkeypatch.setattr(K, "COL_BLOCK_BYTES", 3000)
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((6, 2, 9, 7)), rng.standard_normal((3, 2, 3, 3))
    be = NumpyBackend()
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        serial = be.conv(x, w, **kw)
    seen = set()
    real_fill = K._fill_cols

    def fill_and_note(*args):
        seen.add(threading.get_ident())
        return real_fill(*args)

    monkeypatch.setattr(K, "_fill_cols", fill_and_note)
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        parallel = be.conv(x, w, **kw)
        g = rng.standard_normal(parallel.shape)
        first, again = be.conv_vjp(g, x, w, **kw), be.conv_vjp(g, x, w, **kw)
    assert len(seen) == 2, f"the blocks ran on {len(seen)} thread(s)"
    np.testing.assert_array_equal(parallel, serial)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
