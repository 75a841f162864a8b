"""Reference locally connected layer (float64, explicit loops): convolution without weight sharing.

Lecture: "Downsides" of convolution, "generalization: locally connected layers" (named only; the
definition is spec's, erratum E17).  spec follows Keras's LocallyConnected1D/2D layers:

* Layout x ``(N, C_in, *n)`` with 1, 2 or 3 spatial axes; w ``(*out, C_out, C_in, *k)``, ONE kernel
  per output position; b ``(C_out, *out)`` (one bias per output channel AND position) or None;
  y ``(N, C_out, *out)``.
* 'valid' windows only (no padding), stride s per axis: ``out = (n - k)//s + 1``
  (``validate.check_locally_connected``).
* ``y[i, o, p] = sum_c sum_j w[p, o, c, j] * x[i, c, p*s + j] + b[o, p]``; the sum runs over input
  channels in order, taps in row-major order, from 0.0, bias last (as spec's conv).
* With every position's kernel equal to one conv kernel it IS conv(padding='valid', stride=s).
"""

from __future__ import annotations

import itertools

import numpy as np

from . import validate
from .opspec import BadInput, OpSpec, diff, sample_data, vjp_bad_inputs

__all__ = ["locally_connected", "locally_connected_vjp"]


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _terms(x, w, stride, out):
    """Yield ``(y_index, x_index, w_index)`` for every product of the forward sum, in summation order."""
    nd = x.ndim - 2
    c_in, ks = x.shape[1], w.shape[nd + 2:]
    for i, o, *p in itertools.product(range(x.shape[0]), range(w.shape[nd]), *(range(s) for s in out)):
        for c in range(c_in):
            for j in itertools.product(*(range(k) for k in ks)):
                pos = tuple(p[a] * stride[a] + j[a] for a in range(nd))
                yield (i, o, *p), (i, c, *pos), (*p, o, c, *j)


def locally_connected(x, w, b=None, *, stride=1):
    """Locally connected layer: a 'valid' strided convolution whose kernel differs per output position.

    x: (N, C_in, *n).  w: (*out, C_out, C_in, *k).  b: (C_out, *out) or None.  Returns (N, C_out, *out)
    float64 with ``y[i, o, p] = sum_{c, j} w[p, o, c, j] x[i, c, p*stride + j] + b[o, p]``.
    """
    stride, out = validate.check_locally_connected(x, w, b, stride=stride)
    x, w = _f64(x), _f64(w)
    b = None if b is None else _f64(b)
    nd = x.ndim - 2
    y = np.zeros((x.shape[0], w.shape[nd], *out), dtype=np.float64)
    for yi, xi, wi in _terms(x, w, stride, out):
        y[yi] += w[wi] * x[xi]
    if b is not None:
        for yi in np.ndindex(y.shape):
            y[yi] += b[yi[1:]]
    return y


def locally_connected_vjp(g, x, w, b=None, *, stride=1):
    """VJP of :func:`locally_connected`: ``(gx, gw)`` or ``(gx, gw, gb)`` when b is given.

    Every product ``w[p, o, c, j] x[i, c, p*s + j]`` that fed ``y[i, o, p]`` sends
    ``g[i, o, p] w[p, o, c, j]`` to ``gx[i, c, p*s + j]`` (overlapping windows accumulate) and
    ``g[i, o, p] x[i, c, p*s + j]`` to ``gw[p, o, c, j]``; ``gb[o, p] = sum_i g[i, o, p]``.
    """
    stride, out = validate.check_locally_connected(x, w, b, stride=stride)
    nd = len(x.shape) - 2
    validate.check_cotangent(g, (x.shape[0], w.shape[nd], *out))
    g, x, w = _f64(g), _f64(x), _f64(w)
    gx, gw = np.zeros(x.shape), np.zeros(w.shape)
    for yi, xi, wi in _terms(x, w, stride, out):
        gx[xi] += g[yi] * w[wi]
        gw[wi] += g[yi] * x[xi]
    if b is None:
        return gx, gw
    gb = np.zeros(b.shape)
    for yi in np.ndindex(g.shape):
        gb[yi[1:]] += g[yi]
    return gx, gw, gb


# ---------------------------------------------------------------------------- bad inputs
# Invalid calls (each must raise ValueError naming ``param``); see spec.opspec.BadInput.
_XLC = sample_data(2, 3, 5)
_WLC = sample_data(4, 2, 3, 2, seed=1)  # 4 positions of kernel 2 on n = 5, C 3 -> 2

_LOCALLY_CONNECTED_BAD = (
    BadInput("locally_connected-w-rank", "locally_connected", (_XLC, sample_data(2, 3, 2)), {}, "w.shape"),
    BadInput("locally_connected-channel-mismatch", "locally_connected", (_XLC, sample_data(4, 2, 2, 2)), {},
             "w.shape"),
    BadInput("locally_connected-positions-mismatch", "locally_connected", (_XLC, sample_data(3, 2, 3, 2)), {},
             "w.shape"),
    BadInput("locally_connected-positions-ignore-stride", "locally_connected", (_XLC, _WLC), {"stride": 2},
             "w.shape"),
    BadInput("locally_connected-kernel-larger-than-input", "locally_connected", (_XLC, sample_data(1, 2, 3, 6)), {},
             "w.shape"),
    BadInput("locally_connected-bias-per-channel-only", "locally_connected", (_XLC, _WLC, np.zeros(2)), {},
             "b.shape"),
    BadInput("locally_connected-stride-zero", "locally_connected", (_XLC, _WLC), {"stride": 0}, "stride"),
    BadInput("locally_connected-x-2d", "locally_connected", (sample_data(2, 3), _WLC), {}, "x.shape"),
    *vjp_bad_inputs("locally_connected", (_XLC, _WLC), {}, (2, 2, 4), (2, 2, 1), np.bool_),
)

def _output_shape(x, w, b=None, **kw) -> tuple:
    _, out = validate.check_locally_connected(x, w, b, **kw)
    return (np.shape(x)[0], np.shape(w)[np.ndim(x) - 2], *out)


CATALOGUE = (
    OpSpec(name="locally_connected", forward=locally_connected, vjp=locally_connected_vjp,
           validator=validate.check_locally_connected, args=(diff("x"), diff("w"), diff("b", optional=True)),
           bad_inputs=_LOCALLY_CONNECTED_BAD, output_shape=_output_shape),
)
