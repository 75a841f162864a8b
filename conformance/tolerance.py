"""The tolerance policy: one rule, derived from the dtype's unit roundoff and the op's reduction length.

For every output element i the backend's value ``a_i`` is compared with spec's float64 value
``e_i`` computed on the very same (dtype-rounded) inputs, so only the backend's arithmetic is
judged, never the rounding of its inputs. The bound is

    |a_i - e_i| <= u(dtype) * max(C sqrt(K), min(K + 1, 16)) * m_i  +  K * tiny(dtype)

* ``u`` is the unit roundoff of the dtype the backend computes in (2**-24 for float32).
* ``K`` is the op's reduction length: the number of terms summed into one output
  (kernel taps x input channels for conv; batch x spatial for batch norm; 1 for elementwise ops).
* ``m_i`` is the element's *magnitude*: the same sum taken over absolute values
  (``conv(|x|, |w|) + |b|``), which is what rounding errors scale with. Using ``|e_i|`` instead
  would make every cancelling sum (``1 + 1e-8 - 1``) a false failure.
* ``sqrt(K)``: rounding errors of a K-term sum with blocked or pairwise summation grow like
  sqrt(K) u m; even naive recursive summation of same-sign terms stays below sqrt(K) u m / 1.7
  on average. The rigorous worst case, K u m, is so loose that it would hide TF32: with TF32's
  10-bit products the error of a K=576 conv is about 2**-11 m / sqrt(K), which this rule flags
  by a factor of ~4 at C=2 (see ../shared/notes/facts.md for the measured 2.9e-4).
* ``C`` (default 2, per op in the op table) absorbs the constant of the few roundings per
  term (a product, a division, an exp). Transcendental ops get more (a few ulps of libm).
* Short sums get the rigorous worst case instead when it is larger: a K-term dot product plus a bias
  rounds at most K + 1 times along any path (gamma_{K+1} in Higham's notation), and hypothesis does
  find inputs that come close (a 2-tap conv with bias erred by 2.86 u m, above 2 sqrt(2) u m). Capped
  at 16 roundings, so that long sums keep the sqrt(K) rule that makes TF32 visible.
* ``K * tiny`` keeps results in the subnormal range from failing on flush-to-zero. A backend that
  declares ``flushes_subnormals = True`` gets ``K * tiny * FLUSH_AMPLIFICATION`` instead: a flushed
  intermediate (below tiny) may later be multiplied or divided before it reaches the output (batch
  norm divides by sqrt(var + eps) >= sqrt(1e-5)). Whether a backend flushes at all is the job of
  one dedicated check (conformance/test_subnormals.py); see spec/errata.py DECISIONS.
* Ops that involve no rounding (optable.EXACT_WHEN) must match bit for bit, signed zeros and NaN
  positions included (:func:`compare_exact`); within the tolerance but not bitwise is "inexact".

A deviation beyond the bound is a failure unless the backend declared it as an expected
deviation, with its own bound (conformance/deviations.py): a declared unit roundoff recomputes
this same rule with that u (:meth:`Comparison.ratio_at`). The strict bound is never widened.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .dtype_helpers import LARGEST, SMALLEST_NORMAL, UNIT_ROUNDOFF

DEFAULT_C = 2.0
SHORT_SUM = 16
"""Up to this many roundings, the rigorous worst case (K + 1) u m is used when it exceeds C sqrt(K) u m."""
FLUSH_AMPLIFICATION = 2.0**11
"""Largest factor a flushed intermediate is taken by before it reaches an output, for a declared flusher:
|values| <= 4 times 1/sqrt(eps >= 1e-5) = 316 is 1265 < 2**11 (spec/errata.py DECISIONS, "subnormals")."""


@dataclass
class Comparison:
    ok: bool
    category: str | None
    max_abs_err: float
    max_rel_err: float
    tol_ratio: float
    rtol: float
    atol: float
    worst_index: tuple | None
    message: str
    unit_roundoff: float | None = None
    rule: str = "|a-e| <= rtol*m + atol, m = sum of |terms| (conformance/tolerance.py)"
    err: np.ndarray | None = field(default=None, repr=False, compare=False)
    """Per-element |a - e| where both are finite (0 elsewhere), kept to re-judge under a declared u."""
    mag: np.ndarray | None = field(default=None, repr=False, compare=False)
    extra_nans_only: bool = False
    """For a nan_mismatch: every differing element is a NaN of the backend where spec has a number, and
    every element that is finite on both sides passes (the bound of ExpectedDeviation.extra_nans_only)."""
    deviation: dict | None = field(default=None, repr=False, compare=False)
    """Set by checks.check_op when a failure of this example fell inside a declared deviation."""

    def tolerance(self) -> dict:
        """The bound this comparison used, as the results file records it."""
        return {"rtol": self.rtol, "atol": self.atol, "rule": self.rule}

    def ratio_at(self, unit_roundoff: float) -> float:
        """The tolerance ratio under the SAME rule with ``unit_roundoff`` in place of the dtype's u."""
        if self.err is None or self.unit_roundoff is None or self.err.size == 0:
            return self.tol_ratio
        bound = self.rtol * (unit_roundoff / self.unit_roundoff) * self.mag + self.atol
        return float(np.max(self.err / bound))


