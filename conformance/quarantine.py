"""Quarantine: after the first hang or crash of a backend's op, the rest of its tests of that op are not run.

A hanging kernel costs a full time limit per test and a crashing one a worker restart per test, so
once one test of (backend, op) has timed out or killed its worker, every later test of the same
backend and op is recorded at once with the same status and category, and a reason that names the
first failing test. Another backend's tests, and the same backend's other ops, are never touched.

The knowledge is shared through the run's output folder, so that it holds under pytest-xdist: one
marker file per quarantined (backend, op) in ``<results stem>.quarantine/`` next to the results
file, written atomically (a reader sees a whole marker or none). A timeout is marked by the process
that ran the test; a crash by the xdist controller, which is the only one that sees it, before the
replacement worker takes the next test. The controller clears the folder when a run starts.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from nnconform.atomic import write_json_atomic

QUARANTINE_CATEGORIES = ("timeout", "crash")
"""Failure categories (nnconform.schema.CATEGORIES) that quarantine the rest of an op's tests."""


class Quarantine:
    def __init__(self, folder):
        self.folder = Path(folder)

    @classmethod
    def beside(cls, results_json) -> Quarantine:
        """The quarantine of the run whose results go to ``results_json``."""
        p = Path(results_json)
        return cls(p.with_name(p.stem + ".quarantine"))

    def _marker(self, backend: str, op: str) -> Path:
        key = hashlib.sha1(f"{backend}\0{op}".encode()).hexdigest()[:20]
        return self.folder / f"{key}.json"

    def record(self, row: dict) -> bool:
        """Quarantine ``row``'s backend and op if the row is a timeout or crash. True when a marker was written."""
        backend, op = row.get("backend"), row.get("op")
        if row.get("category") not in QUARANTINE_CATEGORIES or not backend or op in (None, "*", "-"):
            return False
        marker = self._marker(backend, op)
        if marker.exists():  # the first failure stays the one named
            return False
        write_json_atomic(marker, {"backend": backend, "op": op, "status": row.get("status") or "error",
                                   "category": row["category"], "nodeid": row.get("nodeid") or row.get("name") or "?",
                                   "message": str(row.get("message") or "")[:600]})
        return True

    def lookup(self, backend: str, op: str) -> dict | None:
        """The marker of (backend, op), or None when it is not quarantined."""
        try:
            data = json.loads(self._marker(backend, op).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None
        if not isinstance(data, dict) or data.get("backend") != backend or data.get("op") != op:
            return None
        return data

    def clear(self) -> None:
        if not self.folder.is_dir():
            return
        for marker in self.folder.glob("*.json"):
            try:
                marker.unlink()
            except OSError:
                pass
