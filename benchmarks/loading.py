"""Loading backends by name for the benchmarks: every failure becomes a record, never an exception."""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass

SPEC = "spec"
"""The loop reference, timed on the small tier only (the speed-up over spec column)."""


@dataclass
class Loaded:
    name: str
    status: str
    """available | unavailable | error"""
    reason: str = ""
    backend: object = None


def default_names(with_spec: bool) -> list[str]:
    """Every registered backend (available or not: an unavailable one is listed with its reason), plus spec."""
    import impls

    names = [s.name for s in impls.backend_statuses() if s.name != SPEC]
    return names + [SPEC] if with_spec else names


def load_backend(name: str) -> Loaded:
    import impls
    from impls.base import Unavailable

    if name == SPEC:
        try:
            from conformance.spec_backend import SpecBackend

            return Loaded(SPEC, "available", backend=SpecBackend())
        except Exception:
            return Loaded(SPEC, "error", traceback.format_exc(limit=4))
    try:
        return Loaded(name, "available", backend=impls.get_backend(name))
    except Unavailable as exc:
        return Loaded(name, "unavailable", str(exc))
    except KeyError as exc:
        return Loaded(name, "unavailable", str(exc.args[0]) if exc.args else str(exc))
    except Exception:
        return Loaded(name, "error", traceback.format_exc(limit=6))


def load_backends(names: list[str] | None, with_spec: bool) -> list[Loaded]:
    """Load the requested backends (default: every registered one, plus spec); never raises."""
    if names is None:
        try:
            names = default_names(with_spec)
        except Exception:
            return [Loaded("<registry>", "error", traceback.format_exc(limit=4))]
    return [load_backend(name) for name in dict.fromkeys(names)]


def sync_fn(backend) -> Callable[[], None] | None:
    """A function that waits for the backend's queued work (GPU backends), or None on CPU."""
    sync = getattr(backend, "synchronize", None)
    if callable(sync):
        return sync
    device = str(getattr(backend, "device", "cpu"))
    if device.startswith("cuda") and "torch" in sys.modules:
        return sys.modules["torch"].cuda.synchronize
    return None


def safe_metadata(backend) -> dict:
    """The backend's metadata() when it is JSON-serialisable, else a record of what went wrong."""
    import json

    if backend is None:
        return {}
    try:
        meta = backend.metadata()
        json.dumps(meta)
        return meta
    except Exception as exc:
        return {"error": f"metadata() raised {type(exc).__name__}: {exc}"}
