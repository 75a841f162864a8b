"""ONNX Runtime backend: every forward op as a small cached ONNX graph built with ``onnx.helper``.

Two registered factories (pyproject.toml, entry-point group ``nnconform.backends``):
``onnxruntime-cpu`` (:func:`make_onnxruntime_cpu`, CPUExecutionProvider) and ``onnxruntime-cuda``
(:func:`make_onnxruntime_cuda`, CUDAExecutionProvider with the CPU fallback switched off, so every
node really runs on the GPU). Both raise :class:`~impls.base.Unavailable` with the reason when
onnxruntime / onnx (or the CUDA provider, or a GPU) is missing; they are imported lazily, so this
module imports without them. Install with ``pip install "nnconform[onnxruntime]"``.

ONNX Runtime is an inference engine: there are no VJPs, so every ``*_vjp`` is left undefined and
reported "not implemented". Native arrays are numpy arrays; each graph has inputs of unknown shape,
so one session per (op, dtype, parameters) serves every input shape (no per-shape compilation).
float64 runs where ONNX Runtime has a float64 kernel; where it has none (Conv, AveragePool, Resize
on CPU) the op raises :class:`~impls.base.NotImplementedOp`, reported "not implemented".

How the lecture's ops map onto ONNX (each mapping explicit, opset 21):

* conv: ``Conv`` (ONNX's Conv is the lecture's cross-correlation) with ``strides``, ``dilations``
  and, for 'same', spec's explicit pads (``spec.validate.same_pads``: the extra pad of an even
  kernel at the END). 'periodic' is ``Pad(mode="wrap")`` (which wraps more than once when a pad
  exceeds the axis, checked) followed by an unpadded ``Conv``.
* dense: ``Gemm(x, w, b, transB=1)``.
* relu / sigmoid / tanh: ``Relu``, ``Sigmoid``, ``Tanh``.
* max_pool / avg_pool: ``MaxPool`` / ``AveragePool`` with ``kernel_shape=size`` and ``strides``
  given explicitly (ONNX's default stride is 1, spec's is the window size), no pads, floor mode.
* upsample: ``Resize(mode="nearest", coordinate_transformation_mode="asymmetric",
  nearest_mode="floor")`` with integer scales, i.e. ``y[i] = x[i // f]`` (the ``np.repeat`` rule).
* dropout: the mask is given, so ONNX's ``Dropout`` (DROP ratio, own mask) does not apply:
  ``Mul(x, Unsqueeze(mask))``, then ``Div`` by keep_prob for ``scaling="inverted"``;
  ``training=False`` is ``Identity``.
* dropout_mask: the mask output of ``Dropout(ones(shape), ratio=1 - keep_prob, training_mode=True,
  seed=seed mod 2**63)``, in a FRESH session per call: a session's generator advances with every run,
  so only a fresh one is reproducible per seed. Not the same draws as spec's numpy generator.
* batch_norm: ``BatchNormalization(training_mode=1)`` (biased batch variance, as spec).
  batch_norm_eval: ``BatchNormalization`` in inference mode with the running statistics.
* running_stats: the running outputs of ``BatchNormalization(training_mode=1)`` with ONNX's
  ``momentum = 1 - m`` (ONNX weights the OLD value). ONNX updates ``running_var`` with the BIASED
  batch variance, where spec (torch) uses the unbiased one: declared, not patched.

Every op first calls the matching ``spec.validate.check_*``, so bad arguments raise spec's ValueErrors.
"""

from __future__ import annotations

import platform

import numpy as np

from spec import validate

from .base import Backend, ExpectedDeviation, NotImplementedOp, Unavailable

__all__ = ["OnnxRuntimeBackend", "make_onnxruntime_cpu", "make_onnxruntime_cuda"]

OPSET = 21
IR_VERSION = 10
MAX_SESSIONS = 256


def _import_ort():
    try:
        import onnx
        import onnxruntime as ort
        from onnx import TensorProto, helper
    except Exception as exc:  # ImportError, or a broken native library
        raise Unavailable("onnxruntime / onnx is not installed (pip install 'nnconform[onnxruntime]'): "
                          f"{type(exc).__name__}: {exc}") from exc
    return ort, onnx, helper, TensorProto


