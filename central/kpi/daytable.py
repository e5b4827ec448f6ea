"""The additive base quantities of a site for each local date and meal service, from arrays.

Everything a report needs is a sum over dates (and services) of the arrays built here, except
peak demand (a maximum) and clock skew (per device and date a histogram, whose counts add:
central.kpi.quantiles). The
per-window work is vectorised: sorted reading times and np.searchsorted over window bounds,
cumulative sums for masses, np.interp over meter curves for energy; Python loops run over dates,
services and devices only, never over readings (except the counter walk of an anomalous meter,
see counters.py).

Readings are attributed by their device time (docs/architecture.md), except those whose device
clock is wrong (central.kpi.clocks): they are attributed by the edge's receive time and counted.
"""

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from types import MappingProxyType

import numpy as np

from central.kpi.clocks import ClockRule, correct_clocks
from central.kpi.counters import (
    EVENT_KINDS,
    MeterCurve,
    WalkState,
    chained_curves,
    count_in,
    meter_curves,
)
from central.kpi.periods import DateRange
from central.kpi.quantiles import SkewHistograms
from central.kpi.rawbins import RAW_EVENT_KINDS, RawEvents, derive_deposits
from central.kpi.readings import (
    DuplicateCounts,
    Float64Array,
    Int64Array,
    SiteReadings,
    StrArray,
    int_array,
)
from central.kpi.scales import check_scales
from central.kpi.windows import DayWindows, Window, day_windows
from central.registry import Site
from contract import Quantity, Stream

# Meter readings are loaded this far beyond the period's windows, so that C(t) can be
# interpolated at the boundaries even when no reading falls exactly on them.
METER_MARGIN_MS = 60 * 60_000
PEAK_INTERVAL_MS = 15 * 60_000  # E9: highest 15-minute average power
QUANTITIES = (Quantity.ELECTRICITY.value, Quantity.GAS.value, Quantity.WATER.value)


@dataclass(frozen=True, slots=True)
class QuantityTable:
    """Consumption of one quantity (canonical unit) and its estimated part."""

    present: bool  # the site has at least one meter of this quantity in the loaded readings
    service_used: Float64Array  # (dates, services): the services' energy windows
    service_estimated: Float64Array
    day_used: Float64Array  # (dates,)
    day_estimated: Float64Array
    off_hours_used: Float64Array  # (dates,): the day minus every energy window


@dataclass(frozen=True, slots=True)
class Carry:
    """The part of the next date's service energy windows that lies before its midnight (a
    breakfast whose preparation starts the evening before), measured on this date's curves:
    per quantity the consumption and its estimated part, and the highest 15-minute average
    power there (kW, NaN without an electricity curve), each per service (0 where the window
    starts at or after midnight).

    A date's meter curves, when chained, begin at its own midnight; what its first services'
    energy windows hold before that comes from the date before, through the chain (rollup.Chain),
    so that it changes with that date's readings."""

    used: Mapping[str, Float64Array]  # quantity -> (s,)
    estimated: Mapping[str, Float64Array]
    peak_kw: Float64Array  # (s,)


@dataclass(frozen=True, slots=True)
class DeviceQuality:
    """One device's reading counts per date and its clock skew per date (Q1, Q3, Q4)."""

    kind: str
    device: str
    received: Int64Array  # (dates,) stored readings, rejected spikes included
    expected: Int64Array | None  # (dates,) meters only: day length / interval_s
    duplicates: Int64Array  # (dates,) duplicate deliveries dropped at ingest
    # sorted attributed times of its readings in the loaded range, and their edge receive times
    # (alerts; in a table composed of rollups, the start of each date with a reading)
    time_ms: Int64Array
    received_ms: Int64Array
    skew: SkewHistograms  # per date: device time - edge receive time (as sent), ms
    clock_corrected: Int64Array  # (dates,) readings attributed by receive time (wrong clock)
    events: Mapping[str, Int64Array] | None = None  # meters: EVENT_KINDS -> (dates,) (Q2)
    # raw kitchen bins: rawbins.RAW_EVENT_KINDS -> (dates,)
    raw_events: Mapping[str, Int64Array] | None = None


