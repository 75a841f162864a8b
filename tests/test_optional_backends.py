"""The optional built-in backends jax-cpu / jax-cuda and onnxruntime-cpu / onnxruntime-cuda.

They are registered like the other built-ins, report themselves "unavailable" (with the reason)
where their library or a GPU is missing, and compute the lecture's convolution. Expected values
come from the lecture's worked examples (spec.examples) or from spec's loops, never from a backend.
"""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path

import numpy as np
import pytest

import impls
import spec
from impls.base import NotImplementedOp, Unavailable
from spec.examples import get_example

ROOT = Path(__file__).resolve().parents[1]
BACKENDS = {  # name -> (module:factory, the library whose absence makes it unavailable)
    "jax-cpu": ("impls.jax_backend:make_jax_cpu", "jax"),
    "jax-cuda": ("impls.jax_backend:make_jax_cuda", "jax"),
    "onnxruntime-cpu": ("impls.onnxruntime_backend:make_onnxruntime_cpu", "onnxruntime"),
    "onnxruntime-cuda": ("impls.onnxruntime_backend:make_onnxruntime_cuda", "onnxruntime"),
}


@pytest.fixture
def fresh_registry(monkeypatch):
    """Empty registry caches, rediscovered entry points; restored after the test."""
    monkeypatch.setattr(impls, "_factories", {})
    monkeypatch.setattr(impls, "_instances", {})
    monkeypatch.setattr(impls, "_discovered", False)
    return impls


def _status(name):
    (st,) = impls.backend_statuses([name])
    return st


def _installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


# ------------------------------------------------------------------ registration
def test_pyproject_registers_the_four_backends_and_their_extras():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    eps = meta["entry-points"]["nnconform.backends"]
    for name, (target, _) in BACKENDS.items():
        assert eps.get(name) == target, name
    extras = meta["optional-dependencies"]
    assert {r.split(">")[0] for r in extras["jax"]} == {"jax", "jaxlib"}
    assert {r.split(">")[0] for r in extras["onnxruntime"]} == {"onnxruntime", "onnx"}


def test_registry_knows_the_four_backends(fresh_registry):
    statuses = {s.name: s for s in impls.backend_statuses()}
    for name in BACKENDS:
        assert name in statuses, f"{name} is not registered"
        assert statuses[name].status in ("available", "unavailable"), statuses[name]
        if statuses[name].status == "unavailable":
            assert statuses[name].reason.strip(), f"{name} is unavailable without a reason"


@pytest.mark.parametrize("name", ["jax-cpu", "onnxruntime-cpu"])
def test_cpu_variant_available_when_its_library_is(fresh_registry, name):
    lib = BACKENDS[name][1]
    st = _status(name)
    if not _installed(lib):
        assert st.status == "unavailable" and lib in st.reason, st
        return
    assert st.status == "available", st.reason
    b = impls.get_backend(name)
    assert (b.name, b.device, tuple(b.dtypes)) == (name, "cpu", ("float32", "float64"))
    assert b.metadata()[lib], "metadata names the library version"
    for dev in b.expected_deviations:  # each declaration is scoped and explained
        assert dev.reason.strip() and dev.categories and dev.op != "*", dev


def _jax_has_cuda() -> bool:
    if not _installed("jax"):
        return False
    import jax

    try:
        return bool(jax.devices("cuda"))
    except RuntimeError:
        return False


def _ort_has_cuda_provider() -> bool:
    if not _installed("onnxruntime"):
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


@pytest.mark.parametrize("name, has_gpu, word", [("jax-cuda", _jax_has_cuda, "cuda"),
                                                 ("onnxruntime-cuda", _ort_has_cuda_provider, "CUDAExecutionProvider")])
def test_cuda_variants_unavailable_without_gpu(fresh_registry, name, has_gpu, word):
    if has_gpu():
        pytest.skip(f"this machine has what {name} needs")
    st = _status(name)
    assert st.status == "unavailable", st
    lib = BACKENDS[name][1]
    assert word in st.reason or lib in st.reason, st.reason
    assert name not in impls.available_backends()
    with pytest.raises(Unavailable):
        impls.get_backend(name)


@pytest.mark.parametrize("lib, hidden, message", [
    ("jax", ("jax", "jax.numpy", "jax.lax"), "jax is not installed"),
    ("onnxruntime", ("onnxruntime", "onnx"), "onnxruntime / onnx is not installed"),
])
def test_missing_library_makes_backends_unavailable(fresh_registry, monkeypatch, lib, hidden, message):
    """A failed import (simulated: sys.modules[name] = None) gives "unavailable" with the reason, never an error."""
    for mod in hidden:
        monkeypatch.setitem(sys.modules, mod, None)  # `import mod` now raises ImportError
    for name, (target, owner) in BACKENDS.items():
        if owner != lib:
            continue
        factory = impls._resolve(target)
        with pytest.raises(Unavailable, match=message):
            factory()
        st = _status(name)
        assert st.status == "unavailable" and message in st.reason, st
    assert "numpy" in impls.available_backends(), "the other backends are unaffected"


