"""Series central derives from the readings for dashboards (Grafana on the `influxdb` store).

Per site: meals per service (distinct diners, trays, clean plates), waste per stream and local
date, and the consumption of each meter between consecutive readings (kWh or m3, with the part
that rests on a gap spread pro rata: `estimated`). They are computed by the KPI code from the
stored readings (central.kpi.daytable, central.kpi.counters: clocks corrected, resets, wraps,
spikes and gaps cleaned), never the other way round: KPIs are always computed from readings.

The rollup maintainer writes them for each date it rolls up (central.reporting.build_date_rollup),
from the readings it loaded for the rollup and the rollup itself, so ingest loads no readings:
a late reading makes its dates pending, and their rebuild writes its service's meals, its date's
waste and the meter intervals around it again. Each derived value has a fixed series key and
timestamp (a service's start, a date's midnight, an interval's end reading), so writing it again
overwrites it (docs/influxdb.md, "Derived series").
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from central.kpi.clocks import correct_clocks
from central.kpi.counters import MeterCurve, meter_curves
from central.kpi.daytable import QUANTITIES, DayTable, build_day_table
from central.kpi.periods import DateRange
from central.kpi.readings import SiteReadings
from central.kpi.windows import day_windows
from central.registry import Site
from contract import Stream


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

    derived_series: bool  # whether to write them (CENTRAL_INFLUX_DERIVED_SERIES)

    async def write_derived(self, series: DerivedSeries) -> None:
        """Write (overwrite) the series; return once durable, else raise StoreUnavailable."""
        ...


def derive(
    site: Site,
    span: DateRange,
    readings: SiteReadings,
    table: DayTable | None = None,
    curves: Sequence[MeterCurve] | None = None,
) -> DerivedSeries:
    """The derived series of `site` over `span` from the readings loaded for it
    (central.reporting.load_site_readings, or a rollup's load), their day table and meter
    curves (built from the readings when not given; a rollup gives its own: its composed table
    and the curves its walk resumed from the date before, so that the series add up to its
    figures)."""
    if table is None:
        table = build_day_table(site, span, readings)
    if curves is None:
        corrected = correct_clocks(readings, site.kpi.clock).readings
        curves = [
            curve
            for quantity in QUANTITIES
            for curve in meter_curves(
                corrected.meter, quantity, site.kpi.meters, site.kpi.exchanges
            )
        ]
    first_ms, end_ms = int(table.day_start_ms[0]), int(table.day_end_ms[-1])
    return DerivedSeries(
        site=site.id,
        span=span,
        meals=_meals(site, table),
        waste=_waste(table),
        intervals=tuple(i for c in curves for i in _intervals(c, first_ms, end_ms)),
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


def _intervals(curve: MeterCurve, first_ms: int, end_ms: int) -> list[MeterInterval]:
    """Intervals of the curve ending in [first_ms, end_ms), and the one ending at the first
    reading at or after end_ms: those a reading of the span can change (the one across the
    span's end is written by the next date's rollup too, with the same value)."""
    times = curve.time_ms
    if times.size < 2:
        return []
    # readings at one instant end one interval (a timestamp is a point's identity)
    ends = np.unique(times)
    last_at = np.searchsorted(times, ends, side="right") - 1  # C at an instant: its last reading
    stop = min(int(np.searchsorted(ends, end_ms, side="left")) + 1, ends.size)
    k = np.arange(1, stop)
    k = k[ends[k] >= first_ms]
    used = np.maximum(curve.consumption[last_at[k]] - curve.consumption[last_at[k - 1]], 0.0)
    estimated = np.maximum(curve.estimated[last_at[k]] - curve.estimated[last_at[k - 1]], 0.0)
    return [
        MeterInterval(curve.device, curve.quantity, int(start), int(end), float(u), float(e))
        for start, end, u, e in zip(
            ends[k - 1].tolist(), ends[k].tolist(), used.tolist(), estimated.tolist(), strict=True
        )
    ]


__all__ = [
    "DerivedSeries",
    "DerivedSeriesSink",
    "MeterInterval",
    "ServiceMeals",
    "StreamWaste",
    "derive",
]