@dataclass(frozen=True, slots=True)
class DayTable:
    """Base quantities of one site: arrays over its dates (d) and services (s)."""

    site: Site
    span: DateRange
    services: tuple[str, ...]
    day_start_ms: Int64Array
    day_end_ms: Int64Array
    diners: Int64Array  # (d, s) distinct persons per service
    trays: Int64Array  # (d, s)
    clean_plates: Int64Array  # (d, s)
    service_waste_g: Mapping[str, Float64Array]  # plate, prep, overproduction -> (d, s)
    day_trays: Int64Array  # (d,)
    day_clean_plates: Int64Array
    day_waste_g: Mapping[str, Float64Array]  # every stream -> (d,)
    energy: Mapping[str, QuantityTable]  # electricity, gas, water
    peak_kw: Float64Array  # (d,) NaN without an electricity meter
    service_peak_kw: Float64Array  # (d, s)
    meter_events: Mapping[str, Int64Array]  # EVENT_KINDS -> (d,)
    scale_below_division: Int64Array  # (d,)
    scale_above_max: Int64Array  # (d,)
    raw_bin_events: Mapping[str, Int64Array]  # rawbins.RAW_EVENT_KINDS -> (d,)
    devices: tuple[DeviceQuality, ...]
    repeat_swipes: Int64Array  # (d,) card readings in the services beyond one per diner
    # each meter's cleaning state at the end of the span (built with meter_starts: chained)
    meter_ends: Mapping[str, WalkState] = field(default_factory=lambda: MappingProxyType({}))
    # chained: what the next date's energy windows hold of this span's last date (Carry)
    carry_out: Carry | None = None


def load_range(site: Site, span: DateRange, margin_ms: int = METER_MARGIN_MS) -> Window:
    """Device-time range to load for `span`: every window of its dates, plus meter margins."""
    first = day_windows(site, span.first).span()
    last = day_windows(site, span.last).span()
    return Window(first.start_ms - margin_ms, last.end_ms + margin_ms)


def _sums_in(
    times: Int64Array, values: Float64Array, starts: Int64Array, ends: Int64Array
) -> Float64Array:
    """Sum of values whose (sorted) time lies in each [start, end)."""
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    return cumulative[np.searchsorted(times, ends)] - cumulative[np.searchsorted(times, starts)]


