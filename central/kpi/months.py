"""Summaries of a site's dates: what long periods are read from (one per whole month).

A summary holds the additive totals of a run of a site's dates (central.kpi.totals.Totals of
the dates: sums, per device too, and clock-skew histograms with their bins merged), built from
the dates' rollup entries (central.kpi.rollup), never from readings. A period's row is the sum
of the summaries of its parts (its whole months, stored per site and month, and the partial
months at its ends, summarised from their dates on read), so composition is exact by
construction: sums add (in another order than a one-date-after-another sum: equal up to float
rounding), histogram counts add, maxima take the maximum.

What depends on the moment of the read or on the whole period is applied when the parts are
summed, as for a composed table (central.kpi.report): each meter's expected readings (from the
dates' bounds, the meter's start over the whole period and now), the quota times the elapsed
share, the baseline, floor area, staff, prices and factors (the site's configuration now; a
summary is built for one configuration, `config_key`). The peak demand keeps, per summary, the
highest stored peak of the dates with an electricity curve and of those without, since a
period that has both clamps the latter to 0 kW (central.kpi.rollup `compose`).

**Layout** (`SUMMARY_LAYOUT`), two blobs, so that a ranking reads only the first:

- the site part: a head (`_FIXED`: layout, number of fields, first date, dates, meters, skew
  bins), the float64 block of every site-level number (`SITE_FIELDS`, in that order), the
  first date's start and the last date's end (int64 ms), per meter four int64 (`_METER`: a key
  of its id, its interval, its expected readings of the whole dates, the start of its first
  date with a reading or -1), the site's clock-skew histogram merged over its devices (an int64
  per bin: its key in the high 32 bits, its count below), and the dates' bounds (int64 local
  midnights, one more than dates; read only for a meter that starts, or a now that falls,
  inside the summary);
- the device part: a head (`_DEVICES_HEAD`), one int64 row per device (`_DEVICE_COLUMNS`), the
  devices' histograms device after device (int16 keys, uint32 counts), then "kind\\tdevice"
  lines (UTF-8).

Many sites' site parts are summed at once (`sum_parts`): their bytes are joined and every
number is gathered into one numpy array per kind (fields, meters, bins), without a Python
object per device or month: a national ranking's cost is a few numpy calls per figure plus one
Totals per site.
"""

import hashlib
import itertools
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from central.kpi.counters import EVENT_KINDS
from central.kpi.daytable import QUANTITIES
from central.kpi.periods import DateRange
from central.kpi.quantiles import skew_figures
from central.kpi.rawbins import RAW_EVENT_KINDS
from central.kpi.readings import Float64Array, Int64Array
from central.kpi.report import device_start_ms, expected_slots, row_quota
from central.kpi.rollup import compose, stored_peaks
from central.kpi.totals import (
    NAN,
    NO_SKEW,
    STREAMS,
    DeviceTotals,
    SkewFigures,
    Totals,
    energy_and_food,
    site_fields,
    site_totals_many,
    with_device_skews,
)
from central.registry import Site

# Bump when the summary layout or what it sums changes: stored summaries of another are rebuilt.
SUMMARY_LAYOUT = 3

_ENERGY = ("used", "estimated", "off_hours")
# Every site-level number of a summary, in the order of its float64 block.
SITE_FIELDS: tuple[str, ...] = (
    "meals",
    "trays",
    "clean_plates",
    *(f"waste_g.{s}" for s in STREAMS),
    *(f"{kind}.{q}" for kind in _ENERGY for q in QUANTITIES),
    *(f"events.{k}" for k in EVENT_KINDS),
    "scale_below_division",
    "scale_above_max",
    "repeat_swipes",
    *(f"raw_bin_events.{k}" for k in RAW_EVENT_KINDS),
    "readings",
    "meter_received",
    "duplicates",
    "clock_corrected",
    "peak_curve_kw",  # highest stored peak of the dates with an electricity curve (or NaN)
    "peak_flat_kw",  # ... of the dates without one
    "any_curve",  # 1.0 when a date has an electricity curve
    "any_flat",
)
_AT = {name: i for i, name in enumerate(SITE_FIELDS)}
_N_FIELDS = len(SITE_FIELDS)
_WASTE_AT = tuple((s, _AT[f"waste_g.{s}"]) for s in STREAMS)
_ENERGY_AT = tuple(tuple((q, _AT[f"{kind}.{q}"]) for q in QUANTITIES) for kind in _ENERGY)
_EVENTS_AT = tuple((k, _AT[f"events.{k}"]) for k in EVENT_KINDS)
_RAW_AT = tuple((k, _AT[f"raw_bin_events.{k}"]) for k in RAW_EVENT_KINDS)
_PEAKS = [_AT[n] for n in ("peak_curve_kw", "peak_flat_kw")]
_ANY = [_AT[n] for n in ("any_curve", "any_flat")]

