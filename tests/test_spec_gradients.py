"""Self-checks of spec's VJPs: finite differences of EVERY catalogue op over the conformance strategies,
adjoint identities, tie policy, torch cross-checks.

Every check uses RANDOM inputs and a RANDOM cotangent g (never all ones: for batch norm an all-ones
cotangent makes the input gradient identically zero and proves nothing).

Finite-difference tolerance (float64, central differences with step H = 1e-6):
* rounding: each forward value carries an error of at most ~K * 2.2e-16 * F (F = largest |f| or 1,
  K a few dozen summed terms), so <g, (f(x+Hv) - f(x-Hv)) / 2H> is off by at most
  ~ sum|g| * K * 2.2e-16 * F / H ~ 1e-8 * sum|g| * F; we allow ATOL_FD = 1e-7 * sum|g| * F;
* truncation: H^2 * f''' / 6 is ~1e-12 relative for the smooth ops drawn here; we allow RTOL_FD = 1e-6.
A wrong gradient is off by O(1) relative, six orders of magnitude above these bounds.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import spec
from conformance import profiles
from conformance.hypothesis_helpers import Case
from conformance.optable import OP_TABLE
from impls.base import OPS
from spec import validate
from spec.catalogue import CATALOGUE

N_EXAMPLES = profiles.current().spec_vjp_examples
FD = settings(max_examples=N_EXAMPLES, deadline=None, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])
XCHECK = settings(
    max_examples=max(10, profiles.current().examples),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

H = 1e-6
RTOL_FD = 1e-6
ATOL_FD_FACTOR = 1e-7
FULL_FD_MAX_ELEMENTS = 24
"""Below this many differentiable scalars, every partial derivative is also checked one by one."""

seeds = st.integers(0, 2**32 - 1)


def _fd_tol(g, *outs):
    f_scale = max([1.0] + [float(np.max(np.abs(o))) for o in outs if o.size])
    return ATOL_FD_FACTOR * float(np.sum(np.abs(g))) * f_scale


def check_vjp(op, args, diff, kwargs, rng):
    """Compare ``op_vjp`` with central differences of ``op``.

    ``args``: positional arrays/None; ``diff``: indices of the differentiable ones (in vjp order).
    Directional check <g, J v> = <vjp(g), v> along one random direction v of all inputs at once,
    plus the full per-element check when there are few scalars.
    """
    f = getattr(spec, op)
    vjp = getattr(spec, op + "_vjp")
    y = f(*args, **kwargs)
    assert y.dtype == np.float64
    g = rng.standard_normal(y.shape)
    grads = vjp(g, *args, **kwargs)
    assert isinstance(grads, tuple) and len(grads) == len(diff)
    for gr, i in zip(grads, diff, strict=True):
        assert gr.shape == np.shape(args[i]) and gr.dtype == np.float64

    def shifted(deltas, sign):
        new = list(args)
        for i, d in deltas.items():
            new[i] = args[i] + sign * H * d
        return f(*new, **kwargs)

    # directional derivative
    v = {i: rng.standard_normal(np.shape(args[i])) for i in diff}
    fp, fm = shifted(v, +1), shifted(v, -1)
    lhs = float(np.sum(g * (fp - fm))) / (2 * H)
    rhs = sum(float(np.sum(gr * v[i])) for gr, i in zip(grads, diff, strict=True))
    tol = _fd_tol(g, fp, fm) + RTOL_FD * (abs(lhs) + abs(rhs))
    assert abs(lhs - rhs) <= tol, f"{op}: <g, Jv> by FD = {lhs!r}, <vjp(g), v> = {rhs!r}, tol {tol:.3g}"

    # full per-element finite differences for small cases
    if sum(np.size(args[i]) for i in diff) <= FULL_FD_MAX_ELEMENTS:
        for gr, i in zip(grads, diff, strict=True):
            for idx in np.ndindex(np.shape(args[i])):
                e = np.zeros(np.shape(args[i]))
                e[idx] = 1.0
                fp, fm = shifted({i: e}, +1), shifted({i: e}, -1)
                fd = float(np.sum(g * (fp - fm))) / (2 * H)
                tol = _fd_tol(g, fp, fm) + RTOL_FD * (abs(fd) + abs(gr[idx]))
                assert abs(fd - gr[idx]) <= tol, f"{op}: d<g, f>/d arg{i}{list(idx)} by FD = {fd!r}, vjp gives {gr[idx]!r}"
    return grads


# ---------------------------------------------------------------------------------------------
# strategies: shapes drawn by hypothesis, values from a seeded generator


@st.composite
def conv_cases(draw, max_spatial=None):
    nd = draw(st.integers(1, 3))
    limit = {1: 7, 2: 5, 3: 3}[nd] if max_spatial is None else max_spatial
    padding = draw(st.sampled_from(validate.PADDINGS))
    ks, ds, ns, ss = [], [], [], []
    for _ in range(nd):
        k = draw(st.integers(1, 3 if nd < 3 else 2))
        d = draw(st.integers(1, 2))
        span = d * (k - 1) + 1
        lo = span if padding == "valid" else 1
        n = draw(st.integers(lo, max(lo, limit)))
        ks.append(k)
        ds.append(d)
        ns.append(n)
        ss.append(draw(st.integers(1, 3)))
    n_batch = draw(st.integers(1, 2))
    c_in = draw(st.integers(1, 2))
    c_out = draw(st.integers(1, 2))
    with_bias = draw(st.booleans())
    rng = np.random.default_rng(draw(seeds))
    x = rng.standard_normal((n_batch, c_in, *ns))
    w = rng.standard_normal((c_out, c_in, *ks))
    b = rng.standard_normal(c_out) if with_bias else None
    stride = tuple(ss) if draw(st.booleans()) else ss[0]
    dilation = tuple(ds) if nd > 1 else ds[0]
    return x, w, b, {"padding": padding, "stride": stride, "dilation": dilation}, rng


def _shape(draw, max_rank=5):
    return tuple(draw(st.lists(st.integers(1, 3), min_size=1, max_size=max_rank)))


@st.composite
def pool_cases(draw):
    nd = draw(st.integers(1, 3))
    size = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = None if draw(st.booleans()) else tuple(draw(st.integers(1, 3)) for _ in range(nd))
    limit = {1: 8, 2: 6, 3: 4}[nd]
    spatial = tuple(draw(st.integers(k, max(k, limit))) for k in size)
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 2)), *spatial)
    rng = np.random.default_rng(draw(seeds))
    kw = {"size": size[0] if nd == 1 else size, "stride": stride}
    return shape, kw, rng


@st.composite
def bn_cases(draw):
    spatial = tuple(draw(st.integers(1, 3)) for _ in range(draw(st.integers(0, 3))))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *spatial)
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.5]))
    rng = np.random.default_rng(draw(seeds))
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3.0) + rng.uniform(-2, 2)
    return x, eps, rng


# ---------------------------------------------------------------------------------------------
# one generic finite-difference check of every VJP in spec's catalogue, over the conformance strategies

FD_OPS = [op for op in CATALOGUE if op.vjp is not None]


def _channel_std(x):
    axes = (0, *range(2, x.ndim))
    return x.std(axis=axes)


def _fd_ready(rec, case: Case) -> Case:
    """The conformance case, made safe for central differences where the op has kinks:

    * max_pool: x's values are replaced by their ranks on a 0.25 grid, so each window's
      argmax stays where hypothesis put it and every gap is >> H (unique draws may differ by one ulp);
    * relu: its strategy already keeps |x| >= 1e-2 away from the kink at 0;
    * batch_norm: the normalising std must stay well above H (third derivatives grow like 1/std^3).
    """
    if rec.name == "max_pool":
        x = case.args[0]
        ranks = np.argsort(np.argsort(x, axis=None), kind="stable").reshape(x.shape)
        case = Case((ranks * 0.25 - 3.0, *case.args[1:]), case.kwargs)
    if rec.name == "batch_norm":
        x = case.args[0]
        assume(validate.reduction_count(x.shape) == 1 or float(np.min(_channel_std(x))) > 0.05)
    return case


@pytest.mark.parametrize("op", FD_OPS, ids=lambda op: op.name)
def test_vjp_agrees_with_finite_differences(op):
    """Every differentiable op: its VJP against central differences of its forward, on the cases the
    conformance suite draws (float64, without the corners: finite differences need smooth inputs), along a
    random direction and element by element when small."""
    rec = OP_TABLE[op.name]

    @FD
    @given(case=(rec.smooth_cases or rec.cases)("float64"), seed=seeds)
    def check(case, seed):
        case = _fd_ready(rec, case)
        args = list(case.args)
        diff = [i for i in op.diff_args if i < len(args) and args[i] is not None]
        check_vjp(op.name, args, diff, case.kwargs, np.random.default_rng(seed))

    check()


def test_every_differentiable_op_is_checked():
    assert {op.name for op in FD_OPS} == set(OPS) and len(FD_OPS) >= 13
    assert all(OP_TABLE[op.name].has_vjp for op in FD_OPS), "the op table must draw cases for every VJP"


def test_batch_norm_input_gradient_is_not_trivially_zero():
    """Guard against a degenerate check: with a random cotangent the input gradient is non-zero."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 2, 4))
    g = rng.standard_normal(x.shape)
    gx, _, _ = spec.batch_norm_vjp(g, x, np.ones(2), np.zeros(2))
    assert np.max(np.abs(gx)) > 0.1
    # ... whereas an all-ones cotangent gives (numerically) zero: the reason the checks never use it
    gx1, _, _ = spec.batch_norm_vjp(np.ones_like(x), x, np.ones(2), np.zeros(2))
    assert np.max(np.abs(gx1)) < 1e-12


