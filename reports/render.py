"""Render a results dict (schema "nnconform.results/1", see DESIGN.md) into ONE self-contained HTML file.

No network, no CDN, no fonts: CSS, JS and SVG charts are inlined, so the page works from file://
and is fully readable with JavaScript off. Every string that comes from a result (backend names,
exception texts, examples) is escaped by Jinja's autoescape; charts escape their own text.

Public API:

* :func:`render_report` ``(results: dict) -> str``
* :func:`write_report` ``(results: dict, path) -> Path`` (atomic)
* :func:`load_results` ``(path) -> dict`` (a results.json, or a partial results.jsonl; validated, else
  :class:`ResultsError` with a one-line message)
* :func:`summarize` ``(results: dict) -> dict`` (counts by status, failing cells; used by the CLI)
* :func:`aggregate_status` ``(statuses) -> str`` (the matrix's cell rule)
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from pathlib import Path

import jinja2
from markupsafe import Markup

from nnconform import schema
from nnconform.atomic import write_text_atomic
from nnconform.schema import OBSERVATION_KINDS

from . import charts

__all__ = ["render_report", "write_report", "load_results", "validate_results", "ResultsError", "summarize",
           "aggregate_status", "CHECK_GROUPS", "STATUSES"]

SCHEMA = schema.RESULTS_SCHEMA
TEMPLATE_DIR = Path(__file__).with_name("templates")

# (key, column label, long label, check kinds in the group): from nnconform.schema, in its order
CHECK_GROUPS = [(key, short, long, tuple(k for k, g in schema.CHECK_KINDS.items() if g == key))
                for key, (short, long) in schema.CHECK_GROUPS.items()]
_GROUP_OF_CHECK = dict(schema.CHECK_KINDS)
_FALLBACK_GROUP = "properties"
# a check kind outside the schema (a newer plugin) lands in "properties", shown with its own name in the details

STATUSES = list(schema.STATUSES)
# symbol, short text, long text; the symbol and the text make the status readable without colour
STATUS_STYLE = {
    "pass": ("✓", "pass", "pass"),
    "fail": ("✗", "FAIL", "fail"),
    "expected_deviation": ("≈", "exp. dev.", "expected deviation"),
    "not_implemented": ("∅", "n/i", "not implemented"),
    "unavailable": ("⊘", "n/a", "unavailable"),
    "error": ("⚠", "ERROR", "error"),
    "skipped": ("–", "skip", "skipped"),
    "none": ("", "—", "no tests"),
}
# badness rank: used to sort by status and to pick a row's overall status
STATUS_RANK = {"error": 7, "fail": 6, "expected_deviation": 5, "pass": 4, "skipped": 3,
               "not_implemented": 2, "unavailable": 1, "none": 0}
_TIER_ORDER = {"small": 0, "realistic": 1}
BAD = schema.BAD_STATUSES
PROBLEMS = ("fail", "error", "expected_deviation")

OP_ORDER = ["conv", "dense", "relu", "sigmoid", "tanh", "max_pool", "avg_pool", "upsample", "dropout",
            "dropout_mask", "batch_norm", "batch_norm_eval", "running_stats", "composite"]
# Only for results files older than the "ops" list: a results file carries spec's catalogue order in "ops".

LIMITS = {"message": 2000, "traceback": 12000, "falsifying_example": 4000, "expected": 3000, "actual": 3000,
          "repro": 2000, "reason": 2000, "value": 600, "short": 160}


# ----------------------------------------------------------------------------------------- helpers
def _s(value, limit: int | None = None) -> str:
    """A display string: None -> "", anything else str(); truncated visibly past ``limit``."""
    if value is None:
        return ""
    if not isinstance(value, str):
        if isinstance(value, (dict, list, tuple)):
            try:
                value = json.dumps(value, ensure_ascii=False, default=str)
            except (TypeError, ValueError):
                value = str(value)
        else:
            value = str(value)
    if limit is not None and len(value) > limit:
        value = f"{value[:limit]}\n… [truncated: {len(value) - limit} more characters]"
    return value


def _f(value) -> float | None:
    """A float, or None for missing/unparseable; NaN and inf survive (also from "NaN"/"Infinity" strings)."""
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _i(value) -> int | None:
    f = _f(value)
    if f is None or not math.isfinite(f):
        return None
    return int(f)


def fmt_num(value, digits: int = 3) -> str:
    f = _f(value)
    if f is None:
        return "—"
    if math.isnan(f):
        return "NaN"
    if math.isinf(f):
        return "∞" if f > 0 else "-∞"
    if f == 0:
        return "0"
    return f"{f:.{digits}g}"


def fmt_ratio(value) -> str:
    f = _f(value)
    return "—" if f is None else charts.fmt_ratio(f) + "×"


def fmt_time(value) -> str:
    f = _f(value)
    if f is None:
        return "—"
    if not math.isfinite(f):
        return fmt_num(f)
    if f >= 100:
        return f"{f:.0f} s"
    if f >= 1:
        return f"{f:.3g} s"
    if f >= 1e-3:
        return f"{f * 1e3:.3g} ms"
    if f >= 1e-6:
        return f"{f * 1e6:.3g} µs"
    return f"{f * 1e9:.3g} ns"


def sort_key(value) -> str:
    """A data-sort attribute value: numbers as numbers (NaN/None last), text as text."""
    f = _f(value)
    if f is None or math.isnan(f):
        return ""
    return repr(f) if math.isfinite(f) else ("1e308" if f > 0 else "-1e308")


def _max_ratio(values):
    """Worst of several tol_ratios; NaN counts as worst of all."""
    vals = [v for v in values if v is not None]
    if not vals:
        return None
    if any(math.isnan(v) for v in vals):
        return math.nan
    return max(vals)


def aggregate_status(statuses) -> str:
    """The matrix rule: any fail -> fail; else any error -> error; else any expected deviation ->
    expected_deviation; else any pass -> pass; else all not implemented -> not_implemented;
    else unavailable, skipped; no results -> "none"."""
    st = set(statuses)
    if not st:
        return "none"
    for s in ("fail", "error", "expected_deviation", "pass"):
        if s in st:
            return s
    if st == {"not_implemented"}:
        return "not_implemented"
    for s in ("unavailable", "not_implemented", "skipped"):
        if s in st:
            return s
    return "error"  # statuses outside the schema: show, never hide


def format_array(value, limit: int = 600) -> str:
    """Compact text for a (nested) list of numbers, e.g. ``[[1, 2], [3, 4]]``."""
    def rec(v):
        if isinstance(v, (list, tuple)):
            return "[" + ", ".join(rec(x) for x in v) + "]"
        f = _f(v)
        if f is not None and not isinstance(v, str):
            if math.isfinite(f) and f == int(f) and abs(f) < 1e15:
                return str(int(f))
            return fmt_num(f, 6)
        return _s(v)
    if value is None:
        return ""
    return _s(rec(value), limit)


def _flatten(v, out):
    if isinstance(v, (list, tuple)):
        out.append(("[", len(v)))
        for x in v:
            _flatten(x, out)
        return out
    out.append(_f(v) if not isinstance(v, str) else v)
    return out


def arrays_equal(a, b, rtol: float = 1e-5, atol: float = 1e-6) -> bool | None:
    """Same nesting and values within rtol/atol (NaN equals NaN); None when either side is missing."""
    if a is None or b is None:
        return None
    fa, fb = _flatten(a, []), _flatten(b, [])
    if len(fa) != len(fb):
        return False
    for x, y in zip(fa, fb, strict=True):
        if isinstance(x, float) and isinstance(y, float):
            if math.isnan(x) or math.isnan(y):
                if not (math.isnan(x) and math.isnan(y)):
                    return False
            elif math.isinf(x) or math.isinf(y):
                if x != y:
                    return False
            elif abs(x - y) > atol + rtol * abs(x):
                return False
        elif x != y:
            return False
    return True


def _embed_json(obj) -> Markup:
    """JSON that is safe inside <script>: <, >, & and the JS line separators are \\u-escaped."""
    text = json.dumps(obj, ensure_ascii=False, sort_keys=True, default=str)
    for a, b in (("&", "\\u0026"), ("<", "\\u003c"), (">", "\\u003e"),
                 ("\u2028", "\\u2028"), ("\u2029", "\\u2029")):
        text = text.replace(a, b)
    return Markup(text)


# -------------------------------------------------------------------------------------- the model
def _as_list(value):
    return [x for x in value if isinstance(x, dict)] if isinstance(value, list) else []


def _norm_result(r: dict, index: int) -> dict:
    status = _s(r.get("status")) or "error"
    if status not in STATUS_STYLE:
        status_label = status
        status = "error"
    else:
        status_label = ""
    check = _s(r.get("check")) or "?"
    tol = r.get("tolerance") if isinstance(r.get("tolerance"), dict) else {}
    tol_text = []
    if _f(tol.get("rtol")) is not None:
        tol_text.append(f"rtol {fmt_num(tol.get('rtol'))}")
    if _f(tol.get("atol")) is not None:
        tol_text.append(f"atol {fmt_num(tol.get('atol'))}")
    return {
        "index": index,
        "backend": _s(r.get("backend")) or "?",
        "op": _s(r.get("op")) or "?",
        "dtype": _s(r.get("dtype")) or "-",
        "tier": _s(r.get("tier")) or "-",
        "check": check,
        "group": _GROUP_OF_CHECK.get(check, _FALLBACK_GROUP),
        "name": _s(r.get("name"), LIMITS["short"]) or _s(r.get("nodeid"), LIMITS["short"]) or check,
        "nodeid": _s(r.get("nodeid"), LIMITS["value"]),
        "status": status,
        "status_label": status_label,
        "category": _s(r.get("category"), LIMITS["short"]),
        "examples": _i(r.get("examples")),
        "max_abs_err": _f(r.get("max_abs_err")),
        "max_rel_err": _f(r.get("max_rel_err")),
        "tol_ratio": _f(r.get("tol_ratio")),
        "tolerance": ", ".join(tol_text),
        "tol_rule": _s(tol.get("rule"), LIMITS["value"]),
        "message": _s(r.get("message"), LIMITS["message"]),
        "traceback": _s(r.get("traceback"), LIMITS["traceback"]),
        "falsifying_example": _s(r.get("falsifying_example"), LIMITS["falsifying_example"]),
        "expected": _s(r.get("expected"), LIMITS["expected"]),
        "actual": _s(r.get("actual"), LIMITS["actual"]),
        "repro": _s(r.get("repro"), LIMITS["repro"]),
        "duration_s": _f(r.get("duration_s")),
        "reason": _s(r.get("reason"), LIMITS["reason"]),
        "example_id": _s((r.get("extra") if isinstance(r.get("extra"), dict) else {}).get("example_id"),
                         LIMITS["short"]),
        "deviation": _deviation((r.get("extra") if isinstance(r.get("extra"), dict) else {}).get("deviation")),
    }


def _deviation(dev) -> dict | None:
    """A row's declared-deviation verdict (conformance/deviations.py): strict ratio next to the declared bound."""
    if not isinstance(dev, dict):
        return None
    return {"key": tuple(_s(dev.get(k), LIMITS["reason"]) for k in ("op", "dtype", "check", "reason")),
            "bound": _s(dev.get("bound"), LIMITS["short"]), "strict_ratio": _f(dev.get("strict_ratio")),
            "declared_ratio": _f(dev.get("declared_ratio")), "examples": _i(dev.get("examples"))}


