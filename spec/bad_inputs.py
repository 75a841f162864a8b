"""Catalogue of bad inputs (every op must raise ValueError naming ``param``) and of valid extreme inputs.

``BAD_INPUTS``: ``args`` are numpy float64 arrays, int64 index arrays (graph edges) or plain scalars
(a backend converts the arrays with its ``asarray``, except the ``raw`` positions); calling
``op(*args, **kwargs)`` must raise ``ValueError`` whose message contains ``param`` (the messages come
from ``spec.validate``: ``"param=value: why"``). Every ``*_vjp`` has two entries: a cotangent of the
wrong shape (one that broadcasts to the output's, or x's shape where the output is smaller or larger)
and one of a non-float dtype (bool, integer, complex); all forward arguments are valid, so only ``g``
is to blame.

``EXTREME_CASES``: VALID inputs at the edges (size-1 axes, kernel as large as the input, 1e30,
1e-30, subnormal 1e-310, an empty batch N = 0).  Every op must run and return ``expected_shape``.
Magnitudes are chosen so that every intermediate result stays finite in float32 too (1e30 times
small weights; batch norm at 1e18 so that squares stay below float32's 3.4e38); subnormal
float64 inputs become 0 in float32, which is still a valid input.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["BadInput", "ExtremeCase", "BAD_INPUTS", "EXTREME_CASES"]


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


@dataclass(frozen=True)
class ExtremeCase:
    id: str
    op: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    expected_shape: tuple | None = None
    """Shape of the (first) output, worked out by hand."""


def _r(*shape, seed=0, scale=1.0):
    """Deterministic float64 data of ``shape`` (values are irrelevant for the shape checks)."""
    return np.random.default_rng(seed).standard_normal(shape) * scale


def _full(shape, value):
    return np.full(shape, value, dtype=np.float64)


X2D = _r(2, 3, 5, 5)
W2D = _r(4, 3, 3, 3, seed=1)
X1D = _r(2, 3, 6)
XDENSE = _r(2, 4)
WDENSE = _r(5, 4, seed=1)
C3 = np.ones(3)

BAD_INPUTS: list[BadInput] = [
    # conv
    BadInput("conv-channel-mismatch", "conv", (X2D, _r(4, 2, 3, 3)), {}, "w.shape"),
    BadInput("conv-kernel-rank", "conv", (X2D, _r(4, 3, 3)), {}, "w.shape"),
    BadInput("conv-kernel-larger-than-input-valid", "conv", (X2D, _r(4, 3, 6, 3)), {"padding": "valid"}, "w.shape"),
    BadInput("conv-dilated-span-larger-than-input", "conv", (X1D, _r(2, 3, 3)), {"dilation": 3}, "w.shape"),
    BadInput("conv-zero-kernel-axis", "conv", (X1D, np.zeros((2, 3, 0))), {"padding": "same"}, "w.shape"),
    BadInput("conv-x-2d", "conv", (_r(2, 3), W2D), {}, "x.shape"),
    BadInput("conv-x-6d", "conv", (_r(1, 1, 2, 2, 2, 2), _r(1, 1, 1, 1, 1, 1)), {}, "x.shape"),
    BadInput("conv-bias-shape", "conv", (X2D, W2D, np.zeros(3)), {}, "b.shape"),
    BadInput("conv-bias-2d", "conv", (X2D, W2D, np.zeros((4, 1))), {}, "b.shape"),
    BadInput("conv-unknown-padding", "conv", (X2D, W2D), {"padding": "reflect"}, "padding"),
    BadInput("conv-padding-uppercase", "conv", (X2D, W2D), {"padding": "SAME"}, "padding"),
    BadInput("conv-stride-zero", "conv", (X2D, W2D), {"stride": 0}, "stride"),
    BadInput("conv-stride-negative-axis", "conv", (X2D, W2D), {"stride": (1, -1)}, "stride"),
    BadInput("conv-stride-wrong-length", "conv", (X2D, W2D), {"stride": (1, 1, 1)}, "stride"),
    BadInput("conv-stride-float", "conv", (X2D, W2D), {"stride": 1.5}, "stride"),
    BadInput("conv-dilation-zero", "conv", (X2D, W2D), {"dilation": 0}, "dilation"),
    BadInput("conv-same-empty-spatial", "conv", (np.zeros((1, 3, 0)), _r(2, 3, 3)), {"padding": "same"}, "x.shape"),
    # dense
    BadInput("dense-feature-mismatch", "dense", (XDENSE, _r(5, 3)), {}, "w.shape"),
    BadInput("dense-x-3d", "dense", (_r(2, 4, 1), WDENSE), {}, "x.shape"),
    BadInput("dense-w-1d", "dense", (XDENSE, _r(4)), {}, "w.shape"),
    BadInput("dense-bias-shape", "dense", (XDENSE, WDENSE, np.zeros(4)), {}, "b.shape"),
    # activations (only arrays are accepted)
    BadInput("relu-not-an-array", "relu", (-1.0,), {}, "x"),
    BadInput("sigmoid-not-an-array", "sigmoid", (0.5,), {}, "x"),
    BadInput("tanh-not-an-array", "tanh", ("x",), {}, "x"),
    # pooling / upsampling
    BadInput("max_pool-size-zero", "max_pool", (X2D,), {"size": 0}, "size"),
    BadInput("max_pool-size-larger-than-input", "max_pool", (X2D,), {"size": 6}, "size"),
    BadInput("max_pool-stride-zero", "max_pool", (X2D,), {"size": 2, "stride": 0}, "stride"),
    BadInput("max_pool-x-2d", "max_pool", (_r(4, 4),), {}, "x.shape"),
    BadInput("avg_pool-size-negative", "avg_pool", (X1D,), {"size": -2}, "size"),
    BadInput("avg_pool-size-wrong-length", "avg_pool", (X2D,), {"size": (2, 2, 2)}, "size"),
    BadInput("avg_pool-x-6d", "avg_pool", (_r(1, 1, 2, 2, 2, 2),), {}, "x.shape"),
    BadInput("upsample-factor-zero", "upsample", (X2D,), {"factor": 0}, "factor"),
    BadInput("upsample-factor-float", "upsample", (X2D,), {"factor": 1.5}, "factor"),
    BadInput("upsample-factor-negative-axis", "upsample", (X2D,), {"factor": (2, -1)}, "factor"),
    BadInput("upsample-x-2d", "upsample", (_r(3, 3),), {}, "x.shape"),
    # dropout
    BadInput("dropout-keep-prob-zero", "dropout", (X2D, np.ones((2, 3))), {"keep_prob": 0.0}, "keep_prob"),
    BadInput("dropout-keep-prob-above-one", "dropout", (X2D, np.ones((2, 3))), {"keep_prob": 1.5}, "keep_prob"),
    BadInput("dropout-keep-prob-negative", "dropout", (X2D, np.ones((2, 3))), {"keep_prob": -0.1}, "keep_prob"),
    BadInput("dropout-keep-prob-nan", "dropout", (X2D, np.ones((2, 3))), {"keep_prob": float("nan")}, "keep_prob"),
    BadInput("dropout-mask-per-element", "dropout", (X2D, np.ones((2, 3, 5, 5))), {"keep_prob": 0.5}, "mask.shape"),
    BadInput("dropout-mask-transposed", "dropout", (X2D, np.ones((3, 2))), {"keep_prob": 0.5}, "mask.shape"),
    BadInput(
        "dropout-unknown-scaling",
        "dropout",
        (X2D, np.ones((2, 3))),
        {"keep_prob": 0.5, "scaling": "upscale"},
        "scaling",
    ),
    BadInput(
        "dropout-training-not-bool",
        "dropout",
        (X2D, np.ones((2, 3))),
        {"keep_prob": 0.5, "training": 1},
        "training",
    ),
    BadInput("dropout-x-1d", "dropout", (np.ones(4), np.ones((4,))), {"keep_prob": 0.5}, "x.shape"),
    BadInput("dropout_mask-keep-prob-zero", "dropout_mask", ((2, 3),), {"keep_prob": 0.0, "seed": 0}, "keep_prob"),
    BadInput("dropout_mask-shape-3d", "dropout_mask", ((2, 3, 4),), {"keep_prob": 0.5, "seed": 0}, "shape"),
    BadInput("dropout_mask-shape-negative", "dropout_mask", ((2, -1),), {"keep_prob": 0.5, "seed": 0}, "shape"),
    BadInput("dropout_mask-seed-negative", "dropout_mask", ((2, 3),), {"keep_prob": 0.5, "seed": -1}, "seed"),
    BadInput("dropout_mask-seed-float", "dropout_mask", ((2, 3),), {"keep_prob": 0.5, "seed": 1.5}, "seed"),
    # batch norm
    BadInput("batch_norm-gamma-shape", "batch_norm", (X2D, np.ones(4), np.zeros(3)), {}, "gamma.shape"),
    BadInput("batch_norm-beta-shape", "batch_norm", (X2D, C3, np.zeros((3, 1))), {}, "beta.shape"),
    BadInput("batch_norm-eps-zero", "batch_norm", (X2D, C3, C3), {"eps": 0.0}, "eps"),
    BadInput("batch_norm-eps-negative", "batch_norm", (X2D, C3, C3), {"eps": -1e-5}, "eps"),
    BadInput("batch_norm-eps-inf", "batch_norm", (X2D, C3, C3), {"eps": float("inf")}, "eps"),
    BadInput("batch_norm-empty-batch", "batch_norm", (np.zeros((0, 3, 4)), C3, C3), {}, "x.shape"),
    BadInput("batch_norm-x-1d", "batch_norm", (np.ones(3), C3, C3), {}, "x.shape"),
    BadInput("batch_norm-x-6d", "batch_norm", (_r(1, 3, 2, 2, 2, 2), C3, C3), {}, "x.shape"),
    BadInput(
        "batch_norm_eval-running-var-shape",
        "batch_norm_eval",
        (X2D, C3, C3, C3, np.ones(2)),
        {},
        "running_var.shape",
    ),
    BadInput(
        "batch_norm_eval-running-mean-shape",
        "batch_norm_eval",
        (X2D, C3, C3, np.ones(4), C3),
        {},
        "running_mean.shape",
    ),
    BadInput("batch_norm_eval-eps-zero", "batch_norm_eval", (X2D, C3, C3, C3, C3), {"eps": 0.0}, "eps"),
    BadInput("running_stats-momentum-above-one", "running_stats", (X2D, C3, C3), {"momentum": 1.1}, "momentum"),
    BadInput("running_stats-momentum-negative", "running_stats", (X2D, C3, C3), {"momentum": -0.1}, "momentum"),
    BadInput("running_stats-one-value-per-channel", "running_stats", (np.ones((1, 3)), C3, C3), {}, "x.shape"),
    BadInput("running_stats-empty-batch", "running_stats", (np.zeros((0, 3, 2)), C3, C3), {}, "x.shape"),
    BadInput("running_stats-mean-shape", "running_stats", (X2D, np.ones(2), C3), {}, "running_mean.shape"),
]



def _vjp_entries(op: str, args: tuple, kwargs: dict, out_shape: tuple, wrong_shape: tuple, bad_dtype) -> list:
    """The two cotangent entries of ``op + "_vjp"``: ``g`` of ``wrong_shape``; ``g`` of ``out_shape`` in ``bad_dtype``."""
    shape_id = "broadcasts" if all(w in (1, o) for w, o in zip(wrong_shape, out_shape, strict=True)) else "x-shaped"
    return [
        BadInput(f"{op}_vjp-g-shape-{shape_id}", f"{op}_vjp", (_r(*wrong_shape, seed=7), *args), kwargs, "g.shape"),
        BadInput(f"{op}_vjp-g-dtype-{np.dtype(bad_dtype).name}", f"{op}_vjp",
                 (np.ones(out_shape, dtype=bad_dtype), *args), kwargs, "g.dtype", raw=(0,)),
    ]


BAD_INPUTS += [
    *_vjp_entries("conv", (X1D, _r(2, 3, 3, seed=1)), {}, (2, 2, 4), (2, 2, 1), np.bool_),
    *_vjp_entries("dense", (XDENSE, WDENSE, np.zeros(5)), {}, (2, 5), (2, 1), np.int64),
    *_vjp_entries("relu", (_r(2, 3, 4),), {}, (2, 3, 4), (2, 3, 1), np.int32),
    *_vjp_entries("sigmoid", (_r(2, 3),), {}, (2, 3), (1, 3), np.complex128),
    *_vjp_entries("tanh", (_r(2, 3),), {}, (2, 3), (2, 1), np.bool_),
    *_vjp_entries("max_pool", (X2D,), {"size": 2}, (2, 3, 2, 2), (2, 3, 5, 5), np.int64),
    *_vjp_entries("avg_pool", (X1D,), {"size": 2}, (2, 3, 3), (2, 3, 6), np.complex64),
    *_vjp_entries("upsample", (X1D,), {"factor": 2}, (2, 3, 12), (2, 3, 6), np.int16),
    *_vjp_entries("dropout", (X2D, np.ones((2, 3))), {"keep_prob": 0.5}, (2, 3, 5, 5), (2, 3, 1, 1), np.bool_),
    *_vjp_entries("batch_norm", (X2D, C3, C3), {}, (2, 3, 5, 5), (1, 3, 5, 5), np.int64),
    *_vjp_entries("batch_norm_eval", (X2D, C3, C3, C3, C3), {}, (2, 3, 5, 5), (2, 3, 5, 1), np.complex128),
]


EXTREME_CASES: list[ExtremeCase] = [
    # size-1 axes and kernels as large as the input
    ExtremeCase("conv-size1-everything", "conv", (np.ones((1, 1, 1)), np.ones((1, 1, 1))), {}, (1, 1, 1)),
    ExtremeCase("conv-kernel-equals-input-valid", "conv", (_r(1, 2, 4, 3), _r(3, 2, 4, 3, seed=1)), {}, (1, 3, 1, 1)),
    ExtremeCase(
        "conv-kernel-longer-than-input-periodic",
        "conv",
        (_r(1, 1, 2), _r(1, 1, 5, seed=1)),
        {"padding": "periodic"},
        (1, 1, 2),
    ),
    ExtremeCase(
        "conv-kernel-longer-than-input-same",
        "conv",
        (_r(1, 1, 2, 2), _r(1, 1, 4, 3, seed=1)),
        {"padding": "same"},
        (1, 1, 2, 2),
    ),
    ExtremeCase("conv-stride-larger-than-input", "conv", (_r(1, 1, 3), _r(1, 1, 1, seed=1)), {"stride": 5}, (1, 1, 1)),
    ExtremeCase(
        "conv-3d-size1-spatial",
        "conv",
        (_r(1, 2, 1, 1, 1), _r(2, 2, 1, 1, 1, seed=1), np.ones(2)),
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
    ExtremeCase("max_pool-window-equals-input", "max_pool", (_r(1, 2, 3, 3),), {"size": 3}, (1, 2, 1, 1)),
    ExtremeCase("max_pool-huge", "max_pool", (_full((1, 1, 4), 1e30),), {}, (1, 1, 2)),
    ExtremeCase("avg_pool-huge-1e30", "avg_pool", (_full((1, 1, 2, 2), 1e30),), {}, (1, 1, 1, 1)),
    ExtremeCase("avg_pool-subnormal", "avg_pool", (_full((1, 1, 5), 1e-310),), {"size": 2}, (1, 1, 2)),
    ExtremeCase("upsample-factor-1", "upsample", (_r(1, 1, 1, 1),), {"factor": 1}, (1, 1, 1, 1)),
    ExtremeCase("upsample-3d-mixed", "upsample", (_r(1, 1, 1, 2, 1),), {"factor": (3, 1, 2)}, (1, 1, 3, 2, 2)),
    ExtremeCase(
        "dropout-keep-all",
        "dropout",
        (_r(2, 3, 2), np.ones((2, 3))),
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
    ExtremeCase("batch_norm-one-value-per-channel", "batch_norm", (_r(1, 3), C3, C3), {}, (1, 3)),
    ExtremeCase("batch_norm-constant-channel", "batch_norm", (np.ones((2, 3, 2)), C3, C3), {}, (2, 3, 2)),
    ExtremeCase("batch_norm-huge-1e18", "batch_norm", (_r(2, 3, 2, scale=1e18), C3, C3), {}, (2, 3, 2)),
    ExtremeCase("batch_norm-tiny-1e-30", "batch_norm", (_r(2, 3, 2, scale=1e-30), C3, C3), {}, (2, 3, 2)),
    ExtremeCase("running_stats-two-values", "running_stats", (_r(2, 3), C3, C3), {"momentum": 1.0}, (3,)),
    ExtremeCase("running_stats-momentum-zero", "running_stats", (_r(2, 3, 2), C3, C3), {"momentum": 0.0}, (3,)),
    # empty batch N = 0
    ExtremeCase("conv-empty-batch", "conv", (np.zeros((0, 3, 5)), _r(2, 3, 3)), {"padding": "same"}, (0, 2, 5)),
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
XLC = _r(2, 3, 5)
WLC = _r(4, 2, 3, 2, seed=1)  # 4 positions of kernel 2 on n = 5, C 3 -> 2
XG = _r(4, 3)
EG = np.array([[0, 1], [1, 2], [3, 0]], dtype=np.int64)
WG = _r(2, 3, seed=1)

BAD_INPUTS += [
    BadInput("locally_connected-w-rank", "locally_connected", (XLC, _r(2, 3, 2)), {}, "w.shape"),
    BadInput("locally_connected-channel-mismatch", "locally_connected", (XLC, _r(4, 2, 2, 2)), {}, "w.shape"),
    BadInput("locally_connected-positions-mismatch", "locally_connected", (XLC, _r(3, 2, 3, 2)), {}, "w.shape"),
    BadInput("locally_connected-positions-ignore-stride", "locally_connected", (XLC, WLC), {"stride": 2}, "w.shape"),
    BadInput("locally_connected-kernel-larger-than-input", "locally_connected", (XLC, _r(1, 2, 3, 6)), {},
             "w.shape"),
    BadInput("locally_connected-bias-per-channel-only", "locally_connected", (XLC, WLC, np.zeros(2)), {}, "b.shape"),
    BadInput("locally_connected-stride-zero", "locally_connected", (XLC, WLC), {"stride": 0}, "stride"),
    BadInput("locally_connected-x-2d", "locally_connected", (_r(2, 3), WLC), {}, "x.shape"),
    BadInput("graph_conv-edge-index-equals-V", "graph_conv", (XG, np.array([[0, 4]], dtype=np.int64), WG), {},
             "edges"),
    BadInput("graph_conv-edge-index-negative", "graph_conv", (XG, np.array([[-1, 2]], dtype=np.int64), WG), {},
             "edges"),
    BadInput("graph_conv-edges-float", "graph_conv", (XG, EG.astype(np.float64), WG), {}, "edges.dtype"),
    BadInput("graph_conv-edges-three-columns", "graph_conv", (XG, np.zeros((3, 3), dtype=np.int64), WG), {},
             "edges.shape"),
    BadInput("graph_conv-edges-1d", "graph_conv", (XG, np.array([0, 1], dtype=np.int64), WG), {}, "edges.shape"),
    BadInput("graph_conv-x-1d", "graph_conv", (np.ones(4), EG, WG), {}, "x.shape"),
    BadInput("graph_conv-feature-mismatch", "graph_conv", (XG, EG, _r(2, 4)), {}, "w.shape"),
    BadInput("graph_conv-bias-shape", "graph_conv", (XG, EG, WG, np.zeros(3)), {}, "b.shape"),
    BadInput("graph_conv-unknown-normalize", "graph_conv", (XG, EG, WG), {"normalize": "sum"}, "normalize"),
    BadInput("graph_conv-self-loops-not-bool", "graph_conv", (XG, EG, WG), {"self_loops": 1}, "self_loops"),
    *_vjp_entries("locally_connected", (XLC, WLC), {}, (2, 2, 4), (2, 2, 1), np.bool_),
    *_vjp_entries("graph_conv", (XG, EG, WG), {}, (4, 2), (4, 1), np.int64),
]

EXTREME_CASES += [
    ExtremeCase("locally_connected-kernel-equals-input", "locally_connected",
                (_r(1, 2, 3, 3), _r(1, 1, 2, 2, 3, 3, seed=1), np.ones((2, 1, 1))), {}, (1, 2, 1, 1)),
    ExtremeCase("locally_connected-stride-larger-than-input", "locally_connected", (_r(1, 1, 3), _r(1, 1, 1, 1)),
                {"stride": 5}, (1, 1, 1)),
    ExtremeCase("locally_connected-empty-batch", "locally_connected", (np.zeros((0, 3, 5)), WLC), {}, (0, 2, 4)),
    ExtremeCase("locally_connected-huge-1e30", "locally_connected",
                (_full((1, 1, 4), 1e30), _full((3, 1, 1, 2), 0.5)), {}, (1, 1, 3)),
    ExtremeCase("graph_conv-no-edges-no-self-loops", "graph_conv", (XG, np.zeros((0, 2), dtype=np.int64), WG,
                                                                     np.ones(2)), {"self_loops": False}, (4, 2)),
    ExtremeCase("graph_conv-single-node", "graph_conv", (_r(1, 3), np.array([[0, 0]], dtype=np.int64), WG), {},
                (1, 2)),
    ExtremeCase("graph_conv-empty-graph", "graph_conv", (np.zeros((0, 3)), np.zeros((0, 2), dtype=np.int64), WG),
                {}, (0, 2)),
    ExtremeCase("graph_conv-huge-1e30", "graph_conv", (_full((2, 3), 1e30), np.array([[0, 1], [1, 0]],
                                                                                      dtype=np.int64),
                                                       _full((2, 3), 0.25)), {"normalize": "none"}, (2, 2)),
]
