"""The scipy backend: the op table built on scipy's own routines, with algorithms chosen to differ
from a numpy im2col + GEMM so that agreement between backends means something.

=============  =====================================================================================
op             algorithm
=============  =====================================================================================
conv           small kernels: ``scipy.signal.correlate(method="direct")`` per output channel over the
               whole (N, C_in, *spatial) block, explicit padding, dilation by phase decomposition;
               large kernels (> ``FFT_MIN_TAPS`` dilated taps, finite inputs): 1-D overlap-save
               with batched ``scipy.fft.rfft``/``irfft`` and the channel sum in the frequency
               domain; N-D ``scipy.fft.rfftn`` with a per-frequency matmul (circular FFT with the
               kernel folded mod n for 'periodic'), or ``scipy.signal.oaconvolve`` for small
               broadcast blocks. See :mod:`impls._scipy_conv`.
conv_vjp       the adjoints: ``gx`` = full correlation of the zero-upsampled g with the flipped,
               channel-transposed kernel (scipy.signal direct, or frequency domain: 1-D overlap-add,
               edge inputs recomputed directly); ``gw`` = correlation of x with g (one tensordot
               per tap, or frequency domain summed over batch and blocks).
dense          ``scipy.linalg.blas`` ``?gemm`` (transposes as flags, no copies).
relu/tanh      numpy ufuncs; sigmoid ``scipy.special.expit``.
max_pool       ``scipy.ndimage.maximum_filter`` (origin -(k//2) = window starts at the output index),
               NaN windows found by ``maximum_filter`` of ``isnan``; gradient to the first max
               (or first NaN) in row-major window order by a scan over window offsets.
avg_pool       ``scipy.ndimage.correlate`` with a box of ones accumulated in float64, divided by k.
               (not ``uniform_filter``: its running sum drifts on large dynamic ranges.)
upsample       ``scipy.ndimage.zoom(order=0, grid_mode=True, mode="nearest")`` = ``np.repeat``
               (verified for factors 1-7, NaN/inf included); VJP block sum by reshape.
dropout_mask   ``scipy.stats.bernoulli.rvs(keep_prob, random_state=seed)``.
batch norm     two-pass moments accumulated in float64 (``np.mean``), output cast to x's dtype.
=============  =====================================================================================

Conv path choice (measured crossover and benchmark tables in :mod:`impls._scipy_conv`): 1-D FFT when
the dilated kernel has > 24 taps on >= 4096 points and each result element sums >= 64 products
(C_in * k for the output, C_out * k / stride for gx; fewer: direct, for accuracy); the FFT wins
from ~11-15 taps with 4 channels, ~15-31 with one, at 1e5 samples. At k=31 / k=101, C 4 -> 4,
float32, it is ~3.5x / ~10x faster than the numpy backend (fwd+vjp). N-D FFT above 2**26 direct
multiply-adds; direct otherwise and whenever an input is inf/NaN. FFT results are zeroed where the
contract's sum has no term (structural zeros).

Accuracy vs torch float64 autograd with random cotangents (max |err| / element magnitude
sum|x||w|): direct path 2-4e-16 (float64), 0.6-1.7e-7 (float32); FFT path on realistic sizes
0.01-0.4 of the suite's tolerance 2 u sqrt(K) m in both dtypes (1-D overlap-save, normal data,
k 25-101, strides 1-3, dilations 1-3, all paddings: <= 0.23 float32 vs a float64 reference), so no
expected deviation is declared.
Small problems never take the FFT path: there its noise (u * the largest output) exceeds the
element-wise bound wherever an output is much smaller than its neighbours.
"""

from __future__ import annotations

import numpy as np
import scipy
import scipy.linalg.blas as sblas
import scipy.ndimage as ndi
import scipy.sparse as sparse
import scipy.special as sspecial
import scipy.stats as sstats

from spec import validate as V

from . import _scipy_conv as sc
from .base import Backend

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


