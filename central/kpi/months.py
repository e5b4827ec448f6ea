"""Summaries of a site's dates: what long periods are read from (one per whole month).

A summary holds the additive totals of a run of a site's dates (central.kpi.totals.Totals of
the dates: sums, per device too, and each device's clock-skew histogram with its bins merged),
built from the dates' rollup entries (central.kpi.rollup), never from readings. A period's row
is the sum of the summaries of its parts (its whole months, stored per site and month, and the
partial months at its ends, summarised from their dates on read), so composition is exact by
construction: sums add (in another order than a one-date-after-another sum: equal up to float
rounding), histogram counts add, maxima take the maximum.

What depends on the moment of the read or on the whole period is applied when the parts are
summed, as for a composed table (central.kpi.report): each meter's expected readings (from the
dates' bounds, the meter's start over the whole period and now), the quota times the elapsed
share, the baseline, floor area, staff, prices and factors (the site's configuration now; a
summary is built for one configuration, `config_key`). The peak demand keeps, per summary, the
highest stored peak of the dates with an electricity curve and of those without, since a
period that has both clamps the latter to 0 kW (central.kpi.rollup `compose`).
"""

import itertools
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from central.kpi.counters import EVENT_KINDS
from central.kpi.daytable import QUANTITIES
from central.kpi.periods import DateRange
from central.kpi.rawbins import RAW_EVENT_KINDS
from central.kpi.readings import Int64Array
from central.kpi.report import device_start_ms, expected_slots, row_quota
from central.kpi.rollup import compose, stored_peaks
from central.kpi.totals import (
    NAN,
    STREAMS,
    DeviceTotals,
    Totals,
    energy_and_food,
    site_fields,
    site_totals_many,
)
from central.registry import Site

# Bump when the summary layout or what it sums changes: stored summaries of another are rebuilt.
SUMMARY_LAYOUT = 2


@dataclass(frozen=True, slots=True)
class DatesSummary:
    """The additive totals of a site's dates `span` (module docstring)."""

    span: DateRange
    day_start_ms: Int64Array
    day_end_ms: Int64Array
    totals: Totals  # of the dates; expected readings of whole dates, no quota nor baseline
    first_ms: Mapping[str, int]  # per meter with a reading: the start of its first such date
    peak_curve_kw: float  # highest stored peak of the dates with an electricity curve (or NaN)
    peak_flat_kw: float  # ... of the dates without one
    any_curve: bool
    any_flat: bool


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


def _max(values: Sequence[float]) -> float:
    present = [v for v in values if not math.isnan(v)]
    return max(present) if present else NAN


def summarise(site: Site, span: DateRange, entries: Sequence[bytes]) -> DatesSummary | None:
    """The summary of `span` from its dates' rollup entries (one per date, in order, chained),
    or None when they do not compose (peak grids that do not line up: central.kpi.rollup)."""
    table = compose(site, span, entries)
    if table is None:
        return None
    (totals,) = site_totals_many(table, [(0, span.days)], device_skews=False)
    peaks, flat = stored_peaks(site, entries)
    first_ms = {
        d.device: int(d.time_ms[0]) for d in table.devices if d.kind == "meter" and d.time_ms.size
    }
    return DatesSummary(
        span=span,
        day_start_ms=table.day_start_ms,
        day_end_ms=table.day_end_ms,
        totals=totals,
        first_ms=first_ms,
        peak_curve_kw=_max(peaks[~flat].tolist()),
        peak_flat_kw=_max(peaks[flat].tolist()),
        any_curve=bool(np.any(~flat)),
        any_flat=bool(np.any(flat)),
    )


def _nansum(values: Sequence[float]) -> float:
    """A sum of parts where NaN is "no meter in this part": NaN only when no part has one."""
    present = [v for v in values if not math.isnan(v)]
    return math.fsum(present) if present else NAN


