"""JAX backend: ``jax.numpy`` / ``jax.lax`` ops under ``jax.jit``, VJPs from ``jax.vjp``.

Two registered factories (pyproject.toml, entry-point group ``nnconform.backends``): ``jax-cpu``
(:func:`make_jax_cpu`) and ``jax-cuda`` (:func:`make_jax_cuda`, the first CUDA device). Both raise
:class:`~impls.base.Unavailable` with the reason when jax (or a CUDA device) is missing; jax is
imported lazily, so this module imports without it. Install with ``pip install "nnconform[jax]"``.

The factories turn on ``jax_enable_x64`` for the whole process (float64 needs it; without it
jax silently computes float64 inputs in float32) and, unless jax already has one, a persistent
compilation cache in ``$NNCONFORM_JAX_CACHE_DIR`` (default ``~/.cache/nnconform/jax``; ``off``
disables it), so that processes share compiled programs. Every matmul and convolution runs with
``precision=lax.Precision.HIGHEST``, so float32 on a GPU is true float32, never TF32.

How the lecture's ops map onto JAX (each mapping is explicit here, never a JAX default):

* conv: ``lax.conv_general_dilated`` (NC..., OI... layouts), which is the lecture's
  cross-correlation (no kernel flip), with ``window_strides=stride`` and ``rhs_dilation=dilation``.
  'same' passes spec's explicit ``(before, after)`` pads (``spec.validate.same_pads``: the extra pad
  of an even kernel at the END). 'periodic' wraps the input first with ``jnp.pad(mode="wrap")``,
  which repeats the period as often as needed (checked: a pad longer than the axis wraps again,
  as spec's index mod n does), then convolves unpadded.
* dense: ``jnp.dot(x, w.T, precision=HIGHEST) + b``.
* relu / sigmoid / tanh: ``jax.nn.relu``, ``jax.nn.sigmoid`` (``lax.logistic``), ``jnp.tanh``.
  ``jax.nn.relu``'s custom derivative is ``where(x > 0, g, 0)``: relu'(0) = 0 as in spec, but
  relu'(NaN) = 0 where spec gives NaN (declared).
* max_pool / avg_pool: ``lax.reduce_window`` with ``lax.max`` (init -inf) or ``lax.add`` divided
  by the window size, VALID windows (remainder dropped). JAX's max gradient goes to the FIRST of tied
  maxima (as spec) but, with a NaN in the window, to a non-NaN element (declared).
* upsample: ``jnp.repeat`` per spatial axis (the ``np.repeat`` rule).
* dropout: the lecture's p is the KEEP probability and the mask is given:
  ``y = x * mask[:, :, None...]``, divided by keep_prob for ``scaling="inverted"``; ``training=False``
  returns x. dropout_mask: ``jax.random.bernoulli(jax.random.key(seed mod 2**63), keep_prob)``,
  reproducible per seed, NOT the same draws as spec's numpy generator (only the statistics agree).
* batch_norm: per channel ``jnp.mean`` and the biased ``jnp.var`` (ddof=0, two-pass), then
  ``(x - mean) * (gamma / sqrt(var + eps)) + beta``. batch_norm_eval: the same with the running
  statistics. running_stats: torch's convention ``(1 - m) old + m batch`` with ``jnp.var(ddof=1)``.

Every op first calls the matching ``spec.validate.check_*`` (and each VJP ``check_cotangent``), so
bad arguments raise spec's ValueErrors. Each op is one ``jax.jit``-compiled function with its
parameters static; jax caches the compiled code per input shape and dtype, so a run that reuses
shapes compiles once per shape (``compiles_per_shape = True`` tells the suite so).
"""

from __future__ import annotations

import functools
import inspect
import os
import platform
from pathlib import Path

import numpy as np

from spec import validate

from .base import Backend, ExpectedDeviation, Unavailable

__all__ = ["JaxBackend", "make_jax_cpu", "make_jax_cuda"]

CACHE_ENV = "NNCONFORM_JAX_CACHE_DIR"
"""Where compiled XLA programs are kept between processes; "off" (or empty) disables the cache."""


def _cache_dir() -> str | None:
    value = os.environ.get(CACHE_ENV)
    if value is None:
        base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        return str(Path(base) / "nnconform" / "jax")
    return None if value.strip().lower() in ("", "off", "0", "none") else value


