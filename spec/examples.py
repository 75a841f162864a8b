"""The lecture's worked examples (and a few hand-computed examples of spec's decisions) as data.

Every ``expected`` value is either printed in the lecture or computed BY HAND in the comment next
to it; none comes from running spec.  All values are small integers or dyadic fractions, so every
backend in float32 or float64 must reproduce them EXACTLY (``np.array_equal``), except entries whose
``check`` is ``"shape"``.

Arrays use the op's layout: (N, C, *spatial) for conv / pooling / dropout / batch norm, kernels
(C_out, C_in, *k), (N, F) for dense.  ``args`` are numpy float64 arrays, int64 index arrays (graph
edges) or scalars; ``kwargs`` are
the op's keyword arguments.  ``op`` names a forward op of the spec table (the output is one array).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["WorkedExample", "WORKED_EXAMPLES", "get_example"]


@dataclass(frozen=True)
class WorkedExample:
    id: str
    slide: str
    """Title of the lecture slide the example comes from (or says it is a spec decision)."""
    description: str
    op: str
    args: tuple
    kwargs: dict = field(default_factory=dict)
    expected: np.ndarray | None = None
    """What the op must return, in the op's output layout."""
    printed: np.ndarray | None = None
    """What the slide prints when that differs from ``expected`` (see the erratum in ``note``), else None."""
    note: str = ""
    check: str = "values"
    """``"values"``: exact equality with ``expected``; ``"shape"``: only ``expected.shape`` is checked."""


def _a(values, shape=None):
    arr = np.array(values, dtype=np.float64)
    return arr if shape is None else arr.reshape(shape)


# The lecture's 1-D signal (later frames; the first frame has x_4 = +4, erratum E01) and kernel.
X1 = _a([1, 2, -3, 0, -4, -1, 2], (1, 1, 7))
K1 = _a([-1, 0, 1], (1, 1, 3))

# The transcribed 9 x 6 image of "Images: 2D convolution" and the Sobel-type kernel.
ROW_A = [1, 1, 1, 1, 0, 0]
ROW_B = [1, 1, 0, 0, 0, 0]
ROW_0 = [0, 0, 0, 0, 0, 0]
X2 = _a([ROW_A] * 3 + [ROW_B] * 5 + [ROW_0], (1, 1, 9, 6))
X2_IMPLIED = _a([ROW_A] * 3 + [ROW_B] * 4 + [ROW_0], (1, 1, 8, 6))
K2 = _a([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], (1, 1, 3, 3))
# By hand: with the kernel's row weights (1, 2, 1), y[i, j] = D[i, j] + 2 D[i+1, j] + D[i+2, j] where
# D[r, j] = x[r, j+2] - x[r, j].  Row A gives D = [0 0 -1 -1], row B gives [-1 -1 0 0], the zero row 0.
#   i=0 rows AAA: 4A      = [ 0  0 -4 -4]
#   i=1 rows AAB: 3A + B  = [-1 -1 -3 -3]
#   i=2 rows ABB: A + 3B  = [-3 -3 -1 -1]
#   i=3,4,5 rows BBB: 4B  = [-4 -4  0  0]
#   i=6 rows BB0: 3B      = [-3 -3  0  0]
EDGE_VALID = _a(
    [
        [0, 0, -4, -4],
        [-1, -1, -3, -3],
        [-3, -3, -1, -1],
        [-4, -4, 0, 0],
        [-4, -4, 0, 0],
        [-4, -4, 0, 0],
        [-3, -3, 0, 0],
    ],
    (1, 1, 7, 4),
)
# The slide's last frame prints 6 rows (only two 4B rows): the result for rows AAA BBBB 0 (8 rows).
EDGE_PRINTED = _a(
    [[0, 0, -4, -4], [-1, -1, -3, -3], [-3, -3, -1, -1], [-4, -4, 0, 0], [-4, -4, 0, 0], [-3, -3, 0, 0]],
    (1, 1, 6, 4),
)

