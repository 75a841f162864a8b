"""Reference pooling (downsampling) and nearest upsampling (float64, explicit loops).

Lecture: "Downsampling and Upsampling" ("Reduces/increases number of pixels at each node"),
"Example: Downsampling via Max Pooling", "Example: Upsampling", "Pooling causes loss of
information" ("downsample + upsample != original").  The examples are pictures only, so window
size, stride and the upsampling rule are spec's choices, written down here once:

* Layout x ``(N, C, *spatial)`` with 1-3 spatial axes; pooling acts on each (n, c) separately.
* ``size`` (default 2) and ``stride`` (default = size, i.e. non-overlapping) are ints or per-axis
  tuples.  Output size per axis ``(n - size)//stride + 1``: a remainder that does not fill a
  window is DROPPED (no padding, no partial windows).
* max_pool tie policy: the output is the maximum; the gradient goes to the FIRST maximum in
  row-major order of the window (the way torch routes it); other tied elements get 0.
* max_pool NaN policy: a NaN anywhere in a window makes the output NaN, and the VJP sends the
  window's gradient to the FIRST NaN in row-major window order (the NaN is "the maximum").
* Overlapping windows (stride < size) accumulate their gradients in the VJPs.
* avg_pool: the sum of the window in row-major order, divided by the number of taps.
* upsample: nearest neighbour with an integer factor per axis,
  ``y[..., i] = x[..., i // factor]`` (``np.repeat`` rule); its VJP is the block sum.
"""

from __future__ import annotations

import itertools
import math

import numpy as np

from . import validate
from .opspec import BadInput, OpSpec, diff, sample_data, vjp_bad_inputs

__all__ = ["max_pool", "max_pool_vjp", "avg_pool", "avg_pool_vjp", "upsample", "upsample_vjp"]


def _windows(out_shape, size, stride):
    """Yield (output index, list of input indices in row-major window order)."""
    for n, c, *o in itertools.product(*(range(s) for s in out_shape)):
        taps = []
        for t in itertools.product(*(range(k) for k in size)):
            taps.append((n, c, *(o[a] * stride[a] + t[a] for a in range(len(size)))))
        yield (n, c, *o), taps


def _argmax_first(x, taps):
    """Index of the first maximum in ``taps`` order; the first NaN wins over everything."""
    best = taps[0]
    if math.isnan(x[best]):
        return best
    for idx in taps[1:]:
        v = x[idx]
        if math.isnan(v):
            return idx
        if v > x[best]:  # strict: a later tie never replaces the first maximum
            best = idx
    return best


def max_pool(x, *, size=2, stride=None):
    """Max over each window.  x: (N, C, *spatial).  Returns (N, C, *out), out = (n - size)//stride + 1."""
    size, stride = validate.check_pool(x, size=size, stride=stride)
    x = np.asarray(x, dtype=np.float64)
    out_shape = validate.pool_output_shape(x.shape, size, stride)
    y = np.zeros(out_shape, dtype=np.float64)
    for oidx, taps in _windows(out_shape, size, stride):
        y[oidx] = x[_argmax_first(x, taps)]
    return y


def max_pool_vjp(g, x, *, size=2, stride=None):
    """``(gx,)``: each window's ``g`` goes to its first maximum (or first NaN); overlaps accumulate."""
    size, stride = validate.check_pool(x, size=size, stride=stride)
    out_shape = validate.pool_output_shape(tuple(np.shape(x)), size, stride)
    validate.check_cotangent(g, out_shape)
    x, g = np.asarray(x, dtype=np.float64), np.asarray(g, dtype=np.float64)
    gx = np.zeros(x.shape, dtype=np.float64)
    for oidx, taps in _windows(out_shape, size, stride):
        gx[_argmax_first(x, taps)] += g[oidx]
    return (gx,)


def avg_pool(x, *, size=2, stride=None):
    """Mean over each window.  x: (N, C, *spatial).  Returns (N, C, *out); remainder dropped."""
    size, stride = validate.check_pool(x, size=size, stride=stride)
    x = np.asarray(x, dtype=np.float64)
    out_shape = validate.pool_output_shape(x.shape, size, stride)
    count = math.prod(size)
    y = np.zeros(out_shape, dtype=np.float64)
    for oidx, taps in _windows(out_shape, size, stride):
        acc = 0.0
        for idx in taps:
            acc += x[idx]
        y[oidx] = acc / count
    return y


def avg_pool_vjp(g, x, *, size=2, stride=None):
    """``(gx,)``: every tap of a window receives ``g / (number of taps)``; overlaps accumulate."""
    size, stride = validate.check_pool(x, size=size, stride=stride)
    out_shape = validate.pool_output_shape(tuple(np.shape(x)), size, stride)
    validate.check_cotangent(g, out_shape)
    x, g = np.asarray(x, dtype=np.float64), np.asarray(g, dtype=np.float64)
    count = math.prod(size)
    gx = np.zeros(x.shape, dtype=np.float64)
    for oidx, taps in _windows(out_shape, size, stride):
        for idx in taps:
            gx[idx] += g[oidx] / count
    return (gx,)


