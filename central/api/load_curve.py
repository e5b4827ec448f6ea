"""GET /api/v1/sites/{site}/load-curve: 15-minute energy per quantity over one local day.

Read tokens (issue 4) will be added to this router as a dependency.
"""

from datetime import datetime
from typing import Annotated, Literal
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Query
from fastapi.responses import Response

from central.api.csv_export import Column, CsvQuery, LangQuery, Table, csv_response
from central.api.dashboard_schemas import LoadCurveOut, QuantityCurveOut, ServiceSpanOut
from central.api.deps import NowDep, RegistryDep, StoreDep
from central.api.errors import UnknownSite
from central.api.kpi_schemas import rollups_out
from central.api.schemas import ErrorDetail
from central.api.sites import parse_local_date
from central.kpi.daytable import QUANTITIES
from central.kpi.loadcurve import DEFAULT_INTERVAL_MS, LoadCurve, load_curve
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.windows import day_windows
from central.reporting import day_curves, report
from contract import Quantity

router = APIRouter(tags=["sites"])

_UNITS = {Quantity.ELECTRICITY.value: "kWh", Quantity.GAS.value: "m3", Quantity.WATER.value: "m3"}
_HOURS_PER_INTERVAL = DEFAULT_INTERVAL_MS / 3_600_000


def _local(ms: int, zone: ZoneInfo) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=zone)


def _curves_out(curve: LoadCurve) -> list[QuantityCurveOut]:
    out = []
    for quantity in QUANTITIES:
        found = curve.quantities[quantity]
        out.append(
            QuantityCurveOut(
                quantity=quantity,
                unit=_UNITS[quantity],
                present=found is not None,
                used=found.used.tolist() if found is not None else None,
                estimated=found.estimated.tolist() if found is not None else None,
                total=float(found.used.sum()) if found is not None else None,
                covered=found.covered.tolist() if found is not None else None,
            )
        )
    return out


def _table(starts: list[datetime], quantities: list[QuantityCurveOut]) -> Table:
    present = [q for q in quantities if q.used is not None and q.estimated is not None]
    columns = [
        Column("start"),
        *(Column(q.quantity, q.unit) for q in present),
        *(Column(f"{q.quantity}_estimated", q.unit) for q in present),
    ]
    return Table(
        columns,
        [
            [start]
            + [q.used[i] for q in present if q.used is not None]
            + [q.estimated[i] for q in present if q.estimated is not None]
            for i, start in enumerate(starts)
        ],
    )


@router.get(
    "/sites/{site}/load-curve",
    response_model=LoadCurveOut,
    responses={
        200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "format=csv"},
        **{code: {"model": ErrorDetail} for code in (404, 422, 503)},
    },
)
async def site_load_curve(
    site: str,
    registry: RegistryDep,
    store: StoreDep,
    now: NowDep,
    on: Annotated[str, Query(alias="date", description="local date of the site, YYYY-MM-DD")],
    output: Annotated[Literal["json", "csv"], Query(alias="format")] = "json",
    csv_style: CsvQuery = "people",
    lang: LangQuery = "en",
) -> Response | LoadCurveOut:
    """Electricity (kWh), gas and water (m3) per 15 minutes of a local day, with the meal
    services' times for shading; the intervals add up to the day's consumption of /kpis."""
    found = registry.site(site)
    if found is None:
        raise UnknownSite(f"unknown site {site[:64]!r}")
    local_date = parse_local_date(on)
    windows = day_windows(found, local_date)
    day = DateRange(local_date, local_date)
    # the date's report settles its rollup (and says how fresh it was); its curves are those
    settled = await report(store, [found], PeriodKind.DAY, day, Granularity.PERIOD, now)
    curve = load_curve(found.kpi, windows, await day_curves(store, found, local_date))
    zone = found.timezone
    starts = [_local(int(ms), zone) for ms in curve.starts_ms]
    quantities = _curves_out(curve)
    if output == "csv":
        return csv_response(
            _table(starts, quantities), f"load-curve-{site}-{local_date}.csv", csv_style, lang
        )
    electricity = curve.quantities[Quantity.ELECTRICITY.value]
    return LoadCurveOut(
        site=site,
        date=local_date,
        timezone=zone.key,
        interval_min=DEFAULT_INTERVAL_MS // 60_000,
        start=starts,
        quantities=quantities,
        peak_demand_kw=(
            float(electricity.used[electricity.covered].max()) / _HOURS_PER_INTERVAL
            if electricity is not None and electricity.covered.any()
            else None
        ),
        rollups=rollups_out(settled.rollups),
        services=[
            ServiceSpanOut(
                name=s.service,
                start=_local(s.diners.start_ms, zone),
                end=_local(s.diners.end_ms, zone),
                energy_start=_local(s.energy.start_ms, zone),
            )
            for s in windows.services
        ],
    )