# A site part's fixed start: its head (layout, number of fields, first date as a proleptic
# ordinal, dates, meters, skew bins), the fields, and the first date's start and last date's end.
_FIXED = np.dtype(
    [("layout", "<u2"), ("fields", "<u2"), ("first", "<i4"), ("days", "<u2"),
     ("meters", "<u2"), ("bins", "<u4"), ("values", "<f8", (_N_FIELDS,)), ("span_ms", "<i8", (2,))]
)  # fmt: skip
_METER = 4  # int64 per meter: key, interval_s, whole-date expected readings, first date's start
# layout, devices, skew bins, bytes of the names
_DEVICES_HEAD = struct.Struct("<HHII")
# received, expected (-1: not a meter), duplicates, clock corrected, has events, events...,
# has raw events, raw events..., skew bins
_DEVICE_COLUMNS = 4 + 1 + len(EVENT_KINDS) + 1 + len(RAW_EVENT_KINDS) + 1
_NO_BEGIN = np.iinfo(np.int64).min  # a meter expected from the first date on


class SummaryLayoutError(ValueError):
    """A stored summary of another layout: rebuild it from its dates' entries."""


@dataclass(frozen=True, slots=True)
class DatesSummary:
    """The summary of a site's dates `span` (module docstring): its two parts, encoded."""

    span: DateRange
    site: bytes
    devices: bytes


@dataclass(frozen=True, slots=True)
class SiteParts:
    """A site's summaries of the consecutive parts of a period, in date order: each part's
    dates, site part and (for reports that list devices) device part."""

    spans: Sequence[DateRange]
    site: Sequence[bytes]
    devices: Sequence[bytes] = ()

    @classmethod
    def of(cls, summaries: Sequence[DatesSummary]) -> "SiteParts":
        return cls(
            [s.span for s in summaries], [s.site for s in summaries], [s.devices for s in summaries]
        )


def meter_key(device: str) -> int:
    """The int64 a meter's id is known by in a summary's site part (its expected readings are
    matched across a site's months by it): 64 bits of its BLAKE2b hash, so two meters of one site
    would have to collide in 2^64 to be taken for one."""
    return int.from_bytes(
        hashlib.blake2b(device.encode(), digest_size=8).digest(), "little", signed=True
    )


# How a site part of this layout starts (a store can select the current ones by it).
CURRENT_HEAD = np.array([(SUMMARY_LAYOUT, _N_FIELDS)], _FIXED[["layout", "fields"]]).tobytes()[:4]


def is_current(site_part: bytes) -> bool:
    """Whether a stored site part is of this layout (one of another is rebuilt)."""
    return site_part.startswith(CURRENT_HEAD)


def of_blobs(site_part: bytes, devices: bytes) -> DatesSummary:
    """A stored summary (`is_current`), with its span read from its head."""
    if not is_current(site_part):
        raise SummaryLayoutError(
            f"month summary of another layout; this version reads {SUMMARY_LAYOUT}"
        )
    head = np.frombuffer(site_part, _FIXED, count=1)[0]
    start = date.fromordinal(int(head["first"]))
    span = DateRange(start, start + timedelta(days=int(head["days"]) - 1))
    return DatesSummary(span, site_part, devices)


