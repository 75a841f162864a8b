"""The composite network (conv -> relu -> max_pool -> batch_norm -> dropout -> dense -> loss):
forward, every gradient and three SGD steps agree with spec running the very same code."""

from __future__ import annotations

import numpy as np

from impls.base import NotImplementedOp

from .composite import PARAM_NAMES, composite_step, make_problem, sgd_steps, to_backend, to_numpy
from .dtype_helpers import round_to_dtype
from .plugin import Combo, combos
from .pytest_helpers import ConformanceFailure
from .runner import fail_row, not_implemented, pytest_repro
from .spec_backend import SpecBackend
from .tolerance import compare

# Small enough for spec's loops: N=4, 2 -> 3 channels, 6x6 images, 5 outputs.
PROBLEM = dict(n=4, c_in=2, c_out=3, h=6, w=6, k=3, n_out=5, keep_prob=0.7, seed=11)
# Errors add up along the chain conv (C_in k^2 = 18) -> batch norm (N H/2 W/2 = 36) -> dense (F = 27),
# and the network is compared normwise (m = max |spec|), so the chain's total reduction length
# stands in for K: sqrt(K) = 18 + 36 + 27.
CHAIN_K = (18 + 36 + 27) ** 2


def _network_combos(name, backend):
    return [Combo(name, "network", dt) for dt in backend.dtypes]


def _check(name, actual, expected, dtype):
    e = np.asarray(expected, dtype=np.float64)
    a = np.asarray(actual, dtype=np.float64)
    cmp = compare(a, e, np.full(e.shape, np.max(np.abs(e)) if e.size else 0.0), dtype=dtype, reduction=CHAIN_K,
                  c=4.0, what=name)
    if not cmp.ok:
        raise ConformanceFailure(cmp.category, cmp.message, expected=np.array2string(e.ravel(), threshold=12),
                                 actual=np.array2string(a.ravel(), threshold=12), comparison=cmp)
    return cmp


@combos(_network_combos)
def test_network(combo, backend, row, request):
    row.check = "composite"
    params, batch = make_problem(**PROBLEM)
    params = {k: round_to_dtype(v, combo.dtype) for k, v in params.items()}
    batch = {k: round_to_dtype(v, combo.dtype) if isinstance(v, np.ndarray) else v for k, v in batch.items()}
    ref = SpecBackend()
    try:
        try:
            loss, grads = composite_step(backend, to_backend(backend, params, combo.dtype),
                                         to_backend(backend, batch, combo.dtype))
            losses, final = sgd_steps(backend, to_backend(backend, params, combo.dtype),
                                      to_backend(backend, batch, combo.dtype), lr=0.1, steps=3)
        except NotImplementedOp as exc:  # a forward-only backend (onnxruntime) has no VJPs
            not_implemented(row, exc)
        except Exception as exc:  # the network calls backend ops directly, not through call_op
            raise ConformanceFailure("unexpected_exception", f"the network raised {type(exc).__name__}: {exc}") from exc
        ref_loss, ref_grads = composite_step(ref, params, batch)
        ref_losses, ref_final = sgd_steps(ref, params, batch, lr=0.1, steps=3)
        row.observe(_check("loss", [loss], [ref_loss], combo.dtype))
        for name, g in to_numpy(backend, grads).items():
            row.observe(_check(f"d{name}", g, ref_grads[name], combo.dtype))
        row.observe(_check("losses of 3 SGD steps", losses, ref_losses, combo.dtype))
        for name in PARAM_NAMES:
            row.observe(_check(f"{name} after 3 SGD steps", backend.to_numpy(final[name]), ref_final[name], combo.dtype))
        row.examples = 1
    except ConformanceFailure as exc:
        fail_row(row, backend, exc, falsifying=f"make_problem({PROBLEM})",
                 repro=pytest_repro(request.node.nodeid, combo.backend, None))
        raise

