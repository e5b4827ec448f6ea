"""Diner forecasts and production recommendations of a site, from its report rows in the store.

The history is the per-service rows of central.reporting.report (the one KPI pipeline): diners,
plate waste and overproduction per service and local date; the models are pure
(central.kpi.forecast, central.kpi.production).
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

import numpy as np

from central.kpi.forecast import HISTORY_DAYS, ForecastPoint, History, forecast_service
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.production import Actual, Recommendation, WasteHistory, recommend
from central.registry import Site
from central.reporting import report
from central.store import ReadingsStore
from contract.workcalendar import WorkCalendar


@dataclass(frozen=True, slots=True)
class ServiceHistory:
    diners: History
    waste: WasteHistory


async def service_histories(
    store: ReadingsStore, site: Site, span: DateRange, now_ms: int
) -> dict[str, ServiceHistory]:
    """Each service's diners, plate waste and overproduction on every date of `span`."""
    result = await report(store, [site], PeriodKind.CUSTOM, span, Granularity.SERVICE, now_ms)
    index = {on: i for i, on in enumerate(span.dates())}
    n = span.days
    # NaN: a date without any reading (missing, not 0 diners: docs/kpis.md)
    columns = {
        s.name: {k: np.full(n, np.nan) for k in ("diners", "plate", "over")} for s in site.services
    }
    for row in result.rows:
        if row.service is None or row.service not in columns:
            continue
        at = index[row.first]
        for key, kpi in (
            ("diners", "diners"),
            ("plate", "plate_waste_g"),
            ("over", "overproduction_waste_g"),
        ):
            value = row.kpis[kpi].value
            columns[row.service][key][at] = np.nan if value is None else value
    return {
        name: ServiceHistory(
            History(span.first, c["diners"]), WasteHistory(c["diners"], c["plate"], c["over"])
        )
        for name, c in columns.items()
    }


def history_before(first: date, today: date, days: int = HISTORY_DAYS) -> DateRange:
    """The history a forecast from `first` reads: the `days` complete dates before it, so never
    today (its services still to come would count as a day of few diners)."""
    last = min(first, today) - timedelta(days=1)
    return DateRange(last - timedelta(days=days - 1), last)


async def forecast(
    store: ReadingsStore,
    site: Site,
    dates: Sequence[date],
    today: date,
    now_ms: int,
    calendar: WorkCalendar,
) -> dict[str, list[ForecastPoint]]:
    """Diners per service on `dates` (consecutive, after the history: history_before)."""
    span = history_before(dates[0], today)
    histories = await service_histories(store, site, span, now_ms)
    return {
        name: forecast_service(h.diners, name, dates, site.diner_overrides, calendar)
        for name, h in histories.items()
    }


async def production(
    store: ReadingsStore,
    site: Site,
    on: date,
    today: date,
    now_ms: int,
    calendar: WorkCalendar,
) -> list[Recommendation]:
    """The recommendation of each service on `on`; beside it the actual day when `on` is past."""
    span = history_before(on, today)
    histories = await service_histories(store, site, span, now_ms)
    actuals: dict[str, Actual] = {}
    if on < today:
        day = await service_histories(store, site, DateRange(on, on), now_ms)
        for name, h in day.items():
            if np.isnan(h.waste.diners[0]):
                continue  # nothing measured that day: no outcome to compare with
            actuals[name] = Actual(
                diners=float(h.waste.diners[0]),
                plate_kg=float(h.waste.plate_g[0]) / 1000,
                overproduction_kg=float(h.waste.overproduction_g[0]) / 1000,
            )
    out = []
    for service in site.services:
        h = histories[service.name]
        (point,) = forecast_service(h.diners, service.name, [on], site.diner_overrides, calendar)
        out.append(recommend(point, service.portion_g, h.waste, actuals.get(service.name)))
    return out
