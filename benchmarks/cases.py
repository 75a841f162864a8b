"""The benchmark cases.

The realistic tier comes from the op table: every op whose :class:`conformance.optable.OpRecord` has
realistic cases is timed on exactly those inputs (float32), so the suite judges and the benchmarks time
the same sizes. The benchmarks add what the table has no realistic case for (batch_norm_eval,
running_stats, dropout_mask, the composite training step), the realistic conv2d in float64, a 1-D
kernel-length sweep (k = 3, 31, 101 on 1e5 samples: where scipy's FFT conv overtakes the direct one)
and a small tier in float64 that spec also runs ("speed-up over spec"). ``--quick`` swaps the realistic
tier for tiny shapes (a smoke test).

Conv and dense cases carry ``gemm = (M, K, N)``: the plain GEMM of the same size,
``(M x K) @ (K x N)`` (conv: M = N*prod(out), K = C_in*prod(k), N = C_out), timed in the same backend as
``dense`` without bias: the roofline column.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from conformance import composite as _composite

REALISTIC, SMALL = "realistic", "small"
GEMM_METHOD = "dense"
"""The backend method that times the roofline GEMM: dense(x (M, K), w (N, K)) = x @ w.T."""


@dataclass(frozen=True, kw_only=True)
class Case:
    """One benchmark case: an op on fixed inputs."""

    op: str
    """Label in the table: "conv2d", "relu", ... (conv is split by its number of spatial axes)."""
    case: str
    """Human label of the inputs ("N=32 C=64->64 32x32 k3 same")."""
    tier: str
    """REALISTIC or SMALL (spec runs only the small tier)."""
    dtype: str
    method: str
    """Backend method timed ("conv"); ``method + "_vjp"`` is its VJP."""
    args: Callable[[np.random.Generator], list]
    """rng -> positional arguments; numpy arrays become native arrays of ``dtype``, the rest passes through."""
    kwargs: dict = field(default_factory=dict)
    has_vjp: bool = True
    flops: int | None = None
    """FLOPs of one forward call (forward+vjp counts 3x); None for memory-bound ops."""
    gemm: tuple[int, int, int] | None = None
    """(M, K, N) of the plain GEMM of the same size (conv and dense), or None."""
    composite: bool = False
    source: str = "bench"
    """"optable" for a case taken from the op table's realistic cases, else "bench"."""

    @property
    def key(self) -> tuple[str, str, str]:
        return self.op, self.case, self.tier

    @property
    def label(self) -> str:
        return f"{self.op} {self.case}"


# ------------------------------------------------------------------------------------ FLOPs and GEMMs

def conv_gemm(x_shape, w_shape, kwargs) -> tuple[int, int, int]:
    """(M, K, N) of the im2col GEMM of a conv: every output position x every (channel, tap) x C_out."""
    from spec.validate import conv_output_shape

    out = conv_output_shape(tuple(x_shape), tuple(w_shape), **{k: kwargs[k] for k in ("padding", "stride", "dilation")
                                                              if k in kwargs})
    return out[0] * math.prod(out[2:]), w_shape[1] * math.prod(w_shape[2:]), w_shape[0]


def gemm_flops(mkn: tuple[int, int, int]) -> int:
    m, k, n = mkn
    return 2 * m * k * n


def gemm_case(of: Case) -> Case:
    """The roofline case of ``of``: dense(x (M, K), w (N, K)) without bias, in the same dtype."""
    m, k, n = of.gemm
    return Case(op="gemm", case=f"M={m} K={k} N={n}", tier=of.tier, dtype=of.dtype, method=GEMM_METHOD,
                args=lambda rng: [rng.standard_normal((m, k)), rng.standard_normal((n, k)) / math.sqrt(k)],
                flops=gemm_flops(of.gemm))


# --------------------------------------------------------------------------------- from the op table

