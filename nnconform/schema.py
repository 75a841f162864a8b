"""The results vocabulary, written once: schema names, statuses, failure categories and check kinds.

This module sits at the bottom of the layering (it imports nothing of ours): conformance writes
rows with these names, reports renders them, DESIGN.md documents them. A new status, category or
check kind is added here, with its meaning, and nowhere else.
"""

from __future__ import annotations

RESULTS_SCHEMA = "nnconform.results/1"
BENCH_SCHEMA = "nnconform.bench/1"

# ------------------------------------------------------------------------------------------ statuses
STATUSES: dict[str, str] = {
    "pass": "every example agreed with spec within the tolerance",
    "fail": "a check failed; the category says how",
    "expected_deviation": "a failure inside a deviation the backend declared (scope and bound)",
    "not_implemented": "the backend does not provide the op",
    "unavailable": "the backend cannot run on this machine (the reason says why)",
    "error": "the backend could not be loaded, crashed its worker, or the harness itself failed",
    "skipped": "the check does not apply here",
}
PASS, FAIL, EXPECTED_DEVIATION, NOT_IMPLEMENTED, UNAVAILABLE, ERROR, SKIPPED = STATUSES
BAD_STATUSES = (FAIL, ERROR)
"""Statuses that make a run exit 1."""

# ---------------------------------------------------------------------------------------- categories
CATEGORIES: dict[str, str] = {
    "mismatch": "values differ from spec beyond the tolerance",
    "wrong_shape": "the output has the wrong shape",
    "wrong_dtype": "the output has the wrong dtype",
    "not_an_array": "the output is not an array (or the wrong number of outputs)",
    "mutated_input": "the op modified an input in place",
    "nondeterministic": "two identical calls disagreed bit for bit",
    "nan_mismatch": "NaN/Inf positions differ from spec",
    "inexact": "an op that involves no rounding was not bit-exact (signed zeros and NaN positions included)",
    "unexpected_exception": "the backend raised where spec does not",
    "no_valueerror": "bad input was accepted",
    "wrong_valueerror": "bad input raised, but not a ValueError naming the parameter",
    "timeout": "a backend call did not return within its time limit",
    "crash": "a backend call killed its worker process",
    "import_error": "the backend could not be imported or constructed",
    "harness_error": "the suite's own fault, never blamed on the backend",
    "flushed_subnormal": "a subnormal input or intermediate was flushed to zero, and the backend did not declare "
                         "flushes_subnormals = True",
}

# --------------------------------------------------------------------------------------- check kinds
# check kind -> report column group. The groups, in report order, with their column and long labels.
CHECK_GROUPS: dict[str, tuple[str, str]] = {
    "forward": ("fwd", "forward"),
    "gradient": ("grad", "gradient (VJP)"),
    "worked": ("ex", "worked examples"),
    "properties": ("prop", "properties & statistics"),
    "hygiene": ("hyg", "hygiene (determinism, NaN, layouts)"),
    "bad_input": ("bad", "bad & edge input"),
}
CHECK_KINDS: dict[str, str] = {
    "forward": "forward",
    "gradient": "gradient",
    "worked_example": "worked",
    "property": "properties",
    "statistics": "properties",
    "tie_policy": "properties",
    "nan_policy": "properties",
    "composite": "properties",
    "determinism": "hygiene",
    "nan_propagation": "hygiene",
    "nan_gradient": "hygiene",
    "mask_is_binary": "hygiene",
    "bad_input": "bad_input",
    "extreme_input": "bad_input",
    "load": "bad_input",
    "subnormals": "hygiene",  # kept or flushed subnormal inputs and intermediates (conformance/test_subnormals.py)
    # Cross-backend observations (helper reportx): rendered in their own report sections, not in the matrix.
    "semantics": "properties",
    "agreement": "properties",
    # helper checks: masks of different rows, channels and seeds are independent (test_statistics.py)
    "independence": "properties",
}
"""Every check kind a result row may carry, and the report group it is shown in."""

OBSERVATION_KINDS: dict[str, str] = {
    "semantics": "what a backend does at each implementation-defined point (extra['semantics']), measured "
                 "by tiny probes; a description, judged by the checks that test each decision",
    "agreement": "for one op x dtype, how far each pair of backends (spec included) is apart, as a fraction "
                 "of the tolerance (extra['agreement']); one row covers every backend, backend '*'",
}
"""Check kinds whose rows are observations across backends: the report shows them in their own sections."""
