"""Hypothesis strategies that draw op cases: shapes and parameters first, then values.

Values are drawn already representable in the target dtype (``round_to_dtype``), so spec and
the backend see identical numbers. Shapes stay small: spec is a slow loop reference, and
hypothesis shrinks failures towards the smallest shape that still fails.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import math
import os
import random
import zlib
from dataclasses import dataclass, field

import hypothesis.extra.numpy as hnp
import numpy as np
from hypothesis import strategies as st

import spec
from spec import validate

from .dtype_helpers import HYPOTHESIS_WIDTH, SMALLEST_NORMAL, round_to_dtype

VALUE_BOUND = 4.0


@dataclass
class Case:
    """One op invocation: positional ``args`` (float64 arrays, int64 index arrays, scalars or None) and ``kwargs``."""

    args: tuple
    kwargs: dict = field(default_factory=dict)
    layout: str = "contiguous"
    """Memory layout the backend's arrays are built in (impls.base.LAYOUTS), where it supports layouts."""
    omitted: tuple = ()
    """Keywords left out on purpose (absent from ``kwargs``), so spec's and the backend's defaults apply."""

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

        obj = {"args": [enc(a) for a in self.args], "kwargs": {k: enc(v) for k, v in self.kwargs.items()}}
        obj.update(self._extras())
        return json.dumps(obj, separators=(",", ":"))

    def _extras(self) -> dict:
        """The non-default layout and omitted keywords, for to_json (absent when default)."""
        out = {"layout": self.layout} if self.layout != "contiguous" else {}
        return out | ({"omitted": list(self.omitted)} if self.omitted else {})

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
        return Case(tuple(dec(a) for a in obj["args"]), {k: dec(v) for k, v in obj["kwargs"].items()},
                    layout=obj.get("layout", "contiguous"), omitted=tuple(obj.get("omitted", ())))

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
        parts += [f"layout={self.layout!r}"] if self.layout != "contiguous" else []
        parts += [f"omitted={self.omitted!r}"] if self.omitted else []
        return "Case(" + ", ".join(parts) + ")"


def _specials(a: np.ndarray) -> dict:
    flat = a.ravel()
    return {str(i): repr(float(flat[i])) for i in np.flatnonzero(~np.isfinite(flat))}


SEEDED_ABOVE = 16
"""An array of more than this many elements gets its values from a seeded generator (one drawn seed)
instead of one hypothesis draw per element. Per-element draws were about 70% of a run's time (profile of
the conv checks: 14 of 20 ms per example), and past this size a shrunk failure is read by its shape, not by
its values; up to it, every element is still drawn and shrinks to simple numbers."""
SEED_PADDING = SEEDED_ABOVE + 1
"""Booleans drawn (and ignored) before the seed, so that a seeded array costs more choices than any
element-wise one: hypothesis shrinks towards fewer choices, and without the padding a failing case could
'shrink' to a larger array whose values come from one seed."""
NICE = (0.0, -0.0, 1.0, -1.0, 0.5, -0.5, 2.0, -2.0)
"""Seeded plain values: one element in NICE_ONE_IN is one of these, or +-bound (the simple values
hypothesis's own float strategy favours); the rest are uniform in +-bound."""
NICE_ONE_IN = 8


def seeded_or_drawn(draw, shape, elements, sample) -> np.ndarray:
    """A float64 array of ``shape``: each element drawn from ``elements`` (a hypothesis strategy) when the
    array is small, else ``sample(rng, size)`` from ``numpy.random.default_rng(seed)``, the seed drawn."""
    shape = tuple(int(v) for v in shape)
    size = math.prod(shape)
    if size <= SEEDED_ABOVE:
        return draw(hnp.arrays(np.float64, shape, elements=elements, fill=st.nothing()))
    draw(st.lists(st.booleans(), min_size=SEED_PADDING, max_size=SEED_PADDING))
    rng = np.random.default_rng(draw(st.integers(0, 2**63 - 1)))
    return np.asarray(sample(rng, size), dtype=np.float64).reshape(shape)


def _uniform_nice(rng, size: int, bound: float) -> np.ndarray:
    a = rng.uniform(-bound, bound, size)
    nice = np.array(NICE + (bound, -bound))
    pick = rng.integers(0, NICE_ONE_IN, size) == 0
    a[pick] = nice[rng.integers(0, nice.size, int(pick.sum()))]
    return a


def _distinct(rng, size: int, bound: float, dtype: str) -> np.ndarray:
    """``size`` values uniform in +-bound, all different after rounding to ``dtype``."""
    a = round_to_dtype(rng.uniform(-bound, bound, size), dtype)
    if np.unique(a).size == size:
        return a
    # A narrow dtype (float16 has ~16k values in +-4) collides often: pool more draws, then pick.
    got = np.unique(a)
    for _ in range(100):
        got = np.unique(np.concatenate([got, round_to_dtype(rng.uniform(-bound, bound, size), dtype)]))
        if got.size >= size:
            return rng.permutation(got)[:size]
    raise ValueError(f"cannot draw {size} distinct {dtype} values in +-{bound}")