# 320 x 240 x 3 image of ones (channels first here) and a 3 x 3 x 3 kernel of ones, 'same' padding.
# By hand: each output sums 3 channels x the taps that land inside the image:
# interior 3 * 9 = 27, edge (not corner) 3 * 6 = 18, corner 3 * 4 = 12.
CH_Y = np.full((1, 1, 320, 240), 27.0)
CH_Y[:, :, 0, :] = CH_Y[:, :, -1, :] = CH_Y[:, :, :, 0] = CH_Y[:, :, :, -1] = 18.0
CH_Y[:, :, 0, 0] = CH_Y[:, :, 0, -1] = CH_Y[:, :, -1, 0] = CH_Y[:, :, -1, -1] = 12.0

# Pooling loses information: a 4 x 4 image, 2 x 2 max pooling, then 2x nearest upsampling.
XP = _a([[1, 2, 0, 0], [3, 4, 0, 1], [5, 5, 2, 2], [5, 6, 2, 2]], (1, 1, 4, 4))
# By hand, windows (row-major): TL {1,2,3,4} max 4, TR {0,0,0,1} max 1,
# BL {5,5,5,6} max 6, BR {2,2,2,2} max 2.
XP_MAX = _a([[4, 1], [6, 2]], (1, 1, 2, 2))
# Means: TL 10/4 = 2.5, TR 1/4 = 0.25, BL 21/4 = 5.25, BR 8/4 = 2.
XP_AVG = _a([[2.5, 0.25], [5.25, 2]], (1, 1, 2, 2))
# Upsampling [[4, 1], [6, 2]] by 2 repeats every value into a 2 x 2 block; only the constant BR block
# of the original survives: downsample + upsample != original.
XP_UP = _a([[4, 4, 1, 1], [4, 4, 1, 1], [6, 6, 2, 2], [6, 6, 2, 2]], (1, 1, 4, 4))

# Dropout x -> Z sigma(W x + b), sigma = relu, two samples, three neurons.
XD = _a([[3, 1], [1, -2]])
WD = _a([[1, -1], [2, 0], [0, 1]])
BD = _a([0, -1, -2])
# By hand: sample 0: [1*3 - 1*1 + 0, 2*3 + 0*1 - 1, 0*3 + 1*1 - 2] = [2, 5, -1]
#          sample 1: [1*1 - 1*(-2) + 0, 2*1 + 0 - 1, 0 + 1*(-2) - 2] = [3, 1, -4]
DENSE_OUT = _a([[2, 5, -1], [3, 1, -4]])
RELU_OUT = _a([[2, 5, 0], [3, 1, 0]])
MASK_D = _a([[1, 0, 1], [0, 1, 1]])
# Z relu(...): [2*1, 5*0, 0*1] = [2, 0, 0]; [3*0, 1*1, 0*1] = [0, 1, 0].
DROP_NONE = _a([[2, 0, 0], [0, 1, 0]])
DROP_INVERTED = _a([[4, 0, 0], [0, 2, 0]])  # divided by keep_prob = 0.5

# Batch norm, x (N=2, C=2, L=2), eps = 1 (so var + eps = 4 is a perfect square and all is exact).
XB = _a([[[4, 0], [7, 11]], [[0, 0], [11, 11]]])
GAMMA = _a([2, 0.5])
BETA = _a([-1, 3])
# By hand, channel 0 values {4, 0, 0, 0}: mean 1, deviations (3, -1, -1, -1), biased var 12/4 = 3,
#   sqrt(3 + 1) = 2, xhat (1.5, -0.5, -0.5, -0.5), 2 * xhat - 1 = (2, -2, -2, -2).
# channel 1 values {7, 11, 11, 11}: mean 10, deviations (-3, 1, 1, 1), var 3, std 2,
#   xhat (-1.5, 0.5, 0.5, 0.5), 0.5 * xhat + 3 = (2.25, 3.25, 3.25, 3.25).
BN_OUT = _a([[[2, -2], [2.25, 3.25]], [[-2, -2], [3.25, 3.25]]])

