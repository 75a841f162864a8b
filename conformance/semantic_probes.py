"""Probes of the implementation-defined points: what a backend ACTUALLY does, measured on tiny inputs.

The report's semantics table (one row per point, one column per backend, spec's column the
reference) is built from these observations. They are descriptions, not verdicts: whether a
backend's choice conforms is judged by the check that tests each decision (tie policy, NaN
policy, forward, ...). Every probe is a handful of elements, so the whole table costs milliseconds.

A probe is ``probe(call, dtype) -> (value, detail)``: ``call(opname, args, kwargs, n_outputs)``
runs the backend on numpy float64 arrays (converted to ``dtype``) and returns float64 outputs.
``value`` is a short categorical answer ("first", "split", "kept", ...), equal strings meaning
equal behaviour; ``detail`` holds the measured numbers behind it. A probe whose op is missing
gives "n/i"; one that raises gives "refused: ..." (a ValueError: the backend rejects the case)
or "error: ..."; the run never stops because of a probe.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from impls.base import NotImplementedOp, implements

from .dtype_helpers import SMALLEST_NORMAL, UNIT_ROUNDOFF
from .pytest_helpers import ConformanceFailure, Hung, call_op

NOT_IMPLEMENTED = "n/i"
HUNG = "not probed (the backend hung on an earlier probe)"


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return f"{v:.6g}"


def _vec(a) -> str:
    return "[" + ", ".join(_fmt(float(v)) for v in np.ravel(a)) + "]"


def _match(got: np.ndarray, options: dict[str, list]) -> str | None:
    """The name of the option ``got`` equals bit for bit (NaN equals NaN), or None."""
    got = np.ravel(got)
    for name, want in options.items():
        want = np.asarray(want, dtype=np.float64)
        if got.shape == want.shape and np.all((got == want) | (np.isnan(got) & np.isnan(want))):
            return name
    return None


def _a(values, shape) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(shape)


# -------------------------------------------------------------------------------------- convolution
def even_kernel_same(call, dt):
    x, w = _a([0, 0, 1, 0, 0], (1, 1, 5)), _a([1, 2], (1, 1, 2))
    (y,) = call("conv", (x, w, None), {"padding": "same"})
    opts = {"end (SAME_UPPER)": [0, 2, 1, 0, 0], "start (SAME_LOWER)": [0, 0, 2, 1, 0]}
    return _match(y, opts) or f"other: {_vec(y)}", f"conv([0,0,1,0,0], k=[1,2], 'same') = {_vec(y)}"


def periodic_beyond_one_period(call, dt):
    # n = 2 with a 7-tap kernel: 3 pads on each side, more than one period. Powers of two keep it exact.
    x, w = _a([1, 3], (1, 1, 2)), _a([1, 2, 4, 8, 16, 32, 64], (1, 1, 7))
    want = [sum(x.ravel()[(i + t - 3) % 2] * w.ravel()[t] for t in range(7)) for i in range(2)]
    (y,) = call("conv", (x, w, None), {"padding": "periodic"})
    detail = f"conv([1,3], 7 taps [1..64], 'periodic') = {_vec(y)}; index mod n gives {_vec(want)}"
    return _match(y, {"wraps (index mod n)": want}) or f"other: {_vec(y)}", detail


def conv_vjp_nan_weight_strided(call, dt):
    # Two samples (torch's batched kernel is where it shows), stride 2, one output: only x[..., 0] meets the NaN.
    x, w, g = _a(range(1, 11), (2, 1, 5)), _a([math.nan, 0, 0, 0], (1, 1, 4)), _a([2, 2], (2, 1, 1))
    gx, _ = call("conv_vjp", (g, x, w, None), {"stride": 2}, 2)
    nan = math.nan
    opts = {"where the forward used it": [nan, 0, 0, 0, 0] * 2,
            "also at zero cotangent entries (0 * NaN)": [nan, 0, nan, 0, nan] * 2}
    return (_match(gx, opts) or f"other: {_vec(gx)}",
            f"dx of conv(x (2,1,5), w = [NaN,0,0,0], stride 2) with g = 2: {_vec(gx)}")


# ------------------------------------------------------------------------------------------ pooling
def max_pool_ties(call, dt):
    # Ties at row-major positions 1, 2 and 3: first (row-major) = 1, first column-major = 2, last = 3.
    x, g = _a([0, 5, 5, 5], (1, 1, 2, 2)), _a([0.75], (1, 1, 1, 1))
    (gx,) = call("max_pool_vjp", (g, x), {"size": 2})
    opts = {"first": [0, .75, 0, 0], "first (column-major)": [0, 0, .75, 0], "last": [0, 0, 0, .75],
            "split": [0, .25, .25, .25], "all (each tied max gets g)": [0, .75, .75, .75]}
    return _match(gx, opts) or f"other: {_vec(gx)}", f"x=[[0,5],[5,5]], g=0.75: dx = {_vec(gx)}"


def max_pool_nan_forward(call, dt):
    # Three windows of 3, the NaN first, in the middle, last: a comparison-based max may see only some.
    x = _a([np.nan, 1, 3, 1, np.nan, 3, 1, 3, np.nan], (1, 1, 9))
    (y,) = call("max_pool", (x,), {"size": 3})
    y = y.ravel()
    nan_at = [p for p in range(3) if math.isnan(y[p])]
    if len(nan_at) == 3:
        value = "NaN"
    elif not nan_at and np.all(y == 3):
        value = "ignored (max of the rest)"
    elif nan_at:
        value = "NaN only when the NaN is " + " or ".join(("first", "in the middle", "last")[p] for p in nan_at)
    else:
        value = f"other: {_vec(y)}"
    return value, f"windows [NaN,1,3], [1,NaN,3], [1,3,NaN]: {_vec(y)}"


def max_pool_nan_gradient(call, dt):
    x, g = _a([1, np.nan, 3, np.nan], (1, 1, 4)), _a([0.75], (1, 1, 1))
    (gx,) = call("max_pool_vjp", (g, x), {"size": 4})
    opts = {"first NaN": [0, .75, 0, 0], "last NaN": [0, 0, 0, .75], "max of the rest": [0, 0, .75, 0],
            "dropped (all zero)": [0, 0, 0, 0], "split among NaNs": [0, .375, 0, .375]}
    value = _match(gx, opts) or ("NaN" if np.isnan(gx).any() else f"other: {_vec(gx)}")
    return value, f"x=[1,NaN,3,NaN], g=0.75: dx = {_vec(gx)}"


def max_pool_all_neg_inf(call, dt):
    x = _a([-np.inf, -np.inf], (1, 1, 2))
    (y,) = call("max_pool", (x,), {"size": 2})
    v = float(y.ravel()[0])
    if v == -math.inf:
        return "-inf", "max_pool([-inf, -inf]) = -inf"
    lowest = -float(np.finfo(dt if dt in ("float32", "float64", "float16") else "float32").max)
    value = "lowest finite" if v == lowest else f"other: {_fmt(v)}"
    return value, f"max_pool([-inf, -inf]) = {_fmt(v)}"


# -------------------------------------------------------------------------------------- activations
def _derivative(call, x_value):
    x, g = _a([x_value], (1, 1)), _a([0.75], (1, 1))
    (gx,) = call("relu_vjp", (g, x), {})
    return float(gx.ravel()[0]) / 0.75


def relu_at_nan(call, dt):
    (y,) = call("relu", (_a([np.nan], (1, 1)),), {})
    return _fmt(float(y.ravel()[0])), f"relu(NaN) = {_fmt(float(y.ravel()[0]))}"


def relu_grad_at_zero(call, dt):
    d = _derivative(call, 0.0)
    return _fmt(d), f"relu_vjp(g=0.75, x=0) / g = {_fmt(d)}"


def relu_grad_at_nan(call, dt):
    d = _derivative(call, np.nan)
    return _fmt(d), f"relu_vjp(g=0.75, x=NaN) / g = {_fmt(d)}"


SIGMOID_TAIL = {"float32": (-10.0, -20.0, -40.0, -80.0), "float64": (-20.0, -40.0, -300.0, -700.0)}


def sigmoid_tail(call, dt):
    xs = SIGMOID_TAIL.get(dt, SIGMOID_TAIL["float32"])
    (y,) = call("sigmoid", (_a(xs, (1, len(xs))),), {})
    y = y.ravel()
    exact = np.array([math.exp(v) / (1.0 + math.exp(v)) for v in xs])  # no cancellation for v < 0
    u = UNIT_ROUNDOFF.get(dt, UNIT_ROUNDOFF["float32"])
    rel = np.abs(y - exact) / exact
    worst = int(np.argmax(rel))
    detail = (f"worst relative error {_fmt(rel[worst])} ({_fmt(rel[worst] / u)} u) at x={xs[worst]:g}: "
              f"sigmoid = {_fmt(y[worst])}, exact {exact[worst]:.6g}")
    if np.all(rel <= 64 * u):
        return "relative", detail
    if np.all(np.abs(y - exact) <= 64 * u):
        return "absolute (tail lost)", detail
    return "other", detail


# ------------------------------------------------------------------------------------------ numerics
def _product(call, a, b):
    try:
        (y,) = call("dense", (_a([a], (1, 1)), _a([b], (1, 1)), None), {})
    except NotImplementedOp:  # a backend without dense: the same product as a one-tap conv
        (y,) = call("conv", (_a([a], (1, 1, 1)), _a([b], (1, 1, 1)), None), {})
    return float(y.ravel()[0])


def subnormals(call, dt):
    tiny = SMALLEST_NORMAL.get(dt, SMALLEST_NORMAL["float32"])
    sub = tiny / 8  # a subnormal input; times 2**20 a normal, exact result: only DAZ can lose it
    in_kept = _product(call, sub, 2.0**20) == sub * 2.0**20
    big, small = tiny * 2.0**20, 2.0**-23
    out = _product(call, big, small)  # two normal inputs, an exactly representable subnormal product
    out_kept = out == big * small
    value = {(True, True): "kept", (False, False): "flushed", (False, True): "inputs flushed (DAZ)",
             (True, False): "results flushed (FTZ)"}[(in_kept, out_kept)]
    return value, f"dense: {sub:.3g} x 2^20 -> subnormal input {'kept' if in_kept else 'flushed'}; " \
                  f"{big:.3g} x {small:.3g} = {_fmt(out)} (exact {big * small:.3g})"


# ----------------------------------------------------------------------------------- dropout, norms
def dropout_mask_probability(call, dt):
    (m,) = call("dropout_mask", (), {"shape": (200, 100), "keep_prob": 0.9, "seed": 3})
    mean = float(np.mean(m))
    value = "keep probability" if abs(mean - 0.9) < 0.05 else "drop probability" if abs(mean - 0.1) < 0.05 \
        else f"other: {mean:.3g} kept"
    return value, f"dropout_mask((200, 100), keep_prob=0.9): {mean:.4f} of entries are 1"


def dropout_scalings(call, dt):
    x, mask = _a([3, 3], (1, 2, 1)), _a([1, 0], (1, 2))
    works, notes = [], []
    for scaling, want in (("none", [3, 0]), ("inverted", [6, 0])):
        try:
            (y,) = call("dropout", (x, mask), {"keep_prob": 0.5, "scaling": scaling, "training": True})
        except NotImplementedOp:
            raise
        except Exception as exc:  # an unsupported scaling is an answer, not a probe failure
            notes.append(f"{scaling}: raises {type(exc.__cause__ or exc).__name__}")
            continue
        ok = _match(y, {"ok": want}) is not None
        notes.append(f"{scaling}: {_vec(y)}" + ("" if ok else f" (expected {_vec(want)})"))
        if ok:
            works.append(scaling)
    value = {("none", "inverted"): "both", ("inverted",): "inverted only", ("none",): "none only"}.get(
        tuple(works), "neither")
    return value, "dropout([3, 3], mask [1, 0], keep_prob=0.5): " + "; ".join(notes)


_BN_X = _a([1, 2, 3, 4], (4, 1))


def batch_norm_variance(call, dt):
    (y,) = call("batch_norm", (_BN_X, _a([1], (1,)), _a([0], (1,))), {"eps": 1e-5})
    top = float(y.ravel()[3])
    opts = {"biased (N)": 1.5 / math.sqrt(1.25 + 1e-5), "unbiased (N-1)": 1.5 / math.sqrt(5 / 3 + 1e-5)}
    value = next((k for k, v in opts.items() if abs(top - v) <= 1e-3 * v), f"other: {_fmt(top)}")
    return value, f"batch_norm([1,2,3,4])[3] = {_fmt(top)} (biased {opts['biased (N)']:.6g}, unbiased " \
                  f"{opts['unbiased (N-1)']:.6g})"


def running_variance(call, dt):
    # momentum 0.5 weighs old and batch alike under either momentum convention
    _, var = call("running_stats", (_BN_X, _a([0], (1,)), _a([0], (1,))), {"momentum": 0.5}, n_outputs=2)
    v = float(var.ravel()[0])
    opts = {"unbiased (N-1)": 0.5 * 5 / 3, "biased (N)": 0.5 * 1.25}
    value = next((k for k, w in opts.items() if abs(v - w) <= 1e-4), f"other: {_fmt(v)}")
    return value, f"running_stats(x=[1,2,3,4], var=0, momentum=0.5).var = {_fmt(v)}"


def running_momentum(call, dt):
    mean, _ = call("running_stats", (_BN_X, _a([0], (1,)), _a([0], (1,))), {"momentum": 0.1}, n_outputs=2)
    v = float(mean.ravel()[0])
    opts = {"the batch (torch)": 0.25, "the old value (Keras/Flax/ONNX)": 2.25}
    value = next((k for k, w in opts.items() if abs(v - w) <= 1e-4), f"other: {_fmt(v)}")
    return value, f"running_stats(mean(x)=2.5, old=0, momentum=0.1).mean = {_fmt(v)}"


def batch_norm_eval_zero_std(call, dt):
    # running_var = -eps exactly (2**-10 is exact in every float dtype): sqrt(var + eps) = 0.
    x = _a([1, 2, 3], (3, 1))
    one, zero, two = _a([1], (1,)), _a([0], (1,)), _a([2], (1,))
    (y,) = call("batch_norm_eval", (x, one, zero, two, _a([-(2.0**-10)], (1,))), {"eps": 2.0**-10})
    opts = {"+-inf, NaN at x = mean (unfused, spec)": [-np.inf, np.nan, np.inf],
            "NaN everywhere (fused scale and shift)": [np.nan, np.nan, np.nan]}
    value = _match(y, opts) or ("finite (clamped or guarded)" if np.all(np.isfinite(y)) else f"other: {_vec(y)}")
    return value, f"batch_norm_eval(x=[1,2,3], mean=2, running_var=-eps, eps=2**-10) = {_vec(y)}"


# -------------------------------------------------------------------------------------- the points
@dataclass(frozen=True)
class Point:
    label: str
    """Shown in the table; also the key of ``extra["semantics"]``."""
    probe: Callable
    answers: str
    """What the possible answers mean (the table's help text)."""
    dtype: str | None = None
    """Probe in this dtype; None: float32 if the backend has it, else float64, else its first dtype."""


POINTS: list[Point] = [
    Point("conv 'same', even kernel: extra pad at", even_kernel_same,
          "end: torch/TF/ONNX SAME_UPPER, JAX 'SAME'; start: numpy/scipy 'same' (SAME_LOWER)"),
    Point("conv 'periodic', kernel longer than the input", periodic_beyond_one_period,
          "wraps: index mod n, any number of periods; torch's circular pad refuses to wrap twice"),
    Point("conv gradient, NaN weight, stride 2: dx is NaN", conv_vjp_nan_weight_strided,
          "only where the forward pass multiplied that weight (spec: the chain rule's real terms), or also where a "
          "strided backward multiplies it by zero cotangent entries of output positions that do not exist "
          "(torch float32 on CPU, batch of 2 or more)"),
    Point("max-pool gradient on ties", max_pool_ties,
          "first / last maximum in row-major order, split evenly, or every tied maximum gets g (jnp.max)"),
    Point("max-pool forward, NaN in the window", max_pool_nan_forward,
          "NaN propagates wherever it sits, is ignored, or only propagates in some positions"),
    Point("max-pool gradient, NaN in the window", max_pool_nan_gradient,
          "which element of [1, NaN, 3, NaN] receives the window's gradient"),
    Point("max-pool of an all -inf window", max_pool_all_neg_inf, "-inf, or the lowest finite value"),
    Point("relu(NaN)", relu_at_nan, "NaN propagates, or 0 (a where(x > 0) implementation)"),
    Point("relu'(0)", relu_grad_at_zero, "the sub-gradient used at the kink: 0, 1 or 0.5"),
    Point("relu'(NaN)", relu_grad_at_nan, "NaN, or 0 / 1 (the gradient is masked or passed through)"),
    Point("sigmoid tail x << 0 (float32)", sigmoid_tail,
          "relative: s(x) ~ e^x to a few ulps; absolute: error ~u, the tail is lost (0 for very negative x)",
          "float32"),
    Point("sigmoid tail x << 0 (float64)", sigmoid_tail, "as above, in float64", "float64"),
    Point("subnormals (float32)", subnormals,
          "kept, or flushed to zero: inputs (DAZ), results (FTZ) or both", "float32"),
    Point("subnormals (float64)", subnormals, "as above, in float64 (XLA on CPU flushes)", "float64"),
    Point("dropout_mask's probability is", dropout_mask_probability,
          "keep (the lecture's p) or drop (torch/Keras/ONNX's p)"),
    Point("dropout scalings supported", dropout_scalings,
          "'none' (the lecture's y = x m) and/or 'inverted' (y = x m / keep_prob)"),
    Point("batch norm normalises with the variance", batch_norm_variance, "biased (/N) or unbiased (/(N-1))"),
    Point("batch_norm_eval with running_var + eps = 0", batch_norm_eval_zero_std,
          "IEEE division in spec's order (x - mean) / 0, the fused x * a + (beta - mean * a) (inf - inf = NaN), "
          "or a guard that keeps the result finite"),
    Point("running variance update uses", running_variance, "the biased or the unbiased batch variance"),
    Point("running statistics: momentum m weighs", running_momentum,
          "torch: new = (1-m) old + m batch; Keras/Flax/ONNX: new = m old + (1-m) batch"),
]


def caller(backend, dtype: str, *, force_dtype: str | None = None):
    """``call(opname, args, kwargs, n_outputs)`` on ``backend``; NotImplementedOp for a missing op.

    ``force_dtype`` converts inputs to that dtype whatever the point asks (spec computes in float64)."""
    def call(opname, args, kwargs, n_outputs=1):
        if not implements(backend, opname):
            raise NotImplementedOp(opname)
        return call_op(backend, opname, args, kwargs, dtype=force_dtype or dtype, n_outputs=n_outputs)
    return call


def observe(backend, *, dtypes=None, force_dtype: str | None = None) -> tuple[dict, dict]:
    """Run every probe on ``backend``: ({label: value}, {label: detail}). Never raises (but for Ctrl-C)."""
    dtypes = tuple(dtypes if dtypes is not None else getattr(backend, "dtypes", ()) or ())
    values, details = {}, {}
    hung = False
    for point in POINTS:
        dt = point.dtype or next((d for d in ("float32", "float64") if d in dtypes), dtypes[0] if dtypes else "float64")
        if hung:
            values[point.label], details[point.label] = HUNG, ""
            continue
        if force_dtype is None and dt not in dtypes:
            values[point.label], details[point.label] = f"n/a (no {dt})", ""
            continue
        try:
            with np.errstate(all="ignore"):
                values[point.label], details[point.label] = point.probe(caller(backend, dt, force_dtype=force_dtype),
                                                                        dt)
        except NotImplementedOp as exc:
            values[point.label], details[point.label] = NOT_IMPLEMENTED, f"no {exc}"
        except Hung as exc:
            hung = True
            values[point.label], details[point.label] = "error: timeout", str(exc)[:300]
        except Exception as exc:  # noqa: BLE001 - a probe must never stop the run
            # call_op wraps what the backend raised; a ValueError is the backend refusing the case
            cause = exc.__cause__ if exc.__cause__ is not None else exc
            kind = "refused" if isinstance(cause, ValueError) else "error"
            what = exc.category if isinstance(cause, ConformanceFailure) else type(cause).__name__  # wrong_dtype, ...
            values[point.label] = f"{kind}: {what}"
            details[point.label] = (getattr(exc, "message", None) or str(exc))[:300]
    return values, details


def help_texts() -> dict:
    return {p.label: p.answers for p in POINTS}