# ------------------------------------------------------------------ the lecture's convolution
def _cpu_backend(name):
    lib = BACKENDS[name][1]
    pytest.importorskip(lib)
    return impls.load_backend(BACKENDS[name][0])


def _conv(b, dtype, x, w, bias=None, **kw):
    """b.conv in ``dtype``; None when the backend has no kernel for that dtype (ONNX Runtime float64)."""
    args = [b.asarray(np.asarray(a), dtype) for a in (x, w)] + ([b.asarray(bias, dtype)] if bias is not None else [])
    try:
        y = b.conv(*args, **kw)
    except NotImplementedOp:
        return None
    assert b.dtype_name(y) == dtype
    return b.to_numpy(y)


@pytest.mark.parametrize("name", ["jax-cpu", "onnxruntime-cpu"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("example", ["conv1d-periodic", "conv1d-periodic-long-kernel", "conv1d-same"])
def test_conv_reproduces_the_lecture_examples(name, dtype, example):
    b, ex = _cpu_backend(name), get_example(example)
    got = _conv(b, dtype, *ex.args, **ex.kwargs)
    if got is None:
        assert name.startswith("onnxruntime") and dtype == "float64", "only ORT's CPU Conv lacks float64"
        return
    np.testing.assert_array_equal(got, ex.expected)  # small integers: exact in any float type


@pytest.mark.parametrize("name", ["jax-cpu", "onnxruntime-cpu"])
def test_conv_even_kernel_and_long_wrap_match_spec(name):
    """Even kernels under 'same' pad at the END; a dilated kernel longer than the input wraps again."""
    b = _cpu_backend(name)
    rng = np.random.default_rng(5)
    x = rng.integers(-3, 4, (2, 3, 4, 5)).astype(np.float64)
    for padding, w_shape, kw in (("same", (2, 3, 2, 4), {"stride": (1, 2)}),
                                 ("periodic", (2, 3, 3, 4), {"dilation": (3, 2)})):
        w = rng.integers(-2, 3, w_shape).astype(np.float64)
        bias = rng.integers(-2, 3, 2).astype(np.float64)
        want = spec.conv(x, w, bias, padding=padding, **kw)
        np.testing.assert_array_equal(_conv(b, "float32", x, w, bias, padding=padding, **kw), want)


# ------------------------------------------------------------------ backend-specific contracts
def test_onnxruntime_is_forward_only_and_names_missing_float64_kernels():
    b = _cpu_backend("onnxruntime-cpu")
    for op in impls.OPS:
        assert not impls.base.implements(b, op + "_vjp"), f"{op}_vjp should be left to the 'not implemented' stub"
    x = b.asarray(np.ones((1, 1, 4)), "float64")
    with pytest.raises(NotImplementedOp, match="Conv"):
        b.conv(x, b.asarray(np.ones((1, 1, 2)), "float64"))
    with pytest.raises(ValueError, match="w.shape"):  # spec's ValueError comes first, in every dtype
        b.conv(x, b.asarray(np.ones((1, 2, 2)), "float64"))


def test_onnxruntime_dropout_mask_is_reproducible_per_seed():
    b = _cpu_backend("onnxruntime-cpu")
    first, again = (b.dropout_mask((40, 50), keep_prob=0.5, seed=7) for _ in range(2))
    np.testing.assert_array_equal(first, again)  # a fresh session per call: the generator restarts
    assert not np.array_equal(first, b.dropout_mask((40, 50), keep_prob=0.5, seed=8))
    assert set(np.unique(first)) <= {0.0, 1.0} and 0.4 < first.mean() < 0.6


def test_jax_compilation_cache_dir_setting(monkeypatch, tmp_path):
    from impls import jax_backend

    monkeypatch.delenv(jax_backend.CACHE_ENV, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert jax_backend._cache_dir() == str(tmp_path / "nnconform" / "jax")
    for off in ("off", "", "0"):
        monkeypatch.setenv(jax_backend.CACHE_ENV, off)
        assert jax_backend._cache_dir() is None
    monkeypatch.setenv(jax_backend.CACHE_ENV, str(tmp_path / "mine"))
    assert jax_backend._cache_dir() == str(tmp_path / "mine")