# ---------------------------------------------------------------------------------------------
# adjoint identity: conv is linear in x (and in w)


@FD
@given(conv_cases())
def test_conv_adjoint_identity(case):
    x, w, _, kw, rng = case
    y = spec.conv(x, w, **kw)
    r = rng.standard_normal(y.shape)
    gx, gw = spec.conv_vjp(r, x, w, **kw)
    lhs = float(np.sum(y * r))
    # rounding bound: every product is summed once on each side
    scale = float(np.sum(np.abs(r) * spec.conv(np.abs(x), np.abs(w), **kw)))
    assert abs(lhs - float(np.sum(x * gx))) <= 1e-12 * scale + 1e-300
    assert abs(lhs - float(np.sum(w * gw))) <= 1e-12 * scale + 1e-300


@pytest.mark.parametrize("nd", [1, 2, 3])
@pytest.mark.parametrize("padding", ["valid", "same", "periodic"])
@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 1), (1, 2), (3, 2)])
def test_conv_adjoint_identity_every_mode(nd, padding, stride, dilation):
    """The same identity on a fixed grid, so every padding x stride x dilation x rank is covered."""
    rng = np.random.default_rng(100 * nd + 10 * stride + dilation)
    k = (3, 2, 2)[:nd]  # an odd and an even kernel axis
    x = rng.standard_normal((2, 2) + (5, 6, 5)[:nd])
    w = rng.standard_normal((3, 2) + k)
    kw = {"padding": padding, "stride": stride, "dilation": dilation}
    y = spec.conv(x, w, **kw)
    r = rng.standard_normal(y.shape)
    gx, gw = spec.conv_vjp(r, x, w, **kw)
    lhs = float(np.sum(y * r))
    scale = float(np.sum(np.abs(r) * spec.conv(np.abs(x), np.abs(w), **kw)))
    assert abs(lhs - float(np.sum(x * gx))) <= 1e-12 * scale
    assert abs(lhs - float(np.sum(w * gw))) <= 1e-12 * scale


