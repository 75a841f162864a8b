"""Dropout statistics from each backend's own RNG (keep rate, seeds, independence of rows, channels and
seeds, expectation), and the declared max-pool tie policy."""

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
"""False-alarm rate of every statistical test here: a correct backend fails one in a million runs.

Per backend this module runs 4 keep-rate tests, 2 expectation tests and 4 independence tests, each
at ALPHA, so a correct backend fails any of them with probability <= 10 ALPHA = 1e-5 (union bound),
and a run over B backends with probability <= B * 1e-5."""
Z = stats.norm.isf(ALPHA / 2)
POWER = 0.999
"""Chance that a keep rate biased by REL_BIAS (relative) is caught, at every keep_prob tested."""
REL_BIAS = 0.01
KEEP_PROBS = (0.1, 0.5, 0.8, 0.99)
MASK_COLUMNS = 1000


def draws_for_power(p: float, rel: float = REL_BIAS, alpha: float = ALPHA, power: float = POWER) -> int:
    """Mask entries needed so that a two-sided test at ``alpha`` catches a keep rate p (1 +- rel) with ``power``.

    Normal approximation to Binomial(n, p): the observed rate r = k / n has mean p and standard deviation
    s0 = sqrt(p q / n), q = 1 - p. The test rejects when |r - p| > z_a s0 with z_a = Phi^-1(1 - alpha / 2),
    which a correct sampler does with probability alpha. A sampler of rate p1 = p (1 +- rel) gives r with mean
    p1 and deviation s1 = sqrt(p1 q1 / n); it lands beyond z_a s0 on p1's side with probability
    Phi((|p1 - p| - z_a s0) / s1) (the other tail is negligible). That is >= power = Phi(z_b) when
        sqrt(n) |p1 - p| >= z_a sqrt(p q) + z_b sqrt(p1 q1),   i.e.   n >= ((z_a sqrt(p q) + z_b sqrt(p1 q1)) / |p1 - p|)^2.
    Both directions of the bias are sized for; the larger n wins. :func:`binomial_test_region` then checks the
    size and the power with the exact binomial distribution.
    """
    z_a, z_b = stats.norm.isf(alpha / 2), stats.norm.isf(1 - power)
    need = 0.0
    for p1 in (p * (1 - rel), p * (1 + rel)):
        if 0.0 < p1 < 1.0:
            need = max(need, ((z_a * math.sqrt(p * (1 - p)) + z_b * math.sqrt(p1 * (1 - p1))) / abs(p1 - p)) ** 2)
    return math.ceil(need)


def binomial_test_region(n: int, p: float, alpha: float = ALPHA) -> tuple[int, int]:
    """The exact equal-tailed binomial test: reject k <= lo or k >= hi, each tail of probability <= alpha / 2."""
    lo = int(stats.binom.ppf(alpha / 2, n, p))
    if stats.binom.cdf(lo, n, p) > alpha / 2:
        lo -= 1
    hi = int(stats.binom.isf(alpha / 2, n, p)) + 1  # smallest hi with P(K >= hi) <= alpha / 2
    return lo, hi


def sized_keep_rate_test(p: float) -> dict:
    """Rows of the mask, the exact rejection region, and the exact size and power of the keep-rate test at ``p``."""
    rows = math.ceil(draws_for_power(p) / MASK_COLUMNS)
    while True:
        n = rows * MASK_COLUMNS
        lo, hi = binomial_test_region(n, p)
        size = stats.binom.cdf(lo, n, p) + stats.binom.sf(hi - 1, n, p)
        power = min(stats.binom.cdf(lo, n, p1) + stats.binom.sf(hi - 1, n, p1)
                    for p1 in (p * (1 - REL_BIAS), p * (1 + REL_BIAS)) if p1 < 1)
        if power >= POWER:  # the normal approximation is close; grow n in the rare case it was optimistic
            return {"rows": rows, "n": n, "lo": lo, "hi": hi, "alpha": size, "power": power}
        rows = math.ceil(rows * 1.05)


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
    """The fraction of ones matches keep_prob: exact binomial test at alpha = 1e-6, sized to catch a 1%
    relative bias at every keep_prob tested with power >= 0.999 (see :func:`draws_for_power`)."""
    row.check, row.name = "statistics", "keep rate ~ Binomial(n, keep_prob)"
    row.extra["test"] = (f"two-sided exact binomial, alpha {ALPHA:g} per keep_prob; n sized for power {POWER} "
                         f"against a {REL_BIAS:.0%} relative bias")

    def run():
        for i, p in enumerate(KEEP_PROBS):
            t = sized_keep_rate_test(p)
            m = checked_mask(backend, (t["rows"], MASK_COLUMNS), p, seed=100 + i)
            k = int(m.sum())
            row.extra[f"keep_prob={p}"] = (f"{k}/{t['n']} kept (accept {t['lo'] + 1}..{t['hi'] - 1}); "
                                           f"alpha {t['alpha']:.2g}, power {t['power']:.4f} at {REL_BIAS:.0%} bias")
            row.examples += 1
            if not t["lo"] < k < t["hi"]:
                raise ConformanceFailure("mismatch", f"dropout_mask kept {k} of {t['n']} with keep_prob={p} "
                                         f"(rate {k / t['n']:.5f}); a correct sampler keeps {t['lo'] + 1}..{t['hi'] - 1} "
                                         f"except with probability {t['alpha']:.2g} (did it use the DROP probability, "
                                         "or a biased threshold?)")
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


