"""Series central derives from the readings for dashboards (Grafana on the `influxdb` store).

Per site: meals per service (distinct diners, trays, clean plates), waste per stream and local
date, and the consumption of each meter between consecutive readings (kWh or m3, with the part
that rests on a gap spread pro rata: `estimated`). They are computed by the KPI code from the
stored readings (central.kpi.daytable, central.kpi.counters: clocks corrected, resets, wraps,
spikes and gaps cleaned), never the other way round: KPIs are always computed from readings.

After each stored batch, the dates the batch touches are recomputed from everything stored for
them and written again: a late reading changes its service's meals, its date's waste and the
meter intervals on both sides of it. Each derived value has a fixed series key and timestamp
(a service's start, a date's midnight, an interval's end reading), so writing it again
overwrites it (docs/influxdb.md, "Derived series").
"""

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np

from central.kpi.clocks import attributed_instant_ms, correct_clocks
from central.kpi.counters import MeterCurve, meter_curves
from central.kpi.daytable import QUANTITIES, DayTable, build_day_table
from central.kpi.periods import DateRange
from central.kpi.windows import day_windows
from central.registry import Site
from central.reporting import load_site_readings
from central.store import ClockTrusted, ReadingsStore
from contract import MeterRecord, ReadingRecord, Stream


@dataclass(frozen=True, slots=True)
class ServiceMeals:
    """One meal service of one date: docs/domain.md F7 (diners) and the plate counts."""

    service: str
    start_ms: int  # the service's start (its diner window)
    diners: int
    trays: int
    clean_plates: int


@dataclass(frozen=True, slots=True)
class StreamWaste:
    """Food waste of one stream on one local date, grams."""

    stream: str
    start_ms: int  # the local date's 00:00
    mass_g: float


@dataclass(frozen=True, slots=True)
class MeterInterval:
    """Consumption of one meter between two consecutive kept readings (attributed times)."""

    device: str
    quantity: str  # electricity (kWh), gas or water (m3)
    start_ms: int
    end_ms: int
    used: float  # canonical unit of the quantity
    estimated: float  # the part spread over a gap (<= used)


@dataclass(frozen=True, slots=True)
class DerivedSeries:
    """What is written for `site` over `span`."""

    site: str
    span: DateRange
    meals: tuple[ServiceMeals, ...]
    waste: tuple[StreamWaste, ...]
    intervals: tuple[MeterInterval, ...]

    def __len__(self) -> int:
        return len(self.meals) + len(self.waste) + len(self.intervals)


@runtime_checkable
class DerivedSeriesSink(Protocol):
    """A store that keeps derived series besides the readings (the `influxdb` store)."""

    async def write_derived(self, series: DerivedSeries) -> None:
        """Write (overwrite) the series; return once durable, else raise StoreUnavailable."""
        ...


def attributed_instants_ms(
    site: Site, readings: Sequence[ReadingRecord], trusted: Collection[ClockTrusted] = ()
) -> list[int]:
    """The instant each of a batch's readings is attributed to: wrong clocks by receive time,
    clock-trusted late readings (`trusted`: as the store judged them, WriteOutcome) by device
    time."""
    rule = site.kpi.clock
    keys = {(t.device, t.boot, t.seq) for t in trusted}
    return [
        r.device_time_ms
        if (r.device, r.boot, r.seq) in keys
        else attributed_instant_ms(r.device_time_ms, r.received_ms, rule)
        for r in readings
    ]


def touched_dates(
    site: Site, readings: Sequence[ReadingRecord], trusted: Collection[ClockTrusted] = ()
) -> DateRange | None:
    """Local dates a batch's readings are attributed to (see attributed_instants_ms), and
    those of the stored readings it made clock-trusted (in `trusted`, not in `readings`)."""
    instants = attributed_instants_ms(site, readings, trusted) + [
        t.device_time_ms for t in _stored_only(readings, trusted)
    ]
    if not instants:
        return None
    days = [datetime.fromtimestamp(at_ms / 1000, site.timezone).date() for at_ms in instants]
    return DateRange(min(days), max(days))


def _stored_only(
    readings: Sequence[ReadingRecord], trusted: Collection[ClockTrusted]
) -> list[ClockTrusted]:
    sent = {(r.device, r.boot, r.seq) for r in readings}
    return [t for t in trusted if (t.device, t.boot, t.seq) not in sent]