@functools.lru_cache(maxsize=1)
def _realistic_of(op: str) -> dict:
    """The op table's realistic cases of one op, label -> Case (drawn once; cases of one op are consecutive)."""
    from conformance.optable import OP_TABLE, REALISTIC_SEED

    return dict(OP_TABLE[op].realistic(np.random.default_rng(REALISTIC_SEED)))


def _strip(label: str, words: tuple[str, ...]) -> str:
    for w in words:
        if label.startswith(w + " "):
            return label[len(w) + 1:]
    return label


def optable_cases(dtype: str = "float32") -> list[Case]:
    """One case per realistic case of the op table, in table order."""
    from conformance.optable import OP_TABLE, REALISTIC_SEED

    out = []
    for name, record in OP_TABLE.items():
        gen = getattr(record, "realistic", None)
        if gen is None:
            continue
        for label, tc in gen(np.random.default_rng(REALISTIC_SEED)):
            # the label's first word names the variant ("conv2d", "locally_connected2d") when there is one
            first = label.split(" ", 1)[0]
            op, flops, gemm = (first if first.startswith(name) else name), None, None
            if name == "conv":
                op = f"conv{tc.args[0].ndim - 2}d"
                gemm = conv_gemm(tc.args[0].shape, tc.args[1].shape, tc.kwargs)
            elif name == "dense":
                gemm = (tc.args[0].shape[0], tc.args[0].shape[1], tc.args[1].shape[0])
            if gemm is not None:
                flops = gemm_flops(gemm)
            out.append(Case(op=op, case=_strip(label, (op, name)), tier=REALISTIC, dtype=dtype, method=name,
                            args=lambda rng, name=name, label=label: list(_realistic_of(name)[label].args),
                            kwargs=dict(tc.kwargs), has_vjp=record.has_vjp, flops=flops, gemm=gemm,
                            source="optable"))
    return out


# ------------------------------------------------------------------------------- benchmark-only cases

def conv_case(tier, dtype, n, cin, cout, spatial, k, padding="same") -> Case:
    nd = len(spatial)
    ks = (k,) * nd
    dims = "x".join(str(s) for s in spatial)
    kwargs = {"padding": padding}
    gemm = conv_gemm((n, cin, *spatial), (cout, cin, *ks), kwargs)
    return Case(op=f"conv{nd}d", case=f"N={n} C={cin}->{cout} {dims} k{k} {padding}", tier=tier, dtype=dtype,
                method="conv", kwargs=kwargs, flops=gemm_flops(gemm), gemm=gemm,
                args=lambda rng: [rng.standard_normal((n, cin, *spatial)),
                                  rng.standard_normal((cout, cin, *ks)) / math.sqrt(cin * math.prod(ks))])


def dense_case(tier, dtype, n, fin, fout) -> Case:
    return Case(op="dense", case=f"N={n} F={fin}->{fout}", tier=tier, dtype=dtype, method="dense",
                flops=2 * n * fin * fout, gemm=(n, fin, fout),
                args=lambda rng: [rng.standard_normal((n, fin)), rng.standard_normal((fout, fin)) / math.sqrt(fin),
                                  rng.standard_normal(fout)])


def _label(shape) -> str:
    return "(" + ", ".join(str(s) for s in shape) + ")"


