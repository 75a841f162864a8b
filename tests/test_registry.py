"""The backend registry (impls/__init__.py) and the plug-in mechanism.

Every test runs on a private copy of the registry's state (``fresh_registry``), so registrations
made here never leak into other tests or into the conformance suite.
"""

from __future__ import annotations

import importlib
import importlib.metadata as md
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np
import pytest

import impls
from impls.base import Backend, NotImplementedOp, Unavailable, implements

TESTS_DIR = Path(__file__).resolve().parent
HELPERS = "helpers.registry_backends"
PLUGIN_DIST = "nnconform-example-plugin"
PLUGIN_NAME = "example-numpy"


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


@pytest.fixture
def fresh_registry(monkeypatch):
    """Empty caches, rediscover entry points; everything is restored after the test."""
    monkeypatch.syspath_prepend(str(TESTS_DIR))  # "helpers.*" importable under any import mode
    monkeypatch.setattr(impls, "_factories", {})
    monkeypatch.setattr(impls, "_instances", {})
    monkeypatch.setattr(impls, "_discovered", False)
    return impls


@pytest.fixture
def helpers(fresh_registry):
    return importlib.import_module(HELPERS)


def _status(name):
    (st,) = impls.backend_statuses([name])
    return st


# ------------------------------------------------------------------ (a) built-ins and torch-cuda
@pytest.mark.parametrize("name, module", [("numpy", "numpy"), ("scipy", "scipy"), ("torch-cpu", "torch")])
def test_builtin_backends_available_when_importable(fresh_registry, name, module):
    if not _installed(module):
        st = _status(name)
        assert st.status == "unavailable" and module in st.reason, st
        return
    assert name in impls.available_backends()
    backend = impls.get_backend(name)
    assert backend.name == name
    assert set(backend.dtypes) >= {"float32", "float64"}


def test_torch_cpu_backend_contract(fresh_registry):
    pytest.importorskip("torch")
    b = impls.get_backend("torch-cpu")
    assert (b.name, b.device, tuple(b.dtypes)) == ("torch-cpu", "cpu", ("float32", "float64"))
    x = b.asarray(np.array([[[-1.0, 0.0, 2.0]]]), "float32")
    assert b.dtype_name(x) == "float32" and b.deterministic
    # On CPU only the three measured NaN conventions are declared; TF32 deviations are CUDA's.
    assert {(d.op, d.check) for d in b.expected_deviations} == {("relu", "nan_gradient"), ("max_pool", "nan_policy"),
                                                                ("conv", "*gradient")}
    np.testing.assert_array_equal(b.to_numpy(b.relu(x)), np.array([[[0.0, 0.0, 2.0]]], dtype=np.float32))
    meta = b.metadata()
    assert meta["torch"] and meta["device"] == "cpu" and "num_threads" in meta


def test_torch_cuda_reported_unavailable_without_gpu(fresh_registry):
    if _installed("torch"):
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has a CUDA GPU: torch-cuda is available here")
    st = _status("torch-cuda")
    assert st.status == "unavailable", st
    assert st.reason.strip(), "an unavailable backend must say why"
    assert "torch-cuda" not in impls.available_backends()
    with pytest.raises(Unavailable):
        impls.get_backend("torch-cuda")


def test_torch_backends_unavailable_without_torch(fresh_registry, monkeypatch):
    """impls.torch_backend imports without torch; its factories then say torch is missing."""
    monkeypatch.setitem(sys.modules, "torch", None)  # makes `import torch` raise ImportError
    monkeypatch.delitem(sys.modules, "impls.torch_backend", raising=False)
    # the re-import rebinds impls.torch_backend: have it put back with sys.modules' entry
    monkeypatch.setattr(impls, "torch_backend", getattr(impls, "torch_backend", None), raising=False)
    mod = importlib.import_module("impls.torch_backend")
    for factory in (mod.make_torch_cpu, mod.make_torch_cuda):
        with pytest.raises(Unavailable, match="torch is not installed"):
            factory()
    assert {_status(n).status for n in ("torch-cpu", "torch-cuda")} == {"unavailable"}
    assert "numpy" in impls.available_backends()


