"""Hygiene: determinism of every op and every VJP, NaN/Inf propagation (inputs are never mutated:
every call checks that)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import strategies as st

from impls.base import implements
from spec import catalogue

from . import profiles
from .checks import check_op, checked_mask, n_gradients
from .dtype_helpers import round_to_dtype
from .hypothesis_helpers import Case, cotangent
from .optable import OP_TABLE
from .plugin import Combo, combos
from .pytest_helpers import ConformanceFailure, call_op
from .repro import repro_command
from .runner import fail_row, not_implemented, run_examples


def _few() -> int:
    return max(3, profiles.current().examples // 3)


def _all_ops(name, backend):
    return [Combo(name, rec.name, dt) for rec in OP_TABLE.values() for dt in backend.dtypes]


@combos(_all_ops)
def test_determinism(combo, backend, row):
    """Two identical calls agree bitwise (on CPU; a GPU backend may declare itself nondeterministic)."""
    rec = OP_TABLE[combo.op]
    if not implements(backend, rec.name):
        not_implemented(row, NotImplementedError(rec.name))
    if not getattr(backend, "deterministic", True):
        row.status, row.reason = "skipped", "backend declares deterministic = False"
        pytest.skip(row.reason)

    def check(case, seed):
        _, first = check_op(backend, rec, case, combo.dtype, "forward", compare_to_ref=False)
        _, second = check_op(backend, rec, case, combo.dtype, "forward", compare_to_ref=False)
        _same_bits(first, second, f"{backend.name}.{rec.name}, {combo.dtype}")
        return None

    run_examples(row, backend, rec.cases(combo.dtype), check, max_examples=_few(),
                 repro=lambda case, seed: repro_command(combo.backend, rec.name, combo.dtype, "forward", case, seed))


def _same_bits(first, second, where: str) -> None:
    for j, (a, b) in enumerate(zip(first, second, strict=True)):
        same = (a == b) | (np.isnan(a) & np.isnan(b))
        if not same.all():
            i = tuple(int(v) for v in np.argwhere(~same)[0])
            raise ConformanceFailure("nondeterministic", f"two identical calls differ: out[{j}][{i}]={a[i]!r} then "
                                     f"{b[i]!r} [{where}]")




SPECIALS = (np.nan, np.inf, -np.inf)


@st.composite
def _with_special(draw, base, dtype):
    case = draw(base)
    x = np.array(case.args[0], copy=True)
    if x.size:
        x.flat[draw(st.integers(0, x.size - 1))] = draw(st.sampled_from(SPECIALS))
    return Case((x, *case.args[1:]), dict(case.kwargs))


def _propagating_ops(name, backend):
    return [Combo(name, rec.name, dt) for rec in OP_TABLE.values() if rec.name != "running_stats"
            for dt in backend.dtypes]


def _check_with_specials(combo, backend, row, mode: str) -> None:
    rec = OP_TABLE[combo.op]
    opname = rec.name if mode == "forward" else rec.name + "_vjp"
    if not implements(backend, opname):
        not_implemented(row, NotImplementedError(opname))

    def check(case, seed):
        with np.errstate(invalid="ignore", over="ignore"):
            return check_op(backend, rec, case, combo.dtype, mode, seed=seed)[0]

    run_examples(row, backend, _with_special(rec.cases(combo.dtype), combo.dtype), check, max_examples=_few(),
                 repro=lambda case, seed: repro_command(combo.backend, rec.name, combo.dtype, mode, case, seed))


@combos(_propagating_ops)
def test_nan_propagation(combo, backend, row):
    """NaN and Inf drawn on purpose into x: the output is NaN/Inf exactly where spec's is."""
    _check_with_specials(combo, backend, row, "forward")


def _dtype_combos(name, backend):
    return [Combo(name, "dropout_mask", dt) for dt in backend.dtypes[:1]]


