"""Properties that tie the lecture's two generalizations of convolution back to conv, on each backend's
own outputs (float64, through NumpyView): no spec call, so they check the backend's ops against each other.

* A locally connected layer whose positions all share one kernel (and one bias per channel) IS the
  'valid' convolution with that kernel and stride.
* graph_conv with normalize="none" and self loops on a ring (rows v-1 -> v and v+1 -> v) IS the periodic
  convolution of the node sequence with three taps that all equal w (V = 1 and 2 included: the ring's
  rows then repeat, and so do the periodic taps).
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from impls.base import implements

from . import hypothesis_helpers as hh
from .hypothesis_helpers import Case
from .optable import NumpyView
from .plugin import Combo, combos
from .pytest_helpers import ConformanceFailure
from .runner import not_implemented, pytest_repro, run_examples
from .tolerance import compare

DT = "float64"


def _close(a, e, m, k, what):
    cmp = compare(a, e, m, dtype=DT, reduction=k, c=8.0, what=what)
    if not cmp.ok:
        raise ConformanceFailure(cmp.category, cmp.message, comparison=cmp)
    return cmp


def _abs(a):
    return None if a is None else np.abs(a)


def lc_shared_kernel_is_valid_conv(ops, case, rng):
    x, w, b = case.args
    nd = x.ndim - 2
    out = w.shape[:nd]
    kernel = w[(0,) * nd]  # (C_out, C_in, *k): the first position's kernel, for every position
    shared = np.broadcast_to(kernel, w.shape).copy()
    bias = None if b is None else b[(slice(None), *(0,) * nd)]
    shared_b = None if b is None else np.broadcast_to(bias.reshape(-1, *(1,) * nd), (len(bias), *out)).copy()
    stride = case.kwargs["stride"]
    lhs = ops.locally_connected(x, shared, shared_b, stride=stride)
    rhs = ops.conv(x, kernel, bias, padding="valid", stride=stride)
    m = ops.conv(np.abs(x), np.abs(kernel), _abs(bias), padding="valid", stride=stride)
    k = int(np.prod(kernel.shape[1:])) + (b is not None)
    return _close(lhs, rhs, m, k, "locally_connected(shared kernel) vs conv(valid)")


@st.composite
def ring_cases(draw):
    v, fin, fout = draw(st.integers(1, 8)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    x = draw(hh.arrays((v, fin), DT))
    w = draw(hh.arrays((fout, fin), DT))
    b = draw(st.none() | hh.arrays((fout,), DT))
    nodes = np.arange(v)
    edges = np.concatenate([np.stack([(nodes - 1) % v, nodes], 1), np.stack([(nodes + 1) % v, nodes], 1)])
    return Case((x, edges.astype(np.int64), w, b), {"normalize": "none", "self_loops": True})


def graph_ring_is_periodic_conv(ops, case, rng):
    x, edges, w, b = case.args
    lhs = ops.graph_conv(x, edges, w, b, **case.kwargs)
    seq = x.T[None]  # (1, F_in, V): the ring's nodes as a periodic 1-D signal
    taps = np.repeat(w[:, :, None], 3, axis=2)  # (F_out, F_in, 3), every tap = w
    rhs = ops.conv(seq, taps, b, padding="periodic")[0].T
    m = ops.conv(np.abs(seq), np.abs(taps), _abs(b), padding="periodic")[0].T
    return _close(lhs, rhs, m, 3 * w.shape[1] + (b is not None), "graph_conv(ring, none) vs conv(periodic, [w w w])")


PROPERTIES = {
    "lc_shared_kernel_is_valid_conv": ("locally_connected", hh.locally_connected_cases(DT),
                                       lc_shared_kernel_is_valid_conv),
    "graph_ring_is_periodic_conv": ("graph_conv", ring_cases(), graph_ring_is_periodic_conv),
}
NEEDS = ("conv",)


def _prop_combos(name, backend):
    if DT not in backend.dtypes:
        return []
    return [Combo(name, op, DT, prop) for prop, (op, _, _) in PROPERTIES.items()]


@combos(_prop_combos)
def test_property(combo, backend, row, request):
    op, strategy, prop = PROPERTIES[combo.extra]
    row.name = combo.extra
    for needed in (op, *NEEDS):
        if not implements(backend, needed):
            not_implemented(row, NotImplementedError(needed))
    ops = NumpyView(backend, DT)

    def check(case, seed):
        return prop(ops, case, np.random.default_rng(seed))

    run_examples(row, backend, strategy, check,
                 repro=lambda case, seed: pytest_repro(request.node.nodeid, combo.backend,
                                                       request.config.getoption("hypothesis_seed", None)))
