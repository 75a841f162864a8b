"""Reference graph convolution (float64, explicit loops): convolution for data without a grid.

Lecture: "Downsides" of convolution, "Requires a grid - generalization: graph convolutions" (named
only; the rule is spec's, erratum E18).  spec follows the GCN rule of Kipf & Welling as PyTorch
Geometric's ``GCNConv`` computes it, with two more normalizations:

* x ``(V, F_in)``: one feature row per node; w ``(F_out, F_in)``; b ``(F_out,)`` or None;
  y ``(V, F_out)``.
* edges ``(E, 2)``: an INTEGER array of ``(source, target)`` rows with indices in ``[0, V)``.  Edges are
  DIRECTED: a row sends its source's features to its target only (an undirected graph lists both
  directions).  Duplicate rows are counted as often as they appear.
* ``self_loops=True`` appends one row ``(v, v)`` for every node v, after the given rows (on top of any
  ``(v, v)`` rows already given, which are kept).
* Degree: ``deg[v]`` = the number of rows (self loops included) whose TARGET is v (the in-degree).
* Coefficient of a row ``(s, t)``: ``deg[s]^-1/2 * deg[t]^-1/2`` for ``normalize="symmetric"`` (GCN),
  ``1 / deg[t]`` for ``"mean"``, ``1`` for ``"none"``; a coefficient with a zero degree is 0 (only
  ``deg[s]`` can be 0: a source that no row targets, possible without self loops).
* ``y[v] = sum over rows (s, v), in row order, of coef * (w @ x[s])`` + b last; a node no row targets
  gets b (or 0) whatever w holds: the linear map applies per row (PyG's ``GCNConv`` computes ``x w^T``
  first, then aggregates), so a NaN or inf in w reaches only nodes that some row targets; a backend
  that aggregates first, ``(A x) w^T``, turns an untargeted node's 0 into ``0 * NaN = NaN``.
  ``w @ x[s]`` sums over input features in order from 0.0.
* With normalize="none" and self loops on a ring ``(v-1 -> v), (v+1 -> v)`` it IS a periodic conv
  whose three taps all equal w.
"""

from __future__ import annotations

import math

import numpy as np

from . import validate
from .opspec import BadInput, OpSpec, diff, index, sample_data, vjp_bad_inputs

__all__ = ["graph_conv", "graph_conv_vjp", "graph_rows"]


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def graph_rows(edges, n_nodes: int, *, normalize: str, self_loops: bool) -> list[tuple[int, int, float]]:
    """Every row ``(source, target, coefficient)`` of the aggregation, in summation order."""
    rows = [(int(s), int(t)) for s, t in np.asarray(edges).tolist()]
    if self_loops:
        rows += [(v, v) for v in range(n_nodes)]
    deg = [0] * n_nodes
    for _, t in rows:
        deg[t] += 1

    def inv_sqrt(d):
        return 0.0 if d == 0 else 1.0 / math.sqrt(d)

    out = []
    for s, t in rows:
        if normalize == "symmetric":
            coef = inv_sqrt(deg[s]) * inv_sqrt(deg[t])
        elif normalize == "mean":
            coef = 1.0 / deg[t]  # deg[t] >= 1: this very row targets t
        else:
            coef = 1.0
        out.append((s, t, coef))
    return out


