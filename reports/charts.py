"""Inline SVG charts, built in plain Python (no matplotlib). Every text is XML-escaped.

Both functions return :class:`markupsafe.Markup`, so Jinja inserts them as-is.
"""

from __future__ import annotations

import math

from markupsafe import Markup, escape

__all__ = ["heatmap_svg", "bar_chart_svg", "ratio_colour", "fmt_ratio"]

LOG_MIN, LOG_MAX = -3.0, 3.0  # colour scale of tol_ratio: 1e-3 .. 1e3, 1 in the middle

_GREEN = (26, 152, 80)
_YELLOW = (254, 224, 139)
_RED = (215, 48, 39)

STATUS_FILL = {
    "fail": "#b2182b", "error": "#6a1b4d", "expected_deviation": "#e08214", "not_implemented": "#d9d9d9",
    "unavailable": "#eeeeee", "skipped": "#f4f4f4", "none": "#fafafa", "pass": "#dcf5e3",
}


def _mix(a, b, t):
    r, g, b_ = (round(x + (y - x) * t) for x, y in zip(a, b, strict=True))
    return f"#{r:02x}{g:02x}{b_:02x}"


def ratio_colour(ratio: float) -> str:
    """Colour for a worst-error / tolerance ratio on a log scale: green (tiny) - yellow (1) - red (huge)."""
    if ratio is None or math.isnan(ratio):
        return STATUS_FILL["none"]
    if ratio <= 0:
        return _mix(_GREEN, _GREEN, 0)
    lg = max(LOG_MIN, min(LOG_MAX, math.log10(ratio))) if math.isfinite(ratio) else LOG_MAX
    if lg <= 0:
        return _mix(_GREEN, _YELLOW, (lg - LOG_MIN) / -LOG_MIN)
    return _mix(_YELLOW, _RED, lg / LOG_MAX)


def _text_colour(fill: str) -> str:
    r, g, b = (int(fill[i:i + 2], 16) for i in (1, 3, 5))
    return "#111" if 0.299 * r + 0.587 * g + 0.114 * b > 140 else "#fff"


def fmt_ratio(ratio) -> str:
    if ratio is None:
        return "—"
    if math.isnan(ratio):
        return "NaN"
    if math.isinf(ratio):
        return "∞"
    if ratio == 0:
        return "0"
    if ratio >= 1e5 or ratio < 0.001:
        return f"{ratio:.0e}"
    if ratio >= 10:
        return f"{ratio:.0f}"
    return f"{ratio:.2g}"


def _clip(text: str, n: int) -> str:
    text = str(text)
    return text if len(text) <= n else text[: n - 1] + "…"


def _svg_open(cls: str, width, height) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart {cls}" role="img" width="{width}" '
            f'height="{height}" viewBox="0 0 {width} {height}" font-family="system-ui, sans-serif" '
            'font-size="12">')


def heatmap_svg(ops: list[str], backends: list[str], cells: dict, *, title: str = "") -> Markup:
    """Heat map of worst error / tolerance, op (rows) x backend (columns).

    ``cells[(op, backend)] = {"ratio": float | None, "status": str}``. A cell with a ratio is
    coloured on a log scale; one without is coloured by status and labelled with it.
    """
    cw, ch, left, top = 96, 26, 130, 78
    width = max(left + cw * max(1, len(backends)) + 110, left + 460)
    legend_y = top + ch * max(1, len(ops)) + 24
    height = legend_y + 48
    out = [
        _svg_open("heatmap", width, height),
        f"<title>{escape(title or 'Worst error as a fraction of tolerance')}</title>",
    ]
    for j, be in enumerate(backends):
        x = left + j * cw + cw / 2
        out.append(f'<text x="{x:.0f}" y="{top - 8}" text-anchor="start" '
                   f'transform="rotate(-30 {x:.0f} {top - 8})">{escape(_clip(be, 22))}</text>')
    for i, op in enumerate(ops):
        y = top + i * ch
        out.append(f'<text x="{left - 8}" y="{y + ch / 2 + 4:.0f}" text-anchor="end">'
                   f"{escape(_clip(op, 18))}</text>")
        for j, be in enumerate(backends):
            cell = cells.get((op, be)) or {}
            ratio, status = cell.get("ratio"), cell.get("status") or "none"
            if status in ("fail", "error") and ratio is None:
                fill, label = STATUS_FILL[status], status
            elif ratio is not None:
                fill, label = ratio_colour(ratio), fmt_ratio(ratio)
                if status in ("fail", "error", "expected_deviation"):
                    label += {"fail": " ✗", "error": " ⚠", "expected_deviation": " ≈"}[status]
            else:
                fill = STATUS_FILL.get(status, STATUS_FILL["none"])
                label = {"not_implemented": "n/i", "unavailable": "n/a", "skipped": "skip",
                         "pass": "pass", "expected_deviation": "exp.dev."}.get(status, "—")
            x = left + j * cw
            out.append(f'<rect x="{x}" y="{y}" width="{cw - 2}" height="{ch - 2}" rx="3" fill="{fill}">'
                       f"<title>{escape(f'{op} / {be}: {label} ({status})')}</title></rect>")
            out.append(f'<text x="{x + (cw - 2) / 2:.0f}" y="{y + ch / 2 + 3:.0f}" text-anchor="middle" '
                       f'fill="{_text_colour(fill)}">{escape(label)}</text>')
    # legend: a log colour bar 1e-3 .. 1e3
    lw, lx = 300, left
    out.append("<defs><linearGradient id=\"hm-grad\" x1=\"0\" x2=\"1\" y1=\"0\" y2=\"0\">")
    for k in range(0, 7):
        out.append(f'<stop offset="{k / 6:.3f}" stop-color="{ratio_colour(10.0 ** (LOG_MIN + k))}"/>')
    out.append("</linearGradient></defs>")
    out.append(f'<text x="{lx - 8}" y="{legend_y + 12}" text-anchor="end">error / tol</text>')
    out.append(f'<rect x="{lx}" y="{legend_y}" width="{lw}" height="14" fill="url(#hm-grad)" stroke="#999"/>')
    for k in range(0, 7):
        x = lx + lw * k / 6
        out.append(f'<line x1="{x:.0f}" x2="{x:.0f}" y1="{legend_y + 14}" y2="{legend_y + 19}" '
                   'stroke="#555"/>')
        out.append(f'<text x="{x:.0f}" y="{legend_y + 31}" text-anchor="middle">'
                   f"{escape(fmt_ratio(10.0 ** (LOG_MIN + k)))}</text>")
    out.append(f'<text x="{lx + lw + 10}" y="{legend_y + 12}">≤ 1 within tolerance</text>')
    out.append("</svg>")
    return Markup("\n".join(out))


