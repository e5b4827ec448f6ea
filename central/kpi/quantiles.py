"""Median and 95th percentile of |x| of many segments of one sample array at once.

The clock-skew figures of a report (Q3) are a median and a 95th percentile per device and per
row; a site-year report has 365 rows and a dozen devices, so calling np.median / np.percentile
per segment (tens of microseconds of Python each) dominated its assembly. Here each segment is
sorted with one np.sort (long segments: numpy's calls, whose overhead no longer matters) and
the order statistics are combined with numpy's own formulas
(np.median: the mean of the two middle values in float64; np.percentile, method "linear":
numpy's `_lerp` of the two neighbours), so every value equals numpy's bit for bit
(tests/central/test_quantiles.py checks this on random samples).
"""

import math

import numpy as np

from central.kpi.readings import Int64Array

P95 = 0.95  # np.percentile(x, 95) divides q by 100: the same float64
# From this many samples on, partitioning (linear time) beats a full sort.
NUMPY_FROM_SAMPLES = 2048


def median_of_sorted(values: Int64Array) -> float:
    """np.median of integers, given sorted (non-empty)."""
    n = len(values)
    half = n // 2
    if n % 2:
        return float(values[half])
    return (float(values[half - 1]) + float(values[half])) / 2.0


def percentile_of_sorted(values: Int64Array, q: float) -> float:
    """np.percentile(x, q * 100) (method "linear") of integers, given sorted (non-empty)."""
    n = len(values)
    virtual = (n - 1) * q
    if virtual >= n - 1:
        return float(values[-1])
    previous = math.floor(virtual)
    gamma = virtual - previous
    a, b = int(values[previous]), int(values[previous + 1])
    diff = float(b - a)
    if gamma >= 0.5:
        return float(b) - diff * (1.0 - gamma)
    return float(a) + diff * gamma


def skew_figures(
    samples: Int64Array, lo: Int64Array, hi: Int64Array
) -> list[tuple[float, float] | None]:
    """(median, p95 of |x|) of samples[lo[i]:hi[i]] for each i; None for an empty segment.

    Equal to (float(np.median(s)), float(np.percentile(np.abs(s), 95))) of each segment s.
    """
    out: list[tuple[float, float] | None] = []
    for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
        if b <= a:
            out.append(None)
            continue
        segment = samples[a:b]
        if b - a >= NUMPY_FROM_SAMPLES:
            out.append(_partitioned(segment))
            continue
        ordered = np.sort(segment)
        magnitudes = np.abs(segment)
        magnitudes.sort()
        out.append((median_of_sorted(ordered), percentile_of_sorted(magnitudes, P95)))
    return out


def _partitioned(segment: Int64Array) -> tuple[float, float]:
    """(median, p95 of |x|) of a long segment: the order statistics the formulas above read,
    put in place by np.partition (what np.median and np.percentile do, without their wrappers)."""
    n = len(segment)
    half = n // 2
    middle = np.partition(segment, [half - 1, half] if n % 2 == 0 else [half])
    virtual = (n - 1) * P95
    previous = min(math.floor(virtual), n - 2)
    magnitudes = np.partition(np.abs(segment), [previous, previous + 1, n - 1])
    return median_of_sorted(middle), percentile_of_sorted(magnitudes, P95)