WORKED_EXAMPLES: list[WorkedExample] = [
    WorkedExample(
        "conv1d-valid",
        "Example with Valid Padding",
        "1-D kernel [-1 0 1] on [1 2 -3 0 -4 -1 2], boundary ignored",
        "conv",
        (X1, K1),
        {"padding": "valid"},
        _a([-4, -2, -1, -1, 6], (1, 1, 5)),
        note="Printed on the slide; x_4 = -4 as in all frames but the first (erratum E01).",
    ),
    WorkedExample(
        "conv1d-same",
        "Example with Zero Padding",
        "1-D kernel [-1 0 1], one zero padded on each side",
        "conv",
        (X1, K1),
        {"padding": "same"},
        _a([2, -4, -2, -1, -1, 6, 1], (1, 1, 7)),
        note="Printed on the slide (padded input [0 1 2 -3 0 -4 -1 2 0]).",
    ),
    WorkedExample(
        "conv1d-periodic",
        "Example with Periodic Padding",
        "1-D kernel [-1 0 1], input wrapped around ([2 1 2 -3 0 -4 -1 2 1])",
        "conv",
        (X1, K1),
        {"padding": "periodic"},
        _a([0, -4, -2, -1, -1, 6, 2], (1, 1, 7)),
        note="Printed on the slide; torch circular padding reproduces it.",
    ),
    WorkedExample(
        "edge-2d-valid",
        "Images: 2D convolution",
        "Edge detection: 3x3 kernel [[-1 0 1], [-2 0 2], [-1 0 1]] on the 9 x 6 image, 'valid'",
        "conv",
        (X2, K2),
        {"padding": "valid"},
        EDGE_VALID,
        printed=EDGE_PRINTED,
        note="The 9-row input gives 7 rows; the slide prints 6, which is the result for an 8-row input "
        "with one row of [1 1 0 0 0 0] fewer (erratum E03).  Expected is the computed 7 x 4.",
    ),
    WorkedExample(
        "edge-2d-printed-implied-input",
        "Images: 2D convolution",
        "The slide's printed 6 x 4 result from the 8-row input it implies (rows AAA BBBB 0)",
        "conv",
        (X2_IMPLIED, K2),
        {"padding": "valid"},
        EDGE_PRINTED,
        note="Confirms erratum E03: with four rows [1 1 0 0 0 0] the printed matrix is reproduced exactly.",
    ),
    WorkedExample(
        "channels-320x240x3",
        "Convolution with multiple channels in",
        "(320 x 240 x 3) * 3 x 3 x 3 kernel = (320 x 240 x 1): ones image, ones kernel, 'same' padding",
        "conv",
        (np.ones((1, 3, 320, 240)), np.ones((1, 3, 3, 3))),
        {"padding": "same"},
        CH_Y,
        note="The slide gives only shapes; the size is kept only with 'same' padding (erratum E08).  "
        "Values by hand: 27 inside, 18 on edges, 12 in corners.  check='values' (exact).",
    ),
    WorkedExample(
        "channels-out-bias",
        "Convolution with multiple channels out",
        "Two output channels on the 1-D signal: kernels [-1 0 1] and [1 1 1], bias [0, 10], 'valid'",
        "conv",
        (X1, _a([[[-1, 0, 1]], [[1, 1, 1]]]), _a([0, 10])),
        {"padding": "valid"},
        # channel 0: as conv1d-valid; channel 1: window sums 1+2-3=0, 2-3+0=-1, -3+0-4=-7, 0-4-1=-5,
        # -4-1+2=-3, plus 10.
        _a([[[-4, -2, -1, -1, 6], [10, 9, 3, 5, 7]]]),
        note="Channels out = distinct kernels; 'add bias to every channel'.",
    ),
    WorkedExample(
        "conv1d-even-kernel-same",
        "(spec decision) What is a discrete convolution?",
        "Even kernel [1 1] with 'same' padding: the extra zero goes at the END",
        "conv",
        (X1, _a([1, 1], (1, 1, 2))),
        {"padding": "same"},
        # pads (0, 1): y_i = x_i + x_{i+1}, x_7 = 0: [1+2, 2-3, -3+0, 0-4, -4-1, -1+2, 2+0]
        _a([3, -1, -3, -4, -5, 1, 2], (1, 1, 7)),
        note="Erratum E13 (even kernels unspecified).",
    ),
    WorkedExample(
        "conv1d-stride2",
        "(spec decision) What is a discrete convolution?",
        "Stride 2 sub-samples the stride-1 'valid' result [-4 -2 -1 -1 6] from index 0",
        "conv",
        (X1, K1),
        {"padding": "valid", "stride": 2},
        _a([-4, -1, 6], (1, 1, 3)),
        note="Erratum E14.",
    ),
    WorkedExample(
        "conv1d-dilation2",
        "(spec decision) What is a discrete convolution?",
        "Dilation 2: taps x_i, x_{i+2}, x_{i+4} with weights -1, 0, 1, 'valid'",
        "conv",
        (X1, K1),
        {"padding": "valid", "dilation": 2},
        # span 5 -> 3 outputs: -x_0 + x_4 = -1 - 4 = -5; -x_1 + x_5 = -2 - 1 = -3; -x_2 + x_6 = 3 + 2 = 5
        _a([-5, -3, 5], (1, 1, 3)),
        note="Erratum E14.",
    ),
    WorkedExample(
        "conv1d-periodic-long-kernel",
        "(spec decision) Example with Periodic Padding",
        "Periodic padding wraps more than once: 5-tap kernel [1 0 0 0 1] on [1 2 3]",
        "conv",
        (_a([1, 2, 3], (1, 1, 3)), _a([1, 0, 0, 0, 1], (1, 1, 5))),
        {"padding": "periodic"},
        # pads (2, 2): y_o = x[(o-2) mod 3] + x[(o+2) mod 3]: o=0: x1+x2 = 5, o=1: x2+x0 = 4, o=2: x0+x1 = 3
        _a([5, 4, 3], (1, 1, 3)),
        note="Index mod n; torch's circular padding refuses this case.",
    ),
    WorkedExample(
        "maxpool-2x2",
        "Example: Downsampling via Max Pooling",
        "2 x 2 max pooling, stride 2, of a 4 x 4 image (with ties in two windows)",
        "max_pool",
        (XP,),
        {"size": 2},
        XP_MAX,
        note="The slide is a picture; size/stride are spec's choice (erratum E09).",
    ),
    WorkedExample(
        "avgpool-2x2",
        "Downsampling and Upsampling",
        "2 x 2 average pooling, stride 2, of the same 4 x 4 image",
        "avg_pool",
        (XP,),
        {"size": 2},
        XP_AVG,
        note="Dyadic values, exact in every float format.",
    ),
    WorkedExample(
        "pool-upsample-loss",
        "Pooling causes loss of information",
        "Upsampling the max-pooled image by 2 (nearest): downsample + upsample != original",
        "upsample",
        (XP_MAX,),
        {"factor": 2},
        XP_UP,
        note="Compare with the original [[1 2 0 0], [3 4 0 1], [5 5 2 2], [5 6 2 2]]: only the constant "
        "bottom-right block survives.",
    ),
    WorkedExample(
        "dropout-dense-affine",
        "What is Dropout?",
        "x -> Z sigma(W x + b), step 1: W x + b for two samples, W (3 x 2)",
        "dense",
        (XD, WD, BD),
        {},
        DENSE_OUT,
    ),
    WorkedExample(
        "dropout-dense-sigma",
        "What is Dropout?",
        "x -> Z sigma(W x + b), step 2: sigma = relu",
        "relu",
        (DENSE_OUT,),
        {},
        RELU_OUT,
    ),
    WorkedExample(
        "dropout-dense-mask",
        "What is Dropout?",
        "x -> Z sigma(W x + b), step 3: Z = diag(z), z = [1 0 1] and [0 1 1], no rescaling (lecture)",
        "dropout",
        (RELU_OUT, MASK_D),
        {"keep_prob": 0.5, "scaling": "none"},
        DROP_NONE,
        note="Feedforward NN: drop neurons.  Expected training output is p * x (erratum E05).",
    ),
    WorkedExample(
        "dropout-dense-inverted",
        "What is Dropout?",
        "The same mask with inverted scaling (torch/Keras/ONNX): kept values divided by keep_prob = 0.5",
        "dropout",
        (RELU_OUT, MASK_D),
        {"keep_prob": 0.5, "scaling": "inverted"},
        DROP_INVERTED,
    ),
    WorkedExample(
        "dropout-eval",
        "What is Dropout?",
        "At evaluation, all channels are used: training=False is the identity",
        "dropout",
        (RELU_OUT, MASK_D),
        {"keep_prob": 0.5, "scaling": "inverted", "training": False},
        RELU_OUT,
    ),
    WorkedExample(
        "dropout-conv-channels",
        "What is Dropout?",
        "Convolutional NN: drop channels -- mask (1, 2) = [[0, 1]] zeroes all of channel 0",
        "dropout",
        (_a([[[1, 2, 3], [4, 5, 6]]]), _a([[0, 1]])),
        {"keep_prob": 0.5},
        _a([[[0, 0, 0], [4, 5, 6]]]),
    ),
    WorkedExample(
        "batchnorm-train",
        "Batch Normalization",
        "Per-channel batch statistics, eps = 1 so that sqrt(var + eps) = sqrt(3 + 1) = 2 exactly",
        "batch_norm",
        (XB, GAMMA, BETA),
        {"eps": 1.0},
        BN_OUT,
        note="Divides by the standard deviation sqrt(var + eps), not by the variance (erratum E04); "
        "biased variance 12/4 = 3 in both channels.",
    ),
    WorkedExample(
        "batchnorm-eval",
        "Batch Normalization",
        "Evaluation with running_mean = [1, 10], running_var = [3, 3], eps = 1: same numbers as training",
        "batch_norm_eval",
        (XB, GAMMA, BETA, _a([1, 10]), _a([3, 3])),
        {"eps": 1.0},
        BN_OUT,
        note="Erratum E12: evaluation statistics are spec's decision (running statistics).",
    ),
]

