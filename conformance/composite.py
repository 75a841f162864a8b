"""The lecture's composite network, built only from backend ops and their VJPs.

    x ─conv(3x3, 'same')─> z1 ─relu─> a1 ─max_pool(2)─> p1 ─batch_norm─> n1 ─dropout(mask)─> d1
      ─flatten─> f ─dense─> y ;  loss = 0.5 * mean((y - target)**2)

Shapes (``N`` batch, ``C0`` input channels, ``C1`` conv channels, ``H x W`` input, ``k`` kernel,
``H2 = H // 2``, ``W2 = W // 2``, ``F = C1 * H2 * W2``, ``K`` outputs):

=========  ======================  ===========================================================
array      shape                   meaning
=========  ======================  ===========================================================
``x``      ``(N, C0, H, W)``       input batch                       (``batch["x"]``)
``target`` ``(N, K)``              regression target                 (``batch["target"]``)
``mask``   ``(N, C1)``             dropout keep mask, 0/1            (``batch["mask"]``)
``w1``     ``(C1, C0, k, k)``      conv kernel                       (``params["w1"]``)
``b1``     ``(C1,)``               conv bias                         (``params["b1"]``)
``gamma``  ``(C1,)``               batch-norm scale                  (``params["gamma"]``)
``beta``   ``(C1,)``               batch-norm shift                  (``params["beta"]``)
``w2``     ``(K, F)``              dense weights                     (``params["w2"]``)
``b2``     ``(K,)``                dense bias                        (``params["b2"]``)
``z1, a1`` ``(N, C1, H, W)``       conv output, after relu
``p1, n1`` ``(N, C1, H2, W2)``     after max-pool, after batch norm
``d1``     ``(N, C1, H2, W2)``     after dropout (lecture convention: keep prob, no rescaling)
``f``      ``(N, F)``              ``d1`` flattened in C order
``y``      ``(N, K)``              network output
=========  ======================  ===========================================================

``batch`` also holds the plain Python values ``keep_prob`` (float) and ``scaling`` ("none" by
default, the lecture's dropout). ``params`` and the arrays of ``batch`` are NATIVE arrays of the
backend (see :func:`to_backend`).

Everything an op computes goes through the backend's ops (``conv``, ``relu``, ``max_pool``,
``batch_norm``, ``dropout``, ``dense`` and their ``*_vjp``). Outside the ops there are only:

* the flatten / unflatten between ``d1`` and ``f``, done with the native array's ``.reshape``
  (numpy, torch, cupy and jax arrays all have it; otherwise a round trip through numpy);
* the scalar loss and its gradient ``dloss/dy = (y - target) / y.size``, computed on the host in
  float64 from ``to_numpy(y)`` and handed back with ``asarray(..., dtype of y)``;
* the SGD update in :func:`sgd_steps`, ``p - lr * g`` computed on the host in the parameter's
  dtype and handed back with ``asarray``, so that every backend applies the identical update.

The host round trips are tiny (``N x K`` and the parameters) and make the step backend-agnostic.
"""

from __future__ import annotations

import numpy as np

PARAM_NAMES = ("w1", "b1", "gamma", "beta", "w2", "b2")
BATCH_ARRAYS = ("x", "target", "mask")
NETWORK_OPS = ("conv", "relu", "max_pool", "batch_norm", "dropout", "dense")
"""The ops the network is built from; a training step also calls each one's ``*_vjp``."""
STEP_OPS = NETWORK_OPS + tuple(op + "_vjp" for op in NETWORK_OPS)


