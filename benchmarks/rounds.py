"""Several processes per backend, merged: the process is the unit of noise.

On a shared 2-core VM one backend's median of one case moves by 20-40% between fresh processes seconds
apart while it is steady within one (torch-cpu's float32 conv2d forward+vjp: 29-55 ms over 24 fresh
processes, each a steady median of 15 calls). One process per backend is then one draw of that spread,
and a ratio of two such draws can land anywhere in it. So ``nnconform bench --processes P`` runs every
backend's worker P times, rotating the order of the backends between rounds so a drift of the machine
favours none, and a row's ``median_s`` is the median over processes of the per-process medians.
``iqr_s`` stays the spread within a process (the median of the per-process IQRs); ``process_medians_s``
lists the per-process medians and ``process_spread`` is their IQR over their median, the noise a
ratio between two backends carries.
"""

from __future__ import annotations

import statistics

import numpy as np

ROW_KEY = ("op", "case", "mode", "dtype", "tier")


def round_order(names: list[str], round_index: int) -> list[str]:
    """The backends in the order round ``round_index`` runs them: rotated by one each round."""
    if not names:
        return []
    k = round_index % len(names)
    return names[k:] + names[:k]


def _key(record: dict) -> tuple:
    return tuple(record.get(k) for k in ROW_KEY)


def spread(values: list[float]) -> float:
    """Interquartile range over median of per-process medians (0 for fewer than two)."""
    if len(values) < 2:
        return 0.0
    q1, med, q3 = np.percentile(values, [25, 50, 75])
    return float((q3 - q1) / med) if med > 0 else 0.0


def merge_rows(per_process: list[list[dict]]) -> list[dict]:
    """One backend's rows from several processes -> one row per case and mode (order of first appearance)."""
    groups: dict[tuple, list[dict]] = {}
    for rows in per_process:
        for r in rows:
            groups.setdefault(_key(r), []).append(r)
    merged = []
    for rows in groups.values():
        first = rows[0]
        meds = [r["median_s"] for r in rows]
        row = dict(first)
        row["median_s"] = float(statistics.median(meds))
        row["iqr_s"] = float(statistics.median(r["iqr_s"] for r in rows))
        row["repeats"] = sum(r["repeats"] for r in rows)
        row["processes"] = len(rows)
        row["process_medians_s"] = meds
        row["process_spread"] = spread(meds)
        scale = first["median_s"] / row["median_s"] if row["median_s"] > 0 else None
        for rate in ("gflops", "gbps"):  # both are work / median: rescale to the merged median
            if first.get(rate) is not None and scale is not None:
                row[rate] = first[rate] * scale
        with_gemm = [r for r in rows if r.get("gemm_s")]
        if with_gemm:
            row["gemm_s"] = float(statistics.median(r["gemm_s"] for r in with_gemm))
            row["gemm_iqr_s"] = float(statistics.median(r["gemm_iqr_s"] for r in with_gemm))
            row["x_gemm"] = row["median_s"] / row["gemm_s"]
        merged.append(row)
    return merged


def merge_skipped(per_process: list[list[dict]], measured: list[dict]) -> list[dict]:
    """Skipped records of one backend, once each; one whose case and mode some process did measure is
    kept with its reason prefixed "some processes: " (the row exists, from the processes that ran it)."""
    have = {_key(r) for r in measured}
    seen, out = set(), []
    for records in per_process:
        for s in records:
            ident = (*_key(s), s.get("backend"), s.get("status"))
            if ident in seen:
                continue
            seen.add(ident)
            if _key(s) in have:
                s = dict(s, reason=f"some processes: {s['reason']}")
            out.append(s)
    return out