def month_parts(span: DateRange) -> list[tuple[DateRange, bool]]:
    """`span` cut at month boundaries, in date order, each part with whether it is a whole
    month (read from a stored month summary) or a partial one at the span's ends."""
    out = []
    first = span.first
    while first <= span.last:
        following = (first.replace(day=1) + timedelta(days=32)).replace(day=1)
        last = min(span.last, following - timedelta(days=1))
        whole = first.day == 1 and last == following - timedelta(days=1)
        out.append((DateRange(first, last), whole))
        first = following
    return out


def month_of(on: date) -> DateRange:
    """The whole month of `on`."""
    following = (on.replace(day=1) + timedelta(days=32)).replace(day=1)
    return DateRange(on.replace(day=1), following - timedelta(days=1))


def _histogram(keys: Int64Array, counts: Int64Array) -> tuple[Int64Array, Int64Array]:
    """A histogram's bins with equal keys merged (their counts add)."""
    merged, at = np.unique(keys, return_inverse=True)
    sums = np.bincount(at, weights=counts, minlength=merged.size).astype(np.int64)
    return merged.astype(np.int64), sums


def _max(values: Float64Array) -> float:
    present = values[~np.isnan(values)]
    return float(present.max()) if present.size else NAN


def summarise(site: Site, span: DateRange, entries: Sequence[bytes]) -> DatesSummary | None:
    """The summary of `span` from its dates' rollup entries (one per date, in order, chained),
    or None when they do not compose (peak grids that do not line up: central.kpi.rollup)."""
    table = compose(site, span, entries)
    if table is None:
        return None
    (t,) = site_totals_many(table, [(0, span.days)], device_skews=False)
    peaks, flat = stored_peaks(site, entries)
    values: dict[str, float] = {
        "meals": t.meals,
        "trays": t.trays,
        "clean_plates": t.clean_plates,
        "scale_below_division": t.scale_below_division,
        "scale_above_max": t.scale_above_max,
        "repeat_swipes": t.repeat_swipes,
        "readings": t.readings,
        "meter_received": t.meter_received,
        "duplicates": t.duplicates,
        "clock_corrected": t.clock_corrected,
        "peak_curve_kw": _max(peaks[~flat]),
        "peak_flat_kw": _max(peaks[flat]),
        "any_curve": float(np.any(~flat)),
        "any_flat": float(np.any(flat)),
    }
    values.update({f"waste_g.{s}": t.waste_g[s] for s in STREAMS})
    for kind, sums in zip(_ENERGY, (t.used, t.estimated, t.off_hours), strict=True):
        values.update({f"{kind}.{q}": sums[q] for q in QUANTITIES})
    values.update({f"events.{k}": t.events[k] for k in EVENT_KINDS})
    values.update({f"raw_bin_events.{k}": t.raw_bin_events.get(k, 0) for k in RAW_EVENT_KINDS})
    fields = np.array([values[name] for name in SITE_FIELDS], dtype=np.float64)
    bounds = np.append(table.day_start_ms, table.day_end_ms[-1]).astype(np.int64)
    if np.any(table.day_end_ms[:-1] != table.day_start_ms[1:]):
        raise ValueError(f"dates of {span} that do not follow each other")
    first_ms = {d.device: int(d.time_ms[0]) for d in table.devices if d.time_ms.size}
    meters = [
        (meter_key(d.device), site.kpi.meter(d.device).interval_s, d.expected or 0,
         first_ms.get(d.device, -1))
        for d in t.devices
        if d.kind == "meter"
    ]  # fmt: skip
    every = [d for d in t.devices if d.skew_keys.size]
    keys, counts = _histogram(
        np.concatenate([d.skew_keys for d in every]) if every else np.zeros(0, np.int64),
        np.concatenate([d.skew_counts for d in every]) if every else np.zeros(0, np.int64),
    )
    site_part = b"".join(
        (
            np.array(
                [(SUMMARY_LAYOUT, _N_FIELDS, span.first.toordinal(), span.days, len(meters),
                  keys.size, fields, bounds[[0, -1]])],
                _FIXED,
            ).tobytes(),
            np.array(meters, dtype=np.int64).reshape(-1, _METER).tobytes(),
            _bin_words(keys, counts).tobytes(),
            bounds.tobytes(),
        )
    )  # fmt: skip
    return DatesSummary(span, site_part, _devices_part(t.devices))


