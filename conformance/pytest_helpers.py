"""Calling a suspect backend safely, and failures that explain themselves.

Every call into a backend goes through :func:`call_op`, which converts arguments, enforces a
per-call time limit (:func:`call_limit`), and turns each kind of misbehaviour into a
:class:`ConformanceFailure` with a category the report shows (wrong_shape, wrong_dtype,
not_an_array, mutated_input, unexpected_exception, timeout, ...).

The time limit scales with the work: ``LIMIT_FACTOR`` times what the float64 reference (spec, or
the realistic tier's oracle) took on the very same case, never below ``LIMIT_FLOOR_S`` (the floor
absorbs first-call costs: JIT compilation, CUDA start-up, a loaded machine) and never above
``LIMIT_CEILING_S``. ``--example-timeout SECONDS`` replaces the rule by one fixed limit.
"""

from __future__ import annotations

import contextlib
import inspect
import signal
import threading
import time

import numpy as np

from impls.base import LAYOUTS, NotImplementedOp

from .dtype_helpers import arg_dtype

LIMIT_FACTOR = 100.0
"""A backend call may take this many times the float64 reference's time on the same case ..."""
LIMIT_FLOOR_S = 10.0
"""... but always at least this long ..."""
LIMIT_CEILING_S = 120.0
"""... and never longer than this."""
LIMIT_OVERRIDE_S: float | None = None
"""A fixed limit for every call instead of the rule; set by ``--example-timeout``."""


def call_limit(reference_s: float | None) -> float:
    """The time limit of one backend call whose float64 reference took ``reference_s`` seconds."""
    if LIMIT_OVERRIDE_S is not None:
        return LIMIT_OVERRIDE_S
    scaled = LIMIT_FACTOR * (reference_s or 0.0)
    return min(LIMIT_CEILING_S, max(LIMIT_FLOOR_S, scaled))


SMALL_CALL_ELEMENTS = 4096
"""A call whose array arguments hold at most this many elements in all gets the floor without timing spec.
Every hypothesis-drawn case is this small; spec's loops take at most ~0.2 s on the largest of them (a 3-D
conv of N = 4), where the rule would allow up to 20 s, so such a call counts as hung after the floor's 10 s
instead. Timing spec on every example had been a large share of a run (issue 13: the run's cost)."""
_SPEC_SECONDS: dict = {}
"""Spec's time per call signature (op, shapes, keywords) in this process: its loops' cost depends on the
shapes and keywords only, so a repeated skeleton (a worked example in two dtypes, a pooled shape) is timed once."""


def _spec_seconds(opname: str, args, kwargs) -> float | None:
    """Time spec's ``opname`` on ``args`` (for a call no caller timed a reference for; spec computes in float64).

    The result only sizes the time limit, which only decides when a call counts as hung: a call that
    returns within the floor gets the same verdict as before."""
    import spec

    from .hypothesis_helpers import shape_signature  # lazily: the plugin imports this module at start-up

    fn = getattr(spec, opname, None)
    if fn is None:
        return None
    if sum(int(np.size(a)) for a in args if isinstance(a, np.ndarray)) <= SMALL_CALL_ELEMENTS:
        return 0.0
    key = shape_signature(opname, args, kwargs)
    if key in _SPEC_SECONDS:
        return _SPEC_SECONDS[key]
    t0 = time.perf_counter()
    try:
        fn(*args, **kwargs)
    except Exception:  # bad input: spec raises at once, and the time until then is the work
        pass
    _SPEC_SECONDS[key] = elapsed = time.perf_counter() - t0
    return elapsed


class ConformanceFailure(AssertionError):
    """A check failed; ``category`` says how (see DESIGN.md's results schema)."""

    def __init__(self, category: str, message: str, *, expected=None, actual=None, comparison=None):
        super().__init__(f"[{category}] {message}")
        self.category, self.message = category, message
        self.expected, self.actual, self.comparison = expected, actual, comparison


class Hung(BaseException):
    """A backend call ran past its time limit. A BaseException, so hypothesis stops at once instead of
    replaying (and waiting out) the hang again for every shrinking attempt."""

    def __init__(self, failure: ConformanceFailure):
        super().__init__(str(failure))
        self.failure = failure


class BackendTimeout(BaseException):
    """Raised inside a hung backend call by the alarm. BaseException so a backend's broad
    ``except Exception`` cannot swallow it."""


