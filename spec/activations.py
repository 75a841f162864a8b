"""Reference element-wise activations (float64, explicit loops).

Lecture: "A complete convolution layer": ``layer_{l+1} = sigma(layer_l * kernel_l + bias_l)`` and
"Channels in, channels out": "apply sigma to each pixel".  The lecture leaves sigma open; spec
provides relu, sigmoid and tanh.  Any shape is accepted (the op is applied to every element).

Decisions: relu'(0) = 0 (the sub-gradient every framework uses).  A NaN input gives a NaN output
AND a NaN gradient for all three activations (the derivative at NaN is undefined; for sigmoid and
tanh this is what ``g*s*(1-s)`` / ``g*(1-t^2)`` give anyway, and relu is made to agree).
"""

from __future__ import annotations

import math

import numpy as np

from . import validate
from .opspec import BadInput, OpSpec, diff, sample_data, vjp_bad_inputs

__all__ = ["relu", "relu_vjp", "sigmoid", "sigmoid_vjp", "tanh", "tanh_vjp"]


def _map(fn, x):
    x = np.asarray(x, dtype=np.float64)
    y = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        y[idx] = fn(float(x[idx]))
    return y


def _map2(fn, g, x):
    g, x = np.asarray(g, dtype=np.float64), np.asarray(x, dtype=np.float64)
    gx = np.zeros(x.shape, dtype=np.float64)
    for idx in np.ndindex(x.shape):
        gx[idx] = fn(float(g[idx]), float(x[idx]))
    return gx


def _relu(v: float) -> float:
    if math.isnan(v):
        return v
    return v if v > 0.0 else 0.0


def _sigmoid(v: float) -> float:
    # 1 / (1 + e^{-v}) in the form that never overflows e^{...}
    if v >= 0.0:
        return 1.0 / (1.0 + math.exp(-v))
    e = math.exp(v)  # also the NaN path: exp(nan) = nan
    return e / (1.0 + e)


def relu(x):
    """``max(x, 0)`` element-wise.  x: any shape; returns float64 of x.shape.  relu(NaN) = NaN."""
    validate.check_elementwise(x)
    return _map(_relu, x)


def relu_vjp(g, x):
    """``(gx,)`` with ``gx = g`` where x > 0, ``0`` where x <= 0 (relu'(0) = 0), NaN where x is NaN."""
    validate.check_elementwise(x)
    validate.check_cotangent(g, np.shape(x))

    def d(gv, xv):
        if math.isnan(xv):
            return math.nan
        return gv if xv > 0.0 else 0.0

    return (_map2(d, g, x),)


def sigmoid(x):
    """Logistic ``s = 1 / (1 + exp(-x))`` element-wise.  x: any shape; returns float64 of x.shape."""
    validate.check_elementwise(x)
    return _map(_sigmoid, x)


def sigmoid_vjp(g, x):
    """``(gx,)`` with ``gx = g * s * (1 - s)``, ``s = sigmoid(x)``."""
    validate.check_elementwise(x)
    validate.check_cotangent(g, np.shape(x))

    def d(gv, xv):
        s = _sigmoid(xv)
        return gv * s * (1.0 - s)

    return (_map2(d, g, x),)


def tanh(x):
    """Hyperbolic tangent element-wise.  x: any shape; returns float64 of x.shape."""
    validate.check_elementwise(x)
    return _map(math.tanh, x)


def tanh_vjp(g, x):
    """``(gx,)`` with ``gx = g * (1 - t^2)``, ``t = tanh(x)``."""
    validate.check_elementwise(x)
    validate.check_cotangent(g, np.shape(x))

    def d(gv, xv):
        t = math.tanh(xv)
        return gv * (1.0 - t * t)

    return (_map2(d, g, x),)


# ---------------------------------------------------------------------------- bad inputs
# Invalid calls (each must raise ValueError naming ``param``); see spec.opspec.BadInput.
# Only arrays are accepted.
_RELU_BAD = (
    BadInput("relu-not-an-array", "relu", (-1.0,), {}, "x"),
    *vjp_bad_inputs("relu", (sample_data(2, 3, 4),), {}, (2, 3, 4), (2, 3, 1), np.int32),
)
_SIGMOID_BAD = (
    BadInput("sigmoid-not-an-array", "sigmoid", (0.5,), {}, "x"),
    *vjp_bad_inputs("sigmoid", (sample_data(2, 3),), {}, (2, 3), (1, 3), np.complex128),
)
_TANH_BAD = (
    BadInput("tanh-not-an-array", "tanh", ("x",), {}, "x"),
    *vjp_bad_inputs("tanh", (sample_data(2, 3),), {}, (2, 3), (2, 1), np.bool_),
)

CATALOGUE = tuple(
    OpSpec(name=fn.__name__, forward=fn, vjp=vjp, validator=validate.check_elementwise, args=(diff("x"),),
           bad_inputs=bad)
    for fn, vjp, bad in ((relu, relu_vjp, _RELU_BAD), (sigmoid, sigmoid_vjp, _SIGMOID_BAD),
                         (tanh, tanh_vjp, _TANH_BAD))
)
