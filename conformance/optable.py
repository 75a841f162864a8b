"""The op table: the ONLY place where an op joins the conformance suite.

One :class:`OpRecord` per op holds its case strategy, which arguments are differentiable, the
reduction length and magnitude that the tolerance policy (``tolerance.py``) needs, its
tolerance constant, its realistic-size cases, and flags. Everything else is generic: the check
helpers in ``checks.py`` read this table.

A magnitude function receives ``ops`` (spec, or a float64 oracle backend seen through
``NumpyView``) and returns, per output, the sum of absolute values of the terms that make up
each element; for linear and bilinear ops that is the op itself applied to absolute values.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from . import hypothesis_helpers as hh
from .hypothesis_helpers import Case


def _abs(a):
    return None if a is None else (np.abs(a) if isinstance(a, np.ndarray) else a)


def _abs_args(case: Case) -> tuple:
    return tuple(_abs(a) for a in case.args)


def _linear_fwd(name):
    def mag(ops, case):
        return (getattr(ops, name)(*_abs_args(case), **case.kwargs),)
    return mag


def _linear_vjp(name):
    def mag(ops, case, g):
        return tuple(getattr(ops, name + "_vjp")(np.abs(g), *_abs_args(case), **case.kwargs))
    return mag


def _exact_fwd(name):
    def mag(ops, case):
        return (np.abs(getattr(ops, name)(*case.args, **case.kwargs)),)
    return mag


def _routing_vjp(name):
    """VJPs that only route (max_pool, relu): the same routing of |g|."""
    def mag(ops, case, g):
        return tuple(getattr(ops, name + "_vjp")(np.abs(g), *case.args, **case.kwargs))
    return mag


def _sigmoid_vjp_mag(ops, case, g):
    s = ops.sigmoid(*case.args)
    # 1 - s loses up to u*s absolutely when s ~ 1: the error scales with |g| s, not |g| s (1 - s).
    return (np.abs(g) * s * (2.0 - s),)


def _tanh_vjp_mag(ops, case, g):
    t = ops.tanh(*case.args)
    return (np.abs(g) * (np.abs(1.0 - t * t) + 2.0 * t * t),)


def _bn_parts(case: Case):
    x, gamma = case.args[0], case.args[1]
    axes = (0, *range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    mu = x.mean(axis=axes).reshape(shape)
    sigma = np.sqrt(x.var(axis=axes).reshape(shape) + case.kwargs.get("eps", 1e-5))
    xhat = (x - mu) / sigma
    # Absolute error of xhat from rounding x - mu: u (|x| + |mu|) / sigma per element.
    err = (np.abs(x).max(axis=axes, keepdims=True) + np.abs(mu)) / sigma
    return x, np.abs(gamma).reshape(shape), mu, sigma, xhat, err, axes, shape


def _bn_fwd_mag(ops, case):
    x, ag, mu, sigma, xhat, err, axes, shape = _bn_parts(case)
    beta = np.abs(case.args[2]).reshape(shape)
    return (ag * (np.abs(xhat) + err) + beta,)


def _bn_vjp_mag(ops, case, g):
    x, ag, mu, sigma, xhat, err, axes, shape = _bn_parts(case)
    ag_ = np.abs(g)
    ax = np.abs(xhat) + err
    mean_g = ag_.mean(axis=axes, keepdims=True)
    mean_gx = (ag_ * ax).mean(axis=axes, keepdims=True)
    gx = ag / sigma * (ag_ + mean_g + ax * mean_gx)
    return gx, (ag_ * ax).sum(axis=axes), ag_.sum(axis=axes)


def _bn_eval_parts(case):
    x, gamma, beta, mean, var = case.args
    shape = (1, -1) + (1,) * (x.ndim - 2)
    s = np.sqrt(var + case.kwargs.get("eps", 1e-5)).reshape(shape)
    ax = (np.abs(x) + np.abs(mean).reshape(shape)) / s
    return x, np.abs(gamma).reshape(shape), np.abs(beta).reshape(shape), s, ax, shape


def _bn_eval_fwd_mag(ops, case):
    x, ag, ab, s, ax, shape = _bn_eval_parts(case)
    return (ag * ax + ab,)


def _bn_eval_vjp_mag(ops, case, g):
    x, ag, ab, s, ax, shape = _bn_eval_parts(case)
    axes = (0, *range(2, x.ndim))
    return np.abs(g) * ag / s, (np.abs(g) * ax).sum(axis=axes), np.abs(g).sum(axis=axes)


def _running_mag(ops, case):
    x, mean, var = case.args
    m = case.kwargs.get("momentum", 0.1)
    axes = (0, *range(2, x.ndim))
    mu = np.abs(x).mean(axis=axes)
    k = x.size // x.shape[1]
    spread = ((np.abs(x) + np.abs(x.mean(axis=axes, keepdims=True))) ** 2).sum(axis=axes) / (k - 1)
    return (1 - m) * np.abs(mean) + m * mu, (1 - m) * np.abs(var) + m * spread


def _conv_k(case):
    w = case.args[1]
    return int(w.shape[1] * np.prod(w.shape[2:])) + _has_bias(case)


def _conv_vjp_k(case):
    x, w = case.args[0], case.args[1]
    out_terms = int(x.shape[0] * np.prod(x.shape[2:]))  # upper bound on output positions per tap
    ks = [w.shape[0] * int(np.prod(w.shape[2:])), out_terms] + ([out_terms] if case.args[2] is not None else [])
    return tuple(ks)


def _has_bias(case) -> int:
    return int(len(case.args) > 2 and case.args[2] is not None)


def _dense_k(case):
    return case.args[1].shape[1] + _has_bias(case)


def _pool_window(case):
    size = case.kwargs.get("size", 2)
    x = case.args[0]
    return int(np.prod(size)) if isinstance(size, tuple) else size ** (x.ndim - 2)


def _overlap(case):
    x = case.args[0]
    nd = x.ndim - 2
    size = case.kwargs.get("size", 2)
    size = size if isinstance(size, tuple) else (size,) * nd
    stride = case.kwargs.get("stride") or size
    stride = stride if isinstance(stride, tuple) else (stride,) * nd
    return int(np.prod([math.ceil(k / s) for k, s in zip(size, stride, strict=True)]))


def _upsample_k(case):
    f = case.kwargs.get("factor", 2)
    return (int(np.prod(f)) if isinstance(f, tuple) else f ** (case.args[0].ndim - 2),)


def _bn_k(case):
    x = case.args[0]
    return x.size // max(x.shape[1], 1)


@dataclass(frozen=True)
class OpRecord:
    name: str
    cases: Callable[[str], object]
    """dtype name -> hypothesis strategy of :class:`Case` (small tier)."""
    magnitude: Callable
    reduction: Callable[[Case], int]
    diff_args: tuple[int, ...] = ()
    """Positions of the differentiable arguments, in the order the VJP returns their gradients."""
    vjp_magnitude: Callable | None = None
    vjp_reduction: Callable[[Case], tuple[int, ...]] | None = None
    c: float = 2.0
    """Tolerance constant of the bound (tolerance.py)."""
    realistic: Callable[[np.random.Generator], list[tuple[str, Case]]] | None = None
    flags: frozenset = field(default_factory=frozenset)
    """'exact': no rounding at all expected. (No op is 'tie_free': spec routes a max-pool tie to the first
    maximum, so a backend must match spec with ties too, and the cases draw them on purpose.)"""
    n_outputs: int = 1

    @property
    def has_vjp(self) -> bool:
        return self.vjp_magnitude is not None


def _same_k_vjp(n):
    return lambda case: (1,) * n


def _normal(rng, shape, scale=1.0):
    return rng.standard_normal(shape) * scale


def _realistic_conv(rng):
    return [
        ("conv2d N=32 C=64->64 32x32 k3 same", Case((_normal(rng, (32, 64, 32, 32)), _normal(rng, (64, 64, 3, 3), 0.1),
                                                     _normal(rng, (64,))), {"padding": "same"})),
        ("conv1d N=1 C=1->1 n=1e5 k31 periodic", Case((_normal(rng, (1, 1, 100_000)), _normal(rng, (1, 1, 31)),
                                                       None), {"padding": "periodic"})),
        ("conv1d N=1 C=2->2 n=1e5 k3 same", Case((_normal(rng, (1, 2, 100_000)), _normal(rng, (2, 2, 3)),
                                                  _normal(rng, (2,))), {"padding": "same"})),
    ]


def _realistic_big(name, kwargs=None):
    def gen(rng):
        return [(f"{name} (32, 64, 32, 32)", Case((_normal(rng, (32, 64, 32, 32)),), dict(kwargs or {})))]
    return gen


def _realistic_bn(rng):
    c = 64
    return [("batch_norm (32, 64, 32, 32)", Case((_normal(rng, (32, c, 32, 32), 2.0) + 1.0, _normal(rng, (c,)),
                                                   _normal(rng, (c,))), {"eps": 1e-5}))]


def _realistic_dense(rng):
    return [("dense N=256 1024->512", Case((_normal(rng, (256, 1024)), _normal(rng, (512, 1024), 0.05),
                                            _normal(rng, (512,)))))]


def _realistic_dropout(rng):
    x = _normal(rng, (32, 64, 32, 32))
    mask = (rng.random((32, 64)) < 0.8).astype(np.float64)
    return [("dropout (32, 64, 32, 32)", Case((x, mask), {"keep_prob": 0.8, "scaling": "inverted", "training": True}))]


_corners = hh.with_corners
"""The op table's cases draw the corners: exact zeros, ties, all -inf windows, NaN/inf in every argument,
huge/tiny/offset values, omitted keywords and memory layouts (hypothesis_helpers)."""

OP_TABLE: dict[str, OpRecord] = {r.name: r for r in [
    OpRecord("conv", _corners(hh.conv_cases), _linear_fwd("conv"), _conv_k, (0, 1, 2), _linear_vjp("conv"), _conv_vjp_k,
             realistic=_realistic_conv),
    OpRecord("dense", _corners(hh.dense_cases), _linear_fwd("dense"), _dense_k, (0, 1, 2),
             _linear_vjp("dense"),
             lambda c: (c.args[1].shape[0], c.args[0].shape[0], c.args[0].shape[0]), realistic=_realistic_dense),
    OpRecord("relu", _corners(hh.elementwise_cases), _exact_fwd("relu"), lambda c: 1, (0,),
             _routing_vjp("relu"), _same_k_vjp(1), flags=frozenset({"exact"}), realistic=_realistic_big("relu")),
    # A few ulps of libm for exp/tanh on top of the basic roundings.
    OpRecord("sigmoid", _corners(hh.elementwise_cases), _exact_fwd("sigmoid"), lambda c: 1, (0,), _sigmoid_vjp_mag,
             _same_k_vjp(1), c=8.0, realistic=_realistic_big("sigmoid")),
    OpRecord("tanh", _corners(hh.elementwise_cases), _exact_fwd("tanh"), lambda c: 1, (0,), _tanh_vjp_mag,
             _same_k_vjp(1), c=8.0, realistic=_realistic_big("tanh")),
    OpRecord("max_pool", _corners(hh.pool_cases), _exact_fwd("max_pool"), lambda c: 1, (0,),
             _routing_vjp("max_pool"), lambda c: (_overlap(c),), flags=frozenset({"exact"}),
             realistic=_realistic_big("max_pool", {"size": 2})),
    # The mean adds up to two roundings to its K-term sum: the division, or the rounded 1/K and the product.
    OpRecord("avg_pool", _corners(hh.pool_cases), _linear_fwd("avg_pool"), _pool_window, (0,),
             _linear_vjp("avg_pool"), lambda c: (_overlap(c),), c=3.0,
             realistic=_realistic_big("avg_pool", {"size": 2})),
    OpRecord("upsample", _corners(hh.upsample_cases), _exact_fwd("upsample"), lambda c: 1, (0,), _linear_vjp("upsample"),
             _upsample_k, realistic=_realistic_big("upsample", {"factor": 2})),
    # Inverted dropout rounds three times: keep_prob to the dtype, 1/keep_prob (or the division) and the
    # product; the plain bound's C=2 covers only two.
    OpRecord("dropout", _corners(hh.dropout_cases), _linear_fwd("dropout"), lambda c: 1, (0,), _linear_vjp("dropout"),
             _same_k_vjp(1), c=3.0, realistic=_realistic_dropout),
    OpRecord("batch_norm", _corners(hh.batch_norm_cases), _bn_fwd_mag, _bn_k, (0, 1, 2), _bn_vjp_mag,
             lambda c: (_bn_k(c),) * 3, c=4.0, realistic=_realistic_bn),
    # Evaluation-mode batch norm rounds six times per element (x - mean, var + eps, sqrt, divide, scale,
    # shift) with no reduction to average them out: C = 6.
    OpRecord("batch_norm_eval", _corners(hh.batch_norm_eval_cases), _bn_eval_fwd_mag, lambda c: 1, (0, 1, 2),
             _bn_eval_vjp_mag, lambda c: (1, _bn_k(c), _bn_k(c)), c=6.0),
    OpRecord("running_stats", _corners(hh.running_stats_cases), _running_mag, _bn_k, c=4.0, n_outputs=2),
]}


REALISTIC_SEED = 20261127
ORACLE_PREFERENCE = ("numpy", "torch-cpu", "scipy")
"""Float64 oracles of the realistic tier, best first: backends the small tier validates against spec."""


def realistic_cases(record: OpRecord, dtype: str) -> list[tuple[str, Case]]:
    """The record's realistic-size cases, drawn from a fixed seed and rounded to ``dtype``."""
    return [(label, case.rounded(dtype)) for label, case in record.realistic(np.random.default_rng(REALISTIC_SEED))]


def pick_oracle(name: str, candidates) -> str | None:
    """The oracle for backend ``name``: the first of ORACLE_PREFERENCE among ``candidates``, else any other."""
    candidates = list(candidates)
    for cand in (*ORACLE_PREFERENCE, *candidates):
        if cand != name and cand in candidates:
            return cand
    return None


class NumpyView:
    """A backend's ops with numpy arrays in and out, in one dtype (the float64 oracle, typically)."""

    def __init__(self, backend, dtype: str = "float64"):
        self.backend, self.dtype = backend, dtype

    def __getattr__(self, name):
        fn = getattr(self.backend, name)

        def call(*args, **kwargs):
            native = [self.backend.asarray(a, self.dtype) if isinstance(a, np.ndarray) else a for a in args]
            out = fn(*native, **kwargs)
            if isinstance(out, tuple):
                return tuple(np.asarray(self.backend.to_numpy(o), dtype=np.float64) for o in out)
            return np.asarray(self.backend.to_numpy(out), dtype=np.float64)

        return call
