"""A gallery of misbehaving backends, derived from numpy, one misbehaviour each (all in relu).

tests/test_gallery.py runs the suite against all of them at once, together with the built-in
numpy backend, and checks that each is reported under its own category and nothing else is lost.
"""

from __future__ import annotations

import os
import time

import numpy as np

from impls.numpy_backend import NumpyBackend


class RaisesKeyError(NumpyBackend):
    name = "gallery-raises"

    def relu(self, x):
        raise KeyError("internal table lookup failed </script><img src=x onerror=alert(1)>")


class Hangs(NumpyBackend):
    name = "gallery-hangs"

    def relu(self, x):
        time.sleep(3600)


class WrongShape(NumpyBackend):
    name = "gallery-wrong-shape"

    def relu(self, x):
        return super().relu(x)[..., :-1] if x.shape[-1] > 1 else super().relu(x)[:, :0]


class WrongDtype(NumpyBackend):
    name = "gallery-wrong-dtype"

    def relu(self, x):
        return super().relu(x).astype(np.float64 if x.dtype == np.float32 else np.float32)


class NotAnArray(NumpyBackend):
    name = "gallery-not-an-array"

    def relu(self, x):
        return "relu(x)"


class MutatesInput(NumpyBackend):
    name = "gallery-mutates"

    def relu(self, x):
        return np.maximum(x, 0, out=x)


class Nondeterministic(NumpyBackend):
    name = "gallery-nondeterministic"
    calls = 0

    def relu(self, x):
        out = super().relu(x)
        Nondeterministic.calls += 1
        if Nondeterministic.calls % 2 and out.size:
            flat = out.reshape(-1)
            flat[0] = np.nextafter(flat[0], np.inf, dtype=out.dtype)
        return out


class NaNOutput(NumpyBackend):
    name = "gallery-nan"

    def relu(self, x):
        out = super().relu(x)
        if out.size:
            out.reshape(-1)[0] = np.nan
        return out


class Crashes(NumpyBackend):
    name = "gallery-crashes"

    def relu(self, x):
        os._exit(3)


class HostileName(NumpyBackend):
    name = "<script>alert(1)</script>"

    def relu(self, x):
        raise RuntimeError("</script><img src=x onerror=alert('pwned')> & <b>bold</b>")


GALLERY = {
    "tests.helpers.broken_plugin:Backend": ("*", "load", "import_error"),
    "tests.gallery:RaisesKeyError": ("relu", "forward", "unexpected_exception"),
    "tests.gallery:Hangs": ("relu", "forward", "timeout"),
    "tests.gallery:WrongShape": ("relu", "forward", "wrong_shape"),
    "tests.gallery:WrongDtype": ("relu", "forward", "wrong_dtype"),
    "tests.gallery:NotAnArray": ("relu", "forward", "not_an_array"),
    "tests.gallery:MutatesInput": ("relu", "forward", "mutated_input"),
    "tests.gallery:Nondeterministic": ("relu", "determinism", "nondeterministic"),
    "tests.gallery:NaNOutput": ("relu", "forward", "nan_mismatch"),
    "tests.gallery:Crashes": ("relu", "forward", "crash"),
    "tests.gallery:HostileName": ("relu", "forward", "unexpected_exception"),
}
"""module:attr -> (op, check, category) the run must report."""


# ---------------------------------------------------------------- helper "robust": quarantine and front door
class ReturnsList(NumpyBackend):
    name = "gallery-returns-list"

    def relu(self, x):
        return super().relu(x).tolist()


def raising_factory():
    """A zero-argument factory (as an entry point may name) that raises instead of returning a backend."""
    raise RuntimeError("simulated factory failure: the device handle could not be opened")
