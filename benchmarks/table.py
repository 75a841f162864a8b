"""Ratios, the text table and the machine record of a benchmark run."""

from __future__ import annotations

import datetime as _dt
import os
import platform
import socket
import sys

import numpy as np

from .loading import SPEC
from .threads import ENV_VARS

TORCH_CPU = "torch-cpu"
RATIO_CONVENTION = ("ratio_to_torch_cpu = torch-cpu median / backend median, same case and mode, each backend "
                    "timed in its own process under the same thread policy (> 1 means faster than torch-cpu); "
                    "speedup_over_spec = spec median / backend median; x_gemm = backend median / median of the "
                    "plain GEMM of the same size in the same backend (forward: 1 GEMM; forward+vjp: 3)")


def fill_ratios(rows: list[dict]) -> None:
    """ratio_to_torch_cpu and speedup_over_spec of every row, from the medians of the same case and mode."""
    index = {(r["op"], r["case"], r["mode"], r["dtype"], r["backend"]): r for r in rows}
    for r in rows:
        torch_row = index.get((r["op"], r["case"], r["mode"], r["dtype"], TORCH_CPU))
        if torch_row is not None and r["median_s"] > 0:
            r["ratio_to_torch_cpu"] = 1.0 if r is torch_row else torch_row["median_s"] / r["median_s"]
        spec_row = index.get((r["op"], r["case"], r["mode"], "float64", SPEC))  # spec computes in float64
        if spec_row is not None and r["median_s"] > 0:
            r["speedup_over_spec"] = 1.0 if r is spec_row else spec_row["median_s"] / r["median_s"]


def loadavg() -> list[float] | None:
    """1, 5 and 15 minute load averages: a loaded (shared) machine makes every timing noisier."""
    try:
        return [round(v, 2) for v in os.getloadavg()]
    except (AttributeError, OSError):
        return None


def machine_info() -> dict:
    from importlib import metadata

    from conformance.results import cpu_model

    versions = {"python": platform.python_version(), "numpy": np.__version__}
    for mod in ("scipy", "torch", "threadpoolctl"):
        m = sys.modules.get(mod)
        try:
            versions[mod] = getattr(m, "__version__", None) if m is not None else metadata.version(mod)
        except Exception:
            versions[mod] = None
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "host": socket.gethostname(), "platform": platform.platform(), "cpu": cpu_model(),
        "cores": os.cpu_count(), "cores_usable": usable, "python": sys.version.split()[0],
        "versions": versions, "date": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "env": {k: os.environ.get(k) for k in ENV_VARS}, "loadavg": loadavg(),
    }


def _fmt(v, spec: str, none: str = "-") -> str:
    return none if v is None else format(v, spec)


def _last_line(text: str) -> str:
    lines = [ln for ln in str(text).strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""


def summarize_skipped(skipped: list[dict]) -> list[str]:
    """One line per (backend, status, reason): the ops it concerns, "op[mode]" when one mode only."""
    groups: dict[tuple, dict[str, set]] = {}
    for s in skipped:
        reason = "" if s["status"] == "not_implemented" else _last_line(s["reason"])[:160]
        groups.setdefault((s["backend"], s["status"], reason), {}).setdefault(s["op"], set()).add(s["mode"])
    out = []
    for (backend, status, reason), ops in groups.items():
        names = [op if len(modes) > 1 or "*" in modes else f"{op}[{next(iter(modes))}]" for op, modes in ops.items()]
        what = "" if names == ["*"] else " (" + ", ".join(names) + ")"
        out.append(f"  {backend}: {status}{what}" + (f": {reason}" if reason else ""))
    return out


def format_table(rows: list[dict], skipped: list[dict]) -> str:
    head = ("op", "case", "mode", "backend", "dtype", "median ms", "IQR ms", "n", "spread", "GFLOP/s", "GB/s",
            "GEMM ms", "x GEMM", "x torch-cpu", "x spec")
    body = [(r["op"], r["case"], r["mode"], r["backend"], r["dtype"], _fmt(r["median_s"] * 1e3, ".4g"),
             _fmt(r["iqr_s"] * 1e3, ".2g"), str(r["repeats"]), _fmt(r.get("process_spread"), ".0%"),
             _fmt(r["gflops"], ".3g"), _fmt(r.get("gbps"), ".1f"),
             _fmt(None if r.get("gemm_s") is None else r["gemm_s"] * 1e3, ".4g"), _fmt(r.get("x_gemm"), ".2f"),
             _fmt(r["ratio_to_torch_cpu"], ".2f"), _fmt(r["speedup_over_spec"], ".3g")) for r in rows]
    widths = [max(len(h), *(len(b[i]) for b in body)) if body else len(h) for i, h in enumerate(head)]
    numeric = set(range(5, len(head)))

    def line(cells):
        return "  ".join(c.rjust(w) if i in numeric else c.ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths, strict=True))).rstrip()

    out = [line(head), line(["-" * w for w in widths])]
    prev = None
    for r, b in zip(rows, body, strict=True):
        if prev is not None and (r["op"], r["case"]) != prev:
            out.append("")
        prev = (r["op"], r["case"])
        out.append(line(b))
    out += ["", "x torch-cpu = torch-cpu median / backend median (> 1: faster than torch-cpu); "
                "x spec = spec median / backend median (small tier); "
                "x GEMM = median / the plain GEMM of the same size in the same backend (1 GEMM; forward+vjp 3); "
                "spread = IQR / median of the per-process medians (several processes per backend).",
            "GFLOP/s: conv 2*N*Cout*prod(out)*Cin*prod(k), dense 2*N*Fin*Fout, composite = its conv+dense; "
            "forward+vjp = 3x forward. GB/s: compulsory traffic (inputs read once, outputs written once)."]
    if skipped:
        out += ["", f"not measured ({len(skipped)} case/mode/backend combinations):", *summarize_skipped(skipped)]
    return "\n".join(out)


def markdown(data: dict, backends: tuple[str, ...] = ("numpy", "scipy", "torch-cpu")) -> str:
    """The README's table from bench.json: realistic rows, "median ms (x torch-cpu)[, x GEMM]" per backend."""
    rows = [r for r in data["rows"] if r.get("tier") == "realistic"]
    by = {(r["op"], r["case"], r["dtype"], r["mode"], r["backend"]): r for r in rows}
    keys = list(dict.fromkeys((r["op"], r["case"], r["dtype"], r["mode"]) for r in rows))
    out = ["| case | dtype | mode | " + " | ".join(backends) + " |", "|---|---|---|" + "---|" * len(backends)]
    for op, case, dtype, mode in keys:
        cells = []
        for b in backends:
            r = by.get((op, case, dtype, mode, b))
            if r is None:
                cells.append("-")
                continue
            cell = f"{r['median_s'] * 1e3:.3g}"
            if r.get("ratio_to_torch_cpu") is not None and b != TORCH_CPU:
                cell += f" ({r['ratio_to_torch_cpu']:.2f})"
            if r.get("x_gemm") is not None:
                cell += f", {r['x_gemm']:.2f}x GEMM"
            cells.append(cell)
        out.append(f"| {op} {case} | {dtype} | {mode} | " + " | ".join(cells) + " |")
    return "\n".join(out)
