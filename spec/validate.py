"""Argument checks shared by spec and every backend.

Every op calls the matching ``check_*`` function before computing anything, so that all
backends raise the same ``ValueError`` (same parameter name, same wording) for the same bad
input.  The checks only look at ``.shape`` / ``.ndim`` and plain Python parameters, so they
work unchanged on numpy arrays, torch tensors or any array object with those attributes.

Each ``check_*`` returns the normalised parameters (tuples per spatial axis) that the op
needs, so a backend never re-parses ``stride=2`` versus ``stride=(2, 2)`` itself.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

PADDINGS = ("valid", "same", "periodic")
DROPOUT_SCALINGS = ("none", "inverted")
MIN_SPATIAL, MAX_SPATIAL = 1, 3


def _fail(param: str, value, why: str):
    raise ValueError(f"{param}={value!r}: {why}")


def _shape(a, param: str) -> tuple[int, ...]:
    shape = getattr(a, "shape", None)
    if shape is None:
        _fail(param, type(a).__name__, "expected an array with a .shape")
    return tuple(int(s) for s in shape)


def _check_nsc(x, param: str = "x") -> tuple[int, ...]:
    """x must be (N, C, *spatial) with 1 to 3 spatial axes."""
    shape = _shape(x, param)
    if not (2 + MIN_SPATIAL <= len(shape) <= 2 + MAX_SPATIAL):
        _fail(f"{param}.shape", shape, "expected (N, C, *spatial) with 1 to 3 spatial axes")
    return shape


def per_axis(value, ndim: int, param: str, *, minimum: int = 1) -> tuple[int, ...]:
    """Normalise an int or a tuple of ints to one int per spatial axis, each >= minimum."""
    items = (value,) * ndim if isinstance(value, Integral) and not isinstance(value, bool) else value
    try:
        items = tuple(items)
    except TypeError:
        _fail(param, value, f"expected an int or a tuple of {ndim} ints")
    if len(items) != ndim or not all(isinstance(v, Integral) and not isinstance(v, bool) for v in items):
        _fail(param, value, f"expected an int or a tuple of {ndim} ints")
    if any(v < minimum for v in items):
        _fail(param, value, f"every entry must be >= {minimum}")
    return tuple(int(v) for v in items)


def same_pads(kernel: int, dilation: int) -> tuple[int, int]:
    """(before, after) zero/periodic padding for 'same': the extra pad of an even kernel goes at the END."""
    total = dilation * (kernel - 1)
    return total // 2, total - total // 2


def check_conv(x, w, b=None, *, padding="valid", stride=1, dilation=1):
    """Validate conv arguments.

    Returns ``(stride, dilation, pads)`` with one entry per spatial axis; ``pads`` holds
    ``(before, after)`` pairs (zeros for 'valid').
    """
    xs = _check_nsc(x)
    ws = _shape(w, "w")
    nd = len(xs) - 2
    if len(ws) != len(xs):
        _fail("w.shape", ws, f"expected (C_out, C_in, *k) with {nd} kernel axes to match x.shape={xs}")
    if ws[1] != xs[1]:
        _fail("w.shape", ws, f"C_in={ws[1]} does not match x's channels C={xs[1]}")
    if ws[0] < 1 or any(k < 1 for k in ws[2:]):
        _fail("w.shape", ws, "every kernel axis and C_out must be >= 1")
    if b is not None:
        bs = _shape(b, "b")
        if bs != (ws[0],):
            _fail("b.shape", bs, f"expected ({ws[0]},), one bias per output channel")
    if not isinstance(padding, str) or padding not in PADDINGS:
        _fail("padding", padding, f"expected one of {PADDINGS}")
    stride = per_axis(stride, nd, "stride")
    dilation = per_axis(dilation, nd, "dilation")
    pads = []
    for axis in range(nd):
        n, k, d = xs[2 + axis], ws[2 + axis], dilation[axis]
        span = d * (k - 1) + 1
        if padding == "valid":
            if span > n:
                _fail("w.shape", ws,
                      f"dilated kernel span {span} exceeds input size {n} on spatial axis {axis}")
            pads.append((0, 0))
        else:
            if n < 1:
                _fail("x.shape", xs, f"{padding!r} padding needs spatial size >= 1 on axis {axis}")
            pads.append(same_pads(k, d))
    return stride, dilation, tuple(pads)


def conv_output_shape(xshape, wshape, *, padding="valid", stride=1, dilation=1) -> tuple[int, ...]:
    """Output shape of conv: (N, C_out, *out) with out = floor((n + pad - span) / s) + 1."""
    nd = len(xshape) - 2
    stride = per_axis(stride, nd, "stride")
    dilation = per_axis(dilation, nd, "dilation")
    out = []
    for axis in range(nd):
        n, k, d, s = xshape[2 + axis], wshape[2 + axis], dilation[axis], stride[axis]
        span = d * (k - 1) + 1
        padded = n if padding == "valid" else n + span - 1
        out.append((padded - span) // s + 1)
    return (xshape[0], wshape[0], *out)


def _check_feature_weights(ws, f_in: int, b) -> None:
    """w (F_out, F_in) and b (F_out,) or None: dense's and graph_conv's weights over x's features."""
    if len(ws) != 2:
        _fail("w.shape", ws, "expected (F_out, F_in)")
    if ws[1] != f_in:
        _fail("w.shape", ws, f"F_in={ws[1]} does not match x's features F_in={f_in}")
    if b is not None and _shape(b, "b") != (ws[0],):
        _fail("b.shape", _shape(b, "b"), f"expected ({ws[0]},), one bias per output feature")


