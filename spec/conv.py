"""Reference convolution and dense layers (float64, explicit loops).

Lecture slides encoded here
---------------------------
* "What is a discrete convolution?": ``(x * k)_i = sum_{j=-n_k}^{n_k} x_{i+j} k_j``.  This is a
  CROSS-CORRELATION (the kernel is not flipped); spec follows the formula, as every deep-learning
  framework does.  Spec indexes taps from 0: ``y_o = sum_t x_{o*s + t*d - before} w_t``.
* "What to do at the boundary": 'valid' (ignore), 'same' (pad with zeros), 'periodic' (wrap).
* "Convolution with multiple channels in / out": channels in are summed, one kernel per channel
  out; "Channels in, channels out": "add bias to every channel" -> one bias per output channel.
* "A complete convolution layer": ``layer_{l+1} = sigma(layer_l * kernel_l + bias_l)``; the
  activation is a separate op (``spec.activations``).
* "What is Dropout?": ``x -> Z sigma(W x + b)``; ``W x + b`` is :func:`dense`.

Semantic decisions (written down once, here; collected in ``spec.errata.DECISIONS``)
-----------------------------------------------------------------------------------
* Layout: x ``(N, C_in, *spatial)`` with 1, 2 or 3 spatial axes; w ``(C_out, C_in, *k)``;
  b ``(C_out,)``; y ``(N, C_out, *out)``.
* Padding per axis: ``before = d*(k-1)//2``, ``after = d*(k-1) - before`` (``validate.same_pads``):
  for an EVEN kernel the extra pad goes at the END (torch 'same', TF 'SAME', ONNX SAME_UPPER).
* 'same': a padded position holds the value 0.0 and is multiplied like any other tap
  (so ``0 * inf = nan`` exactly as with an explicitly zero-padded array).
* 'periodic': input index taken mod n, so a kernel (or dilated span) longer than the input wraps
  more than once.
* Stride s sub-samples the stride-1 output starting at index 0; dilation d spaces the taps.
  Output size ``(n + before + after - span)//s + 1`` with ``span = d*(k-1) + 1``
  (``validate.conv_output_shape``).
* Summation order: for each output position, input channels in order, taps in row-major order,
  accumulated left to right from 0.0; the bias is added last.
"""

from __future__ import annotations

import itertools

import numpy as np

from . import validate
from .opspec import BadInput, OpSpec, diff, sample_data, vjp_bad_inputs

__all__ = ["conv", "conv_vjp", "dense", "dense_vjp"]


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _tap_index(o, t, stride, dilation, pads, sizes, padding):
    """Input index for output position ``o`` and kernel tap ``t`` (tuples per spatial axis).

    Returns None when the tap falls on a zero pad ('same').
    """
    idx = []
    for axis in range(len(o)):
        pos = o[axis] * stride[axis] + t[axis] * dilation[axis] - pads[axis][0]
        n = sizes[axis]
        if padding == "periodic":
            pos %= n
        elif not 0 <= pos < n:
            return None
        idx.append(pos)
    return tuple(idx)


def conv(x, w, b=None, *, padding="valid", stride=1, dilation=1):
    """Multi-channel N-d cross-correlation with optional bias.

    x: (N, C_in, *spatial), 1-3 spatial axes.  w: (C_out, C_in, *k).  b: (C_out,) or None.
    padding: 'valid' | 'same' (zeros) | 'periodic' (wrap).  stride, dilation: int or per-axis tuple.
    Returns y: (N, C_out, *out) float64 with
    ``y[n, co, o] = sum_ci sum_t x_pad[n, ci, o*s + t*d] * w[co, ci, t] + b[co]``
    (slide "What is a discrete convolution?", "Convolution with multiple channels in/out").
    """
    stride, dilation, pads = validate.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
    x, w = _f64(x), _f64(w)
    b = None if b is None else _f64(b)
    out_shape = validate.conv_output_shape(
        x.shape, w.shape, padding=padding, stride=stride, dilation=dilation
    )
    c_in, sizes, ksizes = x.shape[1], x.shape[2:], w.shape[2:]
    y = np.zeros(out_shape, dtype=np.float64)
    for n, co, *o in itertools.product(*(range(s) for s in out_shape)):
        acc = 0.0
        for ci in range(c_in):
            for t in itertools.product(*(range(k) for k in ksizes)):
                idx = _tap_index(o, t, stride, dilation, pads, sizes, padding)
                xv = 0.0 if idx is None else x[(n, ci, *idx)]
                acc += xv * w[(co, ci, *t)]
        if b is not None:
            acc += b[co]
        y[(n, co, *o)] = acc
    return y