def make_problem(*, n: int = 32, c_in: int = 3, c_out: int = 16, h: int = 32, w: int = 32, k: int = 3,
                 n_out: int = 10, keep_prob: float = 0.8, seed: int = 0) -> tuple[dict, dict]:
    """A random problem as numpy float64 arrays: ``(params, batch)`` with the shapes of the module doc.

    The mask is drawn with ``keep_prob`` but never drops every channel of a sample. Weights are
    scaled like a He initialisation so activations stay of order one.
    """
    if h < 2 or w < 2:
        raise ValueError(f"h, w=({h}, {w}): max_pool(2) needs a spatial size >= 2")
    rng = np.random.default_rng(seed)
    feat = c_out * (h // 2) * (w // 2)
    params = {
        "w1": rng.standard_normal((c_out, c_in, k, k)) * np.sqrt(2.0 / (c_in * k * k)),
        "b1": rng.standard_normal(c_out) * 0.1,
        "gamma": 1.0 + 0.1 * rng.standard_normal(c_out),
        "beta": 0.1 * rng.standard_normal(c_out),
        "w2": rng.standard_normal((n_out, feat)) * np.sqrt(1.0 / feat),
        "b2": rng.standard_normal(n_out) * 0.1,
    }
    mask = (rng.random((n, c_out)) < keep_prob).astype(np.float64)
    mask[mask.sum(axis=1) == 0, 0] = 1.0
    batch = {
        "x": rng.standard_normal((n, c_in, h, w)),
        "target": rng.standard_normal((n, n_out)),
        "mask": mask,
        "keep_prob": float(keep_prob),
        "scaling": "none",
    }
    return params, batch


def to_backend(backend, tree: dict, dtype: str) -> dict:
    """Convert every numpy array of ``tree`` to a native array of ``backend`` in ``dtype``; keep the rest."""
    return {key: backend.asarray(np.asarray(v), dtype) if isinstance(v, np.ndarray) else v
            for key, v in tree.items()}


def to_numpy(backend, tree: dict) -> dict:
    """The inverse of :func:`to_backend`: native arrays back to numpy (plain values kept)."""
    return {key: v if isinstance(v, (int, float, str, bool)) or v is None else backend.to_numpy(v)
            for key, v in tree.items()}


def _reshape(backend, a, shape):
    shape = tuple(int(s) for s in shape)
    if hasattr(a, "reshape"):
        return a.reshape(shape)
    return backend.asarray(np.ascontiguousarray(backend.to_numpy(a)).reshape(shape), backend.dtype_name(a))


def _dropout_kw(batch: dict) -> dict:
    return {"keep_prob": batch.get("keep_prob", 0.8), "scaling": batch.get("scaling", "none"),
            "training": True}


def composite_forward(backend, params: dict, batch: dict) -> tuple[float, dict]:
    """Forward pass and loss: ``(loss, cache)``; ``cache`` holds every intermediate by the doc's names."""
    x = batch["x"]
    z1 = backend.conv(x, params["w1"], params["b1"], padding="same")
    a1 = backend.relu(z1)
    p1 = backend.max_pool(a1, size=2)
    n1 = backend.batch_norm(p1, params["gamma"], params["beta"])
    d1 = backend.dropout(n1, batch["mask"], **_dropout_kw(batch))
    f = _reshape(backend, d1, (d1.shape[0], -1))
    y = backend.dense(f, params["w2"], params["b2"])
    resid = backend.to_numpy(y).astype(np.float64) - backend.to_numpy(batch["target"]).astype(np.float64)
    loss = 0.5 * float(np.mean(resid * resid)) if resid.size else 0.0
    cache = {"z1": z1, "a1": a1, "p1": p1, "n1": n1, "d1": d1, "f": f, "y": y, "resid": resid}
    return loss, cache


def composite_step(backend, params: dict, batch: dict) -> tuple[float, dict]:
    """One training step's forward pass and all VJPs: ``(loss, grads)``.

    ``grads`` has one native array per entry of :data:`PARAM_NAMES` (same shape as the parameter)
    and ``grads["x"]``, the gradient of the loss with respect to the input batch.
    """
    loss, c = composite_forward(backend, params, batch)
    x, y = batch["x"], c["y"]
    gy = backend.asarray(c["resid"] / max(c["resid"].size, 1), backend.dtype_name(y))
    gf, gw2, gb2 = backend.dense_vjp(gy, c["f"], params["w2"], params["b2"])
    gd1 = _reshape(backend, gf, c["d1"].shape)
    (gn1,) = backend.dropout_vjp(gd1, c["n1"], batch["mask"], **_dropout_kw(batch))
    gp1, ggamma, gbeta = backend.batch_norm_vjp(gn1, c["p1"], params["gamma"], params["beta"])
    (ga1,) = backend.max_pool_vjp(gp1, c["a1"], size=2)
    (gz1,) = backend.relu_vjp(ga1, c["z1"])
    gx, gw1, gb1 = backend.conv_vjp(gz1, x, params["w1"], params["b1"], padding="same")
    grads = {"w1": gw1, "b1": gb1, "gamma": ggamma, "beta": gbeta, "w2": gw2, "b2": gb2, "x": gx}
    return loss, grads


def sgd_steps(backend, params: dict, batch: dict, lr: float, steps: int) -> tuple[list[float], dict]:
    """``steps`` plain SGD steps ``p <- p - lr * grad``: ``(losses, params)``.

    ``losses[i]`` is the loss BEFORE update ``i`` (so ``len(losses) == steps``); the returned
    ``params`` are new native arrays after the last update (the inputs are not modified). The
    update is computed on the host in each parameter's own dtype, identically for every backend.
    """
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 0:
        raise ValueError(f"steps={steps!r}: expected an int >= 0")
    params = dict(params)
    losses = []
    for _ in range(steps):
        loss, grads = composite_step(backend, params, batch)
        losses.append(loss)
        new = {}
        for name in PARAM_NAMES:
            p = backend.to_numpy(params[name])
            g = backend.to_numpy(grads[name]).astype(p.dtype, copy=False)
            new[name] = backend.asarray(p - p.dtype.type(lr) * g, backend.dtype_name(params[name]))
        params.update(new)
    return losses, params


def flops(params_or_shapes: dict, batch: dict) -> int:
    """Multiply-add FLOPs of the forward pass's conv and dense layers (the dominant terms).

    Accepts native or numpy arrays (only ``.shape`` is read). A training step (forward + all
    VJPs) is counted as 3x this, as for a single conv.
    """
    n, c0, h, w = (int(s) for s in batch["x"].shape)
    c1, _, kh, kw = (int(s) for s in params_or_shapes["w1"].shape)
    k_out, feat = (int(s) for s in params_or_shapes["w2"].shape)
    return 2 * n * c1 * h * w * c0 * kh * kw + 2 * n * feat * k_out
