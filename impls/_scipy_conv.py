"""Convolution engine of the scipy backend: scipy.signal direct correlation and scipy.fft / oaconvolve.

Two algorithms, deliberately unlike a numpy im2col + GEMM:

* **direct** -- ``scipy.signal.correlate(method="direct")`` on whole ``(N, C_in, *spatial)``
  blocks against one output channel's ``(1, C_in, *k)`` kernel in 'valid' mode: scipy's N-D C loop
  sums over the batch-free kernel block, i.e. over ``C_in`` and the taps, in one call per output
  channel. Padding is explicit (``np.pad`` constant / wrap, so an even kernel's extra pad goes at
  the END and a periodic kernel longer than the input wraps as often as needed). Dilation is done
  by *phase decomposition* (``y[p::d] = corr(x[p::d], k)``), not by zero-dilating the kernel,
  because ``0 * inf`` would turn an inf input into NaN where the contract's sum has no such term.
  ``scipy.ndimage.correlate`` is NOT used: it silently drops weights with ``|w| <= DBL_EPSILON``
  (``correlate([1, 1e30], [1, 1e-20])`` gives 1, not 1e10) and skips ``0 * inf``.
* **fft** -- 1-D: *overlap-save* (``ols_forward``): the padded input cut into overlapping blocks of
  M = next_fast_len(max(8 * span, 1024)) points (hop M - span + 1), ONE batched ``scipy.fft.rfft``
  over all (N, C_in, block) rows, the kernel transformed at length M only (C_out * C_in short rows
  instead of the whole signal), the channel sum done in the frequency domain (multiply-accumulate
  over C_in, or a matmul per frequency for many channels), one batched ``irfft`` of the
  (N, C_out, block) rows. Stays in float32 for float32 input. 'periodic' is the same on the
  wrap-padded input. VJP (``ols_vjp``): ``gx`` = overlap-ADD of each g block linearly convolved
  with the kernel, ``gw`` = ``irfft(sum over n and blocks of conj(G) X)`` of length M cropped to
  the span. Inputs and outputs whose sums have fewer terms than the FFT's noise allows are done by
  direct summation: the outputs/inputs at a zero-padded edge (``exact_output_edges``,
  ``exact_edges``), and whole results with fewer than ``FFT_MIN_TERMS`` products per element.
  N-D: kernel dilated with zeros, ``scipy.fft.rfftn`` over the spatial axes of the whole batch,
  the channel sum as one complex matmul per frequency, ``irfftn``; 'periodic' is an exact
  circular correlation of length n with the kernel FOLDED modulo n (tap j lands on
  ``(j - before) mod n``), which is what makes kernels longer than the input work. Small linear
  N-D problems go through ``scipy.signal.oaconvolve`` with broadcasting over (N, C_out, C_in).
  The N-D VJPs are the adjoints in the frequency domain: ``gx = irfft(G K)`` (summed over C_out),
  ``gk = irfft(conj(G) X)`` (summed over N), with g upsampled by zeros for stride and, for
  'periodic', the kernel gradient unfolded (gathered) from the circular one.

FFT results are zeroed where the contract's sum has no term (``structural_masks``: O(n) per axis,
evaluated only near the edges; the former (out, k) index table cost ~40 ms at 1e5 points, k=101).

FFT rounding error is spread over a block (about u * log(M) * the block's largest magnitudes), so
it is only used when every input is finite (an inf or NaN would smear over the whole signal) and
the kernel is large; elsewhere direct summation is both faster and per-element accurate.

Crossover (``FFT_MIN_TAPS``), measured on the shared 2-core CPU box (noisy: load average 1.3-2.5
from other jobs), 1-D, N=1, 1e5 samples, 'valid', this module's conv forward (fwd) and forward +
conv_vjp (f+v) with the path forced, median of 11 interleaved runs, ms (C 4 -> 4 k < 23 is not
shown for fft: fewer than FFT_MIN_TERMS products, so the forced fft path runs direct)::

    C 1 -> 1  kernel  f64 direct  f64 fft   f32 direct  f32 fft   | f+v: f64 direct  f64 fft  f32 direct  f32 fft
              3       2.15        4.20      0.26        1.25      |      8.75        9.62     0.67        2.64
              7       1.29        1.97      0.22        0.85      |      8.71        8.92     1.59        3.32
              15      1.96        2.38      1.36        1.24      |      11.3        7.61     6.98        3.82
              23      2.36        2.91      2.91        1.36      |      11.0        7.46     8.81        3.89
              31      3.17        2.48      2.34        0.93      |      12.4        7.78     10.3        3.94
              63      3.57        2.47      4.25        1.42      |      14.4        7.85     11.4        3.92
              101     3.13        2.44      2.53        1.56      |      11.4        8.14     7.46        4.45
              201     4.17        3.01      2.28        1.29      |      15.6        9.50     9.42        4.04
    C 4 -> 4  23      16.7        12.2      49.3        4.55      |      52.6        30.3     73.6        12.3
              31      21.8        9.62      65.2        4.46      |      72.9        29.2     89.5        11.7
              63      35.0        12.3      42.7        3.79      |      109         29.4     109         8.36
              101     30.9        11.4      19.6        3.35      |      153         35.1     99.3        8.83
              201     49.1        13.5      30.9        3.71      |      310         39.6     190         10.2

(an earlier C 4 -> 4 run with the pure FFT path: f32 fwd 5.2 direct / 3.6 fft at k=11, 25.0 / 6.1 at
k=15; f+v 18.4 / 9.9 at k=11.) So the FFT wins from ~11-15 taps with 4 channels and ~15 (f32) to
~31 (f64) taps with one; ``FFT_MIN_TAPS = 24`` (FFT for > 24 dilated taps) sits in between, and
``FFT_MIN_TERMS`` keeps single-channel kernels under 64 taps on the (cheap) direct path.

Benchmark (``python -m benchmarks --backend numpy --backend scipy --backend torch-cpu --only
conv1d``, float32, N=1, C 4 -> 4, 1e5 samples, 'same', median ms, load average ~1.6; numpy and
scipy from the same run; "before" = the previous whole-signal rfftn / oaconvolve + direct-gx code,
run alternately with "after" on the same machine)::

    kernel  mode          numpy   scipy before   scipy after
    3       fwd           0.57    1.97           2.84   (direct path, unchanged)
    3       fwd+vjp       8.75    6.74           8.86
    31      fwd           17.6    57.6           4.40
    31      fwd+vjp       43.6    103.8          11.0
    101     fwd           41.4    85.5           3.61
    101     fwd+vjp       140.4   222.1          11.7

(a second alternating pair: numpy 15.9 / 47.3 (k31), 51.4 / 155.3 (k101); scipy after 4.65 / 11.9
(k31), 5.98 / 15.3 (k101); scipy before 39.0 / 134.6 (k31), 102.3 / 222.3 (k101).) 1-D "direct" is
scipy.signal.correlate on 1-D arrays, which scipy hands to a vectorised dot; its N-D direct loop is
~50x slower: 11 ms for k=3 on the same signal, and 0.6 s per output channel for N=32, C_in=64,
32x32, 3x3 -- hence the N-D rule ``FFT_MIN_WORK``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import scipy.fft as sfft
import scipy.signal as ssig

FFT_MIN_TAPS = 24
"""1-D: use the FFT when the dilated kernel has more than this many taps (measured crossover, see above)."""
FFT_MIN_WORK = 2**26
"""N-D: FFT above this many direct multiply-adds (N * C_in * C_out * points * taps)."""
FFT_MIN_SIGNAL = 4096
"""1-D: ...and only when the input has at least this many spatial points. Below it direct summation is as
fast and, unlike the FFT, accurate per element (an FFT output whose exact value is 0 comes out as
noise of the size u * the largest output, which an element-wise tolerance rightly rejects)."""
FFT_MIN_TERMS = 64
"""1-D: ...and, per result, only when each output (C_in * k products) or input gradient (C_out * ~k /
stride products) sums at least this many products. The FFT's error is ~c u * rms(result) (c ~ 25 at
the worst of 1e5 elements, block length 1024), the tolerance 2 u sqrt(K) m with m ~ 0.64 K rms-units
for normal data, so the worst ratio goes like 1/K: measured 0.6-0.7 at K = 25-33, 0.13-0.18 at
K = 100-130. K >= 64 keeps it below ~0.35; fewer terms use direct summation (cheap at that size)."""
OACONV_MAX_ELEMS = 2**22
"""N-D linear FFT forward via oaconvolve when the broadcast (N, C_out, C_in, *out) block is this small."""
OLS_FACTOR = 8
"""1-D overlap-save block length: next_fast_len(OLS_FACTOR * span) points (at least OLS_MIN_BLOCK)."""
OLS_MIN_BLOCK = 1024
MIX_LOOP_MAX = 8
"""Channel sums over at most this many channels are a multiply-accumulate loop, else a matmul."""
FFT_WORKERS = 1
"""scipy.fft worker threads. 2 was measured no faster on the shared 2-core box (k=31: 21.3 vs 18.9 ms,
k=101: 14.9 vs 14.3 ms fwd+vjp, C 4 -> 4, 1e5 samples, load ~3): the block transforms are short."""


def choose(x, w, span, *arrays, method="auto"):
    """'direct' or 'fft'. 1-D: the measured tap crossover on signals of >= FFT_MIN_SIGNAL points.
    N-D: scipy's N-D direct loop is ~100x slower than its 1-D dot path (0.6 s per output channel
    for N=32, C_in=64, 32x32, 3x3), so above FFT_MIN_WORK multiply-adds the FFT is used."""
    finite = all(np.isfinite(a).all() for a in arrays if a is not None)
    if method in ("direct", "fft"):
        return method if finite else "direct"
    taps, npts = int(np.prod(span)), int(np.prod(x.shape[2:]))
    if len(span) == 1:
        fast = taps > FFT_MIN_TAPS and npts >= FFT_MIN_SIGNAL
    else:
        fast = x.shape[0] * x.shape[1] * w.shape[0] * npts * taps >= FFT_MIN_WORK
    return "fft" if (finite and fast) else "direct"


def _any_window(ind, lo, starts, step, count):
    """out[q] = any(ind[starts[q] + step * j - lo] for j in range(count)), ``ind`` False outside.

    O(len) via a cumulative sum along each residue class mod ``step`` (no (out, k) index table:
    that table was 10^7 entries, ~40 ms, for a 1e5-point signal and a 101-tap kernel)."""
    starts = np.asarray(starts, dtype=np.int64)
    if starts.size == 0 or count <= 0:
        return np.zeros(starts.shape, bool)
    p0 = int(starts.min()) - step
    length = int(starts.max()) + step * (count - 1) - p0 + 1
    length = -(-length // step) * step
    e = np.zeros(length, np.int64)
    a, b = max(lo, p0), min(lo + len(ind), p0 + length)
    if b > a:
        e[a - p0:b - p0] = ind[a - lo:b - lo]
    c = e.reshape(-1, step).cumsum(axis=0).ravel()
    return c[starts + step * (count - 1) - p0] > c[starts - step - p0]


def axis_masks(n, k, s, d, out, before, periodic):
    """Per axis: (outputs with a product, taps with a product, inputs that receive a product).
    Output i reads inputs s i + d j - before (j < k), so each is an arithmetic progression test."""
    if periodic:
        if s == 1:  # out == n and tap 0 alone reaches every input
            return np.ones(out, bool), np.ones(k, bool), np.ones(n, bool)
        # input t is touched iff some unwrapped index s i + d j - before == t (mod n)
        hi = s * (out - 1) + d * (k - 1) + 1  # unwrapped indices -before .. hi - 1 - before
        onto = np.zeros(hi, bool)
        onto[0:s * (out - 1) + 1:s] = True
        u = _any_window(onto, 0, np.arange(hi) - d * (k - 1), d, k)
        return np.ones(out, bool), np.ones(k, bool), fold(u[None].astype(np.int64), 1, n, -before)[0] > 0

    def reaches(a, step, count):
        """For each start a: does a + step * m (0 <= m < count) hit [0, n)?"""
        m0 = np.maximum(0, -(a // step))  # first m with a + step m >= 0
        return (m0 < count) & (a + step * m0 < n)

    def edges(total, lo, hi, f):
        """f over range(total), evaluated only outside [lo, hi], where it is known to be True."""
        mask = np.ones(total, bool)
        idx = np.r_[0:max(0, min(lo, total)), max(0, hi + 1):total]
        mask[idx] = f(idx)
        return mask

    # output i: its tap 0 alone is real when before <= s i <= n - 1 + before
    fwd = edges(out, -(-before // s), (n - 1 + before) // s, lambda i: reaches(s * i - before, d, k))
    taps = reaches(d * np.arange(k) - before, s, out)
    if s == 1:
        # input t: some j with 0 <= t + before - d j <= out - 1 (j = 0 works for -before <= t <= out-1-before)
        def hit(t):
            t = t + before
            return np.maximum(0, -((out - 1 - t) // d)) <= np.minimum(k - 1, t // d)
        touched = edges(n, -before, out - 1 - before, hit)
    else:
        onto = np.zeros(s * (out - 1) + 1, bool)
        onto[::s] = True
        touched = _any_window(onto, 0, np.arange(n) + before - d * (k - 1), d, k)
    return fwd, taps, touched


def structural_masks(xshape, wshape, stride, dilation, pads, padding):
    """Boolean masks (broadcastable) of the outputs, kernel taps and inputs that receive at least
    one product. The FFT spreads rounding noise everywhere; these entries are exactly 0 in the
    contract's sum, so the FFT result is zeroed there."""
    nd = len(xshape) - 2
    fwd, gw, gx = [], [], []
    for a in range(nd):
        n, k, s, d = xshape[2 + a], wshape[2 + a], stride[a], dilation[a]
        span = d * (k - 1) + 1
        out = (n + sum(pads[a]) - span) // s + 1
        masks = axis_masks(n, k, s, d, out, pads[a][0], padding == "periodic")
        shape = [1] * (nd + 2)
        shape[2 + a] = -1
        for lst, m in zip((fwd, gw, gx), masks, strict=True):
            lst.append(m.reshape(shape))
    return [np.logical_and.reduce(np.broadcast_arrays(*m)) if nd > 1 else m[0] for m in (fwd, gw, gx)]