class _Graph:
    """A tiny builder: named inputs, nodes, constants and outputs of one element type."""

    def __init__(self, dtype: str):
        _, _, self.helper, tp = _import_ort()
        self.elem = {"float32": tp.FLOAT, "float64": tp.DOUBLE}[dtype]
        self.tp, self.dtype = tp, dtype
        self.inputs, self.nodes, self.consts, self.outputs = [], [], [], []

    def input(self, name: str):
        self.inputs.append(self.helper.make_tensor_value_info(name, self.elem, None))
        return name

    def const(self, name: str, value: np.ndarray):
        self.consts.append(self.helper.make_tensor(name, self.helper.np_dtype_to_tensor_dtype(value.dtype),
                                                   value.shape, value.ravel().tolist()))
        return name

    def node(self, op: str, inputs, outputs, **attrs):
        self.nodes.append(self.helper.make_node(op, list(inputs), list(outputs), **attrs))
        return outputs[0] if len(outputs) == 1 else outputs

    def output(self, name: str, elem=None):
        self.outputs.append(self.helper.make_tensor_value_info(name, self.elem if elem is None else elem, None))

    def model_bytes(self) -> bytes:
        h = self.helper
        graph = h.make_graph(self.nodes, "nnconform", self.inputs, self.outputs, initializer=self.consts)
        model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], ir_version=IR_VERSION,
                             producer_name="nnconform")
        return model.SerializeToString()


def _flat_pads(pads):
    """Per-axis (before, after) pairs -> ONNX's [b1, b2, ..., a1, a2, ...]."""
    return [b for b, _ in pads] + [a for _, a in pads]