def bar_chart_svg(groups: list[tuple[str, list[tuple[str, float]]]], *, title: str, unit: str = "",
                  log: bool = False, reference: float | None = None) -> Markup:
    """Horizontal grouped bar chart: ``groups = [(group_label, [(series_label, value), ...]), ...]``.

    ``log`` puts the value axis on a log10 scale; ``reference`` draws a dashed line (e.g. 1x torch-cpu).
    """
    values = [v for _, series in groups for _, v in series
              if v is not None and math.isfinite(v) and (v > 0 or not log)]
    series_names: list[str] = []
    for _, series in groups:
        for name, _ in series:
            if name not in series_names:
                series_names.append(name)
    palette = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948", "#b07aa1", "#9c755f"]
    colour = {name: palette[i % len(palette)] for i, name in enumerate(series_names)}
    bar_h, gap, left, plot_w = 14, 10, 170, 460
    n_bars = sum(len(s) for _, s in groups)
    top = 44
    height = top + n_bars * bar_h + len(groups) * gap + 40 + 18 * ((len(series_names) + 3) // 4)
    width = left + plot_w + 110
    out = [
        _svg_open("bars", width, height),
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" font-weight="600">{escape(title)}</text>',
    ]
    if not values:
        out.append(f'<text x="{left}" y="{top + 20}">no data</text></svg>')
        return Markup("\n".join(out))
    vmax = max(values + ([reference] if reference else []))
    if log:
        vmin = min(values + ([reference] if reference else []))
        lo, hi = math.floor(math.log10(vmin)), math.ceil(math.log10(vmax))
        if hi == lo:
            hi += 1

        def pos(v):
            return left + plot_w * (math.log10(v) - lo) / (hi - lo)
        ticks = [10.0 ** e for e in range(lo, hi + 1)]
    else:
        hi_v = vmax * 1.05 or 1.0

        def pos(v):
            return left + plot_w * max(0.0, v) / hi_v
        step = 10 ** math.floor(math.log10(hi_v)) if hi_v > 0 else 1
        ticks = [k * step for k in range(0, int(hi_v / step) + 1)]
    y = top
    axis_bottom = top + n_bars * bar_h + len(groups) * gap
    for t in ticks:
        x = pos(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{axis_bottom}" stroke="#e3e3e3"/>')
        out.append(f'<text x="{x:.1f}" y="{axis_bottom + 14}" text-anchor="middle">'
                   f"{escape(f'{t:g}{unit}')}</text>")
    for label, series in groups:
        out.append(f'<text x="{left - 8}" y="{y + bar_h * len(series) / 2 + 4:.0f}" text-anchor="end">'
                   f"{escape(_clip(label, 24))}</text>")
        for name, v in series:
            ok = v is not None and math.isfinite(v) and (v > 0 or not log)
            # bars grow from the reference (e.g. 1x) on a log axis, so faster/slower point left/right
            x0 = pos(reference) if (log and reference) else (pos(10.0 ** lo) if log else left)
            if ok:
                x1 = pos(v)
                xa, xb = min(x0, x1), max(x0, x1)
                tip = escape(f"{label} / {name}: {v:.3g}{unit}")
                out.append(f'<rect x="{xa:.1f}" y="{y}" width="{max(1.0, xb - xa):.1f}" height="{bar_h - 2}" '
                           f'fill="{colour[name]}"><title>{tip}</title></rect>')
                out.append(f'<text x="{xb + 4:.1f}" y="{y + bar_h - 4}" font-size="10">'
                           f"{escape(f'{v:.3g}{unit}')}</text>")
            else:
                out.append(f'<text x="{x0 + 4:.1f}" y="{y + bar_h - 4}" font-size="10" fill="#777">'
                           f"{escape(name)}: no data</text>")
            y += bar_h
        y += gap
    if reference is not None:
        x = pos(reference)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 6}" y2="{axis_bottom}" stroke="#333" '
                   f'stroke-dasharray="4 3"/>')
        out.append(f'<text x="{x:.1f}" y="{top - 10}" text-anchor="middle" font-size="10" fill="#333">'
                   f"{escape(f'reference {reference:g}{unit}')}</text>")
    ly = axis_bottom + 34
    for i, name in enumerate(series_names):
        lx = left + (i % 4) * 150
        yy = ly + (i // 4) * 18
        out.append(f'<rect x="{lx}" y="{yy - 10}" width="12" height="12" fill="{colour[name]}"/>')
        out.append(f'<text x="{lx + 16}" y="{yy}">{escape(_clip(name, 20))}</text>')
    out.append("</svg>")
    return Markup("\n".join(out))
