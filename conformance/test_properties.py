"""Properties of the lecture's semantics, checked on each backend's own outputs, in float64 and float32.

Each property is one function ``prop(ops, case, rng)`` that raises ConformanceFailure; ``ops`` is the
backend seen through :class:`BackendOps` (numpy float64 in and out, computed in ``ops.dtype``, every call
through ``call_op``, so an exception the backend raises is categorised as the backend's, never as the
suite's). They need no spec call, so they also catch a backend that agrees with spec on small cases only
by accident, and they can afford longer inputs than spec's loops.

Bounds in every dtype come from the tolerance rule (tolerance.py), scaled by u(dtype): each side of a
property is a backend output that a conforming backend computes within the rule's bound of the exact
value, and every array the harness builds is rounded to the dtype before the backend sees it (the rounding
is then part of the input, the same in both dtypes' derivations). The harness's own float64 arithmetic
rounds at 2**-53, which is below u(dtype) for every dtype tested.
"""

from __future__ import annotations

import numpy as np
from hypothesis import assume
from hypothesis import strategies as st

from impls.base import implements

from . import hypothesis_helpers as hh
from . import profiles
from .dtype_helpers import round_to_dtype
from .hypothesis_helpers import Case
from .optable import OP_TABLE
from .plugin import Combo, combos
from .pytest_helpers import ConformanceFailure, call_op
from .runner import not_implemented, pytest_repro, run_examples
from .tolerance import compare

DTYPES = ("float64", "float32")
"""Properties run in each of these the backend declares: a float32-only backend gets property rows too."""


class BackendOps:
    """A backend's ops with numpy arrays in and out, computed in one dtype, every call through ``call_op``."""

    def __init__(self, backend, dtype: str):
        self.backend, self.dtype = backend, dtype

    def __getattr__(self, name):
        def call(*args, **kwargs):
            outs = call_op(self.backend, name, args, kwargs, dtype=self.dtype, n_outputs=None)
            return outs if name.endswith("_vjp") or name == "running_stats" else outs[0]
        return call


def _close(ops, a, e, m, k, what, c=8.0):
    cmp = compare(a, e, m, dtype=ops.dtype, reduction=k, c=c, what=what)
    if not cmp.ok:
        raise ConformanceFailure(cmp.category, cmp.message, comparison=cmp)
    return cmp


def _both_sides(ops, a, e, m, k, what):
    """``a`` and ``e`` are two conv outputs of magnitude at most ``m`` that are equal in exact arithmetic. Each is
    within the rule's bound rtol(K, C) m + K tiny of the exact value (C = conv's constant in the op table, K the
    taps including the bias), so their difference is within twice that: the magnitude is taken as 2 m."""
    return _close(ops, a, e, 2 * m, k, what, c=OP_TABLE["conv"].c)


def _conv_k(case):
    w = case.args[1]
    return int(np.prod(w.shape[1:]))


def _conv_k_bias(case):
    return _conv_k(case) + int(case.args[2] is not None)


# The linearity bounds: lhs, a conv of the dtype-rounded a x1 + b x2, is within rho(K) m + u m of exact (its own
# rounding plus that of its input), and a conv(x1) + b conv(x2) within rho(K) m (a, b are powers of two times
# small integers: exact), where rho(K) = u max(2 sqrt(K), min(K + 1, 16)) and m = conv(|a x1| + |b x2|, |w|).
# The bound used, u max(8 sqrt(3K), min(3K + 1, 16)) 3m >= 41 sqrt(K) u m, exceeds 2 rho(K) m + u m for every K.

def conv_linear_in_x(ops, case, rng):
    x, w, _ = case.args
    x2, a, b = round_to_dtype(rng.standard_normal(x.shape), ops.dtype), 1.5, -0.75
    lhs = ops.conv(a * x + b * x2, w, None, **case.kwargs)
    rhs = a * ops.conv(x, w, None, **case.kwargs) + b * ops.conv(x2, w, None, **case.kwargs)
    m = ops.conv(np.abs(a * x) + np.abs(b * x2), np.abs(w), None, **case.kwargs)
    return _close(ops, lhs, rhs, 3 * m, 3 * _conv_k(case), "conv(a x1 + b x2)")


