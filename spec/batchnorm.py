"""Reference batch normalisation (float64, explicit loops).

Lecture, "Batch Normalization": "Normalize each channel individually, then rescale":
1. ``mu_B`` = batch mean, 2. ``sigma_B`` = batch variance, 3. ``x -> (x - mu_B) / sigma_B := xhat``,
4. ``xhat -> gamma xhat + beta``; "Backpropagation to update gamma, beta".

Decisions (written down once, here):

* x is (N, C, *spatial) with up to 3 spatial axes, or (N, C) for dense layers; gamma, beta,
  running_mean, running_var are (C,).  Statistics are per channel over the batch AND spatial axes
  (m = N * prod(spatial) values per channel).
* The lecture calls sigma_B the "variance" but divides by it; spec divides by the standard
  deviation with eps INSIDE the square root: ``xhat = (x - mu) / sqrt(var + eps)``, default
  ``eps = 1e-5`` (torch, ONNX, Flax; Keras uses 1e-3).
* Training mode (:func:`batch_norm`) normalises with the BIASED batch variance
  ``var = sum (x - mu)^2 / m``.  Sums run over n, then spatial positions, in row-major order.
* The lecture does not say what evaluation uses; spec's :func:`batch_norm_eval` uses running
  statistics: ``xhat = (x - running_mean) / sqrt(running_var + eps)``.  A negative
  ``running_var + eps`` gives NaN (values are data, not arguments, so they are not validated).
  A sum of exactly 0 divides by zero as IEEE 754 does: ``(x - mean) / 0`` is -inf, NaN (at
  ``x == mean``) or +inf, then scaled and shifted, and so for ``gamma = +-inf``. Where this order of
  operations is not followed the answer differs (the fused ``x * a + (beta - mean * a)`` with
  ``a = gamma / std`` gives ``inf - inf = NaN``): spec decides the unfused order, the report's semantics
  table shows what each backend does, and the checks do not draw these points (no verdict rests on them).
* :func:`running_stats` follows torch: ``new = (1 - momentum) * old + momentum * batch`` with
  ``momentum = 0.1`` by default, and the UNBIASED batch variance ``sum (x - mu)^2 / (m - 1)`` for
  ``running_var``.  Keras (``momentum=0.99``), Flax (0.9) and ONNX (0.9) write
  ``new = momentum * old + (1 - momentum) * batch``: their momentum weighs the OLD value, so
  ``momentum_keras = 1 - momentum_spec``.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from . import validate
from .opspec import BadInput, OpSpec, const, diff, sample_data, vjp_bad_inputs

__all__ = ["batch_norm", "batch_norm_vjp", "batch_norm_eval", "batch_norm_eval_vjp", "running_stats"]


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _channel_positions(shape, c):
    """All indices of channel c in row-major order (n first, then spatial)."""
    for n, *s in itertools.product(range(shape[0]), *(range(k) for k in shape[2:])):
        yield (n, c, *s)


def _sqrt(v: float) -> float:
    return math.sqrt(v) if v >= 0.0 else math.nan


def _div(a: float, b: float) -> float:
    """a / b as IEEE 754 divides (b = 0 gives +-inf or NaN), where Python's float division raises."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.float64(a) / np.float64(b))


def _stats(x, c):
    """(mean, sum of squared deviations, m) of channel c."""
    m = validate.reduction_count(x.shape)
    total = 0.0
    for idx in _channel_positions(x.shape, c):
        total += x[idx]
    mu = total / m
    ss = 0.0
    for idx in _channel_positions(x.shape, c):
        d = x[idx] - mu
        ss += d * d
    return mu, ss, m


def batch_norm(x, gamma, beta, *, eps=1e-5):
    """Training-mode batch norm.  x: (N, C, *spatial) or (N, C); gamma, beta: (C,).

    Returns float64 of x.shape: ``gamma[c] * (x - mu_c) / sqrt(var_c + eps) + beta[c]`` with the batch
    mean ``mu_c`` and the BIASED batch variance ``var_c`` of channel c.
    """
    validate.check_batch_norm(x, gamma, beta, eps=eps)
    x, gamma, beta = _f64(x), _f64(gamma), _f64(beta)
    y = np.zeros(x.shape, dtype=np.float64)
    for c in range(x.shape[1]):
        mu, ss, m = _stats(x, c)
        std = _sqrt(ss / m + eps)
        for idx in _channel_positions(x.shape, c):
            y[idx] = gamma[c] * ((x[idx] - mu) / std) + beta[c]
    return y


