"""Backend registry.

Backends join through the entry-point group ``nnconform.backends`` (the built-ins too, see
pyproject.toml), through :func:`register_backend` in-process, or ad hoc as ``"module:attr"``.
A factory is a zero-argument callable returning a backend object (or the object itself); it may
raise :class:`~impls.base.Unavailable` with a reason, which is reported, not an error.

Nothing here lets a broken plug-in escape: a plug-in whose import or factory raises is listed
with status ``"error"`` and its traceback.
"""

from __future__ import annotations

import importlib
import traceback
from dataclasses import dataclass
from importlib.metadata import entry_points

from .base import ALL_OP_NAMES, OPS, PLAIN_OPS, Backend, ExpectedDeviation, NotImplementedOp, Unavailable

__all__ = [
    "ALL_OP_NAMES", "OPS", "PLAIN_OPS", "Backend", "BackendStatus", "ExpectedDeviation", "NotImplementedOp",
    "Unavailable", "available_backends", "backend_statuses", "get_backend", "load_backend", "register_backend",
]

ENTRY_POINT_GROUP = "nnconform.backends"

# Used only when nnconform runs from a source tree that was never pip-installed (no entry points).
_BUILTIN_FALLBACK = {
    "numpy": "impls.numpy_backend:NumpyBackend",
    "scipy": "impls.scipy_backend:ScipyBackend",
    "torch-cpu": "impls.torch_backend:make_torch_cpu",
    "torch-cuda": "impls.torch_backend:make_torch_cuda",
    "jax-cpu": "impls.jax_backend:make_jax_cpu",
    "jax-cuda": "impls.jax_backend:make_jax_cuda",
    "onnxruntime-cpu": "impls.onnxruntime_backend:make_onnxruntime_cpu",
    "onnxruntime-cuda": "impls.onnxruntime_backend:make_onnxruntime_cuda",
}

_factories: dict[str, object] = {}
_instances: dict[str, object] = {}
_discovered = False


@dataclass
class BackendStatus:
    name: str
    status: str  # "available", "unavailable" or "error"
    reason: str = ""
    source: str = ""


def _resolve(target: str):
    module_name, _, attr = target.partition(":")
    if not attr:
        raise ValueError(f"backend={target!r}: expected 'module:attr'")
    obj = importlib.import_module(module_name)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


class _Lazy:
    """A factory that imports its target only when first called."""

    def __init__(self, target: str, loader=None):
        self.target, self.loader = target, loader

    def __call__(self):
        obj = self.loader() if self.loader else _resolve(self.target)
        return _instantiate(obj)


def _instantiate(obj):
    if isinstance(obj, type) or (callable(obj) and not hasattr(obj, "asarray")):
        obj = obj()
    return obj


def _discover():
    global _discovered
    if _discovered:
        return
    _discovered = True
    eps = list(entry_points(group=ENTRY_POINT_GROUP))
    names = {ep.name for ep in eps}
    for name, target in _BUILTIN_FALLBACK.items():
        if name not in names:
            _factories.setdefault(name, _Lazy(target))
    for ep in eps:
        _factories.setdefault(ep.name, _Lazy(ep.value, loader=ep.load))


def register_backend(name: str, factory) -> None:
    """Register ``factory`` (a backend object, a class, or a zero-argument callable) under ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"name={name!r}: expected a non-empty string")
    _discover()
    _factories[name] = factory if callable(factory) and not hasattr(factory, "asarray") else (lambda: factory)
    _instances.pop(name, None)


def load_backend(spec: str):
    """Load ``"module:attr"``: a backend object, or a zero-argument callable returning one."""
    return _instantiate(_resolve(spec))


def get_backend(name: str):
    """The backend registered as ``name``, or loaded from ``"module:attr"``.

    Raises :class:`Unavailable` (with the reason) when it cannot run here, ``KeyError`` when the
    name is unknown; any other exception comes from the backend's own code.
    """
    if name in _instances:
        return _instances[name]
    _discover()
    if name in _factories:
        backend = _instantiate(_factories[name]())
    elif ":" in name:
        backend = load_backend(name)
    else:
        raise KeyError(f"backend={name!r}: unknown; known are {sorted(_factories)}")
    _instances[name] = backend
    return backend


def backend_statuses(names=None) -> list[BackendStatus]:
    """Try every registered backend (or ``names``) and say which can run here, and why not."""
    _discover()
    out = []
    for name in names if names is not None else sorted(_factories):
        try:
            get_backend(name)
            out.append(BackendStatus(name, "available"))
        except Unavailable as exc:
            out.append(BackendStatus(name, "unavailable", str(exc)))
        except Exception:  # a broken plug-in is a reported result, never a crash
            out.append(BackendStatus(name, "error", traceback.format_exc(limit=8)))
    return out


def available_backends() -> list[str]:
    """Names of the registered backends that can run on this machine."""
    return [s.name for s in backend_statuses() if s.status == "available"]
