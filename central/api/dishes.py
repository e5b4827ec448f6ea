"""GET /api/v1/dishes and /api/v1/dishes/trend: waste by dish and by loss reason.

Thin routes over central.reporting.dish_tables and central.kpi.dishes (docs/api.md, docs/kpis.md
"Waste by dish and reason").
"""

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response
from pydantic import BaseModel, Field

from central.api.csv_export import Column, CsvQuery, LangQuery, Table, csv_response
from central.api.deps import RegistryDep, StoreDep
from central.api.kpi_schemas import ROLLUPS_DESCRIPTION, RollupsOut
from central.api.kpis import (
    _CSV,
    _ERRORS,
    DateQuery,
    EndQuery,
    FormatQuery,
    InvalidQuery,
    PeriodQuery,
    RegionQuery,
    SiteQuery,
    StartQuery,
    resolve_period,
    resolve_sites,
)
from central.kpi.dishes import DishGroup, DishRow, DishSummary, item_trend, summarise
from central.kpi.periods import Granularity, PeriodKind, buckets
from central.kpi.rollup import Freshness
from central.registry import Site
from central.reporting import dish_tables, new_freshness
from contract import Stream

router = APIRouter(tags=["kpis"])

MAX_TOP = 100
UNKNOWN_ITEM_NOTE = (
    "items not in the site's menu are kept and listed in unknown_items; add them to the menu "
    "([[sites.menu]]) to name and value them"
)
ServiceQuery = Annotated[
    str | None,
    Query(
        min_length=1,
        max_length=64,
        description="only this meal service (a name of the sites' services): waste weighed in "
        "its windows (plate and overproduction: the service plus its grace; prep: its lead "
        "before the service); spoilage belongs to no service. Default: the whole local date",
    ),
]


def service_names(sites: list[Site]) -> list[str]:
    """The meal services of `sites`, each name once, in the order the sites list them."""
    return list(dict.fromkeys(s.name for site in sites for s in site.services))


def rollups_out(freshness: Freshness | None) -> RollupsOut | None:
    """How fresh the rollups of the dish sums were (None: the store keeps no rollups)."""
    if freshness is None:
        return None
    return RollupsOut(
        pending_dates=freshness.pending_dates, oldest_pending_s=freshness.oldest_pending_s
    )


def check_service(sites: list[Site], service: str | None) -> None:
    """A `service` that none of the sites has is a mistake, not an empty answer."""
    if service is not None and service not in service_names(sites):
        names = ", ".join(service_names(sites))
        raise InvalidQuery(f"service {service!r} is not a meal service of these sites: {names}")


class DishRowOut(BaseModel):
    key: str = Field(description="item code or loss reason; empty: untagged weighings")
    known: bool = Field(description="item: in the menu of the sites it was weighed at")
    name_zh: str
    name_en: str
    category: str = Field(description="the item's menu category; empty for reasons, unknown items")
    mass_g: float
    weighings: int
    share_pct: float | None = Field(description="of the period's waste (of `stream` if given)")
    value_cny: float | None = Field(description="null when a part of it has no price")
    co2e_kg: float | None = Field(description="null when a part of it has no CO2e factor")


class DishesOut(BaseModel):
    scope: str
    group: DishGroup
    stream: Stream | None
    service: str | None = Field(description="the meal service asked for; null: the whole day")
    services: list[str] = Field(description="the meal services of the sites, for `service`")
    start: str
    end: str
    total_g: float = Field(description="the period's waste (of `stream` if given), tagged or not")
    tagged_g: float = Field(description="the part of total_g tagged with an item (or reason)")
    unknown_items: list[str] = Field(description="codes weighed that no menu lists")
    note: str
    rows: list[DishRowOut] = Field(description="largest first; the first `top` of them")
    rollups: RollupsOut | None = Field(description=ROLLUPS_DESCRIPTION)


class TrendPointOut(BaseModel):
    label: str
    start: str
    end: str
    mass_g: float
    weighings: int


class TrendOut(BaseModel):
    scope: str
    item: str
    service: str | None = Field(description="the meal service asked for; null: the whole day")
    known: bool
    name_zh: str
    name_en: str
    points: list[TrendPointOut]
    rollups: RollupsOut | None = Field(description=ROLLUPS_DESCRIPTION)


def _row_out(row: DishRow) -> DishRowOut:
    return DishRowOut(
        key=row.key,
        known=row.known,
        name_zh=row.name_zh,
        name_en=row.name_en,
        category=row.category,
        mass_g=round(row.mass_g, 3),
        weighings=row.weighings,
        share_pct=None if row.share_pct is None else round(row.share_pct, 3),
        value_cny=None if row.value_cny is None else round(row.value_cny, 2),
        co2e_kg=None if row.co2e_kg is None else round(row.co2e_kg, 3),
    )