def batch_norm_vjp(g, x, gamma, beta, *, eps=1e-5):
    """``(gx, ggamma, gbeta)`` of :func:`batch_norm`, including the dependence of mu and var on x.

    Chain rule through the forward steps, per channel (m values, std = sqrt(var + eps)):
    ``dxhat = g * gamma``; ``dvar = -1/2 (var + eps)^{-3/2} sum dxhat (x - mu)``;
    ``dmu = -sum dxhat / std + dvar * (-2/m) sum (x - mu)``;
    ``gx = dxhat / std + dvar * 2 (x - mu) / m + dmu / m``;
    ``ggamma = sum g * xhat``; ``gbeta = sum g``.

    Evaluation order: dvar is never formed on its own. With ``s = sum dxhat (x - mu)`` and
    ``q = s / std / std`` (so dvar = -q / (2 std)), its two uses are ``dvar * 2 (x - mu) / m = -q xhat / m``
    and ``dvar * (-2/m) sum (x - mu) = q (sum (x - mu) / std) / m``. dvar alone is ``s / std^3``, which
    underflows into the subnormals when gamma is tiny and the spread huge (gamma = 2.2e-285 with x up to
    1.2e18 gave dvar ~ 1e-320 with three significant digits), while every term of gx stays normal: that
    order made spec, not the backends, wrong by 4.6x the tolerance (a ci-profile run, seed 777).
    """
    validate.check_batch_norm(x, gamma, beta, eps=eps)
    validate.check_cotangent(g, np.shape(x))
    g, x, gamma = _f64(g), _f64(x), _f64(gamma)
    n_ch = x.shape[1]
    gx = np.zeros(x.shape, dtype=np.float64)
    ggamma = np.zeros(n_ch, dtype=np.float64)
    gbeta = np.zeros(n_ch, dtype=np.float64)
    for c in range(n_ch):
        mu, ss, m = _stats(x, c)
        var = ss / m
        std = _sqrt(var + eps)
        dvar = 0.0  # the sum s of the docstring
        sum_dxhat = 0.0
        sum_dev = 0.0
        for idx in _channel_positions(x.shape, c):
            dxhat = g[idx] * gamma[c]
            dev = x[idx] - mu
            ggamma[c] += g[idx] * (dev / std)
            gbeta[c] += g[idx]
            dvar += dxhat * dev
            sum_dxhat += dxhat
            sum_dev += dev
        q = dvar / std / std  # dvar = -q / (2 std), never formed: see the docstring
        dmu = -sum_dxhat / std + q * (sum_dev / std) / m
        for idx in _channel_positions(x.shape, c):
            gx[idx] = g[idx] * gamma[c] / std - q * ((x[idx] - mu) / std) / m + dmu / m
    return gx, ggamma, gbeta


def batch_norm_eval(x, gamma, beta, running_mean, running_var, *, eps=1e-5):
    """Evaluation-mode batch norm with running statistics.  x: (N, C, *spatial) or (N, C); others (C,).

    Returns ``gamma[c] * (x - running_mean[c]) / sqrt(running_var[c] + eps) + beta[c]`` (N = 0 allowed).
    """
    validate.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
    x, gamma, beta, rm, rv = (_f64(a) for a in (x, gamma, beta, running_mean, running_var))
    y = np.zeros(x.shape, dtype=np.float64)
    for c in range(x.shape[1]):
        std = _sqrt(rv[c] + eps)
        for idx in _channel_positions(x.shape, c):
            y[idx] = gamma[c] * _div(x[idx] - rm[c], std) + beta[c]
    return y


