"""Judging a failure against the deviations a backend declared: in scope and within the bound, or not.

Works on any backend object (``getattr(backend, "expected_deviations", ())``). A verdict is the
dict a result row records as ``extra["deviation"]``: the declaration, its bound, the strict
tolerance ratio and the ratio under the declared bound. ``None`` means the failure stands.

Within-bound examples do not stop hypothesis: the check records the verdict and goes on looking
for an example beyond the bound; the row ends "expected_deviation" if some example needed the
declaration and none failed (conformance/runner.py).
"""

from __future__ import annotations

import math

from impls.base import ExpectedDeviation, deviation_for


def declarations(backend) -> tuple[ExpectedDeviation, ...]:
    return tuple(d for d in (getattr(backend, "expected_deviations", ()) or ()) if isinstance(d, ExpectedDeviation))


def declaration_key(dev: ExpectedDeviation) -> dict:
    return {"op": dev.op, "dtype": dev.dtype, "check": dev.check, "reason": dev.reason}


def judge(backend, op: str, dtype: str, check: str, category: str | None, comparison=None) -> dict | None:
    """The verdict for one failure of ``category`` (with its tolerance ``comparison``, if any)."""
    dev = deviation_for(backend, op, dtype, check, category)
    if dev is None:
        return None
    strict = comparison.tol_ratio if comparison is not None else None
    verdict = {**declaration_key(dev), "categories": list(dev.categories), "bound": dev.bound_text(),
               "category": category, "strict_ratio": strict, "declared_ratio": None}
    if category == "nan_mismatch" and dev.extra_nans_only:
        # the bounded NaN declaration: only extra NaNs, and the rest within the strict tolerance
        return verdict if comparison is not None and getattr(comparison, "extra_nans_only", False) else None
    if category != "mismatch" or comparison is None:
        # Named categories are covered as such ("inexact" is within the tolerance by definition), and
        # so is a mismatch of a check that has no tolerance (a policy check): there is nothing to bound.
        return verdict
    if dev.unit_roundoff is None and dev.max_tol_ratio is None and dev.max_abs_err is None:
        return None  # an unbounded declaration never covers a tolerance-judged mismatch
    ratios = []
    if dev.unit_roundoff is not None:
        ratios.append(comparison.ratio_at(dev.unit_roundoff))
    if dev.max_tol_ratio is not None:
        ratios.append(strict / dev.max_tol_ratio)
    if dev.max_abs_err is not None:
        ratios.append(comparison.max_abs_err / dev.max_abs_err)
    declared = max(ratios)  # every bound given must hold
    verdict["declared_ratio"] = declared
    return verdict if math.isfinite(declared) and declared <= 1.0 else None


def merge(old: dict | None, new: dict) -> dict:
    """Fold one example's verdict into the row's: the worst ratios, how many examples needed it."""
    if old is None:
        return {**new, "examples": 1}
    out = dict(old, examples=old.get("examples", 1) + 1)
    for key in ("strict_ratio", "declared_ratio"):
        vals = [v for v in (old.get(key), new.get(key)) if v is not None]
        out[key] = max(vals) if vals else None
    return out