def _table(summary: DishSummary, rows: list[DishRowOut], group: DishGroup) -> Table:
    columns = [
        Column("item" if group is DishGroup.ITEM else "loss_reason", translate=True),
        Column("known"), Column("name_zh"), Column("name_en"),
        Column("category"), Column("mass", "g"), Column("weighings", "count"),
        Column("share", "%"), Column("value", "CNY"), Column("co2e", "kgCO2e"),
    ]  # fmt: skip
    lines: list[list[object]] = [
        [r.key, r.known, r.name_zh, r.name_en, r.category, r.mass_g, r.weighings, r.share_pct,
         r.value_cny, r.co2e_kg]
        for r in rows
    ]  # fmt: skip
    lines.append(
        ["total", None, None, None, None, round(summary.total_g, 3), None, None, None, None]
    )
    return Table(columns, lines)


@router.get("/dishes", response_model=DishesOut, responses={200: _CSV, **_ERRORS})
async def dishes(
    registry: RegistryDep,
    store: StoreDep,
    site: SiteQuery = None,
    region: RegionQuery = None,
    period: PeriodQuery = PeriodKind.WEEK,
    on: DateQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    group: Annotated[DishGroup, Query(description="item (dishes) or reason")] = DishGroup.ITEM,
    stream: Annotated[Stream | None, Query(description="only this waste stream")] = None,
    service: ServiceQuery = None,
    top: Annotated[int, Query(ge=1, le=MAX_TOP, description="the N largest rows")] = 10,
    output: FormatQuery = "json",
    csv_style: CsvQuery = "people",
    lang: LangQuery = "en",
) -> Response | DishesOut:
    """Waste per dish (or loss reason) over the period, of the day or of one meal service:
    grams, share, value in CNY, CO2e."""
    sites = resolve_sites(registry, site, region)
    span = resolve_period(period, on, start, end)
    check_service(sites, service)
    freshness = new_freshness(store)
    tables = await dish_tables(store, sites, span, freshness)
    summary = summarise(tables, group, stream, service=service)
    rows = [_row_out(r) for r in summary.rows[:top]]
    scope = site if site is not None else str(region)
    if output == "csv":
        part = "" if service is None else f"-{service}"
        return csv_response(
            _table(summary, rows, group),
            f"dishes-{group.value}-{scope}{part}-{span.first}.csv",
            csv_style,
            lang,
        )
    return DishesOut(
        scope=scope,
        group=group,
        stream=stream,
        service=service,
        services=service_names(sites),
        start=span.first.isoformat(),
        end=span.last.isoformat(),
        total_g=round(summary.total_g, 3),
        tagged_g=round(summary.tagged_g, 3),
        unknown_items=list(summary.unknown_items),
        note=UNKNOWN_ITEM_NOTE,
        rows=rows,
        rollups=rollups_out(freshness),
    )


@router.get("/dishes/trend", response_model=TrendOut, responses={200: _CSV, **_ERRORS})
async def dish_trend(
    registry: RegistryDep,
    store: StoreDep,
    item: Annotated[str, Query(min_length=1, max_length=64, description="a menu item code")],
    site: SiteQuery = None,
    region: RegionQuery = None,
    period: PeriodQuery = PeriodKind.MONTH,
    on: DateQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    granularity: Annotated[
        Granularity, Query(description="points: day, week or month")
    ] = Granularity.DAY,
    service: ServiceQuery = None,
    output: FormatQuery = "json",
    csv_style: CsvQuery = "people",
    lang: LangQuery = "en",
) -> Response | TrendOut:
    """One item's waste per day (week, month) of the period, of the day or of one service."""
    if granularity not in (Granularity.DAY, Granularity.WEEK, Granularity.MONTH):
        raise InvalidQuery("granularity must be day, week or month for a trend")
    sites = resolve_sites(registry, site, region)
    span = resolve_period(period, on, start, end)
    check_service(sites, service)
    rows = buckets(span, granularity)
    freshness = new_freshness(store)
    tables = await dish_tables(store, sites, span, freshness)
    points = item_trend(tables, item, [b.dates for b in rows], service)
    scope = site if site is not None else str(region)
    listed = [m for m in (s.menu.item(item) for s in sites) if m is not None]
    out = TrendOut(
        scope=scope,
        item=item,
        service=service,
        known=bool(listed),
        name_zh=listed[0].name_zh if listed else item,
        name_en=listed[0].name_en if listed else item,
        points=[
            TrendPointOut(
                label=b.label,
                start=p.first.isoformat(),
                end=p.last.isoformat(),
                mass_g=round(p.mass_g, 3),
                weighings=p.weighings,
            )
            for b, p in zip(rows, points, strict=True)
        ],
        rollups=rollups_out(freshness),
    )
    if output == "csv":
        table = Table(
            [Column("label"), Column("start"), Column("end"), Column("mass", "g"),
             Column("weighings", "count")],
            [[p.label, p.start, p.end, p.mass_g, p.weighings] for p in out.points],
        )  # fmt: skip
        part = "" if service is None else f"-{service}"
        filename = f"dish-trend-{item}-{scope}{part}-{span.first}.csv"
        return csv_response(table, filename, csv_style, lang)
    return out
