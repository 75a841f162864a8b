"""nnconform's reference: the lecture's building blocks in float64 with explicit loops.

Every op first calls the matching ``spec.validate.check_*`` function (so every backend raises the
same ValueError), converts its inputs with ``np.asarray(a, dtype=np.float64)``, computes with plain
Python loops that mirror the lecture's formulas and returns float64 arrays.  Each semantic decision
is written down once, in the docstring of the module that implements it, and collected as data in
``DECISIONS``; the lecture's inconsistencies are in ``ERRATA`` (mirrored in ``spec/ERRATA.md``).

A ``*_vjp(g, *args, **params)`` returns a tuple with one gradient per differentiable positional array
that was given; dropout's mask and batch_norm_eval's running statistics are not differentiable.  A
cotangent ``g`` whose shape is not the forward output's raises ValueError naming ``g.shape``.
"""

from . import validate
from .activations import relu, relu_vjp, sigmoid, sigmoid_vjp, tanh, tanh_vjp
from .bad_inputs import BAD_INPUTS, EXTREME_CASES, BadInput, ExtremeCase
from .batchnorm import batch_norm, batch_norm_eval, batch_norm_eval_vjp, batch_norm_vjp, running_stats
from .conv import conv, conv_vjp, dense, dense_vjp
from .dropout import dropout, dropout_mask, dropout_vjp
from .errata import DECISIONS, ERRATA, Decision, Erratum
from .examples import WORKED_EXAMPLES, WorkedExample
from .pooling import avg_pool, avg_pool_vjp, max_pool, max_pool_vjp, upsample, upsample_vjp

__all__ = [
    "conv",
    "conv_vjp",
    "dense",
    "dense_vjp",
    "relu",
    "relu_vjp",
    "sigmoid",
    "sigmoid_vjp",
    "tanh",
    "tanh_vjp",
    "max_pool",
    "max_pool_vjp",
    "avg_pool",
    "avg_pool_vjp",
    "upsample",
    "upsample_vjp",
    "dropout",
    "dropout_vjp",
    "dropout_mask",
    "batch_norm",
    "batch_norm_vjp",
    "batch_norm_eval",
    "batch_norm_eval_vjp",
    "running_stats",
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