def _bound_text(d: dict) -> str:
    """The declared bound of one results-file declaration (mirrors impls.base.ExpectedDeviation.bound_text)."""
    parts = []
    u = _f(d.get("unit_roundoff"))
    if u is not None and u > 0:
        exp = math.log2(u)
        parts.append(f"u = 2**{exp:g}" if exp == int(exp) else f"u = {u:.3g}")
    if _f(d.get("max_tol_ratio")) is not None:
        parts.append(f"tol_ratio <= {_f(d.get('max_tol_ratio')):g}")
    cats = [_s(c, LIMITS["short"]) for c in d.get("categories") or [] if c != "mismatch"] \
        if isinstance(d.get("categories"), list) else []
    if cats:
        parts.append("covers " + ", ".join(cats))
    return "; ".join(parts) or ("no bound" if "categories" in d else "")


def _test_order(r: dict):
    return (r["dtype"], _TIER_ORDER.get(r["tier"], 9), r["tier"], r["check"], r["name"], r["index"])


def _order_ops(ops, order=None):
    """``ops`` in the results file's catalogue order (``results["ops"]``), unknown ones (composite) last."""
    order = [o for o in order if isinstance(o, str)] if isinstance(order, list) and order else OP_ORDER
    known = [o for o in order if o in ops]
    return known + [o for o in ops if o not in order]


