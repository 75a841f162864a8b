"""The types of spec's op catalogue: :class:`OpSpec` (one op), :class:`Arg` (one positional argument)
and :class:`BadInput` (one invalid call of the op or its VJP).

Every family file (``spec/conv.py``, ``spec/graph.py``...) ends with ``CATALOGUE``, the entries of
its ops; ``spec.catalogue`` collects them in report order.  An entry carries the op's bad inputs
(``OpSpec.bad_inputs``: the op's own and its VJP's, each of which must raise ValueError naming
``BadInput.param``; ``spec.bad_inputs.BAD_INPUTS`` is their concatenation over the catalogue), and
it says, for every positional argument, its ROLE, which decides how the suite draws, casts,
perturbs and compares it:

* ``DIFF``: a float array the op is differentiable in; the VJP returns one gradient per ``DIFF``
  argument that was given (not None), in the order of ``args``;
* ``CONST``: a float array the op is NOT differentiable in (dropout's mask, batch-norm statistics);
* ``INDEX``: an integer index array (a graph's edges); it keeps its integer dtype ``INDEX_DTYPE``
  through ``asarray``, rounding, JSON and repro, and is never perturbed or differentiated;
* ``PARAM``: a plain Python value given positionally (dropout_mask's ``shape``).

Keyword-only parameters (``padding``, ``stride``...) are the forward's keyword-only arguments.

A family file writes its bad inputs right before its ``CATALOGUE`` with :class:`BadInput`,
:func:`vjp_bad_inputs` (the two cotangent entries every VJP has) and :func:`sample_data`
(deterministic float64 arrays).  This module is the bottom of spec: it imports no other spec module.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "ArgRole",
    "Arg",
    "OpSpec",
    "BadInput",
    "INDEX_DTYPE",
    "diff",
    "const",
    "index",
    "param",
    "vjp_bad_inputs",
    "sample_data",
]

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
    per_sample: bool = False
    """Its leading axis runs over x's samples (dropout's mask has one row per sample): a larger batch needs more
    rows of it."""


def diff(name: str, *, optional: bool = False) -> Arg:
    return Arg(name=name, role=ArgRole.DIFF, optional=optional)


def const(name: str, *, per_sample: bool = False) -> Arg:
    return Arg(name=name, role=ArgRole.CONST, per_sample=per_sample)


def index(name: str) -> Arg:
    return Arg(name=name, role=ArgRole.INDEX)


def param(name: str) -> Arg:
    return Arg(name=name, role=ArgRole.PARAM)


@dataclass(frozen=True)
class BadInput:
    id: str
    op: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    param: str = ""
    """Text that must appear in the ValueError message (the parameter name, e.g. ``"w.shape"``)."""
    raw: tuple[int, ...] = ()
    """Positions of ``args`` handed to the backend as the numpy arrays they are, not through its ``asarray``:
    a cotangent of a dtype the backend does not support cannot be made by ``asarray``. The op's
    ``check_cotangent`` reads only ``.shape`` and ``.dtype``, so it rejects such an array before computing."""


def sample_data(*shape, seed=0, scale=1.0):
    """Deterministic float64 data of ``shape`` (values are irrelevant for the shape checks)."""
    return np.random.default_rng(seed).standard_normal(shape) * scale


def vjp_bad_inputs(op: str, args: tuple, kwargs: dict, out_shape: tuple, wrong_shape: tuple, bad_dtype) -> list:
    """The two cotangent entries of ``op + "_vjp"``: ``g`` of ``wrong_shape``; ``g`` of ``out_shape`` in ``bad_dtype``.

    ``args`` and ``kwargs`` are a VALID forward call whose output has ``out_shape``, so only ``g`` is
    to blame.  ``wrong_shape`` is one that broadcasts to ``out_shape`` (id ``...-g-shape-broadcasts``)
    or x's shape where the output is smaller or larger (``...-g-shape-x-shaped``); ``bad_dtype`` is a
    non-float dtype (bool, integer, complex), handed to the backend as is (``raw=(0,)``).
    """
    shape_id = "broadcasts" if all(w in (1, o) for w, o in zip(wrong_shape, out_shape, strict=True)) else "x-shaped"
    return [
        BadInput(f"{op}_vjp-g-shape-{shape_id}", f"{op}_vjp", (sample_data(*wrong_shape, seed=7), *args), kwargs,
                 "g.shape"),
        BadInput(f"{op}_vjp-g-dtype-{np.dtype(bad_dtype).name}", f"{op}_vjp",
                 (np.ones(out_shape, dtype=bad_dtype), *args), kwargs, "g.dtype", raw=(0,)),
    ]


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
    output_shape: Callable | None = None
    """``output_shape(*args, **params)`` -> the forward output's shape by spec's shape rules, from the arguments'
    shapes only (no loops: the suite sizes cotangents with it where spec's loops would be slow); None: the
    output has the first argument's shape."""
    bad_inputs: tuple[BadInput, ...] = field(default=(), compare=False, repr=False)
    """Invalid calls of this op and of its VJP (``b.op in function_names``), each raising ValueError
    naming ``b.param``: at least one per function (a test demands it), and two cotangent entries per VJP
    (:func:`vjp_bad_inputs`).  Not part of the entry's equality, hash or repr (they hold arrays)."""

    def out_shape(self, args, kwargs) -> tuple:
        """The forward output's shape for ``args`` and ``kwargs`` (see ``output_shape``)."""
        if self.output_shape is None:
            return tuple(np.shape(args[0]))
        return tuple(int(n) for n in self.output_shape(*args, **kwargs))

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
