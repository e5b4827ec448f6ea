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
# From this many segments on, one sort of every segment at once beats a loop over them.
VECTORISED_FROM_SEGMENTS = 8
KEY_BITS = 62  # segment number and value share one int64 sort key below this bound


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
    Many segments are done at once (`_vectorised`) when their keys fit in 62 bits.
    """
    if len(lo) >= VECTORISED_FROM_SEGMENTS:
        done = _vectorised(samples, np.asarray(lo), np.asarray(hi))
        if done is not None:
            return done
    return _one_by_one(samples, lo, hi)


def _one_by_one(
    samples: Int64Array, lo: Int64Array, hi: Int64Array
) -> list[tuple[float, float] | None]:
    out: list[tuple[float, float] | None] = []
    for a, b in zip(lo.tolist(), hi.tolist(), strict=True):
        if b <= a:
            out.append(None)
            continue
        segment = samples[a:b]
        if b - a >= NUMPY_FROM_SAMPLES:
            out.append(skew_figures_in_place(segment.copy()))
            continue
        ordered = np.sort(segment)
        magnitudes = np.abs(segment)
        magnitudes.sort()
        out.append((median_of_sorted(ordered), percentile_of_sorted(magnitudes, P95)))
    return out


def _vectorised(
    samples: Int64Array, lo: Int64Array, hi: Int64Array
) -> list[tuple[float, float] | None] | None:
    """`_one_by_one` of every segment with one sort of (segment, value) keys, and the order
    statistics read with the same float64 operations; None when the keys would not fit."""
    count = np.maximum(hi - lo, 0).astype(np.int64)
    total = int(count.sum())
    if total == 0:
        return [None] * len(lo)
    start = np.cumsum(count) - count  # of each segment in the gathered values
    index = np.repeat(lo.astype(np.int64) - start, count) + np.arange(total, dtype=np.int64)
    values = samples[index]
    segment = np.repeat(np.arange(len(lo), dtype=np.int64), count)
    low = int(values.min())
    width = int(values.max()) - low + 1
    magnitudes = np.abs(values)
    width_abs = int(magnitudes.max()) + 1
    if len(lo) * max(width, width_abs) >= 1 << KEY_BITS:
        return None
    # sorting segment * width + offset sorts by segment, then by value within each segment
    ordered = _sorted_within(values - low, segment, width) + low
    ordered_abs = _sorted_within(magnitudes, segment, width_abs)
    present = count > 0
    n, first = count[present], start[present]
    # median: the middle value, or the mean of the two middle values (median_of_sorted)
    half = n // 2
    upper = ordered[first + half].astype(np.float64)
    lower = ordered[first + np.maximum(half - 1, 0)].astype(np.float64)
    median = np.where(n % 2 == 1, upper, (lower + upper) / 2.0)
    # 95th percentile of |x|, numpy's "linear" method (percentile_of_sorted)
    virtual = (n - 1) * P95
    previous = np.floor(virtual).astype(np.int64)
    gamma = virtual - previous
    a = ordered_abs[first + np.minimum(previous, n - 1)]
    b = ordered_abs[first + np.minimum(previous + 1, n - 1)]
    diff = (b - a).astype(np.float64)
    between = np.where(
        gamma >= 0.5,
        b.astype(np.float64) - diff * (1.0 - gamma),
        a.astype(np.float64) + diff * gamma,
    )
    last = ordered_abs[first + n - 1].astype(np.float64)
    p95 = np.where(virtual >= n - 1, last, between)
    figures = iter(zip(median.tolist(), p95.tolist(), strict=True))
    return [next(figures) if has else None for has in present.tolist()]


def _sorted_within(offsets: Int64Array, segment: Int64Array, width: int) -> Int64Array:
    """`offsets` (0 <= x < width) sorted within each run of equal (non-decreasing) `segment`."""
    base = segment * width
    keys = base + offsets
    keys.sort()
    out: Int64Array = keys - base
    return out


def skew_figures_in_place(samples: Int64Array) -> tuple[float, float] | None:
    """(median, p95 of |x|) of `samples`, which it reorders and overwrites with |x|: for a
    large array the caller made for this (a region's samples, tens of MB), no further copy."""
    n = len(samples)
    if n < NUMPY_FROM_SAMPLES:
        return _one_by_one(samples, np.array([0]), np.array([n]))[0]
    half = n // 2
    samples.partition([half - 1, half] if n % 2 == 0 else [half])
    median = median_of_sorted(samples)
    np.abs(samples, out=samples)
    previous = min(math.floor((n - 1) * P95), n - 2)
    samples.partition([previous, previous + 1, n - 1])
    return median, percentile_of_sorted(samples, P95)