def _elements(dtype: str, bound: float):
    return st.floats(-bound, bound, width=HYPOTHESIS_WIDTH[dtype], allow_nan=False, allow_infinity=False,
                     allow_subnormal=False)


def plain_values(draw, shape, dtype: str, bound: float = VALUE_BOUND, *, unique: bool = False) -> np.ndarray:
    """``draw`` a float64 array of values exactly representable in ``dtype``, in +-bound (seeded past
    SEEDED_ABOVE elements). A plain function, not a strategy: building a composite strategy per call
    compiles its signature, which had cost about 0.4 s per check (numpy's gradient checks: 24 s -> 14 s)."""
    shape = tuple(int(v) for v in shape)
    elements = _elements(dtype, bound)
    if unique and math.prod(shape) <= SEEDED_ABOVE:
        return round_to_dtype(draw(hnp.arrays(np.float64, shape, elements=elements, unique=True,
                                              fill=st.nothing())), dtype)
    if unique:
        return seeded_or_drawn(draw, shape, elements, lambda rng, n: _distinct(rng, n, bound, dtype))
    return round_to_dtype(seeded_or_drawn(draw, shape, elements, lambda rng, n: _uniform_nice(rng, n, bound)), dtype)


@st.composite
def arrays(draw, shape, dtype: str, *, unique: bool = False, bound: float = VALUE_BOUND):
    """Float64 arrays whose values are exactly representable in ``dtype`` (seeded past SEEDED_ABOVE elements)."""
    return plain_values(draw, shape, dtype, bound, unique=unique)


# ---------------------------------------------------------------------------------------------------
# Corners. A case is a *skeleton* (shapes, parameters, omitted keywords: what a compiler specialises
# on) plus *values* (and a memory layout). With ``corners=True`` (the op table's strategies) the values
# of each array argument follow a weighted style, so that every corner shows in a good fraction of the
# draws; the first entry of each weighted tuple is the plain case hypothesis shrinks towards.

STYLES = ("plain",) * 4 + ("zeros", "ties", "huge", "tiny", "tails", "offset")
"""Value styles of one array: uniform in +-4; with exact 0.0 and -0.0 sprinkled in; from {-1, -0, 0, 1, 2}
(ties in every window, exact zeros); scaled by 2**E (huge) or 2**-E (tiny); |x| in the tails (sigmoid at
|x| ~ 15..100, where absolute-error implementations return 0); large offset, small spread (200 +- 1, where
one-pass variance formulas cancel)."""
SCALE_EXP = {"float64": 60, "float32": 20, "float16": 2, "bfloat16": 20}
"""E of the huge/tiny styles: products and ratios of a few such values (x^2 / gamma in batch norm's VJP)
stay finite and normal."""
TAILS = {"float64": (15.0, 700.0), "float32": (15.0, 100.0), "float16": (8.0, 11.0), "bfloat16": (15.0, 100.0)}
OFFSETS = (200.0, -1000.0, 4096.0)
SPECIALS = (np.nan, np.inf, -np.inf)
NONFINITE_ONE_IN = 3
"""One case in 3 carries NaN or +-inf in one of its float arguments other than x (weights, bias, gamma, beta,
running statistics). NaN/inf in x are the hygiene checks' (test_nan_propagation, test_nan_gradient), which
draw these same cases and add a special to x: a deviation there is declared against that check."""
OMIT_ONE_IN = 3
"""Each keyword with a default is left out (so the default applies) in one case out of 3."""
LAYOUT_CHOICES = ("contiguous",) * 2 + ("fortran", "strided", "reversed", "channels_last")
SAME_KERNELS = (2, 1, 4, 3)
"""Kernel lengths under 'same' in the corner strategies: even ones half the time, 2 the one shrinking keeps."""
BATCH = (1, 2, 3, 4)
"""N: from 3 on, the order of a batch sum matters."""


def _chance(one_in: int) -> tuple:
    return (False,) * (one_in - 1) + (True,)


def _seeded_chance(draw, one_in: int) -> bool:
    """True one time in ``one_in``, decided by a drawn seed rather than by hypothesis's choice of an element.
    Hypothesis favours the first elements of a sampled_from: in a ci run at seed 4, 0 of 53 max_pool cases
    drew the True of ``_chance(4)``, so the all -inf window vanished from the whole run (a planted bug
    escaped). Shrinking still works: a smaller seed that keeps the failure keeps the corner."""
    return bool(np.random.default_rng(draw(st.integers(0, 2**32 - 1))).random() * one_in < 1)


