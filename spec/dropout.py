"""Reference dropout (float64, explicit loops).

Lecture, "What is Dropout?": ``z_i ~ Ber(p)`` for each channel i in the layer output,
``Z = diag(z_i)``, ``x -> Z sigma(W x + b)``; "At evaluation, all channels are used";
"Drop channels, not individual weights: Feedforward NN: drop neurons, Convolutional NN: drop channels".

Decisions (written down once, here):

* ``keep_prob`` is the lecture's p, the KEEP probability, in (0, 1].  (torch, Keras, ONNX and Flax
  take the DROP probability ``1 - p``.)
* The mask is an explicit argument (the op itself is deterministic): ``mask`` has shape (N, C), one
  entry per sample and channel (per neuron for dense-shaped x (N, F)), broadcast over the spatial
  axes, i.e. whole channels are dropped (torch ``dropout1d/2d/3d``).  The lecture draws one z_i per
  channel per epoch; pass identical rows to reproduce that.  Mask values are used as multipliers
  (normally 0.0 / 1.0 from :func:`dropout_mask`).
* ``scaling="none"`` (the lecture): ``y = x * m``.  ``scaling="inverted"`` (torch/Keras/ONNX):
  ``y = (x * m) / keep_prob``, so that the expected training output equals the evaluation output.
* ``training=False``: ``y = x`` ("At evaluation, all channels are used"), whatever the mask and the
  scaling.  NOTE: with ``scaling="none"`` the expected training output is ``p * x`` while evaluation
  gives ``x`` (see erratum E05).
"""

from __future__ import annotations

import itertools

import numpy as np

from . import validate
from .opspec import BadInput, OpSpec, const, diff, param, sample_data, vjp_bad_inputs

__all__ = ["dropout", "dropout_vjp", "dropout_mask"]


def _scale_by_mask(a, mask, keep_prob, scaling, training):
    a = np.asarray(a, dtype=np.float64)
    mask = np.asarray(mask, dtype=np.float64)
    y = np.zeros(a.shape, dtype=np.float64)
    for idx in itertools.product(*(range(s) for s in a.shape)):
        if not training:
            y[idx] = a[idx]
            continue
        v = a[idx] * mask[idx[0], idx[1]]
        if scaling == "inverted":
            v = v / keep_prob
        y[idx] = v
    return y


def dropout(x, mask, *, keep_prob, scaling="none", training=True):
    """``y = Z x``: x (N, C, *spatial) or (N, F); mask (N, C) broadcast over spatial axes.

    Returns float64 of x.shape: ``y[n, c, ...] = x[n, c, ...] * mask[n, c]`` (divided by keep_prob
    when ``scaling="inverted"``); ``y = x`` when ``training=False``.
    """
    keep_prob = validate.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
    return _scale_by_mask(x, mask, keep_prob, scaling, training)


def dropout_vjp(g, x, mask, *, keep_prob, scaling="none", training=True):
    """``(gx,)`` with ``gx = g * mask`` (``/ keep_prob`` if inverted; ``g`` in evaluation).

    The mask is not differentiable and gets no entry.
    """
    keep_prob = validate.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
    validate.check_cotangent(g, np.shape(x))
    return (_scale_by_mask(g, mask, keep_prob, scaling, training),)


def dropout_mask(shape, *, keep_prob, seed):
    """Draw the lecture's ``z ~ Ber(p)`` mask: float64 0.0/1.0 array of ``shape`` = (N, C).

    Exactly: ``u = numpy.random.default_rng(seed).random(shape)`` (one uniform in [0, 1) per entry,
    row-major) and ``mask[i] = 1.0 if u[i] < keep_prob else 0.0``, so P(z = 1) = keep_prob and
    keep_prob = 1 keeps everything.  Any backend can reproduce it bit for bit.
    """
    shape, keep_prob = validate.check_dropout_mask(shape, keep_prob=keep_prob, seed=seed)
    u = np.random.default_rng(seed).random(shape)
    mask = np.zeros(shape, dtype=np.float64)
    for idx in np.ndindex(shape):
        mask[idx] = 1.0 if u[idx] < keep_prob else 0.0
    return mask


# ---------------------------------------------------------------------------- bad inputs
# Invalid calls (each must raise ValueError naming ``param``); see spec.opspec.BadInput.
_X2D = sample_data(2, 3, 5, 5)

_DROPOUT_BAD = (
    BadInput("dropout-keep-prob-zero", "dropout", (_X2D, np.ones((2, 3))), {"keep_prob": 0.0}, "keep_prob"),
    BadInput("dropout-keep-prob-above-one", "dropout", (_X2D, np.ones((2, 3))), {"keep_prob": 1.5}, "keep_prob"),
    BadInput("dropout-keep-prob-negative", "dropout", (_X2D, np.ones((2, 3))), {"keep_prob": -0.1}, "keep_prob"),
    BadInput("dropout-keep-prob-nan", "dropout", (_X2D, np.ones((2, 3))), {"keep_prob": float("nan")},
             "keep_prob"),
    BadInput("dropout-mask-per-element", "dropout", (_X2D, np.ones((2, 3, 5, 5))), {"keep_prob": 0.5},
             "mask.shape"),
    BadInput("dropout-mask-transposed", "dropout", (_X2D, np.ones((3, 2))), {"keep_prob": 0.5}, "mask.shape"),
    BadInput("dropout-unknown-scaling", "dropout", (_X2D, np.ones((2, 3))), {"keep_prob": 0.5, "scaling": "upscale"},
             "scaling"),
    BadInput("dropout-training-not-bool", "dropout", (_X2D, np.ones((2, 3))), {"keep_prob": 0.5, "training": 1},
             "training"),
    BadInput("dropout-x-1d", "dropout", (np.ones(4), np.ones((4,))), {"keep_prob": 0.5}, "x.shape"),
    *vjp_bad_inputs("dropout", (_X2D, np.ones((2, 3))), {"keep_prob": 0.5}, (2, 3, 5, 5), (2, 3, 1, 1), np.bool_),
)
_DROPOUT_MASK_BAD = (
    BadInput("dropout_mask-keep-prob-zero", "dropout_mask", ((2, 3),), {"keep_prob": 0.0, "seed": 0}, "keep_prob"),
    BadInput("dropout_mask-shape-3d", "dropout_mask", ((2, 3, 4),), {"keep_prob": 0.5, "seed": 0}, "shape"),
    BadInput("dropout_mask-shape-negative", "dropout_mask", ((2, -1),), {"keep_prob": 0.5, "seed": 0}, "shape"),
    BadInput("dropout_mask-seed-negative", "dropout_mask", ((2, 3),), {"keep_prob": 0.5, "seed": -1}, "seed"),
    BadInput("dropout_mask-seed-float", "dropout_mask", ((2, 3),), {"keep_prob": 0.5, "seed": 1.5}, "seed"),
)

CATALOGUE = (
    OpSpec(name="dropout", forward=dropout, vjp=dropout_vjp, validator=validate.check_dropout,
           args=(diff("x"), const("mask", per_sample=True)), bad_inputs=_DROPOUT_BAD),
    OpSpec(name="dropout_mask", forward=dropout_mask, vjp=None, validator=validate.check_dropout_mask,
           args=(param("shape"),), bad_inputs=_DROPOUT_MASK_BAD),
)
