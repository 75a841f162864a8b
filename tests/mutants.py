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