class _Draw:
    """Skeleton choices through hypothesis (they shrink: integers to ``lo``, picks to the first option)."""

    def __init__(self, draw):
        self._draw = draw

    def int(self, lo: int, hi: int) -> int:
        return self._draw(st.integers(lo, hi))

    def pick(self, options):
        return self._draw(st.sampled_from(options))


class _Random(_Draw):
    """The same choices from a seeded ``random.Random``: builds the skeleton pools outside hypothesis."""

    def __init__(self, rng: random.Random):
        self._rng = rng

    def int(self, lo: int, hi: int) -> int:
        return self._rng.randint(lo, hi)

    def pick(self, options):
        return options[self._rng.randrange(len(options))]


class _Minimal(_Draw):
    """The choices hypothesis shrinks towards: the pool's first skeleton, so failures still shrink small."""

    def __init__(self):
        pass

    def int(self, lo: int, hi: int) -> int:
        return lo

    def pick(self, options):
        return options[0]


@dataclass(frozen=True)
class Skeleton:
    """Everything about a case but its values: argument shapes (None: argument is None), keywords passed
    and keywords omitted. Two cases with one skeleton run the same compiled program on a JIT backend."""

    shapes: tuple
    kwargs: tuple
    omitted: tuple = ()

    def size(self) -> int:
        return sum(math.prod(s) for s in self.shapes if s is not None)


class _Kw:
    """Collects the keywords of one skeleton; each keyword with a default may be omitted."""

    def __init__(self, p: _Draw, op: str, corners: bool):
        self.p, self.op, self.corners = p, op, corners
        self.items, self.omitted = [], []

    def __call__(self, name: str, choose):
        if self.corners and self.p.pick(_chance(OMIT_ONE_IN)):
            self.omitted.append(name)
            return _spec_default(self.op, name)
        value = choose()
        self.items.append((name, value))
        return value

    def skeleton(self, *shapes) -> Skeleton:
        return Skeleton(tuple(shapes), tuple(self.items), tuple(self.omitted))


@functools.cache
def _spec_default(op: str, name: str):
    return inspect.signature(getattr(spec, op)).parameters[name].default


def _styled(draw, shape, dtype: str, style: str, bound: float = VALUE_BOUND) -> np.ndarray:
    if style == "ties":
        ties = (1.0, 0.0, -1.0, 2.0, -0.0)
        return seeded_or_drawn(draw, shape, st.sampled_from(ties), lambda rng, n: np.array(ties)[rng.integers(0, 5, n)])
    if style == "tails":
        lo, hi = TAILS[dtype]
        mag = st.floats(lo, hi, width=HYPOTHESIS_WIDTH[dtype])
        a = seeded_or_drawn(draw, shape, st.one_of(mag, mag.map(lambda v: -v)),
                            lambda rng, n: rng.uniform(lo, hi, n) * rng.choice((-1.0, 1.0), n))
        return round_to_dtype(a, dtype)
    a = plain_values(draw, shape, dtype, bound)
    if style == "zeros":
        marks = seeded_or_drawn(draw, shape, st.sampled_from([0.0, 0.0, 1.0, 2.0]),
                                lambda rng, n: rng.choice((0.0, 0.0, 1.0, 2.0), n))
        a = np.where(marks == 1, 0.0, np.where(marks == 2, -0.0, a))
    elif style in ("huge", "tiny"):
        a = round_to_dtype(a * 2.0 ** (SCALE_EXP[dtype] * (1 if style == "huge" else -1)), dtype)
        # Scaling a tiny draw down can land below the smallest normal: subnormal inputs are the subnormals
        # check's business (conformance/test_subnormals.py), so ordinary checks never judge flushing.
        a = np.where(np.abs(a) < SMALLEST_NORMAL[dtype], 0.0, a)
    elif style == "offset":
        a = round_to_dtype(draw(st.sampled_from(OFFSETS)) + a / bound, dtype)
    return a


ACTIVATION_STYLES = ("plain",) * 3 + ("zeros", "ties", "huge", "tiny", "tails", "tails", "offset")
"""relu, sigmoid, tanh: the tails twice as often (sigmoid's relative error where it is tiny)."""
STATISTICS_STYLES = ("plain",) * 3 + ("zeros", "ties", "huge", "tiny", "tails", "offset", "offset")
"""Batch statistics' x: offset data twice as often (one-pass variance)."""


def _values(draw, shape, dtype: str, corners: bool, bound: float = VALUE_BOUND, styles=STYLES) -> np.ndarray:
    if not corners:
        return plain_values(draw, shape, dtype, bound)
    return _styled(draw, shape, dtype, draw(st.sampled_from(styles)), bound)


