"""Percentiles and rates, without numpy's interpolation surprises: nearest-rank percentiles."""

import math
from collections.abc import Sequence


def percentile(values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile (the smallest value with at least pct% of values at or below it)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 < pct <= 100:
        raise ValueError("pct must be in (0, 100]")
    ordered = sorted(values)
    rank = math.ceil(pct / 100 * len(ordered))
    return float(ordered[max(rank, 1) - 1])


def rate_per_s(count: int, seconds: float) -> float:
    """count / seconds; a zero-length interval is an error, never an infinite rate."""
    if seconds <= 0:
        raise ValueError(f"cannot take a rate over {seconds} s")
    return count / seconds
