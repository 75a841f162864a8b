"""Forward and VJP of every op in the table, against spec (small tier) and a float64 oracle (realistic tier)."""

from __future__ import annotations

import pytest

from impls.base import NotImplementedOp, implements

from . import profiles
from .checks import check_op
from .optable import OP_TABLE, REALISTIC_SEED, NumpyView, pick_oracle, realistic_cases
from .plugin import Combo, combos
from .pytest_helpers import ConformanceFailure
from .repro import repro_command
from .runner import fail_row, finish_deviation, not_implemented, run_examples


def _op_combos(predicate):
    def gen(name, backend):
        return [Combo(name, rec.name, dt) for rec in OP_TABLE.values() if predicate(rec) for dt in backend.dtypes]
    return gen


def _require(backend, row, opname):
    if not implements(backend, opname):
        not_implemented(row, NotImplementedError(f"{row.backend} has no {opname}"))


@combos(_op_combos(lambda rec: True))
def test_forward(combo, backend, row):
    rec = OP_TABLE[combo.op]
    _require(backend, row, rec.name)
    row.tier = "small"
    run_examples(row, backend, rec.cases(combo.dtype),
                 lambda case, seed: check_op(backend, rec, case, combo.dtype, "forward", seed=seed)[0],
                 repro=lambda case, seed: repro_command(combo.backend, rec.name, combo.dtype, "forward", case, seed))


@combos(_op_combos(lambda rec: rec.has_vjp))
def test_gradient(combo, backend, row):
    rec = OP_TABLE[combo.op]
    _require(backend, row, rec.name + "_vjp")
    row.tier = "small"
    run_examples(row, backend, rec.cases(combo.dtype),
                 lambda case, seed: check_op(backend, rec, case, combo.dtype, "gradient", seed=seed)[0],
                 repro=lambda case, seed: repro_command(combo.backend, rec.name, combo.dtype, "gradient", case, seed))


def _realistic_combos(name, backend):
    if not profiles.current().realistic:
        return []
    return [Combo(name, rec.name, dt, mode) for rec in OP_TABLE.values() if rec.realistic
            for dt in backend.dtypes for mode in (("forward", "gradient") if rec.has_vjp else ("forward",))]


@combos(_realistic_combos)
def test_realistic(combo, backend, row, request):
    """Large shapes against a float64 oracle backend: small shapes alone cannot see TF32 (facts.md)."""
    import impls

    rec, mode = OP_TABLE[combo.op], combo.extra
    row.check, row.tier = mode, "realistic"
    _require(backend, row, rec.name if mode == "forward" else rec.name + "_vjp")
    from .oracle_cache import SharedOracle, folder_beside
    from .plugin import results_path, selected_backends

    oracle_name = pick_oracle(combo.backend, [*impls.available_backends(), *selected_backends(request.config)])
    if oracle_name is None:
        pytest.skip("no other backend is available to serve as float64 oracle")
    oracle = SharedOracle(NumpyView(impls.get_backend(oracle_name), "float64"), oracle_name,
                          folder_beside(results_path(request.config)))
    row.extra["oracle"] = f"{oracle_name} (float64)"
    try:
        for label, case in realistic_cases(rec, combo.dtype):
            try:
                cmp, _ = check_op(backend, rec, case, combo.dtype, mode, ref=oracle, seed=7)
            except NotImplementedOp as exc:  # e.g. no float64 kernel for this op (onnxruntime's Conv)
                not_implemented(row, exc)
            except ConformanceFailure as exc:
                fail_row(row, backend, exc, falsifying=f"{label} (realistic tier, rng seed {REALISTIC_SEED})",
                         repro=repro_command(combo.backend, rec.name, combo.dtype, mode, None, 7, realistic=label))
                raise
            row.observe(cmp)
            row.extra.setdefault("cases", []).append(label)
    finally:
        row.extra["oracle_reads"] = oracle.hits  # answers another backend's test had computed (oracle_cache)
    finish_deviation(row)