# ----------------------------------------------------------------------------------------------------------
# The lecture's two generalizations of convolution ("Downsides"): spec's definitions (errata E17, E18),
# each example computed by hand below.  Edge arrays are integer (source, target) rows.

# Locally connected 1-D: x = [1 2 -3 0 -4], kernel 2, one kernel per position, bias per position.
LC1_X = _a([1, 2, -3, 0, -4], (1, 1, 5))
LC1_W = _a([[1, 0], [0, 1], [1, 1], [-1, 2]], (4, 1, 1, 2))
LC1_B = _a([0, 1, 0, -1], (1, 4))
# By hand, windows [1 2], [2 -3], [-3 0], [0 -4]:
#   p0: 1*1 + 0*2 + 0 = 1;  p1: 0*2 + 1*(-3) + 1 = -2;  p2: 1*(-3) + 1*0 + 0 = -3;  p3: -1*0 + 2*(-4) - 1 = -9.
LC1_Y = _a([1, -2, -3, -9], (1, 1, 4))

# Locally connected 2-D: x = [[1 2 3], [4 5 6], [7 8 9]], 2 x 2 kernels, stride 1 -> 2 x 2 positions.
LC2_X = _a([[1, 2, 3], [4, 5, 6], [7, 8, 9]], (1, 1, 3, 3))
LC2_W = _a([[[[1, 0], [0, 0]], [[0, 1], [0, 0]]], [[[0, 0], [1, 0]], [[1, 1], [1, 1]]]]).reshape(2, 2, 1, 1, 2, 2)
# By hand: (0,0) window [[1 2],[4 5]] picks its top-left 1; (0,1) window [[2 3],[5 6]] picks its top-right 3;
# (1,0) window [[4 5],[7 8]] picks its bottom-left 7; (1,1) window [[5 6],[8 9]] sums to 28.
LC2_Y = _a([[1, 3], [7, 28]], (1, 1, 2, 2))

