"""The numpy backend: every op of the spec table, vectorised, with hand-written VJPs.

* Outputs keep x's dtype (float32 in, float32 out); other arrays are cast to it.
* No Python loop runs over batch, channels or pixels.  Loops run over kernel taps, pooling-window
  taps and batch chunks only (see :mod:`impls._numpy_kernels`).
* conv: channels-first im2col in L2-sized blocks (COL_BLOCK_BYTES = 1 MiB), each consumed by one
  GEMM while in cache and written straight into the output.  Peak extra memory of ``conv`` (beyond x,
  w and the output): one column block (1 MiB, or one row of the first spatial axis if larger) plus one
  padded input chunk (one sample, or the few samples of a block).  ``conv_vjp`` holds about twice
  that, for any batch size; the whole-input im2col (``prod(k)`` times x) is never formed.  Details and
  the profile that chose this in :mod:`impls._numpy_kernels`.
* batch norm: two passes over x (statistics merged with Chan's formula, then the affine output),
  each over cache-sized blocks, so no full-size temporary besides the result.
"""

from __future__ import annotations

import math

import numpy as np

from spec import validate

from . import _numpy_kernels as K
from .base import Backend

__all__ = ["NumpyBackend"]


def _dt(x) -> np.dtype:
    dt = np.asarray(x).dtype
    return dt if dt.kind == "f" else np.dtype(np.float64)


def _as(a, dt):
    return None if a is None else np.asarray(a, dtype=dt)


def _ch(v, ndim):
    """A (C,) vector shaped to broadcast over (N, C, *spatial)."""
    return v.reshape((-1,) + (1,) * (ndim - 2))


def _flat3(a):
    """(N, C, *spatial) or (N, C) viewed as (N, C, S); copies only if not contiguous."""
    return np.ascontiguousarray(a).reshape(a.shape[0], a.shape[1], math.prod(a.shape[2:]))


def _csum(a3):
    """Per-channel sum of an (N, C, S) array (contiguous pairwise sums over S, then over N)."""
    return np.add.reduce(a3, axis=2).sum(axis=0)


def _cdot(a3, b3):
    """Per-channel sum of a*b without an (N, C, S) temporary."""
    return np.vecdot(a3, b3).sum(axis=0)


