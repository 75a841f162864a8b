"""The results file: written incrementally and atomically, so an interrupted run loses nothing.

Every finished result is appended to ``results.jsonl`` at once (one line each, flushed), and
``results.json`` (schema "nnconform.results/1", see DESIGN.md) is rewritten atomically at most
every ``FLUSH_S`` seconds with ``"complete": false``, then a last time at the end of the session
with ``"complete": true`` (or false, with a note, when the run was interrupted).
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import os
import platform
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from nnconform.atomic import json_safe, write_json_atomic
from nnconform.schema import RESULTS_SCHEMA as SCHEMA

FLUSH_S = 2.0
LISTED_ELEMENTS = 400
"""A worked example's expected value or a backend's output with more elements is written as a summary:
the 320 x 240 example's 76,800 numbers were serialized again on every rewrite of results.json."""
FLUSH_SHARE = 0.03
"""results.json is rewritten whole, and a long run's file takes a while to write: the next rewrite waits
at least FLUSH_S and at least the last rewrite's time / FLUSH_SHARE, so rewriting takes at most ~3% of the
run (it had been a large share of a main job's time: every 2 s, the whole file again). results.jsonl still
gets every result at once."""
RENDERER_GROUP = "nnconform.renderers"
"""Entry-point group of the HTML renderer ``--report-html`` calls: ``html = "module:function(doc, path)"``."""
DEFAULT_RENDERER = "reports.render:write_report"
"""The renderer used when no ``html`` entry point is installed (a source checkout). conformance knows
it only as this name, resolved at the end of the run: it never imports the renderer's code."""


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _versions() -> dict:
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": platform.python_version()}
    for dist in ("numpy", "scipy", "torch", "hypothesis", "pytest", "pytest-xdist", "jinja2", "nnconform"):
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            pass
    return out


def _git_commit(root) -> str:
    try:
        return subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5).stdout.strip()
    except Exception:
        return ""


def _gpu() -> str:
    if "torch" not in sys.modules:
        return "not probed (torch not loaded)"
    torch = sys.modules["torch"]
    try:
        return torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none (torch.cuda unavailable)"
    except Exception as exc:
        return f"unknown ({exc})"


def run_metadata(config) -> dict:
    from . import profiles

    seed = config.getoption("hypothesis_seed", default=None)
    return {
        "started": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "host": socket.gethostname(),
        "platform": platform.platform(),
        "cpu": f"{cpu_model()} ({os.cpu_count()} logical cores)",
        "gpu": _gpu(),
        "python": sys.version.split()[0],
        "versions": _versions(),
        "hypothesis_seed": str(seed) if seed is not None else "random (pass --hypothesis-seed to fix)",
        "profile": profiles.current().name,
        "git_commit": _git_commit(config.rootpath),
        "command": " ".join(sys.argv),
        "xdist_workers": str(config.getoption("numprocesses", default=None) or 0),
    }


def backend_entries(statuses) -> list[dict]:
    import impls

    out = []
    for s in statuses:
        entry = {"name": s.name, "status": s.status, "reason": s.reason, "device": "", "dtypes": [],
                 "metadata": {}, "expected_deviations": []}
        if s.status == "available":
            try:
                b = impls.get_backend(s.name)
                entry["device"] = str(getattr(b, "device", ""))
                entry["dtypes"] = list(getattr(b, "dtypes", ()))
                entry["display_name"] = str(getattr(b, "name", s.name))
                entry["metadata"] = {str(k): str(v) for k, v in (b.metadata() or {}).items()}
                entry["expected_deviations"] = [dataclasses.asdict(d) for d in getattr(b, "expected_deviations", ())]
            except Exception as exc:  # metadata of a suspect backend must not break the run
                entry["metadata"] = {"error": f"{type(exc).__name__}: {exc}"}
        out.append(entry)
    return out


def spec_sections() -> dict:
    """Worked examples, errata and decisions from spec, in the results-file shape."""
    import spec

    def plain(v):
        if hasattr(v, "tolist") and getattr(v, "size", 0) > LISTED_ELEMENTS:
            return f"array of shape {tuple(v.shape)} (too large to list; spec/examples.py builds it)"
        if hasattr(v, "tolist"):
            return v.tolist()
        return v

    examples = []
    for ex in getattr(spec, "WORKED_EXAMPLES", []):
        examples.append({"id": ex.id, "slide": getattr(ex, "slide", ""), "description": getattr(ex, "description", ""),
                         "op": ex.op, "expected": plain(ex.expected),
                         "printed": plain(getattr(ex, "printed", None)), "note": getattr(ex, "note", ""),
                         "outputs": {}})
    return {
        "ops": list(spec.catalogue.OP_NAMES),  # spec's catalogue order: the report's op order
        "worked_examples": examples,
        "errata": [dataclasses.asdict(e) for e in getattr(spec, "ERRATA", [])],
        "decisions": [dataclasses.asdict(d) for d in getattr(spec, "DECISIONS", [])],
    }