def _dt(x):
    """The compute dtype: x's own for float32/float64, float64 otherwise."""
    d = np.asarray(x).dtype
    return d if d in _FLOATS else np.dtype(np.float64)


def _as(a, dtype):
    return None if a is None else np.asarray(a, dtype=dtype)


def _bcast(v, ndim):
    """(C,) -> (1, C, 1, ...) for an array of ``ndim`` axes."""
    return v.reshape(1, -1, *([1] * (ndim - 2)))


def _stat_axes(x):
    return (0, *range(2, x.ndim))


class ScipyBackend(Backend):
    name = "scipy"
    device = "cpu"
    dtypes = ("float32", "float64")
    expected_deviations = ()
    conv_method = "auto"
    """'auto' (crossover rule), 'direct' or 'fft': force a conv path (used by tests and benchmarks)."""

    def metadata(self) -> dict:
        return {
            "numpy": np.__version__,
            "scipy": scipy.__version__,
            "conv": (f"scipy.signal.correlate(method='direct') for <= {sc.FFT_MIN_TAPS} dilated taps, "
                     f"< {sc.FFT_MIN_TERMS} products per element or any non-finite input; else 1-D "
                     "overlap-save scipy.fft rfft/irfft with the channel sum in frequency, N-D rfftn + "
                     "per-frequency channel matmul (oaconvolve for small blocks), circular FFT with "
                     "folded kernel for N-D periodic"),
            "conv_vjp": "adjoint correlations: scipy.signal direct / per-tap tensordot, or frequency domain",
            "dense": "scipy.linalg.blas gemm",
            "max_pool": "scipy.ndimage.maximum_filter + first-max scan",
            "avg_pool": "scipy.ndimage.correlate with a box of ones (float64 accumulation)",
            "upsample": "scipy.ndimage.zoom(order=0, grid_mode=True, mode='nearest')",
            "sigmoid": "scipy.special.expit",
            "dropout_mask": "scipy.stats.bernoulli.rvs(random_state=seed)",
            "batch_norm": "two-pass float64 moments",
        }

    # ------------------------------------------------------------------------------------- conv
    def conv(self, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        stride, dilation, pads = V.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        dt = _dt(x)
        x, w, b = np.asarray(x, dt), np.asarray(w, dt), _as(b, dt)
        out = V.conv_output_shape(x.shape, w.shape, padding=padding, stride=stride, dilation=dilation)
        if x.shape[0] == 0 or x.shape[1] == 0:
            y = np.zeros(out, dtype=dt)
            if b is not None:
                y += _bcast(b, y.ndim)
            return y
        return sc.conv_forward(x, w, b, padding=padding, stride=stride, dilation=dilation, pads=pads,
                               method=self.conv_method)

    def conv_vjp(self, g, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        stride, dilation, pads = V.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        V.check_cotangent(g, V.conv_output_shape(x.shape, w.shape, padding=padding, stride=stride,
                                                 dilation=dilation))
        dt = _dt(x)
        g, x, w = np.asarray(g, dt), np.asarray(x, dt), np.asarray(w, dt)
        if x.shape[0] == 0 or x.shape[1] == 0:
            gx, gw = np.zeros(x.shape, dt), np.zeros(w.shape, dt)
        else:
            gx, gw = sc.conv_vjp(g, x, w, padding=padding, stride=stride, dilation=dilation, pads=pads,
                                 method=self.conv_method)
        grads = (np.array(gx, dtype=dt, order="C"), np.array(gw, dtype=dt, order="C"))
        if b is not None:
            grads += (g.sum(axis=_stat_axes(g), dtype=dt),)
        return grads

    # ------------------------------------------------------------------------------------ dense
    @staticmethod
    def _gemm(a, b, *, trans_a=False, trans_b=False):
        m = a.shape[1] if trans_a else a.shape[0]
        n = b.shape[0] if trans_b else b.shape[1]
        k = a.shape[0] if trans_a else a.shape[1]
        if m == 0 or n == 0 or k == 0:
            return np.zeros((m, n), dtype=a.dtype)
        gemm = sblas.get_blas_funcs("gemm", (a, b))
        return np.ascontiguousarray(gemm(1.0, a, b, trans_a=int(trans_a), trans_b=int(trans_b)))

    def dense(self, x, w, b=None):
        V.check_dense(x, w, b)
        dt = _dt(x)
        x, w, b = np.asarray(x, dt), np.asarray(w, dt), _as(b, dt)
        y = self._gemm(x, w, trans_b=True)
        if b is not None:
            y += b
        return y

    def dense_vjp(self, g, x, w, b=None):
        V.check_dense(x, w, b)
        V.check_cotangent(g, (x.shape[0], w.shape[0]))
        dt = _dt(x)
        g, x, w = np.asarray(g, dt), np.asarray(x, dt), np.asarray(w, dt)
        grads = (self._gemm(g, w), self._gemm(g, x, trans_a=True))
        if b is not None:
            grads += (g.sum(axis=0, dtype=dt),)
        return grads

    # ------------------------------------------------------------------------------ activations
    def relu(self, x):
        V.check_elementwise(x)
        x = np.asarray(x, _dt(x))
        return np.maximum(x, x.dtype.type(0))  # NaN propagates, -0.0 -> 0.0 or -0.0 (equal)

    def relu_vjp(self, g, x):
        V.check_elementwise(x)
        V.check_cotangent(g, x.shape)
        dt = _dt(x)
        x, g = np.asarray(x, dt), np.asarray(g, dt)
        return (np.where(x > 0, g, np.where(np.isnan(x), x, dt.type(0))),)

    def sigmoid(self, x):
        V.check_elementwise(x)
        return sspecial.expit(np.asarray(x, _dt(x)))

    def sigmoid_vjp(self, g, x):
        V.check_elementwise(x)
        V.check_cotangent(g, x.shape)
        dt = _dt(x)
        # s (1 - s) with 1 - s = expit(-x), in float64: accurate in both tails. The naive s * (1 - s)
        # (spec's and torch's) cancels to 0 where s rounds to 1 (x > ~37 in float64, ~17 in float32).
        x = np.asarray(x, np.float64)
        return ((np.asarray(g, np.float64) * (sspecial.expit(x) * sspecial.expit(-x))).astype(dt),)

    def tanh(self, x):
        V.check_elementwise(x)
        return np.tanh(np.asarray(x, _dt(x)))

    def tanh_vjp(self, g, x):
        V.check_elementwise(x)
        V.check_cotangent(g, x.shape)
        dt = _dt(x)
        # sech^2 x in float64, not 1 - tanh^2 x: the latter is ill-conditioned once |tanh| ~ 1
        # (a 1-ulp difference in tanh changes it by ~ulp(1) / (1 - t^2) relative, i.e. 100% for
        # |x| > ~19), which is why it depends on which libm computed tanh.
        with np.errstate(over="ignore"):
            sech = 1.0 / np.cosh(np.asarray(x, np.float64))
        return ((np.asarray(g, np.float64) * (sech * sech)).astype(dt),)

    # ---------------------------------------------------------------------------------- pooling
    @staticmethod
    def _windows(shape, size, stride):
        """For every window offset in row-major order: spatial slices of the (strided) inputs it covers."""
        out = V.pool_output_shape(shape, size, stride)[2:]
        for off in np.ndindex(*size):
            yield [slice(a, a + s * (o - 1) + 1, s) for a, s, o in zip(off, stride, out, strict=True)]

    @staticmethod
    def _subsample(full, stride, out):
        return full[(slice(None), slice(None), *[slice(0, s * (o - 1) + 1, s) for s, o in
                                                 zip(stride, out, strict=True)])]

    def max_pool(self, x, *, size=2, stride=None):
        size, stride = V.check_pool(x, size=size, stride=stride)
        x = np.asarray(x, _dt(x))
        out = V.pool_output_shape(x.shape, size, stride)
        if x.size == 0:
            return np.zeros(out, x.dtype)
        nan = np.isnan(x)
        filt = dict(size=(1, 1, *size), origin=(0, 0, *[-(k // 2) for k in size]), mode="nearest")
        y = ndi.maximum_filter(np.where(nan, x.dtype.type(-np.inf), x), **filt)
        y = self._subsample(y, stride, out[2:])
        if nan.any():
            has_nan = self._subsample(ndi.maximum_filter(nan, **filt), stride, out[2:])
            y = np.where(has_nan, x.dtype.type(np.nan), y)
        y = np.ascontiguousarray(y)
        zero = y == 0
        if zero.any():  # +0.0 and -0.0 tie: spec's FIRST maximum (row-major) gives the sign of a zero result
            done = ~zero
            for sl in self._windows(x.shape, size, stride):
                xv = x[(slice(None), slice(None), *sl)]
                hit = ~done & (xv == 0)
                y[hit] = xv[hit]
                done |= hit
        return y

    def max_pool_vjp(self, g, x, *, size=2, stride=None):
        size, stride = V.check_pool(x, size=size, stride=stride)
        V.check_cotangent(g, V.pool_output_shape(x.shape, size, stride))
        dt = _dt(x)
        x, g = np.asarray(x, dt), np.asarray(g, dt)
        gx = np.zeros(x.shape, dt)
        if x.size == 0:
            return (gx,)
        y = self.max_pool(x, size=size, stride=stride)
        ynan = np.isnan(y)
        taken = np.zeros(y.shape, bool)
        for sl in self._windows(x.shape, size, stride):
            idx = (slice(None), slice(None), *sl)
            v = x[idx]
            hit = ~taken & ((v == y) | (np.isnan(v) & ynan))
            gx[idx] += np.where(hit, g, dt.type(0))
            taken |= hit
        return (gx,)

    def avg_pool(self, x, *, size=2, stride=None):
        size, stride = V.check_pool(x, size=size, stride=stride)
        x = np.asarray(x, _dt(x))
        out = V.pool_output_shape(x.shape, size, stride)
        if x.size == 0:
            return np.zeros(out, x.dtype)
        box = np.ones((1, 1, *size))
        s = ndi.correlate(x, box, output=np.float64, mode="constant",
                          origin=(0, 0, *[-(k // 2) for k in size]))
        return np.ascontiguousarray(self._subsample(s, stride, out[2:]) / np.prod(size), dtype=x.dtype)

    def avg_pool_vjp(self, g, x, *, size=2, stride=None):
        size, stride = V.check_pool(x, size=size, stride=stride)
        V.check_cotangent(g, V.pool_output_shape(x.shape, size, stride))
        dt = _dt(x)
        g = np.asarray(g, dt)
        gx = np.zeros(x.shape, np.float64)
        gk = g.astype(np.float64) / np.prod(size)
        for sl in self._windows(x.shape, size, stride):
            gx[(slice(None), slice(None), *sl)] += gk
        return (gx.astype(dt),)

    def upsample(self, x, *, factor=2):
        factor = V.check_upsample(x, factor=factor)
        x = np.asarray(x, _dt(x))
        out = (*x.shape[:2], *[n * f for n, f in zip(x.shape[2:], factor, strict=True)])
        if x.size == 0 or all(f == 1 for f in factor):
            return np.array(x, copy=True).reshape(out)
        y = ndi.zoom(x, (1, 1, *factor), order=0, grid_mode=True, mode="nearest", prefilter=False)
        neg_zero = (x == 0) & np.signbit(x)
        if neg_zero.any():  # zoom turns -0.0 into +0.0; nearest upsampling copies values bit for bit
            moved = ndi.zoom(neg_zero.astype(np.uint8), (1, 1, *factor), order=0, grid_mode=True, mode="nearest",
                             prefilter=False)
            y[moved.astype(bool)] = -0.0
        return y

    def upsample_vjp(self, g, x, *, factor=2):
        factor = V.check_upsample(x, factor=factor)
        V.check_cotangent(g, (*x.shape[:2], *[n * f for n, f in zip(x.shape[2:], factor, strict=True)]))
        dt = _dt(x)
        g = np.asarray(g, dt)
        shape = list(g.shape[:2])
        for n, f in zip(x.shape[2:], factor, strict=True):
            shape += [n, f]
        return (g.reshape(shape).sum(axis=tuple(range(3, len(shape), 2)), dtype=dt),)

    # ---------------------------------------------------------------------------------- dropout
    @staticmethod
    def _dropout_factor(x, mask, keep_prob, scaling, dt):
        m = np.asarray(mask, dt).reshape(*mask.shape, *([1] * (x.ndim - 2)))
        return m / dt.type(keep_prob) if scaling == "inverted" else m

    def dropout(self, x, mask, *, keep_prob, scaling="none", training=True):
        keep_prob = V.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
        dt = _dt(x)
        x = np.asarray(x, dt)
        if not training:
            return x.copy()
        return x * self._dropout_factor(x, mask, keep_prob, scaling, dt)

    def dropout_vjp(self, g, x, mask, *, keep_prob, scaling="none", training=True):
        keep_prob = V.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
        V.check_cotangent(g, x.shape)
        dt = _dt(x)
        g = np.asarray(g, dt)
        if not training:
            return (g.copy(),)
        return (g * self._dropout_factor(np.asarray(x), mask, keep_prob, scaling, dt),)

    def dropout_mask(self, shape, *, keep_prob, seed):
        shape, keep_prob = V.check_dropout_mask(shape, keep_prob=keep_prob, seed=seed)
        z = sstats.bernoulli.rvs(keep_prob, size=shape, random_state=np.random.default_rng(seed))
        return np.asarray(z, dtype=np.float64).reshape(shape)

    # ------------------------------------------------------------------------------- batch norm
    @staticmethod
    def _moments(x):
        ax = _stat_axes(x)
        mu = np.mean(x, axis=ax, dtype=np.float64)
        var = np.mean(np.square(x - _bcast(mu, x.ndim)), axis=ax)
        return mu, var

    def batch_norm(self, x, gamma, beta, *, eps=1e-5):
        V.check_batch_norm(x, gamma, beta, eps=eps)
        dt = _dt(x)
        x = np.asarray(x, dt)
        mu, var = self._moments(x)
        scale = np.asarray(gamma, np.float64) / np.sqrt(var + eps)
        y = (x - _bcast(mu, x.ndim)) * _bcast(scale, x.ndim) + _bcast(np.asarray(beta, np.float64), x.ndim)
        return y.astype(dt)

    def batch_norm_vjp(self, g, x, gamma, beta, *, eps=1e-5):
        V.check_batch_norm(x, gamma, beta, eps=eps)
        V.check_cotangent(g, x.shape)
        dt = _dt(x)
        x, g = np.asarray(x, dt), np.asarray(g, np.float64)
        ax = _stat_axes(x)
        mu, var = self._moments(x)
        inv = 1.0 / np.sqrt(var + eps)
        xhat = (x - _bcast(mu, x.ndim)) * _bcast(inv, x.ndim)
        gbeta = g.sum(axis=ax)
        ggamma = (g * xhat).sum(axis=ax)
        m = V.reduction_count(x.shape)
        gx = _bcast(np.asarray(gamma, np.float64) * inv, x.ndim) * (
            g - _bcast(gbeta / m, x.ndim) - xhat * _bcast(ggamma / m, x.ndim))
        return gx.astype(dt), ggamma.astype(dt), gbeta.astype(dt)

    def batch_norm_eval(self, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        V.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
        dt = _dt(x)
        x = np.asarray(x, dt)
        scale = np.asarray(gamma, np.float64) / np.sqrt(np.asarray(running_var, np.float64) + eps)
        y = ((x - _bcast(np.asarray(running_mean, np.float64), x.ndim)) * _bcast(scale, x.ndim)
             + _bcast(np.asarray(beta, np.float64), x.ndim))
        return y.astype(dt)

    def batch_norm_eval_vjp(self, g, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        V.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
        V.check_cotangent(g, x.shape)
        dt = _dt(x)
        x, g = np.asarray(x, dt), np.asarray(g, np.float64)
        ax = _stat_axes(x)
        inv = 1.0 / np.sqrt(np.asarray(running_var, np.float64) + eps)
        xhat = (x - _bcast(np.asarray(running_mean, np.float64), x.ndim)) * _bcast(inv, x.ndim)
        gx = g * _bcast(np.asarray(gamma, np.float64) * inv, x.ndim)
        return gx.astype(dt), (g * xhat).sum(axis=ax).astype(dt), g.sum(axis=ax).astype(dt)

    def running_stats(self, x, running_mean, running_var, *, momentum=0.1):
        m = V.check_running_stats(x, running_mean, running_var, momentum=momentum)
        dt = _dt(x)
        x = np.asarray(x, dt)
        mu, var = self._moments(x)
        var_unbiased = var * (V.reduction_count(x.shape) / (V.reduction_count(x.shape) - 1))
        new_mean = (1 - m) * np.asarray(running_mean, np.float64) + m * mu
        new_var = (1 - m) * np.asarray(running_var, np.float64) + m * var_unbiased
        return new_mean.astype(dt), new_var.astype(dt)

    # ------------------------------------------------------------------ locally connected, graph conv
    @staticmethod
    def _lc_index(xshape, wshape, stride, out):
        """Row and column of every weight in the layer's sparse (C_out*P, C_in*prod(n)) matrix, in w's order.

        Row ``o*P + p`` holds position p's kernel for output channel o on its window; no two weights share
        an entry, so the matrix is exactly w scattered (no summation).
        """
        nd = len(xshape) - 2
        c_in, sizes, ks = xshape[1], xshape[2:], wshape[nd + 2:]
        c_out, p = wshape[nd], int(np.prod(out))
        pos = np.indices(out).reshape(nd, p)
        taps = np.indices(ks).reshape(nd, -1)
        coords = pos[:, :, None] * np.asarray(stride)[:, None, None] + taps[:, None, :]  # (nd, P, K)
        spatial = np.ravel_multi_index(tuple(coords), sizes)  # (P, K)
        cols = np.arange(c_in)[None, :, None] * int(np.prod(sizes)) + spatial[:, None, :]  # (P, C_in, K)
        full = (p, c_out, c_in, spatial.shape[1])
        rows = np.broadcast_to(np.arange(c_out)[None, :, None, None] * p + np.arange(p)[:, None, None, None], full)
        return rows.ravel(), np.broadcast_to(cols[:, None], full).ravel(), (c_out * p, c_in * int(np.prod(sizes)))

    def locally_connected(self, x, w, b=None, *, stride=1):
        """scipy.sparse: the layer is one sparse matrix M applied to every sample, y = x_flat M^T."""
        stride, out = V.check_locally_connected(x, w, b, stride=stride)
        dt = _dt(x)
        x, w = np.asarray(x, dt), np.asarray(w, dt)
        rows, cols, shape = self._lc_index(x.shape, w.shape, stride, out)
        m = sparse.csr_matrix((w.ravel(), (rows, cols)), shape=shape)
        y = np.asarray(m @ x.reshape(x.shape[0], shape[1]).T, dtype=dt).T.reshape(x.shape[0], w.shape[x.ndim - 2], *out)
        if b is not None:
            y = y + np.asarray(b, dt)
        return np.ascontiguousarray(y)

    def locally_connected_vjp(self, g, x, w, b=None, *, stride=1):
        """gx = M^T g (sparse); gw = g x^T sampled on M's pattern, in chunks of entries."""
        stride, out = V.check_locally_connected(x, w, b, stride=stride)
        V.check_cotangent(g, (x.shape[0], w.shape[x.ndim - 2], *out))
        dt = _dt(x)
        x, w, g = np.asarray(x, dt), np.asarray(w, dt), np.asarray(g, dt)
        rows, cols, shape = self._lc_index(x.shape, w.shape, stride, out)
        m = sparse.csr_matrix((w.ravel(), (rows, cols)), shape=shape)
        g2, x2 = g.reshape(g.shape[0], shape[0]), x.reshape(x.shape[0], shape[1])
        gx = np.asarray(m.T @ g2.T, dtype=dt).T.reshape(x.shape)
        gw = np.empty(rows.size, dtype=dt)
        step = max(1, (1 << 22) // max(1, x.shape[0]))  # about 4M gathered products at a time
        for lo in range(0, rows.size, step):
            r, c = rows[lo:lo + step], cols[lo:lo + step]
            gw[lo:lo + step] = np.einsum("ie,ie->e", g2[:, r], x2[:, c])
        gw = gw.reshape(w.shape)
        return (gx, gw) if b is None else (gx, gw, g.sum(axis=0))

    @staticmethod
    def _graph_matrix(edges, n, normalize, self_loops, dt):
        """The aggregation as a sparse (V, V) matrix A[t, s] = sum of the coefficients of rows (s, t).

        Zero coefficients stay stored entries, so a NaN at a source with coefficient 0 still reaches its
        target (0 * NaN), exactly as in spec's loop.
        """
        edges = np.asarray(edges, dtype=np.int64)
        loops = np.arange(n if self_loops else 0)
        src, dst = np.concatenate([edges[:, 0], loops]), np.concatenate([edges[:, 1], loops])
        deg = np.bincount(dst, minlength=n).astype(np.float64)
        if normalize == "none":
            coef = np.ones(src.size)
        elif normalize == "mean":
            coef = 1.0 / deg[dst]
        else:
            inv = np.zeros(n)
            np.divide(1.0, np.sqrt(deg), out=inv, where=deg > 0)
            coef = inv[src] * inv[dst]
        return sparse.csr_matrix((coef.astype(dt), (dst, src)), shape=(n, n))

    def graph_conv(self, x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
        """scipy.sparse: y = A (x w^T) + b with A the normalised (V, V) aggregation matrix (the linear map
        first, as spec: a node no row targets has an empty row of A and never sees w)."""
        n = V.check_graph_conv(x, edges, w, b, normalize=normalize, self_loops=self_loops)
        dt = _dt(x)
        x, w = np.asarray(x, dt), np.asarray(w, dt)
        a = self._graph_matrix(edges, n, normalize, self_loops, dt)
        y = np.asarray(a @ (x @ w.T), dtype=dt)
        return y if b is None else y + np.asarray(b, dt)

    def graph_conv_vjp(self, g, x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
        """gx = A^T (g w), gw = g^T (A x), gb = sum of g."""
        n = V.check_graph_conv(x, edges, w, b, normalize=normalize, self_loops=self_loops)
        V.check_cotangent(g, (n, w.shape[0]))
        dt = _dt(x)
        x, w, g = np.asarray(x, dt), np.asarray(w, dt), np.asarray(g, dt)
        a = self._graph_matrix(edges, n, normalize, self_loops, dt)
        gx = np.asarray(a.T @ (g @ w), dtype=dt)
        gw = g.T @ np.asarray(a @ x, dtype=dt)
        return (gx, gw) if b is None else (gx, gw, g.sum(axis=0))
