"""Clock-skew histograms (central.kpi.quantiles): the documented error bound against numpy's
figures of the raw samples, and mergeability (any split into dates, devices or sites, summed in any
order, gives the same figures as the histogram of every sample)."""

import itertools
import random

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from central.kpi.quantiles import (
    EXACT_BELOW_MS,
    MAX_INDEX,
    RELATIVE_ERROR,
    SkewHistograms,
    bin_values,
    figures_of,
    gather,
    skew_bins,
    skew_figures,
)

SLACK = 1e-9  # float64 rounding of the means and interpolations themselves

magnitudes = st.sampled_from([10, EXACT_BELOW_MS, 2_000, 10**6, 10**12, 2**62])
samples = magnitudes.flatmap(
    lambda m: st.lists(st.integers(-m, m), min_size=1, max_size=300).map(
        lambda xs: np.array(xs, dtype=np.int64)
    )
)


def histogram(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    keys, counts = np.unique(skew_bins(x), return_counts=True)
    return keys, counts.astype(np.int64)


@given(st.lists(st.integers(-(2**62), 2**62), min_size=1, max_size=200))
def test_bins_are_ordered_and_stand_within_the_bound(values: list[int]) -> None:
    x = np.sort(np.array(values, dtype=np.int64))
    keys = skew_bins(x)
    assert np.all(np.diff(keys) >= 0)  # bins ordered as the values: ranks are kept
    assert int(np.abs(keys).max()) <= MAX_INDEX
    error = np.abs(bin_values(keys) - x.astype(np.float64))
    assert np.all(error <= RELATIVE_ERROR * np.abs(x.astype(np.float64)) * (1 + SLACK))
    small = np.abs(x) < EXACT_BELOW_MS
    assert np.array_equal(bin_values(keys[small]), x[small].astype(np.float64))


def test_bin_edges() -> None:
    # every integer up to a few thousand: exact below 64, then contiguous bins of growing width
    x = np.arange(-5000, 5001, dtype=np.int64)
    keys = skew_bins(x)
    assert np.array_equal(np.unique(np.abs(keys)), np.arange(int(np.abs(keys).max()) + 1))
    assert np.array_equal(keys[np.abs(x) < 64], x[np.abs(x) < 64])
    assert skew_bins(np.array([992, 1000, 1007, 1008]))[:3].tolist() == [190] * 3
    assert bin_values(np.array([190, -190])).tolist() == [999.5, -999.5]


@settings(max_examples=300)
@given(samples)
def test_figures_within_the_documented_bound_of_numpy(x: np.ndarray) -> None:
    got = figures_of(*histogram(x))
    assert got is not None
    median, p95 = got
    ordered = np.sort(x).astype(np.float64)
    n = len(x)
    middle = ordered[[(n - 1) // 2, n // 2]]
    want_median = float(np.median(x))
    bound = RELATIVE_ERROR * float(np.abs(middle).max())
    assert abs(median - want_median) <= bound + SLACK * abs(want_median)
    want_p95 = float(np.percentile(np.abs(x), 95))
    assert abs(p95 - want_p95) <= RELATIVE_ERROR * want_p95 * (1 + SLACK)
    if np.all(np.abs(x) < EXACT_BELOW_MS):  # exact range: numpy's figures, bit for bit
        assert (median, p95) == (want_median, want_p95)
    if np.all(middle < 0) or np.all(middle > 0):  # of one sign: relative to the median itself
        assert abs(median - want_median) <= RELATIVE_ERROR * abs(want_median) * (1 + SLACK)


@settings(max_examples=200)
@given(samples, st.lists(st.integers(0, 300), max_size=6), st.randoms(use_true_random=False))
def test_histograms_merge_in_any_split_and_order(
    x: np.ndarray, cuts: list[int], rng: random.Random
) -> None:
    """Dates, devices, sites: any split of the samples, histograms summed in any order."""
    bounds = sorted({0, len(x), *(min(c, len(x)) for c in cuts)})
    parts = [histogram(x[a:b]) for a, b in itertools.pairwise(bounds)]
    rng.shuffle(parts)
    keys = np.concatenate([k for k, _ in parts])
    counts = np.concatenate([c for _, c in parts])
    assert figures_of(keys, counts) == figures_of(*histogram(x))


@settings(max_examples=100)
@given(st.lists(samples, min_size=1, max_size=8), st.data())
def test_many_rows_at_once_equal_each_row(days: list[np.ndarray], data: st.DataObject) -> None:
    """Per-date histograms (SkewHistograms) cut into rows of dates: skew_figures of every row at
    once equals each row's figures, and equals the histogram of the rows' samples."""
    day_ms = 1000
    times = np.concatenate([np.full(len(d), i * day_ms) for i, d in enumerate(days)])
    x = np.concatenate(days)
    starts = np.arange(len(days), dtype=np.int64) * day_ms
    hist = SkewHistograms.of_samples(x, times.astype(np.int64), starts, starts + day_ms)
    assert hist.samples().tolist() == [len(d) for d in days]
    halves = [
        SkewHistograms.of_samples(x, times.astype(np.int64), starts[a:b], starts[a:b] + day_ms)
        for a, b in ((0, len(days) // 2), (len(days) // 2, len(days)))
    ]
    joined = SkewHistograms.concat(halves)
    for name in ("keys", "counts", "at"):
        assert np.array_equal(getattr(joined, name), getattr(hist, name))
    rows = data.draw(
        st.lists(
            st.tuples(st.integers(0, len(days)), st.integers(0, len(days))).map(sorted),
            min_size=1,
            max_size=10,
        )
    )
    lo = np.array([a for a, _ in rows], dtype=np.int64)
    hi = np.array([b for _, b in rows], dtype=np.int64)
    index, row = gather(hist.at, lo, hi)
    got = skew_figures(hist.keys[index], hist.counts[index], row, len(rows))
    for (a, b), figures in zip(rows, got, strict=True):
        part = slice(int(hist.at[a]), int(hist.at[b]))
        assert figures == figures_of(hist.keys[part], hist.counts[part])
        if b > a:
            assert figures == figures_of(*histogram(np.concatenate(days[a:b])))
        else:
            assert figures is None