def _inject_nonfinite(draw, args: list, roles: dict) -> None:
    """Put NaN or +-inf at one or two positions of ONE float argument (``roles``: index -> (specials allowed
    there, weight): a weight of 2 picks that argument twice as often)."""
    choices = [i for i, specials in roles.items() for _ in range(specials[1]) if args[i] is not None and args[i].size]
    if not choices or not draw(st.sampled_from(_chance(NONFINITE_ONE_IN))):
        return
    i = draw(st.sampled_from(choices))
    a = np.array(args[i], copy=True)
    for _ in range(draw(st.integers(1, 2))):
        a.flat[draw(st.integers(0, a.size - 1))] = draw(st.sampled_from(roles[i][0]))
    args[i] = a


def _layout(draw, corners: bool) -> str:
    return draw(st.sampled_from(LAYOUT_CHOICES)) if corners else "contiguous"


def _case(draw, skel: Skeleton, args, corners: bool) -> Case:
    return Case(tuple(args), dict(skel.kwargs), layout=_layout(draw, corners), omitted=skel.omitted)


# ---------------------------------------------------------------------------------------------------
# Skeleton pools for backends that compile per shape (issue 13): a run draws each (op, dtype)'s shapes
# from a small seeded pool, values fresh every example.

POOL_ENV = "NNCONFORM_SHAPE_POOL"
""""on": pool shapes for every backend, "off": for none; unset: for backends with compiles_per_shape = True."""
_POOL_STATE = {"size": None}
_POOLS: dict = {}


def pools_shapes(backend) -> bool:
    """Whether a run on ``backend`` draws its shapes from the pool."""
    forced = os.environ.get(POOL_ENV, "").lower()
    if forced in ("on", "off"):
        return forced == "on"
    return bool(getattr(backend, "compiles_per_shape", False))


@contextlib.contextmanager
def shape_pool(backend, size: int | None = None):
    """Within the block, the case strategies draw skeletons from the pool when ``pools_shapes(backend)``."""
    from . import profiles

    previous = _POOL_STATE["size"]
    _POOL_STATE["size"] = (size or profiles.current().shape_pool) if pools_shapes(backend) else None
    try:
        yield
    finally:
        _POOL_STATE["size"] = previous


def _pool_seed(key) -> int:
    """From --hypothesis-seed when given (so a seeded run is reproducible), else fresh per process."""
    from hypothesis import core

    base = core.global_force_seed
    if base is None:
        base = _POOL_STATE.setdefault("process_seed", random.SystemRandom().getrandbits(64))
    return zlib.crc32(repr((base, key)).encode())


def _features(skel: Skeleton) -> set:
    """What a pool should cover: ranks, None arguments, each keyword value, omissions, N >= 3, kernel parity,
    shapes on which a memory layout is visible."""
    # An omission counts on a shape that is not degenerate (two axes longer than 1): a wrong default eps is
    # invisible where batch norm sees one value per channel, a wrong default padding on a 1 x 1 input.
    visible = _layout_visible(skel)
    out = {("omit", name, visible) for name in skel.omitted} | {("kw", k, repr(v)) for k, v in skel.kwargs}
    for i, s in enumerate(skel.shapes):
        if s is None:
            out.add(("none", i))
        else:
            # ("ndim", i, rank, every spatial axis > 1): a 3-D batch norm that forgets its depth axis is only
            # seen where the depth is longer than 1, so a pool wants each rank once with no axis of length 1.
            out |= {("ndim", i, len(s)), ("full", i, len(s), all(v > 1 for v in s[2:])),
                    ("batch3", i, s[0] >= 3), ("odd", i, tuple(v % 2 for v in s[2:])),
                    # a memory layout can only show on a shape with two or more axes longer than 1
                    ("layout_visible", i, sum(v > 1 for v in s) >= 2)}
    return out


def _layout_visible(skel: Skeleton) -> bool:
    return any(s is not None and sum(v > 1 for v in s) >= 2 for s in skel.shapes)


def _build_pool(key, make, size: int) -> list[Skeleton]:
    """The minimal skeleton first (what hypothesis shrinks to), then seeded ones chosen greedily to cover
    the most features (ranks, paddings, omitted keywords...) not yet in the pool, smaller ones first."""
    rng = random.Random(_pool_seed(key))
    pool = [make(_Minimal())]
    candidates = [make(_Random(rng)) for _ in range(8 * size)]
    covered = _features(pool[0])
    while len(pool) < size and candidates:
        # Ties go to shapes on which a memory layout shows: layouts are drawn per example, on the pool's shapes.
        best = max(candidates, key=lambda s: (len(_features(s) - covered), _layout_visible(s), -s.size()))
        candidates.remove(best)
        if best in pool:
            continue
        pool.append(best)
        covered |= _features(best)
    return [pool[0], *sorted(pool[1:], key=Skeleton.size)]