@combos(_dtype_combos)
def test_mask_is_binary(combo, backend, row):
    """dropout_mask returns a (N, C) array of zeros and ones."""
    if not implements(backend, "dropout_mask"):
        not_implemented(row, NotImplementedError("dropout_mask"))
    try:
        checked_mask(backend, (7, 5), 0.5, seed=1)
    except ConformanceFailure as exc:
        row.category, row.message = exc.category, exc.message
        raise
    row.examples = 1


def _differentiable_ops(name, backend):
    return [Combo(name, rec.name, dt) for rec in OP_TABLE.values() if rec.has_vjp for dt in backend.dtypes]


@combos(_differentiable_ops)
def test_nan_gradient(combo, backend, row):
    """NaN and Inf in x: every gradient is NaN/Inf exactly where spec's is (e.g. relu'(NaN) and the
    first NaN of a max-pool window, spec's declared policies)."""
    _check_with_specials(combo, backend, row, "gradient")


# --- VJP determinism ---------------------------------------------------------------------------------
# The VJPs reduce over the batch (conv's and dense's weight gradients, batch norm's ggamma and gbeta).
# Floating-point addition is commutative, so a batch of two sums to the same bits in either order; a
# reordered or racing batch reduction shows only from N = 3 on, and only when the summands differ (a sum
# of zeros has one result in every order). Hence every drawn case gets 3 or 4 more samples of generic
# (normal, never zero) values: N = 4..6 with at least three distinct summands, so few examples suffice.
EXTRA_SAMPLES = (3, 4)


def _vjp_examples() -> int:
    return max(3, profiles.current().examples // 8)


@st.composite
def _wide_batch(draw, rec, dtype):
    case = draw(rec.cases(dtype))
    x = case.args[0]
    rng = np.random.default_rng(draw(st.integers(0, 2**31 - 1)))
    extra = draw(st.integers(*EXTRA_SAMPLES))
    more = round_to_dtype(2.0 * rng.standard_normal((extra, *x.shape[1:])), dtype)
    args = [np.concatenate([x, more]), *case.args[1:]]
    for i, arg in enumerate(catalogue.get(rec.name).args[1:], start=1):
        if arg.per_sample:  # dropout's mask: one row per sample, so the extra samples need rows too
            rows = (rng.random((extra, *args[i].shape[1:])) < 0.5).astype(np.float64)
            args[i] = np.concatenate([args[i], rows])
    return Case(tuple(args), dict(case.kwargs))


@combos(_differentiable_ops)
def test_vjp_determinism(combo, backend, row):
    """Two identical VJP calls (same arguments, same random cotangent) agree bitwise, at batch N = 4..6."""
    rec = OP_TABLE[combo.op]
    opname = rec.name + "_vjp"
    row.name = f"{opname} twice, N >= 4"
    if not implements(backend, opname):
        not_implemented(row, NotImplementedError(opname))
    if not getattr(backend, "deterministic", True):
        row.status, row.reason = "skipped", "backend declares deterministic = False"
        pytest.skip(row.reason)

    found = {}

    def repro(case, seed):
        return repro_command(combo.backend, rec.name, combo.dtype, "gradient", case, seed)

    def check(case, seed):
        if found:
            return None
        g = cotangent(catalogue.get(rec.name).out_shape(case.args, case.kwargs), combo.dtype, seed)
        n_out = n_gradients(rec, case)
        first, second = (call_op(backend, opname, (g, *case.args), case.kwargs, dtype=combo.dtype, n_outputs=n_out)
                         for _ in range(2))
        try:
            _same_bits(first, second, f"{backend.name}.{opname}, {combo.dtype}")
        except ConformanceFailure as exc:
            # Shrinking a failure that need not recur on replay only burns time: keep the example found.
            found.update(exc=exc, case=case, seed=seed)
        return None

    run_examples(row, backend, _wide_batch(rec, combo.dtype), check, max_examples=_vjp_examples(), repro=repro)
    if found:
        fail_row(row, backend, found["exc"], falsifying=f"{found['case']!r}, cotangent seed={found['seed']}",
                 repro=repro(found["case"], found["seed"]))
        raise found["exc"]


test_vjp_determinism.nnconform_check = "determinism"