def check_dense(x, w, b=None):
    xs, ws = _shape(x, "x"), _shape(w, "w")
    if len(xs) != 2:
        _fail("x.shape", xs, "expected (N, F_in)")
    _check_feature_weights(ws, xs[1], b)


def check_elementwise(x):
    _shape(x, "x")


def check_pool(x, *, size=2, stride=None):
    """Validate max_pool / avg_pool; returns ``(size, stride)`` per spatial axis."""
    xs = _check_nsc(x)
    nd = len(xs) - 2
    size = per_axis(size, nd, "size")
    stride = size if stride is None else per_axis(stride, nd, "stride")
    for axis in range(nd):
        if size[axis] > xs[2 + axis]:
            _fail("size", size,
                  f"window {size[axis]} exceeds input size {xs[2 + axis]} on spatial axis {axis}")
    return size, stride


def pool_output_shape(xshape, size, stride) -> tuple[int, ...]:
    return (*xshape[:2], *((n - k) // s + 1 for n, k, s in zip(xshape[2:], size, stride, strict=True)))


def check_upsample(x, *, factor=2):
    xs = _check_nsc(x)
    return per_axis(factor, len(xs) - 2, "factor")


def check_keep_prob(keep_prob):
    if isinstance(keep_prob, bool) or not isinstance(keep_prob, Real) or not (0.0 < float(keep_prob) <= 1.0):
        _fail("keep_prob", keep_prob,
              "expected a probability in (0, 1]: the lecture's p is the KEEP probability")
    return float(keep_prob)


def check_dropout(x, mask, *, keep_prob, scaling="none", training=True):
    xs = _shape(x, "x")
    if len(xs) < 2:
        _fail("x.shape", xs, "expected (N, F) or (N, C, *spatial)")
    ms = _shape(mask, "mask")
    if ms != xs[:2]:
        _fail("mask.shape", ms, f"expected {xs[:2]}: one entry per (sample, channel or neuron)")
    if not isinstance(scaling, str) or scaling not in DROPOUT_SCALINGS:
        _fail("scaling", scaling, f"expected one of {DROPOUT_SCALINGS}")
    if not isinstance(training, bool):
        _fail("training", training, "expected a bool")
    return check_keep_prob(keep_prob)


def check_dropout_mask(shape, *, keep_prob, seed):
    try:
        shape = tuple(shape)
    except TypeError:
        _fail("shape", shape, "expected a tuple (N, C)")
    if len(shape) != 2 or not all(
        isinstance(s, Integral) and not isinstance(s, bool) and s >= 0 for s in shape
    ):
        _fail("shape", shape, "expected a tuple (N, C) of non-negative ints")
    if isinstance(seed, bool) or not isinstance(seed, Integral) or seed < 0:
        _fail("seed", seed, "expected a non-negative int")
    return tuple(int(s) for s in shape), check_keep_prob(keep_prob)


def _check_channel_vector(v, param: str, c: int):
    vs = _shape(v, param)
    if vs != (c,):
        _fail(f"{param}.shape", vs, f"expected ({c},), one entry per channel")


def _check_eps(eps):
    if isinstance(eps, bool) or not isinstance(eps, Real) or not (float(eps) > 0 and math.isfinite(eps)):
        _fail("eps", eps, "expected a finite float > 0")


def _check_bn_x(x) -> tuple[int, ...]:
    xs = _shape(x, "x")
    if not (2 <= len(xs) <= 2 + MAX_SPATIAL):
        _fail("x.shape", xs, "expected (N, C) or (N, C, *spatial) with up to 3 spatial axes")
    return xs


def reduction_count(xshape) -> int:
    """Values per channel that batch statistics average over: N times the spatial size."""
    return math.prod(xshape) // xshape[1] if xshape[1] else 0


def check_batch_norm(x, gamma, beta, *, eps=1e-5):
    xs = _check_bn_x(x)
    if reduction_count(xs) < 1:
        _fail("x.shape", xs, "batch statistics need at least one value per channel")
    _check_channel_vector(gamma, "gamma", xs[1])
    _check_channel_vector(beta, "beta", xs[1])
    _check_eps(eps)


def check_batch_norm_eval(x, gamma, beta, running_mean, running_var, *, eps=1e-5):
    xs = _check_bn_x(x)
    vectors = (("gamma", gamma), ("beta", beta), ("running_mean", running_mean), ("running_var", running_var))
    for name, v in vectors:
        _check_channel_vector(v, name, xs[1])
    _check_eps(eps)


def check_running_stats(x, running_mean, running_var, *, momentum=0.1):
    xs = _check_bn_x(x)
    if reduction_count(xs) < 2:
        _fail("x.shape", xs, "the unbiased running variance needs at least two values per channel")
    _check_channel_vector(running_mean, "running_mean", xs[1])
    _check_channel_vector(running_var, "running_var", xs[1])
    if isinstance(momentum, bool) or not isinstance(momentum, Real) or not (0.0 <= float(momentum) <= 1.0):
        _fail("momentum", momentum, "expected a float in [0, 1] (torch convention: weight of the NEW batch)")
    return float(momentum)


def check_cotangent(g, expected_shape, param: str = "g") -> None:
    """A ``*_vjp`` cotangent must have exactly the forward output's shape (never broadcast), and a real
    floating-point dtype: a bool, integer or complex ``g`` is not the cotangent of a float output. The dtype is
    read by name (``float32``, ``torch.float64``, ``bfloat16`` ...), so any array library passes this check."""
    gs = _shape(g, param)
    if gs != tuple(expected_shape):
        _fail(f"{param}.shape", gs, f"expected the forward output's shape {tuple(expected_shape)}")
    dtype = getattr(g, "dtype", None)
    name = None if dtype is None else str(dtype).removeprefix("torch.")
    if name is not None and "float" not in name:
        _fail(f"{param}.dtype", name, "expected a real floating-point cotangent (the gradient of a float output)")


# ------------------------------------------------------------------ the lecture's two generalizations of conv
GRAPH_NORMALIZATIONS = ("symmetric", "mean", "none")


def check_locally_connected(x, w, b=None, *, stride=1):
    """Validate locally_connected arguments; returns ``(stride, out)``, one entry per spatial axis.

    x ``(N, C_in, *n)``; w ``(*out, C_out, C_in, *k)`` with ``out = (n - k)//stride + 1`` ('valid');
    b ``(C_out, *out)`` or None.
    """
    xs = _check_nsc(x)
    ws = _shape(w, "w")
    nd = len(xs) - 2
    if len(ws) != 2 * nd + 2:
        _fail("w.shape", ws, f"expected (*out, C_out, C_in, *k) with {nd} output and {nd} kernel axes "
                             f"to match x.shape={xs}")
    c_out, c_in, ks = ws[nd], ws[nd + 1], ws[nd + 2:]
    if c_in != xs[1]:
        _fail("w.shape", ws, f"C_in={c_in} does not match x's channels C={xs[1]}")
    if c_out < 1 or any(k < 1 for k in ks):
        _fail("w.shape", ws, "every kernel axis and C_out must be >= 1")
    stride = per_axis(stride, nd, "stride")
    for axis in range(nd):
        if ks[axis] > xs[2 + axis]:
            _fail("w.shape", ws, f"kernel {ks[axis]} exceeds input size {xs[2 + axis]} on spatial axis {axis}")
    out = tuple((n - k) // s + 1 for n, k, s in zip(xs[2:], ks, stride, strict=True))
    if ws[:nd] != out:
        _fail("w.shape", ws, f"expected {out} output positions (one kernel each) for x.shape={xs}, "
                             f"kernel {ks} and stride {stride}")
    if b is not None:
        bs = _shape(b, "b")
        if bs != (c_out, *out):
            _fail("b.shape", bs, f"expected {(c_out, *out)}, one bias per output channel and position")
    return stride, out


def _dtype_name(a) -> str:
    return str(getattr(a, "dtype", type(a).__name__)).removeprefix("torch.")


def check_graph_conv(x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
    """Validate graph_conv arguments: x ``(V, F_in)``, edges ``(E, 2)`` integers in ``[0, V)``,
    w ``(F_out, F_in)``, b ``(F_out,)`` or None.  Returns V.

    The range check reads the smallest and largest edge index (``edges.min()``, ``edges.max()``),
    which numpy arrays and torch tensors alike provide.
    """
    xs, es, ws = _shape(x, "x"), _shape(edges, "edges"), _shape(w, "w")
    if len(xs) != 2:
        _fail("x.shape", xs, "expected (V, F_in): one feature row per node")
    if len(es) != 2 or es[1] != 2:
        _fail("edges.shape", es, "expected (E, 2): one (source, target) row per edge")
    if not _dtype_name(edges).startswith(("int", "uint")):
        _fail("edges.dtype", _dtype_name(edges), "expected an integer array of node indices")
    _check_feature_weights(ws, xs[1], b)
    if not isinstance(normalize, str) or normalize not in GRAPH_NORMALIZATIONS:
        _fail("normalize", normalize, f"expected one of {GRAPH_NORMALIZATIONS}")
    if not isinstance(self_loops, bool):
        _fail("self_loops", self_loops, "expected a bool")
    if es[0]:
        lo, hi = int(edges.min()), int(edges.max())
        if lo < 0 or hi >= xs[0]:
            _fail("edges", f"indices from {lo} to {hi}", f"every node index must lie in [0, V={xs[0]})")
    return xs[0]
