"""One report from many machines: merge several results files (schema "nnconform.results/1") into one.

Each input run gets a label, its host (``run.host``; "host #2" when two runs share a host, "run N"
when there is none). Every backend becomes ``"NAME @ LABEL"`` everywhere it is named (backend
entries, result rows, worked-example outputs, agreement columns, benchmark rows), so the same backend
from two machines gets two adjacent columns and every column says which machine and run it came from. The
merged document keeps one ``run`` summary and lists every source run under ``"runs"``; spec's
sections (errata, decisions, worked examples) are shared. Rows also carry ``run_label``, which the
report uses to keep each run's agreement matrices apart (pairs are only measured within one run).

A single document is returned unchanged, so ``nnconform report A.json`` stays byte-identical.
"""

from __future__ import annotations

import copy

from nnconform.schema import BENCH_SCHEMA
from nnconform.schema import RESULTS_SCHEMA as SCHEMA

SEP = " @ "
SPEC = "spec"
"""The reference column of the agreement matrices: named per run inside each run's matrices, never relabelled."""

__all__ = ["merge_results", "run_labels", "SEP"]


def _run(doc: dict) -> dict:
    return doc.get("run") if isinstance(doc.get("run"), dict) else {}


def run_labels(docs: list[dict]) -> list[str]:
    """One distinct label per document: its host, numbered when hosts repeat."""
    hosts = [str(_run(d).get("host") or "").strip() or f"run {i + 1}" for i, d in enumerate(docs)]
    labels, seen = [], {}
    for h in hosts:
        if hosts.count(h) > 1:
            seen[h] = seen.get(h, 0) + 1
            labels.append(f"{h} #{seen[h]}")
        else:
            labels.append(h)
    return labels


def _name(name, label: str) -> str:
    return f"{name}{SEP}{label}"


def _example_key(key: str, label: str) -> str:
    """Worked-example output keys are "backend (dtype)" or "backend"."""
    if key.endswith(")") and " (" in key:
        head, tail = key.rsplit(" (", 1)
        return f"{_name(head, label)} ({tail}"
    return _name(key, label)


def _relabel_agreement(extra: dict, label: str) -> None:
    ag = extra.get("agreement")
    if not isinstance(ag, dict):
        return
    rename = {c: (c if c == SPEC else _name(c, label)) for c in ag.get("columns") or [] if isinstance(c, str)}
    ag["columns"] = [rename.get(c, c) for c in ag.get("columns") or []]
    if isinstance(ag.get("status"), dict):
        ag["status"] = {m: {rename.get(k, k): v for k, v in s.items()} if isinstance(s, dict) else s
                        for m, s in ag["status"].items()}
    if isinstance(ag.get("pairs"), dict):
        ag["pairs"] = {m: [[rename.get(p[0], p[0]), rename.get(p[1], p[1]), *p[2:]] if isinstance(p, list)
                           and len(p) >= 3 else p for p in pairs] if isinstance(pairs, list) else pairs
                       for m, pairs in ag["pairs"].items()}


def _source(doc: dict, label: str, source: str | None) -> dict:
    run = _run(doc)
    keep = ("host", "started", "finished", "duration_s", "platform", "cpu", "gpu", "python", "profile",
            "hypothesis_seed", "git_commit", "command", "versions")
    return {"label": label, "file": source or "", "complete": doc.get("complete") is True,
            **{k: run[k] for k in keep if k in run}}


def _joined(values) -> str:
    return ", ".join(dict.fromkeys(str(v) for v in values if v not in (None, "")))


def merge_results(docs: list[dict], sources: list[str] | None = None) -> dict:
    """Merge results documents from several machines into one (see the module docstring)."""
    docs = [d for d in docs if isinstance(d, dict)]
    if not docs:
        raise ValueError("merge_results: no results documents given")
    if len(docs) == 1:
        return docs[0]
    sources = list(sources or [None] * len(docs))
    labels = run_labels(docs)
    merged: dict = {"schema": SCHEMA if all(d.get("schema") in (None, SCHEMA) for d in docs) else
                    _joined(d.get("schema") for d in docs),
                    "complete": all(d.get("complete") is True for d in docs),
                    "backends": [], "results": [], "worked_examples": [], "errata": [], "decisions": [],
                    "benchmarks": None}
    runs = [_source(d, lab, src) for d, lab, src in zip(docs, labels, sources, strict=True)]
    started = sorted(str(r["started"]) for r in runs if r.get("started"))
    finished = sorted(str(r["finished"]) for r in runs if r.get("finished"))
    merged["run"] = {
        "host": _joined(r.get("host") for r in runs), "started": started[0] if started else "",
        "finished": finished[-1] if finished else "",
        "profile": _joined(r.get("profile") for r in runs),
        "hypothesis_seed": _joined(r.get("hypothesis_seed") for r in runs),
        "git_commit": _joined(r.get("git_commit") for r in runs),
        "merged_from": f"{len(docs)} runs: " + "; ".join(
            f"{r['label']}" + (f" ({r['file']})" if r["file"] else "") for r in runs),
    }
    merged["runs"] = runs
    examples: dict[str, dict] = {}
    first_seen: dict[str, int] = {}
    backends: list[tuple[int, int, dict]] = []
    bench_rows, bench_machines = [], {}
    for doc, label in zip(docs, labels, strict=True):
        doc = copy.deepcopy(doc)
        for b in doc.get("backends") or []:
            if isinstance(b, dict):
                base = str(b.get("name") or "?")
                b["name"] = _name(base, label)
                b["run_label"] = label
                first_seen.setdefault(base, len(first_seen))
                backends.append((first_seen[base], len(backends), b))
        for r in doc.get("results") or []:
            if not isinstance(r, dict):
                continue
            r["backend"] = _name(r.get("backend") or "?", label)
            r["run_label"] = label
            if isinstance(r.get("extra"), dict):
                _relabel_agreement(r["extra"], label)
            merged["results"].append(r)
        for ex in doc.get("worked_examples") or []:
            if not isinstance(ex, dict):
                continue
            outputs = ex.get("outputs") if isinstance(ex.get("outputs"), dict) else {}
            key = str(ex.get("id"))
            if key not in examples:
                examples[key] = dict(ex, outputs={})
                merged["worked_examples"].append(examples[key])
            examples[key]["outputs"].update({_example_key(str(k), label): v for k, v in outputs.items()})
        for section, key in (("errata", "id"), ("decisions", "topic")):
            have = {e.get(key) for e in merged[section]}
            merged[section] += [e for e in doc.get(section) or [] if isinstance(e, dict) and e.get(key) not in have]
        bench = doc.get("benchmarks")
        if isinstance(bench, dict):
            for row in bench.get("rows") or []:
                if isinstance(row, dict):
                    bench_rows.append(dict(row, backend=_name(row.get("backend") or "?", label)))
            if isinstance(bench.get("machine"), dict):
                bench_machines[label] = _joined(f"{k}={v}" for k, v in bench["machine"].items())
    # the same backend from several machines: adjacent columns, in run order
    merged["backends"] = [b for _, _, b in sorted(backends, key=lambda t: t[:2])]
    if bench_rows:
        merged["benchmarks"] = {"schema": BENCH_SCHEMA, "machine": bench_machines,
                                "threads": "per machine", "rows": bench_rows}
    return merged
