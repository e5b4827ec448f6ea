"""Clock-skew histograms (Q3): a mergeable form of a device's skew samples, and their figures.

The clock-skew figures of a report row (Q3) are the median of skew (device time - edge receive
time, ms) and the 95th percentile of |skew|, per device and per row. Quantiles do not add up, so
instead of every sample a rollup keeps, per device and date, a **histogram on fixed bins**:
composing any span of dates, devices or sites adds counts, and the figures of the sum are the same
whatever the order or grouping (exact by construction, like the rollups' sums).

**Bins.** |skew| below EXACT_BELOW_MS (64 ms) has a bin of its own (exact); beyond, each power of
two [2^e, 2^(e+1)) is split into 2^SUB_BITS (32) equal bins, so a bin is at most 1/32 of its
lower bound wide. Negative skews use the mirrored bins (the key is sign x bin index), so bins are
ordered as the values are and an order statistic of the samples lies in the bin of the same rank.
A bin stands for its midpoint (`bin_values`): a sample is within RELATIVE_ERROR (1/64, 1.6%) of
its size of the value that represents it (less than half a bin's width), 0 below 64 ms. Keys fit
in an int16 for any int64 skew (MAX_INDEX).

**Figures.** numpy's median (the mean of the two middle values for an even count) and 95th
percentile ("linear": interpolated between two neighbours) of the samples, each sample replaced
by its bin's value: so each order statistic they use is within RELATIVE_ERROR of its size of the
true one; the p95 of |skew| is within RELATIVE_ERROR of itself, and the median within
RELATIVE_ERROR of the larger size of the two middle samples (of itself when they share a sign);
both are exact when those samples are below 64 ms (tests/central/kpi/test_quantiles.py checks
this against numpy on the raw samples, hypothesis). Every path (a fresh table, rollups composed,
a region) computes the figures from the histograms, so they agree exactly with each other.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from central.kpi.readings import Float64Array, Int64Array

SUB_BITS = 5
EXACT_BELOW_MS = 2 << SUB_BITS  # 64: every |skew| below has its own bin
RELATIVE_ERROR = 1.0 / EXACT_BELOW_MS  # a bin's value is within this share of any sample's size
MAX_MAGNITUDE = (1 << 62) - 1  # larger |skew| (none: epoch ms are far below) share the last bin
MAX_INDEX = (62 - SUB_BITS) * (1 << SUB_BITS) + (2 << SUB_BITS) - 1  # 1,887: int16 keys
P95 = 0.95  # np.percentile(x, 95) divides q by 100: the same float64
_SPAN = 2 * MAX_INDEX + 1  # distinct keys; (segment, key) pairs sort as segment * _SPAN + key


def skew_bins(skew_ms: Int64Array) -> Int64Array:
    """The bin key of each skew (ms): sign x bin index of |skew| (module docstring)."""
    skew = np.asarray(skew_ms, dtype=np.int64)
    size = np.minimum(np.abs(skew), MAX_MAGNITUDE)
    exponent = np.zeros(size.shape, dtype=np.int64)
    big = size >= EXACT_BELOW_MS
    if np.any(big):
        # floor(log2(size)); a float64 may round a large size up to the next power of two
        e = np.frexp(size[big].astype(np.float64))[1].astype(np.int64) - 1
        e -= (size[big] >> e) == 0
        exponent[big] = e
    shift = np.maximum(exponent - SUB_BITS, 0)
    index = (shift << SUB_BITS) + (size >> shift)
    keys: Int64Array = np.where(skew < 0, -index, index)
    return keys


def bin_values(keys: Int64Array) -> Float64Array:
    """The value (ms) each bin stands for: the midpoint of the integers it holds."""
    index = np.abs(np.asarray(keys, dtype=np.int64))
    shift = np.maximum((index >> SUB_BITS) - 1, 0)
    low = (index - (shift << SUB_BITS)) << shift
    values: Float64Array = np.sign(keys) * (low + ((1 << shift) - 1) / 2.0)
    return values


@dataclass(frozen=True, slots=True)
class SkewHistograms:
    """One device's clock-skew histogram per date: date i's bins are keys[at[i]:at[i+1]] (sorted,
    distinct) with their sample counts."""

    keys: Int64Array
    counts: Int64Array
    at: Int64Array  # (dates + 1,)

    @classmethod
    def empty(cls, dates: int) -> "SkewHistograms":
        nothing = np.zeros(0, dtype=np.int64)
        return cls(nothing, nothing, np.zeros(dates + 1, dtype=np.int64))

    @classmethod
    def of_samples(
        cls, skew_ms: Int64Array, time_ms: Int64Array, starts: Int64Array, ends: Int64Array
    ) -> "SkewHistograms":
        """Histograms of the samples attributed (`time_ms`, sorted) to each date [start, end)."""
        lo = np.searchsorted(time_ms, starts, side="left")
        hi = np.searchsorted(time_ms, ends, side="left")
        count = np.maximum(hi - lo, 0)
        total = int(count.sum())
        if total == 0:
            return cls.empty(len(starts))
        date = np.repeat(np.arange(len(starts), dtype=np.int64), count)
        index = np.repeat(lo - (np.cumsum(count) - count), count) + np.arange(total)
        pairs, counts = np.unique(
            date * _SPAN + skew_bins(skew_ms[index]) + MAX_INDEX, return_counts=True
        )
        of_date = pairs // _SPAN
        at = np.searchsorted(of_date, np.arange(len(starts) + 1), side="left").astype(np.int64)
        return cls(pairs - of_date * _SPAN - MAX_INDEX, counts.astype(np.int64), at)

    @classmethod
    def concat(cls, parts: Sequence["SkewHistograms"]) -> "SkewHistograms":
        """The histograms of consecutive spans as those of their whole span."""
        if len(parts) == 1:
            return parts[0]
        offsets = np.cumsum([0, *(int(p.at[-1]) for p in parts[:-1])])
        at = np.concatenate(
            [parts[0].at[:1], *(p.at[1:] + off for p, off in zip(parts, offsets, strict=True))]
        )
        return cls(
            np.concatenate([p.keys for p in parts]), np.concatenate([p.counts for p in parts]), at
        )

    def samples(self) -> Int64Array:
        """Samples per date."""
        cum = np.concatenate([[0], np.cumsum(self.counts)])
        per: Int64Array = cum[self.at[1:]] - cum[self.at[:-1]]
        return per


def gather(at: Int64Array, lo: Int64Array, hi: Int64Array) -> tuple[Int64Array, Int64Array]:
    """Indexes of the bins of dates [lo[i], hi[i]) of histograms with offsets `at`, and the
    row i each belongs to: the bins of many rows, to be figured at once."""
    first, last = at[lo], at[hi]
    count = np.maximum(last - first, 0)
    total = int(count.sum())
    row = np.repeat(np.arange(len(lo), dtype=np.int64), count)
    index = np.repeat(first - (np.cumsum(count) - count), count) + np.arange(total)
    return index, row


def skew_figures(
    keys: Int64Array, counts: Int64Array, row: Int64Array, rows: int
) -> list[tuple[float, float] | None]:
    """(median, p95 of |skew|) of each row's bins (module docstring), None for a row without a
    sample. A row's bins may repeat a key (several devices or dates): their counts add."""
    if keys.size == 0:
        return [None] * rows
    order = np.argsort(row * _SPAN + keys, kind="stable")
    r_sorted = row[order]
    starts = np.searchsorted(r_sorted, np.arange(rows), side="left")
    ends = np.searchsorted(r_sorted, np.arange(rows), side="right")
    n = _ranked(counts[order], starts, ends)
    present = n > 0
    values = bin_values(keys[order])
    cum = np.cumsum(counts[order])
    base = np.where(starts > 0, cum[np.maximum(starts - 1, 0)], 0)

    def at_rank(ranks: Int64Array, cumulative: Int64Array, of: Float64Array) -> Float64Array:
        at = np.searchsorted(cumulative, base + ranks, side="right")
        picked: Float64Array = of[np.minimum(at, of.size - 1)]  # (rows without a sample)
        return picked

    n_ok = np.maximum(n, 1)
    half = n_ok // 2
    upper = at_rank(half, cum, values)
    lower = at_rank(np.maximum(half - 1, 0), cum, values)
    median = np.where(n_ok % 2 == 1, upper, (lower + upper) / 2.0)
    # 95th percentile of |skew|, numpy's "linear" method, on the bins' sizes
    order_abs = np.argsort(row * _SPAN + np.abs(keys), kind="stable")
    sizes = np.abs(bin_values(keys[order_abs]))
    cum_abs = np.cumsum(counts[order_abs])
    virtual = (n_ok - 1) * P95
    previous = np.floor(virtual).astype(np.int64)
    gamma = virtual - previous
    a = at_rank(np.minimum(previous, n_ok - 1), cum_abs, sizes)
    b = at_rank(np.minimum(previous + 1, n_ok - 1), cum_abs, sizes)
    diff = b - a
    between = np.where(gamma >= 0.5, b - diff * (1.0 - gamma), a + diff * gamma)
    p95 = np.where(virtual >= n_ok - 1, b, between)
    figures = zip(median.tolist(), p95.tolist(), present.tolist(), strict=True)
    return [(m, p) if has else None for m, p, has in figures]


def _ranked(counts: Int64Array, starts: Int64Array, ends: Int64Array) -> Int64Array:
    """Samples of each row: counts summed over [starts, ends) of the sorted bins."""
    cum = np.concatenate([[0], np.cumsum(counts)])
    n: Int64Array = cum[ends] - cum[starts]
    return n


def figures_of(keys: Int64Array, counts: Int64Array) -> tuple[float, float] | None:
    """(median, p95 of |skew|) of one set of bins, None without a sample."""
    (figures,) = skew_figures(keys, counts, np.zeros(keys.size, dtype=np.int64), 1)
    return figures