def _op_cases(key, make, fill):
    """``make(p) -> Skeleton`` drawn freely, or from the active pool; then ``fill(draw, skeleton)``."""

    @st.composite
    def cases(draw):
        size = _POOL_STATE["size"]
        if size is None:
            skel = make(_Draw(draw))
        else:
            pool = _POOLS.get((key, size))
            if pool is None:
                pool = _POOLS[(key, size)] = _build_pool(key, make, size)
            skel = draw(st.sampled_from(pool))
        return fill(draw, skel)

    return cases()


def shape_signature(opname: str, args, kwargs) -> tuple:
    """What a per-shape compiler keys on: the op, each argument's shape (or its value), the keywords."""
    sig = tuple(tuple(a.shape) if hasattr(a, "shape") else repr(a) for a in args)
    return opname, sig, tuple(sorted((k, repr(v)) for k, v in kwargs.items()))


# ---------------------------------------------------------------------------------------------------
# The op strategies. ``corners=False`` (properties, which index their keywords) draws plain values,
# contiguous layouts and every keyword; the shapes are the same either way.

def _conv_skeleton(p: _Draw, max_nd: int, corners: bool) -> Skeleton:
    kw = _Kw(p, "conv", corners)
    nd = p.pick((1, 2, 3)[:max_nd])
    n = p.pick(BATCH)
    limit = ({1: 9, 2: 6, 3: 4} if n <= 2 else {1: 7, 2: 4, 3: 3})[nd]
    cin, cout = p.int(1, 3), p.int(1, 3)
    padding = kw("padding", lambda: p.pick(("valid", "same", "periodic", "same")))
    kw("stride", lambda: tuple(p.int(1, 2) for _ in range(nd)))
    dilation = validate.per_axis(kw("dilation", lambda: tuple(p.int(1, 2) for _ in range(nd))), nd, "dilation")
    ks, sizes = [], []
    for axis in range(nd):
        # Under 'same' an even kernel is a decision point (the side of the extra pad): drawn half the time.
        k = p.pick(SAME_KERNELS) if corners and padding == "same" else p.int(1, 4)
        span = dilation[axis] * (k - 1) + 1
        lo = span if padding == "valid" else 1
        if lo > limit:
            k, span, lo = 1, 1, 1
        ks.append(k)
        sizes.append(p.int(lo, limit))
    bias = p.pick((False, True))
    return kw.skeleton((n, cin, *sizes), (cout, cin, *ks), (cout,) if bias else None)


def conv_cases(dtype: str, max_nd: int = 3, *, corners: bool = False):
    def fill(draw, skel):
        x, w = (_values(draw, s, dtype, corners) for s in skel.shapes[:2])
        b = None if skel.shapes[2] is None else _values(draw, skel.shapes[2], dtype, corners)
        args = [x, w, b]
        if corners:
            # Weights twice as often as the bias: a NaN/inf tap meets the zero pad of 'same' (0 * inf = nan).
            _inject_nonfinite(draw, args, {1: (SPECIALS, 2), 2: (SPECIALS, 1)})
            if dict(skel.kwargs).get("padding") == "same" and draw(st.sampled_from(_chance(EDGE_TAP_ONE_IN))):
                args[1] = _special_on_edge_tap(draw, args[1])
        return _case(draw, skel, args, corners)

    return _op_cases(("conv", dtype, max_nd, corners), lambda p: _conv_skeleton(p, max_nd, corners), fill)


EDGE_TAP_ONE_IN = 4
"""Under 'same', one case in 4 also gets a NaN or inf on an edge tap of w (first or last along every spatial
axis): the tap that meets the zero pad at the border, where spec's 0 * inf = nan decision shows. A special
drawn anywhere in w lands on the centre tap (no pad) or on a 1-tap axis often enough to miss it."""


def _special_on_edge_tap(draw, w: np.ndarray) -> np.ndarray:
    if not any(k > 1 for k in w.shape[2:]):
        return w
    w = np.array(w, copy=True)
    taps = tuple(draw(st.sampled_from((0, k - 1))) for k in w.shape[2:])
    o, c = draw(st.integers(0, w.shape[0] - 1)), draw(st.integers(0, w.shape[1] - 1))
    w[(o, c, *taps)] = draw(st.sampled_from(SPECIALS))
    return w


def _dense_skeleton(p: _Draw) -> Skeleton:
    n, fin, fout = p.int(1, 4), p.int(1, 6), p.int(1, 5)
    return Skeleton(((n, fin), (fout, fin), (fout,) if p.pick((False, True)) else None), ())


def dense_cases(dtype: str, *, corners: bool = False):
    def fill(draw, skel):
        args = [None if s is None else _values(draw, s, dtype, corners) for s in skel.shapes]
        if corners:
            _inject_nonfinite(draw, args, {1: (SPECIALS, 2), 2: (SPECIALS, 1)})
        return _case(draw, skel, args, corners)

    return _op_cases(("dense", dtype, corners), _dense_skeleton, fill)


