"""Bad inputs (every op must raise ValueError naming ``param``) and valid extreme inputs.

``BAD_INPUTS``: every bad input of the catalogue, in catalogue order.  They live on the ops'
records (``spec.opspec.OpSpec.bad_inputs``, written in each family file right before its
``CATALOGUE``); this list only concatenates them.  ``args`` are numpy float64 arrays, int64 index
arrays (graph edges) or plain scalars (a backend converts the arrays with its ``asarray``, except the
``raw`` positions); calling ``op(*args, **kwargs)`` must raise ``ValueError`` whose message contains
``param`` (the messages come from ``spec.validate``: ``"param=value: why"``). Every ``*_vjp`` has two
entries (``spec.opspec.vjp_bad_inputs``): a cotangent of the wrong shape (one that broadcasts to the
output's, or x's shape where the output is smaller or larger) and one of a non-float dtype (bool,
integer, complex); all forward arguments are valid, so only ``g`` is to blame.  ``BadInput`` is
defined in ``spec.opspec`` and re-exported here.

``EXTREME_CASES``: VALID inputs at the edges (size-1 axes, kernel as large as the input, 1e30,
1e-30, subnormal 1e-310, an empty batch N = 0).  Every op must run and return ``expected_shape``.
Magnitudes are chosen so that every intermediate result stays finite in float32 too (1e30 times
small weights; batch norm at 1e18 so that squares stay below float32's 3.4e38); subnormal
float64 inputs become 0 in float32, which is still a valid input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .catalogue import CATALOGUE
from .opspec import BadInput, sample_data

__all__ = ["BadInput", "ExtremeCase", "BAD_INPUTS", "EXTREME_CASES"]


@dataclass(frozen=True)
class ExtremeCase:
    id: str
    op: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    expected_shape: tuple | None = None
    """Shape of the (first) output, worked out by hand."""


def _full(shape, value):
    return np.full(shape, value, dtype=np.float64)


BAD_INPUTS: list[BadInput] = [b for op in CATALOGUE for b in op.bad_inputs]
"""Every op's bad inputs (``OpSpec.bad_inputs``), in catalogue order."""

W2D = sample_data(4, 3, 3, 3, seed=1)
WDENSE = sample_data(5, 4, seed=1)
C3 = np.ones(3)