class NumpyBackend(Backend):
    name = "numpy"
    device = "cpu"
    dtypes = ("float32", "float64")

    def metadata(self) -> dict:
        meta = {"numpy": np.__version__}
        try:
            cfg = np.show_config(mode="dicts")
            blas = cfg.get("Build Dependencies", {}).get("blas", {})
            meta["blas"] = f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
            if blas.get("openblas configuration"):
                meta["blas_config"] = blas["openblas configuration"]
        except Exception as exc:  # pragma: no cover - depends on the numpy build
            meta["blas"] = f"unknown ({type(exc).__name__})"
        try:
            import threadpoolctl

            meta["blas_threads"] = [
                {"api": p.get("internal_api"), "threads": p.get("num_threads"), "arch": p.get("architecture")}
                for p in threadpoolctl.threadpool_info() if p.get("user_api") == "blas"]
        except ImportError:
            pass
        return meta

    # ------------------------------------------------------------------ conv / dense
    def conv(self, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        stride, dilation, pads = validate.check_conv(
            x, w, b, padding=padding, stride=stride, dilation=dilation)
        dt = _dt(x)
        x, w = np.ascontiguousarray(x, dtype=dt), np.ascontiguousarray(w, dtype=dt)
        return K.conv_forward(x, w, _as(b, dt), pads, padding, stride, dilation)

    def conv_vjp(self, g, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        stride, dilation, pads = validate.check_conv(
            x, w, b, padding=padding, stride=stride, dilation=dilation)
        validate.check_cotangent(g, validate.conv_output_shape(
            x.shape, w.shape, padding=padding, stride=stride, dilation=dilation))
        dt = _dt(x)
        g = np.ascontiguousarray(g, dtype=dt)
        gx, gw = K.conv_backward(g, np.ascontiguousarray(x, dtype=dt), np.ascontiguousarray(w, dtype=dt),
                                 pads, padding, stride, dilation)
        if b is None:
            return gx, gw
        return gx, gw, _csum(_flat3(g))

    def dense(self, x, w, b=None):
        validate.check_dense(x, w, b)
        dt = _dt(x)
        y = np.matmul(np.asarray(x, dtype=dt), np.asarray(w, dtype=dt).T)
        if b is not None:
            y += np.asarray(b, dtype=dt)
        return y

    def dense_vjp(self, g, x, w, b=None):
        validate.check_dense(x, w, b)
        validate.check_cotangent(g, (x.shape[0], w.shape[0]))
        dt = _dt(x)
        g, x, w = (np.asarray(a, dtype=dt) for a in (g, x, w))
        gx, gw = g @ w, g.T @ x
        return (gx, gw) if b is None else (gx, gw, g.sum(axis=0))

    # ------------------------------------------------------------------ activations
    def relu(self, x):
        validate.check_elementwise(x)
        x = np.asarray(x, dtype=_dt(x))
        return np.maximum(x, x.dtype.type(0))  # NaN propagates

    def relu_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, x.shape)
        dt = _dt(x)
        x, g = np.asarray(x, dtype=dt), np.asarray(g, dtype=dt)
        gx = np.where(x > 0, g, dt.type(0))
        nan = np.isnan(x)
        if nan.any():
            np.copyto(gx, x, where=nan)  # relu'(NaN) = NaN
        return (gx,)

    @staticmethod
    def _sigmoid(x):
        e = np.exp(-np.abs(x))  # never overflows
        s = np.reciprocal(e + 1, out=np.empty_like(e))
        return np.where(x >= 0, s, e * s)  # NaN: e*s is NaN

    def sigmoid(self, x):
        validate.check_elementwise(x)
        return self._sigmoid(np.asarray(x, dtype=_dt(x)))

    def sigmoid_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, x.shape)
        dt = _dt(x)
        s = self._sigmoid(np.asarray(x, dtype=dt))
        return (np.asarray(g, dtype=dt) * s * (1 - s),)

    def tanh(self, x):
        validate.check_elementwise(x)
        return np.tanh(np.asarray(x, dtype=_dt(x)))

    def tanh_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, x.shape)
        dt = _dt(x)
        t = np.tanh(np.asarray(x, dtype=dt))
        t *= t
        np.subtract(dt.type(1), t, out=t)
        t *= np.asarray(g, dtype=dt)
        return (t,)

    # ------------------------------------------------------------------ pooling / upsampling
    def max_pool(self, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        return K.max_pool_forward(np.asarray(x, dtype=_dt(x)), size, stride)

    def max_pool_vjp(self, g, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        validate.check_cotangent(g, validate.pool_output_shape(x.shape, size, stride))
        dt = _dt(x)
        return (K.max_pool_backward(np.asarray(g, dtype=dt), np.asarray(x, dtype=dt), size, stride),)

    def avg_pool(self, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        return K.avg_pool_forward(np.asarray(x, dtype=_dt(x)), size, stride)

    def avg_pool_vjp(self, g, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        validate.check_cotangent(g, validate.pool_output_shape(x.shape, size, stride))
        dt = _dt(x)
        return (K.avg_pool_backward(np.asarray(g, dtype=dt), tuple(x.shape), dt, size, stride),)

    def upsample(self, x, *, factor=2):
        factor = validate.check_upsample(x, factor=factor)
        return K.upsample_forward(np.asarray(x, dtype=_dt(x)), factor)

    def upsample_vjp(self, g, x, *, factor=2):
        factor = validate.check_upsample(x, factor=factor)
        up = tuple(n * f for n, f in zip(x.shape[2:], factor, strict=True))
        validate.check_cotangent(g, (*x.shape[:2], *up))
        return (K.upsample_backward(np.asarray(g, dtype=_dt(x)), factor),)

    # ------------------------------------------------------------------ dropout
    @staticmethod
    def _dropout_scale(a, x, mask, keep_prob, scaling, training):
        dt = _dt(x)
        a = np.asarray(a, dtype=dt)
        if not training:
            return a.copy()
        m = np.asarray(mask, dtype=dt)
        if scaling == "inverted":
            m = m / dt.type(keep_prob)
        return np.multiply(a, m.reshape(m.shape + (1,) * (a.ndim - 2)))

    def dropout(self, x, mask, *, keep_prob, scaling="none", training=True):
        keep_prob = validate.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
        return self._dropout_scale(x, x, mask, keep_prob, scaling, training)

    def dropout_vjp(self, g, x, mask, *, keep_prob, scaling="none", training=True):
        keep_prob = validate.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
        validate.check_cotangent(g, x.shape)
        return (self._dropout_scale(g, x, mask, keep_prob, scaling, training),)

    def dropout_mask(self, shape, *, keep_prob, seed):
        shape, keep_prob = validate.check_dropout_mask(shape, keep_prob=keep_prob, seed=seed)
        u = np.random.default_rng(seed).random(shape)
        return (u < keep_prob).astype(np.float64)

    # ------------------------------------------------------------------ batch norm
    # Statistics are merged per channel in float64 (C values); the big passes run in x's dtype.
    def batch_norm(self, x, gamma, beta, *, eps=1e-5):
        validate.check_batch_norm(x, gamma, beta, eps=eps)
        dt = _dt(x)
        x3 = _flat3(np.asarray(x, dtype=dt))
        mean, m2, total = K.bn_stats(x3)
        with np.errstate(invalid="ignore"):
            inv = 1 / np.sqrt(m2 / total + eps)
        gamma = np.asarray(gamma, dtype=dt).astype(np.float64)
        y = K.bn_affine(x3, mean, gamma * inv, np.asarray(beta, dtype=dt))
        return y.reshape(x.shape)

    def batch_norm_vjp(self, g, x, gamma, beta, *, eps=1e-5):
        validate.check_batch_norm(x, gamma, beta, eps=eps)
        validate.check_cotangent(g, x.shape)
        dt = _dt(x)
        x3, g3 = _flat3(np.asarray(x, dtype=dt)), _flat3(np.asarray(g, dtype=dt))
        mean, m2, total, sg, sgx = K.bn_stats(x3, g3)
        with np.errstate(invalid="ignore"):
            inv = 1 / np.sqrt(m2 / total + eps)
        ggamma = sgx * inv
        k = np.asarray(gamma, dtype=dt).astype(np.float64) * inv
        # gx = k * (g - inv*(ggamma/M) * (x - mean) - gbeta/M): k goes on last, because k*inv*ggamma would
        # underflow (a tiny gamma over a huge variance) where each factor and the result are normal.
        gx = K.bn_affine(x3, mean, -inv * (ggamma / total), -sg / total, g3, np.ones_like(k))
        gx *= k.astype(dt)[:, None]
        return gx.reshape(x.shape), ggamma.astype(dt), sg.astype(dt)

    @staticmethod
    def _eval_coeffs(dt, gamma, running_mean, running_var, eps):
        rm, rv = np.asarray(running_mean, dtype=dt), np.asarray(running_var, dtype=dt)
        with np.errstate(invalid="ignore"):
            inv = 1 / np.sqrt(rv + eps)
        return rm, inv, np.asarray(gamma, dtype=dt) * inv

    def batch_norm_eval(self, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        validate.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
        dt = _dt(x)
        x = np.asarray(x, dtype=dt)
        rm, _, a = self._eval_coeffs(dt, gamma, running_mean, running_var, eps)
        y = np.subtract(x, _ch(rm, x.ndim))
        y *= _ch(a, x.ndim)
        y += _ch(np.asarray(beta, dtype=dt), x.ndim)
        return y

    def batch_norm_eval_vjp(self, g, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        validate.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
        validate.check_cotangent(g, x.shape)
        dt = _dt(x)
        g = np.asarray(g, dtype=dt)
        rm, inv, a = self._eval_coeffs(dt, gamma, running_mean, running_var, eps)
        if x.shape[0] == 0 or math.prod(x.shape) == 0:
            z = np.zeros(x.shape[1], dtype=dt)
            return np.multiply(g, _ch(a, g.ndim)), z, z.copy()
        x3, g3 = _flat3(np.asarray(x, dtype=dt)), _flat3(g)
        gbeta = _csum(g3)
        ggamma = _cdot(g3, np.subtract(x3, rm[:, None])) * inv
        return np.multiply(g, _ch(a, g.ndim)), ggamma, gbeta

    def running_stats(self, x, running_mean, running_var, *, momentum=0.1):
        momentum = validate.check_running_stats(x, running_mean, running_var, momentum=momentum)
        dt = _dt(x)
        mean, m2, total = K.bn_stats(_flat3(np.asarray(x, dtype=dt)))
        rm = np.asarray(running_mean, dtype=dt).astype(np.float64)
        rv = np.asarray(running_var, dtype=dt).astype(np.float64)
        new_mean = (1 - momentum) * rm + momentum * mean
        new_var = (1 - momentum) * rv + momentum * (m2 / (total - 1))
        return new_mean.astype(dt), new_var.astype(dt)

    # ------------------------------------------------------------------ locally connected, graph conv
    def locally_connected(self, x, w, b=None, *, stride=1):
        """One batched GEMM over positions: (P, N, C*K) windows times (P, C*K, C_out) kernels."""
        stride, out = validate.check_locally_connected(x, w, b, stride=stride)
        dt = _dt(x)
        x, w = np.asarray(x, dtype=dt), np.asarray(w, dtype=dt)
        nd, p = x.ndim - 2, math.prod(out)
        win = K.lc_windows(x, w.shape[nd + 2:], stride, out)
        y = np.matmul(win, w.reshape(p, w.shape[nd], -1).transpose(0, 2, 1))  # (P, N, C_out)
        y = np.moveaxis(y.reshape(*out, x.shape[0], w.shape[nd]), (nd, nd + 1), (0, 1))
        y = np.ascontiguousarray(y)
        if b is not None:
            y += np.asarray(b, dtype=dt)
        return y

    def locally_connected_vjp(self, g, x, w, b=None, *, stride=1):
        stride, out = validate.check_locally_connected(x, w, b, stride=stride)
        nd = x.ndim - 2
        validate.check_cotangent(g, (x.shape[0], w.shape[nd], *out))
        dt = _dt(x)
        x, w, g = np.asarray(x, dtype=dt), np.asarray(w, dtype=dt), np.asarray(g, dtype=dt)
        p, ks = math.prod(out), w.shape[nd + 2:]
        win = K.lc_windows(x, ks, stride, out)
        gp = np.moveaxis(g, (0, 1), (nd, nd + 1)).reshape(p, x.shape[0], w.shape[nd])  # (P, N, C_out)
        w3 = w.reshape(p, w.shape[nd], -1)
        gx = K.lc_scatter_windows(np.matmul(gp, w3), x.shape, ks, stride, out)
        gw = np.matmul(gp.transpose(0, 2, 1), win).reshape(w.shape)
        return (gx, gw) if b is None else (gx, gw, g.sum(axis=0))

    def _graph(self, x, edges, normalize, self_loops):
        dt = _dt(x)
        src, dst = K.graph_rows(edges, x.shape[0], self_loops)
        return dt, src, dst, K.graph_coefficients(src, dst, x.shape[0], normalize, dt)

    def graph_conv(self, x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
        """y = A (x w^T) + b: the linear map first (as spec and PyG: a node no row targets never sees w), then
        one bincount over rows (only sources of rows are read)."""
        validate.check_graph_conv(x, edges, w, b, normalize=normalize, self_loops=self_loops)
        dt, src, dst, coef = self._graph(x, edges, normalize, self_loops)
        x, w = np.asarray(x, dtype=dt), np.asarray(w, dtype=dt)
        y = K.scatter_rows(dst, coef[:, None] * (x @ w.T)[src], x.shape[0], dt)
        if b is not None:
            y += np.asarray(b, dtype=dt)
        return y

    def graph_conv_vjp(self, g, x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
        n = validate.check_graph_conv(x, edges, w, b, normalize=normalize, self_loops=self_loops)
        validate.check_cotangent(g, (n, w.shape[0]))
        dt, src, dst, coef = self._graph(x, edges, normalize, self_loops)
        x, w, g = np.asarray(x, dtype=dt), np.asarray(w, dtype=dt), np.asarray(g, dtype=dt)
        ax = K.scatter_rows(dst, coef[:, None] * x[src], x.shape[0], dt)
        gx = K.scatter_rows(src, coef[:, None] * (g @ w)[dst], x.shape[0], dt)
        gw = g.T @ ax
        return (gx, gw) if b is None else (gx, gw, g.sum(axis=0))