# Locally connected 1-D, stride 2, two input channels: x ch0 = [1 2 3 4 5], ch1 = [1 1 1 1 1], kernel 3,
# out = (5 - 3)//2 + 1 = 2 positions starting at 0 and 2.
LC3_X = _a([[1, 2, 3, 4, 5], [1, 1, 1, 1, 1]], (1, 2, 5))
LC3_W = _a([[[1, 0, -1], [0, 0, 0]], [[0, 0, 0], [1, 2, 3]]], (2, 1, 2, 3))
# By hand: p0 = 1*1 + 0*2 - 1*3 (ch0) + 0 (ch1) = -2;  p1 = 0 (ch0) + 1*1 + 2*1 + 3*1 (ch1 at 2, 3, 4) = 6.
LC3_Y = _a([-2, 6], (1, 1, 2))

# Graph conv, GCN rule: 4 nodes, directed edges 1 -> 0, 2 -> 0, 3 -> 0, self loops added.
G1_X = _a([[4, 0], [2, 2], [0, 4], [-2, 6]])
G1_EDGES = np.array([[1, 0], [2, 0], [3, 0]], dtype=np.int64)
G1_W = _a([[1, -1], [0, 1]])
G1_B = _a([1, 0])
# By hand: rows (1,0) (2,0) (3,0) (0,0) (1,1) (2,2) (3,3); in-degrees deg = [4, 1, 1, 1].
#   coefficients: (s, 0) for s = 1, 2, 3: 1/sqrt(1) * 1/sqrt(4) = 0.5; (0, 0): 0.5 * 0.5 = 0.25; (v, v), v > 0: 1.
#   w @ x[v]: x0 -> [4, 0], x1 -> [0, 2], x2 -> [-4, 4], x3 -> [-8, 6].
#   y0 = 0.5 [0 2] + 0.5 [-4 4] + 0.5 [-8 6] + 0.25 [4 0] + [1 0] = [-2 - 4 + 1 + 1, 1 + 2 + 3] = [-4, 6]
#   y1 = [0 2] + [1 0] = [1, 2];  y2 = [-4 4] + [1 0] = [-3, 4];  y3 = [-8 6] + [1 0] = [-7, 6].
#   Node 0 sends nothing to 1, 2, 3: edges are directed.
G1_Y = _a([[-4, 6], [1, 2], [-3, 4], [-7, 6]])

