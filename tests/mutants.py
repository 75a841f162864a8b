"""Deliberately wrong backends, derived from numpy, one plausible bug each.

They prove the suite has teeth: tests/test_mutants.py runs the conformance suite against each
and asserts it is reported failing, with a shrunk example and a working repro command.
"""

from __future__ import annotations

import numpy as np

from impls.numpy_backend import NumpyBackend
from spec import validate


class FlippedKernel(NumpyBackend):
    """True convolution instead of the lecture's cross-correlation: the kernel is flipped."""

    name = "mutant-flipped-kernel"

    def conv(self, x, w, b=None, **kw):
        nd = w.ndim - 2
        return super().conv(x, np.flip(w, axis=tuple(range(2, 2 + nd))).copy(), b, **kw)


class SameLowerPadding(NumpyBackend):
    """'same' puts the extra pad of an even kernel at the START (SAME_LOWER, scipy's habit)."""

    name = "mutant-same-lower"

    def conv(self, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        if padding != "same" or all(k % 2 == 1 for k in w.shape[2:]):
            return super().conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        validate.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        nd = x.ndim - 2
        dil = validate.per_axis(dilation, nd, "dilation")
        pads = [(0, 0), (0, 0)]
        for k, d in zip(w.shape[2:], dil, strict=True):
            total = d * (k - 1)
            pads.append((total - total // 2, total // 2))
        return super().conv(np.pad(x, pads), w, b, padding="valid", stride=stride, dilation=dilation)


class UnbiasedVariance(NumpyBackend):
    """Batch norm normalises with the unbiased (N-1) variance."""

    name = "mutant-unbiased-variance"

    def batch_norm(self, x, gamma, beta, *, eps=1e-5):
        validate.check_batch_norm(x, gamma, beta, eps=eps)
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        k = x.size // x.shape[1]
        var = x.var(axis=axes, ddof=1 if k > 1 else 0).reshape(shape)
        xhat = (x - x.mean(axis=axes).reshape(shape)) / np.sqrt(var + eps)
        return (gamma.reshape(shape) * xhat + beta.reshape(shape)).astype(x.dtype)


class PerElementDropout(NumpyBackend):
    """Dropout drops single elements (its own draw) instead of the given per-channel mask."""

    name = "mutant-per-element-dropout"

    def dropout(self, x, mask, *, keep_prob, scaling="none", training=True):
        validate.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
        if not training:
            return x.copy()
        elem = np.random.default_rng(0).random(x.shape) < keep_prob
        y = x * elem
        return (y / keep_prob if scaling == "inverted" else y).astype(x.dtype)


class GradientToAllTies(NumpyBackend):
    """Max-pool's gradient goes to EVERY tied maximum of a window (jnp.max's habit), not the first."""

    name = "mutant-all-ties"

    def max_pool_vjp(self, g, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        out = self.max_pool(x, size=size, stride=stride)
        gx = np.zeros_like(x)
        for idx in np.ndindex(*out.shape):
            n, c, *o = idx
            win = tuple(slice(p * s, p * s + k) for p, s, k in zip(o, stride, size, strict=True))
            region = x[(n, c, *win)]
            gx[(n, c, *win)] += np.where(region == out[idx], g[idx], 0.0)
        return (gx,)


MUTANTS = {
    "tests.mutants:FlippedKernel": ("conv", "forward"),
    "tests.mutants:SameLowerPadding": ("conv", "forward"),
    "tests.mutants:UnbiasedVariance": ("batch_norm", "forward"),
    "tests.mutants:PerElementDropout": ("dropout", "forward"),
    "tests.mutants:GradientToAllTies": ("max_pool", "tie_policy"),
}
"""module:attr -> (op, check) that must be reported failing."""


# --- helper dev ---
# Deviations with a scope and a bound, exactness, subnormals (issue 10, items 1, 2 and 4).

from impls.base import ExpectedDeviation  # noqa: E402

TF32_U = 2.0**-11
TF32_REASON = "TF32-like: conv inputs rounded to a 10-bit mantissa (u = 2**-11)"


def _tf32(a):
    """Round float32 values to TF32's 10 explicit mantissa bits (nearest even), kept as float32."""
    if a is None or a.dtype != np.float32:
        return a
    bits = np.ascontiguousarray(a).view(np.uint32).astype(np.uint64)
    rounded = ((bits + 0xFFF + ((bits >> 13) & 1)) >> 13) << 13
    return rounded.astype(np.uint32).view(np.float32).reshape(a.shape)


class BlanketWaiverFlippedKernel(FlippedKernel):
    """A flipped kernel behind the blanket conv*/float32/* declaration (no bound): it must still fail."""

    name = "mutant-blanket-flipped"
    expected_deviations = (ExpectedDeviation("conv*", "float32", "*", "blanket TF32 waiver, no bound"),)


class BoundedWaiverFlippedKernel(FlippedKernel):
    """A flipped kernel behind the TF32 declaration with its bound (u = 2**-11): far beyond it, so it fails."""

    name = "mutant-bounded-flipped"
    expected_deviations = (ExpectedDeviation("conv*", "float32", "*", TF32_REASON, unit_roundoff=TF32_U),)


class TF32Undeclared(NumpyBackend):
    """float32 conv with TF32-rounded inputs, not declared: fails the strict float32 bound."""

    name = "mutant-tf32-undeclared"

    def conv(self, x, w, b=None, **kw):
        return super().conv(_tf32(x), _tf32(w), b, **kw)


class TF32Declared(TF32Undeclared):
    """The same rounding, declared with its unit roundoff: reported expected_deviation, never fail."""

    name = "mutant-tf32-declared"
    expected_deviations = (ExpectedDeviation("conv*", "float32", "*", TF32_REASON, unit_roundoff=TF32_U),)


class WrongShapeBehindDeclaration(TF32Declared):
    """Declares TF32 for conv, and drops the last output position: a wrong shape is never covered."""

    name = "mutant-wrong-shape-declared"

    def conv(self, x, w, b=None, **kw):
        y = super().conv(x, w, b, **kw)
        return y[..., :-1].copy() if y.shape[-1] > 1 else np.concatenate([y, y], axis=-1)


class OneUlpRelu(NumpyBackend):
    """relu returns the right value plus one ulp: within the rounding tolerance, but relu has no rounding."""

    name = "mutant-relu-ulp"

    def relu(self, x):
        y = super().relu(x)
        return np.nextafter(y, np.inf).astype(y.dtype)


class OneUlpMaxPool(NumpyBackend):
    """max_pool returns the window maximum plus one ulp."""

    name = "mutant-max-pool-ulp"

    def max_pool(self, x, **kw):
        y = super().max_pool(x, **kw)
        return np.nextafter(y, np.inf).astype(y.dtype)


class PlainTF32Declared:
    """NOT derived from impls.Backend: a plain object delegating to numpy, TF32-rounded conv, declared."""

    name = "mutant-plain-tf32"
    expected_deviations = (ExpectedDeviation("conv", "float32", "forward", TF32_REASON, unit_roundoff=TF32_U),)

    def __init__(self):
        self._inner = NumpyBackend()
        self.device, self.dtypes = "cpu", ("float32",)

    def __getattr__(self, attr):
        return getattr(self._inner, attr)

    def conv(self, x, w, b=None, **kw):
        return self._inner.conv(_tf32(x), _tf32(w), b, **kw)


def _flush(a):
    tiny = np.finfo(a.dtype).tiny
    return np.where(np.abs(a) < tiny, a.dtype.type(0), a).astype(a.dtype)


class FlushToZero(NumpyBackend):
    """Flushes subnormal inputs and results of relu, dense and conv to zero (DAZ + FTZ), undeclared."""

    name = "mutant-ftz"

    def relu(self, x):
        return _flush(super().relu(_flush(x)))

    def dense(self, x, w, b=None):
        return _flush(super().dense(_flush(x), _flush(w), None if b is None else _flush(b)))

    def conv(self, x, w, b=None, **kw):
        return _flush(super().conv(_flush(x), _flush(w), None if b is None else _flush(b), **kw))


class FlushToZeroDeclared(FlushToZero):
    """The same flushing, declared: the subnormals check reports expected_deviation, ordinary checks pass."""

    name = "mutant-ftz-declared"
    flushes_subnormals = True


NAN_LEAK_REASON = "a stand-in for torch's strided conv backward: NaN weights reach dx through inserted zeros"


class ConvVjpNanLeak(NumpyBackend):
    """conv's VJP returns NaN at the first position of x's last axis whenever w holds a NaN or inf: extra NaNs
    where spec has numbers (what torch's strided conv backward does, impls/torch_backend.py), undeclared."""

    name = "mutant-conv-vjp-nan-leak"

    def _real_gx(self, gx):
        return gx

    def conv_vjp(self, g, x, w, b=None, **kw):
        gx, *rest = super().conv_vjp(g, x, w, b, **kw)
        gx = self._real_gx(np.array(gx, copy=True))
        if not np.isfinite(np.asarray(w)).all():
            gx[..., 0] = np.nan
        return (gx, *rest)


class ConvVjpNanLeakDeclared(ConvVjpNanLeak):
    """The same leak, declared with the bound "extra NaNs only": expected_deviation."""

    name = "mutant-conv-vjp-nan-leak-declared"
    expected_deviations = (ExpectedDeviation("conv", "*", "*gradient", NAN_LEAK_REASON, categories=("nan_mismatch",),
                                             extra_nans_only=True),)


class ConvVjpNanDroppedBehindLeak(ConvVjpNanLeakDeclared):
    """Declares the extra-NaN leak, and also loses spec's own NaNs (turns them to 0) away from the leaked axis
    position: a missing NaN is beyond the bound, so it fails."""

    name = "mutant-conv-vjp-nan-dropped"

    def _real_gx(self, gx):
        gx[np.isnan(gx)] = 0.0
        return gx


class ConvVjpWrongValueBehindLeak(ConvVjpNanLeakDeclared):
    """Declares the extra-NaN leak, and also adds 1 to dx at the last position: a wrong number beside the
    extra NaNs is beyond the bound, so it fails."""

    name = "mutant-conv-vjp-wrong-value-behind-leak"

    def _real_gx(self, gx):
        gx[..., -1] += 1.0
        return gx


class ConvVjpZeroCotangentLeak(NumpyBackend):
    """1-D strided 'valid' conv whose VJP extends the cotangent with zeros to cover the whole input and multiplies
    them in: NaN weights reach dx through 0 * nan (what torch's float32 CPU kernel does), for the semantics probe."""

    name = "mutant-conv-vjp-zero-cotangent-leak"

    def conv_vjp(self, g, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        out = super().conv_vjp(g, x, w, b, padding=padding, stride=stride, dilation=dilation)
        x, w, g = np.asarray(x), np.asarray(w), np.asarray(g)
        s = stride[0] if isinstance(stride, tuple) else stride
        if x.ndim != 3 or padding != "valid" or dilation not in (1, (1,)) or s == 1:
            return out
        n, k = x.shape[-1], w.shape[-1]
        g_ext = np.zeros((*g.shape[:2], -(-n // s)))
        g_ext[..., :g.shape[-1]] = g
        gx = np.zeros(x.shape)
        with np.errstate(invalid="ignore"):
            for o in range(g_ext.shape[-1]):
                for t in range(k):
                    if o * s + t < n:
                        gx[..., o * s + t] += np.einsum("no,oc->nc", g_ext[..., o], w[..., t])
        return (gx.astype(out[0].dtype), *out[1:])


DEV_MUTANTS = {
    # module:attr -> (op, dtype, check, expected status, expected category)
    "tests.mutants:BlanketWaiverFlippedKernel": ("conv", "float32", "forward", "fail", "mismatch"),
    "tests.mutants:BoundedWaiverFlippedKernel": ("conv", "float32", "forward", "fail", "mismatch"),
    "tests.mutants:TF32Undeclared": ("conv", "float32", "forward", "fail", "mismatch"),
    "tests.mutants:TF32Declared": ("conv", "float32", "forward", "expected_deviation", None),
    "tests.mutants:WrongShapeBehindDeclaration": ("conv", "float32", "forward", "fail", "wrong_shape"),
    "tests.mutants:OneUlpRelu": ("relu", "float64", "forward", "fail", "inexact"),
    "tests.mutants:OneUlpMaxPool": ("max_pool", "float64", "forward", "fail", "inexact"),
    "tests.mutants:PlainTF32Declared": ("conv", "float32", "forward", "expected_deviation", None),
    "tests.mutants:FlushToZero": ("dense", "float64", "subnormals", "fail", "flushed_subnormal"),
    "tests.mutants:FlushToZeroDeclared": ("dense", "float64", "subnormals", "expected_deviation", None),
}
"""The deviation, exactness and subnormal mutants of helper dev (tests/test_mutants_dev.py)."""
# --- helper reportx: planted bugs the semantics probes must name (tests/test_semantic_probes.py).
# Not in MUTANTS: a semantics row describes, it does not fail. ReluGradOneAtZero is also in STRAT_MUTANTS: relu's
# cases now draw exact zeros, so the gradient check fails it too.

class ReluGradOneAtZero(NumpyBackend):
    """relu'(0) = 1 (the `x >= 0` mask) instead of spec's 0."""

    name = "mutant-relu-grad-one-at-zero"

    def relu_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, np.shape(x))
        return (np.where(np.isnan(x), np.nan, np.where(x >= 0, g, 0.0)).astype(x.dtype),)


class TanhSigmoid(NumpyBackend):
    """sigmoid as 0.5 tanh(x/2) + 0.5: mathematically equal, but only ABSOLUTE accuracy in the negative tail."""

    name = "mutant-tanh-sigmoid"

    def sigmoid(self, x):
        validate.check_elementwise(x)
        return (0.5 * np.tanh(0.5 * x) + 0.5).astype(x.dtype)


class FlushesSubnormalResults(NumpyBackend):
    """dense flushes subnormal results to zero (FTZ), as some accelerators' matrix units do."""

    name = "mutant-ftz-dense"

    def dense(self, x, w, b=None):
        y = super().dense(x, w, b)
        return np.where(np.abs(y) < np.finfo(y.dtype).tiny, 0.0, y).astype(y.dtype)


class DropProbabilityMask(NumpyBackend):
    """dropout_mask reads keep_prob as the DROP probability (torch's p)."""

    name = "mutant-drop-probability-mask"

    def dropout_mask(self, shape, *, keep_prob, seed):
        return 1.0 - super().dropout_mask(shape, keep_prob=keep_prob, seed=seed)
# ---- helper "ops": the lecture's two generalizations of conv (caught by conformance/test_properties_generalized.py)
class FlippedLocalKernel(NumpyBackend):
    """locally_connected applies every position's kernel flipped (true convolution), conv stays right."""

    name = "mutant-flipped-local-kernel"

    def locally_connected(self, x, w, b=None, *, stride=1):
        nd = x.ndim - 2
        return super().locally_connected(x, np.flip(w, axis=tuple(range(w.ndim - nd, w.ndim))).copy(), b,
                                         stride=stride)


class DeduplicatedEdges(NumpyBackend):
    """graph_conv counts each distinct edge once (a set of edges), though spec counts duplicates."""

    name = "mutant-deduplicated-edges"

    def graph_conv(self, x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
        validate.check_graph_conv(x, edges, w, b, normalize=normalize, self_loops=self_loops)
        unique = np.unique(np.asarray(edges), axis=0).reshape(-1, 2)
        return super().graph_conv(x, unique, w, b, normalize=normalize, self_loops=self_loops)


GENERALIZED_MUTANTS = {
    "tests.mutants:FlippedLocalKernel": ("locally_connected", "lc_shared_kernel_is_valid_conv"),
    "tests.mutants:DeduplicatedEdges": ("graph_conv", "graph_ring_is_periodic_conv"),
}
"""module:attr -> (op, property of test_properties_generalized.py) that must be reported failing."""
# --- helper checks ---
# One planted bug per check of issue 10 item 5, each caught by the check kind named in CHECK_MUTANTS
# (tests/test_mutants_checks.py). They are not in MUTANTS: tests/test_mutants.py runs those through the
# forward and tie checks only.

from impls.base import Backend  # noqa: E402


class ShuffledBatchWeightGradient(NumpyBackend):
    """conv_vjp sums the weight gradient over the batch in a new random order on every call (a racing
    or work-stealing reduction): right to rounding, but not bit-reproducible. Invisible at N <= 2."""

    name = "mutant-shuffled-batch-gw"

    def conv_vjp(self, g, x, w, b=None, **kw):
        grads = super().conv_vjp(g, x, w, b, **kw)
        parts = [super(ShuffledBatchWeightGradient, self).conv_vjp(g[i:i + 1], x[i:i + 1], w, b, **kw)[1]
                 for i in range(x.shape[0])]
        if len(parts) < 2:
            return grads
        order = np.random.default_rng().permutation(len(parts))
        gw = parts[order[0]].copy()
        for i in order[1:]:
            gw = gw + parts[i]
        return (grads[0], gw, *grads[2:])


class BiasedKeepRate(NumpyBackend):
    """The mask keeps with probability 0.99 keep_prob: a 1% relative bias (a threshold off by a constant)."""

    name = "mutant-biased-keep-rate"

    def dropout_mask(self, shape, *, keep_prob, seed):
        shape, keep_prob = validate.check_dropout_mask(shape, keep_prob=keep_prob, seed=seed)
        rate = keep_prob if keep_prob == 1.0 else 0.99 * keep_prob
        return (np.random.default_rng(seed).random(shape) < rate).astype(np.float64)


class IdenticalMaskRows(NumpyBackend):
    """One row of the mask is drawn and repeated for every sample of the batch."""

    name = "mutant-identical-mask-rows"

    def dropout_mask(self, shape, *, keep_prob, seed):
        shape, keep_prob = validate.check_dropout_mask(shape, keep_prob=keep_prob, seed=seed)
        row = np.random.default_rng(seed).random(shape[1]) < keep_prob
        return np.broadcast_to(row, shape).astype(np.float64)


class ShiftedSeedMasks(NumpyBackend):
    """The seed is an offset into one fixed random stream: the mask of seed s + 1 is that of seed s shifted
    by one entry."""

    name = "mutant-shifted-seed-masks"

    def dropout_mask(self, shape, *, keep_prob, seed):
        shape, keep_prob = validate.check_dropout_mask(shape, keep_prob=keep_prob, seed=seed)
        offset = seed % 4096
        u = np.random.default_rng(0).random(int(np.prod(shape)) + offset)[offset:]
        return (u < keep_prob).astype(np.float64).reshape(shape)


class Float32PeriodicEdge(NumpyBackend):
    """A float32-only backend whose periodic conv forgets the wrap-around at the first output of rows longer
    than 16 (a blocked kernel whose first block gets a zero halo): correct on every input the forward checks
    draw (rows <= 9), but not shift-equivariant."""

    name = "mutant-float32-periodic-edge"
    dtypes = ("float32",)

    def conv(self, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        y = super().conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        if padding == "periodic" and x.shape[-1] > 16:
            zero_halo = super().conv(x, w, b, padding="same", stride=stride, dilation=dilation)
            y[..., 0] = zero_halo[..., 0]
        return y


class BroadcastingCotangent(NumpyBackend):
    """conv_vjp broadcasts a cotangent of the wrong shape to the output's instead of rejecting it."""

    name = "mutant-broadcasting-cotangent"

    def conv_vjp(self, g, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        validate.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        out = validate.conv_output_shape(x.shape, w.shape, padding=padding, stride=stride, dilation=dilation)
        g = np.broadcast_to(g, out)
        return super().conv_vjp(g, x, w, b, padding=padding, stride=stride, dilation=dilation)


class KeyErrorOnCheckerboard(NumpyBackend):
    """avg_pool raises KeyError on a +-1 checkerboard of side >= 4 (a lookup table of 'special' inputs):
    only the Nyquist property feeds it one."""

    name = "mutant-keyerror-on-checkerboard"

    def avg_pool(self, x, *, size=2, stride=None):
        if x.ndim == 4 and x.shape[-1] == x.shape[-2] >= 4:
            i, j = np.meshgrid(np.arange(x.shape[-2]), np.arange(x.shape[-1]), indexing="ij")
            if np.array_equal(x[0, 0], (-1.0) ** (i + j)):
                raise KeyError("checkerboard")
        return super().avg_pool(x, size=size, stride=stride)


class NoBatchNorm(NumpyBackend):
    """numpy without batch norm (an ONNX Runtime-like backend that lacks the op)."""

    name = "mutant-no-batch-norm"
    batch_norm = Backend.batch_norm
    batch_norm_vjp = Backend.batch_norm_vjp


CHECK_MUTANTS = {
    # module:attr -> (op, dtype or None, check, row name contains, status, category)
    "tests.mutants:ShuffledBatchWeightGradient": ("conv", None, "determinism", "conv_vjp", "fail", "nondeterministic"),
    "tests.mutants:BiasedKeepRate": ("dropout_mask", None, "statistics", "keep rate", "fail", "mismatch"),
    "tests.mutants:IdenticalMaskRows": ("dropout_mask", None, "independence", "rows and channels", "fail", "mismatch"),
    "tests.mutants:ShiftedSeedMasks": ("dropout_mask", None, "independence", "seeds", "fail", "mismatch"),
    "tests.mutants:Float32PeriodicEdge": ("conv", "float32", "property", "periodic_shift_equivariance", "fail",
                                          "mismatch"),
    "tests.mutants:BroadcastingCotangent": ("conv", None, "bad_input", "conv_vjp-g-shape-broadcasts", "fail",
                                            "no_valueerror"),
    "tests.mutants:KeyErrorOnCheckerboard": ("max_pool", None, "property", "nyquist_checkerboard_is_lost", "fail",
                                             "unexpected_exception"),
    "tests.mutants:NoBatchNorm": ("network", None, "composite", "", "not_implemented", None),
}
"""The helper-checks mutants and the one row each must produce."""


# --- helper strat ---------------------------------------------------------------------------------
# Bugs that only the corner strategies reach (hypothesis_helpers: exact zeros, 3 spatial axes, NaN/inf in
# the weights, running variance below zero, offset data, all -inf windows, sigmoid's tails, omitted
# keywords, memory layouts). tests/test_mutants_strat.py asserts each is caught by the check kind named.


# ReluGradOneAtZero (relu'(0) = 1) is defined in the reportx block above and used here too.


class BatchNorm3DWrong(NumpyBackend):
    """Batch norm over (N, C, D, H, W) forgets the depth axis D in its statistics (per-slice statistics)."""

    name = "mutant-batch-norm-3d"

    def batch_norm(self, x, gamma, beta, *, eps=1e-5):
        if np.ndim(x) != 5:
            return super().batch_norm(x, gamma, beta, eps=eps)
        validate.check_batch_norm(x, gamma, beta, eps=eps)
        x = np.asarray(x)
        mu, var = x.mean(axis=(0, 3, 4), keepdims=True), x.var(axis=(0, 3, 4), keepdims=True)
        shape = (1, -1, 1, 1, 1)
        y = gamma.reshape(shape) * (x - mu) / np.sqrt(var + eps) + beta.reshape(shape)
        return y.astype(x.dtype)


class ConvPadAfterMultiply(NumpyBackend):
    """'same' conv that multiplies only real input positions and zero-fills afterwards, so a NaN/inf weight
    never meets the zero pad (spec: 0 * inf = nan on the pad, as with an explicitly padded array)."""

    name = "mutant-conv-pad-after-multiply"

    def conv(self, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        if padding != "same" or np.isfinite(np.asarray(w)).all():
            return super().conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        return self.pad_after_multiply(x, w, b, stride=stride, dilation=dilation)

    @staticmethod
    def pad_after_multiply(x, w, b, *, stride, dilation):
        stride, dilation, pads = validate.check_conv(x, w, b, padding="same", stride=stride, dilation=dilation)
        x, w = np.asarray(x), np.asarray(w)
        sp = x.shape[2:]
        full = np.zeros((x.shape[0], w.shape[0], *sp), dtype=x.dtype)
        with np.errstate(invalid="ignore", over="ignore"):
            for t in np.ndindex(*w.shape[2:]):
                prod = np.einsum("nc...,oc->no...", x, w[(slice(None), slice(None), *t)])
                offs = [ti * d - before for ti, d, (before, _) in zip(t, dilation, pads, strict=True)]
                dst = tuple(slice(max(0, -o), n - max(0, o)) for o, n in zip(offs, sp, strict=True))
                src = tuple(slice(max(0, o), n - max(0, -o)) for o, n in zip(offs, sp, strict=True))
                full[(slice(None), slice(None), *dst)] += prod[(slice(None), slice(None), *src)]
        y = full[(slice(None), slice(None), *(slice(None, None, s) for s in stride))]
        if b is not None:
            y = y + np.asarray(b).reshape((1, -1) + (1,) * len(sp))
        return y.astype(x.dtype)


class RunningVarClamp(NumpyBackend):
    """Evaluation batch norm clamps a negative running variance to 0 (spec: sqrt of a negative sum is NaN)."""

    name = "mutant-running-var-clamp"

    def batch_norm_eval(self, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        rv = np.maximum(np.asarray(running_var), 0)
        return super().batch_norm_eval(x, gamma, beta, running_mean, rv.astype(np.asarray(running_var).dtype), eps=eps)


class FusedBatchNormEval(NumpyBackend):
    """Evaluation batch norm fused into one scale and shift, x * a + (beta - mean * a) with a = gamma / std, as
    torch and ONNX Runtime compute it: equal to rounding, but NaN (inf - inf) where std = 0 and spec gives +-inf.
    A semantics point, not a failure (no check draws std = 0)."""

    name = "mutant-fused-batch-norm-eval"

    def batch_norm_eval(self, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        validate.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
        x = np.asarray(x)
        shape = (1, -1) + (1,) * (x.ndim - 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            a = np.asarray(gamma) / np.sqrt(np.asarray(running_var) + x.dtype.type(eps))
            shift = np.asarray(beta) - np.asarray(running_mean) * a
            return (x * a.reshape(shape) + shift.reshape(shape)).astype(x.dtype)


class OnePassVariance(NumpyBackend):
    """Batch norm with the one-pass variance E[x^2] - E[x]^2 in x's dtype: cancels on offset data."""

    name = "mutant-one-pass-variance"

    def batch_norm(self, x, gamma, beta, *, eps=1e-5):
        validate.check_batch_norm(x, gamma, beta, eps=eps)
        x = np.asarray(x)
        axes = (0, *range(2, x.ndim))
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mu = x.mean(axis=axes, keepdims=True, dtype=x.dtype)
        var = (x * x).mean(axis=axes, keepdims=True, dtype=x.dtype) - mu * mu
        with np.errstate(invalid="ignore"):
            y = gamma.reshape(shape) * (x - mu) / np.sqrt(var + x.dtype.type(eps)) + beta.reshape(shape)
        return y.astype(x.dtype)


class MaxPoolAllNegInfLowest(NumpyBackend):
    """max_pool of a window that is all -inf returns the dtype's lowest finite value (ONNX Runtime's habit)."""

    name = "mutant-max-pool-neg-inf-lowest"

    def max_pool(self, x, *, size=2, stride=None):
        y = super().max_pool(x, size=size, stride=stride)
        return np.where(np.isneginf(y), np.finfo(y.dtype).min, y).astype(y.dtype)


class SigmoidAbsoluteError(NumpyBackend):
    """sigmoid with an absolute-error formula: exactly 0 for x <= -18 (where spec's value is ~1.5e-8 or less)."""

    name = "mutant-sigmoid-absolute-error"

    def sigmoid(self, x):
        y = super().sigmoid(x)
        return np.where(np.asarray(x) <= -18, 0, y).astype(y.dtype)


class ConvDefaultPaddingSame(NumpyBackend):
    """conv's default padding is 'same' instead of spec's 'valid' (seen only when padding is omitted)."""

    name = "mutant-conv-default-same"

    def conv(self, x, w, b=None, *, padding="same", stride=1, dilation=1):
        return super().conv(x, w, b, padding=padding, stride=stride, dilation=dilation)


class BatchNormDefaultEps(NumpyBackend):
    """batch_norm's default eps is 1e-3 (Keras) instead of spec's 1e-5 (seen only when eps is omitted)."""

    name = "mutant-batch-norm-default-eps"

    def batch_norm(self, x, gamma, beta, *, eps=1e-3):
        return super().batch_norm(x, gamma, beta, eps=eps)


class AssumesCContiguous(NumpyBackend):
    """tanh that reads its input in memory order (ravel order "K") and reshapes as if it were C-contiguous:
    right on contiguous arrays, scrambled on Fortran-order, reversed or channels-last input."""

    name = "mutant-assumes-c-contiguous"

    def tanh(self, x):
        x = np.asarray(x)
        return np.tanh(x.ravel(order="K")).reshape(x.shape)


class GraphConvDefaultMean(NumpyBackend):
    """graph_conv's default normalize is "mean" instead of spec's "symmetric" (seen only when it is omitted)."""

    name = "mutant-graph-conv-default-mean"

    def graph_conv(self, x, edges, w, b=None, *, normalize="mean", self_loops=True):
        return super().graph_conv(x, edges, w, b, normalize=normalize, self_loops=self_loops)


class LocalNanWeightsZeroed(NumpyBackend):
    """locally_connected sanitizes its weights (NaN and +-inf become 0 and +-max): a NaN or inf tap vanishes."""

    name = "mutant-local-nan-weights-zeroed"

    def locally_connected(self, x, w, b=None, *, stride=1):
        return super().locally_connected(x, np.nan_to_num(np.asarray(w)), b, stride=stride)


class LocalBiasFirstTile(NumpyBackend):
    """locally_connected adds the bias to the first batch tile of two samples only: invisible at N <= 2."""

    name = "mutant-local-bias-first-tile"

    def locally_connected(self, x, w, b=None, *, stride=1):
        y = super().locally_connected(x, w, b, stride=stride)
        if b is not None and y.shape[0] > 2:
            y[2:] -= np.asarray(b, dtype=y.dtype)
        return y


class GraphAssumesCContiguous(NumpyBackend):
    """graph_conv reads x in memory order and reshapes it as if it were C-contiguous (a raw-pointer kernel):
    right on contiguous arrays, scrambled on Fortran-order or reversed input."""

    name = "mutant-graph-assumes-c-contiguous"

    def graph_conv(self, x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
        x = np.asarray(x)
        return super().graph_conv(x.ravel(order="K").reshape(x.shape), edges, w, b, normalize=normalize,
                                  self_loops=self_loops)


STRAT_MUTANTS = {
    "tests.mutants:ReluGradOneAtZero": ("relu", "gradient"),
    "tests.mutants:BatchNorm3DWrong": ("batch_norm", "forward"),
    "tests.mutants:ConvPadAfterMultiply": ("conv", "forward"),
    "tests.mutants:RunningVarClamp": ("batch_norm_eval", "forward"),
    "tests.mutants:OnePassVariance": ("batch_norm", "forward"),
    "tests.mutants:MaxPoolAllNegInfLowest": ("max_pool", "forward"),
    "tests.mutants:SigmoidAbsoluteError": ("sigmoid", "forward"),
    "tests.mutants:ConvDefaultPaddingSame": ("conv", "forward"),
    "tests.mutants:BatchNormDefaultEps": ("batch_norm", "forward"),
    "tests.mutants:AssumesCContiguous": ("tanh", "forward"),
    "tests.mutants:GraphConvDefaultMean": ("graph_conv", "forward"),
    "tests.mutants:LocalNanWeightsZeroed": ("locally_connected", "forward"),
    "tests.mutants:LocalBiasFirstTile": ("locally_connected", "forward"),
    "tests.mutants:GraphAssumesCContiguous": ("graph_conv", "forward"),
}
"""Helper strat's mutants (kept out of MUTANTS, whose test runs another -k filter): module:attr -> (op, check)."""
