"""Data flows one way: spec -> impls -> conformance -> reports, with nnconform.schema/atomic at the bottom and
nnconform.cli on top. Checked on the source (every import statement, lazy ones inside functions included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("spec", "impls", "conformance", "reports", "benchmarks", "nnconform")
BOTTOM = ("nnconform.schema", "nnconform.atomic", "nnconform.packages")
TOP = "nnconform.cli"

ALLOWED = {
    "spec": {"nnconform.schema"},
    "impls": {"spec", "nnconform.schema"},
    "nnconform.schema": set(),
    "nnconform.atomic": set(),
    "nnconform": set(),
}
"""Layer -> the only layers it may import (besides itself); layers not listed are checked by FORBIDDEN."""
FORBIDDEN = {
    "conformance": {"reports", TOP},
    "reports": {"impls", "conformance", "benchmarks", TOP},
    "benchmarks": {"reports", TOP},
}


def layer_of(module: str) -> str | None:
    """The layer a dotted module name belongs to: a top-level package, or one of nnconform's modules."""
    top = module.split(".")[0]
    if top not in PACKAGES:
        return None
    if top == "nnconform":
        for name in (*BOTTOM, TOP):
            if module == name or module.startswith(name + "."):
                return name
        return "nnconform"
    return top


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> set[str]:
    """Every module ``path`` imports, relative imports resolved, at any depth of the file."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[:len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            out.add(target)
            out.update(f"{target}.{a.name}" for a in node.names)  # "from nnconform import cli" imports nnconform.cli
    return out


def edges() -> dict[tuple[str, str], list[str]]:
    """(from layer, to layer) -> the files that make the edge."""
    found: dict[tuple[str, str], list[str]] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")) if (ROOT / pkg).is_dir() else []:
            src = layer_of(_module_name(path))
            for target in imports_of(path):
                dst = layer_of(target)
                if dst is not None and dst != src and not (target == "nnconform" and dst == "nnconform"):
                    found.setdefault((src, dst), []).append(str(path.relative_to(ROOT)))
    return found


def test_the_parser_sees_relative_and_lazy_imports(tmp_path):
    assert layer_of("nnconform.schema") == "nnconform.schema" and layer_of("reports.render") == "reports"
    assert layer_of("nnconform.cli") == TOP and layer_of("numpy") is None
    got = imports_of(ROOT / "conformance" / "results.py")
    assert "nnconform.atomic" in got and "nnconform.schema" in got and "conformance.profiles" in got  # lazy, relative


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_lower_layers_import_only_what_is_below_them(layer):
    bad = {(s, d): f for (s, d), f in edges().items() if s == layer and d not in ALLOWED[layer]}
    assert not bad, f"{layer} may import only {sorted(ALLOWED[layer]) or 'nothing of ours'}; found {bad}"


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_forbidden_directions(layer):
    bad = {(s, d): f for (s, d), f in edges().items() if s == layer and d in FORBIDDEN[layer]}
    bad = {k: v for k, v in bad.items() if v}
    assert not bad, f"{layer} must not import {sorted(FORBIDDEN[layer])}; found {bad}"


def test_no_cycles_between_layers():
    graph: dict[str, set[str]] = {}
    for (s, d), files in edges().items():
        if files:
            graph.setdefault(s, set()).add(d)
    state: dict[str, int] = {}

    def visit(node, trail):
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                raise AssertionError("import cycle: " + " -> ".join([*trail, node, nxt]))
            if state.get(nxt) is None:
                visit(nxt, [*trail, node])
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node, [])


def test_only_the_cli_orchestrates():
    """nnconform.cli is the one module that reaches both the suite and the renderer, and nothing imports it."""
    e = edges()
    assert {d for (s, d) in e if s == TOP} >= {"reports", "impls"}
    assert not [s for (s, d) in e if d == TOP]


def test_the_report_speaks_the_schema_vocabulary():
    """render.py's groups, check kinds and statuses come from nnconform.schema: every group is produced by a kind."""
    from nnconform import schema
    from reports import render

    assert [g[0] for g in render.CHECK_GROUPS] == list(schema.CHECK_GROUPS)
    assert all(checks for *_, checks in render.CHECK_GROUPS), render.CHECK_GROUPS  # no group that nothing fills
    assert {k for *_, checks in render.CHECK_GROUPS for k in checks} == set(schema.CHECK_KINDS)
    assert set(render.STATUSES) == set(schema.STATUSES) <= set(render.STATUS_STYLE)
    assert render.SCHEMA == schema.RESULTS_SCHEMA
