"""Hypothesis strategies that draw op cases: shapes and parameters first, then values.

Values are drawn already representable in the target dtype (``round_to_dtype``), so spec and
the backend see identical numbers. Shapes stay small: spec is a slow loop reference, and
hypothesis shrinks failures towards the smallest shape that still fails.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

from spec import validate

from .dtype_helpers import HYPOTHESIS_WIDTH, round_to_dtype

VALUE_BOUND = 4.0


@dataclass
class Case:
    """One op invocation: positional ``args`` (float64 arrays, int64 index arrays, scalars or None) and ``kwargs``."""

    args: tuple
    kwargs: dict = field(default_factory=dict)

    def to_json(self) -> str:
        def enc(a):
            if isinstance(a, np.ndarray) and a.dtype.kind in "iu":  # an index array stays integer
                return {"array": a.ravel().tolist(), "shape": list(a.shape), "dtype": str(a.dtype)}
            if isinstance(a, np.ndarray):
                return {"array": [None if not math.isfinite(v) else v for v in a.ravel().tolist()],
                        "shape": list(a.shape), "special": _specials(a)}
            if isinstance(a, tuple):
                return {"tuple": [enc(v) for v in a]}
            return a

        return json.dumps({"args": [enc(a) for a in self.args],
                           "kwargs": {k: enc(v) for k, v in self.kwargs.items()}}, separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> Case:
        def dec(v):
            if isinstance(v, dict) and "dtype" in v:
                return np.array(v["array"], dtype=v["dtype"]).reshape(v["shape"])
            if isinstance(v, dict) and "array" in v:
                flat = np.array([np.nan if x is None else x for x in v["array"]], dtype=np.float64)
                for i, s in v.get("special", {}).items():
                    flat[int(i)] = float(s)
                return flat.reshape(v["shape"])
            if isinstance(v, dict) and "tuple" in v:
                return tuple(dec(x) for x in v["tuple"])
            if isinstance(v, list):
                return tuple(v)
            return v

        obj = json.loads(text)
        return Case(tuple(dec(a) for a in obj["args"]), {k: dec(v) for k, v in obj["kwargs"].items()})

    def rounded(self, dtype: str) -> Case:
        """The same case with every float array rounded to ``dtype`` (kept as float64); index arrays unchanged."""
        args = tuple(round_to_dtype(a, dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
                     for a in self.args)
        return Case(args, dict(self.kwargs))

    def __repr__(self) -> str:
        parts = []
        for a in self.args:
            if isinstance(a, np.ndarray):
                parts.append(f"array(shape={a.shape}, values={np.array2string(a.ravel(), threshold=24, precision=6)})")
            else:
                parts.append(repr(a))
        parts += [f"{k}={v!r}" for k, v in self.kwargs.items()]
        return "Case(" + ", ".join(parts) + ")"


def _specials(a: np.ndarray) -> dict:
    flat = a.ravel()
    return {str(i): repr(float(flat[i])) for i in np.flatnonzero(~np.isfinite(flat))}


def arrays(shape, dtype: str, *, unique: bool = False, bound: float = VALUE_BOUND):
    """Float64 arrays whose values are exactly representable in ``dtype``; every element drawn."""
    width = HYPOTHESIS_WIDTH[dtype]
    elements = st.floats(-bound, bound, width=width, allow_nan=False, allow_infinity=False,
                         allow_subnormal=False)
    strat = hnp.arrays(np.float64, tuple(shape), elements=elements, unique=unique, fill=st.nothing())
    return strat.map(lambda a: round_to_dtype(a, dtype))


@st.composite
def conv_cases(draw, dtype: str, max_nd: int = 3):
    nd = draw(st.sampled_from([1, 2, 3][:max_nd]))
    limit = {1: 9, 2: 6, 3: 4}[nd]
    n = draw(st.integers(1, 2))
    cin, cout = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    padding = draw(st.sampled_from(validate.PADDINGS))
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    dilation = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    ks, sizes = [], []
    for axis in range(nd):
        k = draw(st.integers(1, 4))
        span = dilation[axis] * (k - 1) + 1
        lo = span if padding == "valid" else 1
        if lo > limit:
            k, span, lo = 1, 1, 1
        ks.append(k)
        sizes.append(draw(st.integers(lo, limit)))
    x = draw(arrays((n, cin, *sizes), dtype))
    w = draw(arrays((cout, cin, *ks), dtype))
    b = draw(st.none() | arrays((cout,), dtype))
    return Case((x, w, b), {"padding": padding, "stride": stride, "dilation": dilation})


@st.composite
def dense_cases(draw, dtype: str):
    n, fin, fout = draw(st.integers(1, 4)), draw(st.integers(1, 6)), draw(st.integers(1, 5))
    x = draw(arrays((n, fin), dtype))
    w = draw(arrays((fout, fin), dtype))
    b = draw(st.none() | arrays((fout,), dtype))
    return Case((x, w, b))


@st.composite
def elementwise_cases(draw, dtype: str, avoid_zero: bool = False, bound: float = 6.0):
    nd = draw(st.integers(1, 3))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 3)), *(draw(st.integers(1, 4)) for _ in range(nd)))
    x = draw(arrays(shape, dtype, bound=bound))
    if avoid_zero:
        # relu is not differentiable at 0; keep inputs where finite differences and the VJP agree.
        x = np.where(np.abs(x) < 1e-2, 0.5, x)
    return Case((x,))


@st.composite
def pool_cases(draw, dtype: str, unique: bool):
    nd = draw(st.integers(1, 3))
    limit = {1: 9, 2: 6, 3: 4}[nd]
    size = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    stride = draw(st.none() | st.tuples(*(st.integers(1, 3) for _ in range(nd))))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)),
             *(draw(st.integers(size[i], limit)) for i in range(nd)))
    x = draw(arrays(shape, dtype, unique=unique))
    return Case((x,), {"size": size, "stride": stride})


@st.composite
def upsample_cases(draw, dtype: str):
    nd = draw(st.integers(1, 3))
    factor = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    shape = (draw(st.integers(1, 2)), draw(st.integers(1, 3)), *(draw(st.integers(1, 4)) for _ in range(nd)))
    return Case((draw(arrays(shape, dtype)),), {"factor": factor})


@st.composite
def dropout_cases(draw, dtype: str):
    nd = draw(st.integers(0, 2))
    shape = (draw(st.integers(1, 3)), draw(st.integers(1, 4)), *(draw(st.integers(1, 4)) for _ in range(nd)))
    x = draw(arrays(shape, dtype))
    mask = np.array(draw(st.lists(st.booleans(), min_size=shape[0] * shape[1], max_size=shape[0] * shape[1])),
                    dtype=np.float64).reshape(shape[:2])
    keep_prob = draw(st.sampled_from([1.0, 0.5, 0.8, 0.25, 0.9]))
    scaling = draw(st.sampled_from(validate.DROPOUT_SCALINGS))
    training = draw(st.booleans())
    return Case((x, mask), {"keep_prob": keep_prob, "scaling": scaling, "training": training})


def _bn_shape(draw):
    nd = draw(st.integers(0, 2))
    shape = (draw(st.integers(1, 4)), draw(st.integers(1, 3)), *(draw(st.integers(1, 4)) for _ in range(nd)))
    if validate.reduction_count(shape) < 2:
        shape = (2, *shape[1:])
    return shape


@st.composite
def batch_norm_cases(draw, dtype: str):
    shape = _bn_shape(draw)
    x = draw(arrays(shape, dtype))
    gamma, beta = draw(arrays((shape[1],), dtype)), draw(arrays((shape[1],), dtype))
    eps = draw(st.sampled_from([1e-5, 1e-3, 0.1]))
    return Case((x, gamma, beta), {"eps": eps})


@st.composite
def batch_norm_eval_cases(draw, dtype: str):
    shape = _bn_shape(draw)
    c = shape[1]
    x = draw(arrays(shape, dtype))
    gamma, beta, mean = (draw(arrays((c,), dtype)) for _ in range(3))
    var = round_to_dtype(np.abs(draw(arrays((c,), dtype))) + 0.25, dtype)
    return Case((x, gamma, beta, mean, var), {"eps": draw(st.sampled_from([1e-5, 1e-3]))})


@st.composite
def running_stats_cases(draw, dtype: str):
    shape = _bn_shape(draw)
    c = shape[1]
    x = draw(arrays(shape, dtype))
    mean = draw(arrays((c,), dtype))
    var = round_to_dtype(np.abs(draw(arrays((c,), dtype))), dtype)
    return Case((x, mean, var), {"momentum": draw(st.sampled_from([0.1, 0.0, 1.0, 0.3]))})


def cotangent(shape, dtype: str, seed: int) -> np.ndarray:
    """A random, non-constant cotangent (never all-ones), rounded to ``dtype``."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(shape)
    if g.size > 1 and np.ptp(g) == 0:  # cannot happen with a normal draw, but never compare 0 with 0
        g.flat[0] += 1.0
    return round_to_dtype(g, dtype)