def _bar_width(ratio) -> float:
    """Width (0..100 %) of a tol_ratio bar: log scale, 1x tolerance at 50 %."""
    if ratio is None:
        return 0.0
    if math.isnan(ratio) or ratio > 1e3:
        return 100.0
    if ratio <= 1e-3:
        return 1.0
    return max(1.0, min(100.0, 50.0 + 50.0 * math.log10(ratio) / 3.0))


def _backends(results: dict, rows: list[dict]) -> list[dict]:
    out, seen = [], {}
    for b in _as_list(results.get("backends")):
        name = _s(b.get("name")) or "?"
        if name in seen:
            continue
        meta = b.get("metadata") if isinstance(b.get("metadata"), dict) else {}
        status = _s(b.get("status")) or "available"
        entry = {
            "name": name,
            "status": status if status in ("available", "unavailable", "error") else "error",
            "reason": _s(b.get("reason"), LIMITS["traceback"]),
            "device": _s(b.get("device"), LIMITS["short"]),
            "dtypes": [_s(d, LIMITS["short"]) for d in b.get("dtypes") or [] if d is not None]
            if isinstance(b.get("dtypes"), list) else [],
            "metadata": [(_s(k, LIMITS["short"]), _s(v, LIMITS["value"]), "tf32" in str(k).lower())
                         for k, v in meta.items()],
            "expected_deviations": [
                {**{k: _s(d.get(k), LIMITS["reason"]) for k in ("op", "dtype", "check", "reason")},
                 "bound": _bound_text(d)}
                for d in _as_list(b.get("expected_deviations"))],
        }
        for d in entry["expected_deviations"]:  # how many results needed it; none: "unused"
            key = (d["op"], d["dtype"], d["check"], d["reason"])
            d["used"] = sum(1 for r in rows if r["backend"] == name and r["deviation"] and r["deviation"]["key"] == key
                            and r["status"] == "expected_deviation")
        seen[name] = entry
        out.append(entry)
    for r in rows:  # a backend with results but no declaration still gets a column
        if r["backend"] not in seen:
            entry = {"name": r["backend"], "status": "available", "reason": "", "device": "", "dtypes": [],
                     "metadata": [], "expected_deviations": []}
            seen[r["backend"]] = entry
            out.append(entry)
    for i, b in enumerate(out):
        b["id"] = f"b{i}"
        b["reason_line"] = _s(b["reason"].strip().splitlines()[-1] if b["reason"].strip() else "",
                              LIMITS["short"])
    return out


