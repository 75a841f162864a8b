"""Dropout statistics from each backend's own RNG, and the declared max-pool tie policy."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import strategies as st
from scipy import stats

import spec
from impls.base import implements

from .checks import checked_mask
from .hypothesis_helpers import Case
from .plugin import Combo, combos
from .pytest_helpers import ConformanceFailure, call_op
from .runner import fail_row, not_implemented, pytest_repro, run_examples
from .tolerance import compare

ALPHA = 1e-6
"""False-alarm rate of every statistical test here: a correct backend fails one in a million runs."""
Z = stats.norm.isf(ALPHA / 2)


def _stat_combos(test):
    def gen(name, backend):
        return [Combo(name, "dropout_mask", backend.dtypes[0], test)]
    return gen


def _guard(row, backend, request, fn):
    if not implements(backend, "dropout_mask"):
        not_implemented(row, NotImplementedError("dropout_mask"))
    try:
        fn()
        row.examples = max(row.examples, 1)
    except ConformanceFailure as exc:
        fail_row(row, backend, exc, repro=pytest_repro(request.node.nodeid, row.backend, None))
        raise


@combos(_stat_combos("keep_rate"))
def test_keep_rate(combo, backend, row, request):
    """The fraction of ones matches keep_prob (two-sided binomial test at alpha = 1e-6)."""
    row.check, row.name = "statistics", "keep rate ~ Binomial(n, keep_prob)"

    def run():
        for i, p in enumerate((0.1, 0.5, 0.8, 0.99)):
            m = checked_mask(backend, (400, 250), p, seed=100 + i)
            k, n = int(m.sum()), m.size
            pval = stats.binomtest(k, n, p).pvalue
            row.extra[f"keep_prob={p}"] = f"{k}/{n} kept, p-value {pval:.3g}"
            row.examples += 1
            if pval < ALPHA:
                raise ConformanceFailure("mismatch", f"dropout_mask kept {k} of {n} with keep_prob={p}: binomial "
                                         f"p-value {pval:.3g} < {ALPHA} (did it use the DROP probability?)")
        if not np.all(checked_mask(backend, (3, 4), 1.0, seed=5) == 1):
            raise ConformanceFailure("mismatch", "keep_prob=1 must keep everything")
    _guard(row, backend, request, run)


@combos(_stat_combos("seeds"))
def test_seeds(combo, backend, row, request):
    """Equal seeds give equal masks; different seeds give different masks."""
    row.check, row.name = "statistics", "seeded masks: reproducible and distinct"

    def run():
        a, b, c = (checked_mask(backend, (64, 64), 0.5, seed=s) for s in (1, 1, 2))
        row.examples = 3
        if not np.array_equal(a, b):
            raise ConformanceFailure("nondeterministic", "two masks with the same seed differ")
        if np.array_equal(a, c):
            raise ConformanceFailure("mismatch", "masks of seeds 1 and 2 are identical (4096 entries)")
    _guard(row, backend, request, run)


@combos(_stat_combos("expectation"))
def test_expectation(combo, backend, row, request):
    """Inverted scaling preserves the expectation; the lecture's unscaled dropout gives E[y] = p x."""
    row.check, row.name = "statistics", "E[dropout(x)]: x (inverted), p x (lecture)"
    if not implements(backend, "dropout"):
        not_implemented(row, NotImplementedError("dropout"))

    def run():
        p, n, c = 0.7, 500, 200
        x = np.ones((n, c, 2))
        m = checked_mask(backend, (n, c), p, seed=9)
        sigma = math.sqrt(p * (1 - p) / (n * c))
        dt = backend.dtypes[0]
        for scaling, target in (("inverted", 1.0), ("none", p)):
            (y,) = call_op(backend, "dropout", (x, m), {"keep_prob": p, "scaling": scaling, "training": True},
                           dtype=dt)
            mean = float(y.mean())
            sd = sigma / p if scaling == "inverted" else sigma
            row.extra[scaling] = f"mean {mean:.5f}, expected {target} +- {Z * sd:.2g}"
            row.examples += 1
            if abs(mean - target) > Z * sd + 1e-6:
                raise ConformanceFailure("mismatch", f"mean of dropout(ones, scaling={scaling!r}) is {mean:.5f}, "
                                         f"expected {target} within {Z * sd:.3g} (alpha {ALPHA})")
    _guard(row, backend, request, run)


# --- max-pool ties -------------------------------------------------------------------------------

def _tie_combos(name, backend):
    return [Combo(name, "max_pool", dt, "ties") for dt in backend.dtypes]


