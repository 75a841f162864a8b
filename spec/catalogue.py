"""spec's op catalogue: every op of the contract, once, in report order.

Each family file ends with its ``CATALOGUE`` of :class:`~spec.opspec.OpSpec` entries (name, forward,
VJP, validator and the role of every argument); this module only lists the families in the order
the report shows them.  Everything that enumerates ops derives from :data:`CATALOGUE`: spec's exports,
``impls.base``'s op lists and not-implemented stubs, the spec backend, the bad-input coverage test,
the finite-difference self-check of every VJP and the op order in ``results.json``.
"""

from __future__ import annotations

from . import activations, batchnorm, conv, dropout, graph, local, pooling
from .opspec import INDEX_DTYPE, Arg, ArgRole, OpSpec

__all__ = ["CATALOGUE", "BY_NAME", "OP_NAMES", "FUNCTION_NAMES", "INDEX_DTYPE", "Arg", "ArgRole", "OpSpec", "get"]

FAMILIES = (conv, local, graph, activations, pooling, dropout, batchnorm)
"""Family modules in report order; a new family file adds itself here."""

CATALOGUE: tuple[OpSpec, ...] = tuple(op for family in FAMILIES for op in family.CATALOGUE)
BY_NAME: dict[str, OpSpec] = {op.name: op for op in CATALOGUE}
OP_NAMES: tuple[str, ...] = tuple(BY_NAME)
FUNCTION_NAMES: tuple[str, ...] = tuple(n for op in CATALOGUE for n in op.function_names)
"""Every function a complete backend defines: each op, and ``op_vjp`` where the op has a gradient."""


def get(name: str) -> OpSpec:
    """The entry of op ``name`` (a forward name; ``conv_vjp`` gives conv's entry too)."""
    return BY_NAME[name.removesuffix("_vjp")]