def graph_conv(x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
    """Graph convolution: ``y[v] = sum_{rows (s, v)} coef(s, v) * (w @ x[s]) + b``.

    x: (V, F_in).  edges: (E, 2) integer (source, target) rows.  w: (F_out, F_in).  b: (F_out,) or None.
    normalize: 'symmetric' | 'mean' | 'none'; self_loops: add (v, v) for every node.  Returns (V, F_out).
    """
    n = validate.check_graph_conv(x, edges, w, b, normalize=normalize, self_loops=self_loops)
    x, w = _f64(x), _f64(w)
    f_out, f_in = w.shape
    y = np.zeros((n, f_out), dtype=np.float64)
    for s, t, coef in graph_rows(edges, n, normalize=normalize, self_loops=self_loops):
        for o in range(f_out):
            acc = 0.0
            for i in range(f_in):
                acc += w[o, i] * x[s, i]
            y[t, o] += coef * acc
    if b is not None:
        b = _f64(b)
        for v in range(n):
            for o in range(f_out):
                y[v, o] += b[o]
    return y


def graph_conv_vjp(g, x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
    """VJP of :func:`graph_conv`: ``(gx, gw)`` or ``(gx, gw, gb)``; edges are not differentiable.

    Row ``(s, t)`` with coefficient c sends ``c * (w^T g[t])`` to ``gx[s]`` and ``c * g[t] x[s]^T`` to
    ``gw``; ``gb = sum_v g[v]``.
    """
    n = validate.check_graph_conv(x, edges, w, b, normalize=normalize, self_loops=self_loops)
    validate.check_cotangent(g, (n, w.shape[0]))
    g, x, w = _f64(g), _f64(x), _f64(w)
    f_out, f_in = w.shape
    gx, gw = np.zeros(x.shape), np.zeros(w.shape)
    for s, t, coef in graph_rows(edges, n, normalize=normalize, self_loops=self_loops):
        for o in range(f_out):
            cg = coef * g[t, o]
            for i in range(f_in):
                gx[s, i] += cg * w[o, i]
                gw[o, i] += cg * x[s, i]
    if b is None:
        return gx, gw
    gb = np.zeros(f_out)
    for v in range(n):
        for o in range(f_out):
            gb[o] += g[v, o]
    return gx, gw, gb


# ---------------------------------------------------------------------------- bad inputs
# Invalid calls (each must raise ValueError naming ``param``); see spec.opspec.BadInput.
_XG = sample_data(4, 3)
_EG = np.array([[0, 1], [1, 2], [3, 0]], dtype=np.int64)
_WG = sample_data(2, 3, seed=1)

_GRAPH_CONV_BAD = (
    BadInput("graph_conv-edge-index-equals-V", "graph_conv", (_XG, np.array([[0, 4]], dtype=np.int64), _WG), {},
             "edges"),
    BadInput("graph_conv-edge-index-negative", "graph_conv", (_XG, np.array([[-1, 2]], dtype=np.int64), _WG), {},
             "edges"),
    BadInput("graph_conv-edges-float", "graph_conv", (_XG, _EG.astype(np.float64), _WG), {}, "edges.dtype"),
    BadInput("graph_conv-edges-three-columns", "graph_conv", (_XG, np.zeros((3, 3), dtype=np.int64), _WG), {},
             "edges.shape"),
    BadInput("graph_conv-edges-1d", "graph_conv", (_XG, np.array([0, 1], dtype=np.int64), _WG), {}, "edges.shape"),
    BadInput("graph_conv-x-1d", "graph_conv", (np.ones(4), _EG, _WG), {}, "x.shape"),
    BadInput("graph_conv-feature-mismatch", "graph_conv", (_XG, _EG, sample_data(2, 4)), {}, "w.shape"),
    BadInput("graph_conv-bias-shape", "graph_conv", (_XG, _EG, _WG, np.zeros(3)), {}, "b.shape"),
    BadInput("graph_conv-unknown-normalize", "graph_conv", (_XG, _EG, _WG), {"normalize": "sum"}, "normalize"),
    BadInput("graph_conv-self-loops-not-bool", "graph_conv", (_XG, _EG, _WG), {"self_loops": 1}, "self_loops"),
    *vjp_bad_inputs("graph_conv", (_XG, _EG, _WG), {}, (4, 2), (4, 1), np.int64),
)

CATALOGUE = (
    OpSpec(name="graph_conv", forward=graph_conv, vjp=graph_conv_vjp, validator=validate.check_graph_conv,
           args=(diff("x"), index("edges"), diff("w"), diff("b", optional=True)), bad_inputs=_GRAPH_CONV_BAD,
           output_shape=lambda x, edges, w, b=None, **kw: (np.shape(x)[0], np.shape(w)[0])),
)