def build_model(results) -> dict:
    """Turn a (possibly partial or odd) results dict into plain data for the template."""
    if not isinstance(results, dict):
        results = {}
    run = results.get("run") if isinstance(results.get("run"), dict) else {}
    all_rows = [_norm_result(r, i) for i, r in enumerate(_as_list(results.get("results")))]
    # semantics and agreement rows are observations across backends: their own sections, not the matrix
    rows = [r for r in all_rows if r["check"] not in OBSERVATION_KINDS]
    backends = _backends(results, rows)
    by_backend = {b["name"]: b for b in backends}

    # a backend collapses to a single "unavailable"/"error" column when it has nothing else to show
    # (its rows are only unavailable/skipped markers, or the plugin's "load" error record)
    for b in backends:
        own = [r for r in rows if r["backend"] == b["name"]]
        b["collapsed"] = b["status"] != "available" and all(
            r["status"] in ("unavailable", "skipped") or r["check"] == "load" for r in own)
        b["ncols"] = 1 if b["collapsed"] else len(CHECK_GROUPS)
    collapsed = {b["name"] for b in backends if b["collapsed"]}
    shown = [r for r in rows if r["backend"] not in collapsed] or rows
    ops = _order_ops(list(dict.fromkeys(r["op"] for r in shown)), results.get("ops"))
    cells: dict[tuple[str, str, str], list[dict]] = defaultdict(list)
    for r in rows:
        cells[(r["backend"], r["op"], r["group"])].append(r)

    matrix, details, heat = [], [], {}
    for oi, op in enumerate(ops):
        row = {"op": op, "id": f"op{oi}", "cells": [], "bad": False}
        op_statuses, op_ratios = [], []
        for b in backends:
            be_statuses, be_ratios = [], []
            if b["collapsed"]:
                row["cells"].append({"collapsed": True, "status": b["status"], "backend": b})
                heat[(op, b["name"])] = {"ratio": None,
                                         "status": "error" if b["status"] == "error" else "unavailable"}
                continue
            for key, short, long, _ in CHECK_GROUPS:
                items = sorted(cells.get((b["name"], op, key), []), key=_test_order)
                status = aggregate_status(r["status"] for r in items)
                ratio = _max_ratio([r["tol_ratio"] for r in items])
                examples = [r["examples"] for r in items if r["examples"] is not None]
                anchor = f"c-{b['id']}-{row['id']}-{key}"
                crash = sorted({r["category"] for r in items if r["status"] == "error" and r["category"]})
                cell = {
                    "collapsed": False, "status": status, "key": key, "short": short, "long": long,
                    "anchor": anchor if items else "", "n": len(items),
                    "examples": sum(examples) if examples else None, "ratio": ratio,
                    "crash": ", ".join(crash), "backend": b,
                    "counts": sorted(((s, sum(1 for r in items if r["status"] == s))
                                      for s in {r["status"] for r in items}),
                                     key=lambda kv: -STATUS_RANK.get(kv[0], 0)),
                }
                row["cells"].append(cell)
                be_statuses.append(status)
                if ratio is not None:
                    be_ratios.append(ratio)
                if items:
                    for r in items:
                        r["bar"] = _bar_width(r["tol_ratio"])
                    details.append({
                        "anchor": anchor, "backend": b["name"], "op": op, "group": long, "status": status,
                        "ratio": ratio, "tests": items,
                        "problems": [r for r in items if r["status"] in PROBLEMS],
                        "bad": status in BAD,
                    })
            be_status = aggregate_status([s for s in be_statuses if s != "none"])
            heat[(op, b["name"])] = {"ratio": _max_ratio(be_ratios), "status": be_status}
            op_statuses.append(be_status)
            op_ratios.extend(be_ratios)
        overall = aggregate_status([s for s in op_statuses if s != "none"])
        row["overall"] = overall
        row["ratio"] = _max_ratio(op_ratios)
        row["bad"] = overall in BAD
        matrix.append(row)

    observations_bad = [(r["backend"], r["op"], r["check"], r["status"]) for r in all_rows
                        if r["check"] in OBSERVATION_KINDS and r["status"] in BAD]
    counts = {s: 0 for s in STATUSES}
    for r in all_rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1

    return {
        "schema": _s(results.get("schema")),
        "schema_ok": results.get("schema") in (None, SCHEMA),
        "complete": results.get("complete") is True,
        "run": _run_info(run),
        "headline": [_s(x, LIMITS["short"]) for x in (
            run.get("host"), run.get("started"), run.get("profile") and f"profile {run.get('profile')}",
            run.get("hypothesis_seed") and f"seed {run.get('hypothesis_seed')}",
            run.get("git_commit") and f"commit {run.get('git_commit')}",
            _f(run.get("duration_s")) is not None and f"took {fmt_time(run.get('duration_s'))}") if x],
        "versions": [(_s(k, LIMITS["short"]), _s(v, LIMITS["value"]))
                     for k, v in (run.get("versions") or {}).items()]
        if isinstance(run.get("versions"), dict) else [],
        "backends": backends,
        "by_backend": by_backend,
        "groups": CHECK_GROUPS,
        "matrix": matrix,
        "details": details,
        "counts": counts,
        "total": len(all_rows),
        "n_bad": counts.get("fail", 0) + counts.get("error", 0),
        "heatmap": charts.heatmap_svg(ops, [b["name"] for b in backends], heat) if ops and backends else None,
        "worked_examples": _worked_examples(results, rows),
        "errata": [{k: _s(e.get(k), LIMITS["reason"]) for k in ("id", "where", "lecture_says", "evidence",
                                                                "decision")}
                   for e in _as_list(results.get("errata"))],
        "decisions": [{k: _s(d.get(k), LIMITS["reason"]) for k in ("topic", "decision", "where")}
                      for d in _as_list(results.get("decisions"))],
        "perf": _performance(results, rows),
        **_observation_sections(results),
        "observations_bad": observations_bad,
        "summary_json": _embed_json({
            "schema": SCHEMA, "complete": results.get("complete") is True, "counts": counts,
            "failing_cells": [[d["backend"], d["op"], d["group"]] for d in details if d["bad"]]
            + [list(o[:3]) for o in observations_bad],
        }),
    }


