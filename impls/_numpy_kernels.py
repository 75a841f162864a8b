"""Vectorised numpy kernels behind :mod:`impls.numpy_backend` (conv by blocked im2col, pooling views).

Layout: arrays stay channels-first ``(N, C, *spatial)``. Convolution works in blocks of output
positions sized for one core's L2 cache (COL_BLOCK_BYTES): for one sample and a range of rows of the
first spatial axis (or, when a whole sample's columns are smaller than a block, several whole samples),
T strided copies (``T`` = kernel taps) fill the column block ``cols`` (T, C_in, rows, *out[1:]) and ONE
GEMM ``w2 @ cols`` (``w2`` = the kernel as (C_out, T*C_in)) consumes it while it is still in cache,
writing straight into y. Profiled on conv2d N=32 C=64->64 32x32 k3 'same' float32 (one thread): the
old whole-chunk (16 MiB) im2col spent as long copying to and from memory as the GEMM took; in L2-sized
blocks the copies cost about a fifth of the GEMM, and the GEMM itself runs faster on cached blocks.
1-D convs with few channels and long kernels (C_in*C_out <= 64, >= 8 taps, stride 1, finite inputs) take
:class:`_Band` instead: output blocks of B positions as one GEMM with a banded weight matrix, whose copy is
(B + S - 1) / B times the signal instead of T times (C 4->4, n=1e5, k101: about 8x faster than im2col).
Python loops run only over kernel taps, pooling-window taps and blocks.
Blocks are shared out to one thread per BLAS thread, each copying AND multiplying its own blocks with the
BLAS at one thread (:mod:`impls._blas_workers`): the copies would otherwise run on one core, and the
C_out-row GEMMs of a block scale badly over OpenBLAS's threads (same case, 2 cores, AMD EPYC: forward
float32 35 -> 24 ms, float64 142 -> 47 ms). The forward splits the block list anywhere; the VJP's gw pass
splits it between chunks of samples (col2im scatters into whole chunks), and sums the parts in order.

Peak extra memory of conv (beyond x, w, g and the results): one padded input chunk (one sample, or the
nb samples of a block; none for 'valid'), the column block of ``max(COL_BLOCK_BYTES,
T*C_in*prod(out[1:])*itemsize)`` (1 MiB, or one row of the first axis if larger) and, with several
samples per block, a (C_out, block) output block. The VJP holds the same, plus for stride 1 the same
again for the correlation of the padded g (:func:`_gx_unit_stride`, which is :func:`conv_forward`;
'periodic' adds the padded-extent gradient of about COL_BLOCK_BYTES of samples and its fold), or
for other strides a second column block and one padded input-gradient chunk (:class:`_Col2im`). So
about 2 column blocks (2 MiB) plus 2 padded chunks, for any batch size. All of this is per worker thread:
with 2 BLAS threads, twice that.
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass

import numpy as np

from impls import _blas_workers as BW

COL_BLOCK_BYTES = 1 << 20
"""Target size of one im2col block: the L2 cache of one core (1 MiB on the AMD EPYC this was tuned on)."""


# ----------------------------------------------------------------------------------------------
# padding helpers


def _wrap_index(n: int, before: int, after: int) -> np.ndarray:
    return (np.arange(-before, n + after) % n).astype(np.intp)


def pads_anything(pads, mode: str) -> bool:
    return mode != "valid" and any(b or a for b, a in pads)


def pad(x: np.ndarray, pads, mode: str) -> np.ndarray:
    """Pad the spatial axes of ``x`` (``(nb, C, *spatial)``): zeros for 'same', index mod n for 'periodic'."""
    if not pads_anything(pads, mode):
        return x
    if mode == "periodic":
        for axis, (b, a) in enumerate(pads):
            if b or a:
                x = np.take(x, _wrap_index(x.shape[2 + axis], b, a), axis=2 + axis)
        return x
    shape = x.shape[:2] + tuple(n + b + a for n, (b, a) in zip(x.shape[2:], pads, strict=True))
    out = np.zeros(shape, dtype=x.dtype)
    out[(Ellipsis, *(slice(b, b + n) for n, (b, _) in zip(x.shape[2:], pads, strict=True)))] = x
    return out


def unpad_into(dst: np.ndarray, gp: np.ndarray, pads, mode: str) -> None:
    """Adjoint of :func:`pad`: write the gradient of the unpadded array into ``dst``."""
    if mode == "periodic":
        for axis, (b, a) in enumerate(pads):
            if b or a:
                gp = _fold(gp, 2 + axis, dst.shape[2 + axis], b)
        dst[...] = gp
        return
    dst[...] = gp[(Ellipsis, *(slice(b, b + n) for n, (b, _) in zip(dst.shape[2:], pads, strict=True)))]


def _fold(gp: np.ndarray, axis: int, n: int, before: int) -> np.ndarray:
    """Sum padded positions p into (p - before) mod n along ``axis``: one slice-add per contiguous run of
    targets, so nothing larger than the result is allocated."""
    length = gp.shape[axis]
    out = np.zeros(gp.shape[:axis] + (n,) + gp.shape[axis + 1:], dtype=gp.dtype)
    pre = (slice(None),) * axis
    p0 = 0
    while p0 < length:
        t0 = (p0 - before) % n
        run = min(length - p0, n - t0)
        out[(*pre, slice(t0, t0 + run))] += gp[(*pre, slice(p0, p0 + run))]
        p0 += run
    return out


# ----------------------------------------------------------------------------------------------
# convolution: im2col in L2-sized blocks, consumed by the GEMM while they are still in cache


def _tap_slices(kshape, stride, dilation, out):
    """Per kernel tap (row-major), the index tuple selecting its strided input window."""
    for offs in itertools.product(*(range(k) for k in kshape)):
        yield (Ellipsis, *(slice(o * d, o * d + s * (m - 1) + 1, s)
                           for o, d, s, m in zip(offs, dilation, stride, out, strict=True)))


@dataclass(frozen=True)
class _ConvPlan:
    """Geometry and blocking of one conv call (see the module docstring for the memory bound)."""

    out: tuple[int, ...]
    """Output spatial shape."""
    padded: tuple[int, ...]
    """Padded input spatial shape."""
    taps: tuple[tuple[int, ...], ...]
    """Per kernel tap (row-major), its offset ``o * d`` into the padded input, per axis."""
    stride: tuple[int, ...]
    nb: int
    """Samples per block (> 1 only when a sample's whole column matrix is smaller than a block)."""
    rows: int
    """Output positions along the FIRST spatial axis per block (all of them when nb > 1)."""

    @property
    def inner(self) -> int:
        return math.prod(self.out[1:])

    def blocks(self, n: int):
        """Yield (s0, m, i0, r): samples s0..s0+m, output rows i0..i0+r; a sample's blocks come in order."""
        for s0 in range(0, n, self.nb):
            m = min(self.nb, n - s0)
            for i0 in range(0, self.out[0], self.rows):
                yield s0, m, i0, min(self.rows, self.out[0] - i0)

    def window(self, tap: tuple[int, ...], i0: int, r: int) -> tuple:
        """Index of the padded-input positions that tap ``tap`` reads for output rows i0..i0+r."""
        s0 = self.stride[0]
        first = slice(i0 * s0 + tap[0], i0 * s0 + tap[0] + s0 * (r - 1) + 1, s0)
        rest = (slice(o, o + s * (m - 1) + 1, s) for o, s, m in zip(tap[1:], self.stride[1:], self.out[1:], strict=True))
        return (slice(None), slice(None), first, *rest)


def _conv_plan(x_shape, w_shape, pads, stride, dilation, itemsize) -> _ConvPlan:
    n, c = x_shape[:2]
    kshape = w_shape[2:]
    padded = tuple(xn + bf + af for xn, (bf, af) in zip(x_shape[2:], pads, strict=True))
    out = tuple((p - d * (k - 1) - 1) // s + 1 for p, k, d, s in zip(padded, kshape, dilation, stride, strict=True))
    taps = tuple(tuple(o * d for o, d in zip(offs, dilation, strict=True))
                 for offs in itertools.product(*(range(k) for k in kshape)))
    per_row = max(len(taps) * c * math.prod(out[1:]) * itemsize, 1)
    per_sample = per_row * max(out[0], 1)
    if per_sample >= COL_BLOCK_BYTES:
        nb, rows = 1, max(1, COL_BLOCK_BYTES // per_row)
        rows = -(-out[0] // -(-out[0] // rows)) if out[0] else 1  # balance the blocks of a sample
    else:
        nb, rows = max(1, min(n, COL_BLOCK_BYTES // per_sample)), max(out[0], 1)
    return _ConvPlan(out, padded, taps, tuple(stride), nb, rows)


class _PaddedChunks:
    """The padded input of a chunk of samples, in one reused buffer (zero borders written once)."""

    def __init__(self, x, plan, pads, mode):
        self.x, self.pads, self.mode = x, pads, mode
        self.identity = not pads_anything(pads, mode)
        if not self.identity:
            self.buf = np.zeros((plan.nb, x.shape[1], *plan.padded), dtype=x.dtype)
            self.interior = (Ellipsis, *(slice(bf, bf + xn) for xn, (bf, _) in zip(x.shape[2:], pads, strict=True)))

    def get(self, s0, m):
        xs = self.x[s0:s0 + m]
        if self.identity:
            return xs
        dst = self.buf[:m]
        if self.mode == "periodic":
            dst[...] = pad(xs, self.pads, "periodic")
        else:
            dst[self.interior] = xs
        return dst


def _fill_cols(cols, xp, plan, i0, r):
    """cols (T, C, m, r, *out[1:]) <- one strided copy per tap from the padded chunk xp (m, C, *padded)."""
    for t, tap in enumerate(plan.taps):
        cols[t] = xp[plan.window(tap, i0, r)].swapaxes(0, 1)


def _filled_blocks(x, plan, pads, mode, part):
    """Per block of ``part``: (s0, m, i0, r, cols), cols the (T*C, m*r*inner) column matrix of the block, filled
    from the padded chunk of its samples. One padded-chunk buffer and one column buffer serve every block, and
    go when the loop over the blocks ends."""
    chunks = _PaddedChunks(x, plan, pads, mode)
    ntap, c = len(plan.taps), x.shape[1]
    cols_of = _buffer(ntap * c * plan.nb * plan.rows * plan.inner, x.dtype)
    xp, held = None, None
    for s0, m, i0, r in part:
        if s0 != held:
            xp, held = chunks.get(s0, m), s0
        cols = cols_of(ntap, c, m, r, *plan.out[1:])
        _fill_cols(cols, xp, plan, i0, r)
        yield s0, m, i0, r, cols.reshape(ntap * c, m * r * plan.inner)


def _buffer(n_items, dtype):
    flat = np.empty(n_items, dtype=dtype)
    return lambda *shape: flat[:math.prod(shape)].reshape(shape)


BANDED_MAX_CHANNEL_PAIRS = 64
BANDED_MIN_TAPS = 8
"""1-D, stride 1, C_in * C_out <= 64 and >= 8 taps: the banded formulation (:func:`_banded_forward`) instead
of im2col, whose GEMM has only C_out rows and whose columns are T times the signal."""


def _banded(x, w, stride, *finite) -> bool:
    return (x.ndim == 3 and tuple(stride) == (1,) and w.shape[0] * w.shape[1] <= BANDED_MAX_CHANNEL_PAIRS
            and w.shape[2] >= BANDED_MIN_TAPS and all(bool(np.isfinite(a).all()) for a in finite))


class _Band:
    """Few channels, long 1-D kernels: output blocks of B positions as one GEMM with a banded weight matrix.

    y[o, qB + j] = sum_{c, s} x[c, qB + s] * W[(c, s), (o, j)] with W[(c, j + d t), (o, j)] = w[o, c, t]: the rows
    of X are overlapping windows of B + S - 1 samples (S = d (T-1) + 1), so the copy is (B + S - 1) / B times
    the signal instead of T times, and the GEMM has B * C_out columns. The zeros of the band cost
    (B + S - 1) / S times the FLOPs. Only for finite inputs: 0 * inf in the band would be a NaN spec does not
    have (the caller falls back to im2col).
    """

    def __init__(self, w, dilation, dtype):
        self.cout, self.c, ntap = w.shape
        self.d = dilation[0]
        self.span = self.d * (ntap - 1) + 1
        self.B = 32 if self.span <= 64 else 64
        self.win = self.B + self.span - 1
        self.dtype = dtype
        band = np.zeros((self.c, self.win, self.cout, self.B), dtype=dtype)
        for t in range(ntap):
            self.diagonal(band, t)[...] = w[:, :, t].T[:, :, None]
        self.w2 = band.reshape(self.c * self.win, self.cout * self.B)

    def diagonal(self, band, t):
        """(C, C_out, B) view of band[c, j + d t, o, j]."""
        st = band.strides
        return np.lib.stride_tricks.as_strided(band[:, self.d * t:], shape=(self.c, self.cout, self.B),
                                               strides=(st[0], st[2], st[1] + st[3]))

    def windows(self, xp1, nout):
        """(Q, C * win) rows of overlapping windows of the padded sample (C, L), zero-extended to Q blocks."""
        q = -(-nout // self.B)
        xe = np.zeros((self.c, q * self.B + self.span - 1), dtype=self.dtype)
        xe[:, :xp1.shape[1]] = xp1
        return q, xe

    def rows(self, xe, q0, qn):
        st = xe.strides
        view = np.lib.stride_tricks.as_strided(xe[:, q0 * self.B:], shape=(qn, self.c, self.win),
                                               strides=(self.B * st[1], st[0], st[1]))
        return np.ascontiguousarray(view).reshape(qn, self.c * self.win)

    def step(self) -> int:
        return max(1, COL_BLOCK_BYTES // (self.c * self.win * np.dtype(self.dtype).itemsize))

    def forward(self, xp1, out):
        """out (C_out, nout) <- the correlation of the padded sample xp1 (C, L)."""
        nout = out.shape[1]
        q, xe = self.windows(xp1, nout)
        for q0 in range(0, q, self.step()):
            qn = min(self.step(), q - q0)
            yb = np.matmul(self.rows(xe, q0, qn), self.w2).reshape(qn, self.cout, self.B)
            lo, hi = q0 * self.B, min(nout, (q0 + qn) * self.B)
            out[:, lo:hi] = yb.transpose(1, 0, 2).reshape(self.cout, qn * self.B)[:, :hi - lo]

    def add_gw(self, xp1, g1, acc):
        """acc (C * win, C_out * B) += X.T @ G: its diagonals, summed, are gw (see :meth:`gw`)."""
        nout = g1.shape[1]
        q, xe = self.windows(xp1, nout)
        ge = np.zeros((self.cout, q * self.B), dtype=self.dtype)
        ge[:, :nout] = g1
        gq = ge.reshape(self.cout, q, self.B).transpose(1, 0, 2).reshape(q, self.cout * self.B)
        for q0 in range(0, q, self.step()):
            qn = min(self.step(), q - q0)
            acc += np.matmul(self.rows(xe, q0, qn).T, gq[q0:q0 + qn])

    def gw(self, acc, ntap):
        band = acc.reshape(self.c, self.win, self.cout, self.B)
        return np.stack([self.diagonal(band, t).sum(axis=-1).T for t in range(ntap)], axis=-1)


def conv_forward(x, w, b, pads, mode, stride, dilation):
    """Per block: T strided copies fill an L2-sized column block, ONE GEMM reads it while it is in cache.

    With one sample per block the GEMM writes straight into y (its ``out`` is a strided view of y):
    no transpose of the output and no second pass over it.
    """
    n, c = x.shape[:2]
    cout = w.shape[0]
    plan = _conv_plan(x.shape, w.shape, pads, stride, dilation, x.itemsize)
    y = np.empty((n, cout, *plan.out), dtype=x.dtype)
    if y.size == 0:
        return y
    if _banded(x, w, stride, x):
        band, chunks = _Band(w, dilation, x.dtype), _PaddedChunks(x, plan, pads, mode)
        for s0 in range(n):
            band.forward(chunks.get(s0, 1)[0], y[s0])
        if b is not None:
            y += b.reshape(cout, 1)
        return y
    ntap, inner = len(plan.taps), plan.inner
    w2 = np.ascontiguousarray(np.moveaxis(w, 1, -1)).reshape(cout, ntap * c)  # columns in (tap, channel) order
    y3 = y.reshape(n, cout, -1)
    bias = None if b is None else b.reshape(cout, 1)
    block_len = plan.nb * plan.rows * inner

    def blocks_into_y(part):
        """Each block writes only its own rows of y, so parts of the block list run side by side."""
        tmp_of = _buffer(cout * block_len, x.dtype) if plan.nb > 1 else None
        for s0, m, i0, r, cols2 in _filled_blocks(x, plan, pads, mode, part):
            if m == 1:
                yb = np.matmul(w2, cols2, out=y3[s0, :, i0 * inner:(i0 + r) * inner])
                if bias is not None:
                    yb += bias
            else:  # several whole samples: (C_out, m, out) -> (m, C_out, out), in cache
                yb = np.matmul(w2, cols2, out=tmp_of(cout, m * r * inner))
                if bias is not None:
                    yb += bias
                y3[s0:s0 + m] = yb.reshape(cout, m, -1).swapaxes(0, 1)

    BW.run(blocks_into_y, BW.split(list(plan.blocks(n)), BW.workers()))
    return y


def conv_backward(g, x, w, pads, mode, stride, dilation):
    """Return (gx, gw) of the conv; the bias gradient is a plain reduction done by the caller.

    gw: per block of the forward's blocking, the columns of x are rebuilt in cache and
    ``gw2.T += cols @ g_b.T`` (BLAS reads the transposed view of g: no copy).
    gx, stride 1: a forward correlation of the zero-padded g with the flipped, transposed kernel
    (:func:`conv_forward` itself: T copies + one GEMM with K = T*C_out per block, no scatter-add).
    gx, any other stride: ``gcols = w2.T @ g_b`` per block, put back by one strided scatter-add per tap.
    """
    n, c = x.shape[:2]
    cout = w.shape[0]
    plan = _conv_plan(x.shape, w.shape, pads, stride, dilation, x.itemsize)
    ntap, inner = len(plan.taps), plan.inner
    if n == 0 or math.prod(plan.out) == 0:
        return np.zeros(x.shape, dtype=x.dtype), np.zeros(w.shape, dtype=x.dtype)
    if _banded(x, w, stride, x, g):
        band, chunks = _Band(w, dilation, x.dtype), _PaddedChunks(x, plan, pads, mode)
        acc = np.zeros(band.w2.shape, dtype=x.dtype)
        for s0 in range(n):
            band.add_gw(chunks.get(s0, 1)[0], g[s0], acc)
        return _gx_unit_stride(g, w, x.shape, pads, mode, dilation), np.ascontiguousarray(band.gw(acc, ntap))
    # The unit-stride path correlates the zero-padded g with w: a NaN/inf tap would meet the pad (0 * inf =
    # nan) where spec's VJP has no such term; the col2im path multiplies real terms only.
    unit_stride = all(s == 1 for s in stride) and bool(np.isfinite(w).all())
    w2 = np.ascontiguousarray(np.moveaxis(w, 1, -1)).reshape(cout, ntap * c)
    g3 = g.reshape(n, cout, -1)
    block_len = plan.nb * plan.rows * inner
    gx = None if unit_stride else _Col2im.target(x, pads, mode)

    def gw_of_blocks(part):
        """gw2.T of these blocks (and their col2im into gx): parts hold whole chunks of samples, so no two
        scatter into the same rows of gx."""
        gw2t = np.zeros((ntap * c, cout), dtype=x.dtype)
        scatter = None if unit_stride else _Col2im(gx, plan, pads, mode)
        gtmp_of = _buffer(cout * block_len, x.dtype) if plan.nb > 1 else None
        for s0, m, i0, r, cols2 in _filled_blocks(x, plan, pads, mode, part):
            length = m * r * inner
            if m == 1:
                gb = g3[s0, :, i0 * inner:(i0 + r) * inner]
            else:
                gb = gtmp_of(cout, m, r * inner)
                gb[...] = g3[s0:s0 + m].swapaxes(0, 1)
                gb = gb.reshape(cout, length)
            # (T*C, L) @ (L, C_out): OpenBLAS is many times slower on the (C_out, L) @ (L, T*C) orientation
            gw2t += np.matmul(cols2, gb.T)
            if scatter is not None:
                scatter.add(w2, gb, s0, m, i0, r)
        return gw2t  # its blocks are freed on return, before gx's correlation allocates its own

    by_chunk = [list(blocks) for _, blocks in itertools.groupby(plan.blocks(n), key=lambda blk: blk[0])]
    parts = [[blk for chunk in run_ for blk in chunk] for run_ in BW.split(by_chunk, BW.workers())]
    gw2t = functools.reduce(np.add, BW.run(gw_of_blocks, parts))  # in the parts' order: same bits every call
    gw = np.ascontiguousarray(np.moveaxis(gw2t.T.reshape(cout, *w.shape[2:], c), -1, 1))
    if unit_stride:
        gx = _gx_unit_stride(g, w, x.shape, pads, mode, dilation)
    return gx, gw


def _gx_unit_stride(g, w, x_shape, pads, mode, dilation):
    """Stride 1: gx[m] = sum_j g[m + before - d j] w[j], a correlation of g padded by (d(k-1) - before,
    d(k-1) - after) with the flipped kernel, channels swapped. 'periodic' correlates over every padded
    position (pad d(k-1) on both sides) and folds them back mod n."""
    kshape = w.shape[2:]
    wf = np.ascontiguousarray(np.flip(w, axis=tuple(range(2, w.ndim))).swapaxes(0, 1))
    full = [d * (k - 1) for k, d in zip(kshape, dilation, strict=True)]
    ones = (1,) * len(kshape)
    if mode == "periodic":  # a few samples at a time: the padded-extent gradient and its fold stay small
        gx = np.empty(x_shape, dtype=g.dtype)
        per_sample = x_shape[1] * math.prod(xn + bf + af for xn, (bf, af) in zip(x_shape[2:], pads, strict=True))
        step = max(1, COL_BLOCK_BYTES // max(per_sample * g.itemsize, 1))
        for s0 in range(0, x_shape[0], step):
            res = conv_forward(g[s0:s0 + step], wf, None, [(f, f) for f in full], "same", ones, dilation)
            unpad_into(gx[s0:s0 + step], res, pads, mode)
            del res  # before the next chunk's correlation allocates its blocks
        return gx
    gpads = [(f - bf, f - af) for f, (bf, af) in zip(full, pads, strict=True)]
    return conv_forward(g, wf, None, gpads, "same", ones, dilation)


class _Col2im:
    """Any stride: the input gradient, block by block: gcols = w2.T @ g_b, one scatter-add per tap into the
    padded gradient of the chunk, which is unpadded into gx when the chunk's last block is done."""

    def __init__(self, gx, plan, pads, mode):
        self.plan, self.pads, self.mode = plan, pads, mode
        self.padded = pads_anything(pads, mode)
        self.gx = gx
        c = gx.shape[1]
        self.buf = np.empty((plan.nb, c, *plan.padded), dtype=gx.dtype) if self.padded else None
        self.gcols_of = _buffer(len(plan.taps) * c * plan.nb * plan.rows * plan.inner, gx.dtype)
        self.gxp = None

    @staticmethod
    def target(x, pads, mode):
        """The gx every part writes into: unpadding overwrites whole chunks; 'valid' scatters into zeros."""
        return np.empty(x.shape, dtype=x.dtype) if pads_anything(pads, mode) else np.zeros(x.shape, dtype=x.dtype)

    def add(self, w2, gb, s0, m, i0, r):
        plan = self.plan
        if i0 == 0:
            if self.padded:
                self.gxp = self.buf[:m]
                self.gxp.fill(0)
            else:
                self.gxp = self.gx[s0:s0 + m]
        ntap, c = len(plan.taps), w2.shape[1] // len(plan.taps)
        gcols = np.matmul(w2.T, gb, out=self.gcols_of(ntap * c, gb.shape[1]))
        gcols = gcols.reshape(ntap, c, m, r, *plan.out[1:])
        for t, tap in enumerate(plan.taps):
            self.gxp[plan.window(tap, i0, r)] += gcols[t].swapaxes(0, 1)
        if self.padded and i0 + r == plan.out[0]:
            unpad_into(self.gx[s0:s0 + m], self.gxp, self.pads, self.mode)


# ----------------------------------------------------------------------------------------------
# pooling and upsampling


def pool_taps(x_spatial, size, stride):
    out = tuple((n - k) // s + 1 for n, k, s in zip(x_spatial, size, stride, strict=True))
    return out, list(_tap_slices(size, stride, (1,) * len(size), out))


def _disjoint(x_spatial, size, stride, out) -> tuple[bool, bool]:
    """(windows never overlap, windows cover every input position)."""
    disjoint = all(s >= k for k, s in zip(size, stride, strict=True))
    covers = all(s == k and m * k == n for n, k, s, m in zip(x_spatial, size, stride, out, strict=True))
    return disjoint, covers


def _axis_reduce(x, size, stride, ufunc):
    """Separable window reduction: combine the k strided slices of each spatial axis in turn.

    Outer axes go first: their slices are whole contiguous rows, and each pass shrinks the array
    the later (strided) passes read.
    """
    y = x
    for axis, (k, s) in enumerate(zip(size, stride, strict=True)):
        n = y.shape[2 + axis]
        m = (n - k) // s + 1
        if k == 1 and s == 1:
            continue
        pre = (slice(None),) * (2 + axis)
        parts = [y[(*pre, slice(j, j + s * (m - 1) + 1, s))] for j in range(k)]
        acc = parts[0].copy() if k == 1 else ufunc(parts[0], parts[1])
        for p in parts[2:]:
            ufunc(acc, p, out=acc)
        y = acc
    return y if y is not x else x.copy()


def max_pool_forward(x, size, stride):
    y = _axis_reduce(x, size, stride, np.maximum)  # np.maximum propagates NaN
    return _first_zero_sign(y, x, size, stride)


def _first_zero_sign(y, x, size, stride):
    """+0.0 and -0.0 tie, and spec returns the window's FIRST maximum (row-major): a zero result takes the
    sign of the window's first zero (np.maximum would keep whichever the reduction order met last)."""
    zero = y == 0
    if not zero.any():
        return y
    done = ~zero
    out = y.shape[2:]
    for off in np.ndindex(*size):
        xv = x[(slice(None), slice(None), *[slice(a, a + s * (o - 1) + 1, s)
                                             for a, s, o in zip(off, stride, out, strict=True)])]
        hit = ~done & (xv == 0)
        y[hit] = xv[hit]
        done |= hit
    return y


def max_pool_backward(g, x, size, stride):
    """Gradient to the FIRST maximum of each window in row-major order; to the first NaN if any.

    One pass per window tap: ``hit = (x_tap == y) & not-yet-claimed``; the last tap takes every
    window still unclaimed.
    """
    out, taps = pool_taps(x.shape[2:], size, stride)
    y = max_pool_forward(x, size, stride)
    disjoint, covers = _disjoint(x.shape[2:], size, stride, out)
    gx = np.empty_like(x) if covers else np.zeros(x.shape, dtype=x.dtype)
    nan_y = np.isnan(y)
    has_nan = bool(nan_y.any())
    finite_g = bool(np.isfinite(g).all())
    zero = x.dtype.type(0)
    todo = hit = None
    for i, sl in enumerate(taps):
        if i == len(taps) - 1 and i > 0:
            hit = todo  # every window has exactly one first maximum
        else:
            v = x[sl]
            eq = np.equal(v, y)
            if has_nan:
                eq |= nan_y & np.isnan(v)
            if todo is None:
                hit, todo = eq, ~eq
            else:
                hit = np.logical_and(eq, todo)
                np.greater(todo, eq, out=todo)  # todo &= ~eq
        if disjoint and finite_g:
            np.multiply(g, hit, out=gx[sl])
            np.add(gx[sl], zero, out=gx[sl])  # -g * False is -0.0; spec's unrouted entries are +0.0
        elif disjoint:
            gx[sl] = np.where(hit, g, zero)
        else:
            gx[sl] += np.where(hit, g, zero)
    return gx


def avg_pool_forward(x, size, stride):
    y = _axis_reduce(x, size, stride, np.add)
    y /= x.dtype.type(math.prod(size))
    return y


def _repeat(a, factor):
    for axis, f in enumerate(factor):
        if f != 1:
            a = a.repeat(f, axis=2 + axis)
    return a


def avg_pool_backward(g, xshape, dtype, size, stride):
    out, taps = pool_taps(xshape[2:], size, stride)
    disjoint, covers = _disjoint(xshape[2:], size, stride, out)
    gs = g / dtype.type(math.prod(size))
    if tuple(size) == tuple(stride):
        rep = _repeat(gs, size)
        if covers:
            return rep if rep is not gs else rep.copy()
        gx = np.zeros(xshape, dtype=dtype)
        gx[(Ellipsis, *(slice(0, m) for m in rep.shape[2:]))] = rep
        return gx
    gx = np.zeros(xshape, dtype=dtype)
    for sl in taps:
        if disjoint:
            gx[sl] = gs
        else:
            gx[sl] += gs
    return gx


def upsample_forward(x, factor):
    """Nearest: np.repeat along each axis (the spec rule y[i] = x[i // f])."""
    y = _repeat(x, factor)
    return y.copy() if y is x else y


def upsample_backward(g, factor):
    """Block sum, the adjoint of repeat: sum the f strided slices of each axis, outer axes first."""
    return _axis_reduce(g, factor, factor, np.add)


# ----------------------------------------------------------------------------------------------
# batch norm: cache-sized blocks, two passes over x (statistics, then output)

BN_BLOCK_BYTES = 512 << 10


def _bn_blocks(shape3, itemsize):
    """Yield (n0, n1, c0, c1) blocks of an (N, C, S) array, each about BN_BLOCK_BYTES."""
    n, c, s = shape3
    per_channel = max(s * itemsize, 1)
    cb = max(1, min(c, BN_BLOCK_BYTES // per_channel))
    nb = max(1, BN_BLOCK_BYTES // (per_channel * c)) if cb == c else 1
    for n0 in range(0, n, nb):
        for c0 in range(0, c, cb):
            yield n0, min(n, n0 + nb), c0, min(c, c0 + cb)


def bn_stats(x3, g3=None):
    """One pass over x (and g): per-channel mean, sum of squared deviations and, with g, sum(g)
    and sum(g * (x - mean)); block results are merged with Chan's pairwise formula in float64."""
    n, c, s = x3.shape
    blocks = list(_bn_blocks(x3.shape, x3.itemsize))
    rows = len(blocks)
    cnt, mu_b, m2_b = np.zeros((rows, c)), np.zeros((rows, c)), np.zeros((rows, c))
    sg_b, sgx_b = (np.zeros((rows, c)), np.zeros((rows, c))) if g3 is not None else (None, None)
    buf = np.empty((blocks[0][1] - blocks[0][0], blocks[0][3], s), dtype=x3.dtype)
    for r, (n0, n1, c0, c1) in enumerate(blocks):
        xb = x3[n0:n1, c0:c1]
        k = (n1 - n0) * s
        mb = np.add.reduce(xb, axis=2).sum(axis=0) / xb.dtype.type(k)
        xc = np.subtract(xb, mb[:, None], out=buf[:n1 - n0, :c1 - c0])
        cnt[r, c0:c1], mu_b[r, c0:c1] = k, mb
        m2_b[r, c0:c1] = np.vecdot(xc, xc).sum(axis=0)
        if g3 is not None:
            gb = g3[n0:n1, c0:c1]
            sg_b[r, c0:c1] = np.add.reduce(gb, axis=2).sum(axis=0)
            sgx_b[r, c0:c1] = np.vecdot(gb, xc).sum(axis=0)
    total = cnt.sum(axis=0)
    mean = (cnt * mu_b).sum(axis=0) / total
    dev = mu_b - mean
    m2 = m2_b.sum(axis=0) + (cnt * dev * dev).sum(axis=0)
    if g3 is None:
        return mean, m2, total
    # sum g (x - mean) = sum_b [ sum g (x - mu_b) + (mu_b - mean) sum_b g ]
    return mean, m2, total, sg_b.sum(axis=0), (sgx_b + dev * sg_b).sum(axis=0)


def bn_affine(x3, mu, a, c, g3=None, ga=None):
    """Second pass, block by block in cache: ``(x - mu)*a + c`` per channel, plus ``ga*g`` when g is given."""
    out = np.empty(x3.shape, dtype=x3.dtype)
    dt = x3.dtype
    mu, a, c = (v.astype(dt)[:, None] for v in (mu, a, c))
    ga = None if ga is None else ga.astype(dt)[:, None]
    buf = None
    for n0, n1, c0, c1 in _bn_blocks(x3.shape, x3.itemsize):
        ob = out[n0:n1, c0:c1]
        np.subtract(x3[n0:n1, c0:c1], mu[c0:c1], out=ob)
        ob *= a[c0:c1]
        if g3 is not None:
            if buf is None:
                buf = np.empty(ob.shape, dtype=dt)
            ob += np.multiply(g3[n0:n1, c0:c1], ga[c0:c1], out=buf[:n1 - n0, :c1 - c0])
        ob += c[c0:c1]
    return out


# ----------------------------------------------------------------------------------------------
# locally connected layer and graph convolution


def lc_windows(x, ks, stride, out):
    """The 'valid' windows of x as a (P, N, C_in * prod(k)) array, P = prod(out) (one copy, like im2col)."""
    nd = x.ndim - 2
    win = np.lib.stride_tricks.sliding_window_view(x, ks, axis=tuple(range(2, 2 + nd)))
    win = win[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]  # (N, C, *out, *k)
    n, c = x.shape[:2]
    order = (*range(2, 2 + nd), 0, 1, *range(2 + nd, 2 + 2 * nd))
    return np.ascontiguousarray(win.transpose(order)).reshape(math.prod(out), n, c * math.prod(ks))


def lc_scatter_windows(gwin, xshape, ks, stride, out):
    """Adjoint of :func:`lc_windows`: add (P, N, C*prod(k)) window gradients back onto x; loops over taps."""
    nd = len(xshape) - 2
    n, c = xshape[:2]
    g = gwin.reshape(*out, n, c, *ks).transpose(nd, nd + 1, *range(nd), *range(nd + 2, 2 * nd + 2))
    gx = np.zeros(xshape, dtype=gwin.dtype)
    for tap in itertools.product(*(range(k) for k in ks)):
        dst = tuple(slice(t, t + s * (o - 1) + 1, s) for t, s, o in zip(tap, stride, out, strict=True))
        gx[(slice(None), slice(None), *dst)] += g[(Ellipsis, *tap)]
    return gx


def graph_coefficients(src, dst, n_nodes: int, normalize: str, dtype) -> np.ndarray:
    """One coefficient per row (spec.graph): deg = in-degree, zero degree -> coefficient 0."""
    deg = np.bincount(dst, minlength=n_nodes).astype(dtype)
    if normalize == "none":
        return np.ones(src.shape, dtype=dtype)
    with np.errstate(divide="ignore"):
        if normalize == "mean":
            return (dtype.type(1) / deg)[dst]
        inv = np.where(deg > 0, dtype.type(1) / np.sqrt(deg), dtype.type(0)).astype(dtype)
    return inv[src] * inv[dst]


def graph_rows(edges, n_nodes: int, self_loops: bool):
    edges = np.asarray(edges, dtype=np.int64)
    loops = np.arange(n_nodes if self_loops else 0, dtype=np.int64)
    return np.concatenate([edges[:, 0], loops]), np.concatenate([edges[:, 1], loops])


def scatter_rows(index, values, n_rows: int, dtype) -> np.ndarray:
    """``out[index[r]] += values[r]`` for (R, F) values in ONE np.bincount over (row, feature) pairs
    (np.add.at is ~10x slower); bincount accumulates in float64, then rounds once to ``dtype``."""
    f = values.shape[1]
    flat = (index[:, None] * f + np.arange(f)).ravel()
    return np.bincount(flat, weights=values.ravel(), minlength=n_rows * f).reshape(n_rows, f).astype(dtype)