def _nsc_shape(p: _Draw, ranks, c_max: int = 3, s_max: int = 4) -> tuple:
    nd = p.pick(ranks)
    return (p.pick(BATCH), p.int(1, c_max), *(p.int(1, s_max) for _ in range(nd)))


def elementwise_cases(dtype: str, avoid_zero: bool = False, bound: float = 6.0, *, corners: bool = False):
    """``avoid_zero`` moves |x| < 1e-2 to 0.5 (for finite differences only: the conformance checks compare
    with spec's VJP, whose relu'(0) = 0 is a documented decision, so they draw exact zeros on purpose)."""
    def fill(draw, skel):
        x = _values(draw, skel.shapes[0], dtype, corners, bound, ACTIVATION_STYLES)
        if avoid_zero:
            x = np.where(np.abs(x) < 1e-2, 0.5, x)
        args = [x]
        return _case(draw, skel, args, corners)

    return _op_cases(("elementwise", dtype, corners), lambda p: Skeleton((_nsc_shape(p, (1, 2, 3, 0)),), ()), fill)


def _pool_skeleton(p: _Draw, op: str, corners: bool) -> Skeleton:
    kw = _Kw(p, op, corners)
    nd = p.int(1, 3)
    limit = {1: 9, 2: 6, 3: 4}[nd]
    size = validate.per_axis(kw("size", lambda: tuple(p.int(1, 3) for _ in range(nd))), nd, "size")
    kw("stride", lambda: None if p.pick((True, False)) else tuple(p.int(1, 3) for _ in range(nd)))
    shape = (p.pick(BATCH), p.int(1, 3), *(p.int(size[i], limit) for i in range(nd)))
    return kw.skeleton(shape)


def pool_cases(dtype: str, unique: bool = False, *, corners: bool = False):
    """Max/avg pool cases. With corners: ties (style "ties"), NaN/inf, and windows that are all -inf."""
    def fill(draw, skel):
        x = plain_values(draw, skel.shapes[0], dtype, unique=True) if unique else _values(draw, skel.shapes[0], dtype,
                                                                                     corners)
        kwargs = dict(skel.kwargs)
        if corners and _seeded_chance(draw, 4):
            x = _all_neg_inf_window(draw, x, kwargs)
        args = [x]
        return _case(draw, skel, args, corners)

    return _op_cases(("pool", dtype, unique, corners), lambda p: _pool_skeleton(p, "max_pool", corners), fill)


def _all_neg_inf_window(draw, x, kwargs) -> np.ndarray:
    """x with one whole pooling window (of one sample and channel) set to -inf."""
    nd = x.ndim - 2
    size = validate.per_axis(kwargs.get("size", 2), nd, "size")
    stride = size if kwargs.get("stride") is None else validate.per_axis(kwargs["stride"], nd, "stride")
    out = validate.pool_output_shape(x.shape, size, stride)
    x = np.array(x, copy=True)
    n, c = draw(st.integers(0, x.shape[0] - 1)), draw(st.integers(0, x.shape[1] - 1))
    o = [draw(st.integers(0, m - 1)) for m in out[2:]]
    x[(n, c, *(slice(i * s, i * s + k) for i, s, k in zip(o, stride, size, strict=True)))] = -np.inf
    return x


def _upsample_skeleton(p: _Draw, corners: bool) -> Skeleton:
    kw = _Kw(p, "upsample", corners)
    nd = p.int(1, 3)
    kw("factor", lambda: tuple(p.int(1, 3) for _ in range(nd)))
    return kw.skeleton((p.pick(BATCH), p.int(1, 3), *(p.int(1, 4) for _ in range(nd))))


def upsample_cases(dtype: str, *, corners: bool = False):
    def fill(draw, skel):
        args = [_values(draw, skel.shapes[0], dtype, corners)]
        return _case(draw, skel, args, corners)

    return _op_cases(("upsample", dtype, corners), lambda p: _upsample_skeleton(p, corners), fill)


def _dropout_skeleton(p: _Draw, corners: bool) -> Skeleton:
    kw = _Kw(p, "dropout", corners)
    shape = _nsc_shape(p, (0, 1, 2, 3))
    kw.items.append(("keep_prob", p.pick((1.0, 0.5, 0.8, 0.25, 0.9))))  # required: never omitted
    kw("scaling", lambda: p.pick(validate.DROPOUT_SCALINGS))
    kw("training", lambda: p.pick((False, True)))
    return kw.skeleton(shape, shape[:2])


def dropout_cases(dtype: str, *, corners: bool = False):
    def fill(draw, skel):
        shape, mshape = skel.shapes
        x = _values(draw, shape, dtype, corners)
        mask = np.array(draw(st.lists(st.booleans(), min_size=math.prod(mshape), max_size=math.prod(mshape))),
                        dtype=np.float64).reshape(mshape)
        args = [x, mask]
        return _case(draw, skel, args, corners)

    return _op_cases(("dropout", dtype, corners), lambda p: _dropout_skeleton(p, corners), fill)