def _spatial(a, sl):
    return a[(slice(None), slice(None), *sl)]


def dilate(w, dilation):
    if all(d == 1 for d in dilation):
        return w
    span = [d * (k - 1) + 1 for k, d in zip(w.shape[2:], dilation, strict=True)]
    out = np.zeros((*w.shape[:2], *span), dtype=w.dtype)
    _spatial(out, [slice(None, None, d) for d in dilation])[...] = w
    return out


def pad(x, pads, padding):
    if padding == "valid" or all(p == (0, 0) for p in pads):
        return x
    return np.pad(x, ((0, 0), (0, 0), *pads), mode="wrap" if padding == "periodic" else "constant")


def fold(a, axis, n, offset):
    """b[(t + offset) mod n] += a[t] along ``axis``: the adjoint of a periodic extension."""
    q = offset % n
    length = a.shape[axis]
    total = -(-(q + length) // n) * n
    widths = [(0, 0)] * a.ndim
    widths[axis] = (q, total - q - length)
    b = np.pad(a, widths)
    shape = list(b.shape)
    shape[axis:axis + 1] = [total // n, n]
    return b.reshape(shape).sum(axis=axis)


def unfold(a, axis, length, n, offset):
    """b[t] = a[(t + offset) mod n] for t < length: the periodic extension (adjoint of fold)."""
    return np.take(a, (np.arange(length) + offset) % n, axis=axis)


def fold_all(a, ns, offsets):
    for i, (n, off) in enumerate(zip(ns, offsets, strict=True)):
        a = fold(a, 2 + i, n, off)
    return a


def upsample_zeros(g, stride, full):
    if all(s == 1 for s in stride) and tuple(g.shape[2:]) == tuple(full):
        return g
    gu = np.zeros((*g.shape[:2], *full), dtype=g.dtype)
    _spatial(gu, [slice(None, s * (o - 1) + 1, s) for s, o in zip(stride, g.shape[2:], strict=True)])[...] = g
    return gu


# ----------------------------------------------------------------------------------------- direct
def _corr_sum(a, k):
    """'valid' correlation summed over channels: a (N, C, *L), k (1, C, *S) -> (N, 1, *out).

    N-D: one ``scipy.signal.correlate`` call (its N-D direct loop sums over C and the taps).
    1-D: scipy dispatches 1-D arrays to a vectorised dot per output (np.correlate), ~100x faster
    than its N-D loop for long signals, so loop over (n, c) there.
    """
    if a.ndim > 3:
        return ssig.correlate(a, k, mode="valid", method="direct")
    y = np.zeros((a.shape[0], 1, a.shape[2] - k.shape[2] + 1), dtype=a.dtype)
    for n in range(a.shape[0]):
        for c in range(a.shape[1]):
            y[n, 0] += ssig.correlate(a[n, c], k[0, c], mode="valid", method="direct")
    return y


def direct_valid(xp, w, dilation):
    """Stride-1 'valid' correlation, (N, C_in, *L) x (C_out, C_in, *k) -> (N, C_out, *full)."""
    n_, cout = xp.shape[0], w.shape[0]
    full = [ln - d * (k - 1) for ln, k, d in zip(xp.shape[2:], w.shape[2:], dilation, strict=True)]
    y = np.zeros((n_, cout, *full), dtype=xp.dtype)
    if xp.shape[1] == 0 or n_ == 0:
        return y
    for phase in itertools.product(*(range(min(d, f)) for d, f in zip(dilation, full, strict=True))):
        sl = [slice(p, None, d) for p, d in zip(phase, dilation, strict=True)]
        xs = _spatial(xp, sl)
        ys = _spatial(y, sl)
        for o in range(cout):
            ys[:, o:o + 1] = _corr_sum(xs, w[o:o + 1])
    return y


def _per_tap(w, stride, dilation, out):
    """(tap index, spatial slices selecting the inputs that tap touches) for every kernel tap."""
    for tap in itertools.product(*(range(k) for k in w.shape[2:])):
        yield tap, [slice(d * j, d * j + s * (o - 1) + 1, s)
                    for j, d, s, o in zip(tap, dilation, stride, out, strict=True)]


def direct_grad_w(xp, g, w, stride, dilation):
    """gw[o, c, j] = sum_{n, i} g[n, o, i] xp[n, c, s i + d j]: one tensordot per tap, exact terms only."""
    gw = np.zeros(w.shape, dtype=xp.dtype)
    red = [0, *range(2, g.ndim)]
    for tap, sl in _per_tap(w, stride, dilation, g.shape[2:]):
        gw[(slice(None), slice(None), *tap)] = np.tensordot(g, _spatial(xp, sl), axes=(red, red))
    return gw


def direct_grad_xp(g, w, stride, dilation, lshape):
    """Gradient wrt the padded input, shape (N, C_in, *L)."""
    n_, cin = g.shape[0], w.shape[1]
    if np.isfinite(g).all() and np.isfinite(w).all():
        # full convolution of the zero-upsampled g with the dilated kernel, as a scipy.signal
        # 'valid' correlation of the (span-1)-padded g with the flipped, channel-transposed kernel
        wd = dilate(w, dilation)
        span = wd.shape[2:]
        full = [ln - sp + 1 for ln, sp in zip(lshape, span, strict=True)]
        gu = upsample_zeros(g, stride, full)
        gup = np.pad(gu, ((0, 0), (0, 0), *[(sp - 1, sp - 1) for sp in span]))
        wt = np.ascontiguousarray(np.flip(wd, axis=tuple(range(2, wd.ndim))).swapaxes(0, 1))
        gxp = np.empty((n_, cin, *lshape), dtype=g.dtype)
        for c in range(cin):
            gxp[:, c:c + 1] = _corr_sum(gup, wt[c:c + 1])
        return gxp
    # non-finite g or w: zero-upsampling would create 0 * inf terms the contract's sum lacks
    gxp = np.zeros((n_, cin, *lshape), dtype=g.dtype)
    for tap, sl in _per_tap(w, stride, dilation, g.shape[2:]):
        contrib = np.tensordot(g, w[(slice(None), slice(None), *tap)], axes=([1], [0]))
        _spatial(gxp, sl)[...] += np.moveaxis(contrib, -1, 1)
    return gxp


# -------------------------------------------------------------------------------------------- fft
def _mix(a, b):
    """sum_c a[i, c, *F] * b[j, c, *F'] -> (i, j, *F) (F' broadcasts against F).

    Few channels: a multiply-accumulate over c on whole (i, j, *F) blocks (measured 3.6x faster than
    a batched matmul of 1x4 @ 4x4 matrices per frequency); many: one complex matmul per frequency."""
    c = a.shape[1]
    if c <= MIX_LOOP_MAX:
        y = a[:, None, 0] * b[None, :, 0]
        for ci in range(1, c):
            y += a[:, None, ci] * b[None, :, ci]
        return y
    am = np.moveaxis(a, (0, 1), (-2, -1))  # (*F, i, c)
    bm = np.moveaxis(b, (0, 1), (-1, -2))  # (*F', c, j)
    return np.moveaxis(am @ bm, (-2, -1), (0, 1))


def _axes(a):
    return tuple(range(2, a.ndim))


def _crop(a, lengths):
    return _spatial(a, [slice(0, ln) for ln in lengths])


def _rfftn(a, s, axes):
    return sfft.rfftn(a, s=s, axes=axes, workers=FFT_WORKERS)


def _irfftn(a, s, axes):
    return sfft.irfftn(a, s=s, axes=axes, workers=FFT_WORKERS)


# 1-D: overlap-save with the channel sum in the frequency domain ------------------------------------
def ols_blocks(span, full):
    """(M, B, nb): FFT block length M, hop B = M - span + 1 (outputs per block), block count.
    M ~ OLS_FACTOR spans keeps the kernel transforms short (C_out * C_in rows of M points instead of
    the whole signal) and the rounding noise local to a block; one block when the signal is short."""
    m = sfft.next_fast_len(max(OLS_FACTOR * span, OLS_MIN_BLOCK), real=True)
    if m - span + 1 >= full:
        m = sfft.next_fast_len(full + span - 1, real=True)
    hop = m - span + 1
    return m, hop, -(-full // hop)


def _segments_rfft(xp, m, hop, nb):
    """rfft of the nb overlapping length-m segments xp[..., b*hop : b*hop + m] -> (N, C, nb, m//2+1)."""
    need = (nb - 1) * hop + m
    if xp.shape[-1] < need:
        xp = np.pad(xp, ((0, 0), (0, 0), (0, need - xp.shape[-1])))
    seg = np.lib.stride_tricks.sliding_window_view(xp[..., :need], m, axis=-1)[:, :, ::hop]
    return sfft.rfft(seg, n=m, axis=-1, workers=FFT_WORKERS)


def ols_forward(xp, wd):
    """Stride-1 'valid' correlation, (N, C_in, L) x (C_out, C_in, S) -> (N, C_out, L - S + 1)."""
    n_, cout, span = xp.shape[0], wd.shape[0], wd.shape[-1]
    full = xp.shape[-1] - span + 1
    m, hop, nb = ols_blocks(span, full)
    xf = _segments_rfft(xp, m, hop, nb)                                   # (N, C_in, nb, F)
    kf = sfft.rfft(wd, n=m, axis=-1, workers=FFT_WORKERS)[:, :, None]     # (C_out, C_in, 1, F)
    y = sfft.irfft(_mix(xf, kf.conj()), n=m, axis=-1, workers=FFT_WORKERS)  # (N, C_out, nb, m)
    return y[..., :hop].reshape(n_, cout, nb * hop)[..., :full]


def ols_vjp(xp, wd, gu, want_gx=True):
    """(gxp, gwd) of ols_forward; gu is g upsampled to the stride-1 'valid' shape (N, C_out, full).
    gxp: overlap-ADD of each g block linearly convolved with the kernel; gwd: circular correlation
    of each g block with its input segment, summed over blocks and batch before one short irfft."""
    n_, cin, lx = xp.shape
    span = wd.shape[-1]
    full = lx - span + 1
    m, hop, nb = ols_blocks(span, full)
    xf = _segments_rfft(xp, m, hop, nb)                                   # (N, C_in, nb, F)
    gz = np.zeros((*gu.shape[:2], nb * hop), dtype=gu.dtype)
    gz[..., :full] = gu
    gf = sfft.rfft(gz.reshape(*gu.shape[:2], nb, hop), n=m, axis=-1, workers=FFT_WORKERS)  # (N, C_out, nb, F)
    gxp = None
    if want_gx:
        kf = sfft.rfft(wd, n=m, axis=-1, workers=FFT_WORKERS)            # (C_out, C_in, F)
        yb = sfft.irfft(_mix(gf, kf.swapaxes(0, 1)[:, :, None]), n=m, axis=-1, workers=FFT_WORKERS)
        acc = np.zeros((n_, cin, nb + 1, hop), dtype=yb.dtype)           # hop >= span - 1
        acc[:, :, :nb] += yb[..., :hop]
        acc[:, :, 1:, :span - 1] += yb[..., hop:]
        gxp = acc.reshape(n_, cin, (nb + 1) * hop)[..., :lx]
    # sum over (n, block) per frequency: (F, C_out, N nb) @ (F, N nb, C_in)
    a = np.moveaxis(gf.conj(), 1, -1).reshape(n_ * nb, -1, gf.shape[1]).transpose(1, 2, 0)
    b = np.moveaxis(xf, 1, -1).reshape(n_ * nb, -1, cin).transpose(1, 0, 2)
    gwd = sfft.irfft(np.moveaxis(a @ b, 0, -1), n=m, axis=-1, workers=FFT_WORKERS)[..., :span]
    return gxp, gwd


def exact_edges(gxp, gu, w, dilation):
    """Recompute, by direct summation, the first and last span-1 entries of a 1-D gxp: with zero
    padding they meet fewer than all taps (an input at the very edge meets ONE), so their values
    can be far below the FFT's noise floor (u * the block's magnitudes; measured 5-13x the
    element-wise tolerance for k=40 'valid')."""
    span = dilation[0] * (w.shape[-1] - 1) + 1
    full = gu.shape[-1]
    a = min(span - 1, full)
    if a == 0:
        return gxp
    one = (1,)
    gxp[..., :span - 1] = direct_grad_xp(gu[..., :a], w, one, dilation, (a + span - 1,))[..., :span - 1]
    gxp[..., -(span - 1):] = direct_grad_xp(gu[..., full - a:], w, one, dilation, (a + span - 1,))[..., -(span - 1):]
    return gxp


def exact_output_edges(y, xp, w, dilation, pad1):
    """Recompute, by direct summation, the stride-1 outputs of a 1-D zero-padded conv whose window
    reaches into the padding (the first ``before`` and last ``after``): they have fewer real terms,
    so a smaller element-wise tolerance, than the FFT's block-wide noise is sized for."""
    before, after = pad1
    span = dilation[0] * (w.shape[-1] - 1) + 1
    full = y.shape[-1]
    lo, hi = min(before, full), max(full - after, min(before, full))
    if lo > 0:
        y[..., :lo] = direct_valid(xp[..., :lo + span - 1], w, dilation)
    if hi < full:
        y[..., hi:] = direct_valid(xp[..., hi:], w, dilation)
    return y


# N-D: one FFT over the whole (padded) spatial block ------------------------------------------------
def fft_forward_linear(xp, wd):
    """Stride-1 'valid' correlation through the FFT (xp already padded)."""
    lshape, span = xp.shape[2:], wd.shape[2:]
    full = [ln - sp + 1 for ln, sp in zip(lshape, span, strict=True)]
    if xp.shape[0] * wd.shape[0] * xp.shape[1] * int(np.prod(full)) <= OACONV_MAX_ELEMS:
        flipped = np.flip(wd, axis=_axes(wd))
        axes = tuple(range(3, xp.ndim + 1))
        y = ssig.oaconvolve(xp[:, None], flipped[None], mode="valid", axes=axes)
        return y.sum(axis=2, dtype=xp.dtype)
    pshape = [sfft.next_fast_len(ln, real=True) for ln in lshape]
    xf = _rfftn(xp, pshape, _axes(xp))
    kf = _rfftn(wd, pshape, _axes(wd))
    y = _irfftn(_mix(xf, kf.conj()), pshape, _axes(xp))
    return _crop(y, full)


def fft_forward_periodic(x, wd, pads):
    ns = x.shape[2:]
    kf = fold_all(wd, ns, [-b for b, _ in pads])
    xf = _rfftn(x, None, _axes(x))
    kff = _rfftn(kf, ns, _axes(kf))
    return _irfftn(_mix(xf, kff.conj()), ns, _axes(x))


def fft_vjp_linear(xp, wd, gu):
    """(gxp, gwd) for the linear correlation; gu is g upsampled to the stride-1 full shape."""
    lshape, span = xp.shape[2:], wd.shape[2:]
    pshape = [sfft.next_fast_len(ln, real=True) for ln in lshape]
    ax = _axes(xp)
    xf = _rfftn(xp, pshape, ax)
    kf = _rfftn(wd, pshape, ax)
    gf = _rfftn(gu, pshape, ax)
    gxp = _crop(_irfftn(_mix(gf, kf.swapaxes(0, 1)), pshape, ax), lshape)
    gwd = _crop(_irfftn(_mix(gf.conj().swapaxes(0, 1), xf.swapaxes(0, 1)), pshape, ax), span)
    return gxp, gwd


def fft_vjp_periodic(x, wd, gu, pads):
    ns = x.shape[2:]
    offsets = [-b for b, _ in pads]
    ax = _axes(x)
    kf = _rfftn(fold_all(wd, ns, offsets), ns, ax)
    xf = _rfftn(x, None, ax)
    gf = _rfftn(gu, ns, ax)
    gx = _irfftn(_mix(gf, kf.swapaxes(0, 1)), ns, ax)
    gk = _irfftn(_mix(gf.conj().swapaxes(0, 1), xf.swapaxes(0, 1)), ns, ax)
    for i, (n, off) in enumerate(zip(ns, offsets, strict=True)):
        gk = unfold(gk, 2 + i, wd.shape[2 + i], n, off)
    return gx, gk


# --------------------------------------------------------------------------------------- drivers
def conv_forward(x, w, b, *, padding, stride, dilation, pads, method="auto"):
    """x, w, b already in the compute dtype; returns (N, C_out, *out)."""
    span = [d * (k - 1) + 1 for k, d in zip(w.shape[2:], dilation, strict=True)]
    algo = choose(x, w, span, x, w, method=method)
    if algo == "fft" and x.ndim == 3 and w.shape[1] * w.shape[2] < FFT_MIN_TERMS:
        algo = "direct"  # too few terms per output to hide the FFT's noise (see FFT_MIN_TERMS)
    if algo == "fft" and x.ndim == 3:
        xp = pad(x, pads, padding)
        y = ols_forward(xp, dilate(w, dilation))
        if padding != "periodic":
            y = exact_output_edges(y, xp, w, dilation, pads[0])
    elif algo == "fft" and padding == "periodic":
        y = fft_forward_periodic(x, dilate(w, dilation), pads)
    elif algo == "fft":
        y = fft_forward_linear(pad(x, pads, padding), dilate(w, dilation))
    else:
        y = direct_valid(pad(x, pads, padding), w, dilation)
    y = _spatial(y, [slice(None, None, s) for s in stride])
    if algo == "fft":
        y = np.where(structural_masks(x.shape, w.shape, stride, dilation, pads, padding)[0], y, 0)
    y = np.array(y, dtype=x.dtype, order="C")
    if b is not None:
        y += b.reshape(-1, *([1] * (x.ndim - 2)))
    return y


def conv_vjp(g, x, w, *, padding, stride, dilation, pads, method="auto"):
    """(gx, gw) for the conv without bias; all arrays in the compute dtype."""
    ns = x.shape[2:]
    span = [d * (k - 1) + 1 for k, d in zip(w.shape[2:], dilation, strict=True)]
    algo = choose(x, w, span, x, w, g, method=method)
    if algo == "fft" and padding == "periodic" and x.ndim > 3:
        gu = upsample_zeros(g, stride, ns)
        gx, gwd = fft_vjp_periodic(x, dilate(w, dilation), gu, pads)
        gw = _spatial(gwd, [slice(None, None, d) for d in dilation])
        return _masked(gx, gw, x, w, stride, dilation, pads, padding)
    xp = pad(x, pads, padding)
    lshape = xp.shape[2:]
    if algo == "fft":
        full = [ln - sp + 1 for ln, sp in zip(lshape, span, strict=True)]
        gu = upsample_zeros(g, stride, full)
        if x.ndim == 3:
            # an input meets C_out * ~k / stride products: with too few, direct summation. Periodic
            # with gcd(stride, dilation) = q not dividing n: the wrap lands inputs of one residue
            # class mod q on another, so some inputs meet only a few edge taps (measured 30-55x
            # the tolerance for n=9999, k=257, s=d=2): direct there too.
            q = math.gcd(stride[0], dilation[0])
            fft_gx = (w.shape[0] * -(-w.shape[2] // stride[0]) >= FFT_MIN_TERMS
                      and (padding != "periodic" or ns[0] % q == 0))
            gxp, gwd = ols_vjp(xp, dilate(w, dilation), gu, want_gx=fft_gx)
            if not fft_gx:
                gxp = direct_grad_xp(g, w, stride, dilation, lshape)
            elif padding != "periodic":
                gxp = exact_edges(gxp, gu, w, dilation)
        else:
            gxp, gwd = fft_vjp_linear(xp, dilate(w, dilation), gu)
        gw = _spatial(gwd, [slice(None, None, d) for d in dilation])
    else:
        gxp = direct_grad_xp(g, w, stride, dilation, lshape)
        gw = direct_grad_w(xp, g, w, stride, dilation)
    if padding == "periodic":
        gx = fold_all(gxp, ns, [-b for b, _ in pads])
    else:
        gx = _spatial(gxp, [slice(b, b + n) for (b, _), n in zip(pads, ns, strict=True)])
    if algo == "fft":
        return _masked(gx, gw, x, w, stride, dilation, pads, padding)
    return gx, gw


def _masked(gx, gw, x, w, stride, dilation, pads, padding):
    _, mw, mx = structural_masks(x.shape, w.shape, stride, dilation, pads, padding)
    return np.where(mx, gx, 0), np.where(mw, gw, 0)