def _observation_sections(results: dict) -> dict:
    """The semantics table, the agreement matrices and the source runs (reports/observations.py)."""
    from .observations import agreement_model, semantics_table, source_runs  # it imports this module

    return {"semantics": semantics_table(results), "agreement": agreement_model(results),
            "runs": source_runs(results)}


def _run_info(run: dict) -> list[tuple[str, str]]:
    fields = [("started", "Started"), ("finished", "Finished"), ("duration_s", "Duration"), ("host", "Host"),
              ("platform", "Platform"), ("cpu", "CPU"), ("gpu", "GPU"), ("python", "Python"),
              ("hypothesis_seed", "Hypothesis seed"), ("profile", "Profile"), ("git_commit", "Git commit"),
              ("command", "Command")]
    out = []
    for key, label in fields:
        value = run.get(key)
        text = fmt_time(value) if key == "duration_s" and value is not None else _s(value, LIMITS["value"])
        out.append((label, text or "—"))
    known = {k for k, _ in fields} | {"versions"}
    for key, value in run.items():  # anything extra the plugin records is shown too
        if key not in known:
            out.append((_s(key, LIMITS["short"]), _s(value, LIMITS["value"]) or "—"))
    return out


def _worked_examples(results: dict, rows: list[dict]) -> dict:
    """Each lecture example: expected, the slide's printed version when it differs, each backend's output.

    An output is marked equal/different by the matching worked_example result record when there is
    one (keys ``"backend"`` or ``"backend (dtype)"``), else by comparing the arrays; a text output
    (an error, or a summary of a large array) without a record is shown but not compared.
    """
    verdict = {}
    for r in rows:
        if r["check"] == "worked_example":
            for key in (f"{r['backend']} ({r['dtype']})", r["backend"]):
                for ex_id in (r["example_id"], r["name"]):
                    if ex_id:
                        verdict.setdefault((key, ex_id), set()).add(r["status"])
    examples, names = [], []
    for ex in _as_list(results.get("worked_examples")):
        ex_id = _s(ex.get("id"), LIMITS["short"])
        expected = ex.get("expected")
        printed = ex.get("printed")
        outputs = ex.get("outputs") if isinstance(ex.get("outputs"), dict) else {}
        cols = {}
        for name, value in outputs.items():
            name = _s(name, LIMITS["short"])
            if name not in names:
                names.append(name)
            statuses = verdict.get((name, ex_id))
            if statuses:
                eq = None if statuses <= {"skipped", "not_implemented", "unavailable"} else \
                    not (statuses & {"fail", "error"})
            elif isinstance(value, str):
                eq = None
            else:
                eq = arrays_equal(expected, value)
            text = _s(value, LIMITS["short"]) if isinstance(value, str) else format_array(value, 300)
            cols[name] = {"text": text, "equal": eq}
        printed_differs = printed is not None and arrays_equal(expected, printed) is False
        examples.append({
            "id": ex_id, "slide": _s(ex.get("slide"), LIMITS["short"]),
            "description": _s(ex.get("description"), LIMITS["value"]),
            "expected": format_array(expected, 300), "printed": format_array(printed, 300) if printed_differs else "",
            "outputs": cols, "bad": any(c["equal"] is False for c in cols.values()),
        })
    return {"examples": examples, "backends": names}


