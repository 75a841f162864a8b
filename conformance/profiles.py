"""Conformance profiles: how hard each check tries.

``ci`` is what the README's test command and CI run; ``dev`` is for quick local iteration;
``thorough`` is for a release or a new backend. The active profile comes from
``--conformance-profile`` (pytest) / ``--profile`` (CLI), which set ``NNCONFORM_PROFILE`` so that
xdist workers and subprocesses agree.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from hypothesis import HealthCheck, settings


@dataclass(frozen=True)
class Profile:
    name: str
    examples: int
    """Hypothesis examples per forward / VJP check and per property."""
    spec_vjp_examples: int
    """Examples per spec finite-difference self-check (the issue asks >= 200 in ci)."""
    realistic: bool
    """Run the realistic-size tier (N=32, C=64, 32x32; 1-D signals of 1e5 samples)."""
    deadline_ms: int | None = None
    shape_pool: int = 6
    """Shape skeletons per op and dtype in a run for a backend that compiles per shape
    (``compiles_per_shape = True``; see hypothesis_helpers.shape_pool)."""


PROFILES = {
    "dev": Profile("dev", examples=10, spec_vjp_examples=30, realistic=False, shape_pool=4),
    "ci": Profile("ci", examples=25, spec_vjp_examples=200, realistic=True, shape_pool=6),
    "thorough": Profile("thorough", examples=300, spec_vjp_examples=1000, realistic=True, shape_pool=24),
}
ENV_VAR = "NNCONFORM_PROFILE"


def current() -> Profile:
    name = os.environ.get(ENV_VAR, "ci")
    if name not in PROFILES:
        raise ValueError(f"{ENV_VAR}={name!r}: expected one of {sorted(PROFILES)}")
    return PROFILES[name]


def register_hypothesis_profiles() -> None:
    for p in PROFILES.values():
        settings.register_profile(
            f"nnconform-{p.name}",
            max_examples=p.examples,
            deadline=p.deadline_ms,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                   HealthCheck.function_scoped_fixture],
            print_blob=False,
            derandomize=False,
            # No example database: a run must depend only on --hypothesis-seed, and failures are
            # reproduced by the printed one-line repro command instead.
            database=None,
        )


def load(name: str | None = None) -> Profile:
    """Activate profile ``name`` (or the current one) for hypothesis and return it."""
    if name is not None:
        os.environ[ENV_VAR] = name
    prof = current()
    register_hypothesis_profiles()
    settings.load_profile(f"nnconform-{prof.name}")
    return prof