# ------------------------------------------------------------------ (b) register_backend
def test_register_object_class_and_factory(helpers):
    obj = helpers.MiniBackend(name="an-object")
    impls.register_backend("t-object", obj)
    impls.register_backend("t-class", helpers.MiniBackend)
    impls.register_backend("t-factory", helpers.make_mini)
    impls.register_backend("t-lambda", lambda: helpers.MiniBackend(name="from-lambda"))

    assert impls.get_backend("t-object") is obj
    cls_backend = impls.get_backend("t-class")
    assert type(cls_backend) is helpers.MiniBackend and cls_backend.name == "mini"
    assert impls.get_backend("t-factory").name == "mini-from-factory"
    assert impls.get_backend("t-lambda").name == "from-lambda"
    assert impls.get_backend("t-class") is cls_backend, "instances are cached"
    available = impls.available_backends()
    assert {"t-object", "t-class", "t-factory", "t-lambda"} <= set(available)
    assert "numpy" in available, "registering must not hide the built-ins"


def test_register_replaces_and_validates_name(helpers):
    impls.register_backend("t-swap", helpers.MiniBackend(name="first"))
    assert impls.get_backend("t-swap").name == "first"
    impls.register_backend("t-swap", helpers.MiniBackend(name="second"))
    assert impls.get_backend("t-swap").name == "second", "re-registering drops the cached instance"
    for bad in ("", None, 3):
        with pytest.raises(ValueError, match="name="):
            impls.register_backend(bad, helpers.MiniBackend)


def test_register_factory_raising_unavailable(fresh_registry):
    def factory():
        raise Unavailable("needs a frobnicator")

    impls.register_backend("t-unavailable", factory)
    st = _status("t-unavailable")
    assert (st.status, st.reason) == ("unavailable", "needs a frobnicator")
    assert "t-unavailable" not in impls.available_backends()


# ------------------------------------------------------------------ (c) "module:attr"
@pytest.mark.parametrize("attr, expected_name", [
    ("MiniBackend", "mini"),            # a class
    ("make_mini", "mini-from-factory"),  # a zero-argument factory
    ("MINI", "mini-object"),             # an object
])
def test_get_backend_module_attr(helpers, attr, expected_name):
    target = f"{HELPERS}:{attr}"
    backend = impls.get_backend(target)
    assert backend.name == expected_name
    assert impls.get_backend(target) is backend
    assert impls.load_backend(target).name == expected_name
    assert target not in impls.available_backends(), "an ad-hoc backend is not registered"


def test_get_backend_unknown_names(fresh_registry):
    with pytest.raises(KeyError, match="no-such-backend"):
        impls.get_backend("no-such-backend")
    with pytest.raises(ModuleNotFoundError):
        impls.get_backend("no_such_module_xyz:make")
    with pytest.raises(AttributeError):
        impls.get_backend(f"{HELPERS}:NoSuchAttr")


# ------------------------------------------------------------------ (d) a broken plug-in
def test_broken_plugin_is_reported_not_raised(fresh_registry, monkeypatch):
    real = list(md.entry_points(group=impls.ENTRY_POINT_GROUP))
    broken = md.EntryPoint(name="t-broken", value="helpers.broken_plugin:make_backend",
                           group=impls.ENTRY_POINT_GROUP)
    crashing = md.EntryPoint(name="t-crashing", value=f"{HELPERS}:NoSuchAttr", group=impls.ENTRY_POINT_GROUP)

    def fake_entry_points(*, group):
        assert group == impls.ENTRY_POINT_GROUP
        return [*real, broken, crashing]

    monkeypatch.setattr(impls, "entry_points", fake_entry_points)
    statuses = {s.name: s for s in impls.backend_statuses()}
    assert statuses["t-broken"].status == "error"
    assert "simulated broken plug-in" in statuses["t-broken"].reason  # the traceback is kept
    assert statuses["t-crashing"].status == "error"
    available = impls.available_backends()
    assert "t-broken" not in available and "t-crashing" not in available
    assert "numpy" in available and impls.get_backend("numpy").name == "numpy"
    with pytest.raises(ImportError, match="simulated"):
        impls.get_backend("t-broken")


def test_factory_raising_is_an_error(fresh_registry):
    def factory():
        raise RuntimeError("kaboom in the factory")

    impls.register_backend("t-kaboom", factory)
    st = _status("t-kaboom")
    assert st.status == "error" and "kaboom in the factory" in st.reason
    assert "numpy" in impls.available_backends()


