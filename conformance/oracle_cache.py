"""The realistic tier's float64 oracle, computed once per run instead of once per backend under test.

Every backend's realistic tier compares against the same oracle (optable.pick_oracle: numpy for all
but numpy itself) on the same fixed-seed cases, and the oracle's float64 work (an N = 32, C = 64,
32 x 32 conv and its VJP, with the magnitudes) was most of the tier's time, spent again for each
backend and dtype (issue 13: the main job's cost). :class:`SharedOracle` answers a call it has seen
in this run from a file instead.

A result is keyed by its content: the oracle's name, the op, every argument's dtype, shape and
bytes, and the keywords. So a stored answer is exactly what the oracle returns for that call, in any
worker, and nothing about the verdict changes. The folder lives beside the results file (like the
quarantine, so that pytest-xdist workers share it); the controller clears it when a run starts and
removes it when the run ends. Files are written atomically (a reader sees a whole answer or none);
two workers that miss at once both compute, and one answer replaces the other, the same.

The time limit of the backend's call scales with the oracle's time (pytest_helpers.call_limit), so
an answer keeps the seconds its computation took, and :attr:`SharedOracle.charged_s` adds those up:
a backend's limit is the same whether the oracle's answer was computed or read.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np


def folder_beside(results_json) -> Path:
    """The shared oracle folder of the run whose results go to ``results_json``."""
    p = Path(results_json)
    return p.with_name(p.stem + ".oracle")


def clear(folder) -> None:
    shutil.rmtree(folder, ignore_errors=True)


def call_key(oracle: str, opname: str, args, kwargs) -> str:
    h = hashlib.blake2b(digest_size=20)
    h.update(f"{oracle}\0{opname}\0{sorted(kwargs.items())!r}".encode())
    for a in args:
        if isinstance(a, np.ndarray):
            a = np.ascontiguousarray(a)
            h.update(f"\0{a.dtype.str}{a.shape}".encode())
            h.update(a.data)
        else:
            h.update(f"\0{a!r}".encode())
    return h.hexdigest()


class SharedOracle:
    """``view`` (an optable.NumpyView of the oracle backend) whose answers are shared through ``folder``.

    ``folder=None`` shares nothing (every call computes), as outside a run."""

    def __init__(self, view, name: str, folder=None):
        self.view, self.name = view, name
        self.folder = None if folder is None else Path(folder)
        self.charged_s = 0.0
        """Seconds the oracle's answers so far took to compute, whether computed now or read."""
        self.hits = 0
        """Answers read from the folder (computed by another test or worker)."""

    def __getattr__(self, opname):
        if opname.startswith("__"):
            raise AttributeError(opname)
        fn = getattr(self.view, opname)

        def call(*args, **kwargs):
            path = None if self.folder is None else self.folder / (call_key(self.name, opname, args, kwargs) + ".npz")
            if path is not None and path.exists():
                try:
                    with np.load(path) as stored:
                        outs = [stored[f"out{i}"] for i in range(int(stored["n"]))]
                        self.charged_s += float(stored["seconds"])
                        self.hits += 1
                        return tuple(outs) if bool(stored["is_tuple"]) else outs[0]
                except (OSError, KeyError, ValueError):  # a damaged file: compute instead
                    pass
            t0 = time.perf_counter()
            out = fn(*args, **kwargs)
            seconds = time.perf_counter() - t0
            self.charged_s += seconds
            if path is not None:
                _store(path, out, seconds)
            return out

        return call


def _store(path: Path, out, seconds: float) -> None:
    outs = out if isinstance(out, tuple) else (out,)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, n=len(outs), is_tuple=isinstance(out, tuple), seconds=seconds,
                     **{f"out{i}": np.asarray(o) for i, o in enumerate(outs)})
        os.replace(tmp, path)
    except OSError:  # a full disk costs the sharing, never the run
        with contextlib.suppress(OSError):
            os.unlink(tmp)
