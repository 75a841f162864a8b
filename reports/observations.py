"""The report's cross-backend sections: the semantics table, the agreement matrices, the source runs.

They read rows of the observation kinds (``nnconform.schema.OBSERVATION_KINDS``) straight from the
results dict and return plain data for the template (``templates/semantics.html.j2``,
``agreement.html.j2``, ``runs.html.j2``). Like the rest of the renderer they survive any odd input.
"""

from __future__ import annotations

import math

from .render import LIMITS, OP_ORDER, _as_list, _f, _s, fmt_num, fmt_time

SPEC = "spec"
SEP = " @ "


def _extra(r: dict) -> dict:
    return r.get("extra") if isinstance(r.get("extra"), dict) else {}


def _is_spec(name: str) -> bool:
    return name == SPEC or name.startswith(SPEC + SEP)


def _backend_order(results: dict) -> dict[str, int]:
    return {_s(b.get("name")): i for i, b in enumerate(_as_list(results.get("backends")))}


# ------------------------------------------------------------------------------------ semantics
def _cell_kind(value: str) -> str:
    if value == "n/i" or value.startswith(("n/a", "not probed")):
        return "ni"
    if value.startswith("error"):
        return "error"
    if value.startswith("refused"):
        return "refused"
    return "value"


def _str_dict(value, limit: int) -> dict[str, str]:
    return {_s(k, LIMITS["short"]): _s(v, limit) for k, v in value.items()} if isinstance(value, dict) else {}


def _semantics_column(r: dict) -> dict:
    """One backend's semantics row, normalised; a row that crashed before recording answers keeps its column."""
    ex, name = _extra(r), _s(r.get("backend"), LIMITS["short"]) or "?"
    status = _s(r.get("status")) or "error"
    answers = _str_dict(ex.get("semantics"), LIMITS["short"])
    dtypes = ex.get("probe_dtypes") if isinstance(ex.get("probe_dtypes"), list) else []
    return {"name": name, "reference": _is_spec(name), "status": status, "answers": answers,
            "crashed": not isinstance(ex.get("semantics"), dict), "category": _s(r.get("category"), LIMITS["short"]),
            "details": _str_dict(ex.get("semantics_detail"), LIMITS["value"]),
            "help": _str_dict(ex.get("semantics_help"), LIMITS["value"]),
            "message": _s(r.get("message"), LIMITS["value"]) or _s(r.get("category"), LIMITS["short"]),
            "dtypes": ", ".join(_s(d) for d in dtypes if d is not None)}


def semantics_table(results: dict) -> dict | None:
    """Rows = points, columns = spec (the reference) then every backend; cells that differ from spec flagged."""
    found = [r for r in _as_list(results.get("results")) if r.get("check") == "semantics"]
    found = [c for c in map(_semantics_column, found) if not c["crashed"] or c["status"] in ("fail", "error")]
    if not any(not c["crashed"] for c in found):
        return None
    order = _backend_order(results)
    found.sort(key=lambda c: (not c["reference"], order.get(c["name"], len(order)), c["name"]))
    specs = [c for c in found if c["reference"] and not c["crashed"]]
    reference = specs[0]["answers"] if specs else {}
    # a second spec column (merged runs) is shown only when it disagrees with the first
    columns = specs[:1] + [c for c in specs[1:] if c["answers"] != reference] + [c for c in found if not c["reference"]]
    points: list[str] = []
    helps: dict[str, str] = {}
    for c in columns:
        points += [k for k in c["answers"] if k not in points]
        for k, v in c["help"].items():
            helps.setdefault(k, v)
    table = []
    for point in points:
        ref = reference.get(point)
        cells = []
        for c in columns:
            if c["crashed"]:
                cells.append({"value": f"error: {c['category'] or c['status']}", "kind": "error", "differs": False,
                              "detail": c["message"]})
                continue
            if point not in c["answers"]:
                cells.append({"value": "—", "kind": "ni", "differs": False, "detail": "not probed in this run"})
                continue
            value = c["answers"][point]
            kind = _cell_kind(value)
            differs = ref is not None and kind in ("value", "refused") and value != ref and not c["reference"]
            cells.append({"value": value, "kind": kind, "differs": differs, "detail": c["details"].get(point, "")})
        table.append({"point": point, "help": helps.get(point, ""), "cells": cells,
                      "n_differ": sum(cell["differs"] for cell in cells)})
    for i, c in enumerate(columns):
        c["n_differ"] = sum(r["cells"][i]["differs"] for r in table)
    return {"columns": columns, "rows": table, "has_reference": bool(specs),
            "n_differ": sum(r["n_differ"] for r in table)}


# ------------------------------------------------------------------------------------ agreement
BANDS = (("ag-ok", 1.0, "≤ 1 tolerance"), ("ag-near", 2.0, "1-2 tolerances (two conforming backends may be this far "
                                                              "apart)"), ("ag-far", math.inf, "> 2 tolerances"))


def _band(ratio) -> str:
    if ratio is None:
        return "ag-none"
    if math.isnan(ratio) or math.isinf(ratio):
        return "ag-inf"
    for cls, limit, _ in BANDS:
        if ratio <= limit:
            return cls
    return "ag-far"


def _ratio_text(ratio) -> str:
    if ratio is None:
        return "—"
    if math.isinf(ratio) or math.isnan(ratio):
        return "≠"
    return fmt_num(ratio, 2)


def _key(i: int) -> str:
    letters = ""
    i += 1
    while i:
        i, rem = divmod(i - 1, 26)
        letters = chr(65 + rem) + letters
    return letters