def _geomean(values):
    vals = [v for v in values if v is not None and math.isfinite(v) and v > 0]
    return math.exp(sum(math.log(v) for v in vals) / len(vals)) if vals else None


def _performance(results: dict, rows: list[dict]) -> dict:
    bench = results.get("benchmarks")
    if isinstance(bench, dict) and _as_list(bench.get("rows")):
        table = []
        for r in _as_list(bench.get("rows")):
            table.append({
                "op": _s(r.get("op"), LIMITS["short"]), "case": _s(r.get("case"), LIMITS["short"]),
                "mode": _s(r.get("mode"), LIMITS["short"]), "backend": _s(r.get("backend"), LIMITS["short"]),
                "dtype": _s(r.get("dtype"), LIMITS["short"]),
                "median_s": _f(r.get("median_s")), "iqr_s": _f(r.get("iqr_s")),
                "repeats": _i(r.get("repeats")),
                "gflops": _f(r.get("gflops")), "ratio": _f(r.get("ratio_to_torch_cpu")),
                "speedup": _f(r.get("speedup_over_spec")),
                "gemm_s": _f(r.get("gemm_s")), "x_gemm": _f(r.get("x_gemm")),
                "processes": _i(r.get("processes")), "spread": _f(r.get("process_spread")),
            })
        # chart: per op, each backend's geometric-mean ratio to torch-cpu (time / torch time)
        by = defaultdict(list)
        for t in table:
            by[(t["op"], t["backend"])].append(t["ratio"])
        ops = list(dict.fromkeys(t["op"] for t in table))
        bes = list(dict.fromkeys(t["backend"] for t in table))
        groups = [(op, [(be, _geomean(by[(op, be)])) for be in bes if (op, be) in by]) for op in ops]
        has_ratio = any(v is not None for _, s in groups for _, v in s)
        if has_ratio:
            chart = charts.bar_chart_svg(groups, title="Speed relative to torch-cpu: torch-cpu time / backend "
                                         "time (geometric mean; above 1 is faster)", unit="×", log=True, reference=1.0)
        else:
            tot = defaultdict(float)
            for t in table:
                if t["median_s"] is not None and math.isfinite(t["median_s"]):
                    tot[(t["op"], t["backend"])] += t["median_s"]
            groups = [(op, [(be, tot[(op, be)]) for be in bes if (op, be) in tot]) for op in ops]
            chart = charts.bar_chart_svg(groups, title="Median time per op (sum over cases)", unit=" s",
                                         log=True)
        machine = bench.get("machine") if isinstance(bench.get("machine"), dict) else {}
        return {"source": "bench", "rows": table, "chart": chart,
                "machine": [(_s(k, LIMITS["short"]), _s(v, LIMITS["value"])) for k, v in machine.items()],
                "threads": _s(bench.get("threads"), LIMITS["short"]), "schema": _s(bench.get("schema"))}
    # fall back to the run's own per-test timings
    tot = defaultdict(float)
    cnt = defaultdict(int)
    for r in rows:
        if r["duration_s"] is not None and math.isfinite(r["duration_s"]):
            tot[(r["op"], r["backend"])] += r["duration_s"]
            cnt[(r["op"], r["backend"])] += 1
    if not tot:
        return {"source": None}
    ops = _order_ops(list(dict.fromkeys(op for op, _ in tot)), results.get("ops"))
    bes = list(dict.fromkeys(be for _, be in tot))
    table = [{"op": op, "backend": be, "total_s": tot[(op, be)], "tests": cnt[(op, be)]}
             for op in ops for be in bes if (op, be) in tot]
    per_backend = [("all ops", [(be, sum(v for (o, b), v in tot.items() if b == be)) for be in bes])]
    chart = charts.bar_chart_svg(per_backend + [(op, [(be, tot[(op, be)]) for be in bes if (op, be) in tot])
                                                for op in ops],
                                 title="Test time per backend (from the run's own timings)", unit=" s")
    return {"source": "timings", "rows": table, "chart": chart}