# Graph conv, mean rule, no added self loops, a duplicate row and an explicit (2, 2) row; node 1 gets no row.
G2_X = _a([[4], [8], [12]])
G2_EDGES = np.array([[0, 2], [0, 2], [1, 2], [2, 2], [2, 0]], dtype=np.int64)
# By hand: deg = [1, 0, 4]; y2 = (4 + 4 + 8 + 12) / 4 = 7 (the duplicate counts twice); y0 = 12 / 1 = 12; y1 = 0.
G2_Y = _a([[12], [0], [7]])

# Graph conv, GCN rule without self loops: the only row 0 -> 1 has deg[0] = 0 (no row targets node 0), so its
# coefficient is 0 (not 0^-1/2 = inf): both outputs are the bias 5.
G3_Y = _a([[5], [5]])

WORKED_EXAMPLES += [
    WorkedExample("locally-connected-1d", "Downsides (generalization: locally connected layers)",
                  "One kernel per output position: x = [1 2 -3 0 -4], kernel 2, bias per position",
                  "locally_connected", (LC1_X, LC1_W, LC1_B), {}, LC1_Y,
                  note="Definition is spec's (erratum E17), as Keras's LocallyConnected1D."),
    WorkedExample("locally-connected-2d", "Downsides (generalization: locally connected layers)",
                  "3 x 3 image, four different 2 x 2 kernels: each position picks its own pixel (or sums)",
                  "locally_connected", (LC2_X, LC2_W), {}, LC2_Y),
    WorkedExample("locally-connected-stride2", "Downsides (generalization: locally connected layers)",
                  "Two input channels, kernel 3, stride 2: positions start at 0 and 2",
                  "locally_connected", (LC3_X, LC3_W), {"stride": 2}, LC3_Y),
    WorkedExample("graph-conv-gcn-star", "Downsides (generalization: graph convolutions)",
                  "GCN rule on a star 1, 2, 3 -> 0 with self loops: coefficients 1/2 and 1/4, directed edges",
                  "graph_conv", (G1_X, G1_EDGES, G1_W, G1_B), {"normalize": "symmetric", "self_loops": True}, G1_Y,
                  note="Rule is spec's (erratum E18): PyTorch Geometric's GCNConv, in-degree with self loops."),
    WorkedExample("graph-conv-mean-duplicates", "Downsides (generalization: graph convolutions)",
                  "Mean over incoming rows; a duplicate edge counts twice; a node without incoming rows gets 0",
                  "graph_conv", (G2_X, G2_EDGES, _a([[1]])), {"normalize": "mean", "self_loops": False}, G2_Y),
    WorkedExample("graph-conv-zero-degree", "Downsides (generalization: graph convolutions)",
                  "GCN rule without self loops: a source of degree 0 contributes with coefficient 0",
                  "graph_conv", (_a([[3], [7]]), np.array([[0, 1]], dtype=np.int64), _a([[2]]), _a([5])),
                  {"normalize": "symmetric", "self_loops": False}, G3_Y),
]


def get_example(example_id: str) -> WorkedExample:
    for ex in WORKED_EXAMPLES:
        if ex.id == example_id:
            return ex
    raise KeyError(example_id)