class ResultsWriter:
    def __init__(self, json_path, html_path, run: dict, backends: list[dict]):
        self.json_path = Path(json_path)
        self.html_path = Path(html_path) if html_path else None
        self.jsonl_path = self.json_path.with_suffix(".jsonl")
        self.run, self.backends = run, backends
        self.rows: list[dict] = []
        self._t0 = time.time()
        self._last_flush = 0.0
        self._flush_cost = 0.0
        self._jsonl = None
        self._finished = False
        self._spec: dict | None = None
        self._bench_cache: tuple = (None, None)

    def add(self, rows: list[dict]) -> None:
        if self._jsonl is None:
            self.json_path.parent.mkdir(parents=True, exist_ok=True)
            self._jsonl = open(self.jsonl_path, "w")  # noqa: SIM115 - kept open for the whole run
            # The header line lets `nnconform report results.jsonl` rebuild a report after a hard kill.
            header = {"schema": SCHEMA, "complete": False, "run": self.run, "backends": self.backends}
            self._jsonl.write(json.dumps(json_safe(header), allow_nan=False) + "\n")
        for r in rows:
            self.rows.append(r)
            self._jsonl.write(json.dumps(json_safe(r), allow_nan=False) + "\n")
        self._jsonl.flush()
        if time.time() - self._last_flush > max(FLUSH_S, self._flush_cost / FLUSH_SHARE):
            self.flush(complete=False, note="run in progress")

    def counts(self) -> Counter:
        return Counter(r.get("status") or "?" for r in self.rows)

    def document(self, *, complete: bool, note: str = "", exitstatus=None) -> dict:
        run = dict(self.run)
        run["finished"] = _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        run["duration_s"] = round(time.time() - self._t0, 2)
        if note:
            run["note"] = note
        if exitstatus is not None:
            run["exitstatus"] = exitstatus
        doc = {"schema": SCHEMA, "complete": complete, "run": run, "backends": self.backends,
               "results": self.rows, "benchmarks": self._benchmarks(), **self._spec_sections()}
        examples = {ex["id"]: ex for ex in doc["worked_examples"]}
        for r in self.rows:
            ex = examples.get(r.get("extra", {}).get("example_id"))
            if r.get("check") == "worked_example" and ex is not None and "output" in r["extra"]:
                ex["outputs"][f"{r['backend']} ({r['dtype']})"] = r["extra"]["output"]
        return json_safe(doc)

    def _spec_sections(self) -> dict:
        """spec's sections are fixed for the run: built once; each document gets fresh ``outputs``."""
        if self._spec is None:
            try:
                self._spec = spec_sections()
            except Exception as exc:
                self._spec = {"worked_examples": [], "errata": [], "decisions": [], "ops": [],
                              "spec_error": repr(exc)}
        return dict(self._spec, worked_examples=[dict(ex, outputs={}) for ex in self._spec["worked_examples"]])

    def _benchmarks(self):
        """bench.json beside the results, re-read only when the file changes (this runs every flush)."""
        bench = self.json_path.parent / "bench.json"
        try:
            mtime = bench.stat().st_mtime_ns
        except OSError:
            return None
        if self._bench_cache[0] != mtime:
            try:
                self._bench_cache = (mtime, json.loads(bench.read_text()))
            except (OSError, ValueError):
                self._bench_cache = (mtime, None)
        return self._bench_cache[1]

    def flush(self, *, complete: bool, note: str = "", exitstatus=None) -> dict:
        t0 = time.time()
        doc = self.document(complete=complete, note=note, exitstatus=exitstatus)
        write_json_atomic(self.json_path, doc, indent=1)
        self._last_flush = time.time()
        self._flush_cost = self._last_flush - t0
        return doc

    def finish(self, *, complete: bool, note: str = "", exitstatus=None) -> None:
        if self._finished or not self.rows:
            return
        self._finished = True
        doc = self.flush(complete=complete, note=note, exitstatus=exitstatus)
        if self._jsonl is not None:
            self._jsonl.close()
        if self.html_path is not None:
            try:
                find_renderer()(doc, self.html_path)
            except Exception as exc:  # the results file is already safe on disk
                print(f"nnconform: could not render {self.html_path}: {type(exc).__name__}: {exc}", file=sys.stderr)


def find_renderer():
    """The ``html`` renderer: the entry point of :data:`RENDERER_GROUP`, else :data:`DEFAULT_RENDERER`.

    Looked up by name, like a backend given as ``module:attr``: results are written by conformance
    and rendered by whoever registered a renderer, so conformance does not depend on reports.
    """
    import importlib
    from importlib.metadata import entry_points

    for ep in entry_points(group=RENDERER_GROUP):
        if ep.name == "html":
            return ep.load()
    module, attr = DEFAULT_RENDERER.split(":")
    return getattr(importlib.import_module(module), attr)
