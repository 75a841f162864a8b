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
