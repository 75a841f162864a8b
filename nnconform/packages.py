"""The import names nnconform installs, and the check that they are really ours.

Decision (DESIGN.md, "Import names"): the design card fixes the folders ``spec/``, ``impls/``,
``conformance/``, ``reports/`` (plus ``benchmarks/`` and ``nnconform/``), and each folder is installed as
the top-level package of the same name. Such generic names can be shadowed: a user's own ``reports/``
folder early on ``sys.path`` would silently replace ours, and a run would render with someone else's
code. So the names stay, but they are never ambiguous in a run: the CLI and the activated pytest plug-in
call :func:`check` first, which finds (without importing) where each name resolves and refuses, with one
line naming the stray folder, when it is not the sibling of this ``nnconform`` package.

This module imports nothing of ours: it sits at the bottom with ``schema`` and ``atomic``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

PACKAGES = ("spec", "impls", "conformance", "reports", "benchmarks")
"""Our top-level packages besides ``nnconform`` itself."""

ROOT = Path(__file__).resolve().parents[1]
"""Where our packages live: the checkout (editable install) or site-packages (wheel)."""


class ShadowedPackage(ImportError):
    """One of our import names resolves to a folder that is not ours."""


def where(name: str) -> Path | None:
    """The folder the import name ``name`` resolves to now, without importing it (None: not found)."""
    try:
        found = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if found is None:
        return None
    if found.submodule_search_locations:
        return Path(next(iter(found.submodule_search_locations))).resolve()
    return Path(found.origin).resolve().parent if found.origin else None


def check(names=PACKAGES) -> None:
    """Raise :class:`ShadowedPackage` when one of ``names`` resolves outside :data:`ROOT`."""
    for name in names:
        path = where(name)
        if path is not None and path != ROOT / name:
            raise ShadowedPackage(f"import name {name!r} resolves to {path}, not nnconform's {ROOT / name}: "
                                  f"a folder or module of that name earlier on sys.path shadows ours "
                                  f"(rename it, or run from another directory)")