def _devices_part(devices: Sequence[DeviceTotals]) -> bytes:
    rows, keys, counts, names = [], [], [], []
    for d in devices:
        k, c = _histogram(d.skew_keys, d.skew_counts)
        keys.append(k)
        counts.append(c)
        names.append(f"{d.kind}\t{d.device}")
        events = (
            [0] * (1 + len(EVENT_KINDS))
            if d.events is None
            else [1, *(d.events[k] for k in EVENT_KINDS)]
        )
        raw = (
            [0] * (1 + len(RAW_EVENT_KINDS))
            if d.raw_events is None
            else [1, *(d.raw_events[k] for k in RAW_EVENT_KINDS)]
        )
        expected = -1 if d.expected is None else d.expected
        rows.append([d.received, expected, d.duplicates, d.clock_corrected, *events, *raw, k.size])
    text = "\n".join(names).encode()
    all_keys = np.concatenate(keys) if keys else np.zeros(0, np.int64)
    all_counts = np.concatenate(counts) if counts else np.zeros(0, np.int64)
    return b"".join(
        (
            _DEVICES_HEAD.pack(SUMMARY_LAYOUT, len(rows), all_keys.size, len(text)),
            np.array(rows, dtype=np.int64).reshape(-1, _DEVICE_COLUMNS).tobytes(),
            all_keys.astype(np.int16).tobytes(),
            all_counts.astype(np.uint32).tobytes(),
            text,
        )
    )


def _parse_devices(blob: bytes) -> list[DeviceTotals]:
    """The devices of a summary's device part (their expected readings: of whole dates)."""
    layout, n, n_bins, n_text = _DEVICES_HEAD.unpack_from(blob)
    if layout != SUMMARY_LAYOUT:
        raise SummaryLayoutError(f"month summary devices of layout {layout}")
    at = _DEVICES_HEAD.size
    rows = np.frombuffer(blob, np.int64, n * _DEVICE_COLUMNS, at).reshape(n, _DEVICE_COLUMNS)
    at += rows.nbytes
    keys = np.frombuffer(blob, np.int16, n_bins, at).astype(np.int64)
    counts = np.frombuffer(blob, np.uint32, n_bins, at + 2 * n_bins).astype(np.int64)
    text = blob[at + 6 * n_bins : at + 6 * n_bins + n_text].decode()
    out = []
    bin_at = 0
    n_events = len(EVENT_KINDS)
    for line, row in zip(text.split("\n") if n else [], rows.tolist(), strict=True):
        kind, device = line.split("\t", 1)
        received, expected, dups, corrected = row[:4]
        has_events, events = row[4], row[5 : 5 + n_events]
        has_raw, raw = row[5 + n_events], row[6 + n_events : -1]
        n_dev_bins = row[-1]
        out.append(
            DeviceTotals(
                kind=kind,
                device=device,
                received=received,
                expected=None if expected < 0 else expected,
                duplicates=dups,
                skew_keys=keys[bin_at : bin_at + n_dev_bins],
                skew_counts=counts[bin_at : bin_at + n_dev_bins],
                clock_corrected=corrected,
                events=dict(zip(EVENT_KINDS, events, strict=True)) if has_events else None,
                raw_events=dict(zip(RAW_EVENT_KINDS, raw, strict=True)) if has_raw else None,
            )
        )
        bin_at += n_dev_bins
    return out


def _bin_words(keys: Int64Array, counts: Int64Array) -> Int64Array:
    """Skew bins as int64 words: the bin key (signed) in the high 32 bits, its count below."""
    if counts.size and int(counts.max()) >= 1 << 32:
        raise ValueError("a skew bin of 2^32 samples or more in one summary")
    words: Int64Array = (keys.astype(np.int64) << 32) | counts.astype(np.int64)
    return words


