"""The semantics table: each backend's measured answer to every implementation-defined point.

One test per backend (and one for spec, the reference column) runs the probes of
``semantic_probes.POINTS`` and records ``extra["semantics"] = {point: observed value}`` (with the
measured numbers in ``extra["semantics_detail"]``). The rows describe; they do not judge: a backend
that differs from spec is failed, or shown as a declared deviation, by the check that tests that
decision. A probe that raises or is missing gives "error: ..." / "n/i" for its point and the test
still passes, so that one odd backend never costs the table its other rows.
"""

from __future__ import annotations

import time

from .plugin import Combo, combos
from .runner import Row
from .semantic_probes import POINTS, help_texts, observe
from .spec_backend import SpecBackend

CHECK = "semantics"


def _record(row: Row, values: dict, details: dict, dtypes) -> None:
    row.check, row.name, row.tier = CHECK, "semantics probes", "-"
    row.examples = len(values)
    row.extra.update(semantics=values, semantics_detail=details, semantics_help=help_texts(),
                     probe_dtypes=list(dtypes))
    odd = [k for k, v in values.items() if v.startswith("error")]
    if odd:
        row.message = f"{len(odd)} of {len(POINTS)} probes raised: " + "; ".join(odd)


@combos(lambda name, backend: [Combo(name, "*", "-", CHECK)])
def test_semantics(combo, backend, row):
    dtypes = tuple(getattr(backend, "dtypes", ()) or ())
    values, details = observe(backend, dtypes=dtypes)
    _record(row, values, details, dtypes)


def test_semantics_spec(request):
    """spec's answers, measured by the same probes: the table's reference column."""
    row = Row(backend="spec", op="*", dtype="float64", check=CHECK, nodeid=request.node.nodeid,
              name=request.node.name)
    request.node._nnconform_row, request.node._nnconform_t0 = row, time.perf_counter()
    values, details = observe(SpecBackend(), force_dtype="float64")
    _record(row, values, details, ("float64",))
    # spec implements every op in float64: a probe that cannot run on spec is a bug of the probe
    broken = {k: (v, details[k]) for k, v in values.items() if v.startswith(("error", "refused", "n/"))}
    assert not broken, broken