EXTREME_CASES: list[ExtremeCase] = [
    # size-1 axes and kernels as large as the input
    ExtremeCase("conv-size1-everything", "conv", (np.ones((1, 1, 1)), np.ones((1, 1, 1))), {}, (1, 1, 1)),
    ExtremeCase(
        "conv-kernel-equals-input-valid",
        "conv",
        (sample_data(1, 2, 4, 3), sample_data(3, 2, 4, 3, seed=1)),
        {},
        (1, 3, 1, 1),
    ),
    ExtremeCase(
        "conv-kernel-longer-than-input-periodic",
        "conv",
        (sample_data(1, 1, 2), sample_data(1, 1, 5, seed=1)),
        {"padding": "periodic"},
        (1, 1, 2),
    ),
    ExtremeCase(
        "conv-kernel-longer-than-input-same",
        "conv",
        (sample_data(1, 1, 2, 2), sample_data(1, 1, 4, 3, seed=1)),
        {"padding": "same"},
        (1, 1, 2, 2),
    ),
    ExtremeCase(
        "conv-stride-larger-than-input",
        "conv",
        (sample_data(1, 1, 3), sample_data(1, 1, 1, seed=1)),
        {"stride": 5},
        (1, 1, 1),
    ),
    ExtremeCase(
        "conv-3d-size1-spatial",
        "conv",
        (sample_data(1, 2, 1, 1, 1), sample_data(2, 2, 1, 1, 1, seed=1), np.ones(2)),
        {"padding": "same"},
        (1, 2, 1, 1, 1),
    ),
    # magnitudes
    ExtremeCase(
        "conv-huge-1e30",
        "conv",
        # 2^100 ~ 1.3e30: a power of two, so the sums are exact
        (_full((1, 1, 4, 4), 2.0**100), _full((1, 1, 3, 3), -2.0)),
        {"padding": "same"},
        (1, 1, 4, 4),
    ),
    ExtremeCase(
        "conv-tiny-1e-30",
        "conv",
        (_full((1, 1, 4), 1e-30), _full((1, 1, 3), 0.5)),
        {"padding": "periodic"},
        (1, 1, 4),
    ),
    ExtremeCase("conv-subnormal-1e-310", "conv", (_full((1, 1, 4), 1e-310), np.ones((1, 1, 2))), {}, (1, 1, 3)),
    ExtremeCase("dense-huge-1e30", "dense", (_full((2, 3), 1e30), np.ones((2, 3))), {}, (2, 2)),
    ExtremeCase("relu-subnormal", "relu", (_full((2, 3), -1e-310),), {}, (2, 3)),
    ExtremeCase("sigmoid-huge", "sigmoid", (np.array([[-1e30, 1e30, 1e-310, -1e-310]]),), {}, (1, 4)),
    ExtremeCase("tanh-huge", "tanh", (np.array([[-1e30, 1e30, 1e-310, 0.0]]),), {}, (1, 4)),
    ExtremeCase("max_pool-window-equals-input", "max_pool", (sample_data(1, 2, 3, 3),), {"size": 3}, (1, 2, 1, 1)),
    ExtremeCase("max_pool-huge", "max_pool", (_full((1, 1, 4), 1e30),), {}, (1, 1, 2)),
    ExtremeCase("avg_pool-huge-1e30", "avg_pool", (_full((1, 1, 2, 2), 1e30),), {}, (1, 1, 1, 1)),
    ExtremeCase("avg_pool-subnormal", "avg_pool", (_full((1, 1, 5), 1e-310),), {"size": 2}, (1, 1, 2)),
    ExtremeCase("upsample-factor-1", "upsample", (sample_data(1, 1, 1, 1),), {"factor": 1}, (1, 1, 1, 1)),
    ExtremeCase("upsample-3d-mixed", "upsample", (sample_data(1, 1, 1, 2, 1),), {"factor": (3, 1, 2)}, (1, 1, 3, 2, 2)),
    ExtremeCase(
        "dropout-keep-all",
        "dropout",
        (sample_data(2, 3, 2), np.ones((2, 3))),
        {"keep_prob": 1.0, "scaling": "inverted"},
        (2, 3, 2),
    ),
    ExtremeCase(
        "dropout-tiny-keep-prob",
        "dropout",
        (_full((1, 2, 2), 1e-30), np.ones((1, 2))),
        {"keep_prob": 1e-6, "scaling": "inverted"},
        (1, 2, 2),
    ),
    ExtremeCase("dropout_mask-empty", "dropout_mask", ((0, 3),), {"keep_prob": 0.5, "seed": 0}, (0, 3)),
    ExtremeCase("batch_norm-one-value-per-channel", "batch_norm", (sample_data(1, 3), C3, C3), {}, (1, 3)),
    ExtremeCase("batch_norm-constant-channel", "batch_norm", (np.ones((2, 3, 2)), C3, C3), {}, (2, 3, 2)),
    ExtremeCase("batch_norm-huge-1e18", "batch_norm", (sample_data(2, 3, 2, scale=1e18), C3, C3), {}, (2, 3, 2)),
    ExtremeCase("batch_norm-tiny-1e-30", "batch_norm", (sample_data(2, 3, 2, scale=1e-30), C3, C3), {}, (2, 3, 2)),
    ExtremeCase("running_stats-two-values", "running_stats", (sample_data(2, 3), C3, C3), {"momentum": 1.0}, (3,)),
    ExtremeCase("running_stats-momentum-zero", "running_stats", (sample_data(2, 3, 2), C3, C3), {"momentum": 0.0}, (3,)),
    # empty batch N = 0
    ExtremeCase("conv-empty-batch", "conv", (np.zeros((0, 3, 5)), sample_data(2, 3, 3)), {"padding": "same"}, (0, 2, 5)),
    ExtremeCase("conv-empty-batch-2d-stride", "conv", (np.zeros((0, 3, 5, 5)), W2D), {"stride": 2}, (0, 4, 2, 2)),
    ExtremeCase("dense-empty-batch", "dense", (np.zeros((0, 4)), WDENSE, np.zeros(5)), {}, (0, 5)),
    ExtremeCase("relu-empty", "relu", (np.zeros((0, 3, 4)),), {}, (0, 3, 4)),
    ExtremeCase("sigmoid-empty", "sigmoid", (np.zeros((0, 2)),), {}, (0, 2)),
    ExtremeCase("tanh-empty", "tanh", (np.zeros((0, 1, 1)),), {}, (0, 1, 1)),
    ExtremeCase("max_pool-empty-batch", "max_pool", (np.zeros((0, 2, 4, 4)),), {}, (0, 2, 2, 2)),
    ExtremeCase("avg_pool-empty-batch", "avg_pool", (np.zeros((0, 2, 5)),), {"size": 2}, (0, 2, 2)),
    ExtremeCase("upsample-empty-batch", "upsample", (np.zeros((0, 2, 3)),), {"factor": 2}, (0, 2, 6)),
    ExtremeCase(
        "dropout-empty-batch",
        "dropout",
        (np.zeros((0, 3, 4)), np.zeros((0, 3))),
        {"keep_prob": 0.5},
        (0, 3, 4),
    ),
    ExtremeCase("batch_norm_eval-empty-batch", "batch_norm_eval", (np.zeros((0, 3, 2)), C3, C3, C3, C3), {}, (0, 3, 2)),
]

