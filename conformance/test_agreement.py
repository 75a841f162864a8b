"""Cross-backend agreement, one test per op x dtype over every selected backend (see agreement.py).

The row (backend "*", check "agreement") carries ``extra["agreement"]``: the columns (spec first),
each column's status per mode and the worst tol_ratio of every pair. It describes; verdicts against
spec come from test_ops. A backend that raises or hangs is marked in its column; the others are kept.
"""

from __future__ import annotations

import time

import impls

from .agreement import SPEC, measure
from .dtype_helpers import UNIT_ROUNDOFF
from .optable import OP_TABLE
from .plugin import Combo, selected_backends
from .runner import Row

CHECK = "agreement"


def _backends(config) -> dict:
    out = {}
    for name in selected_backends(config):
        try:
            out[name] = impls.get_backend(name)
        except Exception:  # noqa: BLE001 - reported by the backend's own load row
            continue
    return out


def _dtypes(backends) -> list[str]:
    dtypes: list[str] = []
    for b in backends.values():
        try:
            declared = tuple(b.dtypes)
        except Exception:  # noqa: BLE001
            continue
        dtypes += [d for d in declared if d in UNIT_ROUNDOFF and d not in dtypes]
    return dtypes


def pytest_generate_tests(metafunc):
    if "agreement_combo" not in metafunc.fixturenames:
        return
    backends = _backends(metafunc.config)
    found = [Combo("*", rec.name, dt, CHECK) for rec in OP_TABLE.values() for dt in _dtypes(backends)]
    metafunc.parametrize("agreement_combo", found, ids=[str(c) for c in found])


def test_agreement(agreement_combo, request):
    c = agreement_combo
    row = Row(backend="*", op=c.op, dtype=c.dtype, check=CHECK, tier="small", nodeid=request.node.nodeid,
              name=f"agreement {c.op} {c.dtype}")
    request.node._nnconform_row, request.node._nnconform_t0 = row, time.perf_counter()
    backends = {}
    for name, b in _backends(request.config).items():
        try:
            if c.dtype in tuple(b.dtypes):
                backends[name] = b
        except Exception:  # noqa: BLE001
            continue
    result = measure(backends, c.op, c.dtype)
    row.extra["agreement"] = result
    row.examples = result["cases"]
    for mode, status in result["status"].items():
        # spec is the reference of every pair: if spec cannot run the fixed cases, the suite is at fault
        assert status[SPEC] == "ok", (mode, status)
        assert len(result["pairs"][mode]) == sum(1 for s in status.values() if s == "ok") * (
            sum(1 for s in status.values() if s == "ok") - 1) // 2