def _configure(jax) -> None:
    """x64 on; a persistent compilation cache unless the user set one (or NNCONFORM_JAX_CACHE_DIR=off).

    XLA compiles every op anew for each input shape (~0.2 s of CPU per op and shape here); the cache
    lets xdist workers and later runs reuse each other's programs (measured: 8x less CPU on a rerun).
    """
    jax.config.update("jax_enable_x64", True)
    if jax.config.jax_compilation_cache_dir:
        return
    path = _cache_dir()
    if path:
        jax.config.update("jax_compilation_cache_dir", path)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)


def _import_jax():
    try:
        import jax
        import jax.numpy as jnp
        from jax import lax
    except Exception as exc:  # ImportError, or a broken jaxlib
        raise Unavailable(f"jax is not installed (pip install 'nnconform[jax]'): {type(exc).__name__}: {exc}") from exc
    return jax, jnp, lax


# ---------------------------------------------------------------------------------- the pure ops
# Each takes its arrays positionally and its parameters as keywords (static under jit). They are
# module-level so that the jit caches below are shared by every backend instance.

def _ch(v, ndim):
    """A (C,) vector shaped (C, 1, ...) to broadcast against (N, C, *spatial) of ``ndim`` axes."""
    return v.reshape(-1, *(1,) * (ndim - 2))


def _conv(x, w, b, *, padding, stride, dilation, pads):
    jax, jnp, lax = _import_jax()
    w = w.astype(x.dtype)
    if padding == "periodic":
        x = jnp.pad(x, ((0, 0), (0, 0), *pads), mode="wrap")
    conv_pads = pads if padding == "same" else tuple((0, 0) for _ in pads)
    y = lax.conv_general_dilated(x, w, window_strides=stride, padding=conv_pads, rhs_dilation=dilation,
                                 precision=lax.Precision.HIGHEST)
    return y if b is None else y + _ch(b.astype(x.dtype), y.ndim)


def _dense(x, w, b):
    jax, jnp, lax = _import_jax()
    y = jnp.dot(x, w.astype(x.dtype).T, precision=lax.Precision.HIGHEST)
    return y if b is None else y + b.astype(x.dtype)


def _relu(x):
    return _import_jax()[0].nn.relu(x)


def _sigmoid(x):
    return _import_jax()[0].nn.sigmoid(x)


def _tanh(x):
    return _import_jax()[1].tanh(x)


def _max_pool(x, *, size, stride):
    jax, jnp, lax = _import_jax()
    return lax.reduce_window(x, -np.inf, lax.max, (1, 1, *size), (1, 1, *stride), "VALID")


def _avg_pool(x, *, size, stride):
    jax, jnp, lax = _import_jax()
    total = lax.reduce_window(x, 0.0, lax.add, (1, 1, *size), (1, 1, *stride), "VALID")
    return total / np.prod(size)


def _upsample(x, *, factor):
    jnp = _import_jax()[1]
    for axis, f in enumerate(factor):
        x = jnp.repeat(x, f, axis=2 + axis)
    return x


def _dropout(x, mask, *, keep_prob, scaling, training):
    if not training:
        return x
    y = x * mask.astype(x.dtype).reshape(*mask.shape, *(1,) * (x.ndim - 2))
    return y / keep_prob if scaling == "inverted" else y


def _bn_axes(x):
    return (0, *range(2, x.ndim))


def _batch_norm(x, gamma, beta, *, eps):
    jnp = _import_jax()[1]
    axes = _bn_axes(x)
    mean = jnp.mean(x, axis=axes, keepdims=True)
    var = jnp.var(x, axis=axes, keepdims=True)  # biased (ddof=0), two-pass
    # gamma * xhat as (x - mean) * (gamma / sqrt(var + eps)): the VJP then scales g by gamma / sqrt(var + eps)
    # instead of by gamma alone, whose product with g is subnormal (flushed to 0 by XLA on CPU) for a
    # gamma near the smallest normal (ci falsifying example: x = [[0], [0]], gamma = 1.18e-38, float32).
    scale = _ch(gamma.astype(x.dtype), x.ndim) / jnp.sqrt(var + eps)
    return (x - mean) * scale + _ch(beta.astype(x.dtype), x.ndim)


def _batch_norm_eval(x, gamma, beta, running_mean, running_var, *, eps):
    jnp = _import_jax()[1]
    rm, rv = (_ch(v.astype(x.dtype), x.ndim) for v in (running_mean, running_var))
    scale = _ch(gamma.astype(x.dtype), x.ndim) / jnp.sqrt(rv + eps)  # as in _batch_norm
    return (x - rm) * scale + _ch(beta.astype(x.dtype), x.ndim)