def _bn_shape(p: _Draw) -> tuple:
    shape = _nsc_shape(p, (0, 1, 2, 3))
    if validate.reduction_count(shape) < 2:
        shape = (2, *shape[1:])
    return shape


def _bn_skeleton(p: _Draw, op: str, corners: bool, n_vectors: int, name: str, choices) -> Skeleton:
    kw = _Kw(p, op, corners)
    shape = _bn_shape(p)
    kw(name, lambda: p.pick(choices))
    return kw.skeleton(shape, *((shape[1],),) * n_vectors)


def batch_norm_cases(dtype: str, *, corners: bool = False):
    def fill(draw, skel):
        args = [_values(draw, s, dtype, corners, styles=STATISTICS_STYLES if i == 0 else STYLES)
                for i, s in enumerate(skel.shapes)]
        if corners:
            # gamma gets NaN only: gamma = inf times an xhat that is exactly 0 or not depends on how the
            # backend rounds the batch mean, which is not a semantic point.
            _inject_nonfinite(draw, args, {1: ((np.nan,), 1), 2: (SPECIALS, 1)})
        return _case(draw, skel, args, corners)

    return _op_cases(("batch_norm", dtype, corners),
                     lambda p: _bn_skeleton(p, "batch_norm", corners, 2, "eps", (1e-5, 1e-3, 0.1)), fill)


def _running_var(draw, c: int, dtype: str, eps: float, corners: bool) -> np.ndarray:  # noqa: ARG001
    """Running variances: positive (|v| + 0.25), or, with corners, per channel near and below zero.

    spec.batchnorm: ``sqrt(running_var + eps)`` of a negative sum is NaN. Values are chosen so that spec's
    float64 sum and the backend's agree on its sign. A sum of exactly 0 (``running_var = -eps``) is not
    drawn: spec documents no rule for it, and its gamma gradient is NaN (sum of g * inf of both signs)
    in spec but +-inf in a backend that sums before it scales."""
    positive = round_to_dtype(np.abs(plain_values(draw, (c,), dtype)) + 0.25, dtype)
    if not corners or draw(st.sampled_from((True, False))):
        return positive
    special = [0.0, 2.0**-30, -eps / 4, -2.0 * eps, -2.0, -0.5]
    picks = draw(st.lists(st.sampled_from([None, *special]), min_size=c, max_size=c))
    return round_to_dtype(np.array([pv if v is None else v for v, pv in zip(picks, positive, strict=True)]), dtype)


def batch_norm_eval_cases(dtype: str, *, corners: bool = False):
    def fill(draw, skel):
        x = _values(draw, skel.shapes[0], dtype, corners, styles=STATISTICS_STYLES)
        gamma, beta, mean = (_values(draw, s, dtype, corners) for s in skel.shapes[1:4])
        eps = dict(skel.kwargs).get("eps", _spec_default("batch_norm_eval", "eps"))
        args = [x, gamma, beta, mean, _running_var(draw, skel.shapes[0][1], dtype, eps, corners)]
        if corners:
            # gamma: NaN only. With gamma = inf, (x - mean) * (gamma / std) and the fused x * a + (beta - mean * a)
            # give -inf and NaN (inf - inf): an evaluation order spec does not decide (torch fuses).
            _inject_nonfinite(draw, args, {1: ((np.nan,), 1), 2: (SPECIALS, 1), 3: (SPECIALS, 1), 4: (SPECIALS, 1)})
        return _case(draw, skel, args, corners)

    return _op_cases(("batch_norm_eval", dtype, corners),
                     lambda p: _bn_skeleton(p, "batch_norm_eval", corners, 4, "eps", (1e-5, 1e-3, 2.0**-10)), fill)


def running_stats_cases(dtype: str, *, corners: bool = False):
    """Running variances are data here (no rule applies below zero); with corners they may be negative."""
    def fill(draw, skel):
        x = _values(draw, skel.shapes[0], dtype, corners, styles=STATISTICS_STYLES)
        mean, var = (_values(draw, s, dtype, corners) for s in skel.shapes[1:])
        args = [x, mean, var if corners else round_to_dtype(np.abs(var), dtype)]
        if corners:
            _inject_nonfinite(draw, args, {i: (SPECIALS, 1) for i in range(1, 3)})
        return _case(draw, skel, args, corners)

    return _op_cases(("running_stats", dtype, corners),
                     lambda p: _bn_skeleton(p, "running_stats", corners, 2, "momentum", (0.1, 0.0, 1.0, 0.3)), fill)