# ---------------------------------------------------------------------------- locally_connected, graph_conv
WLC = sample_data(4, 2, 3, 2, seed=1)  # 4 positions of kernel 2 on n = 5, C 3 -> 2
XG = sample_data(4, 3)
WG = sample_data(2, 3, seed=1)

EXTREME_CASES += [
    ExtremeCase("locally_connected-kernel-equals-input", "locally_connected",
                (sample_data(1, 2, 3, 3), sample_data(1, 1, 2, 2, 3, 3, seed=1), np.ones((2, 1, 1))), {}, (1, 2, 1, 1)),
    ExtremeCase("locally_connected-stride-larger-than-input", "locally_connected",
                (sample_data(1, 1, 3), sample_data(1, 1, 1, 1)), {"stride": 5}, (1, 1, 1)),
    ExtremeCase("locally_connected-empty-batch", "locally_connected", (np.zeros((0, 3, 5)), WLC), {}, (0, 2, 4)),
    ExtremeCase("locally_connected-huge-1e30", "locally_connected",
                (_full((1, 1, 4), 1e30), _full((3, 1, 1, 2), 0.5)), {}, (1, 1, 3)),
    ExtremeCase("graph_conv-no-edges-no-self-loops", "graph_conv", (XG, np.zeros((0, 2), dtype=np.int64), WG,
                                                                     np.ones(2)), {"self_loops": False}, (4, 2)),
    ExtremeCase("graph_conv-single-node", "graph_conv", (sample_data(1, 3), np.array([[0, 0]], dtype=np.int64), WG), {},
                (1, 2)),
    ExtremeCase("graph_conv-empty-graph", "graph_conv", (np.zeros((0, 3)), np.zeros((0, 2), dtype=np.int64), WG),
                {}, (0, 2)),
    ExtremeCase("graph_conv-huge-1e30", "graph_conv", (_full((2, 3), 1e30), np.array([[0, 1], [1, 0]],
                                                                                      dtype=np.int64),
                                                       _full((2, 3), 0.25)), {"normalize": "none"}, (2, 2)),
]
