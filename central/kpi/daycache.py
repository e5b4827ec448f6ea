"""Per-(site, local date) cache entries of a DayTable and their exact composition into a span.

A cache entry is the one-date DayTable of the site-day report (built from the readings loaded for
that date alone) in a compact, pickle-free layout: a JSON header (devices, duplicate counts,
meter bracketing) and two numpy buffers (float64 quantities; clock-skew samples as int16, int32
or int64, the narrowest that holds them).

Every base quantity of a date is computed from the readings attributed to that date's windows,
except energy: meter curves are cleaned over the whole loaded series (counters.py carries state
from reading to reading) and interpolated between readings. A span composed of per-date entries
is therefore the same as the span built from one load (up to float rounding of the sums) only
when every meter series is clean (the vectorised path of counters.py, no anomaly, no declared
exchange), no meter reading has a wrong clock, every meter has a reading around each interior
date boundary (so that no boundary is clamped), and the peak-demand grids line up.
`compose` returns None when any of this is not proven; the caller then builds the span from one
load, as without a cache. So the cache never changes an answer, only how fast it comes.

Composed tables carry the clock-skew samples of each date, but their `time_ms`/`received_ms` are
the date's start for every sample (enough to select whole dates, which is all reports do); alerts
(which need receive times) always use a freshly built table.
"""

import hashlib
import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from types import MappingProxyType

import numpy as np

from central.kpi.clocks import wrong_clock
from central.kpi.counters import EVENT_KINDS, is_clean_series
from central.kpi.daytable import (
    PEAK_INTERVAL_MS,
    QUANTITIES,
    DayTable,
    DeviceQuality,
    QuantityTable,
    build_day_table,
    load_range,
)
from central.kpi.periods import DateRange
from central.kpi.rawbins import RAW_EVENT_KINDS
from central.kpi.readings import DuplicateCounts, Float64Array, Int64Array, SiteReadings
from central.kpi.windows import day_windows
from central.registry import Site
from contract import Stream

# Bump when DayTable, the KPI code or this layout changes: entries of another version are ignored.
CACHE_CODE_VERSION = 5

STREAMS = tuple(s.value for s in Stream)
SERVICE_STREAMS = (Stream.PLATE.value, Stream.PREP.value, Stream.OVERPRODUCTION.value)
# received, expected, clock_corrected, has_events, events..., has_raw_events, raw events...,
# samples
_DEVICE_COLUMNS = 4 + len(EVENT_KINDS) + 1 + len(RAW_EVENT_KINDS) + 1


def config_key(site: Site) -> str:
    """Version of everything a site's DayTable depends on besides readings: code and config.

    `repr` of the registry's frozen dataclasses is deterministic for a given registry file (no
    sets); any change of the site's entry (services, time zone, meters, scales, clock rule, factor
    set, ...) gives another key, so entries built under an old configuration are never served.
    """
    text = f"{CACHE_CODE_VERSION}\n{site!r}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


@dataclass(frozen=True, slots=True)
class DayEntry:
    """A decoded cache entry: one date's table and what composition needs to know."""

    table: DayTable
    composable: bool  # energy of this date does not depend on readings outside its load
    meters: Mapping[str, "MeterSpan"]


@dataclass(frozen=True, slots=True)
class MeterSpan:
    """One meter's readings in a date's load: whether they reach over the load window's ends,
    their first and last attributed times, and the window."""

    before: bool  # a reading at or before window_start_ms
    after: bool  # a reading at or after window_end_ms
    first_ms: int
    last_ms: int
    window_start_ms: int
    window_end_ms: int