# ---------------------------------------------------------------------------------------------
# tie and NaN policy of max_pool


@pytest.mark.parametrize("nd", [1, 2, 3])
def test_max_pool_tie_goes_to_first_element(nd):
    shape = (2, 2) + (4,) * nd
    x = np.full(shape, 1.5)
    out_shape = (2, 2) + (2,) * nd
    g = np.random.default_rng(nd).standard_normal(out_shape)
    (gx,) = spec.max_pool_vjp(g, x, size=2)
    expected = np.zeros(shape)
    expected[(slice(None), slice(None)) + (slice(0, None, 2),) * nd] = g  # window origins only
    assert np.array_equal(gx, expected)
    assert np.array_equal(spec.max_pool(x, size=2), np.full(out_shape, 1.5))


def test_max_pool_tie_after_a_smaller_value_and_overlap():
    x = np.array([[[0.0, 2.0, 1.0, 2.0, 2.0]]])
    # windows of 3, stride 1: [0 2 1] -> idx 1, [2 1 2] -> idx 1 (first of the tie), [1 2 2] -> idx 3
    g = np.array([[[0.5, -1.25, 3.0]]])
    (gx,) = spec.max_pool_vjp(g, x, size=3, stride=1)
    assert np.array_equal(gx, np.array([[[0.0, 0.5 - 1.25, 0.0, 3.0, 0.0]]]))