def memory_cases(tier, dtype, shape, ops=None) -> list[Case]:
    """Elementwise, pooling, dropout and normalisation ops on one (N, C, *spatial) tensor (memory-bound)."""
    n, c = shape[:2]
    lbl = _label(shape)
    x = lambda rng: rng.standard_normal(shape)  # noqa: E731
    vec = lambda rng: rng.standard_normal(c)  # noqa: E731
    pos = lambda rng: 0.5 + rng.random(c)  # noqa: E731
    mask = lambda rng: (rng.random((n, c)) < 0.8).astype(np.float64)  # noqa: E731

    def case(op, label, args, kwargs=None, has_vjp=True):
        return Case(op=op, case=label, tier=tier, dtype=dtype, method=op, args=args, kwargs=kwargs or {},
                    has_vjp=has_vjp)

    cases = [case(act, lbl, lambda rng: [x(rng)]) for act in ("relu", "sigmoid", "tanh")]
    cases += [
        case("max_pool", f"{lbl} 2x2", lambda rng: [x(rng)], {"size": 2}),
        case("avg_pool", f"{lbl} 2x2", lambda rng: [x(rng)], {"size": 2}),
        case("upsample", f"{lbl} x2", lambda rng: [x(rng)], {"factor": 2}),
        case("batch_norm", lbl, lambda rng: [x(rng), pos(rng), vec(rng)]),
        case("batch_norm_eval", lbl, lambda rng: [x(rng), pos(rng), vec(rng), vec(rng), pos(rng)]),
        case("dropout", f"{lbl} keep=0.8 mask", lambda rng: [x(rng), mask(rng)], {"keep_prob": 0.8, "scaling": "none"}),
        case("running_stats", lbl, lambda rng: [x(rng), vec(rng), pos(rng)], {"momentum": 0.1}, has_vjp=False),
        case("dropout_mask", f"shape=({n},{c}) keep=0.8", lambda rng: [(n, c)], {"keep_prob": 0.8, "seed": 0},
             has_vjp=False),
    ]
    return [cs for cs in cases if ops is None or cs.op in ops]


def composite_case(tier, dtype, n, c0, c1, hw, n_out) -> Case:
    params, batch = _composite.make_problem(n=n, c_in=c0, c_out=c1, h=hw, w=hw, n_out=n_out, seed=0)
    return Case(op="composite", case=f"N={n} C={c0}->{c1} {hw}x{hw} K={n_out} train step", tier=tier, dtype=dtype,
                method="composite", args=lambda rng: [params, batch], composite=True,
                flops=_composite.flops(params, batch))


NOT_IN_OPTABLE = ("batch_norm_eval", "running_stats", "dropout_mask")
"""Ops timed at the realistic size although the op table has no realistic case for them."""


def build_cases(quick: bool) -> list[Case]:
    """Realistic tier (float32: the op table's cases, or tiny ones with ``quick``), then the small tier."""
    r, f32 = REALISTIC, "float32"
    if quick:
        cases = [
            conv_case(r, f32, 2, 8, 8, (16, 16), 3),
            *(conv_case(r, f32, 1, 2, 2, (2000,), k) for k in (3, 31)),
            dense_case(r, f32, 8, 64, 32),
            *memory_cases(r, f32, (2, 4, 16, 16)),
            composite_case(r, f32, 4, 3, 4, 8, 3),
        ]
    else:
        cases = [
            *optable_cases(f32),
            conv_case(r, "float64", 32, 64, 64, (32, 32), 3),  # the conv targets hold in float64 too
            *(conv_case(r, f32, 1, 4, 4, (100_000,), k) for k in (3, 31, 101)),
            *memory_cases(r, f32, (32, 64, 32, 32), ops=NOT_IN_OPTABLE),
            composite_case(r, f32, 32, 3, 16, 32, 10),
        ]
    s, f64 = SMALL, "float64"
    cases += [
        conv_case(s, f64, 1, 2, 2, (8, 8), 3),
        conv_case(s, f64, 1, 1, 1, (64,), 3),
        dense_case(s, f64, 2, 16, 4),
        *memory_cases(s, f64, (2, 2, 8, 8)),
        composite_case(s, f64, 2, 1, 2, 8, 3),
    ]
    return cases


def select(cases: list[Case], only: list[str] | None) -> list[Case]:
    """Cases whose "op case" contains any of ``only`` (case-insensitive); all of them without ``only``."""
    if not only:
        return list(cases)
    return [c for c in cases if any(s.lower() in c.label.lower() for s in only)]