def _fixed_fields(n_s: int) -> list[tuple[str, tuple[int, ...]]]:
    """The float64 layout of a date's fixed quantities (per-date shape of each field)."""
    fields: list[tuple[str, tuple[int, ...]]] = [
        ("day_start_ms", (1,)),
        ("day_end_ms", (1,)),
        ("diners", (1, n_s)),
        ("trays", (1, n_s)),
        ("clean_plates", (1, n_s)),
    ]
    fields += [(f"service_waste_g.{s}", (1, n_s)) for s in SERVICE_STREAMS]
    fields += [("day_trays", (1,)), ("day_clean_plates", (1,))]
    fields += [(f"day_waste_g.{s}", (1,)) for s in STREAMS]
    for q in QUANTITIES:
        fields += [
            (f"energy.{q}.present", (1,)),
            (f"energy.{q}.service_used", (1, n_s)),
            (f"energy.{q}.service_estimated", (1, n_s)),
            (f"energy.{q}.day_used", (1,)),
            (f"energy.{q}.day_estimated", (1,)),
            (f"energy.{q}.off_hours_used", (1,)),
        ]
    fields += [("peak_kw", (1,)), ("service_peak_kw", (1, n_s)), ("flat_service_peak_kw", (1, n_s))]
    fields += [(f"meter_events.{k}", (1,)) for k in EVENT_KINDS]
    fields += [("scale_below_division", (1,)), ("scale_above_max", (1,))]
    fields += [(f"raw_bin_events.{k}", (1,)) for k in RAW_EVENT_KINDS]
    fields += [("repeat_swipes", (1,))]
    return fields


def _fixed_values(table: DayTable) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {
        "day_start_ms": table.day_start_ms,
        "day_end_ms": table.day_end_ms,
        "diners": table.diners,
        "trays": table.trays,
        "clean_plates": table.clean_plates,
        "day_trays": table.day_trays,
        "day_clean_plates": table.day_clean_plates,
        "peak_kw": table.peak_kw,
        "service_peak_kw": table.service_peak_kw,
        "scale_below_division": table.scale_below_division,
        "scale_above_max": table.scale_above_max,
        "repeat_swipes": table.repeat_swipes,
    }
    for s in SERVICE_STREAMS:
        values[f"service_waste_g.{s}"] = table.service_waste_g[s]
    for s in STREAMS:
        values[f"day_waste_g.{s}"] = table.day_waste_g[s]
    for q in QUANTITIES:
        part = table.energy[q]
        values[f"energy.{q}.present"] = np.array([1.0 if part.present else 0.0])
        values[f"energy.{q}.service_used"] = part.service_used
        values[f"energy.{q}.service_estimated"] = part.service_estimated
        values[f"energy.{q}.day_used"] = part.day_used
        values[f"energy.{q}.day_estimated"] = part.day_estimated
        values[f"energy.{q}.off_hours_used"] = part.off_hours_used
    for k in EVENT_KINDS:
        values[f"meter_events.{k}"] = table.meter_events[k]
    for k in RAW_EVENT_KINDS:
        values[f"raw_bin_events.{k}"] = table.raw_bin_events[k]
    values["flat_service_peak_kw"] = _flat_service_peaks(table)
    return values


def _flat_service_peaks(table: DayTable) -> Float64Array:
    """Service peaks of the date if an electricity meter of the span was flat on it (no reading
    near the date: its curve is clamped): 0 kW where the window holds a 15-minute interval."""
    start, end = int(table.day_start_ms[0]), int(table.day_end_ms[0])
    starts = np.arange(start, end + 1, PEAK_INTERVAL_MS, dtype=np.int64)[:-1]
    windows = day_windows(table.site, table.span.first).services
    lo = np.searchsorted(starts, [w.energy.start_ms for w in windows], side="left")
    hi = np.searchsorted(starts, [w.energy.end_ms for w in windows], side="left")
    flat: Float64Array = np.where(hi > lo, 0.0, np.nan).reshape(1, len(windows))
    return flat