def batch_norm_eval_vjp(g, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
    """``(gx, ggamma, gbeta)`` of :func:`batch_norm_eval`; the running statistics get no entry.

    ``gx = g * gamma / sqrt(rv + eps)``, ``ggamma = sum g * xhat``, ``gbeta = sum g``.
    """
    validate.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
    validate.check_cotangent(g, np.shape(x))
    g, x, gamma, rm, rv = (_f64(a) for a in (g, x, gamma, running_mean, running_var))
    n_ch = x.shape[1]
    gx = np.zeros(x.shape, dtype=np.float64)
    ggamma = np.zeros(n_ch, dtype=np.float64)
    gbeta = np.zeros(n_ch, dtype=np.float64)
    for c in range(n_ch):
        std = _sqrt(rv[c] + eps)
        for idx in _channel_positions(x.shape, c):
            gx[idx] = _div(g[idx] * gamma[c], std)
            ggamma[c] += g[idx] * _div(x[idx] - rm[c], std)
            gbeta[c] += g[idx]
    return gx, ggamma, gbeta


def running_stats(x, running_mean, running_var, *, momentum=0.1):
    """Updated running statistics ``(new_mean, new_var)``, each (C,) float64 (torch convention).

    ``new_mean = (1 - momentum) * running_mean + momentum * mu_c``,
    ``new_var = (1 - momentum) * running_var + momentum * ss_c / (m - 1)`` (UNBIASED batch variance).
    Keras/Flax/ONNX momentum weighs the old value: theirs = 1 - momentum.
    """
    momentum = validate.check_running_stats(x, running_mean, running_var, momentum=momentum)
    x, rm, rv = _f64(x), _f64(running_mean), _f64(running_var)
    n_ch = x.shape[1]
    new_mean = np.zeros(n_ch, dtype=np.float64)
    new_var = np.zeros(n_ch, dtype=np.float64)
    for c in range(n_ch):
        mu, ss, m = _stats(x, c)
        new_mean[c] = (1.0 - momentum) * rm[c] + momentum * mu
        new_var[c] = (1.0 - momentum) * rv[c] + momentum * (ss / (m - 1))
    return new_mean, new_var


# ---------------------------------------------------------------------------- bad inputs
# Invalid calls (each must raise ValueError naming ``param``); see spec.opspec.BadInput.
_X2D = sample_data(2, 3, 5, 5)
_C3 = np.ones(3)

_BATCH_NORM_BAD = (
    BadInput("batch_norm-gamma-shape", "batch_norm", (_X2D, np.ones(4), np.zeros(3)), {}, "gamma.shape"),
    BadInput("batch_norm-beta-shape", "batch_norm", (_X2D, _C3, np.zeros((3, 1))), {}, "beta.shape"),
    BadInput("batch_norm-eps-zero", "batch_norm", (_X2D, _C3, _C3), {"eps": 0.0}, "eps"),
    BadInput("batch_norm-eps-negative", "batch_norm", (_X2D, _C3, _C3), {"eps": -1e-5}, "eps"),
    BadInput("batch_norm-eps-inf", "batch_norm", (_X2D, _C3, _C3), {"eps": float("inf")}, "eps"),
    BadInput("batch_norm-empty-batch", "batch_norm", (np.zeros((0, 3, 4)), _C3, _C3), {}, "x.shape"),
    BadInput("batch_norm-x-1d", "batch_norm", (np.ones(3), _C3, _C3), {}, "x.shape"),
    BadInput("batch_norm-x-6d", "batch_norm", (sample_data(1, 3, 2, 2, 2, 2), _C3, _C3), {}, "x.shape"),
    *vjp_bad_inputs("batch_norm", (_X2D, _C3, _C3), {}, (2, 3, 5, 5), (1, 3, 5, 5), np.int64),
)
_BATCH_NORM_EVAL_BAD = (
    BadInput("batch_norm_eval-running-var-shape", "batch_norm_eval", (_X2D, _C3, _C3, _C3, np.ones(2)), {},
             "running_var.shape"),
    BadInput("batch_norm_eval-running-mean-shape", "batch_norm_eval", (_X2D, _C3, _C3, np.ones(4), _C3), {},
             "running_mean.shape"),
    BadInput("batch_norm_eval-eps-zero", "batch_norm_eval", (_X2D, _C3, _C3, _C3, _C3), {"eps": 0.0}, "eps"),
    *vjp_bad_inputs("batch_norm_eval", (_X2D, _C3, _C3, _C3, _C3), {}, (2, 3, 5, 5), (2, 3, 5, 1), np.complex128),
)
_RUNNING_STATS_BAD = (
    BadInput("running_stats-momentum-above-one", "running_stats", (_X2D, _C3, _C3), {"momentum": 1.1}, "momentum"),
    BadInput("running_stats-momentum-negative", "running_stats", (_X2D, _C3, _C3), {"momentum": -0.1}, "momentum"),
    BadInput("running_stats-one-value-per-channel", "running_stats", (np.ones((1, 3)), _C3, _C3), {}, "x.shape"),
    BadInput("running_stats-empty-batch", "running_stats", (np.zeros((0, 3, 2)), _C3, _C3), {}, "x.shape"),
    BadInput("running_stats-mean-shape", "running_stats", (_X2D, np.ones(2), _C3), {}, "running_mean.shape"),
)

CATALOGUE = (
    OpSpec(name="batch_norm", forward=batch_norm, vjp=batch_norm_vjp, validator=validate.check_batch_norm,
           args=(diff("x"), diff("gamma"), diff("beta")), bad_inputs=_BATCH_NORM_BAD),
    OpSpec(name="batch_norm_eval", forward=batch_norm_eval, vjp=batch_norm_eval_vjp,
           validator=validate.check_batch_norm_eval,
           args=(diff("x"), diff("gamma"), diff("beta"), const("running_mean"), const("running_var")),
           bad_inputs=_BATCH_NORM_EVAL_BAD),
    OpSpec(name="running_stats", forward=running_stats, vjp=None, validator=validate.check_running_stats,
           args=(const("x"), const("running_mean"), const("running_var")), n_outputs=2,
           bad_inputs=_RUNNING_STATS_BAD),
)
