"""The numpy conv's stated peak extra memory (impls/_numpy_kernels.py docstring) holds, for any batch size.

tracemalloc sees numpy's allocations, so the peak it reports during a call, minus the results the call
returns, is the call's extra memory.
"""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pytest
import threadpoolctl

from impls import _blas_workers as BW
from impls import _numpy_kernels as K
from impls.numpy_backend import NumpyBackend

SLACK = 64 << 10
"""Small temporaries: the reshaped kernel, index arrays, the per-block gw product (T*C x C_out)."""


def _peak_extra(fn, *args, **kwargs):
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        res = fn(*args, **kwargs)
        peak = tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()
    outs = res if isinstance(res, tuple) else (res,)
    return peak - sum(o.nbytes for o in outs)


def _problem(n, c=16, hw=32, k=3, dtype=np.float64):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, hw, hw)).astype(dtype)
    w = rng.standard_normal((c, c, k, k)).astype(dtype)
    return x, w, rng.standard_normal(c).astype(dtype), rng.standard_normal((n, c, hw, hw)).astype(dtype)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("padding", ["same", "periodic", "valid"])
def test_conv_peak_memory_within_the_stated_bound_and_independent_of_batch(padding, threads):
    """The bound is per worker, and the kernel runs one worker per BLAS thread (impls/_blas_workers.py)."""
    be = NumpyBackend()
    c, hw, k = 16, 32, 3
    itemsize = 8
    row = k * k * c * hw * itemsize  # one row of the first spatial axis of the column matrix
    block = max(K.COL_BLOCK_BYTES, row)
    padded_sample = c * (hw + k - 1) ** 2 * itemsize
    fwd_bound = threads * (block + padded_sample + SLACK)
    # the VJP: the forward's blocks for gw, the same again for the correlation of the padded g (or col2im);
    # periodic: plus the padded-extent gradient of about one block of samples, and its fold (3 copies)
    periodic = threads * 3 * max(K.COL_BLOCK_BYTES, padded_sample) if padding == "periodic" else 0
    vjp_bound = 2 * fwd_bound + periodic
    peaks = {}
    with threadpoolctl.threadpool_limits(threads, user_api="blas"):
        assert BW.workers() == threads
        for n in (8, 32):
            x, w, b, g = _problem(n, c, hw, k)
            if padding == "valid":
                g = g[:, :, : hw - k + 1, : hw - k + 1].copy()
            fwd = _peak_extra(be.conv, x, w, b, padding=padding)
            vjp = _peak_extra(be.conv_vjp, g, x, w, b, padding=padding)
            assert fwd <= fwd_bound, f"N={n}, {threads} threads: forward used {fwd} B extra > {fwd_bound}"
            assert vjp <= vjp_bound, f"N={n}, {threads} threads: vjp used {vjp} B extra > {vjp_bound}"
            peaks[n] = (fwd, vjp)
    if threads == 1:  # 4x the batch: the same blocks. With 2 workers the peak depends on how their blocks
        # happen to overlap in time; the bounds above, which do not grow with N, still hold.
        assert peaks[32][0] <= peaks[8][0] + SLACK
        assert peaks[32][1] <= peaks[8][1] + SLACK


def test_whole_input_im2col_is_never_formed():
    x, w, b, g = _problem(16)
    whole = x.nbytes * 9  # what a one-shot im2col of the whole batch would take
    extra = _peak_extra(NumpyBackend().conv_vjp, g, x, w, b, padding="same")
    assert extra < whole / 4, (extra, whole, math.log2(max(extra, 1)))