def _running_stats(x, running_mean, running_var, *, momentum):
    jnp = _import_jax()[1]
    axes = _bn_axes(x)
    mean = jnp.mean(x, axis=axes)
    var = jnp.var(x, axis=axes, ddof=1)  # unbiased, torch's running_var convention
    new_mean = (1 - momentum) * running_mean.astype(x.dtype) + momentum * mean
    new_var = (1 - momentum) * running_var.astype(x.dtype) + momentum * var
    return new_mean, new_var


def _static_names(fn) -> tuple[str, ...]:
    return tuple(n for n, p in inspect.signature(fn).parameters.items() if p.kind is p.KEYWORD_ONLY)


@functools.cache
def _forward_jit(fn):
    return _import_jax()[0].jit(fn, static_argnames=_static_names(fn))


@functools.cache
def _vjp_jit(fn, n_diff: int):
    """jit of ``(g, *arrays, **params) -> gradients of <g, fn(...)> w.r.t. the first n_diff arrays``."""
    jax = _import_jax()[0]

    def vjp(g, *arrays, **params):
        rest = arrays[n_diff:]
        _, pullback = jax.vjp(lambda *diff: fn(*diff, *rest, **params), *arrays[:n_diff])
        return pullback(g.astype(arrays[0].dtype))

    return jax.jit(vjp, static_argnames=_static_names(fn))


