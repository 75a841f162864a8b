"""spec's op catalogue is consistent with spec's functions, and everything that lists ops derives from it."""

from __future__ import annotations

import inspect

import pytest

import impls
import spec
from conformance.optable import OP_TABLE
from conformance.spec_backend import SpecBackend
from spec.catalogue import BY_NAME, CATALOGUE, FUNCTION_NAMES, ArgRole


@pytest.mark.parametrize("op", CATALOGUE, ids=lambda o: o.name)
def test_entry_matches_the_functions(op):
    fwd = inspect.signature(op.forward).parameters
    positional = [n for n, p in fwd.items() if p.kind is p.POSITIONAL_OR_KEYWORD]
    assert positional == [a.name for a in op.args], "args must list every positional argument, in order"
    for a in op.args:
        assert a.optional == (fwd[a.name].default is None), f"{a.name}: optional iff its default is None"
    assert inspect.signature(op.validator).parameters.keys() == fwd.keys(), "the validator takes the op's arguments"
    assert getattr(spec, op.name) is op.forward and op.forward.__name__ == op.name
    if op.vjp is None:
        assert not op.diff_args, "an op without a VJP has no differentiable argument"
        return
    vjp = inspect.signature(op.vjp).parameters
    assert list(vjp) == ["g", *fwd], "vjp(g, *args, **params)"
    assert all(vjp[n].default == p.default for n, p in fwd.items())
    assert getattr(spec, op.vjp_name) is op.vjp
    assert all(op.args[i].role == ArgRole.DIFF for i in op.diff_args)


def test_every_list_of_ops_derives_from_the_catalogue():
    assert impls.ALL_OP_NAMES == FUNCTION_NAMES
    assert set(impls.OPS) | set(impls.PLAIN_OPS) == set(BY_NAME)
    assert set(impls.OPS) == {op.name for op in CATALOGUE if op.vjp}
    for name in FUNCTION_NAMES:  # a stub for every function, so a partial backend still imports
        assert getattr(impls.Backend, name).__nnconform_missing__
    backend = SpecBackend()
    assert all(backend.implements(n) for n in FUNCTION_NAMES)


def test_the_op_table_judges_exactly_the_catalogue():
    assert list(OP_TABLE) == [op.name for op in CATALOGUE if op.name in OP_TABLE], "records in catalogue order"
    # dropout_mask draws random numbers: the statistics tests judge it, not the generic forward check.
    assert set(BY_NAME) - set(OP_TABLE) == {"dropout_mask"}
    for rec in OP_TABLE.values():
        assert rec.has_vjp == (rec.op.vjp is not None), rec.name
        assert rec.diff_args == rec.op.diff_args


def test_the_new_ops_have_their_roles():
    assert BY_NAME["graph_conv"].index_args == (1,) and BY_NAME["graph_conv"].diff_args == (0, 2, 3)
    assert BY_NAME["locally_connected"].diff_args == (0, 1, 2)
    assert BY_NAME["dropout"].positions(ArgRole.CONST) == (1,)
    assert BY_NAME["batch_norm_eval"].positions(ArgRole.CONST) == (3, 4)