# ------------------------------------------------------------------ (e) missing ops
def test_missing_op_is_not_implemented(helpers):
    b = helpers.MiniBackend()
    assert implements(b, "relu") and implements(b, "relu_vjp")
    for op in impls.ALL_OP_NAMES:
        if op not in ("relu", "relu_vjp"):
            assert not implements(b, op), op
            assert not b.implements(op), op
    x = np.zeros((1, 2, 3))
    with pytest.raises(NotImplementedOp, match="conv"):
        b.conv(x, np.zeros((1, 2, 1)))
    with pytest.raises(NotImplementedOp, match="dropout_mask"):
        b.dropout_mask((1, 2), keep_prob=0.5, seed=0)
    assert issubclass(NotImplementedOp, NotImplementedError)
    np.testing.assert_array_equal(b.relu(np.array([-1.0, 2.0])), [0.0, 2.0])


def test_implements_on_a_duck_typed_backend():
    class Duck:  # not derived from Backend
        name, device, dtypes = "duck", "cpu", ("float64",)

        def relu(self, x):
            return np.maximum(x, 0)

    assert implements(Duck(), "relu")
    assert not implements(Duck(), "conv")
    assert not implements(Backend(), "relu")


# ------------------------------------------------------------------ (f) the example plug-in
def _ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def test_example_plugin_discovered_through_entry_point(fresh_registry):
    try:
        md.distribution(PLUGIN_DIST)
    except md.PackageNotFoundError:
        if not _ci():
            pytest.skip(f"{PLUGIN_DIST} is not installed (pip install ./examples/plugin); CI is not set")
        pytest.fail(f"CI is set but {PLUGIN_DIST} is not installed: CI must `pip install ./examples/plugin`")

    eps = {ep.name: ep for ep in md.entry_points(group=impls.ENTRY_POINT_GROUP)}
    assert PLUGIN_NAME in eps, f"{PLUGIN_DIST} is installed but registers no {PLUGIN_NAME!r} entry point"
    assert eps[PLUGIN_NAME].value == "nnconform_example_plugin:make_backend"
    assert eps[PLUGIN_NAME].dist is None or eps[PLUGIN_NAME].dist.name == PLUGIN_DIST

    st = _status(PLUGIN_NAME)
    assert st.status == "available", st.reason
    assert PLUGIN_NAME in impls.available_backends()
    backend = impls.get_backend(PLUGIN_NAME)
    from impls.numpy_backend import NumpyBackend

    assert isinstance(backend, NumpyBackend) and backend.name == PLUGIN_NAME
    assert type(backend).relu is not NumpyBackend.relu, "the plug-in overrides relu"
    assert type(backend).conv is NumpyBackend.conv, "everything else is inherited"

    import spec

    x = np.array([[-2.0, -0.0, 0.0, 0.5, np.inf, -np.inf, np.nan]], dtype=np.float32)
    y = backend.relu(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    np.testing.assert_array_equal(y, spec.relu(x).astype(np.float32))
    np.testing.assert_array_equal(x[0, :2], [-2.0, -0.0])  # input not modified
    with pytest.raises(ValueError, match="x="):
        backend.relu([1.0, 2.0])  # a list has no .shape: the shared check rejects it


# ------------------------------------------------------------------ (g) a derived backend
def test_derived_backend_overrides_one_op(helpers):
    impls.register_backend("t-derived", helpers.SigmoidViaTanh)
    derived = impls.get_backend("t-derived")
    base = impls.get_backend("numpy")
    assert derived.name == "numpy-sigmoid-tanh" and implements(derived, "sigmoid")

    import spec

    rng = np.random.default_rng(0)
    for dtype, tol in (("float64", 1e-15), ("float32", 1e-6)):
        x = (rng.standard_normal((2, 3, 5)) * 6).astype(dtype)
        y = derived.sigmoid(x)
        assert y.dtype == np.dtype(dtype)
        np.testing.assert_allclose(y, spec.sigmoid(x), rtol=tol, atol=tol)
        # the rest of the table is the base backend's, unchanged
        w = rng.standard_normal((2, 3, 3)).astype(dtype)
        np.testing.assert_array_equal(derived.conv(x, w, padding="same"), base.conv(x, w, padding="same"))
        g = rng.standard_normal(x.shape).astype(dtype)
        np.testing.assert_array_equal(derived.sigmoid_vjp(g, x)[0], base.sigmoid_vjp(g, x)[0])
    with pytest.raises(ValueError):
        derived.sigmoid(None)
