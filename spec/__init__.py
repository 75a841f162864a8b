"""nnconform's reference: the lecture's building blocks in float64 with explicit loops.

Every op first calls the matching ``spec.validate.check_*`` function (so every backend raises the
same ValueError), converts its inputs with ``np.asarray(a, dtype=np.float64)``, computes with plain
Python loops that mirror the lecture's formulas and returns float64 arrays.  Each semantic decision
is written down once, in the docstring of the module that implements it, and collected as data in
``DECISIONS``; the lecture's inconsistencies are in ``ERRATA`` (mirrored in ``spec/ERRATA.md``).

A ``*_vjp(g, *args, **params)`` returns a tuple with one gradient per differentiable positional array
that was given; dropout's mask, batch_norm_eval's running statistics and graph_conv's edges are not
differentiable.  ``spec.catalogue.CATALOGUE`` lists every op with the role of each argument.  A
cotangent ``g`` whose shape is not the forward output's raises ValueError naming ``g.shape``.
"""

from . import validate
from .bad_inputs import BAD_INPUTS, EXTREME_CASES, BadInput, ExtremeCase
from .catalogue import CATALOGUE, INDEX_DTYPE, Arg, ArgRole, OpSpec
from .errata import DECISIONS, ERRATA, Decision, Erratum
from .examples import WORKED_EXAMPLES, WorkedExample

# Every op and VJP of the catalogue is exported under its contract name (spec.conv, spec.conv_vjp...).
_FUNCTIONS = {op.name: op.forward for op in CATALOGUE} | {op.vjp_name: op.vjp for op in CATALOGUE if op.vjp}
globals().update(_FUNCTIONS)

__all__ = [
    *_FUNCTIONS,
    "CATALOGUE",
    "OpSpec",
    "Arg",
    "ArgRole",
    "INDEX_DTYPE",
    "WORKED_EXAMPLES",
    "WorkedExample",
    "ERRATA",
    "Erratum",
    "DECISIONS",
    "Decision",
    "BAD_INPUTS",
    "BadInput",
    "EXTREME_CASES",
    "ExtremeCase",
    "validate",
]