async def derive(
    store: ReadingsStore,
    site: Site,
    span: DateRange,
    meter_times: Mapping[str, Sequence[int]] | None = None,
) -> DerivedSeries:
    """The derived series of `site` over `span`, from the readings stored now.

    With `meter_times` (device -> attributed times of a batch's meter readings), only the meter
    intervals those readings can change are given: the one ending at each and the one after it.
    """
    readings = await load_site_readings(store, site, span)
    table = build_day_table(site, span, readings)
    corrected = correct_clocks(readings, site.kpi.clock).readings
    curves = [
        curve
        for quantity in QUANTITIES
        for curve in meter_curves(corrected.meter, quantity, site.kpi.meters, site.kpi.exchanges)
    ]
    first_ms, end_ms = int(table.day_start_ms[0]), int(table.day_end_ms[-1])
    return DerivedSeries(
        site=site.id,
        span=span,
        meals=_meals(site, table),
        waste=_waste(table),
        intervals=tuple(
            i
            for c in curves
            for i in _intervals(
                c, first_ms, end_ms, None if meter_times is None else meter_times.get(c.device, ())
            )
        ),
    )


def _meals(site: Site, table: DayTable) -> tuple[ServiceMeals, ...]:
    out = []
    for d, local_date in enumerate(table.span.dates()):
        for s, windows in enumerate(day_windows(site, local_date).services):
            out.append(
                ServiceMeals(
                    service=windows.service,
                    start_ms=windows.diners.start_ms,
                    diners=int(table.diners[d, s]),
                    trays=int(table.trays[d, s]),
                    clean_plates=int(table.clean_plates[d, s]),
                )
            )
    return tuple(out)


def _waste(table: DayTable) -> tuple[StreamWaste, ...]:
    return tuple(
        StreamWaste(stream.value, int(table.day_start_ms[d]), float(table.day_waste_g[stream][d]))
        for d in range(table.day_start_ms.size)
        for stream in Stream
    )


def _intervals(
    curve: MeterCurve, first_ms: int, end_ms: int, only: Sequence[int] | None = None
) -> list[MeterInterval]:
    """Intervals of the curve ending in [first_ms, end_ms), and the one ending at the first
    reading at or after end_ms: those a reading of the span can change. With `only`, just the
    intervals ending or starting at one of those times."""
    times = curve.time_ms
    if times.size < 2:
        return []
    # readings at one instant end one interval (a timestamp is a point's identity)
    ends = np.unique(times)
    last_at = np.searchsorted(times, ends, side="right") - 1  # C at an instant: its last reading
    stop = min(int(np.searchsorted(ends, end_ms, side="left")) + 1, ends.size)
    k = np.arange(1, stop)
    k = k[ends[k] >= first_ms]
    if only is not None:
        wanted = np.asarray(only, dtype=np.int64)
        k = k[np.isin(ends[k], wanted) | np.isin(ends[k - 1], wanted)]
    used = np.maximum(curve.consumption[last_at[k]] - curve.consumption[last_at[k - 1]], 0.0)
    estimated = np.maximum(curve.estimated[last_at[k]] - curve.estimated[last_at[k - 1]], 0.0)
    return [
        MeterInterval(curve.device, curve.quantity, int(start), int(end), float(u), float(e))
        for start, end, u, e in zip(
            ends[k - 1].tolist(), ends[k].tolist(), used.tolist(), estimated.tolist(), strict=True
        )
    ]


async def refresh_derived(
    store: ReadingsStore,
    sink: DerivedSeriesSink,
    site: Site,
    readings: Sequence[ReadingRecord],
    trusted: Collection[ClockTrusted] = (),
) -> int:
    """Recompute and write the derived series of the dates a batch touched (its duplicates
    too: a resent batch whose first derived write failed must repair it), with the clock
    verdicts the store gave (`trusted`, WriteOutcome.clock_trusted, stored readings the batch
    made clock-trusted included): meals and waste of those dates, and the meter intervals on
    both sides of its meter readings. Points written."""
    span = touched_dates(site, readings, trusted)
    if span is None:
        return 0
    meter_times: dict[str, list[int]] = {}
    for r, at_ms in zip(readings, attributed_instants_ms(site, readings, trusted), strict=True):
        if isinstance(r, MeterRecord):
            meter_times.setdefault(r.device, []).append(at_ms)
    for t in _stored_only(readings, trusted):
        if t.kind == "meter":
            meter_times.setdefault(t.device, []).append(t.device_time_ms)
    series = await derive(store, site, span, meter_times)
    await sink.write_derived(series)
    return len(series)


__all__ = [
    "DerivedSeries",
    "DerivedSeriesSink",
    "MeterInterval",
    "ServiceMeals",
    "StreamWaste",
    "derive",
    "refresh_derived",
    "touched_dates",
]
