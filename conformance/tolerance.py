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
* ``K * tiny`` keeps results in the subnormal range from failing on flush-to-zero.

A deviation beyond the bound is a failure unless the backend declared it as an expected
deviation. The bound is never widened to let a backend pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .dtype_helpers import LARGEST, SMALLEST_NORMAL, UNIT_ROUNDOFF

DEFAULT_C = 2.0
SHORT_SUM = 16
"""Up to this many roundings, the rigorous worst case (K + 1) u m is used when it exceeds C sqrt(K) u m."""


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

    def tolerance(self) -> dict:
        """The bound this comparison used, as the results file records it."""
        return {"rtol": self.rtol, "atol": self.atol,
                "rule": "|a-e| <= rtol*m + atol, m = sum of |terms| (conformance/tolerance.py)"}


def bound_parameters(dtype: str, reduction: int, c: float = DEFAULT_C) -> tuple[float, float]:
    """(rtol, atol): the bound is ``rtol * m_i + atol``."""
    k = max(int(reduction), 1)
    return UNIT_ROUNDOFF[dtype] * max(c * math.sqrt(k), min(k + 1, SHORT_SUM)), k * SMALLEST_NORMAL[dtype]


def rule_text(dtype: str, reduction: int, c: float) -> str:
    rtol, atol = bound_parameters(dtype, reduction, c)
    return (f"|a-e| <= u({dtype})*max({c:g}*sqrt(K), min(K+1, {SHORT_SUM}))*m + K*tiny with K={reduction}: "
            f"{rtol:.3g}*m + {atol:.3g}")


def compare(actual: np.ndarray, expected: np.ndarray, magnitude: np.ndarray, *, dtype: str,
            reduction: int, c: float = DEFAULT_C, what: str = "out") -> Comparison:
    """Compare one backend output (converted to float64) with spec's, under the policy above."""
    a = np.asarray(actual, dtype=np.float64)
    e = np.asarray(expected, dtype=np.float64)
    m = np.abs(np.asarray(magnitude, dtype=np.float64))
    rtol, atol = bound_parameters(dtype, reduction, c)
    if a.shape != e.shape:
        return Comparison(False, "wrong_shape", math.inf, math.inf, math.inf, rtol, atol, None,
                          f"{what}.shape={a.shape}, but should be {e.shape}")
    if a.size == 0:
        return Comparison(True, None, 0.0, 0.0, 0.0, rtol, atol, None, "empty")
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
    bound = rtol * np.where(np.isfinite(m), m, 0.0) + atol
    ratio = np.where(finite, err / bound, 0.0)
    max_abs = float(err.max())
    denom = np.where(finite & (np.abs(e_cmp) > 0), np.abs(e_cmp), np.inf)
    max_rel = float(np.max(np.where(finite, err / denom, 0.0))) if finite.any() else 0.0
    worst_ratio = float(ratio.max())
    if special_bad.any():
        idx = tuple(int(i) for i in np.argwhere(special_bad)[0])
        return Comparison(False, "nan_mismatch", max_abs, max_rel, math.inf, rtol, atol, idx,
                          f"{what}[{idx}]={a[idx]!r}, but should be {e_cmp[idx]!r} (NaN/Inf pattern differs "
                          f"from spec at {int(special_bad.sum())} of {a.size} elements)")
    idx = tuple(int(i) for i in np.unravel_index(int(np.argmax(ratio)), ratio.shape))
    ok = worst_ratio <= 1.0
    msg = (f"{what}[{idx}]={a[idx]!r}, but should be {e_cmp[idx]!r}: |err|={err[idx]:.3g} is "
           f"{worst_ratio:.3g}x the tolerance {bound[idx]:.3g} ({rule_text(dtype, reduction, c)})")
    return Comparison(ok, None if ok else "mismatch", max_abs, max_rel, worst_ratio, rtol, atol, idx, msg)
