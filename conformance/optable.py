"""The op table: what JUDGING an op needs, on top of spec's catalogue (``spec.catalogue``).

spec's catalogue says what an op is (name, reference, VJP, validator, the role of every argument);
one :class:`OpRecord` per op adds only what the suite needs to judge a backend: its case strategy,
the reduction length and magnitude the tolerance policy (``tolerance.py``) needs, its tolerance
constant, its realistic-size cases and flags.  Which arguments are differentiable (and so the VJP's
arity) and how many outputs the forward has come from the catalogue.  Everything else is generic:
the check helpers in ``checks.py`` read this table.

A magnitude function receives ``ops`` (spec, or a float64 oracle backend seen through
``NumpyView``) and returns, per output, the sum of absolute values of the terms that make up
each element; for linear and bilinear ops that is the op itself applied to absolute values.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from spec import catalogue
from spec.opspec import OpSpec

from . import hypothesis_helpers as hh
from .dtype_helpers import arg_dtype
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


def _has_bias(case, at: int = 2) -> int:
    return int(len(case.args) > at and case.args[at] is not None)


def _lc_k(case):
    x, w = case.args[0], case.args[1]
    return int(np.prod(w.shape[x.ndim - 1:])) + _has_bias(case)  # C_in * prod(k) products, then the bias


def _lc_vjp_k(case):
    x, w = case.args[0], case.args[1]
    nd = x.ndim - 2
    # gx: at most C_out * prod(k) products per input element; gw and gb: one per sample.
    ks = [int(w.shape[nd] * np.prod(w.shape[nd + 2:])), x.shape[0]] + ([x.shape[0]] if _has_bias(case) else [])
    return tuple(ks)


def _graph_rows(case):
    """(sources, targets) of every aggregated row, self loops included."""
    x, edges = case.args[0], case.args[1]
    loops = np.arange(x.shape[0] if case.kwargs.get("self_loops", True) else 0)
    return np.concatenate([edges[:, 0], loops]), np.concatenate([edges[:, 1], loops])


def _graph_k(case):
    x, w = case.args[0], case.args[2]
    _, targets = _graph_rows(case)
    in_rows = int(np.bincount(targets, minlength=x.shape[0]).max()) if targets.size else 0
    return in_rows * w.shape[1] + _has_bias(case, 3)


def _graph_vjp_k(case):
    x, w = case.args[0], case.args[2]
    sources, _ = _graph_rows(case)
    out_rows = int(np.bincount(sources, minlength=x.shape[0]).max()) if sources.size else 0
    ks = [out_rows * w.shape[0], max(sources.size, 1)] + ([x.shape[0]] if _has_bias(case, 3) else [])
    return tuple(ks)


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


@dataclass(frozen=True, kw_only=True)
class OpRecord:
    name: str
    """The op's name in spec's catalogue (and every backend's method name)."""
    cases: Callable[[str], object]
    """dtype name -> hypothesis strategy of :class:`Case` (small tier); values representable in dtype."""
    magnitude: Callable
    """``magnitude(ops, case)`` -> per forward output, the sum of |terms| of each element (tolerance ``m``)."""
    reduction: Callable[[Case], int]
    """``reduction(case)`` -> K, the number of rounded terms per forward output element (tolerance ``K``)."""
    vjp_magnitude: Callable | None = None
    """``vjp_magnitude(ops, case, g)`` -> ``m`` per gradient; None for ops without a VJP."""
    vjp_reduction: Callable[[Case], tuple[int, ...]] | None = None
    """``vjp_reduction(case)`` -> K per gradient, in VJP order."""
    c: float = 2.0
    """Tolerance constant of the bound (tolerance.py)."""
    realistic: Callable[[np.random.Generator], list[tuple[str, Case]]] | None = None
    """``realistic(rng)`` -> labelled realistic-size cases (realistic tier, benchmarks); None: none."""
    flags: frozenset = field(default_factory=frozenset)
    """'tie_free': gradient checks draw inputs without ties (no op needs it: spec routes a max-pool tie to the
    first maximum, so a backend must match spec with ties too, and the cases draw them on purpose).
    Exactness is data of its own: EXACT_WHEN below."""
    smooth_cases: Callable[[str], object] | None = None
    """dtype name -> the same cases without the corners (no NaN/inf, huge values, ties, omitted keywords or
    layouts): what spec's finite-difference self-check draws. None: ``cases``."""

    @property
    def op(self) -> OpSpec:
        """spec's catalogue entry of this op."""
        return catalogue.BY_NAME[self.name]

    @property
    def diff_args(self) -> tuple[int, ...]:
        """Positions of the differentiable arguments, in the order the VJP returns their gradients."""
        return self.op.diff_args

    @property
    def n_outputs(self) -> int:
        return self.op.n_outputs

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


def _realistic_lc(rng):
    # A 2-D locally connected layer of real size: 30 x 30 positions, each with its own 16 x 16 x 3 x 3 kernel.
    x, w = _normal(rng, (16, 16, 32, 32)), _normal(rng, (30, 30, 16, 16, 3, 3), 0.1)
    return [("locally_connected2d N=16 C=16->16 32x32 k3", Case((x, w, _normal(rng, (16, 30, 30))), {"stride": 1}))]


def _realistic_graph(rng):
    # 10^4 nodes, 10^5 random directed edges (duplicates and isolated nodes arise as they come), GCN rule.
    v, e = 10_000, 100_000
    edges = rng.integers(0, v, size=(e, 2), dtype=np.int64)
    x, w, b = _normal(rng, (v, 32)), _normal(rng, (16, 32), 0.2), _normal(rng, (16,))
    return [("graph_conv V=1e4 E=1e5 F=32->16 symmetric", Case((x, edges, w, b),
                                                              {"normalize": "symmetric", "self_loops": True}))]


def _drawn(strategy_fn, **smooth_kwargs) -> dict:
    """``cases`` that draw the corners (exact zeros, ties, all -inf windows, NaN/inf in every argument,
    huge/tiny/offset values, omitted keywords, memory layouts: hypothesis_helpers), and their smooth twin."""
    return {"cases": hh.with_corners(strategy_fn),
            "smooth_cases": functools.partial(strategy_fn, **smooth_kwargs) if smooth_kwargs else strategy_fn}


OP_TABLE: dict[str, OpRecord] = {r.name: r for r in [
    OpRecord(name="conv", **_drawn(hh.conv_cases), magnitude=_linear_fwd("conv"), reduction=_conv_k,
             vjp_magnitude=_linear_vjp("conv"), vjp_reduction=_conv_vjp_k, realistic=_realistic_conv),
    OpRecord(name="dense", **_drawn(hh.dense_cases), magnitude=_linear_fwd("dense"), reduction=_dense_k,
             vjp_magnitude=_linear_vjp("dense"),
             vjp_reduction=lambda c: (c.args[1].shape[0], c.args[0].shape[0], c.args[0].shape[0]),
             realistic=_realistic_dense),
    OpRecord(name="locally_connected", **_drawn(hh.locally_connected_cases), magnitude=_linear_fwd("locally_connected"),
             reduction=_lc_k, vjp_magnitude=_linear_vjp("locally_connected"), vjp_reduction=_lc_vjp_k,
             realistic=_realistic_lc),
    # The coefficient deg[s]^-1/2 deg[t]^-1/2 (or 1/deg[t]) adds up to four roundings to every term (two
    # inverse square roots, their product, the product with the term): C = 6 covers them on short sums.
    OpRecord(name="graph_conv", **_drawn(hh.graph_conv_cases), magnitude=_linear_fwd("graph_conv"), reduction=_graph_k,
             vjp_magnitude=_linear_vjp("graph_conv"), vjp_reduction=_graph_vjp_k, c=6.0,
             realistic=_realistic_graph),
    OpRecord(name="relu", **_drawn(hh.elementwise_cases, avoid_zero=True), magnitude=_exact_fwd("relu"),
             reduction=lambda c: 1, vjp_magnitude=_routing_vjp("relu"), vjp_reduction=_same_k_vjp(1),
             realistic=_realistic_big("relu")),
    # A few ulps of libm for exp/tanh on top of the basic roundings.
    OpRecord(name="sigmoid", **_drawn(hh.elementwise_cases), magnitude=_exact_fwd("sigmoid"), reduction=lambda c: 1,
             vjp_magnitude=_sigmoid_vjp_mag, vjp_reduction=_same_k_vjp(1), c=8.0,
             realistic=_realistic_big("sigmoid")),
    OpRecord(name="tanh", **_drawn(hh.elementwise_cases), magnitude=_exact_fwd("tanh"), reduction=lambda c: 1,
             vjp_magnitude=_tanh_vjp_mag, vjp_reduction=_same_k_vjp(1), c=8.0, realistic=_realistic_big("tanh")),
    OpRecord(name="max_pool", **_drawn(hh.pool_cases, unique=True), magnitude=_exact_fwd("max_pool"),
             reduction=lambda c: 1, vjp_magnitude=_routing_vjp("max_pool"), vjp_reduction=lambda c: (_overlap(c),),
             realistic=_realistic_big("max_pool", {"size": 2})),
    # The mean adds up to two roundings to its K-term sum: the division, or the rounded 1/K and the product.
    OpRecord(name="avg_pool", **_drawn(hh.pool_cases), magnitude=_linear_fwd("avg_pool"),
             reduction=_pool_window, vjp_magnitude=_linear_vjp("avg_pool"), vjp_reduction=lambda c: (_overlap(c),),
             c=3.0, realistic=_realistic_big("avg_pool", {"size": 2})),
    OpRecord(name="upsample", **_drawn(hh.upsample_cases), magnitude=_exact_fwd("upsample"), reduction=lambda c: 1,
             vjp_magnitude=_linear_vjp("upsample"), vjp_reduction=_upsample_k,
             realistic=_realistic_big("upsample", {"factor": 2})),
    # Inverted dropout rounds three times: keep_prob to the dtype, 1/keep_prob (or the division) and the
    # product; the plain bound's C=2 covers only two.
    OpRecord(name="dropout", **_drawn(hh.dropout_cases), magnitude=_linear_fwd("dropout"), reduction=lambda c: 1,
             vjp_magnitude=_linear_vjp("dropout"), vjp_reduction=_same_k_vjp(1), c=3.0,
             realistic=_realistic_dropout),
    OpRecord(name="batch_norm", **_drawn(hh.batch_norm_cases), magnitude=_bn_fwd_mag, reduction=_bn_k,
             vjp_magnitude=_bn_vjp_mag, vjp_reduction=lambda c: (_bn_k(c),) * 3, c=4.0, realistic=_realistic_bn),
    # Evaluation-mode batch norm rounds six times per element (x - mean, var + eps, sqrt, divide, scale,
    # shift) with no reduction to average them out: C = 6.
    OpRecord(name="batch_norm_eval", **_drawn(hh.batch_norm_eval_cases), magnitude=_bn_eval_fwd_mag,
             reduction=lambda c: 1, vjp_magnitude=_bn_eval_vjp_mag, vjp_reduction=lambda c: (1, _bn_k(c), _bn_k(c)),
             c=6.0),
    OpRecord(name="running_stats", **_drawn(hh.running_stats_cases), magnitude=_running_mag, reduction=_bn_k, c=4.0),
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
            native = [self.backend.asarray(a, arg_dtype(a, self.dtype)) if isinstance(a, np.ndarray) else a
                      for a in args]
            out = fn(*native, **kwargs)
            if isinstance(out, tuple):
                return tuple(np.asarray(self.backend.to_numpy(o), dtype=np.float64) for o in out)
            return np.asarray(self.backend.to_numpy(out), dtype=np.float64)

        return call


def _no_scaling(case: Case) -> bool:
    return case.kwargs.get("scaling", "none") == "none" or not case.kwargs.get("training", True)


EXACT_WHEN: dict[str, Callable[[str, Case], bool]] = {
    "relu": lambda mode, case: True,  # max(x, 0) and routing g: no arithmetic
    "max_pool": lambda mode, case: mode == "forward" or _overlap(case) == 1,  # overlapping windows sum g
    "upsample": lambda mode, case: mode == "forward",  # the VJP sums blocks: rounding
    "dropout": lambda mode, case: _no_scaling(case),  # x * 0/1 mask; 1/keep_prob rounds
}
"""op -> (mode, case) -> whether that output involves no rounding and must match spec bit for bit
(signed zeros and NaN positions included: category "inexact" otherwise). Read by checks.check_op."""


def is_exact(record: OpRecord, mode: str, case: Case) -> bool:
    when = EXACT_WHEN.get(record.name)
    return bool(when and when(mode, case))