def conv_vjp(g, x, w, b=None, *, padding="valid", stride=1, dilation=1):
    """Vector-Jacobian product of :func:`conv`: returns ``(gx, gw)`` or ``(gx, gw, gb)`` when b is given.

    g: cotangent of shape ``conv(x, w, b, ...).shape``.  gx: x.shape, gw: w.shape, gb: (C_out,).
    The adjoint scatter of the forward loop: every product ``x[idx] * w[co, ci, t]`` that fed
    ``y[n, co, o]`` sends ``g[n, co, o] * w[co, ci, t]`` to ``gx[idx]`` (a periodic index that
    wraps several times accumulates) and ``g[n, co, o] * x[idx]`` to ``gw[co, ci, t]``; zero pads
    receive nothing; ``gb[co] = sum_{n, o} g[n, co, o]``.
    """
    stride, dilation, pads = validate.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
    out_shape = validate.conv_output_shape(
        x.shape, w.shape, padding=padding, stride=stride, dilation=dilation
    )
    validate.check_cotangent(g, out_shape)
    g, x, w = _f64(g), _f64(x), _f64(w)
    c_in, sizes, ksizes = x.shape[1], x.shape[2:], w.shape[2:]
    gx = np.zeros(x.shape, dtype=np.float64)
    gw = np.zeros(w.shape, dtype=np.float64)
    gb = np.zeros(out_shape[1], dtype=np.float64)
    for n, co, *o in itertools.product(*(range(s) for s in out_shape)):
        gv = g[(n, co, *o)]
        gb[co] += gv
        for ci in range(c_in):
            for t in itertools.product(*(range(k) for k in ksizes)):
                idx = _tap_index(o, t, stride, dilation, pads, sizes, padding)
                if idx is None:  # zero pad: x_pad is the constant 0, no gradient to x
                    gw[(co, ci, *t)] += gv * 0.0
                    continue
                gx[(n, ci, *idx)] += gv * w[(co, ci, *t)]
                gw[(co, ci, *t)] += gv * x[(n, ci, *idx)]
    return (gx, gw) if b is None else (gx, gw, gb)


def dense(x, w, b=None):
    """Fully connected layer ``y = x W^T + b`` (slide "What is Dropout?": ``W x + b``, one sample per row).

    x: (N, F_in).  w: (F_out, F_in).  b: (F_out,) or None.  Returns y: (N, F_out) float64 with
    ``y[n, f] = sum_i w[f, i] * x[n, i] + b[f]`` (sum over i in order, bias last).
    """
    validate.check_dense(x, w, b)
    x, w = _f64(x), _f64(w)
    b = None if b is None else _f64(b)
    n_batch, f_in = x.shape
    f_out = w.shape[0]
    y = np.zeros((n_batch, f_out), dtype=np.float64)
    for n in range(n_batch):
        for f in range(f_out):
            acc = 0.0
            for i in range(f_in):
                acc += w[f, i] * x[n, i]
            if b is not None:
                acc += b[f]
            y[n, f] = acc
    return y


def dense_vjp(g, x, w, b=None):
    """VJP of :func:`dense`: ``(gx, gw)`` or ``(gx, gw, gb)``.

    g: (N, F_out).  ``gx[n, i] = sum_f g[n, f] w[f, i]``, ``gw[f, i] = sum_n g[n, f] x[n, i]``,
    ``gb[f] = sum_n g[n, f]``.
    """
    validate.check_dense(x, w, b)
    validate.check_cotangent(g, (x.shape[0], w.shape[0]))
    g, x, w = _f64(g), _f64(x), _f64(w)
    n_batch, f_in = x.shape
    f_out = w.shape[0]
    gx = np.zeros(x.shape, dtype=np.float64)
    gw = np.zeros(w.shape, dtype=np.float64)
    gb = np.zeros(f_out, dtype=np.float64)
    for n in range(n_batch):
        for f in range(f_out):
            gv = g[n, f]
            gb[f] += gv
            for i in range(f_in):
                gx[n, i] += gv * w[f, i]
                gw[f, i] += gv * x[n, i]
    return (gx, gw) if b is None else (gx, gw, gb)