def _bin_fields(words: Int64Array) -> tuple[Int64Array, Int64Array]:
    """The keys and counts of `_bin_words`."""
    return words >> 32, words & 0xFFFFFFFF


def _runs(starts: Int64Array, sizes: Int64Array) -> Int64Array:
    """Indexes [starts[i], starts[i] + sizes[i]) of every i, in order."""
    total = int(sizes.sum())
    index: Int64Array = np.repeat(starts - (np.cumsum(sizes) - sizes), sizes) + np.arange(total)
    return index


@dataclass(frozen=True, slots=True)
class _Sums:
    """Rows of summed site parts (`_sum_parts`)."""

    fields: list[list[float]]  # per row, SITE_FIELDS summed (a quantity NaN: no meter in any part)
    peak_kw: list[float]
    start_ms: list[int]  # the row's first date's start and last date's end
    end_ms: list[int]
    first_ordinal: list[int]  # the row's first and last date (proleptic ordinals)
    last_ordinal: list[int]
    meter_expected: list[int]  # per row, every meter's expected readings at now
    by_meter: list[dict[int, int]]  # per row, per meter key, its expected readings (if asked)
    skew: list[SkewFigures]
    bins: list[tuple[Int64Array, Int64Array]]  # per row, its sites' histogram bins


def _sum_parts(
    sites: Sequence[Site],
    parts: Sequence[Sequence[bytes]],
    now_ms: int,
    each_part: bool,
    by_meter: bool,
) -> _Sums:
    """Each site's site parts (consecutive, in date order) summed into one row (or, when
    `each_part`, one row per part; a meter's start is then still its first date with a reading
    in any part of its site: a month row of a longer report), all sites at once."""
    n_groups = len(parts)
    per = np.fromiter((len(p) for p in parts), np.int64, n_groups)
    if n_groups == 0 or np.any(per == 0):
        raise ValueError("every site needs at least one summary")
    blobs = [b for p in parts for b in p]
    n_blobs = len(blobs)
    group = np.repeat(np.arange(n_groups, dtype=np.int64), per)
    lengths = np.fromiter(map(len, blobs), np.int64, n_blobs)
    if np.any(lengths < _FIXED.itemsize):
        raise SummaryLayoutError("a month summary shorter than its fixed part")
    fixed = np.frombuffer(b"".join([b[: _FIXED.itemsize] for b in blobs]), _FIXED)
    if np.any((fixed["layout"] != SUMMARY_LAYOUT) | (fixed["fields"] != _N_FIELDS)):
        raise SummaryLayoutError(
            f"month summary of another layout; this version reads {SUMMARY_LAYOUT}"
        )
    days = fixed["days"].astype(np.int64)
    first = fixed["first"].astype(np.int64)
    follows = group[1:] == group[:-1]
    if np.any(follows & (first[1:] != first[:-1] + days[:-1])):
        raise ValueError("summaries of a site that do not follow each other")
    start_ms, end_ms = fixed["span_ms"].T
    # the meters and skew bins of every site part (int64 words), joined: one gather each
    n_meters = fixed["meters"].astype(np.int64)
    n_bins = fixed["bins"].astype(np.int64)
    n_words = _METER * n_meters + n_bins
    bounds_at = (_FIXED.itemsize + 8 * n_words).tolist()
    words = np.frombuffer(
        b"".join([b[_FIXED.itemsize : e] for b, e in zip(blobs, bounds_at, strict=True)]),
        np.int64,
    )
    word_at = np.cumsum(n_words) - n_words
    meters = words[_runs(word_at, _METER * n_meters)].reshape(-1, _METER)
    keys, counts = _bin_fields(words[_runs(word_at + _METER * n_meters, n_bins)])
    fields = np.ascontiguousarray(fixed["values"])

    # rows: reduceat over each row's blobs
    row_of_blob = np.arange(n_blobs, dtype=np.int64) if each_part else group
    n_rows = n_blobs if each_part else n_groups
    firsts = np.arange(n_blobs, dtype=np.int64) if each_part else np.cumsum(per) - per
    lasts = np.arange(n_blobs, dtype=np.int64) if each_part else np.cumsum(per) - 1
    nan = np.isnan(fields)
    sums = np.add.reduceat(np.where(nan, 0.0, fields), firsts, axis=0)
    sums[np.add.reduceat((~nan).astype(np.int64), firsts, axis=0) == 0] = NAN
    curve, flat = np.fmax.reduceat(fields[:, _PEAKS], firsts, axis=0).T
    any_curve, any_flat = np.maximum.reduceat(fields[:, _ANY], firsts, axis=0).T > 0
    # a row with dates with and without an electricity curve clamps the latter to 0 kW
    peak = np.where(any_curve & any_flat, np.fmax(curve, 0.0), np.fmax(curve, flat))

    # meters: each one's start over its site's parts, then its expected readings per part
    meter_blob = np.repeat(np.arange(n_blobs, dtype=np.int64), n_meters)
    key, interval_s, whole, first_ms = meters.T
    m_group = group[meter_blob]
    order = np.lexsort((key, m_group))
    new = np.ones(order.size, dtype=bool)
    new[1:] = (m_group[order][1:] != m_group[order][:-1]) | (key[order][1:] != key[order][:-1])
    which = np.empty(order.size, dtype=np.int64)
    which[order] = np.cumsum(new) - 1  # each meter row's (site, meter)
    never = np.iinfo(np.int64).max
    begin = np.full(int(new.sum()), never, dtype=np.int64)
    np.minimum.at(begin, which, np.where(first_ms >= 0, first_ms, never))
    installed = _installed_starts(sites)
    if installed:
        for i in np.flatnonzero(np.isin(m_group, list(installed))).tolist():
            start = installed[int(m_group[i])].get(int(key[i]))
            if start is not None:
                begin[which[i]] = min(begin[which[i]], start)
    begin = np.where(begin == never, _NO_BEGIN, begin)[which]
    part_start, part_end = start_ms[meter_blob], end_ms[meter_blob]
    expected = np.where((part_start >= begin) & (part_end <= now_ms), whole, 0)
    # a part holding the meter's start or now: its dates one by one (report.expected_slots)
    exact = np.flatnonzero((part_end > begin) & ~((part_start >= begin) & (part_end <= now_ms)))
    if exact.size:
        e_blob = meter_blob[exact]
        e_days = days[e_blob]
        bounds = np.frombuffer(
            b"".join([blobs[b][bounds_at[b] :] for b in e_blob.tolist()]), np.int64
        )
        day_row = np.repeat(np.arange(exact.size, dtype=np.int64), e_days)
        seg_at = np.cumsum(e_days + 1) - (e_days + 1)
        day_at = np.repeat(seg_at - (np.cumsum(e_days) - e_days), e_days) + np.arange(
            int(e_days.sum())
        )
        starts, ends = bounds[day_at], bounds[day_at + 1]
        step_s = interval_s[exact][day_row]
        slots = expected_slots(
            starts,
            ends,
            (ends - starts) // 1000 // step_s,
            begin[exact][day_row],
            now_ms,
            step_s * 1000,
        )
        expected[exact] = np.bincount(day_row, weights=slots, minlength=exact.size).astype(np.int64)
    m_row = row_of_blob[meter_blob]
    meter_expected = np.bincount(m_row, weights=expected, minlength=n_rows).astype(np.int64)
    per_meter: list[dict[int, int]] = [{} for _ in range(n_rows)] if by_meter else []
    if by_meter:
        for r, k, v in zip(m_row.tolist(), key.tolist(), expected.tolist(), strict=True):
            per_meter[r][k] = per_meter[r].get(k, 0) + v

    bin_row = np.repeat(row_of_blob, n_bins)
    figures = skew_figures(keys, counts, bin_row, n_rows)
    bin_at = np.zeros(n_rows + 1, dtype=np.int64)
    np.cumsum(np.bincount(bin_row, minlength=n_rows), out=bin_at[1:])
    cuts = bin_at.tolist()
    return _Sums(
        fields=sums.tolist(),
        peak_kw=peak.tolist(),
        start_ms=start_ms[firsts].tolist(),
        end_ms=end_ms[lasts].tolist(),
        first_ordinal=first[firsts].tolist(),
        last_ordinal=(first[lasts] + days[lasts] - 1).tolist(),
        meter_expected=meter_expected.tolist(),
        by_meter=per_meter,
        skew=[NO_SKEW if f is None else SkewFigures(*f) for f in figures],
        bins=[(keys[lo:hi], counts[lo:hi]) for lo, hi in itertools.pairwise(cuts)],
    )