class OnnxRuntimeBackend(Backend):
    """The lecture's forward ops as one- or few-node ONNX graphs on one execution provider."""

    compiles_per_shape = False
    flushes_subnormals = False
    """Measured (CPU): Conv keeps 1e-40 in float32, Gemm and BatchNormalization keep 1e-310 in float64."""

    def __init__(self, provider: str = "CPUExecutionProvider", name: str | None = None):
        ort, onnx, _, _ = _import_ort()
        self._ort, self._onnx = ort, onnx
        if provider not in ort.get_available_providers():
            raise Unavailable(f"onnxruntime {ort.__version__} has no {provider} (available: "
                              f"{', '.join(ort.get_available_providers())}); the GPU build is 'onnxruntime-gpu'")
        self.provider = provider
        self.device = "cpu" if provider == "CPUExecutionProvider" else "cuda:0"
        self.name = name or ("onnxruntime-cpu" if self.device == "cpu" else "onnxruntime-cuda")
        self.dtypes = ("float32", "float64")
        self._sessions: dict = {}
        self._missing: dict[str, str] = {}
        """ONNX op and dtype (e.g. "Conv (float64)") -> why this provider has no kernel for it."""
        if provider != "CPUExecutionProvider":
            self._probe_provider()

    # ------------------------------------------------------------------ sessions
    def _options(self):
        so = self._ort.SessionOptions()
        so.log_severity_level = 3  # errors only: a missing float64 kernel is reported, not logged
        if self.provider != "CPUExecutionProvider":
            so.add_session_config_entry("session.disable_cpu_ep_fallback", "1")
        return so

    def _new_session(self, model: bytes, what: str):
        if what not in self._missing:  # remembered: finding out again costs ORT ~0.1-1 s per attempt
            try:
                return self._ort.InferenceSession(model, sess_options=self._options(), providers=[self.provider])
            except self._ort.capi.onnxruntime_pybind11_state.NotImplemented as exc:
                self._missing[what] = (f"onnxruntime {self._ort.__version__} has no {self.provider} kernel for "
                                       f"{what}: {str(exc).splitlines()[0][:200]}")
        # One raise site, so hypothesis sees one failure, not a group of "distinct" ones.
        raise NotImplementedOp(self._missing[what])

    def _probe_provider(self):
        g = _Graph("float32")
        g.node("Relu", [g.input("x")], ["y"])
        g.output("y")
        try:
            sess = self._ort.InferenceSession(g.model_bytes(), sess_options=self._options(), providers=[self.provider])
            sess.run(None, {"x": np.ones((1, 1, 1), np.float32)})
        except Exception as exc:
            raise Unavailable(f"onnxruntime {self._ort.__version__}: {self.provider} cannot run here: "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0][:300]}") from exc
        if self.provider not in sess.get_providers():
            raise Unavailable(f"onnxruntime {self._ort.__version__}: {self.provider} was not used "
                              f"(session providers {sess.get_providers()})")

    def _session(self, key, build, what: str):
        """The cached session for ``key``; ``build()`` returns the model's bytes on a miss."""
        sess = self._sessions.get(key)
        if sess is None:
            if len(self._sessions) >= MAX_SESSIONS:  # parameters drawn per example (momentum, eps) add keys
                self._sessions.clear()
            sess = self._sessions[key] = self._new_session(build(), what)
        return sess

    def _run(self, key, build, what, feeds: dict):
        sess = self._session(key, build, what)
        feeds = {k: np.ascontiguousarray(v) for k, v in feeds.items() if v is not None}
        return sess.run(None, feeds)

    def _dt(self, x) -> str:
        dt = str(np.asarray(x).dtype)
        if dt not in self.dtypes:
            raise ValueError(f"x.dtype={dt}: backend {self.name!r} supports {self.dtypes}")
        return dt

    # ------------------------------------------------------------------ plumbing
    @property
    def expected_deviations(self):
        v = f"measured, onnxruntime {self._ort.__version__}"
        return (
            ExpectedDeviation(
                op="max_pool", dtype="*", check="*", categories=("nan_mismatch",),
                reason=f"ONNX Runtime's MaxPool ignores NaN ({v}: window [nan, 1] -> 1, spec gives NaN); in float32 a "
                       "window of only NaN or only -inf gives -3.4028235e38 (float64: NaN, -inf)"),
            ExpectedDeviation(
                op="sigmoid", dtype="float32", check="*", max_abs_err=3 * 2.0**-24,
                reason=f"ONNX Runtime's Sigmoid has an ABSOLUTE error of up to 2.8 u ({v}, float32, 2e6 points in "
                       "[-40, 40]), so its relative error grows without bound in the lower tail: exactly 0 or 2**-23 "
                       "near x = -17 (spec 4e-8); 5.2e-8 absolute at x = -15. Within [-6, 6] the worst is 82.3x the "
                       "relative tolerance at x = -5.945. Bound: |err| <= 3 u absolute"),
            ExpectedDeviation(
                op="sigmoid", dtype="float64", check="*", max_abs_err=3 * 2.0**-53,
                reason=f"ONNX Runtime's Sigmoid has an ABSOLUTE error of up to 2 u ({v}, float64, 2e6 points in "
                       "[-40, 40]; 0 for x <= -36.7 where spec gives 1e-16; 6.8e-17 absolute at x = -15). Within [-6, 6] "
                       "the worst is 74.8x the relative tolerance at x = -5.997. Bound: |err| <= 3 u absolute"),
            ExpectedDeviation(
                op="max_pool", dtype="*", check="*", categories=("inexact",),
                reason=f"ONNX Runtime's MaxPool returns +0.0 for a window [-0.0, +0.0] whose FIRST maximum is -0.0 in "
                       f"2-D and 3-D pooling ({v}, float32: shapes (1, 1, 1, 2) size (1, 2) and (1, 1, 1, 1, 2) size "
                       "(1, 1, 2) give +0.0; 1-D keeps -0.0); spec keeps the first"),
            ExpectedDeviation(
                op="relu", dtype="*", check="*", categories=("inexact",),
                reason=f"ONNX Runtime's Relu returns -0.0 for x = -0.0 ({v}), spec +0.0 (max(x, 0) with +0.0 on "
                       "ties); every other value is bit-exact"),
            ExpectedDeviation(
                op="dropout_mask", dtype="*", check="independence", categories=("mismatch",),
                reason=f"ONNX Runtime's Dropout gives the IDENTICAL mask for seeds 0 and 1 ({v}: 65536 of 65536 "
                       "entries agree, (512, 128) at keep_prob 0.5): its float seed attribute does not separate "
                       "neighbouring integer seeds"),
            ExpectedDeviation(
                op="batch_norm*", dtype="float64", check="*", unit_roundoff=2.0**-24,
                reason="ONNX's BatchNormalization takes epsilon as a FLOAT (32-bit) attribute: eps = 1e-5 becomes "
                       "9.99999974737875e-06, so float64 outputs are off by up to 0.5 * |eps32 - eps| / (var + eps) "
                       f"relative, below 2**-25 ({v}: 2.0e-9 relative with eps = 1e-5, 2.3e-8 with eps = 1e-3; "
                       "5.7e-15 with eps = 2**-17, which float32 holds exactly)"),
        )

    def metadata(self) -> dict:
        return {
            "onnxruntime": self._ort.__version__,
            "onnx": self._onnx.__version__,
            "numpy": np.__version__,
            "provider": self.provider,
            "device": self.device,
            "device_name": platform.processor() or platform.machine() if self.device == "cpu" else self.device,
            "opset": OPSET,
            "graphs": "one cached session per (op, dtype, parameters), inputs of unknown shape",
        }

    def asarray(self, a, dtype: str):
        if dtype not in self.dtypes:
            raise ValueError(f"dtype={dtype!r}: backend {self.name!r} supports {self.dtypes}")
        return np.array(a, dtype=dtype, copy=True)

    def to_numpy(self, a) -> np.ndarray:
        return np.array(a, copy=True)

    def dtype_name(self, a) -> str:
        return str(np.asarray(a).dtype)

    # ------------------------------------------------------------------ conv, dense
    def conv(self, x, w, b=None, *, padding="valid", stride=1, dilation=1):
        stride, dilation, pads = validate.check_conv(x, w, b, padding=padding, stride=stride, dilation=dilation)
        dt = self._dt(x)

        def build():
            g = _Graph(dt)
            xin, win = g.input("x"), g.input("w")
            ins = [xin, win] + ([g.input("b")] if b is not None else [])
            conv_pads = pads if padding == "same" else tuple((0, 0) for _ in pads)
            if padding == "periodic":
                wrap = g.const("pads", np.array([0, 0, *(p for p, _ in pads), 0, 0, *(a for _, a in pads)], np.int64))
                ins[0] = g.node("Pad", [xin, wrap], ["xp"], mode="wrap")
            g.node("Conv", ins, ["y"], strides=list(stride), dilations=list(dilation), pads=_flat_pads(conv_pads))
            g.output("y")
            return g.model_bytes()

        key = ("conv", dt, b is None, padding, stride, dilation, pads)
        return self._run(key, build, f"Conv ({dt})", {"x": x, "w": w.astype(dt, copy=False),
                                                      "b": None if b is None else b.astype(dt, copy=False)})[0]

    def dense(self, x, w, b=None):
        validate.check_dense(x, w, b)
        dt = self._dt(x)

        def build():
            g = _Graph(dt)
            ins = [g.input("x"), g.input("w")] + ([g.input("b")] if b is not None else [])
            g.node("Gemm", ins, ["y"], transB=1)
            g.output("y")
            return g.model_bytes()

        return self._run(("dense", dt, b is None), build, f"Gemm ({dt})",
                         {"x": x, "w": w.astype(dt, copy=False), "b": None if b is None else b.astype(dt, copy=False)})[0]

    # ------------------------------------------------------------------ activations
    def _unary(self, op: str, x):
        validate.check_elementwise(x)
        dt = self._dt(x)

        def build():
            g = _Graph(dt)
            g.node(op, [g.input("x")], ["y"])
            g.output("y")
            return g.model_bytes()

        return self._run((op, dt), build, f"{op} ({dt})", {"x": x})[0]

    def relu(self, x):
        return self._unary("Relu", x)

    def sigmoid(self, x):
        return self._unary("Sigmoid", x)

    def tanh(self, x):
        return self._unary("Tanh", x)

    # ------------------------------------------------------------------ pooling, upsampling
    def _pool(self, op: str, x, size, stride):
        size, stride = validate.check_pool(x, size=size, stride=stride)
        dt = self._dt(x)

        def build():
            g = _Graph(dt)
            g.node(op, [g.input("x")], ["y"], kernel_shape=list(size), strides=list(stride))
            g.output("y")
            return g.model_bytes()

        return self._run((op, dt, size, stride), build, f"{op} ({dt})", {"x": x})[0]

    def max_pool(self, x, *, size=2, stride=None):
        return self._pool("MaxPool", x, size, stride)

    def avg_pool(self, x, *, size=2, stride=None):
        return self._pool("AveragePool", x, size, stride)

    def upsample(self, x, *, factor=2):
        factor = validate.check_upsample(x, factor=factor)
        dt = self._dt(x)

        def build():
            g = _Graph(dt)
            scales = g.const("scales", np.array([1, 1, *factor], np.float32))
            g.node("Resize", [g.input("x"), "", scales], ["y"], mode="nearest",
                   coordinate_transformation_mode="asymmetric", nearest_mode="floor")
            g.output("y")
            return g.model_bytes()

        return self._run(("upsample", dt, factor), build, f"Resize ({dt})", {"x": x})[0]

    # ------------------------------------------------------------------ dropout
    def dropout(self, x, mask, *, keep_prob, scaling="none", training=True):
        keep_prob = validate.check_dropout(x, mask, keep_prob=keep_prob, scaling=scaling, training=training)
        dt, ndim = self._dt(x), x.ndim

        def build():
            g = _Graph(dt)
            xin = g.input("x")
            if not training:
                g.node("Identity", [xin], ["y"])
            else:
                m = g.input("mask")
                if ndim > 2:
                    m = g.node("Unsqueeze", [m, g.const("axes", np.arange(2, ndim, dtype=np.int64))], ["m"])
                y = g.node("Mul", [xin, m], ["y" if scaling == "none" else "xm"])
                if scaling == "inverted":
                    g.node("Div", [y, g.input("keep")], ["y"])
            g.output("y")
            return g.model_bytes()

        key = ("dropout", dt, ndim, scaling, training)
        feeds = {"x": x} if not training else {"x": x, "mask": mask.astype(dt, copy=False)}
        if training and scaling == "inverted":
            feeds["keep"] = np.array(keep_prob, dtype=dt)
        return self._run(key, build, f"Mul ({dt})", feeds)[0]

    def dropout_mask(self, shape, *, keep_prob, seed):
        shape, keep_prob = validate.check_dropout_mask(shape, keep_prob=keep_prob, seed=seed)
        g = _Graph("float32")
        ratio = g.const("ratio", np.array(1.0 - keep_prob, np.float32))
        train = g.const("train", np.array(True))
        g.node("Dropout", [g.input("x"), ratio, train], ["y", "keep"], seed=seed % 2**63)
        g.output("keep", elem=g.tp.BOOL)
        # A fresh session every call: a session's generator advances with each run.
        sess = self._new_session(g.model_bytes(), "Dropout (float32)")
        (keep,) = sess.run(["keep"], {"x": np.ones(shape, np.float32)})
        return keep.astype(np.float32)

    # ------------------------------------------------------------------ batch norm
    def _bn(self, x, gamma, beta, mean, var, *, eps, training, momentum=0.0):
        """``BatchNormalization``: (y,) in inference mode, (y, new_mean, new_var) in training mode."""
        dt = self._dt(x)

        def build():
            g = _Graph(dt)
            ins = [g.input(n) for n in ("x", "gamma", "beta", "mean", "var")]
            outs = ["y", "new_mean", "new_var"] if training else ["y"]  # training mode must have all three
            attrs = {"epsilon": eps, "momentum": momentum}
            if training:
                attrs["training_mode"] = 1
            g.node("BatchNormalization", ins, outs, **attrs)
            for o in outs:
                g.output(o)
            return g.model_bytes()

        feeds = {"x": x, **{k: v.astype(dt, copy=False) for k, v in
                            (("gamma", gamma), ("beta", beta), ("mean", mean), ("var", var))}}
        return self._run(("bn", dt, eps, training, momentum), build, f"BatchNormalization ({dt})", feeds)

    def batch_norm(self, x, gamma, beta, *, eps=1e-5):
        validate.check_batch_norm(x, gamma, beta, eps=eps)
        c = x.shape[1]
        return self._bn(x, gamma, beta, np.zeros(c), np.ones(c), eps=float(eps), training=True)[0]

    def batch_norm_eval(self, x, gamma, beta, running_mean, running_var, *, eps=1e-5):
        validate.check_batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=eps)
        return self._bn(x, gamma, beta, running_mean, running_var, eps=float(eps), training=False)[0]

    # Not the contract's running_stats: ONNX's BatchNormalization(training_mode=1) updates running_var with the
    # BIASED batch variance (ONNX operator spec; measured), spec and torch with the unbiased one, so new_var is
    # low by m * var_biased / (M - 1): a different definition, which no tolerance bound describes. The op is
    # therefore "not implemented"; ONNX's own update stays here, unnamed, for whoever wants to probe it.
    def onnx_running_stats(self, x, running_mean, running_var, *, momentum=0.1):
        momentum = validate.check_running_stats(x, running_mean, running_var, momentum=momentum)
        c = x.shape[1]
        dt = self._dt(x)
        ones, zeros = np.ones(c, dt), np.zeros(c, dt)
        # ONNX: running = momentum * old + (1 - momentum) * batch, i.e. ONNX's momentum is 1 - m
        _, new_mean, new_var = self._bn(x, ones, zeros, running_mean, running_var, eps=1e-5, training=True,
                                        momentum=1.0 - momentum)
        return new_mean, new_var


def make_onnxruntime_cpu() -> OnnxRuntimeBackend:
    """The ``onnxruntime-cpu`` backend (CPUExecutionProvider; float32, float64 where kernels exist)."""
    return OnnxRuntimeBackend("CPUExecutionProvider", name="onnxruntime-cpu")


def make_onnxruntime_cuda() -> OnnxRuntimeBackend:
    """The ``onnxruntime-cuda`` backend (CUDAExecutionProvider only, no CPU fallback)."""
    return OnnxRuntimeBackend("CUDAExecutionProvider", name="onnxruntime-cuda")
