"""The types of spec's op catalogue: :class:`OpSpec` (one op) and :class:`Arg` (one positional argument).

Every family file (``spec/conv.py``, ``spec/graph.py``...) ends with ``CATALOGUE``, the entries of
its ops; ``spec.catalogue`` collects them in report order.  An entry says, for every positional
argument, its ROLE, which decides how the suite draws, casts, perturbs and compares it:

* ``DIFF``: a float array the op is differentiable in; the VJP returns one gradient per ``DIFF``
  argument that was given (not None), in the order of ``args``;
* ``CONST``: a float array the op is NOT differentiable in (dropout's mask, batch-norm statistics);
* ``INDEX``: an integer index array (a graph's edges); it keeps its integer dtype ``INDEX_DTYPE``
  through ``asarray``, rounding, JSON and repro, and is never perturbed or differentiated;
* ``PARAM``: a plain Python value given positionally (dropout_mask's ``shape``).

Keyword-only parameters (``padding``, ``stride``...) are the forward's keyword-only arguments.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ArgRole", "Arg", "OpSpec", "INDEX_DTYPE", "diff", "const", "index", "param"]

INDEX_DTYPE = "int64"
"""dtype name of every INDEX argument, in every backend (``backend.asarray(edges, INDEX_DTYPE)``)."""


class ArgRole(enum.StrEnum):
    DIFF = "float array, differentiable"
    CONST = "float array, not differentiable (mask or statistics)"
    INDEX = "integer index array, not differentiable"
    PARAM = "plain Python parameter"


@dataclass(frozen=True, kw_only=True)
class Arg:
    name: str
    role: ArgRole
    optional: bool = False
    """The argument may be None (a bias)."""


def diff(name: str, *, optional: bool = False) -> Arg:
    return Arg(name=name, role=ArgRole.DIFF, optional=optional)


def const(name: str) -> Arg:
    return Arg(name=name, role=ArgRole.CONST)


def index(name: str) -> Arg:
    return Arg(name=name, role=ArgRole.INDEX)


def param(name: str) -> Arg:
    return Arg(name=name, role=ArgRole.PARAM)


@dataclass(frozen=True, kw_only=True)
class OpSpec:
    name: str
    forward: Callable
    """spec's float64 loop reference."""
    vjp: Callable | None
    """``vjp(g, *args, **params)`` -> one gradient per given DIFF argument; None for ops without a gradient."""
    validator: Callable
    """The ``spec.validate.check_*`` every backend calls first, with the forward's arguments."""
    args: tuple[Arg, ...]
    """Every positional argument of ``forward``, in order, with its role."""
    n_outputs: int = 1
    """Arrays the forward returns (running_stats returns two)."""

    @property
    def vjp_name(self) -> str | None:
        return None if self.vjp is None else self.name + "_vjp"

    @property
    def function_names(self) -> tuple[str, ...]:
        """The names a backend defines for this op."""
        return (self.name,) if self.vjp is None else (self.name, self.name + "_vjp")

    def positions(self, role: ArgRole) -> tuple[int, ...]:
        return tuple(i for i, a in enumerate(self.args) if a.role == role)

    @property
    def diff_args(self) -> tuple[int, ...]:
        """Positions of the differentiable arguments: the order of the VJP's gradients."""
        return self.positions(ArgRole.DIFF)

    @property
    def index_args(self) -> tuple[int, ...]:
        return self.positions(ArgRole.INDEX)

    @property
    def params(self) -> tuple[str, ...]:
        """The forward's keyword-only parameters."""
        sig = inspect.signature(self.forward).parameters.values()
        return tuple(p.name for p in sig if p.kind is inspect.Parameter.KEYWORD_ONLY)