def conv_linear_in_w(ops, case, rng):
    x, w, _ = case.args
    w2, a, b = round_to_dtype(rng.standard_normal(w.shape), ops.dtype), -2.0, 0.5
    lhs = ops.conv(x, a * w + b * w2, None, **case.kwargs)
    rhs = a * ops.conv(x, w, None, **case.kwargs) + b * ops.conv(x, w2, None, **case.kwargs)
    m = ops.conv(np.abs(x), np.abs(a * w) + np.abs(b * w2), None, **case.kwargs)
    return _close(ops, lhs, rhs, 3 * m, 3 * _conv_k(case), "conv(x, a w1 + b w2)")


LONG_ROW = 17
"""The property lengthens the last spatial axis to at least this: spec's loops keep the forward checks' inputs
short (<= 9), and a blocked kernel's wrap-around at a block edge only shows on longer rows."""


def periodic_shift_equivariance(ops, case, rng):
    x, w, b = case.args
    extra = max(0, LONG_ROW - x.shape[-1]) + int(rng.integers(0, 8))
    x = np.concatenate([x, round_to_dtype(rng.standard_normal((*x.shape[:-1], extra)), ops.dtype)], axis=-1)
    kw = dict(case.kwargs, padding="periodic", stride=1)
    nd = x.ndim - 2
    shift = tuple(int(rng.integers(0, n)) for n in x.shape[2:])
    axes = tuple(range(2, 2 + nd))
    lhs = ops.conv(np.roll(x, shift, axis=axes), w, b, **kw)
    rhs = np.roll(ops.conv(x, w, b, **kw), shift, axis=axes)
    m = ops.conv(np.abs(x), np.abs(w), None if b is None else np.abs(b), **kw)
    return _both_sides(ops, lhs, rhs, np.maximum(m, np.roll(m, shift, axis=axes)), _conv_k_bias(case),
                       "conv(roll(x))")