def _merged_devices(
    site: Site,
    parts: Sequence[DatesSummary],
    starts: Int64Array,
    ends: Int64Array,
    now_ms: int,
    report_parts: Sequence[DatesSummary],
) -> tuple[DeviceTotals, ...]:
    """Every device of the parts, as a table composed of all their dates lists them (sorted by
    kind and id; a device of kind "unknown" on some dates, known on others, is the known one,
    with its duplicate counts), with each meter's expected readings over the whole span."""
    by_key: dict[tuple[str, str], list[DeviceTotals]] = {}
    for part in parts:
        for d in part.totals.devices:
            by_key.setdefault((d.kind, d.device), []).append(d)
    known = {device for kind, device in by_key if kind != "unknown"}
    unknown_dups = {
        device: sum(d.duplicates for d in each)
        for (kind, device), each in by_key.items()
        if kind == "unknown" and device in known
    }
    day_s = (ends - starts) // 1000
    out = []
    for (kind, device), each in sorted(by_key.items()):
        if kind == "unknown" and device in known:
            continue
        expected = None
        if kind == "meter":
            firsts = [p.first_ms[device] for p in report_parts if device in p.first_ms]
            time_ms = np.array(firsts[:1], dtype=np.int64)
            begin = device_start_ms(site, device, time_ms)
            interval_s = site.kpi.meter(device).interval_s
            whole = (day_s // interval_s).astype(np.int64)
            slots = expected_slots(starts, ends, whole, begin, now_ms, interval_s * 1000)
            expected = int(slots.sum())
        events = [d.events for d in each if d.events is not None]
        raw = [d.raw_events for d in each if d.raw_events is not None]
        out.append(
            DeviceTotals(
                kind=kind,
                device=device,
                received=sum(d.received for d in each),
                expected=expected,
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
    report_parts: Sequence[DatesSummary] | None = None,
) -> Totals:
    """The totals of `span`'s whole-date row at now_ms from the summaries of its parts (each
    date of the span in exactly one, in date order): what `report.period_totals` gives from
    the table composed of every date, up to float rounding of the sums. A row of a longer
    report (a month of a year) passes the report's parts as `report_parts`: a meter's expected
    readings start at its first reading in the report's dates, as with a composed table."""
    if not parts or parts[0].span.first != span.first or parts[-1].span.last != span.last:
        raise ValueError(f"summaries of {[p.span for p in parts]} do not cover {span}")
    for before, after in itertools.pairwise(parts):
        if after.span.first != before.span.last + timedelta(days=1):
            raise ValueError(f"summaries of {before.span} and {after.span} are not consecutive")
    starts = np.concatenate([p.day_start_ms for p in parts])
    ends = np.concatenate([p.day_end_ms for p in parts])
    each = [p.totals for p in parts]
    waste = {s: math.fsum(t.waste_g[s] for t in each) for s in STREAMS}
    used = {q: _nansum([t.used[q] for t in each]) for q in QUANTITIES}
    estimated = {q: _nansum([t.estimated[q] for t in each]) for q in QUANTITIES}
    off = {q: _nansum([t.off_hours[q] for t in each]) for q in QUANTITIES}
    curve = _max([p.peak_curve_kw for p in parts])
    flat = _max([p.peak_flat_kw for p in parts])
    if any(p.any_curve for p in parts) and any(p.any_flat for p in parts):
        peak = _max([curve, 0.0])  # the flat dates' curve is clamped: 0 kW (rollup.compose)
    else:
        peak = _max([curve, flat])
    devices = _merged_devices(site, parts, starts, ends, now_ms, report_parts or parts)
    quota_kgce, quota_reason = row_quota(site.kpi, span, int(starts[0]), int(ends[-1]), now_ms)
    n_days, n_services = span.days, len(site.services)
    return Totals(
        **site_fields(site, baseline),
        **energy_and_food(site, waste, used, estimated, off, False),
        days=n_days,
        service_slots=n_days * n_services,
        staff_slots=float(site.registered_staff * n_days * n_services),
        meals=sum(t.meals for t in each),
        trays=sum(t.trays for t in each),
        clean_plates=sum(t.clean_plates for t in each),
        waste_g=waste,
        used=used,
        estimated=estimated,
        off_hours=off,
        peak_kw=peak,
        quota_kgce=quota_kgce,
        quota_reason=quota_reason,
        readings=sum(d.received for d in devices),
        meter_received=sum(d.received for d in devices if d.kind == "meter"),
        meter_expected=sum(d.expected for d in devices if d.expected is not None),
        duplicates=sum(d.duplicates for d in devices),
        events={k: sum(t.events[k] for t in each) for k in EVENT_KINDS},
        scale_below_division=sum(t.scale_below_division for t in each),
        scale_above_max=sum(t.scale_above_max for t in each),
        raw_bin_events={k: sum(t.raw_bin_events.get(k, 0) for t in each) for k in RAW_EVENT_KINDS},
        repeat_swipes=sum(t.repeat_swipes for t in each),
        devices=devices,
    )


def _histogram(keys: Int64Array, counts: Int64Array) -> tuple[list[int], list[int]]:
    """A histogram's bins with equal keys merged (their counts add), as lists."""
    merged, at = np.unique(keys, return_inverse=True)
    sums = np.bincount(at, weights=counts, minlength=merged.size).astype(np.int64)
    out: tuple[list[int], list[int]] = (merged.tolist(), sums.tolist())
    return out


def summary_bytes(summary: DatesSummary) -> bytes:
    """A summary as deterministic JSON bytes (floats round-trip exactly; NaN as NaN), what
    the store keeps per site and month; `parse_summary` reads it back."""
    t = summary.totals
    devices = []
    bin_keys: list[int] = []
    bin_counts: list[int] = []
    for d in t.devices:
        keys, counts = _histogram(d.skew_keys, d.skew_counts)
        bin_keys += keys
        bin_counts += counts
        devices.append(
            [d.kind, d.device, d.received, d.expected, d.duplicates, d.clock_corrected,
             None if d.events is None else [d.events[k] for k in EVENT_KINDS],
             None if d.raw_events is None else [d.raw_events[k] for k in RAW_EVENT_KINDS],
             len(keys)]
        )  # fmt: skip
    body = {
        "layout": SUMMARY_LAYOUT,
        "span": [summary.span.first.isoformat(), summary.span.last.isoformat()],
        "starts": summary.day_start_ms.tolist(),
        "ends": summary.day_end_ms.tolist(),
        "first_ms": dict(sorted(summary.first_ms.items())),
        "peaks": [summary.peak_curve_kw, summary.peak_flat_kw, summary.any_curve, summary.any_flat],
        "counts": [t.meals, t.trays, t.clean_plates, t.scale_below_division, t.scale_above_max,
                   t.repeat_swipes],
        "waste_g": [t.waste_g[s] for s in STREAMS],
        "energy": [[t.used[q], t.estimated[q], t.off_hours[q]] for q in QUANTITIES],
        "events": [t.events[k] for k in EVENT_KINDS],
        "raw_bin_events": [t.raw_bin_events.get(k, 0) for k in RAW_EVENT_KINDS],
        "devices": devices,  # each with its number of skew bins, in `bins` device after device
        "bins": [bin_keys, bin_counts],
    }  # fmt: skip
    return json.dumps(body, separators=(",", ":")).encode()


class SummaryLayoutError(ValueError):
    """A stored summary of another layout: rebuild it from its dates' entries."""


def parse_summary(site: Site, blob: bytes) -> DatesSummary:
    """The summary of `summary_bytes`, for `site` (its configuration when it was built)."""
    body = json.loads(blob)
    if body.get("layout") != SUMMARY_LAYOUT:
        raise SummaryLayoutError(
            f"month summary of layout {body.get('layout')}; this version reads {SUMMARY_LAYOUT}"
        )
    first, last = (date.fromisoformat(d) for d in body["span"])
    meals, trays, clean, below, above, repeats = body["counts"]
    # every device's skew bins in one array each; a device's are a view of its slice
    bin_keys, bin_counts = (np.array(b, dtype=np.int64) for b in body["bins"])
    devices = []
    at = 0
    for kind, device, received, expected, dups, corrected, events, raw, n_bins in body["devices"]:
        devices.append(
            DeviceTotals(
                kind=kind,
                device=device,
                received=received,
                expected=expected,
                duplicates=dups,
                skew_keys=bin_keys[at : at + n_bins],
                skew_counts=bin_counts[at : at + n_bins],
                clock_corrected=corrected,
                events=None if events is None else dict(zip(EVENT_KINDS, events, strict=True)),
                raw_events=None if raw is None else dict(zip(RAW_EVENT_KINDS, raw, strict=True)),
            )
        )
        at += n_bins
    energy = dict(zip(QUANTITIES, body["energy"], strict=True))
    waste = dict(zip(STREAMS, body["waste_g"], strict=True))
    used = {q: float(v[0]) for q, v in energy.items()}
    estimated = {q: float(v[1]) for q, v in energy.items()}
    off = {q: float(v[2]) for q, v in energy.items()}
    n_days = (last - first).days + 1
    totals = Totals(
        **site_fields(site, None),
        **energy_and_food(site, waste, used, estimated, off, False),
        days=n_days,
        service_slots=n_days * len(site.services),
        staff_slots=float(site.registered_staff * n_days * len(site.services)),
        meals=meals,
        trays=trays,
        clean_plates=clean,
        waste_g=waste,
        used=used,
        estimated=estimated,
        off_hours=off,
        peak_kw=NAN,  # of the summary's peak fields
        quota_kgce=NAN,
        quota_reason=None,
        readings=sum(d.received for d in devices),
        meter_received=sum(d.received for d in devices if d.kind == "meter"),
        meter_expected=sum(d.expected for d in devices if d.expected is not None),
        duplicates=sum(d.duplicates for d in devices),
        events=dict(zip(EVENT_KINDS, body["events"], strict=True)),
        scale_below_division=below,
        scale_above_max=above,
        raw_bin_events=dict(zip(RAW_EVENT_KINDS, body["raw_bin_events"], strict=True)),
        repeat_swipes=repeats,
        devices=tuple(devices),
    )
    curve, flat, any_curve, any_flat = body["peaks"]
    return DatesSummary(
        span=DateRange(first, last),
        day_start_ms=np.array(body["starts"], dtype=np.int64),
        day_end_ms=np.array(body["ends"], dtype=np.int64),
        totals=totals,
        first_ms=body["first_ms"],
        peak_curve_kw=float(curve),
        peak_flat_kw=float(flat),
        any_curve=bool(any_curve),
        any_flat=bool(any_flat),
    )