def test_max_pool_nan_propagates_and_takes_the_gradient():
    x = np.array([[[[1.0, np.nan], [np.nan, 5.0]], [[-np.inf, -np.inf], [-np.inf, -np.inf]]]])
    y = spec.max_pool(x, size=2)
    assert np.isnan(y[0, 0, 0, 0]) and y[0, 1, 0, 0] == -np.inf
    (gx,) = spec.max_pool_vjp(np.array([[[[2.0]], [[3.0]]]]), x, size=2)
    # first NaN in row-major window order is (0, 1); the all -inf window ties -> first element
    assert np.array_equal(gx, np.array([[[[0.0, 2.0], [0.0, 0.0]], [[3.0, 0.0], [0.0, 0.0]]]]))


def test_relu_derivative_at_zero_is_zero():
    x = np.array([[-1.0, 0.0, -0.0, 2.0]])
    (gx,) = spec.relu_vjp(np.array([[1.5, 2.5, 3.5, 4.5]]), x)
    assert np.array_equal(gx, np.array([[0.0, 0.0, 0.0, 4.5]]))


# ---------------------------------------------------------------------------------------------
# independent cross-checks against torch (float64), catching a wrong-but-self-consistent spec

torch = None


def _torch():
    global torch
    torch = pytest.importorskip("torch")
    return torch


def _t(a, grad=False):
    t = torch.tensor(np.asarray(a), dtype=torch.float64)
    return t.requires_grad_(grad)


def _grads(out, inputs, g):
    return torch.autograd.grad(out, inputs, grad_outputs=_t(g))


@XCHECK
@given(conv_cases())
def test_conv_matches_torch(case):
    _torch()
    F = torch.nn.functional
    x, w, b, kw, rng = case
    nd = x.ndim - 2
    stride, dilation, pads = validate.check_conv(x, w, b, **kw)
    mode = {"valid": "constant", "same": "constant", "periodic": "wrap"}[kw["padding"]]
    xp = np.pad(x, ((0, 0), (0, 0), *pads), mode=mode)  # numpy wraps any number of times
    tx, tw = _t(xp, True), _t(w, True)
    tb = None if b is None else _t(b, True)
    conv = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}[nd]
    ty = conv(tx, tw, tb, stride=stride, dilation=dilation)
    y = spec.conv(x, w, b, **kw)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    if kw["padding"] == "same" and all(s == 1 for s in stride):
        # torch's own padding='same' (extra pad of an even kernel at the end), independent of same_pads
        with warnings.catch_warnings():  # torch notes that it copies the input for even kernels
            warnings.simplefilter("ignore", UserWarning)
            ty_same = conv(_t(x), _t(w), tb, padding="same", dilation=dilation)
        np.testing.assert_allclose(y, ty_same.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = rng.standard_normal(y.shape)
    ours = spec.conv_vjp(g, x, w, b, **kw)
    inputs = [tx, tw] if b is None else [tx, tw, tb]
    theirs = _grads(ty, inputs, g)
    # fold torch's gradient on the padded input back onto x (periodic pads wrap)
    gxp = theirs[0].numpy()
    gx = np.zeros(x.shape)
    for idx in np.ndindex(gxp.shape):
        src = [idx[0], idx[1]]
        inside = True
        for a in range(nd):
            pos = idx[2 + a] - pads[a][0]
            if kw["padding"] == "periodic":
                pos %= x.shape[2 + a]
            elif not 0 <= pos < x.shape[2 + a]:
                inside = False
            src.append(pos)
        if inside:
            gx[tuple(src)] += gxp[idx]
    np.testing.assert_allclose(ours[0], gx, rtol=1e-11, atol=1e-11)
    for o, t in zip(ours[1:], theirs[1:], strict=True):
        np.testing.assert_allclose(o, t.numpy(), rtol=1e-11, atol=1e-11)


@XCHECK
@given(pool_cases(), st.booleans())
def test_pooling_matches_torch(case, with_ties):
    _torch()
    F = torch.nn.functional
    shape, kw, rng = case
    nd = len(shape) - 2
    size, stride = validate.check_pool(np.empty(shape), size=kw["size"], stride=kw["stride"])
    # small integers give plenty of ties; torch also routes a tie to the first maximum
    x = rng.integers(0, 3, shape).astype(np.float64) if with_ties else rng.standard_normal(shape)
    for op, tfn in (
        ("max_pool", {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}[nd]),
        ("avg_pool", {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}[nd]),
    ):
        tx = _t(x, True)
        ty = tfn(tx, kernel_size=size, stride=stride)
        y = getattr(spec, op)(x, **kw)
        # a window mean may cancel to ~0, and summation order may differ: bound relative to max|x|
        np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-14, atol=1e-14 * np.max(np.abs(x)))
        g = rng.standard_normal(y.shape)
        (gx,) = getattr(spec, op + "_vjp")(g, x, **kw)
        # overlapping windows accumulate several g values (order may differ): bound relative to max|g|
        np.testing.assert_allclose(
            gx, _grads(ty, [tx], g)[0].numpy(), rtol=1e-13, atol=1e-14 * max(1.0, float(np.max(np.abs(g))))
        )


