"""PyTorch backend: ``torch.nn.functional`` ops, VJPs by ``torch.autograd.grad``.

Two registered factories (pyproject.toml, entry-point group ``nnconform.backends``):
``torch-cpu`` (:func:`make_torch_cpu`, device ``"cpu"``, float32/float64) and ``torch-cuda``
(:func:`make_torch_cuda`, device ``"cuda:0"``, float32/float64/float16/bfloat16). Both raise
:class:`~impls.base.Unavailable` with the reason when torch (or a GPU) is missing; torch is imported
lazily, so this module imports without it.

How the lecture's ops map onto torch (each mapping is explicit here, never a torch default):

* conv: ``F.conv{1,2,3}d`` with ``padding=0`` on an explicitly padded input. 'same' is ``F.pad``
  with zeros, ``before = d*(k-1)//2`` and the extra pad of an even kernel at the END
  (``spec.validate.same_pads``). 'periodic' is ``F.pad(mode="circular")`` while every pad fits in
  its axis; torch refuses a circular pad larger than the input ("Padding value causes wrapping
  around more than once"), so when a (dilated) kernel is longer than the input the wrap is an
  ``index_select`` with ``arange(-before, n + after) % n`` per axis (autograd then accumulates the
  gradient of every copy). torch's conv with ``C_in = 0`` returns an EMPTY channel axis instead of
  the bias, so that case is computed explicitly (the output is the bias).
* max_pool / avg_pool: ``F.max_pool{n}d`` / ``F.avg_pool{n}d`` with ``kernel_size=size``,
  ``stride=stride``, no padding, ``ceil_mode=False`` (remainder dropped). torch routes a max-pool
  gradient to the FIRST maximum of tied values; a NaN makes the output NaN, and with several NaNs in
  one window torch (CPU) routes the gradient to the LAST NaN, where spec picks the first one.
  torch's pooling kernels refuse a zero-size channel axis, so any empty input returns zeros of the
  output shape directly.
* upsample: ``repeat_interleave`` per spatial axis (``np.repeat`` rule; equals
  ``F.interpolate(mode="nearest", scale_factor=f)`` for integer factors).
* dropout: the lecture's p is the KEEP probability and the mask is given: ``y = x * mask[:, :, None...]``
  and, for ``scaling="inverted"``, ``/ keep_prob``; ``training=False`` returns a copy of x.
  (``F.dropout*`` takes the DROP probability and draws its own mask, so it is not used.)
* dropout_mask: ``torch.bernoulli`` of ``keep_prob`` with a ``torch.Generator`` on the device seeded
  with ``seed % 2**64``; reproducible per seed and device, but NOT the same draws as spec's numpy
  generator (only the statistics agree). Returned as float32 0/1.
* batch_norm: ``F.batch_norm(training=True)`` without running buffers (biased variance). With one
  value per channel ``F.batch_norm`` raises its own ValueError; the aten op ``torch.batch_norm``
  (same kernel, no Python guard) is used for that case and gives ``beta``.
* batch_norm_eval: ``F.batch_norm(training=False)`` with the running statistics.
* running_stats: ``F.batch_norm(training=True, momentum=m)`` updating CLONES of the running
  buffers (torch uses the unbiased variance for ``running_var``); the inputs are never modified.

Every op first calls the matching ``spec.validate.check_*`` (and each VJP ``check_cotangent``), so
bad arguments raise spec's ValueErrors. Outputs never share memory with an input.
"""

from __future__ import annotations

import itertools
import math
import os
import platform
import warnings

import numpy as np

from spec import validate
from spec.catalogue import INDEX_DTYPE

from .base import Backend, ExpectedDeviation, Unavailable

__all__ = ["TorchBackend", "make_torch_cpu", "make_torch_cuda"]

CPU_DTYPES = ("float32", "float64")
CUDA_DTYPES = ("float32", "float64", "float16", "bfloat16")


def _import_torch():
    try:
        import torch
        import torch.nn.functional as F
    except Exception as exc:  # ImportError, or OSError from a broken CUDA/torch install
        raise Unavailable(f"torch is not installed: {type(exc).__name__}: {exc}") from exc
    return torch, F