def agreement_model(results: dict) -> dict | None:
    """Per op x dtype (x source run) a matrix of pairwise distances: below the diagonal forward, above VJP."""
    found = [r for r in _as_list(results.get("results"))
             if r.get("check") == "agreement" and isinstance(_extra(r).get("agreement"), dict)]
    failed = [r for r in _as_list(results.get("results"))
              if r.get("check") == "agreement" and r.get("status") in ("fail", "error")]
    if not found and not failed:
        return None
    op_rank = {op: i for i, op in enumerate(OP_ORDER)}
    found.sort(key=lambda r: (_s(r.get("run_label")), op_rank.get(_s(r.get("op")), len(op_rank)), _s(r.get("op")),
                              _s(r.get("dtype"))))
    keys: dict[str, str] = {}
    cards, disagreements = [], []
    for n, r in enumerate(found):
        ag = _extra(r)["agreement"]
        names = [_s(c, LIMITS["short"]) for c in (ag.get("columns") if isinstance(ag.get("columns"), list) else [])
                 if isinstance(c, str)]
        for name in names:
            if name not in keys:
                keys[name] = "S" if name == SPEC else _key(sum(1 for k in keys if k != SPEC))
        pairs: dict[str, dict[tuple[str, str], float | None]] = {}
        given = ag.get("pairs") if isinstance(ag.get("pairs"), dict) else {}
        for mode in ("forward", "gradient"):
            got = {}
            listed = given.get(mode) if isinstance(given.get(mode), list) else []
            for p in listed:
                if isinstance(p, list) and len(p) >= 3:
                    got[(_s(p[0], LIMITS["short"]), _s(p[1], LIMITS["short"]))] = _f(p[2])
            pairs[mode] = got
        status = {m: {_s(k, LIMITS["short"]): _s(v, LIMITS["short"]) for k, v in s.items()}
                  for m, s in (ag.get("status") if isinstance(ag.get("status"), dict) else {}).items()
                  if isinstance(s, dict)}

        def ratio(mode, a, b, pairs=pairs):
            got = pairs.get(mode, {})
            return got.get((a, b), got.get((b, a)))

        grid = []
        for i, a in enumerate(names):
            cells = []
            for j, b in enumerate(names):
                if i == j:
                    notes = [f"{'fwd' if m == 'forward' else 'vjp'} {st[a]}" for m, st in status.items()
                             if st.get(a, "ok") != "ok"]
                    cells.append({"diag": True, "text": "; ".join(notes) or "", "title": f"{a}: " + (
                        "; ".join(notes) or "ran every case")})
                    continue
                mode = "forward" if i > j else "gradient"
                value = ratio(mode, a, b)
                cells.append({"diag": False, "mode": mode, "ratio": value, "band": _band(value),
                              "text": _ratio_text(value),
                              "title": f"{b} vs {a}, {'forward' if mode == 'forward' else 'gradient (VJP)'}: "
                                       + ("not measured" if value is None else f"{fmt_num(value)} × tolerance")})
            grid.append({"name": a, "key": keys[a], "cells": cells})
        worst_spec = [v for m in pairs for (a, b), v in pairs[m].items() if SPEC in (a, b) and v is not None]
        worst_pair = [v for m in pairs for (a, b), v in pairs[m].items() if SPEC not in (a, b) and v is not None]
        for m in pairs:
            for (a, b), v in pairs[m].items():
                if v is not None and not v <= 1.0:
                    disagreements.append({"op": _s(r.get("op")), "dtype": _s(r.get("dtype")), "mode": m, "a": a,
                                          "b": b, "ratio": v, "text": _ratio_text(v) if math.isinf(v) else
                                          fmt_num(v, 3), "machine": _s(r.get("run_label")), "band": _band(v)})
        cards.append({"id": f"ag{n}", "op": _s(r.get("op"), LIMITS["short"]), "dtype": _s(r.get("dtype")),
                      "machine": _s(r.get("run_label"), LIMITS["short"]), "cases": _f(ag.get("cases")),
                      "col_keys": [keys[c] for c in names], "grid": grid,
                      "worst_spec": max(worst_spec) if worst_spec else None,
                      "worst_pair": max(worst_pair) if worst_pair else None})
    disagreements.sort(key=lambda d: (-d["ratio"] if not math.isnan(d["ratio"]) else -math.inf, d["op"], d["dtype"]))
    groups: list[dict] = []
    for card in cards:
        if not groups or (groups[-1]["op"], groups[-1]["machine"]) != (card["op"], card["machine"]):
            groups.append({"op": card["op"], "machine": card["machine"], "cards": []})
        groups[-1]["cards"].append(card)
    return {"groups": groups, "legend": [(k, n) for n, k in keys.items()], "bands": BANDS,
            "disagreements": disagreements[:40], "n_disagreements": len(disagreements),
            "failed": [{"op": _s(r.get("op")), "dtype": _s(r.get("dtype")), "status": _s(r.get("status")),
                        "message": _s(r.get("message"), LIMITS["message"])} for r in failed]}


# ----------------------------------------------------------------------------------------- runs
RUN_FIELDS = (("label", "label"), ("host", "host"), ("file", "results file"), ("started", "started"),
              ("duration_s", "duration"), ("profile", "profile"), ("hypothesis_seed", "seed"),
              ("git_commit", "commit"), ("cpu", "CPU"), ("gpu", "GPU"), ("platform", "platform"))


def source_runs(results: dict) -> list[dict]:
    """The runs a merged results file came from (``"runs"``, written by reports.merge), for a table."""
    out = []
    for run in _as_list(results.get("runs")):
        fields = []
        for key, label in RUN_FIELDS:
            value = run.get(key)
            if key == "duration_s" and _f(value) is not None:
                value = fmt_time(value)
            fields.append((label, _s(value, LIMITS["value"]) or "—"))
        out.append({"label": _s(run.get("label"), LIMITS["short"]), "fields": fields,
                    "complete": run.get("complete") is True})
    return out