@contextlib.contextmanager
def time_limit(seconds: float | None, exc=None):
    """Raise ``exc`` (default :class:`BackendTimeout`) inside the block after ``seconds``.

    Only in the main thread on Unix, and never over someone else's armed alarm (pytest-timeout's
    signal method, say): then the block runs without a limit.
    """
    exc = exc or BackendTimeout
    usable = (seconds is not None and seconds > 0 and hasattr(signal, "setitimer")
              and threading.current_thread() is threading.main_thread()
              and signal.getitimer(signal.ITIMER_REAL)[0] == 0)
    if not usable:
        yield
        return

    def on_alarm(signum, frame):
        raise exc(f"the call did not return within {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def describe_call(backend_name: str, opname: str, args, kwargs) -> str:
    def short(a):
        if isinstance(a, np.ndarray):
            return f"array{a.shape}"
        return repr(a)

    inner = ", ".join([short(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()])
    return f"{backend_name}.{opname}({inner})"


def to_native(backend, args, dtype: str, layout: str = "contiguous"):
    if layout not in supported_layouts(backend):
        layout = "contiguous"  # the example still runs; the row says which layouts went untested

    def convert(a):
        if not isinstance(a, np.ndarray):
            return a
        a_dtype = arg_dtype(a, dtype)
        if layout == "contiguous" or a_dtype != dtype:  # integer index arrays stay contiguous
            return backend.asarray(a, a_dtype)
        return backend.asarray(a, a_dtype, layout=layout)

    return [convert(a) for a in args]


def supported_layouts(backend) -> tuple[str, ...]:
    """The layouts ``backend.asarray`` takes: its ``layouts``, or all of LAYOUTS if it has a ``layout``
    parameter and no list; only "contiguous" if it has none (detected once per backend class)."""
    return _layouts_of(type(backend), backend)


_LAYOUT_CACHE: dict = {}


def _layouts_of(cls, backend) -> tuple[str, ...]:
    if cls not in _LAYOUT_CACHE:
        try:
            has = "layout" in inspect.signature(backend.asarray).parameters
        except (TypeError, ValueError):
            has = False
        declared = tuple(getattr(backend, "layouts", LAYOUTS))
        _LAYOUT_CACHE[cls] = ("contiguous", *(lay for lay in declared if lay in LAYOUTS and lay != "contiguous")) \
            if has else ("contiguous",)
    return _LAYOUT_CACHE[cls]


def untested_layouts_note(backend) -> str:
    """For the result row: which memory layouts this backend's examples could not be given, and why."""
    missing = [lay for lay in LAYOUTS if lay not in supported_layouts(backend)]
    if not missing:
        return ""
    if supported_layouts(backend) == ("contiguous",):
        return "not tested: " + ", ".join(missing) + " (asarray has no layout parameter)"
    return "not tested: " + ", ".join(missing) + " (not in the backend's layouts)"


def snapshot(backend, native_args):
    out = []
    for a in native_args:
        try:
            out.append(np.array(backend.to_numpy(a), dtype=np.float64, copy=True) if _is_array(a) else None)
        except Exception:
            out.append(None)
    return out


def _is_array(a) -> bool:
    return a is not None and hasattr(a, "shape") and not isinstance(a, (int, float, str, tuple))


def _same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


def convert_output(backend, out, *, dtype: str | None, n_outputs: int | None, where: str):
    """Backend output -> tuple of float64 numpy arrays, checking type, arity and dtype."""
    outs = out if isinstance(out, (tuple, list)) else (out,)
    if n_outputs is not None and len(outs) != n_outputs:
        raise ConformanceFailure("not_an_array", f"{where} returned {len(outs)} values, but should return "
                                 f"{n_outputs} (one per differentiable argument given)")
    result = []
    for i, o in enumerate(outs):
        if not _is_array(o):
            raise ConformanceFailure("not_an_array", f"{where} output {i} is {type(o).__name__} {o!r:.80}, "
                                     "but should be an array")
        try:
            got_dtype = backend.dtype_name(o)
            arr = np.asarray(backend.to_numpy(o))
        except Exception as exc:
            raise ConformanceFailure("not_an_array", f"{where} output {i} could not be converted: {exc!r}") from exc
        if not isinstance(arr, np.ndarray) or arr.dtype.kind not in "fiub":
            raise ConformanceFailure("not_an_array", f"{where} output {i} converts to {type(arr).__name__}, "
                                     "but should convert to a numeric numpy array")
        if dtype is not None and got_dtype != dtype:
            raise ConformanceFailure("wrong_dtype", f"out.dtype={got_dtype}, but should be {dtype} [{where}]")
        result.append(arr.astype(np.float64))
    return tuple(result)


def call_op(backend, opname: str, args, kwargs, *, dtype: str, n_outputs: int | None = 1,
            check_mutation: bool = True, reference_s: float | None = None, layout: str = "contiguous"):
    """Run ``backend.<opname>`` on numpy ``args`` (converted to ``dtype`` in ``layout``); return float64 outputs.

    ``reference_s``: what the float64 reference took on this case (the time limit scales with it);
    when not given, spec's ``opname`` is timed here on the same arguments.
    """
    where = describe_call(backend.name, opname, args, kwargs)
    if reference_s is None and LIMIT_OVERRIDE_S is None:
        reference_s = _spec_seconds(opname, args, kwargs)
    limit = call_limit(reference_s)
    try:
        native = to_native(backend, args, dtype, layout)
    except Exception as exc:
        raise ConformanceFailure("unexpected_exception", f"{backend.name}.asarray raised {type(exc).__name__}: "
                                 f"{exc}") from exc
    before = snapshot(backend, native) if check_mutation else None
    try:
        with time_limit(limit):
            out = getattr(backend, opname)(*native, **kwargs)
    except NotImplementedOp:
        raise
    except BackendTimeout as exc:
        raise Hung(ConformanceFailure("timeout", f"{where}: {exc}")) from None
    except ConformanceFailure:
        raise
    except Exception as exc:
        raise ConformanceFailure("unexpected_exception",
                                 f"{where} raised {type(exc).__name__}: {exc}") from exc
    # An op without array inputs (dropout_mask) has no input dtype to keep.
    out_dtype = dtype if any(isinstance(a, np.ndarray) for a in args) else None
    outs = convert_output(backend, out, dtype=out_dtype, n_outputs=n_outputs, where=where)
    if check_mutation:
        after = snapshot(backend, native)
        for i, (b, a) in enumerate(zip(before, after, strict=True)):
            if b is not None and a is not None and not _same_bits(a, b):
                raise ConformanceFailure("mutated_input", f"{where} modified its input argument {i} in place")
    return outs