def build_entry(
    site: Site, on: date, readings: SiteReadings, duplicates: DuplicateCounts | None
) -> bytes:
    """The encoded entry of `site` on `on`, from the readings loaded for that date alone."""
    span = DateRange(on, on)
    table = build_day_table(site, span, readings, duplicates)
    window = load_range(site, span)
    rule = site.kpi.clock
    meter = readings.meter
    bad_clock = bool(np.any(wrong_clock(meter.time_ms, meter.received_ms, rule)))
    # Raw kitchen bins: the step reference before a date is found by device time, while the
    # span's order of steps follows the attributed time; with a wrong clock in the date's load
    # they may differ, so such a date is not composed.
    raw = readings.scale.is_raw
    bad_clock = bad_clock or bool(
        np.any(wrong_clock(readings.scale.time_ms[raw], readings.scale.received_ms[raw], rule))
    )
    clean = not bad_clock
    brackets: dict[str, list[int]] = {}
    for quantity in QUANTITIES:
        of_quantity = meter.quantity == quantity
        for device in np.unique(meter.device[of_quantity]).tolist():
            mask = of_quantity & (meter.device == device)
            times = meter.time_ms[mask]
            clean = clean and is_clean_series(
                times,
                meter.total[mask],
                site.kpi.meter(device),
                [e for e in site.kpi.exchanges if e.device == device],
            )
            has = brackets.setdefault(device, [int(times.min()), int(times.max())])
            has[0] = min(has[0], int(times.min()))
            has[1] = max(has[1], int(times.max()))
    windows = day_windows(site, on)
    inside = all(
        windows.day.start_ms <= s.energy.start_ms and s.energy.end_ms <= windows.day.end_ms
        for s in windows.services
    )
    meters = {
        d: MeterSpan(
            first <= window.start_ms,
            last >= window.end_ms,
            first,
            last,
            window.start_ms,
            window.end_ms,
        )
        for d, (first, last) in brackets.items()
    }
    # Raw kitchen bins: does the date's first step have its reference (the bin's last stable
    # reading before the date, central.kpi.rawbins)? A span built from one load always has it
    # when the bin read on an earlier date of the span; an entry without it composes only as the
    # span's first date with that bin.
    scale = readings.scale
    raw_refs = {
        device: bool(np.any((scale.device == device) & raw & (scale.time_ms < window.start_ms)))
        for device in np.unique(scale.device[raw]).tolist()
    }
    return encode(table, clean and inside, meters, raw_refs)