def _distinct_per_window(
    times: Int64Array, persons: StrArray, starts: Int64Array, ends: Int64Array
) -> Int64Array:
    """Distinct persons per window; windows must be disjoint (diner windows are)."""
    if times.size == 0 or starts.size == 0:
        return np.zeros(starts.shape, dtype=np.int64)
    order = np.argsort(starts, kind="stable")
    sorted_starts, sorted_ends = starts[order], ends[order]
    slot = np.searchsorted(sorted_starts, times, side="right") - 1
    inside = slot >= 0
    inside[inside] &= times[inside] < sorted_ends[slot[inside]]
    if not np.any(inside):
        return np.zeros(starts.shape, dtype=np.int64)
    _, person_code = np.unique(persons[inside], return_inverse=True)
    keys = np.unique(slot[inside].astype(np.int64) * (int(person_code.max()) + 1) + person_code)
    per_sorted = np.bincount(keys // (int(person_code.max()) + 1), minlength=starts.size)
    counts = np.empty(starts.size, dtype=np.int64)
    counts[order] = per_sorted[: starts.size]
    return counts


def build_day_table(
    site: Site,
    span: DateRange,
    readings: SiteReadings,
    duplicates: DuplicateCounts | None = None,
    clock_rule: ClockRule | None = None,
    meter_starts: Mapping[str, WalkState] | None = None,
    carry_in: Carry | None = None,
) -> DayTable:
    """Base quantities of `site` on every date of `span` from readings loaded over load_range
    (device times and receive times both in range), wrong clocks corrected by `clock_rule`
    (default: the site's, `site.kpi.clock`).

    With `meter_starts` (the `meter_ends` of the table of the dates before `span`) the meters'
    cleaning resumes from there instead of starting at the first loaded reading, and the first
    date's energy windows count from its midnight on, plus `carry_in` (the `carry_out` of that
    table) for what lies before; so that tables of consecutive spans built this way, one after
    the other, add up exactly to the table of their whole span built from every reading since
    the first (counters.WalkState)."""
    corrected = correct_clocks(readings, site.kpi.clock if clock_rule is None else clock_rule)
    original, readings = corrected.original, corrected.readings
    days = [day_windows(site, d) for d in span.dates()]
    n_d, n_s = len(days), len(site.services)
    day_start = int_array([w.day.start_ms for w in days])
    day_end = int_array([w.day.end_ms for w in days])

    def service_bounds(pick: str) -> tuple[Int64Array, Int64Array]:
        starts = int_array([[getattr(s, pick).start_ms for s in w.services] for w in days])
        ends = int_array([[getattr(s, pick).end_ms for s in w.services] for w in days])
        return starts.reshape(n_d, n_s), ends.reshape(n_d, n_s)

    # --- food ------------------------------------------------------------------------------
    # raw kitchen bins first become deposits, which then pass the rules of net readings
    derived = derive_deposits(readings.scale, site.kpi.scales)
    checked = check_scales(derived.readings, site.kpi.scales)
    scale = checked.kept
    cards = readings.card
    card_order = np.argsort(cards.time_ms, kind="stable")
    d_start, d_end = service_bounds("diners")
    diners = _distinct_per_window(
        cards.time_ms[card_order], cards.person[card_order], d_start.ravel(), d_end.ravel()
    ).reshape(n_d, n_s)
    swipes = count_in(cards.time_ms[card_order], d_start.ravel(), d_end.ravel())
    repeat_swipes = (swipes.reshape(n_d, n_s) - diners).sum(axis=1).astype(np.int64)

    def stream_arrays(stream: str) -> tuple[Int64Array, Float64Array]:
        mask = scale.stream == stream
        order = np.argsort(scale.time_ms[mask], kind="stable")
        return scale.time_ms[mask][order], scale.mass_g[mask][order]

    plate_t, plate_g = stream_arrays(Stream.PLATE.value)
    clean = (plate_g <= site.clean_plate_threshold_g).astype(np.float64)
    ones = np.ones(plate_t.size, dtype=np.float64)
    p_start, p_end = service_bounds("plate")
    o_start, o_end = service_bounds("overproduction")
    r_start, r_end = service_bounds("prep")
    service_windows = {
        Stream.PLATE.value: (p_start, p_end),
        Stream.PREP.value: (r_start, r_end),
        Stream.OVERPRODUCTION.value: (o_start, o_end),
    }
    service_waste: dict[str, Float64Array] = {}
    day_waste: dict[str, Float64Array] = {}
    for stream in Stream:
        times, masses = stream_arrays(stream.value)
        day_waste[stream.value] = _sums_in(times, masses, day_start, day_end)
        if stream.value in service_windows:
            starts, ends = service_windows[stream.value]
            service_waste[stream.value] = _sums_in(
                times, masses, starts.ravel(), ends.ravel()
            ).reshape(n_d, n_s)

    def counted(values: Float64Array, starts: Int64Array, ends: Int64Array) -> Int64Array:
        return np.rint(_sums_in(plate_t, values, starts, ends)).astype(np.int64)

    trays = counted(ones, p_start.ravel(), p_end.ravel()).reshape(n_d, n_s)
    clean_plates = counted(clean, p_start.ravel(), p_end.ravel()).reshape(n_d, n_s)

    # --- energy ----------------------------------------------------------------------------
    e_start, e_end = service_bounds("energy")
    chained = meter_starts is not None
    if chained:  # the curves begin at the first midnight: the chain carries what lies before
        e_start[0] = np.maximum(e_start[0], day_start[0])
    off_start, off_end, off_day = _off_hours(days)
    energy: dict[str, QuantityTable] = {}
    all_curves: list[MeterCurve] = []
    electricity: list[MeterCurve] = []
    meter_ends: dict[str, WalkState] = {}
    for quantity in QUANTITIES:
        curves, walked = _quantity_curves(
            site, readings, quantity, meter_starts, int(day_start[0]), int(day_end[-1])
        )
        meter_ends.update(walked)
        all_curves.extend(curves)
        if quantity == Quantity.ELECTRICITY.value:
            electricity = curves
        energy[quantity] = _quantity_table(
            curves, e_start, e_end, day_start, day_end, off_start, off_end, off_day, n_d
        )
    # the peak grid starts on the span's first midnight, or whole intervals earlier where the
    # first date's energy windows begin before it (in a one-go build)
    lead_ms = max(0, int(day_start[0]) - int(e_start.min()))
    grid_from = int(day_start[0]) + lead_ms // -PEAK_INTERVAL_MS * PEAK_INTERVAL_MS
    grid = np.arange(grid_from, int(day_end[-1]) + 1, PEAK_INTERVAL_MS, dtype=np.int64)
    power_kw = _power_kw(electricity, grid)
    peak = _highest(power_kw, grid, day_start, day_end)
    service_peak = _highest(power_kw, grid, e_start.ravel(), e_end.ravel()).reshape(n_d, n_s)
    carry_out = None
    if chained:
        # (a carry of another number of services: the date before is sealed under an earlier
        # registry, central/retention.py; its windows are not this registry's)
        if carry_in is not None and carry_in.peak_kw.size == n_s:
            for quantity, part in energy.items():
                used, estimated = part.service_used.copy(), part.service_estimated.copy()
                used[0] += carry_in.used.get(quantity, 0.0)
                estimated[0] += carry_in.estimated.get(quantity, 0.0)
                energy[quantity] = replace(part, service_used=used, service_estimated=estimated)
            service_peak[0] = np.fmax(service_peak[0], carry_in.peak_kw)
        carry_out = _carry_out(
            site, span.last, int(day_start[-1]), int(day_end[-1]), all_curves, power_kw, grid
        )

    # --- quality ---------------------------------------------------------------------------
    events = {
        kind: np.sum(
            [c.event_counts(day_start, day_end)[kind] for c in all_curves]
            or [np.zeros(n_d, dtype=np.int64)],
            axis=0,
        ).astype(np.int64)
        for kind in EVENT_KINDS
    }
    devices = _device_quality(
        site, span, readings, original, duplicates, day_start, day_end, all_curves, derived.events
    )

    return DayTable(
        site=site,
        span=span,
        services=tuple(s.name for s in site.services),
        day_start_ms=day_start,
        day_end_ms=day_end,
        diners=diners,
        trays=trays,
        clean_plates=clean_plates,
        service_waste_g=MappingProxyType(service_waste),
        day_trays=counted(ones, day_start, day_end),
        day_clean_plates=counted(clean, day_start, day_end),
        day_waste_g=MappingProxyType(day_waste),
        energy=MappingProxyType(energy),
        peak_kw=peak,
        service_peak_kw=service_peak,
        meter_events=MappingProxyType(events),
        scale_below_division=count_in(checked.below_division_ms, day_start, day_end),
        scale_above_max=count_in(checked.above_max_ms, day_start, day_end),
        raw_bin_events=MappingProxyType(
            {k: count_in(derived.events[k].time_ms, day_start, day_end) for k in RAW_EVENT_KINDS}
        ),
        devices=devices,
        repeat_swipes=repeat_swipes,
        # a meter silent over the whole span keeps its state for the next one
        meter_ends=MappingProxyType({**(meter_starts or {}), **meter_ends}),
        carry_out=carry_out,
    )


def _quantity_curves(
    site: Site,
    readings: SiteReadings,
    quantity: str,
    meter_starts: Mapping[str, WalkState] | None,
    from_ms: int,
    cut_ms: int,
) -> tuple[list[MeterCurve], Mapping[str, WalkState]]:
    """The cleaned curves of the meters of `quantity` in `readings` (clocks corrected): one walk
    each, or with `meter_starts` each resumed from there over [from_ms, cut_ms) and the state
    it ends with (counters.chained_curves)."""
    meter, configs, exchanges = readings.meter, site.kpi.meters, site.kpi.exchanges
    if meter_starts is None:
        return meter_curves(meter, quantity, configs, exchanges), {}
    return chained_curves(meter, quantity, configs, exchanges, meter_starts, from_ms, cut_ms)


def day_meter_curves(
    site: Site,
    on: date,
    readings: SiteReadings,
    meter_starts: Mapping[str, WalkState] | None = None,
) -> dict[str, list[MeterCurve]]:
    """Per quantity, the cleaned meter curves that `build_day_table` computes local date `on`'s
    energy from, given the same readings and `meter_starts` (the site's clock rule applied):
    what the load curve splits into intervals, so that they add up to the date's figures."""
    corrected = correct_clocks(readings, site.kpi.clock).readings
    day = day_windows(site, on).day
    return {
        q: _quantity_curves(site, corrected, q, meter_starts, day.start_ms, day.end_ms)[0]
        for q in QUANTITIES
    }


def _off_hours(days: list[DayWindows]) -> tuple[Int64Array, Int64Array, Int64Array]:
    """Flattened off-hours windows of every date and the date index of each."""
    starts, ends, index = [], [], []
    for i, w in enumerate(days):
        for part in w.off_hours:
            starts.append(part.start_ms)
            ends.append(part.end_ms)
            index.append(i)
    return int_array(starts), int_array(ends), int_array(index)


def _quantity_table(
    curves: list[MeterCurve],
    e_start: Int64Array,
    e_end: Int64Array,
    day_start: Int64Array,
    day_end: Int64Array,
    off_start: Int64Array,
    off_end: Int64Array,
    off_day: Int64Array,
    n_d: int,
) -> QuantityTable:
    service_used = np.zeros(e_start.shape, dtype=np.float64)
    service_est = np.zeros(e_start.shape, dtype=np.float64)
    day_used = np.zeros(n_d, dtype=np.float64)
    day_est = np.zeros(n_d, dtype=np.float64)
    off_used = np.zeros(n_d, dtype=np.float64)
    for curve in curves:
        used, est = curve.between(e_start.ravel(), e_end.ravel())
        service_used += used.reshape(e_start.shape)
        service_est += est.reshape(e_start.shape)
        used, est = curve.between(day_start, day_end)
        day_used += used
        day_est += est
        used, _ = curve.between(off_start, off_end)
        off_used += np.bincount(off_day, weights=used, minlength=n_d)
    return QuantityTable(
        present=bool(curves),
        service_used=service_used,
        service_estimated=service_est,
        day_used=day_used,
        day_estimated=day_est,
        off_hours_used=off_used,
    )


def _power_kw(curves: list[MeterCurve], grid: Int64Array) -> Float64Array | None:
    """Average power of the summed curves over each interval of `grid` (E9), kW; None without
    a curve."""
    if not curves:
        return None
    total = np.zeros(grid.shape, dtype=np.float64)
    for curve in curves:
        total += curve.at(grid)[0]
    power: Float64Array = np.diff(total) / (PEAK_INTERVAL_MS / 3_600_000)
    return power


def _highest(
    power_kw: Float64Array | None, grid: Int64Array, a: Int64Array, b: Int64Array
) -> Float64Array:
    """E9 of each window [a, b): the highest average power of the grid's 15-minute intervals
    that start in it; NaN without a curve or without such an interval."""
    if power_kw is None:
        return np.full(a.shape, np.nan)
    starts = grid[:-1]
    lo = np.searchsorted(starts, a, side="left")
    hi = np.searchsorted(starts, b, side="left")
    return np.array(
        [float(power_kw[i:j].max()) if j > i else np.nan for i, j in zip(lo, hi, strict=True)]
    )


def _carry_out(
    site: Site,
    last: date,
    day_start_ms: int,
    day_end_ms: int,
    curves: list[MeterCurve],
    power_kw: Float64Array | None,
    grid: Int64Array,
) -> Carry | None:
    """What the energy windows of the date after `last` hold before its midnight, on the
    curves of `last` ([day_start_ms, day_end_ms)); None when no window reaches back, or they
    hold nothing there (no curve, or flat curves: adding nothing, and a peak of 0 kW, changes
    no figure of the next date, whose own part of each window has an interval and a curve
    whenever this date has one). A window reaching back beyond `last` itself (a preparation
    of more than a day's length, on a short DST date) is cut at its start."""
    starts = int_array([s.energy.start_ms for s in day_windows(site, last + timedelta(1)).services])
    if not curves or not np.any(starts < day_end_ms):
        return None
    a = np.clip(starts, day_start_ms, day_end_ms)
    b = np.full(a.shape, day_end_ms, dtype=np.int64)
    used: dict[str, Float64Array] = {}
    estimated: dict[str, Float64Array] = {}
    for curve in curves:
        u, e = curve.between(a, b)
        used[curve.quantity] = used.get(curve.quantity, 0.0) + u
        estimated[curve.quantity] = estimated.get(curve.quantity, 0.0) + e
    peak_kw = _highest(power_kw, grid, a, b)
    held = [v for part in (used, estimated) for v in part.values()]
    if not any(np.any(v > 0) for v in held) and not np.any(peak_kw > 0):
        return None
    return Carry(
        used=MappingProxyType(used),
        estimated=MappingProxyType(estimated),
        peak_kw=peak_kw,
    )


def _device_quality(
    site: Site,
    span: DateRange,
    readings: SiteReadings,
    original: SiteReadings,
    duplicates: DuplicateCounts | None,
    day_start: Int64Array,
    day_end: Int64Array,
    curves: list[MeterCurve],
    raw_events: Mapping[str, RawEvents],
) -> tuple[DeviceQuality, ...]:
    day_s = (day_end - day_start) // 1000
    dates = [d.isoformat() for d in span.dates()]
    date_index = {d: i for i, d in enumerate(dates)}
    dup_of: dict[str, Int64Array] = {}
    if duplicates is not None:
        for device, local_date, count in zip(
            duplicates.device.tolist(),
            duplicates.local_date.tolist(),
            duplicates.duplicates.tolist(),
            strict=True,
        ):
            i = date_index.get(local_date)
            if i is not None:
                dup_of.setdefault(device, np.zeros(len(dates), dtype=np.int64))[i] += count
    by_device = {(kind, device): (t, r) for kind, device, t, r in readings.devices()}
    sent = {(kind, device): t for kind, device, t, _ in original.devices()}
    known = set(by_device) | {("meter", d) for d in site.kpi.meters}
    known |= {("scale", d) for d in site.kpi.scales}
    names = {device for _, device in known}
    known |= {("unknown", d) for d in dup_of if d not in names}  # duplicates only, no reading
    events_of = {c.device: c.event_counts(day_start, day_end) for c in curves}
    raw_bins = set(np.unique(readings.scale.device[readings.scale.is_raw]).tolist())

    def raw_counts(device: str) -> Mapping[str, Int64Array]:
        return MappingProxyType(
            {
                kind: count_in(
                    raw_events[kind].time_ms[raw_events[kind].device == device], day_start, day_end
                )
                for kind in RAW_EVENT_KINDS
            }
        )

    out = []
    for kind, device in sorted(known):
        times, received_ms = by_device.get((kind, device), (int_array(), int_array()))
        sent_ms = sent.get((kind, device), int_array())
        order = np.argsort(times, kind="stable")
        times, skew, received_ms = times[order], (sent_ms - received_ms)[order], received_ms[order]
        fixed = times[times != sent_ms[order]]
        expected = None
        if kind == "meter":
            expected = (day_s // site.kpi.meter(device).interval_s).astype(np.int64)
        out.append(
            DeviceQuality(
                kind=kind,
                device=device,
                received=count_in(times, day_start, day_end),
                expected=expected,
                duplicates=dup_of.get(device, np.zeros(len(dates), dtype=np.int64)),
                time_ms=times,
                received_ms=received_ms,
                skew=SkewHistograms.of_samples(skew, times, day_start, day_end),
                clock_corrected=count_in(fixed, day_start, day_end),
                events=MappingProxyType(events_of[device])
                if kind == "meter" and device in events_of
                else None,
                raw_events=raw_counts(device) if kind == "scale" and device in raw_bins else None,
            )
        )
    return tuple(out)
