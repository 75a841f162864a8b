"""dtype facts the tolerance policy and the strategies need, for the dtype NAMES backends use."""

from __future__ import annotations

import numpy as np

from spec.catalogue import INDEX_DTYPE

DTYPES = ("float64", "float32", "float16", "bfloat16")

UNIT_ROUNDOFF = {
    # u = 2**-p for a p-bit significand (round to nearest): the relative error of one rounding.
    "float64": 2.0**-53,
    "float32": 2.0**-24,
    "float16": 2.0**-11,
    "bfloat16": 2.0**-8,
}

SMALLEST_NORMAL = {
    "float64": float(np.finfo(np.float64).tiny),
    "float32": float(np.finfo(np.float32).tiny),
    "float16": float(np.finfo(np.float16).tiny),
    "bfloat16": float(np.finfo(np.float32).tiny),  # bf16 has float32's exponent range
}

LARGEST = {
    "float64": float(np.finfo(np.float64).max),
    "float32": float(np.finfo(np.float32).max),
    "float16": float(np.finfo(np.float16).max),
    "bfloat16": 3.3895313892515355e38,
}

HYPOTHESIS_WIDTH = {"float64": 64, "float32": 32, "float16": 16, "bfloat16": 32}


def round_to_dtype(a: np.ndarray, dtype: str) -> np.ndarray:
    """Round float64 values to the nearest value of ``dtype`` and return them as float64.

    Backend and spec then see exactly the same numbers, so only the computation differs.
    """
    a = np.asarray(a, dtype=np.float64)
    if dtype == "bfloat16":
        f = a.astype(np.float32)
        bits = f.view(np.uint32).astype(np.uint64)
        # round to nearest even on the 16 dropped bits
        rounded = ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16) << 16
        out = rounded.astype(np.uint32).view(np.float32).astype(np.float64)
        return np.where(np.isnan(a), np.nan, out)
    return a.astype(dtype).astype(np.float64)


def arg_dtype(a: np.ndarray, dtype: str) -> str:
    """The dtype an array argument takes in a ``dtype`` test: an integer index array (spec's INDEX role,
    e.g. graph_conv's edges) keeps spec's index dtype; every float array takes ``dtype``."""
    return INDEX_DTYPE if a.dtype.kind in "iu" else dtype