def encode(
    table: DayTable,
    composable: bool,
    meters: Mapping[str, MeterSpan],
    raw_refs: Mapping[str, bool] | None = None,
) -> bytes:
    """One date's table as bytes: header length, float count and sample width (int64 each),
    JSON header, float64 block, samples block (int16, int32 or int64: _sample_bytes)."""
    n_s = len(table.services)
    values = _fixed_values(table)
    fixed = [np.asarray(values[name], dtype=np.float64).ravel() for name, _ in _fixed_fields(n_s)]
    devices = []
    numbers: list[float] = []
    samples: list[Int64Array] = []
    start, end = int(table.day_start_ms[0]), int(table.day_end_ms[0])
    dups: dict[str, int] = {}
    for d in table.devices:
        lo, hi = np.searchsorted(d.time_ms, [start, end], side="left")
        devices.append([d.kind, d.device])
        numbers += [
            float(d.received[0]),
            -1.0 if d.expected is None else float(d.expected[0]),
            float(d.clock_corrected[0]),
            0.0 if d.events is None else 1.0,
        ]
        numbers += [0.0 if d.events is None else float(d.events[k][0]) for k in EVENT_KINDS]
        numbers.append(0.0 if d.raw_events is None else 1.0)
        numbers += [
            0.0 if d.raw_events is None else float(d.raw_events[k][0]) for k in RAW_EVENT_KINDS
        ]
        numbers.append(float(hi - lo))
        samples.append(d.skew_ms[lo:hi])
        if int(d.duplicates[0]):
            dups[d.device] = int(d.duplicates[0])
    header = json.dumps(
        {
            "devices": devices,
            "dups": dups,
            "ok": composable,
            "raw": dict(raw_refs or {}),
            "meters": {
                d: [m.before, m.after, m.first_ms, m.last_ms, m.window_start_ms, m.window_end_ms]
                for d, m in meters.items()
            },
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    floats = np.concatenate([*fixed, np.asarray(numbers, dtype=np.float64)])
    ints = np.concatenate(samples) if samples else _empty()
    width = _sample_bytes(ints)
    head = np.array([len(header), floats.size, width], dtype=np.int64).tobytes()
    return b"".join(
        [head, header, floats.astype("<f8").tobytes(), ints.astype(f"<i{width}").tobytes()]
    )


def _sample_bytes(samples: Int64Array) -> int:
    """Bytes per clock-skew sample: the narrowest integer that holds them all (skews of a
    synchronised clock fit in 2 bytes, in milliseconds: the entry shrinks about fourfold)."""
    if not samples.size:
        return 2
    low, high = int(samples.min()), int(samples.max())
    for width in (2, 4):
        bound = 1 << (8 * width - 1)
        if -bound <= low and high < bound:
            return width
    return 8


@dataclass(frozen=True, slots=True)
class _Header:
    devices: list[tuple[str, str]]
    dups: dict[str, int]
    ok: bool
    meters: dict[str, MeterSpan]
    raw_refs: dict[str, bool]  # raw bins read on the date: has the first step a reference?

    @classmethod
    def parse(cls, text: str) -> "_Header":
        # Written by `encode` of this code version (the cache key says so): JSON's own types
        # are the fields' types, so nothing is converted.
        raw = json.loads(text)
        return cls(
            devices=[(kind, device) for kind, device in raw["devices"]],
            dups=raw["dups"],
            ok=raw["ok"],
            meters={d: MeterSpan(*span) for d, span in raw["meters"].items()},
            raw_refs=raw["raw"],
        )


@dataclass(frozen=True, slots=True)
class _Decoded:
    header: str
    floats: Float64Array
    ints: np.ndarray  # the samples, as narrow as they were stored (_sample_bytes)


def _decode(blob: bytes) -> _Decoded:
    n_header, n_floats, width = np.frombuffer(blob, dtype="<i8", count=3).tolist()
    at = 24 + n_header
    floats = np.frombuffer(blob, dtype="<f8", count=n_floats, offset=at)
    ints = np.frombuffer(blob, dtype=f"<i{width}", offset=at + 8 * n_floats)
    return _Decoded(blob[24:at].decode(), floats, ints)


def compose(site: Site, span: DateRange, blobs: Sequence[bytes]) -> DayTable | None:
    """The DayTable of `span` from one entry per date (in date order), or None when composing
    is not proven to equal building the span from one load (see the module docstring)."""
    if len(blobs) != span.days or not blobs:
        raise ValueError(f"{len(blobs)} entries for a span of {span.days} dates")
    decoded = [_decode(b) for b in blobs]
    headers: dict[str, _Header] = {}
    for item in decoded:
        if item.header not in headers:
            headers[item.header] = _Header.parse(item.header)
    parsed = [headers[item.header] for item in decoded]
    if len(blobs) > 1 and not _composable(parsed):
        return None
    n_d, n_s = span.days, len(site.services)
    fields = _fixed_fields(n_s)
    width = sum(math.prod(shape) for _, shape in fields)
    matrix = np.empty((n_d, width), dtype=np.float64)
    for i, item in enumerate(decoded):
        matrix[i] = item.floats[:width]
    columns: dict[str, np.ndarray] = {}
    at = 0
    for name, shape in fields:
        size = math.prod(shape)
        part = matrix[:, at : at + size]
        columns[name] = part.reshape((n_d, *shape[1:])) if len(shape) > 1 else part[:, 0]
        at += size
    day_start = columns["day_start_ms"].astype(np.int64)
    day_end = columns["day_end_ms"].astype(np.int64)
    if n_d > 1 and np.any((day_start - day_start[0]) % PEAK_INTERVAL_MS):
        return None  # the peak grid of the span would not hit every date's start

    def ints(name: str) -> Int64Array:
        out: Int64Array = np.rint(columns[name]).astype(np.int64)
        return out

    peak_kw, service_peak_kw = columns["peak_kw"], columns["service_peak_kw"]
    elec = QUANTITIES[0]
    flat = columns[f"energy.{elec}.present"] == 0
    if n_d > 1 and np.any(~flat) and np.any(flat):
        # the span has an electricity curve; on these dates it is clamped (flat), not absent
        peak_kw = np.where(flat, 0.0, peak_kw)
        service_peak_kw = np.where(flat[:, None], columns["flat_service_peak_kw"], service_peak_kw)
    energy = {
        q: QuantityTable(
            present=bool(np.any(columns[f"energy.{q}.present"] > 0)),
            service_used=columns[f"energy.{q}.service_used"],
            service_estimated=columns[f"energy.{q}.service_estimated"],
            day_used=columns[f"energy.{q}.day_used"],
            day_estimated=columns[f"energy.{q}.day_estimated"],
            off_hours_used=columns[f"energy.{q}.off_hours_used"],
        )
        for q in QUANTITIES
    }
    return DayTable(
        site=site,
        span=span,
        services=tuple(s.name for s in site.services),
        day_start_ms=day_start,
        day_end_ms=day_end,
        diners=ints("diners"),
        trays=ints("trays"),
        clean_plates=ints("clean_plates"),
        service_waste_g=MappingProxyType(
            {s: columns[f"service_waste_g.{s}"] for s in SERVICE_STREAMS}
        ),
        day_trays=ints("day_trays"),
        day_clean_plates=ints("day_clean_plates"),
        day_waste_g=MappingProxyType({s: columns[f"day_waste_g.{s}"] for s in STREAMS}),
        energy=MappingProxyType(energy),
        peak_kw=peak_kw,
        service_peak_kw=service_peak_kw,
        meter_events=MappingProxyType({k: ints(f"meter_events.{k}") for k in EVENT_KINDS}),
        scale_below_division=ints("scale_below_division"),
        scale_above_max=ints("scale_above_max"),
        raw_bin_events=MappingProxyType({k: ints(f"raw_bin_events.{k}") for k in RAW_EVENT_KINDS}),
        devices=_devices(site, decoded, parsed, width, day_start, day_end),
        repeat_swipes=ints("repeat_swipes"),
    )


def _composable(parsed: Sequence[_Header]) -> bool:
    if not all(p.ok for p in parsed):
        return False
    seen: set[str] = set()
    for p in parsed:
        if any(device in seen and not has for device, has in p.raw_refs.items()):
            return False  # the span's load holds the reference this date's load missed
        seen.update(p.raw_refs)
    for device in {d for p in parsed for d in p.meters}:
        spans = [p.meters[device] for p in parsed if device in p.meters]
        present = [i for i, p in enumerate(parsed) if device in p.meters]
        if present[-1] - present[0] + 1 != len(present):
            return False  # the span would interpolate over the dates without the meter
        # Each date's load must hold the span's readings next to its window: a date without a
        # reading after (before) its window is composable only when no later (earlier) date
        # has one there either, i.e. the span's curve is clamped there too.
        later_last = list(itertools.accumulate(reversed([m.last_ms for m in spans]), max))[::-1]
        earlier_first = list(itertools.accumulate([m.first_ms for m in spans], min))
        for k, m in enumerate(spans):
            if not m.after and k + 1 < len(spans) and later_last[k + 1] >= m.window_end_ms:
                return False
            if not m.before and k > 0 and earlier_first[k - 1] <= m.window_start_ms:
                return False
    return True


def _devices(
    site: Site,
    decoded: Sequence[_Decoded],
    parsed: Sequence[_Header],
    width: int,
    day_start: Int64Array,
    day_end: Int64Array,
) -> tuple[DeviceQuality, ...]:
    """Every device's per-date figures and clock-skew samples of the span, vectorised: the
    device rows of all dates are scattered into one (devices, dates, columns) array, and the
    samples (stored per date, device after device) are gathered device after device, each
    device's in date order."""
    n_d = len(decoded)
    day_s = (day_end - day_start) // 1000
    ids: dict[tuple[str, str], int] = {}  # (kind, device) -> index, in order of appearance
    # device indexes of a date's device list (most dates of a span list the same devices)
    of_devices: dict[tuple[tuple[str, str], ...], Int64Array] = {}
    seg_dev: list[Int64Array] = []
    seg_date: list[Int64Array] = []
    rows: list[Float64Array] = []
    samples: list[Int64Array] = []
    dup_at: dict[str, Int64Array] = {}
    for i, (item, header) in enumerate(zip(decoded, parsed, strict=True)):
        listed = tuple(header.devices)
        dev = of_devices.get(listed)
        if dev is None:
            dev = np.array([ids.setdefault(kd, len(ids)) for kd in listed], np.int64)
            of_devices[listed] = dev
        if dev.size:
            seg_dev.append(dev)
            seg_date.append(np.full(dev.size, i, dtype=np.int64))
            rows.append(item.floats[width:])
            samples.append(item.ints)
        for device, count in header.dups.items():
            dup_at.setdefault(device, np.zeros(n_d, dtype=np.int64))[i] += count
    n_k = len(ids)
    per = np.zeros((n_k, n_d, _DEVICE_COLUMNS), dtype=np.float64)
    per[:, :, 1] = -1.0
    starts = np.zeros(n_k + 1, dtype=np.int64)
    by_device: Int64Array = _empty()
    if seg_dev:
        dev_of, date_of = np.concatenate(seg_dev), np.concatenate(seg_date)
        numbers = np.concatenate(rows).reshape(-1, _DEVICE_COLUMNS)
        per[dev_of, date_of] = numbers
        lengths = numbers[:, -1].astype(np.int64)
        # segments (one per date and device, stored date after date) in device order, each
        # device's in date order; then one gather of every sample into that order
        order = np.argsort(dev_of, kind="stable")
        moved = lengths[order]
        source_start = np.cumsum(lengths) - lengths
        target_start = np.cumsum(moved) - moved
        index = np.repeat(source_start[order] - target_start, moved) + np.arange(int(moved.sum()))
        by_device = np.concatenate(samples)[index]
        starts[1:] = np.cumsum(np.bincount(dev_of, weights=lengths, minlength=n_k)).astype(np.int64)
    counts = per[:, :, -1].astype(np.int64)  # samples per device and date
    names = {device for kind, device in ids if kind != "unknown"}
    out = []
    for kind, device in sorted(ids):
        if kind == "unknown" and device in names:
            continue  # the span knows this device by its readings on other dates
        at = ids[kind, device]
        table = per[at]
        expected = None
        if kind == "meter":
            expected = (day_s // site.kpi.meter(device).interval_s).astype(np.int64)
        events = None
        if bool(np.any(table[:, 3] > 0)):
            events = MappingProxyType(
                {k: np.rint(table[:, 4 + j]).astype(np.int64) for j, k in enumerate(EVENT_KINDS)}
            )
        raw_at = 4 + len(EVENT_KINDS)
        raw_events = None
        if bool(np.any(table[:, raw_at] > 0)):
            raw_events = MappingProxyType(
                {
                    k: np.rint(table[:, raw_at + 1 + j]).astype(np.int64)
                    for j, k in enumerate(RAW_EVENT_KINDS)
                }
            )
        times = np.repeat(day_start, counts[at])
        out.append(
            DeviceQuality(
                kind=kind,
                device=device,
                received=np.rint(table[:, 0]).astype(np.int64),
                expected=expected,
                duplicates=dup_at.get(device, np.zeros(n_d, dtype=np.int64)),
                time_ms=times,
                skew_ms=by_device[starts[at] : starts[at + 1]].astype(np.int64),
                received_ms=times,
                clock_corrected=np.rint(table[:, 2]).astype(np.int64),
                events=events,
                raw_events=raw_events,
            )
        )
    return tuple(out)


def _empty() -> Int64Array:
    empty: Int64Array = np.zeros(0, dtype=np.int64)
    return empty