# ------------------------------------------------------------------------------------------ render
_env: jinja2.Environment | None = None


def _environment() -> jinja2.Environment:
    global _env
    if _env is None:
        env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(str(TEMPLATE_DIR)),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            keep_trailing_newline=True,
        )
        env.filters.update(num=fmt_num, ratio=fmt_ratio, time=fmt_time, sortkey=sort_key)
        env.globals.update(STATUS_STYLE=STATUS_STYLE, STATUS_RANK=STATUS_RANK)
        _env = env
    return _env


def _asset(name: str) -> Markup:
    """An inline CSS/JS asset shipped next to this module (trusted text, not user data)."""
    text = (Path(__file__).parent / name).read_text(encoding="utf-8")
    if "</" in text:
        raise ValueError(f"{name}: must not contain '</' (it is inlined into a <style>/<script> element)")
    return Markup(text)


def render_report(results: dict) -> str:
    """The report for ``results`` as one self-contained HTML string (deterministic for the same input)."""
    model = build_model(results)
    template = _environment().get_template("report.html.j2")
    return template.render(m=model, css=_asset("report.css"), js=_asset("report.js"))


def write_report(results: dict, path) -> Path:
    """Render and write atomically: if rendering or writing fails, an existing file is left untouched."""
    html = render_report(results)
    return write_text_atomic(path, html)