@XCHECK
@given(st.integers(1, 3), st.data(), seeds)
def test_upsample_matches_torch(nd, data, seed):
    _torch()
    rng = np.random.default_rng(seed)
    spatial = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    factor = tuple(data.draw(st.integers(1, 3)) for _ in range(nd))
    x = rng.standard_normal((2, 2, *spatial))
    tx = _t(x, True)
    ty = torch.nn.functional.interpolate(tx, scale_factor=factor, mode="nearest")
    y = spec.upsample(x, factor=factor)
    assert np.array_equal(y, ty.detach().numpy())
    g = rng.standard_normal(y.shape)
    np.testing.assert_allclose(
        spec.upsample_vjp(g, x, factor=factor)[0],
        _grads(ty, [tx], g)[0].numpy(),
        rtol=1e-14,
        atol=1e-14 * float(np.max(np.abs(g))),  # block sums of up to 27 values, order may differ
    )


@XCHECK
@given(bn_cases(), st.floats(0.0, 1.0))
def test_batch_norm_matches_torch(case, momentum):
    _torch()
    F = torch.nn.functional
    x, eps, rng = case
    assume(validate.reduction_count(x.shape) >= 2)
    c = x.shape[1]
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    rm, rv = rng.standard_normal(c), rng.uniform(0.1, 3.0, c)
    tx, tg, tb = _t(x, True), _t(gamma, True), _t(beta, True)
    trm, trv = _t(rm), _t(rv)
    ty = F.batch_norm(tx, trm, trv, tg, tb, training=True, momentum=momentum, eps=eps)
    y = spec.batch_norm(x, gamma, beta, eps=eps)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    g = rng.standard_normal(y.shape)
    for o, t in zip(spec.batch_norm_vjp(g, x, gamma, beta, eps=eps), _grads(ty, [tx, tg, tb], g), strict=True):
        np.testing.assert_allclose(o, t.numpy(), rtol=1e-9, atol=1e-9)
    # torch updated trm / trv in place with its momentum convention and the unbiased variance
    new_mean, new_var = spec.running_stats(x, rm, rv, momentum=momentum)
    np.testing.assert_allclose(new_mean, trm.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(new_var, trv.numpy(), rtol=1e-12, atol=1e-12)
    # evaluation mode
    tx2, tg2, tb2 = _t(x, True), _t(gamma, True), _t(beta, True)
    ty2 = F.batch_norm(tx2, _t(rm), _t(rv), tg2, tb2, training=False, eps=eps)
    y2 = spec.batch_norm_eval(x, gamma, beta, rm, rv, eps=eps)
    np.testing.assert_allclose(y2, ty2.detach().numpy(), rtol=1e-12, atol=1e-12)
    for o, t in zip(
        spec.batch_norm_eval_vjp(g, x, gamma, beta, rm, rv, eps=eps),
        _grads(ty2, [tx2, tg2, tb2], g),
        strict=True,
    ):
        np.testing.assert_allclose(o, t.numpy(), rtol=1e-11, atol=1e-11)


@XCHECK
@given(st.data(), st.sampled_from(["relu", "sigmoid", "tanh"]), seeds)
def test_activations_match_torch(data, op, seed):
    _torch()
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(_shape(data.draw)) * 4.0
    tx = _t(x, True)
    ty = getattr(torch, op)(tx)
    y = getattr(spec, op)(x)
    np.testing.assert_allclose(y, ty.detach().numpy(), rtol=1e-14, atol=1e-16)
    g = rng.standard_normal(y.shape)
    ours, theirs = getattr(spec, op + "_vjp")(g, x)[0], _grads(ty, [tx], g)[0].numpy()
    # s(1 - s) and 1 - t^2 cancel when the activation saturates: any implementation is off by a few
    # ulp(1) = 2.2e-16 times |g| there, so the bound is relative to |g|, not to the tiny gradient.
    assert np.all(np.abs(ours - theirs) <= 1e-13 * np.abs(theirs) + 1e-15 * np.abs(g))


def _batch_norm_vjp_decimal(g, x, gamma, eps):
    """gx of batch norm in 80-digit decimal arithmetic, by the xhat form gamma/std (g - mean g - xhat mean(g xhat)),
    a different formula from spec's chain rule: an independent reference."""
    from decimal import Decimal, localcontext

    out = np.zeros(x.shape)
    with localcontext() as ctx:
        ctx.prec = 80
        for c in range(x.shape[1]):
            xs = [Decimal(float(v)) for v in x[:, c].ravel()]
            gs = [Decimal(float(v)) for v in g[:, c].ravel()]
            m = len(xs)
            mu = sum(xs) / m
            std = (sum((v - mu) ** 2 for v in xs) / m + Decimal(eps)).sqrt()
            xhat = [(v - mu) / std for v in xs]
            mean_g, mean_gx = sum(gs) / m, sum(a * b for a, b in zip(gs, xhat, strict=True)) / m
            vals = [Decimal(float(gamma[c])) / std * (gi - mean_g - xi * mean_gx) for gi, xi in zip(gs, xhat, strict=True)]
            out[:, c] = np.array([float(v) for v in vals]).reshape(x[:, c].shape)
    return out


@pytest.mark.parametrize("seed", [0, 1])
def test_batch_norm_vjp_has_no_intermediate_underflow(seed):
    """A tiny gamma with a huge spread: dvar alone (s / std^3) is subnormal while every term of gx is normal.
    Spec's old order (dvar first) was off by 4.6x the tolerance rule's bound here (found by a ci run, seed 777)."""
    from conformance.tolerance import bound_parameters

    x = np.zeros((2, 2, 3))
    x[1, 0, 2] = 1.152921504606847e18
    gamma, beta = np.array([2.199751221571466e-285, 0.0]), np.zeros(2)
    g = np.random.default_rng(seed).standard_normal(x.shape)
    gx, _, _ = spec.batch_norm_vjp(g, x, gamma, beta, eps=1e-5)
    exact = _batch_norm_vjp_decimal(g, x, gamma, 1e-5)
    rtol, atol = bound_parameters("float64", 6, 4.0)
    terms = np.abs(gamma[None, :, None]) / np.sqrt(x.var(axis=(0, 2)) + 1e-5)[None, :, None] * 3 * np.abs(g).max()
    assert np.all(np.abs(gx - exact) <= rtol * terms + atol), np.abs(gx - exact).max()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**32 - 1))
def test_batch_norm_vjp_agrees_with_the_decimal_reference(seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((3, 2, 4)) * rng.choice([1e-3, 1.0, 1e3]) + rng.choice([0.0, 200.0])
    gamma, g = rng.standard_normal(2), rng.standard_normal((3, 2, 4))
    gx, _, _ = spec.batch_norm_vjp(g, x, gamma, np.zeros(2), eps=1e-5)
    exact = _batch_norm_vjp_decimal(g, x, gamma, 1e-5)
    scale = np.abs(gamma)[None, :, None] / np.sqrt(x.var(axis=(0, 2)) + 1e-5)[None, :, None] * 3 * np.abs(g).max()
    assert np.all(np.abs(gx - exact) <= 1e-12 * scale), np.abs(gx - exact).max()