def bound_parameters(dtype: str, reduction: int, c: float = DEFAULT_C, *,
                     flushes: bool = False) -> tuple[float, float]:
    """(rtol, atol): the bound is ``rtol * m_i + atol``; ``flushes``: the backend declares flush-to-zero."""
    k = max(int(reduction), 1)
    atol = k * SMALLEST_NORMAL[dtype] * (FLUSH_AMPLIFICATION if flushes else 1.0)
    return UNIT_ROUNDOFF[dtype] * max(c * math.sqrt(k), min(k + 1, SHORT_SUM)), atol


def rule_text(dtype: str, reduction: int, c: float, *, flushes: bool = False) -> str:
    rtol, atol = bound_parameters(dtype, reduction, c, flushes=flushes)
    tiny = f"K*tiny*{FLUSH_AMPLIFICATION:g} (declared flush-to-zero)" if flushes else "K*tiny"
    return (f"|a-e| <= u({dtype})*max({c:g}*sqrt(K), min(K+1, {SHORT_SUM}))*m + {tiny} with K={reduction}: "
            f"{rtol:.3g}*m + {atol:.3g}")


def compare(actual: np.ndarray, expected: np.ndarray, magnitude: np.ndarray, *, dtype: str,
            reduction: int, c: float = DEFAULT_C, what: str = "out", flushes: bool = False) -> Comparison:
    """Compare one backend output (converted to float64) with spec's, under the policy above."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    m = np.abs(np.asarray(magnitude, dtype=np.float64))
    rtol, atol = bound_parameters(dtype, reduction, c, flushes=flushes)
    if a.shape != e.shape:
        return Comparison(False, "wrong_shape", math.inf, math.inf, math.inf, rtol, atol, None,
                          f"{what}.shape={a.shape}, but should be {e.shape}")
    if a.size == 0:
        return Comparison(True, None, 0.0, 0.0, 0.0, rtol, atol, None, "empty")
    with np.errstate(all="ignore"):
        if _ordinary(a, LARGEST[dtype]) and _ordinary(e, LARGEST[dtype]):
            return _compare_ordinary(a, e, m, dtype=dtype, reduction=reduction, c=c, what=what, flushes=flushes)
    # A value beyond the dtype's range legitimately overflows to inf of the same sign.
    overflow = np.isfinite(e) & (np.abs(e) > LARGEST[dtype])
    e_cmp = np.where(overflow, np.copysign(np.inf, e), e)
    nan_e, nan_a = np.isnan(e_cmp), np.isnan(a)
    inf_e, inf_a = np.isinf(e_cmp), np.isinf(a)
    special_bad = (nan_e != nan_a) | (inf_e != inf_a) | (inf_e & inf_a & (np.signbit(e_cmp) != np.signbit(a)))
    # Within the overflow margin the backend may round to the largest finite value instead of inf.
    special_bad &= ~(overflow & np.isfinite(a) & (np.abs(a) >= LARGEST[dtype] * (1 - 4 * UNIT_ROUNDOFF[dtype])))
    finite = np.isfinite(e_cmp) & np.isfinite(a)
    err = np.where(finite, np.abs(a - e_cmp), 0.0)
    mag = np.where(np.isfinite(m), m, 0.0)
    bound = rtol * mag + atol
    ratio = np.where(finite, err / bound, 0.0)
    max_abs = float(err.max())
    denom = np.where(finite & (np.abs(e_cmp) > 0), np.abs(e_cmp), np.inf)
    max_rel = float(np.max(np.where(finite, err / denom, 0.0))) if finite.any() else 0.0
    worst_ratio = float(ratio.max())
    if special_bad.any():
        idx = tuple(int(i) for i in np.argwhere(special_bad)[0])
        extra = bool(np.all(nan_a[special_bad] & ~nan_e[special_bad])) and worst_ratio <= 1.0
        return Comparison(False, "nan_mismatch", max_abs, max_rel, math.inf, rtol, atol, idx,
                          f"{what}[{idx}]={a[idx]!r}, but should be {e_cmp[idx]!r} (NaN/Inf pattern differs "
                          f"from spec at {int(special_bad.sum())} of {a.size} elements"
                          f"{'; the only difference: NaN where spec has a number' if extra else ''})",
                          extra_nans_only=extra)
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
    ok = worst_ratio <= 1.0
    msg = (f"{what}[{idx}]={a[idx]!r}, but should be {e_cmp[idx]!r}: |err|={err[idx]:.3g} is "
           f"{worst_ratio:.3g}x the tolerance {bound[idx]:.3g} ({rule_text(dtype, reduction, c, flushes=flushes)})")
    return Comparison(ok, None if ok else "mismatch", max_abs, max_rel, worst_ratio, rtol, atol, idx, msg,
                      unit_roundoff=UNIT_ROUNDOFF[dtype], err=err, mag=mag)


def _ordinary(x: np.ndarray, largest: float) -> bool:
    """Every value finite and within +-largest (two reductions, no temporary: NaN propagates through min/max)."""
    lo, hi = float(x.min()), float(x.max())
    return -largest <= lo and hi <= largest


def _compare_ordinary(a, e, m, *, dtype, reduction, c, what, flushes) -> Comparison:
    """:func:`compare` when both sides hold only finite values within the dtype's range: the same numbers,
    with the NaN, Inf and overflow masks left out and temporaries reused. A realistic-tier output holds
    up to 8M elements, where each of the general path's two dozen temporaries costs a page-faulting
    allocation (issue 13: the run's cost)."""
    rtol, atol = bound_parameters(dtype, reduction, c, flushes=flushes)
    err = np.subtract(a, e)
    np.abs(err, out=err)
    mag = np.abs(m)
    if not np.isfinite(mag.max()):
        mag[~np.isfinite(mag)] = 0.0
    bound = np.multiply(mag, rtol)
    bound += atol
    ratio = np.divide(err, bound)
    flat = int(np.argmax(ratio))
    worst_ratio = float(ratio.flat[flat])
    max_abs = float(err.max())
    np.abs(e, out=ratio)  # reuse: |e|, then the relative error where e != 0
    np.divide(err, ratio, out=ratio, where=ratio > 0)  # where e == 0, |e| = 0 stays: no relative error there
    max_rel = float(ratio.max())
    idx = tuple(int(i) for i in np.unravel_index(flat, a.shape))
    ok = worst_ratio <= 1.0
    msg = (f"{what}[{idx}]={a[idx]!r}, but should be {e[idx]!r}: |err|={err[idx]:.3g} is "
           f"{worst_ratio:.3g}x the tolerance {bound[idx]:.3g} ({rule_text(dtype, reduction, c, flushes=flushes)})")
    return Comparison(ok, None if ok else "mismatch", max_abs, max_rel, worst_ratio, rtol, atol, idx, msg,
                      unit_roundoff=UNIT_ROUNDOFF[dtype], err=err, mag=mag)


def _same_bits(a: np.ndarray, e: np.ndarray) -> np.ndarray:
    """Element-wise: equal values with equal sign bits (so -0.0 != +0.0), or NaN on both sides."""
    return ((a == e) & (np.signbit(a) == np.signbit(e))) | (np.isnan(a) & np.isnan(e))


def bit_exact(actual: np.ndarray, expected: np.ndarray) -> Comparison | None:
    """The passing result of :func:`compare_exact` when ``actual`` equals ``expected`` bit for bit (so neither the
    magnitudes nor the tolerance comparison are needed: both would pass at ratio 0), else None."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    if a.shape != e.shape or not np.array_equal(a.view(np.int64), e.view(np.int64)):
        return None  # the general path judges (NaN payloads may differ and still be equal NaNs)
    return Comparison(True, None, 0.0, 0.0, 0.0, 0.0, 0.0, None, "bit-exact", rule=EXACT_RULE)


EXACT_RULE = "bit-exact: no rounding involved (signed zeros and NaN positions included)"


def compare_exact(actual: np.ndarray, expected: np.ndarray, within: Comparison, *, what: str = "out") -> Comparison:
    """Bit-for-bit comparison for an op that involves no rounding; ``within`` is the tolerance comparison.

    A result outside the tolerance keeps ``within``'s category (mismatch, nan_mismatch, wrong_shape).
    One inside it that is still not bit-exact (one ulp off, the wrong signed zero) is "inexact".
    """
    if not within.ok:
        return within
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    bad = ~_same_bits(a, e)
    rule = EXACT_RULE
    if not bad.any():
        return Comparison(True, None, 0.0, 0.0, 0.0, 0.0, 0.0, None, "bit-exact", rule=rule)
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return Comparison(False, "inexact", within.max_abs_err, within.max_rel_err, math.inf, 0.0, 0.0, idx,
                      f"{what}[{idx}]={a[idx]!r}, but should be exactly {e[idx]!r} ({int(bad.sum())} of {a.size} "
                      f"elements differ; {rule}; within the rounding tolerance at ratio {within.tol_ratio:.3g})",
                      rule=rule)