@st.composite
def _tied_cases(draw):
    """Small integer values: ties inside windows are the rule, not the exception."""
    nd = draw(st.integers(1, 2))
    size = tuple(draw(st.integers(2, 3)) for _ in range(nd))
    shape = (1, draw(st.integers(1, 2)), *(draw(st.integers(size[i], 6)) for i in range(nd)))
    n = int(np.prod(shape))
    vals = draw(st.lists(st.integers(0, 2), min_size=n, max_size=n))
    stride = draw(st.none() | st.just(tuple(1 for _ in range(nd))))
    return Case((np.array(vals, dtype=np.float64).reshape(shape),), {"size": size, "stride": stride})


@combos(_tie_combos)
def test_tie_policy(combo, backend, row, request):
    """The gradient of a tied window goes to its FIRST maximum in row-major order (spec's policy)."""
    row.check, row.name = "tie_policy", "max_pool gradient with ties -> first maximum"
    if not implements(backend, "max_pool_vjp"):
        not_implemented(row, NotImplementedError("max_pool_vjp"))
    x = np.ones((1, 1, 4, 4))
    g = np.array([[[[1.5, -2.0], [0.25, 3.0]]]])
    (gx,) = call_op(backend, "max_pool_vjp", (g, x), {"size": 2}, dtype=combo.dtype)
    want = np.zeros(16)
    want[[0, 2, 8, 10]] = g.ravel()
    if not np.array_equal(gx.ravel(), want):
        exc = ConformanceFailure("mismatch", "all-equal 4x4 input, 2x2 pool: gradient should sit at flat indices "
                                 "[0, 2, 8, 10] (first maximum of each window)", expected=str(want.tolist()),
                                 actual=str(gx.ravel().tolist()))
        fail_row(row, backend, exc, falsifying="x = ones((1, 1, 4, 4)), size=2, g = [[1.5, -2], [0.25, 3]]",
                 repro=pytest_repro(request.node.nodeid, combo.backend, None))
        raise exc

    def check(case, seed):
        x = case.args[0]
        g = np.random.default_rng(seed).standard_normal(spec.max_pool(x, **case.kwargs).shape)
        (got,) = call_op(backend, "max_pool_vjp", (g, x), case.kwargs, dtype=combo.dtype)
        want = spec.max_pool_vjp(g.astype(combo.dtype).astype(np.float64), x, **case.kwargs)[0]
        cmp = compare(got, want, spec.max_pool_vjp(np.abs(g), x, **case.kwargs)[0], dtype=combo.dtype,
                      reduction=9, what="dx")
        if not cmp.ok:
            raise ConformanceFailure(cmp.category, cmp.message + " (tie policy: first maximum)", comparison=cmp)
        return cmp

    run_examples(row, backend, _tied_cases(), check,
                 repro=lambda case, seed: pytest_repro(request.node.nodeid, combo.backend,
                                                       request.config.getoption("hypothesis_seed", None)))



@combos(_tie_combos)
def test_nan_window_policy(combo, backend, row, request):
    """A window holding several NaNs outputs NaN, and its gradient goes to the FIRST NaN (spec's policy)."""
    row.check, row.name = "nan_policy", "max_pool gradient with NaNs -> first NaN"
    if not implements(backend, "max_pool_vjp"):
        not_implemented(row, NotImplementedError("max_pool_vjp"))
    x = np.array([[[1.0, np.nan, 3.0, np.nan, 2.0, 5.0]]])
    g = np.array([[[0.75, -1.25]]])
    # Windows [1, nan, 3, nan] and [3, nan, 2, 5]: first NaNs at flat indices 1 and 3.
    want = np.array([[[0.0, 0.75, 0.0, -1.25, 0.0, 0.0]]])
    try:
        (y,) = call_op(backend, "max_pool", (x,), {"size": 4, "stride": 2}, dtype=combo.dtype)
        (gx,) = call_op(backend, "max_pool_vjp", (g, x), {"size": 4, "stride": 2}, dtype=combo.dtype)
        row.examples = 1
        if not (np.isnan(y[0, 0, 0]) and np.isnan(y[0, 0, 1])):
            raise ConformanceFailure("nan_mismatch", f"max_pool of windows holding NaN gave {y.ravel()}, expected NaN")
        if not np.array_equal(gx, want):
            raise ConformanceFailure("mismatch", "x=[1, nan, 3, nan, 2, 5], size 4, stride 2: the gradient of each "
                                     "window should go to its first NaN (flat indices 1 and 3)",
                                     expected=str(want.ravel().tolist()),
                                     actual=str(gx.ravel().tolist()))
    except ConformanceFailure as exc:
        fail_row(row, backend, exc, falsifying="x = [1, nan, 3, nan, 2, 5], size=4, stride=2, g = [0.75, -1.25]",
                 repro=pytest_repro(request.node.nodeid, combo.backend, None))
        raise
