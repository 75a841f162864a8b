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
        return np.ascontiguousarray(y)

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
