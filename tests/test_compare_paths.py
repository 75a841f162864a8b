"""tolerance.compare's path for all-finite outputs gives exactly the general path's numbers and message."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance import tolerance

FINITE32 = st.floats(-1e38, 1e38, allow_nan=False, allow_subnormal=True).map(lambda v: float(np.float32(v)))
ANY64 = st.floats(allow_nan=True, allow_infinity=True)


def _fields(c):
    return (c.ok, c.category, c.max_abs_err, c.max_rel_err, c.tol_ratio, c.worst_index, c.message,
            None if c.err is None else c.err.tobytes(), None if c.mag is None else c.mag.tobytes())


def _general(monkeypatch, *args, **kwargs):
    with monkeypatch.context() as m:
        m.setattr(tolerance, "_ordinary", lambda x, largest: False)
        return tolerance.compare(*args, **kwargs)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the general path computes with inf and NaN
@settings(max_examples=200, deadline=None)
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
def test_ordinary_path_equals_general_path(data, shape):
    monkeypatch = pytest.MonkeyPatch()
    e = data.draw(hnp.arrays(np.float64, shape, elements=FINITE32))
    # actual: near e (one float32 rounding, a planted error, or an unrelated value) so ratios span both verdicts
    noise = data.draw(hnp.arrays(np.float64, shape, elements=st.sampled_from([0.0, 1e-7, -3e-6, 1e-3, 2.0])))
    with np.errstate(over="ignore"):  # beyond float32's range: inf, which the general path judges
        a = (e * (1 + noise)).astype(np.float32).astype(np.float64)
    m = data.draw(hnp.arrays(np.float64, shape, elements=ANY64))
    kw = dict(dtype="float32", reduction=data.draw(st.integers(1, 300)), c=3.0)
    fast = tolerance.compare(a, e, m, **kw)
    assert _fields(fast) == _fields(_general(monkeypatch, a, e, m, **kw))


def test_non_finite_values_take_the_general_path():
    e = np.array([1.0, np.nan, 2.0])
    a = np.array([1.0, 0.0, 2.0])
    cmp = tolerance.compare(a, e, np.abs(e), dtype="float64", reduction=1)
    assert not cmp.ok and cmp.category == "nan_mismatch" and cmp.worst_index == (1,)
    over = tolerance.compare(np.array([np.inf]), np.array([1e39]), np.array([1e39]), dtype="float32", reduction=1)
    assert over.ok  # beyond float32's range, inf of the same sign is the right answer