# --- independence of rows, channels and seeds ------------------------------------------------------
# At keep_prob 0.5 the signs s = 2 mask - 1 of a correct sampler are independent fair +-1. For a fixed lag l,
# the products s_i s_{i+l} (i < n - l) are then again independent fair signs (the map from s to
# (s_0..s_{l-1}, s_0 s_l, s_1 s_{l+1}, ...) is a bijection of {-1, 1}^n), so by Hoeffding
# P(|sum_i s_i s_{i+l}| >= t) <= 2 exp(-t^2 / (2 (n - l))) exactly, with no normal approximation. Likewise for two
# independent masks a, b and any cyclic lag l: the products a_i b_{(i+l) mod n} are independent fair signs.
# A union bound over every lag tested keeps the false-alarm rate of each test at ALPHA.
INDEPENDENCE_SHAPE = (512, 128)
"""(samples, channels): lags 1..n/2 of the row-major mask cover neighbouring channels (lag 1) and samples
up to 256 rows apart (lag 128 r)."""
SEED_PAIRS = ((1, 2), (0, 1), (12345, 12346))


def _signs(mask: np.ndarray) -> np.ndarray:
    return 2.0 * mask.ravel() - 1.0


def _worst_lag(sums: np.ndarray, terms: np.ndarray, lags: np.ndarray) -> tuple[int, float, float]:
    """(lag, sum, threshold) of the lag whose |sum| exceeds its Hoeffding threshold the most."""
    thresholds = np.sqrt(2.0 * terms * math.log(2.0 * len(lags) / ALPHA))
    j = int(np.argmax(np.abs(sums) / thresholds))
    return int(lags[j]), float(sums[j]), float(thresholds[j])


def autocorrelation_test(mask: np.ndarray) -> tuple[int, float, float]:
    """Linear autocorrelation of one mask's signs at every lag 1..n/2 (by FFT)."""
    s = _signs(mask)
    n = s.size
    f = np.fft.rfft(s, 2 * n)
    sums = np.rint(np.fft.irfft(f * np.conj(f), 2 * n)[: n // 2 + 1])
    lags = np.arange(1, n // 2 + 1)
    return _worst_lag(sums[1:], n - lags, lags)


def cross_correlation_test(a: np.ndarray, b: np.ndarray) -> tuple[int, float, float]:
    """Cyclic cross-correlation of two masks' signs at every lag 0..n-1 (by FFT)."""
    sa, sb = _signs(a), _signs(b)
    n = sa.size
    sums = np.rint(np.fft.irfft(np.conj(np.fft.rfft(sa)) * np.fft.rfft(sb), n))
    lags = np.arange(n)
    return _worst_lag(sums, np.full(n, n), lags)


def _independence_combos(test):
    def gen(name, backend):
        return [Combo(name, "dropout_mask", backend.dtypes[0], test)]
    return gen


@combos(_independence_combos("rows_channels"))
def test_mask_independence(combo, backend, row, request):
    """Entries of one mask are independent across samples (rows) and channels: no lag 1..n/2 of the row-major
    mask correlates beyond its Hoeffding bound (exact at keep_prob 0.5; alpha 1e-6 over all lags together)."""
    row.check, row.name = "independence", "mask rows and channels independent"
    row.extra["test"] = f"autocorrelation at every lag 1..n/2 of a {INDEPENDENCE_SHAPE} mask, Hoeffding, alpha {ALPHA:g}"

    def run():
        m = checked_mask(backend, INDEPENDENCE_SHAPE, 0.5, seed=77)
        lag, total, bound = autocorrelation_test(m)
        n = m.size
        row.examples = 1
        rows, channels = divmod(lag, m.shape[1])
        row.extra["worst lag"] = f"lag {lag} ({rows} rows, {channels} channels): sum {total:g}, bound {bound:.0f}"
        if abs(total) >= bound:
            raise ConformanceFailure(
                "mismatch", f"dropout_mask{INDEPENDENCE_SHAPE} entries {lag} apart in row-major order ({lag // m.shape[1]} "
                f"rows, {lag % m.shape[1]} channels) agree in {(n - lag + total) / 2:.0f} of {n - lag} pairs: "
                f"correlation {total / (n - lag):.3f}, beyond the bound {bound / (n - lag):.3f} that independent "
                f"entries exceed with probability < {ALPHA:g} (identical rows or channels?)")
    _guard(row, backend, request, run)


@combos(_independence_combos("seeds"))
def test_seed_independence(combo, backend, row, request):
    """Masks of neighbouring seeds are independent: no cyclic shift of one correlates with the other beyond its
    Hoeffding bound (exact at keep_prob 0.5; alpha 1e-6 over all shifts of a pair)."""
    row.check, row.name = "independence", "masks of different seeds independent"
    row.extra["test"] = f"cyclic cross-correlation at every shift, Hoeffding, alpha {ALPHA:g} per seed pair"

    def run():
        for s1, s2 in SEED_PAIRS:
            a, b = (checked_mask(backend, INDEPENDENCE_SHAPE, 0.5, seed=s) for s in (s1, s2))
            lag, total, bound = cross_correlation_test(a, b)
            row.examples += 1
            row.extra[f"seeds {s1}, {s2}"] = f"worst shift {lag}: sum {total:g}, bound {bound:.0f}"
            if abs(total) >= bound:
                raise ConformanceFailure(
                    "mismatch", f"dropout_mask of seed {s2} shifted by {lag} entries agrees with the mask of seed {s1} "
                    f"in {(a.size + total) / 2:.0f} of {a.size} entries: correlation {total / a.size:.3f}, beyond "
                    f"the bound {bound / a.size:.3f} that independent masks exceed with probability < {ALPHA:g} "
                    "(seeds used as offsets into one stream?)")
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