def _read(obj, dotted: str):
    """``getattr`` along a dotted path, or None when an attribute is missing or refuses to be read."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            for part in dotted.split("."):
                obj = getattr(obj, part)
    except Exception:  # newer torch raises when legacy and new TF32 APIs were mixed
        return None
    return obj


TF32_ENV = "NNCONFORM_TORCH_TF32"
"""Set to 0 to run torch-cuda with TF32 off for conv and matmul (scripts/gpu-check.sh's strict pass)."""
TF32_UNIT_ROUNDOFF = 2.0**-11
"""TF32 keeps 10 explicit mantissa bits: u = 2**-11 in place of float32's 2**-24."""


def _disable_tf32(torch) -> None:
    """TF32 off for cuDNN convolutions and matmuls, through the legacy flags or, if those refuse, the new API."""
    try:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    except Exception:  # a torch that refuses the legacy flags once the fp32_precision API was used
        torch.backends.cudnn.conv.fp32_precision = "ieee"
        torch.backends.cuda.matmul.fp32_precision = "ieee"


def _flat_pads(pads):
    """Per-axis (before, after) pairs -> F.pad's flat order (last axis first)."""
    out = []
    for before, after in reversed(pads):
        out += [before, after]
    return out


class TorchBackend(Backend):
    """The lecture's ops on one torch device (``"cpu"`` or ``"cuda:0"``)."""

    def __init__(self, device: str = "cpu", name: str | None = None):
        torch, F = _import_torch()
        self._torch, self._F = torch, F
        self._dev = torch.device(device)
        self.device = str(self._dev)
        self.name = name or f"torch-{self._dev.type}"
        self.dtypes = CUDA_DTYPES if self._dev.type == "cuda" else CPU_DTYPES
        if self._dev.type == "cuda" and os.environ.get(TF32_ENV, "").strip() == "0":
            _disable_tf32(torch)  # the strict pass (like PyTorch's tf32_on_and_off): nothing is declared then
        self._dtypes = {"float32": torch.float32, "float64": torch.float64,
                        "float16": torch.float16, "bfloat16": torch.bfloat16}

    # ------------------------------------------------------------------ plumbing
    layouts = ("contiguous", "fortran", "strided", "channels_last")
    """``asarray`` layouts (impls.base.LAYOUTS) torch can hold: it has no negative strides, so no "reversed"."""

    def asarray(self, a, dtype: str, layout: str = "contiguous"):
        if dtype == INDEX_DTYPE:  # an integer index array (graph edges) keeps its integer dtype
            return self._torch.from_numpy(np.array(a, dtype=np.int64, copy=True)).to(self._dev)
        if dtype not in self.dtypes:
            raise ValueError(f"dtype={dtype!r}: backend {self.name!r} supports {self.dtypes}")
        torch = self._torch
        if dtype == "bfloat16":  # numpy has no bfloat16: go through float32 (as conformance does)
            host = torch.from_numpy(np.array(a, dtype=np.float32, copy=True))
            return self._layout(host.to(self._dev).to(torch.bfloat16), layout)
        return self._layout(torch.from_numpy(np.array(a, dtype=dtype, copy=True)).to(self._dev), layout)

    def _layout(self, t, layout: str):
        """``t`` in the memory layout ``layout``: channels_last memory formats for 4-D/5-D, strided views."""
        torch = self._torch
        if layout == "contiguous":
            return t
        if layout == "channels_last":
            if t.dim() == 4:
                return t.contiguous(memory_format=torch.channels_last)
            if t.dim() == 5:
                return t.contiguous(memory_format=torch.channels_last_3d)
            return t if t.dim() < 3 else t.movedim(1, -1).contiguous().movedim(-1, 1)
        if layout == "fortran":
            rev = tuple(reversed(range(t.dim())))
            return t.permute(rev).contiguous().permute(rev)
        if layout == "strided":
            big = torch.full([2 * s + 1 for s in t.shape], float("nan"), dtype=t.dtype, device=t.device)
            view = big[tuple(slice(1, None, 2) for _ in t.shape)]
            view.copy_(t)
            return view
        raise ValueError(f"layout={layout!r}: backend {self.name!r} supports {self.layouts}")

    def to_numpy(self, a) -> np.ndarray:
        torch = self._torch
        if not isinstance(a, torch.Tensor):
            return np.asarray(a)
        a = a.detach()
        if a.dtype == torch.bfloat16:  # numpy lacks bfloat16; float16 stays float16 (numpy has it)
            a = a.float()
        return np.array(a.cpu().numpy(), copy=True)

    def dtype_name(self, a) -> str:
        if isinstance(a, self._torch.Tensor):
            return str(a.dtype).removeprefix("torch.")
        return str(np.asarray(a).dtype)

    def _tf32(self) -> tuple[bool, bool]:
        """(conv uses TF32 for float32, matmul uses TF32 for float32) under the current settings."""
        torch = self._torch
        if self._dev.type != "cuda":
            return False, False

        def precision(*paths):
            for path in paths:  # the most specific setting that is not "none" wins
                value = _read(torch.backends, path)
                if isinstance(value, str) and value != "none":
                    return value
            return None

        conv_prec = precision("cudnn.conv.fp32_precision", "cudnn.fp32_precision", "fp32_precision")
        conv = conv_prec == "tf32" if conv_prec else bool(_read(torch.backends, "cudnn.allow_tf32"))
        mm_prec = precision("cuda.matmul.fp32_precision", "fp32_precision")
        if mm_prec:
            mm = mm_prec == "tf32"
        else:
            mm = bool(_read(torch.backends, "cuda.matmul.allow_tf32")) or (
                _read(torch, "get_float32_matmul_precision") is not None
                and torch.get_float32_matmul_precision() != "highest")
        return conv, mm

    @property
    def expected_deviations(self):
        conv, mm = self._tf32()
        out = [ExpectedDeviation(
            op="relu", dtype="*", check="nan_gradient", categories=("nan_mismatch",),
            reason="torch's relu backward is g * (x > 0) evaluated as a where(): at x = NaN it passes g "
                   "through, while spec (and numpy/scipy) return NaN there"),
            ExpectedDeviation(
                op="max_pool", dtype="*", check="nan_policy",
                reason="with several NaNs in one window torch's max-pool routes the gradient to the LAST NaN "
                       "(measured on CPU, torch 2.13); spec's policy is the first, like its tie policy"),
            ExpectedDeviation(
                op="conv", dtype="float32", check="*gradient", categories=("nan_mismatch",), extra_nans_only=True,
                reason="torch's strided conv backward multiplies the weights by zero cotangent entries of "
                       "output positions that do not exist, so a NaN or inf weight makes dx NaN where the "
                       "forward pass never multiplied it (0 * nan = nan): x (2,1,2,5), w (2,1,2,4) with "
                       "w[0,0,0,0] = NaN, stride (1,2) gave dx NaN at 6 positions where spec has 2 (float32 "
                       "on CPU, torch 2.13; float64 takes another kernel and agrees with spec); numpy, scipy "
                       "and jax sum only the chain rule's real terms, as spec does. Bounded: extra NaNs only")]
        if conv:
            out.append(ExpectedDeviation(
                op="conv*", dtype="float32", check="*", unit_roundoff=TF32_UNIT_ROUNDOFF,
                reason="cuDNN uses TF32 (10-bit mantissa) for float32 convolutions while "
                       "torch.backends.cudnn.allow_tf32 is True (the default): measured 2.9e-4 relative "
                       "error at N=32, C=64->64, 32x32, 3x3 on an H100 (1.7e-7 with TF32 off); small "
                       "shapes often pick a non-TF32 algorithm"))
        if mm:
            out.append(ExpectedDeviation(
                op="dense*", dtype="float32", check="*", unit_roundoff=TF32_UNIT_ROUNDOFF,
                reason="float32 matmul uses TF32 (torch.backends.cuda.matmul.allow_tf32 / "
                       "set_float32_matmul_precision('high')): ~1e-3 relative error"))
        return tuple(out)

    @property
    def deterministic(self) -> bool:
        if self._dev.type != "cuda":
            return True
        # cuDNN/CUDA backward kernels (conv weight grad, pooling/upsample scatter) use atomics
        return bool(self._torch.are_deterministic_algorithms_enabled())

    def metadata(self) -> dict:
        torch = self._torch
        cuda = self._dev.type == "cuda"
        md = {
            "torch": torch.__version__,
            "numpy": np.__version__,
            "device": self.device,
            "device_name": (torch.cuda.get_device_name(self._dev) if cuda
                            else platform.processor() or platform.machine()),
            "cuda": torch.version.cuda,
            "cudnn": _read(torch.backends, "cudnn.version") and torch.backends.cudnn.version(),
            "torch.backends.cudnn.allow_tf32": _read(torch.backends, "cudnn.allow_tf32"),
            TF32_ENV: os.environ.get(TF32_ENV),
            "torch.backends.cuda.matmul.allow_tf32": _read(torch.backends, "cuda.matmul.allow_tf32"),
            "torch.get_float32_matmul_precision": _read(torch, "get_float32_matmul_precision")
            and torch.get_float32_matmul_precision(),
            "torch.backends.cudnn.deterministic": _read(torch.backends, "cudnn.deterministic"),
            "torch.backends.cudnn.benchmark": _read(torch.backends, "cudnn.benchmark"),
            "num_threads": torch.get_num_threads(),
            "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        }
        for path in ("fp32_precision", "cudnn.fp32_precision", "cudnn.conv.fp32_precision",
                     "cuda.matmul.fp32_precision"):
            value = _read(torch.backends, path)
            if isinstance(value, str):
                md[f"torch.backends.{path}"] = value
        conv, mm = self._tf32()
        md["tf32_conv"], md["tf32_matmul"] = conv, mm
        return md

    # ------------------------------------------------------------------ helpers
    def _own(self, out, *inputs):
        """``out``, cloned when it shares memory with one of ``inputs`` (results never alias inputs)."""
        torch = self._torch
        if not isinstance(out, torch.Tensor) or out.numel() == 0:
            return out
        ptr = out.untyped_storage().data_ptr()
        for a in inputs:
            if isinstance(a, torch.Tensor) and a.numel() and a.untyped_storage().data_ptr() == ptr:
                return out.clone()
        return out

    def _forward(self, fn, *args):
        with self._torch.no_grad():
            y = fn(*(a.detach() if isinstance(a, self._torch.Tensor) else a for a in args))
        return self._own(y, *args)

    def _vjp(self, fn, g, *inputs):
        """Gradients of ``<g, fn(*inputs)>`` w.r.t. every tensor in ``inputs`` (zeros where unused)."""
        torch = self._torch
        with torch.enable_grad():
            leaves = [a.detach().requires_grad_(True) for a in inputs]
            y = fn(*leaves)
            if y.numel() == 0 or not y.requires_grad:
                grads = [None] * len(leaves)
            else:
                grads = torch.autograd.grad(y, leaves, grad_outputs=g.detach().to(y.dtype), allow_unused=True)
        out = tuple(torch.zeros_like(a) if gr is None else gr.detach() for a, gr in zip(inputs, grads, strict=True))
        return tuple(self._own(gr, g, *inputs) for gr in out)

    def _bcast(self, v, ndim: int):
        """A (C,) or (N, C) vector reshaped to broadcast against (N, C, *spatial)."""
        return v.reshape(*v.shape, *(1,) * (ndim - v.ndim))

    # ------------------------------------------------------------------ conv, dense
    def _periodic(self, x, pads):
        F, torch = self._F, self._torch
        sizes = x.shape[2:]
        if x.numel() and all(b <= n and a <= n for (b, a), n in zip(pads, sizes, strict=True)):
            return F.pad(x, _flat_pads(pads), mode="circular")
        # torch refuses to wrap more than once: index mod n along each axis instead
        for axis, ((before, after), n) in enumerate(zip(pads, sizes, strict=True)):
            idx = torch.arange(-before, n + after, device=x.device) % n
            x = x.index_select(2 + axis, idx)
        return x

    def _conv(self, x, w, b, padding, stride, dilation, pads):
        F, torch = self._F, self._torch
        nd = x.ndim - 2
        if x.shape[1] == 0:  # torch returns an empty channel axis here; the sum over no channels is 0
            shape = validate.conv_output_shape(tuple(x.shape), tuple(w.shape), padding=padding,
                                               stride=stride, dilation=dilation)
            y = torch.zeros(shape, dtype=x.dtype, device=x.device)
            return y if b is None else y + self._bcast(b, len(shape))
        if padding == "same":
            x = F.pad(x, _flat_pads(pads))
        elif padding == "periodic":
            x = self._periodic(x, pads)
        conv = getattr(F, f"conv{nd}d")
        return conv(x, w, b, stride=stride, padding=0, dilation=dilation)

    def conv(self, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        stride, dilation, pads = validate.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        return self._forward(lambda x, w, b: self._conv(x, w, b, padding, stride, dilation, pads), x, w, b)

    def conv_vjp(self, g, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        stride, dilation, pads = validate.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        validate.check_cotangent(g, validate.conv_output_shape(
            tuple(x.shape), tuple(w.shape), padding=padding, stride=stride, dilation=dilation))
        if b is None:
            return self._vjp(lambda x, w: self._conv(x, w, None, padding, stride, dilation, pads), g, x, w)
        return self._vjp(lambda x, w, b: self._conv(x, w, b, padding, stride, dilation, pads), g, x, w, b)

    def dense(self, x, w, b=None):
        validate.check_dense(x, w, b)
        return self._forward(self._F.linear, x, w, b)

    def dense_vjp(self, g, x, w, b=None):
        validate.check_dense(x, w, b)
        validate.check_cotangent(g, (x.shape[0], w.shape[0]))
        if b is None:
            return self._vjp(self._F.linear, g, x, w)
        return self._vjp(self._F.linear, g, x, w, b)

    # ------------------------------------------------------------------ activations
    def relu(self, x):
        validate.check_elementwise(x)
        # + 0.0 turns torch.relu(-0.0) = -0.0 into spec's +0.0 (relu is compared bit for bit); NaN stays NaN.
        return self._forward(lambda t: self._torch.relu(t).add_(0.0), x)

    def relu_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, x.shape)
        return self._vjp(self._torch.relu, g, x)

    def sigmoid(self, x):
        validate.check_elementwise(x)
        return self._forward(self._torch.sigmoid, x)

    def sigmoid_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, x.shape)
        return self._vjp(self._torch.sigmoid, g, x)

    def tanh(self, x):
        validate.check_elementwise(x)
        return self._forward(self._torch.tanh, x)

    def tanh_vjp(self, g, x):
        validate.check_elementwise(x)
        validate.check_cotangent(g, x.shape)
        return self._vjp(self._torch.tanh, g, x)

    # ------------------------------------------------------------------ pooling, upsampling
    def _pool(self, kind, x, size, stride):
        if x.numel() == 0:  # torch's pooling kernels refuse a zero-size channel axis
            shape = validate.pool_output_shape(tuple(x.shape), size, stride)
            return self._torch.zeros(shape, dtype=x.dtype, device=x.device)
        fn = getattr(self._F, f"{kind}_pool{x.ndim - 2}d")
        return fn(x, kernel_size=size, stride=stride)

    def max_pool(self, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        return self._forward(lambda x: self._pool("max", x, size, stride), x)

    def max_pool_vjp(self, g, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        validate.check_cotangent(g, validate.pool_output_shape(tuple(x.shape), size, stride))
        return self._vjp(lambda x: self._pool("max", x, size, stride), g, x)

    def avg_pool(self, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        return self._forward(lambda x: self._pool("avg", x, size, stride), x)

    def avg_pool_vjp(self, g, x, *, size=2, stride=None):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        validate.check_cotangent(g, validate.pool_output_shape(tuple(x.shape), size, stride))
        return self._vjp(lambda x: self._pool("avg", x, size, stride), g, x)

    @staticmethod
    def _upsample(x, factor):
        for axis, f in enumerate(factor):
            x = x.repeat_interleave(f, dim=2 + axis)
        return x

    def upsample(self, x, *, factor=2):
        factor = validate.check_upsample(x, factor=factor)
        return self._forward(lambda x: self._upsample(x, factor), x)

    def upsample_vjp(self, g, x, *, factor=2):
        factor = validate.check_upsample(x, factor=factor)
        validate.check_cotangent(g, (*x.shape[:2], *(n * f for n, f in zip(x.shape[2:], factor, strict=True))))
        return self._vjp(lambda x: self._upsample(x, factor), g, x)

    # ------------------------------------------------------------------ dropout
    def _dropout(self, x, mask, keep_prob, scaling, training):
        if not training:
            return x.clone()
        y = x * self._bcast(mask.to(dtype=x.dtype, device=x.device), x.ndim)
        return y / keep_prob if scaling == "inverted" else y

    def dropout(self, x, mask, *, keep_prob, scaling="none", training=True):
        keep_prob = validate.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
        return self._forward(lambda x, m: self._dropout(x, m, keep_prob, scaling, training), x, mask)

    def dropout_vjp(self, g, x, mask, *, keep_prob, scaling="none", training=True):
        keep_prob = validate.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
        validate.check_cotangent(g, x.shape)
        m = mask.detach()
        return self._vjp(lambda x: self._dropout(x, m, keep_prob, scaling, training), g, x)

    def dropout_mask(self, shape, *, keep_prob, seed):
        shape, keep_prob = validate.check_dropout_mask(shape, keep_prob=keep_prob, seed=seed)
        torch = self._torch
        gen = torch.Generator(device=self._dev)
        gen.manual_seed(seed % 2**64)
        probs = torch.full(shape, keep_prob, dtype=torch.float64, device=self._dev)
        return torch.bernoulli(probs, generator=gen).to(torch.float32)

    # ------------------------------------------------------------------ batch norm
    def _bn_train(self, x, gamma, beta, eps):
        torch = self._torch
        if validate.reduction_count(tuple(x.shape)) == 1:
            # F.batch_norm refuses one value per channel in training mode; the aten op computes it (beta)
            return torch.batch_norm(x, gamma, beta, None, None, True, 0.0, eps, torch.backends.cudnn.enabled)
        return self._F.batch_norm(x, None, None, gamma, beta, training=True, momentum=0.0, eps=eps)

    def batch_norm(self, x, gamma, beta, *, eps=1e-5):
        validate.check_batch_norm(x, gamma, beta, eps=eps)
        return self._forward(lambda x, gm, bt: self._bn_train(x, gm, bt, eps), x, gamma, beta)

    def batch_norm_vjp(self, g, x, gamma, beta, *, eps=1e-5):
        validate.check_batch_norm(x, gamma, beta, eps=eps)
        validate.check_cotangent(g, x.shape)
        return self._vjp(lambda x, gm, bt: self._bn_train(x, gm, bt, eps), g, x, gamma, beta)

    def _bn_eval(self, x, gamma, beta, rm, rv, eps):
        return self._F.batch_norm(x, rm, rv, gamma, beta, training=False, eps=eps)

    def batch_norm_eval(self, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        validate.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
        rm, rv = running_mean.detach(), running_var.detach()
        return self._forward(lambda x, gm, bt: self._bn_eval(x, gm, bt, rm, rv, eps), x, gamma, beta)

    def batch_norm_eval_vjp(self, g, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        validate.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
        validate.check_cotangent(g, x.shape)
        rm, rv = running_mean.detach(), running_var.detach()
        return self._vjp(lambda x, gm, bt: self._bn_eval(x, gm, bt, rm, rv, eps), g, x, gamma, beta)

    def running_stats(self, x, running_mean, running_var, *, momentum=0.1):
        momentum = validate.check_running_stats(x, running_mean, running_var, momentum=momentum)
        new_mean = running_mean.detach().clone()
        new_var = running_var.detach().clone()
        with self._torch.no_grad():  # updates the CLONES in place: torch's momentum, unbiased running_var
            self._F.batch_norm(x.detach(), new_mean, new_var, None, None, training=True, momentum=momentum)
        return new_mean, new_var

    # ------------------------------------------------------------------ locally connected, graph conv
    @staticmethod
    def _lc_windows(x, ks, stride):
        """Tensor.unfold per spatial axis, then positions first: the windows as a (P, N, C_in*prod(k)) copy."""
        nd = len(ks)
        for a in range(nd):
            x = x.unfold(2 + a, ks[a], stride[a])  # (N, C, *out, *k)
        order = (*range(2, 2 + nd), 0, 1, *range(2 + nd, 2 + 2 * nd))
        return x.permute(order).reshape(math.prod(x.shape[2:2 + nd]), x.shape[0], x.shape[1] * math.prod(ks))

    def locally_connected(self, x, w, b=None, *, stride=1):
        """One bmm batched over positions: (P, N, C*K) windows times (P, C*K, C_out) kernels."""
        stride, out = validate.check_locally_connected(x, w, b, stride=stride)
        nd = x.ndim - 2
        with self._torch.no_grad():
            win = self._lc_windows(x, tuple(w.shape[nd + 2:]), stride)
            # contiguous operands: bmm on transposed views of many small matrices took seconds
            y = self._torch.bmm(win, w.reshape(win.shape[0], w.shape[nd], -1).transpose(1, 2).contiguous())
            y = y.reshape(*out, x.shape[0], w.shape[nd]).permute(nd, nd + 1, *range(nd)).contiguous()
            return y if b is None else y + b

    def locally_connected_vjp(self, g, x, w, b=None, *, stride=1):
        """Hand-written: two bmm over positions, then one strided add per kernel tap (einsum and autograd
        through the unfolds took seconds on the realistic case)."""
        stride, out = validate.check_locally_connected(x, w, b, stride=stride)
        nd = x.ndim - 2
        validate.check_cotangent(g, (x.shape[0], w.shape[nd], *out))
        torch, ks = self._torch, tuple(w.shape[nd + 2:])
        n, c, c_out = x.shape[0], x.shape[1], w.shape[nd]
        with torch.no_grad():
            g = g.to(x.dtype)
            win = self._lc_windows(x, ks, stride)
            gp = g.permute(*range(2, 2 + nd), 0, 1).contiguous().reshape(win.shape[0], n, c_out)  # (P, N, C_out)
            gw = torch.bmm(gp.transpose(1, 2).contiguous(), win).reshape(w.shape)
            gwin = torch.bmm(gp, w.reshape(win.shape[0], c_out, -1)).reshape(*out, n, c, *ks)
            gwin = gwin.permute(nd, nd + 1, *range(nd), *range(nd + 2, 2 * nd + 2))  # (N, C, *out, *k)
            gx = torch.zeros_like(x)
            for tap in itertools.product(*(range(k) for k in ks)):
                dst = tuple(slice(t, t + s * (o - 1) + 1, s) for t, s, o in zip(tap, stride, out, strict=True))
                gx[(slice(None), slice(None), *dst)] += gwin[(Ellipsis, *tap)]
        return (gx, gw) if b is None else (gx, gw, g.sum(dim=0))

    def _graph_coefficients(self, edges, n, normalize, self_loops, dtype):
        torch = self._torch
        loops = torch.arange(n if self_loops else 0, device=edges.device, dtype=torch.int64)
        src, dst = torch.cat([edges[:, 0], loops]), torch.cat([edges[:, 1], loops])
        deg = torch.bincount(dst, minlength=n).to(dtype)
        if normalize == "none":
            coef = torch.ones(src.shape, dtype=dtype, device=edges.device)
        elif normalize == "mean":
            coef = (1 / deg)[dst]
        else:
            inv = torch.where(deg > 0, torch.rsqrt(deg), torch.zeros_like(deg))
            coef = inv[src] * inv[dst]
        return src, dst, coef

    def _graph(self, x, w, b, rows):
        """A (x w^T) + b aggregated by index_add_: the linear map first, as spec (a node no row targets never
        sees w), and only sources of rows are read."""
        src, dst, coef = rows
        xw = self._F.linear(x, w)
        y = xw.new_zeros(xw.shape).index_add_(0, dst, coef[:, None] * xw[src])
        return y if b is None else y + b

    def _graph_for_vjp(self, x, w, b, rows):
        """(A x) w^T + b: the same function, whose autograd reads what spec's VJP reads (gw = g^T (A x) never
        touches the x of a node that is no row's source; autograd of A (x w^T) would, as 0 * NaN)."""
        src, dst, coef = rows
        ax = self._torch.zeros_like(x).index_add_(0, dst, coef[:, None] * x[src])
        return self._F.linear(ax, w, b)

    def graph_conv(self, x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
        n = validate.check_graph_conv(x, edges, w, b, normalize=normalize, self_loops=self_loops)
        rows = self._graph_coefficients(edges, n, normalize, self_loops, x.dtype)
        return self._forward(lambda x, w, b: self._graph(x, w, b, rows), x, w, b)

    def graph_conv_vjp(self, g, x, edges, w, b=None, *, normalize="symmetric", self_loops=True):
        n = validate.check_graph_conv(x, edges, w, b, normalize=normalize, self_loops=self_loops)
        validate.check_cotangent(g, (n, w.shape[0]))
        rows = self._graph_coefficients(edges, n, normalize, self_loops, x.dtype)
        if b is None:
            return self._vjp(lambda x, w: self._graph_for_vjp(x, w, None, rows), g, x, w)
        return self._vjp(lambda x, w, b: self._graph_for_vjp(x, w, b, rows), g, x, w, b)


def make_torch_cpu() -> TorchBackend:
    """The ``torch-cpu`` backend (float32, float64)."""
    return TorchBackend("cpu", name="torch-cpu")


def make_torch_cuda() -> TorchBackend:
    """The ``torch-cuda`` backend on ``cuda:0`` (float32, float64, float16, bfloat16)."""
    torch, _ = _import_torch()
    if not torch.cuda.is_available():
        build = torch.version.cuda
        why = (f"torch {torch.__version__} is a CPU-only build" if build is None
               else f"torch {torch.__version__} (CUDA {build}) finds no usable GPU")
        raise Unavailable(f"torch.cuda.is_available() is False: {why}")
    return TorchBackend("cuda:0", name="torch-cuda")
