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


# --- helper strat ---------------------------------------------------------------------------------
# Bugs that only the corner strategies reach (hypothesis_helpers: exact zeros, 3 spatial axes, NaN/inf in
# the weights, running variance below zero, offset data, all -inf windows, sigmoid's tails, omitted
# keywords, memory layouts). tests/test_mutants_strat.py asserts each is caught by the check kind named.


class ReluGradOneAtZero(NumpyBackend):
    """relu'(0) = 1 (x >= 0) instead of spec's documented relu'(0) = 0."""

    name = "mutant-relu-grad-one-at-zero"

    def relu_vjp(self, g, x):
        (gx,) = super().relu_vjp(g, x)
        return (np.where(np.asarray(x) == 0, np.asarray(g, dtype=gx.dtype), gx),)


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
}
"""Helper strat's mutants (kept out of MUTANTS, whose test runs another -k filter): module:attr -> (op, check)."""