def _installed_starts(sites: Sequence[Site]) -> dict[int, dict[int, int]]:
    """Per site (its index) with a meter's registry `installed` date: per meter key, the start of
    that date (report.device_start_ms)."""
    out: dict[int, dict[int, int]] = {}
    for i, site in enumerate(sites):
        installed = [name for name, m in site.kpi.meters.items() if m.installed is not None]
        if installed:
            out[i] = {
                meter_key(name): start
                for name in installed
                if (start := device_start_ms(site, name, _NO_READING)) is not None
            }
    return out


_NO_READING: Int64Array = np.zeros(0, dtype=np.int64)


def summed_totals(
    sites: Sequence[Site],
    parts: Sequence[SiteParts],
    baselines: Sequence[Totals | None],
    now_ms: int,
    *,
    each_part: bool = False,
    with_devices: bool = False,
) -> list[Totals]:
    """The totals of each site's whole-date row at now_ms from the summaries of its parts (each
    date of its row in exactly one part, in date order): what `report.period_totals` gives from
    the table composed of every date, up to float rounding of the sums. One row per site, or
    with `each_part` one per part (the month rows of a longer report: a meter's expected readings
    start at its first reading in any of the site's parts, as with a composed table). Without
    `with_devices` a row lists no device but carries its site's clock-skew figures and histogram
    (what a ranking needs); with it, the parts' device sections are read and merged."""
    if not (len(sites) == len(parts) == len(baselines)):
        raise ValueError(f"{len(sites)} sites, {len(parts)} parts, {len(baselines)} baselines")
    if each_part:
        firsts = [s.first.toordinal() for p in parts for s in p.spans]
        lasts = [s.last.toordinal() for p in parts for s in p.spans]
    else:
        firsts = [p.spans[0].first.toordinal() if p.spans else 0 for p in parts]
        lasts = [p.spans[-1].last.toordinal() if p.spans else 0 for p in parts]
    sums = _sum_parts(sites, [p.site for p in parts], now_ms, each_part, with_devices)
    if sums.first_ordinal != firsts or sums.last_ordinal != lasts:
        raise ValueError("summaries of other dates than their spans say")
    out = []
    r = 0
    for site, each, baseline in zip(sites, parts, baselines, strict=True):
        if with_devices and len(each.devices) != len(each.site):
            raise ValueError(f"{site.id}: summaries without their device parts")
        if len(each.spans) != len(each.site):
            raise ValueError(f"{site.id}: {len(each.spans)} spans of {len(each.site)} summaries")
        bounds = (
            [(i, i + 1) for i in range(len(each.spans))] if each_part else [(0, len(each.spans))]
        )
        for lo, hi in bounds:
            span = DateRange(each.spans[lo].first, each.spans[hi - 1].last)
            devices = _merged_devices(each.devices[lo:hi], sums.by_meter[r]) if with_devices else ()
            out.append(_totals(site, span, sums.fields[r], sums, r, now_ms, baseline, devices))
            r += 1
    return with_device_skews(out) if with_devices else out