# ------------------------------------------------------------------------------------ load/summary
class ResultsError(ValueError):
    """A file that is not a readable nnconform results file; the message is one line naming what is wrong."""


REQUIRED_FIELDS = {"run": dict, "backends": list, "results": list}
"""Top-level fields every results document has (a ``.jsonl`` header has all but ``results``)."""
REQUIRED_ROW_FIELDS = ("backend", "op", "check", "status")


def _check_schema(doc: dict, where: str) -> None:
    name, _, version = _s(doc.get("schema")).partition("/")
    want_name, _, want_version = SCHEMA.partition("/")
    if "schema" not in doc:
        raise ResultsError(f"{where}: no 'schema' field; expected \"{SCHEMA}\" (is this an nnconform results file?)")
    if name != want_name:
        raise ResultsError(f"{where}: schema={doc.get('schema')!r}; expected \"{SCHEMA}\"")
    if version != want_version:
        raise ResultsError(f"{where}: schema version {version!r} is not supported; this nnconform reads "
                           f"version {want_version} (\"{SCHEMA}\")")


def validate_results(doc, where: str = "results") -> dict:
    """``doc`` if it is a results document (schema name and version, required fields), else :class:`ResultsError`."""
    if not isinstance(doc, dict):
        raise ResultsError(f"{where}: expected a JSON object, got {type(doc).__name__}")
    _check_schema(doc, where)
    for key, kind in REQUIRED_FIELDS.items():
        if key not in doc:
            raise ResultsError(f"{where}: required field '{key}' is missing")
        if not isinstance(doc[key], kind):
            raise ResultsError(f"{where}: field '{key}' is {type(doc[key]).__name__}, expected {kind.__name__}")
    for i, r in enumerate(doc["results"]):
        missing = [k for k in REQUIRED_ROW_FIELDS if not isinstance(r, dict) or k not in r]
        if missing:
            raise ResultsError(f"{where}: results[{i}] lacks required field(s) {', '.join(missing)}")
    return doc


def load_results(path) -> dict:
    """Read and validate a results.json, or rebuild a partial results dict from a results.jsonl.

    In a ``.jsonl`` file each line is one JSON object: the first is the run header (schema, run,
    backends), every later line with ``"backend"`` and ``"status"`` is a result record. A truncated
    last line (the run was killed mid-write) is ignored. The result is marked incomplete.
    Raises :class:`ResultsError` (a ValueError, one line) for a file that is not a results file.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ResultsError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    if path.suffix != ".jsonl":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ResultsError(f"{path}: not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
        return validate_results(data, str(path))
    out: dict | None = None
    for n, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line:
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        if out is None:
            if "schema" not in obj:
                raise ResultsError(f"{path}: line {n} is not a run header (no 'schema' field); a results .jsonl "
                                   "starts with one")
            _check_schema(obj, f"{path}: header")
            out = {k: v for k, v in obj.items() if k != "results"}
            out["results"] = _as_list(obj.get("results"))
        elif "status" in obj and "backend" in obj and "schema" not in obj:
            out["results"].append(obj)
    if out is None:
        raise ResultsError(f"{path}: empty; a results .jsonl starts with a run header")
    out.setdefault("run", {})
    out.setdefault("backends", [])
    out["complete"] = False
    return validate_results(out, str(path))


def summarize(results: dict) -> dict:
    """Counts by status, the failing (backend, op, group) cells, and whether the run was complete."""
    model = build_model(results)
    failing = [(b["name"], "*", "backend load", "error") for b in model["backends"]
               if b["collapsed"] and b["status"] == "error"]
    failing += [(d["backend"], d["op"], d["group"], d["status"]) for d in model["details"] if d["bad"]]
    failing += model["observations_bad"]
    return {"counts": model["counts"], "total": model["total"], "failing_cells": failing,
            "complete": model["complete"], "n_bad": model["n_bad"]}
