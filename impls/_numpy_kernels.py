"""Vectorised numpy kernels behind :mod:`impls.numpy_backend` (conv by chunked im2col, pooling views).

Layout: arrays stay channels-first ``(N, C, *spatial)``.  Convolution builds, for a chunk of nb
samples, the column matrix ``cols`` of shape ``(C_in, T, nb, *out)`` (``T`` = kernel taps) with one
strided copy per kernel tap, then runs ONE GEMM ``w2 @ cols`` (``w2 = w.reshape(C_out, C_in*T)``, no
weight transpose) per chunk; only the (nb, C_out, *out) output chunk is transposed back.
Python loops run only over kernel taps, pooling-window taps and batch / cache-block chunks.

Peak extra memory of conv (beyond x, w, g and the results): forward ``cols`` of
``max(CHUNK_BYTES, C_in*T*prod(out)*itemsize)`` (16 MiB, or one sample's columns if larger), plus
the padded input chunk and the (C_out, nb, out) GEMM result; the VJP adds the column gradient
(stride 1: columns of the padded cotangent, ``C_out*T*prod(n)`` per sample; otherwise
``C_in*T*prod(out)``) of the same chunk, so about 2 to 3 times CHUNK_BYTES in all.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

CHUNK_BYTES = 16 << 20
"""Target size of one im2col buffer (L3-sized: few, large GEMM calls); a chunk holds >= 1 sample."""


# ----------------------------------------------------------------------------------------------
# padding helpers


def _wrap_index(n: int, before: int, after: int) -> np.ndarray:
    return (np.arange(-before, n + after) % n).astype(np.intp)


def pad(x: np.ndarray, pads, mode: str) -> np.ndarray:
    """Pad the spatial axes of ``x`` (``(nb, C, *spatial)``): zeros for 'same', index mod n for 'periodic'."""
    if mode == "valid" or not any(b or a for b, a in pads):
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
    """Sum padded positions p into (p - before) mod n along ``axis`` with one reshape-and-sum."""
    length = gp.shape[axis]
    shift = -(-before // n) * n  # smallest multiple of n >= before
    reps = -(-(length - before + shift) // n)
    pre, post = math.prod(gp.shape[:axis]), math.prod(gp.shape[axis + 1:])
    buf = np.zeros((pre, reps * n, post), dtype=gp.dtype)
    start = shift - before
    buf[:, start:start + length] = gp.reshape(pre, length, post)
    out = buf.reshape(pre, reps, n, post).sum(axis=1)
    return out.reshape(gp.shape[:axis] + (n,) + gp.shape[axis + 1:])


# ----------------------------------------------------------------------------------------------
# convolution


def _tap_slices(kshape, stride, dilation, out):
    """Per kernel tap (row-major), the index tuple selecting its strided input window."""
    for offs in itertools.product(*(range(k) for k in kshape)):
        yield (Ellipsis, *(slice(o * d, o * d + s * (m - 1) + 1, s)
                           for o, d, s, m in zip(offs, dilation, stride, out, strict=True)))


def _chunk(n: int, per_sample_bytes: int) -> int:
    return max(1, min(n, CHUNK_BYTES // max(per_sample_bytes, 1)))


def _im2col(xp, cols, taps):
    """Fill ``cols`` (C, T, nb, *out) from the padded chunk ``xp`` (nb, C, ...), one strided copy per tap."""
    xpt = xp.swapaxes(0, 1)
    for t, sl in enumerate(taps):
        cols[:, t] = xpt[sl]


def _geometry(x, w, pads, stride, dilation):
    kshape = w.shape[2:]
    out_sp = tuple((xn + bf + af - d * (k - 1) - 1) // s + 1
                   for xn, (bf, af), k, d, s in zip(x.shape[2:], pads, kshape, dilation, stride, strict=True))
    taps = list(_tap_slices(kshape, stride, dilation, out_sp))
    return out_sp, taps, math.prod(out_sp)


def conv_forward(x, w, b, pads, mode, stride, dilation):
    """y[n] = w2 @ cols[n]; per chunk of nb samples ONE GEMM (C_out, C_in*T) @ (C_in*T, nb*out)."""
    n, c = x.shape[:2]
    cout, ntap = w.shape[0], math.prod(w.shape[2:])
    out_sp, taps, nout = _geometry(x, w, pads, stride, dilation)
    y = np.empty((n, cout, *out_sp), dtype=x.dtype)
    if y.size == 0:
        return y
    w2 = w.reshape(cout, c * ntap)
    y3 = y.reshape(n, cout, nout)
    nb = _chunk(n, c * ntap * nout * x.itemsize)
    cols = np.empty((c, ntap, nb, *out_sp), dtype=x.dtype)
    yt = np.empty((cout, nb, nout), dtype=x.dtype)
    for s0 in range(0, n, nb):
        m = min(nb, n - s0)
        cb = cols if m == nb else np.empty((c, ntap, m, *out_sp), dtype=x.dtype)
        _im2col(pad(x[s0:s0 + m], pads, mode), cb, taps)
        if m == 1:  # the GEMM writes the output directly
            ytm = np.matmul(w2, cb.reshape(c * ntap, nout), out=y3[s0])
        else:
            ytm = yt[:, :m]
            np.matmul(w2, cb.reshape(c * ntap, m * nout), out=ytm.reshape(cout, m * nout))
        if b is not None:  # while the chunk is in cache
            ytm += b.reshape((cout,) + (1,) * (ytm.ndim - 1))
        if m > 1:
            y3[s0:s0 + m] = ytm.swapaxes(0, 1)
    return y


def conv_backward(g, x, w, pads, mode, stride, dilation):
    """Return (gx, gw) of the conv; the bias gradient is a plain reduction done by the caller.

    Per chunk: ``gw2.T += cols @ gT.T`` (BLAS reads the transposed view, no copy), and gx by
    :func:`_gx_unit_stride` (stride 1) or :func:`_gx_col2im` (any stride).
    """
    n, c = x.shape[:2]
    cout, ntap = w.shape[0], math.prod(w.shape[2:])
    out_sp, taps, nout = _geometry(x, w, pads, stride, dilation)
    gx = np.zeros(x.shape, dtype=x.dtype)
    gw2t = np.zeros((c * ntap, cout), dtype=x.dtype)
    if n == 0 or nout == 0:
        return gx, np.zeros(w.shape, dtype=x.dtype)
    g3 = g.reshape(n, cout, nout)
    nb = _chunk(n, max(c, cout) * ntap * nout * x.itemsize)
    cols = np.empty((c, ntap, nb, *out_sp), dtype=x.dtype)
    gt = np.empty((cout, nb, nout), dtype=x.dtype)
    # The unit-stride path correlates the zero-padded g with w: a NaN/inf tap would meet the pad (0 * inf =
    # nan) where spec's VJP has no such term; the scatter path multiplies real terms only.
    finite_w = bool(np.isfinite(w).all())
    gx_chunk = _gx_unit_stride if finite_w and all(s == 1 for s in stride) else _gx_col2im
    state = {}
    for s0 in range(0, n, nb):
        m = min(nb, n - s0)
        cb = cols if m == nb else np.empty((c, ntap, m, *out_sp), dtype=x.dtype)
        _im2col(pad(x[s0:s0 + m], pads, mode), cb, taps)
        gtm = gt[:, :m]
        gtm[...] = g3[s0:s0 + m].swapaxes(0, 1)
        gtm2 = gtm.reshape(cout, m * nout)
        # (C*T, L) @ (L, C_out): OpenBLAS is many times slower on the (C_out, L) @ (L, C*T) orientation
        gw2t += np.matmul(cb.reshape(c * ntap, m * nout), gtm2.T)
        gx_chunk(gx[s0:s0 + m], g[s0:s0 + m], gtm2, w, pads, mode, dilation, taps, state)
    return gx, np.ascontiguousarray(gw2t.T).reshape(w.shape)


def _gx_col2im(gx, g, gtm2, w, pads, mode, dilation, taps, state):
    """Any stride: gcols = w2.T @ g, scattered back with one strided accumulate per tap."""
    m, c = gx.shape[:2]
    cout, ntap = w.shape[0], math.prod(w.shape[2:])
    gcb = np.matmul(w.reshape(cout, c * ntap).T, gtm2)
    gc = gcb.reshape(c, ntap, m, *g.shape[2:]).swapaxes(0, 2)  # (m, T, C, *out) view
    padded = any(bf or af for bf, af in pads)
    shape = (m, c, *(xn + bf + af for xn, (bf, af) in zip(gx.shape[2:], pads, strict=True)))
    gxp = np.zeros(shape, dtype=gx.dtype) if padded else gx
    for t, sl in enumerate(taps):
        gxp[sl] += gc[:, t]
    if padded:
        unpad_into(gx, gxp, pads, mode)


def _gx_unit_stride(gx, g, gtm2, w, pads, mode, dilation, taps, state):
    """Stride 1: gx is a forward correlation of the zero-padded g with the flipped, transposed kernel,
    so it is built like the forward pass (tap copies + one GEMM), with no scatter-add."""
    m, c = gx.shape[:2]
    cout, kshape = w.shape[0], w.shape[2:]
    ntap = math.prod(kshape)
    if "wf" not in state:
        axes = tuple(range(2, w.ndim))
        state["wf"] = np.ascontiguousarray(np.flip(w, axis=axes).swapaxes(0, 1)).reshape(c, cout * ntap)
    full = [(d * (k - 1), d * (k - 1)) for k, d in zip(kshape, dilation, strict=True)]
    if mode == "periodic":  # every padded position, folded afterwards
        lo = (0,) * len(kshape)
        span = tuple(xn + bf + af for xn, (bf, af) in zip(gx.shape[2:], pads, strict=True))
    else:
        lo, span = tuple(bf for bf, _ in pads), gx.shape[2:]
    gpad = pad(g, full, "same")[(Ellipsis, *(slice(o, None) for o in lo))]
    gcols = np.empty((cout, ntap, m, *span), dtype=gx.dtype)
    _im2col(gpad, gcols, list(_tap_slices(kshape, (1,) * len(kshape), dilation, span)))
    res = np.matmul(state["wf"], gcols.reshape(cout * ntap, -1)).reshape(c, m, *span).swapaxes(0, 1)
    if mode == "periodic":
        unpad_into(gx, res, pads, mode)
    else:
        gx[...] = res


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
    return _axis_reduce(x, size, stride, np.maximum)  # np.maximum propagates NaN


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