# ---------------------------------------------------------------------------- bad inputs
# Invalid calls (each must raise ValueError naming ``param``); see spec.opspec.BadInput.
_X2D = sample_data(2, 3, 5, 5)
_W2D = sample_data(4, 3, 3, 3, seed=1)
_X1D = sample_data(2, 3, 6)
_XDENSE = sample_data(2, 4)
_WDENSE = sample_data(5, 4, seed=1)

_CONV_BAD = (
    BadInput("conv-channel-mismatch", "conv", (_X2D, sample_data(4, 2, 3, 3)), {}, "w.shape"),
    BadInput("conv-kernel-rank", "conv", (_X2D, sample_data(4, 3, 3)), {}, "w.shape"),
    BadInput("conv-kernel-larger-than-input-valid", "conv", (_X2D, sample_data(4, 3, 6, 3)), {"padding": "valid"},
             "w.shape"),
    BadInput("conv-dilated-span-larger-than-input", "conv", (_X1D, sample_data(2, 3, 3)), {"dilation": 3},
             "w.shape"),
    BadInput("conv-zero-kernel-axis", "conv", (_X1D, np.zeros((2, 3, 0))), {"padding": "same"}, "w.shape"),
    BadInput("conv-x-2d", "conv", (sample_data(2, 3), _W2D), {}, "x.shape"),
    BadInput("conv-x-6d", "conv", (sample_data(1, 1, 2, 2, 2, 2), sample_data(1, 1, 1, 1, 1, 1)), {}, "x.shape"),
    BadInput("conv-bias-shape", "conv", (_X2D, _W2D, np.zeros(3)), {}, "b.shape"),
    BadInput("conv-bias-2d", "conv", (_X2D, _W2D, np.zeros((4, 1))), {}, "b.shape"),
    BadInput("conv-unknown-padding", "conv", (_X2D, _W2D), {"padding": "reflect"}, "padding"),
    BadInput("conv-padding-uppercase", "conv", (_X2D, _W2D), {"padding": "SAME"}, "padding"),
    BadInput("conv-stride-zero", "conv", (_X2D, _W2D), {"stride": 0}, "stride"),
    BadInput("conv-stride-negative-axis", "conv", (_X2D, _W2D), {"stride": (1, -1)}, "stride"),
    BadInput("conv-stride-wrong-length", "conv", (_X2D, _W2D), {"stride": (1, 1, 1)}, "stride"),
    BadInput("conv-stride-float", "conv", (_X2D, _W2D), {"stride": 1.5}, "stride"),
    BadInput("conv-dilation-zero", "conv", (_X2D, _W2D), {"dilation": 0}, "dilation"),
    BadInput("conv-same-empty-spatial", "conv", (np.zeros((1, 3, 0)), sample_data(2, 3, 3)), {"padding": "same"},
             "x.shape"),
    *vjp_bad_inputs("conv", (_X1D, sample_data(2, 3, 3, seed=1)), {}, (2, 2, 4), (2, 2, 1), np.bool_),
)
_DENSE_BAD = (
    BadInput("dense-feature-mismatch", "dense", (_XDENSE, sample_data(5, 3)), {}, "w.shape"),
    BadInput("dense-x-3d", "dense", (sample_data(2, 4, 1), _WDENSE), {}, "x.shape"),
    BadInput("dense-w-1d", "dense", (_XDENSE, sample_data(4)), {}, "w.shape"),
    BadInput("dense-bias-shape", "dense", (_XDENSE, _WDENSE, np.zeros(4)), {}, "b.shape"),
    *vjp_bad_inputs("dense", (_XDENSE, _WDENSE, np.zeros(5)), {}, (2, 5), (2, 1), np.int64),
)

CATALOGUE = (
    OpSpec(name="conv", forward=conv, vjp=conv_vjp, validator=validate.check_conv,
           args=(diff("x"), diff("w"), diff("b", optional=True)), bad_inputs=_CONV_BAD,
           output_shape=lambda x, w, b=None, **kw: validate.conv_output_shape(np.shape(x), np.shape(w), **kw)),
    OpSpec(name="dense", forward=dense, vjp=dense_vjp, validator=validate.check_dense,
           args=(diff("x"), diff("w"), diff("b", optional=True)), bad_inputs=_DENSE_BAD,
           output_shape=lambda x, w, b=None: (np.shape(x)[0], np.shape(w)[0])),
)