def _totals(
    site: Site,
    span: DateRange,
    v: list[float],
    sums: _Sums,
    r: int,
    now_ms: int,
    baseline: Totals | None,
    devices: tuple[DeviceTotals, ...],
) -> Totals:
    waste = {s: v[i] for s, i in _WASTE_AT}
    used, estimated, off = ({q: v[i] for q, i in at} for at in _ENERGY_AT)
    quota_kgce, quota_reason = row_quota(site.kpi, span, sums.start_ms[r], sums.end_ms[r], now_ms)
    n_days, n_services = span.days, len(site.services)
    return Totals(
        **site_fields(site, baseline),
        **energy_and_food(site, waste, used, estimated, off, False),
        days=n_days,
        service_slots=n_days * n_services,
        staff_slots=float(site.registered_staff * n_days * n_services),
        meals=int(v[_AT["meals"]]),
        trays=int(v[_AT["trays"]]),
        clean_plates=int(v[_AT["clean_plates"]]),
        waste_g=waste,
        used=used,
        estimated=estimated,
        off_hours=off,
        peak_kw=sums.peak_kw[r],
        quota_kgce=quota_kgce,
        quota_reason=quota_reason,
        readings=int(v[_AT["readings"]]),
        meter_received=int(v[_AT["meter_received"]]),
        meter_expected=sums.meter_expected[r],
        duplicates=int(v[_AT["duplicates"]]),
        clock_corrected=int(v[_AT["clock_corrected"]]),
        events={k: int(v[i]) for k, i in _EVENTS_AT},
        scale_below_division=int(v[_AT["scale_below_division"]]),
        scale_above_max=int(v[_AT["scale_above_max"]]),
        raw_bin_events={k: int(v[i]) for k, i in _RAW_AT},
        repeat_swipes=int(v[_AT["repeat_swipes"]]),
        devices=devices,
        skew=sums.skew[r],
        skew_bins=None if devices else sums.bins[r],
    )