def with_corners(strategy_fn, **kwargs):
    """``dtype -> strategy`` drawing the corners: the op table's form of a case strategy above."""
    return functools.partial(strategy_fn, corners=True, **kwargs)


def cotangent(shape, dtype: str, seed: int) -> np.ndarray:
    """A random, non-constant cotangent (never all-ones), rounded to ``dtype``."""
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(shape)
    if g.size > 1 and np.ptp(g) == 0:  # cannot happen with a normal draw, but never compare 0 with 0
        g.flat[0] += 1.0
    return round_to_dtype(g, dtype)


# ------------------------------------------------------------------ the lecture's two generalizations of conv
def _lc_skeleton(p: _Draw, corners: bool) -> Skeleton:
    """x (N, C_in, *n), w (*out, C_out, C_in, *k): one kernel per 'valid' output position; b (C_out, *out)."""
    kw = _Kw(p, "locally_connected", corners)
    nd = p.pick((1, 2, 3))
    n = p.pick(BATCH)
    limit = ({1: 7, 2: 5, 3: 4} if n <= 2 else {1: 6, 2: 4, 3: 3})[nd]
    cin, cout = p.int(1, 3), p.int(1, 3)
    ks = tuple(p.int(1, 3) for _ in range(nd))
    sizes = tuple(p.int(k, limit) for k in ks)
    stride = validate.per_axis(kw("stride", lambda: tuple(p.int(1, 2) for _ in range(nd))), nd, "stride")
    out = tuple((s - k) // st_ + 1 for s, k, st_ in zip(sizes, ks, stride, strict=True))
    bias = p.pick((False, True))
    return kw.skeleton((n, cin, *sizes), (*out, cout, cin, *ks), (cout, *out) if bias else None)


def locally_connected_cases(dtype: str, *, corners: bool = False):
    def fill(draw, skel):
        args = [None if s is None else _values(draw, s, dtype, corners) for s in skel.shapes]
        if corners:
            # Weights twice as often as the bias, as for conv: a NaN/inf tap must reach only its own position.
            _inject_nonfinite(draw, args, {1: (SPECIALS, 2), 2: (SPECIALS, 1)})
        return _case(draw, skel, args, corners)

    return _op_cases(("locally_connected", dtype, corners), lambda p: _lc_skeleton(p, corners), fill)


GRAPH_KINDS = ("random", "duplicate_edges", "isolated_node")
"""How a graph's rows are drawn, given V and E (the skeleton): freely; with repeated rows (spec counts
duplicates); leaving the last node untouched by any row (an isolated node, degree 0 without self loops).
A graph without edges (E = 0) and a single node (V = 1) are skeletons, drawn on purpose."""


def _graph_skeleton(p: _Draw, corners: bool) -> Skeleton:
    kw = _Kw(p, "graph_conv", corners)
    v = p.pick((1, 2, 3, 4, 6))
    e = p.pick((0, 1, 3, 6, 10))
    fin, fout = p.int(1, 4), p.int(1, 3)
    kw("normalize", lambda: p.pick(validate.GRAPH_NORMALIZATIONS))
    kw("self_loops", lambda: p.pick((True, False)))
    bias = p.pick((False, True))
    return kw.skeleton((v, fin), (e, 2), (fout, fin), (fout,) if bias else None)


def graph_edges(draw, v: int, e: int, kind: str | None = None) -> np.ndarray:
    """An int64 (e, 2) array of (source, target) rows over v nodes, drawn as ``kind`` says (GRAPH_KINDS)."""
    kind = kind or draw(st.sampled_from(GRAPH_KINDS))
    touched = v - 1 if kind == "isolated_node" and v >= 2 else v
    node = st.integers(0, touched - 1)
    if kind == "duplicate_edges" and e >= 2:
        distinct = draw(st.lists(st.tuples(node, node), min_size=1, max_size=e - 1))
        pairs = distinct + draw(st.lists(st.sampled_from(distinct), min_size=e - len(distinct),
                                         max_size=e - len(distinct)))
    else:
        pairs = draw(st.lists(st.tuples(node, node), min_size=e, max_size=e))
    return np.array(pairs, dtype=np.int64).reshape(e, 2)


def graph_conv_cases(dtype: str, *, corners: bool = False):
    def fill(draw, skel):
        (v, fin), (e, _), wshape, bshape = skel.shapes
        x = _values(draw, (v, fin), dtype, corners)
        w = _values(draw, wshape, dtype, corners)
        b = None if bshape is None else _values(draw, bshape, dtype, corners)
        args = [x, graph_edges(draw, v, e), w, b]
        if corners:
            _inject_nonfinite(draw, args, {2: (SPECIALS, 2), 3: (SPECIALS, 1)})
        return _case(draw, skel, args, corners)

    return _op_cases(("graph_conv", dtype, corners), lambda p: _graph_skeleton(p, corners), fill)