def upsample(x, *, factor=2):
    """Nearest upsampling.  x: (N, C, *spatial).  Returns (N, C, *(n * factor)),
    ``y[n, c, i] = x[n, c, i // factor]`` per axis (the ``np.repeat`` rule)."""
    factor = validate.check_upsample(x, factor=factor)
    x = np.asarray(x, dtype=np.float64)
    out_shape = (*x.shape[:2], *(n * f for n, f in zip(x.shape[2:], factor, strict=True)))
    y = np.zeros(out_shape, dtype=np.float64)
    for n, c, *o in itertools.product(*(range(s) for s in out_shape)):
        y[(n, c, *o)] = x[(n, c, *(o[a] // factor[a] for a in range(len(factor))))]
    return y


def upsample_vjp(g, x, *, factor=2):
    """``(gx,)``: ``gx[n, c, i] = sum of g over the factor-sized block that copied x[n, c, i]``."""
    factor = validate.check_upsample(x, factor=factor)
    xs = tuple(np.shape(x))
    out_shape = (*xs[:2], *(n * f for n, f in zip(xs[2:], factor, strict=True)))
    validate.check_cotangent(g, out_shape)
    g = np.asarray(g, dtype=np.float64)
    gx = np.zeros(xs, dtype=np.float64)
    for n, c, *o in itertools.product(*(range(s) for s in out_shape)):
        gx[(n, c, *(o[a] // factor[a] for a in range(len(factor))))] += g[(n, c, *o)]
    return (gx,)


# ---------------------------------------------------------------------------- bad inputs
# Invalid calls (each must raise ValueError naming ``param``); see spec.opspec.BadInput.
_X2D = sample_data(2, 3, 5, 5)
_X1D = sample_data(2, 3, 6)

_MAX_POOL_BAD = (
    BadInput("max_pool-size-zero", "max_pool", (_X2D,), {"size": 0}, "size"),
    BadInput("max_pool-size-larger-than-input", "max_pool", (_X2D,), {"size": 6}, "size"),
    BadInput("max_pool-stride-zero", "max_pool", (_X2D,), {"size": 2, "stride": 0}, "stride"),
    BadInput("max_pool-x-2d", "max_pool", (sample_data(4, 4),), {}, "x.shape"),
    *vjp_bad_inputs("max_pool", (_X2D,), {"size": 2}, (2, 3, 2, 2), (2, 3, 5, 5), np.int64),
)
_AVG_POOL_BAD = (
    BadInput("avg_pool-size-negative", "avg_pool", (_X1D,), {"size": -2}, "size"),
    BadInput("avg_pool-size-wrong-length", "avg_pool", (_X2D,), {"size": (2, 2, 2)}, "size"),
    BadInput("avg_pool-x-6d", "avg_pool", (sample_data(1, 1, 2, 2, 2, 2),), {}, "x.shape"),
    *vjp_bad_inputs("avg_pool", (_X1D,), {"size": 2}, (2, 3, 3), (2, 3, 6), np.complex64),
)
_UPSAMPLE_BAD = (
    BadInput("upsample-factor-zero", "upsample", (_X2D,), {"factor": 0}, "factor"),
    BadInput("upsample-factor-float", "upsample", (_X2D,), {"factor": 1.5}, "factor"),
    BadInput("upsample-factor-negative-axis", "upsample", (_X2D,), {"factor": (2, -1)}, "factor"),
    BadInput("upsample-x-2d", "upsample", (sample_data(3, 3),), {}, "x.shape"),
    *vjp_bad_inputs("upsample", (_X1D,), {"factor": 2}, (2, 3, 12), (2, 3, 6), np.int16),
)

def _pool_shape(x, **kw) -> tuple:
    return validate.pool_output_shape(np.shape(x), *validate.check_pool(x, **kw))


def _upsample_shape(x, **kw) -> tuple:
    factor = validate.check_upsample(x, **kw)
    return (*np.shape(x)[:2], *(n * f for n, f in zip(np.shape(x)[2:], factor, strict=True)))


CATALOGUE = (
    OpSpec(name="max_pool", forward=max_pool, vjp=max_pool_vjp, validator=validate.check_pool, args=(diff("x"),),
           bad_inputs=_MAX_POOL_BAD, output_shape=_pool_shape),
    OpSpec(name="avg_pool", forward=avg_pool, vjp=avg_pool_vjp, validator=validate.check_pool, args=(diff("x"),),
           bad_inputs=_AVG_POOL_BAD, output_shape=_pool_shape),
    OpSpec(name="upsample", forward=upsample, vjp=upsample_vjp, validator=validate.check_upsample,
           args=(diff("x"),), bad_inputs=_UPSAMPLE_BAD, output_shape=_upsample_shape),
)