def valid_is_interior_of_same(ops, case, rng):
    x, w, b = case.args
    kw = dict(case.kwargs, stride=1)
    span = [d * (k - 1) + 1 for d, k in zip(_dil(kw, x.ndim - 2), w.shape[2:], strict=True)]
    if any(s > n for s, n in zip(span, x.shape[2:], strict=True)):
        return None
    valid = ops.conv(x, w, b, **dict(kw, padding="valid"))
    same = ops.conv(x, w, b, **dict(kw, padding="same"))
    before = [(s - 1) // 2 for s in span]
    interior = same[(slice(None), slice(None), *(slice(p, p + v) for p, v in zip(before, valid.shape[2:],
                                                                                 strict=True)))]
    m = ops.conv(np.abs(x), np.abs(w), None if b is None else np.abs(b), **dict(kw, padding="valid"))
    return _both_sides(ops, interior, valid, m, _conv_k_bias(case), "same[interior]")


def _dil(kw, nd):
    d = kw.get("dilation", 1)
    return d if isinstance(d, tuple) else (d,) * nd


def adjoint_identity(ops, case, rng):
    x, w, _ = case.args
    y = ops.conv(x, w, None, **case.kwargs)
    g = round_to_dtype(rng.standard_normal(y.shape), ops.dtype)
    gx = ops.conv_vjp(g, x, w, None, **case.kwargs)[0]
    lhs, rhs = np.array([np.sum(y * g)]), np.array([np.sum(x * gx)])
    mag = np.array([np.sum(np.abs(ops.conv(np.abs(x), np.abs(w), None, **case.kwargs)) * np.abs(g))])
    # y errs by rho(K) conv(|x|, |w|) per element and gx by rho(T) conv_vjp(|g|, |x|, |w|) (T <= y.size terms per
    # element), whose inner product with |x| is mag again; the float64 sums add O(log y.size) u64 mag. The bound
    # treats the whole inner product as one reduction of K y.size terms: u 8 sqrt(K y.size) mag, and
    # 8 sqrt(K s) >= 4 (sqrt(K) + sqrt(s)) covers rho(K) + rho(T) (rho(K) <= 4 sqrt(K) u up to 3% at K = 14, 15).
    return _close(ops, lhs, rhs, mag, _conv_k(case) * y.size, "<conv(x), g> vs <x, conv_vjp(g)>")


def maxpool_undoes_upsample(ops, case, rng):
    x = case.args[0]
    f = case.kwargs["factor"]
    back = ops.max_pool(ops.upsample(x, factor=f), size=f)
    if not np.array_equal(back, x):
        raise ConformanceFailure("mismatch", f"max_pool(upsample(x, {f}), {f}) != x", expected=str(x.ravel()[:16]),
                                 actual=str(back.ravel()[:16]))


def downsample_loses_information(ops, case, rng):
    """The lecture's 'downsample + upsample != original', on an input with distinct values."""
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    rng.shuffle(x.reshape(-1))
    back = ops.upsample(ops.max_pool(x, size=2), factor=2)
    if np.array_equal(back, x):
        raise ConformanceFailure("mismatch", "upsample(max_pool(x)) == x for distinct x: no information lost?")
    if not np.array_equal(np.unique(back), np.sort(ops.max_pool(x, size=2).ravel())):
        raise ConformanceFailure("mismatch", "upsample(max_pool(x)) holds values other than the window maxima")


def nyquist_checkerboard_is_lost(ops, case, rng):
    """Aliasing: the highest-frequency pattern is invisible after 2x2 pooling."""
    n = 2 * int(rng.integers(1, 5))
    i, j = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    board = ((-1.0) ** (i + j))[None, None]
    mp, ap = ops.max_pool(board, size=2), ops.avg_pool(board, size=2)
    if not (np.all(mp == 1.0) and np.all(ap == 0.0)):
        raise ConformanceFailure("mismatch", "max_pool of the checkerboard should be all 1 and avg_pool all 0",
                                 actual=f"max {mp.ravel()[:8]}, avg {ap.ravel()[:8]}")


def dropout_eval_is_identity(ops, case, rng):
    x, mask = case.args
    y = ops.dropout(x, mask, **dict(case.kwargs, training=False))
    if not np.array_equal(y, x):
        raise ConformanceFailure("mismatch", "dropout(training=False) is not the identity")


def dropout_zeroes_whole_channels(ops, case, rng):
    x, mask = case.args
    x = round_to_dtype(x + 10.0, ops.dtype)  # no zero inputs, so a zero output can only come from the mask
    y = ops.dropout(x, mask, **dict(case.kwargs, training=True, scaling="none"))
    dropped = mask == 0
    if not np.all(y[dropped] == 0) or not np.array_equal(y[~dropped], x[~dropped]):
        raise ConformanceFailure("mismatch", "dropout must zero exactly the channels whose mask is 0 and keep "
                                 "the others unchanged (scaling='none')")


def batch_norm_moments(ops, case, rng):
    x, gamma, beta = case.args
    eps = case.kwargs["eps"]
    # Below ~1e-150 the squares inside this test's own std underflow; that says nothing of the backend.
    assume(np.all((gamma == 0) | (np.abs(gamma) > 1e-100)))
    y = ops.batch_norm(x, gamma, beta, eps=eps)
    axes = (0, *range(2, x.ndim))
    var = x.var(axis=axes)
    k = x.size // x.shape[1]
    scale = np.abs(gamma) * np.sqrt(var / (var + eps))
    # The test's own mean/std/sqrt add a fixed number of roundings on top of the K-term sums, and the
    # backend's x - mean carries an error of u (|x| + |mean|) / sigma (a near-constant channel).
    cond = (np.abs(x).max(axis=axes) + np.abs(x.mean(axis=axes))) / np.sqrt(var + eps)
    _close(ops, y.mean(axis=axes), beta, np.abs(beta) + np.abs(gamma) * (4 + cond), k + 16,
           "mean of batch_norm(x) per channel")
    # y = gamma xhat + beta is rounded against |beta| before the std is taken: beta enters m.
    m = (np.abs(gamma) * (4 + cond) + np.abs(beta)) * 2
    return _close(ops, y.std(axis=axes), scale, m, k + 16, "std of batch_norm(x) per channel")


def batch_norm_affine_invariance(ops, case, rng):
    x, gamma, beta = case.args
    shape = (1, -1) + (1,) * (x.ndim - 2)
    a = rng.uniform(0.5, 2.0, x.shape[1]).reshape(shape)
    c = rng.uniform(-3.0, 3.0, x.shape[1]).reshape(shape)
    eps = 1e-300  # with eps > 0 the invariance is exact only in the limit; this eps is below any variance
    y1 = ops.batch_norm(x, gamma, beta, eps=eps)
    y2 = ops.batch_norm(a * x + c, gamma, beta, eps=eps)
    axes = (0, *range(2, x.ndim))
    std = x.std(axis=axes, keepdims=True)
    m = np.abs(gamma).reshape(shape) * (np.abs(x) + np.abs(c) + 1) / np.where(std > 0, std, np.inf) + 1
    return _close(ops, y2, y1, m, x.size // x.shape[1], "batch_norm(a x + c)")


@st.composite
def _spread_bn_cases(draw, dt):
    case = draw(hh.batch_norm_cases(dt))
    x = case.args[0]
    axes = (0, *range(2, x.ndim))
    if np.any(x.std(axis=axes) < 0.05):  # a near-constant channel has no defined scale to be invariant to
        x = x + np.random.default_rng(0).standard_normal(x.shape)
    return Case((x, *case.args[1:]), case.kwargs)


PROPERTIES = {
    # name: (op, dtype -> strategy, property)
    "conv_linear_in_x": ("conv", hh.conv_cases, conv_linear_in_x),
    "conv_linear_in_w": ("conv", hh.conv_cases, conv_linear_in_w),
    "periodic_shift_equivariance": ("conv", hh.conv_cases, periodic_shift_equivariance),
    "valid_is_interior_of_same": ("conv", hh.conv_cases, valid_is_interior_of_same),
    "adjoint_identity": ("conv", hh.conv_cases, adjoint_identity),
    "maxpool_undoes_upsample": ("max_pool", hh.upsample_cases, maxpool_undoes_upsample),
    "downsample_loses_information": ("max_pool", lambda dt: st.just(None), downsample_loses_information),
    "nyquist_checkerboard_is_lost": ("max_pool", lambda dt: st.just(None), nyquist_checkerboard_is_lost),
    "dropout_eval_is_identity": ("dropout", hh.dropout_cases, dropout_eval_is_identity),
    "dropout_zeroes_whole_channels": ("dropout", hh.dropout_cases, dropout_zeroes_whole_channels),
    "batch_norm_moments": ("batch_norm", hh.batch_norm_cases, batch_norm_moments),
    "batch_norm_affine_invariance": ("batch_norm", _spread_bn_cases, batch_norm_affine_invariance),
}
NEEDS = {"maxpool_undoes_upsample": ("upsample",), "downsample_loses_information": ("upsample",),
         "nyquist_checkerboard_is_lost": ("avg_pool",), "adjoint_identity": ("conv_vjp",)}


def _prop_dtypes(backend) -> list[str]:
    return [dt for dt in DTYPES if dt in backend.dtypes]


def _prop_combos(name, backend):
    return [Combo(name, op, dt, prop) for dt in _prop_dtypes(backend) for prop, (op, _, _) in PROPERTIES.items()]


def _examples(backend, dtype: str) -> int:
    """Full strength in the backend's widest dtype; a fifth of it as the cross-check in the narrower one."""
    n = profiles.current().examples
    return n if dtype == _prop_dtypes(backend)[0] else max(3, n // 5)


@combos(_prop_combos)
def test_property(combo, backend, row, request):
    op, strategy, prop = PROPERTIES[combo.extra]
    row.name = combo.extra
    for needed in (op, *NEEDS.get(combo.extra, ())):
        if not implements(backend, needed):
            not_implemented(row, NotImplementedError(needed))
    ops = BackendOps(backend, combo.dtype)

    def check(case, seed):
        case = case.rounded(combo.dtype) if case is not None else None
        return prop(ops, case, np.random.default_rng(seed))

    run_examples(row, backend, strategy(combo.dtype), check, max_examples=_examples(backend, combo.dtype),
                 repro=lambda case, seed: pytest_repro(request.node.nodeid, combo.backend,
                                                       request.config.getoption("hypothesis_seed", None)))