# ------------------------------------------------------------------ the lecture's two generalizations of conv
@st.composite
def locally_connected_cases(draw, dtype: str):
    """x (N, C_in, *n), one kernel per 'valid' output position, optional per-position bias, stride 1-2."""
    nd = draw(st.integers(1, 3))
    limit = {1: 7, 2: 5, 3: 4}[nd]
    n, cin, cout = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    ks = tuple(draw(st.integers(1, 3)) for _ in range(nd))
    sizes = tuple(draw(st.integers(k, limit)) for k in ks)
    stride = tuple(draw(st.integers(1, 2)) for _ in range(nd))
    out = tuple((s - k) // st_ + 1 for s, k, st_ in zip(sizes, ks, stride, strict=True))
    x = draw(arrays((n, cin, *sizes), dtype))
    w = draw(arrays((*out, cout, cin, *ks), dtype))
    b = draw(st.none() | arrays((cout, *out), dtype))
    return Case((x, w, b), {"stride": stride})


GRAPH_KINDS = ("random", "no_edges", "single_node", "duplicate_edges", "isolated_node")


@st.composite
def graph_edges(draw, kind: str | None = None):
    """(V, edges): an int64 (E, 2) array of (source, target) rows; ``kind`` forces the corner cases
    (a graph without edges, V = 1, duplicate rows, a node no row touches)."""
    kind = kind or draw(st.sampled_from(GRAPH_KINDS))
    v = 1 if kind == "single_node" else draw(st.integers(2 if kind == "isolated_node" else 1, 6))
    touched = v - 1 if kind == "isolated_node" else v  # node v - 1 stays isolated
    pairs = [] if kind == "no_edges" else draw(st.lists(
        st.tuples(st.integers(0, touched - 1), st.integers(0, touched - 1)),
        min_size=1 if kind == "duplicate_edges" else 0, max_size=10))
    if kind == "duplicate_edges":
        pairs = pairs + draw(st.lists(st.sampled_from(pairs), min_size=1, max_size=3))
    return v, np.array(pairs, dtype=np.int64).reshape(len(pairs), 2)


@st.composite
def graph_conv_cases(draw, dtype: str):
    v, edges = draw(graph_edges())
    fin, fout = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    x = draw(arrays((v, fin), dtype))
    w = draw(arrays((fout, fin), dtype))
    b = draw(st.none() | arrays((fout,), dtype))
    kwargs = {"normalize": draw(st.sampled_from(validate.GRAPH_NORMALIZATIONS)), "self_loops": draw(st.booleans())}
    return Case((x, edges, w, b), kwargs)