# ---------------------------------------------------------------------------------- the backend
class JaxBackend(Backend):
    """The lecture's ops on one jax device (CPU or the first CUDA GPU)."""

    compiles_per_shape = True
    """XLA compiles each op anew for every input shape (the suite may reuse shapes for such backends)."""

    def __init__(self, platform_name: str = "cpu", name: str | None = None):
        jax, jnp, lax = _import_jax()
        _configure(jax)
        self._jax, self._jnp = jax, jnp
        try:
            self._device = jax.devices(platform_name)[0]
        except RuntimeError as exc:
            raise Unavailable(f"jax {jax.__version__} finds no {platform_name!r} device: {exc}") from exc
        self.platform = platform_name
        self.device = "cpu" if platform_name == "cpu" else f"cuda:{self._device.id}"
        self.name = name or f"jax-{platform_name}"
        self.dtypes = ("float32", "float64")

    # XLA's CPU code runs with flush-to-zero and denormals-are-zero: measured
    # dense([[1e-310]], [[1e10]]) = 0 in float64, and sigmoid(-100) = 0 in float32 (spec 3.7e-44).
    @property
    def flushes_subnormals(self) -> bool:
        return self.platform == "cpu"

    @property
    def expected_deviations(self):
        return self._nan_deviations() + (self._flush_deviations() if self.flushes_subnormals else ())

    def _flush_deviations(self):
        return (
            ExpectedDeviation(
                op="batch_norm*", dtype="*", check="*", categories=("mismatch",), max_abs_err=2.0**-90,
                reason="XLA on CPU flushes a subnormal batch mean (or x - mean) to 0 before it is scaled by "
                       "gamma / sqrt(var + eps): measured in float32 with one x = 1.18e-38 in a channel of 24 "
                       "values and gamma = 2**20, output 0 where spec gives -1.6e-31. Bound: tiny * max|gamma| / "
                       "sqrt(eps) over the suite's ranges (|gamma| <= 4 * 2**20 in float32, 4 * 2**60 in float64, "
                       "eps >= 1e-5) is below 1.6e-29, under the declared |err| <= 2**-90 (8e-28)"),
            ExpectedDeviation(
                op="batch_norm_eval", dtype="*", check="gradient", categories=("mismatch",), max_tol_ratio=8.0,
                reason="XLA on CPU flushes subnormal intermediates (flushes_subnormals): gamma / sqrt(var + eps) below "
                       "the smallest normal becomes 0, so dx = g * that is 0 where spec gives less than |g| * tiny, "
                       "i.e. under |g| times the tolerance's K * tiny floor (measured 1.02x in a ci run: float64, "
                       "gamma = 2.2e-308, running_var = 1.25); the suite's cotangents are standard normal, |g| < 8"),
        )

    def _nan_deviations(self):
        return (
            ExpectedDeviation(
                op="relu", dtype="*", check="nan_gradient", categories=("nan_mismatch",),
                reason="jax.nn.relu's custom derivative is where(x > 0, g, 0): relu'(NaN) = 0 where spec gives NaN "
                       f"(measured, jax {self._jax.__version__})"),
            ExpectedDeviation(
                op="max_pool", dtype="*", check="nan_policy", categories=("mismatch",),
                reason="lax.reduce_window(max)'s gradient (select_and_scatter with >=) never goes to a NaN: "
                       "for x = [1, nan, 3, nan, 2, 5], size 4, stride 2 it goes to flat indices 3 and 5, where spec "
                       f"picks the first NaN (1 and 3); the forward output is NaN (measured, jax {self._jax.__version__})"),
            ExpectedDeviation(
                op="max_pool", dtype="*", check="nan_gradient", categories=("mismatch", "nan_mismatch"),
                max_abs_err=32.0,
                reason="with a NaN in a max-pool window JAX's gradient goes to a non-NaN element (see nan_policy), "
                       "so the NaN's position gets 0 where spec puts the window's gradient: the error is the "
                       "misrouted cotangent, a sum over the overlapping windows of standard-normal entries "
                       "(|err| <= 32)"),
            ExpectedDeviation(
                op="conv", dtype="*", check="*", categories=("nan_mismatch",),
                reason="lax.conv_general_dilated does not multiply its implicit zero padding: a NaN/inf weight that "
                       "meets only the pad of 'same' gives 0 where spec's 0 * NaN gives NaN (measured, jax "
                       f"{self._jax.__version__}: x zeros with w[0] = NaN, 'same', output 0)"),
            ExpectedDeviation(
                op="max_pool", dtype="*", check="*", categories=("inexact",),
                reason="lax.reduce_window(max) returns +0.0 for a window whose FIRST maximum is -0.0 (ties between "
                       f"signed zeros go to +0.0; measured, jax {self._jax.__version__}); spec keeps the first"),
        )

    def metadata(self) -> dict:
        jax = self._jax
        import jaxlib

        return {
            "jax": jax.__version__,
            "jaxlib": getattr(jaxlib, "__version__", "?"),
            "numpy": np.__version__,
            "device": self.device,
            "device_kind": getattr(self._device, "device_kind", ""),
            "device_name": platform.processor() or platform.machine() if self.platform == "cpu"
            else getattr(self._device, "device_kind", ""),
            "jax_enable_x64": bool(jax.config.jax_enable_x64),
            "precision": "lax.Precision.HIGHEST (conv, dot)",
            "jit": "one jax.jit per op, parameters static; compiled per input shape",
            "jax_compilation_cache_dir": jax.config.jax_compilation_cache_dir,
        }

    # ------------------------------------------------------------------ plumbing
    def asarray(self, a, dtype: str):
        if dtype not in self.dtypes:
            raise ValueError(f"dtype={dtype!r}: backend {self.name!r} supports {self.dtypes}")
        return self._jax.device_put(np.array(a, dtype=dtype, copy=True), self._device)

    def to_numpy(self, a) -> np.ndarray:
        return np.array(a, copy=True)

    def dtype_name(self, a) -> str:
        return str(a.dtype)

    def _fwd(self, fn, *arrays, **params):
        return _forward_jit(fn)(*arrays, **params)

    def _vjp(self, fn, n_diff, g, *arrays, **params):
        """Gradients w.r.t. the first ``n_diff`` arrays that are not None (None stays out of the tuple)."""
        grads = _vjp_jit(fn, n_diff)(g, *arrays, **params)
        return tuple(gr for gr, a in zip(grads, arrays[:n_diff], strict=True) if a is not None)

    # ------------------------------------------------------------------ conv, dense
    def conv(self, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        stride, dilation, pads = validate.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        return self._fwd(_conv, x, w, b, padding=padding, stride=stride, dilation=dilation, pads=pads)

    def conv_vjp(self, g, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        stride, dilation, pads = validate.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        validate.check_cotangent(g, validate.conv_output_shape(
            tuple(x.shape), tuple(w.shape), padding=padding, stride=stride, dilation=dilation))
        return self._vjp(_conv, 3, g, x, w, b, padding=padding, stride=stride, dilation=dilation, pads=pads)

    def dense(self, x, w, b=None):
        validate.check_dense(x, w, b)
        return self._fwd(_dense, x, w, b)

    def dense_vjp(self, g, x, w, b=None):
        validate.check_dense(x, w, b)
        validate.check_cotangent(g, (x.shape[0], w.shape[0]))
        return self._vjp(_dense, 3, g, x, w, b)

    # ------------------------------------------------------------------ activations
    def relu(self, x):
        validate.check_elementwise(x)
        return self._fwd(_relu, x)

    def relu_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, x.shape)
        return self._vjp(_relu, 1, g, x)

    def sigmoid(self, x):
        validate.check_elementwise(x)
        return self._fwd(_sigmoid, x)

    def sigmoid_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, x.shape)
        return self._vjp(_sigmoid, 1, g, x)

    def tanh(self, x):
        validate.check_elementwise(x)
        return self._fwd(_tanh, x)

    def tanh_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, x.shape)
        return self._vjp(_tanh, 1, g, x)

    # ------------------------------------------------------------------ pooling, upsampling
    def max_pool(self, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        return self._fwd(_max_pool, x, size=size, stride=stride)

    def max_pool_vjp(self, g, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        validate.check_cotangent(g, validate.pool_output_shape(tuple(x.shape), size, stride))
        return self._vjp(_max_pool, 1, g, x, size=size, stride=stride)

    def avg_pool(self, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        return self._fwd(_avg_pool, x, size=size, stride=stride)

    def avg_pool_vjp(self, g, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        validate.check_cotangent(g, validate.pool_output_shape(tuple(x.shape), size, stride))
        return self._vjp(_avg_pool, 1, g, x, size=size, stride=stride)

    def upsample(self, x, *, factor=2):
        factor = validate.check_upsample(x, factor=factor)
        return self._fwd(_upsample, x, factor=factor)

    def upsample_vjp(self, g, x, *, factor=2):
        factor = validate.check_upsample(x, factor=factor)
        validate.check_cotangent(g, (*x.shape[:2], *(n * f for n, f in zip(x.shape[2:], factor, strict=True))))
        return self._vjp(_upsample, 1, g, x, factor=factor)

    # ------------------------------------------------------------------ dropout
    def dropout(self, x, mask, *, keep_prob, scaling="none", training=True):
        keep_prob = validate.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
        return self._fwd(_dropout, x, mask, keep_prob=keep_prob, scaling=scaling, training=training)

    def dropout_vjp(self, g, x, mask, *, keep_prob, scaling="none", training=True):
        keep_prob = validate.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
        validate.check_cotangent(g, x.shape)
        return self._vjp(_dropout, 1, g, x, mask, keep_prob=keep_prob, scaling=scaling, training=training)

    def dropout_mask(self, shape, *, keep_prob, seed):
        shape, keep_prob = validate.check_dropout_mask(shape, keep_prob=keep_prob, seed=seed)
        jax = self._jax
        with jax.default_device(self._device):
            keep = jax.random.bernoulli(jax.random.key(seed % 2**63), keep_prob, shape)
            return keep.astype(self._jnp.float32)

    # ------------------------------------------------------------------ batch norm
    def batch_norm(self, x, gamma, beta, *, eps=1e-5):
        validate.check_batch_norm(x, gamma, beta, eps=eps)
        return self._fwd(_batch_norm, x, gamma, beta, eps=float(eps))

    def batch_norm_vjp(self, g, x, gamma, beta, *, eps=1e-5):
        validate.check_batch_norm(x, gamma, beta, eps=eps)
        validate.check_cotangent(g, x.shape)
        return self._vjp(_batch_norm, 3, g, x, gamma, beta, eps=float(eps))

    def batch_norm_eval(self, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        validate.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
        return self._fwd(_batch_norm_eval, x, gamma, beta, running_mean, running_var, eps=float(eps))

    def batch_norm_eval_vjp(self, g, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        validate.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
        validate.check_cotangent(g, x.shape)
        return self._vjp(_batch_norm_eval, 3, g, x, gamma, beta, running_mean, running_var, eps=float(eps))

    def running_stats(self, x, running_mean, running_var, *, momentum=0.1):
        momentum = validate.check_running_stats(x, running_mean, running_var, momentum=momentum)
        return self._fwd(_running_stats, x, running_mean, running_var, momentum=momentum)


def make_jax_cpu() -> JaxBackend:
    """The ``jax-cpu`` backend (float32, float64)."""
    return JaxBackend("cpu", name="jax-cpu")


def make_jax_cuda() -> JaxBackend:
    """The ``jax-cuda`` backend on the first CUDA device (float32, float64; HIGHEST precision, no TF32)."""
    return JaxBackend("cuda", name="jax-cuda")