def _merged_devices(
    parts: Sequence[bytes], expected: Mapping[int, int]
) -> tuple[DeviceTotals, ...]:
    """Every device of the parts, as a table composed of all their dates lists them (sorted by
    kind and id; a device of kind "unknown" on some dates, known on others, is the known one,
    with its duplicate counts), each meter with its expected readings of the row (`expected`,
    per meter key)."""
    by_key: dict[tuple[str, str], list[DeviceTotals]] = {}
    for part in parts:
        for d in _parse_devices(part):
            by_key.setdefault((d.kind, d.device), []).append(d)
    known = {device for kind, device in by_key if kind != "unknown"}
    unknown_dups = {
        device: sum(d.duplicates for d in each)
        for (kind, device), each in by_key.items()
        if kind == "unknown" and device in known
    }
    out = []
    for (kind, device), each in sorted(by_key.items()):
        if kind == "unknown" and device in known:
            continue
        events = [d.events for d in each if d.events is not None]
        raw = [d.raw_events for d in each if d.raw_events is not None]
        out.append(
            DeviceTotals(
                kind=kind,
                device=device,
                received=sum(d.received for d in each),
                expected=expected.get(meter_key(device), 0) if kind == "meter" else None,
                duplicates=sum(d.duplicates for d in each) + unknown_dups.get(device, 0),
                skew_keys=np.concatenate([d.skew_keys for d in each]),
                skew_counts=np.concatenate([d.skew_counts for d in each]),
                clock_corrected=sum(d.clock_corrected for d in each),
                events={k: sum(e.get(k, 0) for e in events) for k in EVENT_KINDS}
                if events
                else None,
                raw_events={k: sum(e.get(k, 0) for e in raw) for k in RAW_EVENT_KINDS}
                if raw
                else None,
            )
        )
    return tuple(out)


def span_totals(
    site: Site,
    span: DateRange,
    parts: Sequence[DatesSummary],
    baseline: Totals | None,
    now_ms: int,
) -> Totals:
    """The totals of `span`'s whole-date row at now_ms, with its devices, from the summaries of
    its parts (each date of the span in exactly one, in date order): `summed_totals` of one
    site."""
    if not parts or parts[0].span.first != span.first or parts[-1].span.last != span.last:
        raise ValueError(f"summaries of {[p.span for p in parts]} do not cover {span}")
    (totals,) = summed_totals([site], [SiteParts.of(parts)], [baseline], now_ms, with_devices=True)
    return totals
