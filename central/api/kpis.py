"""GET /api/v1/kpis and /api/v1/ranking: KPIs of a site or region over a period; site rankings.

Thin routes: parameters are parsed here, the work is central.reporting and central.kpi. Read
tokens (issue 4) will be added to this router as a dependency.
"""

from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from fastapi.responses import Response

from central.api import kpi_json
from central.api.csv_export import (
    CsvQuery,
    LangQuery,
    csv_response,
    ranking_table,
    report_table,
)
from central.api.deps import NowDep, RegistryDep, StoreDep
from central.api.errors import RequestError, UnknownSite
from central.api.kpi_schemas import LATE_DATA_NOTE, KpiReportOut, RankingOut
from central.api.schemas import ErrorDetail
from central.api.sites import parse_local_date
from central.kpi.periods import DateRange, Granularity, PeriodError, PeriodKind, period_range
from central.kpi.values import CATALOGUE
from central.registry import Registry, Site
from central.reporting import ranking, report
from central.site_kpi_config import FactorSet

router = APIRouter(tags=["kpis"])

# The OpenAPI answers the read routes share (kpis, dishes, planning, alert history).
CSV_RESPONSE = {
    "content": {"text/csv": {"schema": {"type": "string"}}},
    "description": "format=csv",
}
READ_ERRORS: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorDetail, "description": "unknown site, or no site in the region"},
    422: {"model": ErrorDetail, "description": "bad parameter, with the reason"},
    503: {"model": ErrorDetail, "description": "store unavailable"},
}

SiteQuery = Annotated[str | None, Query(description="a site id (or give region)")]
RegionQuery = Annotated[
    str | None, Query(description="key:value of a region tag, e.g. city:Hangzhou (or give site)")
]
PeriodQuery = Annotated[PeriodKind, Query(description="day, week (ISO), month, year or custom")]
DateQuery = Annotated[
    str | None, Query(alias="date", description="any local date inside the period, YYYY-MM-DD")
]
StartQuery = Annotated[str | None, Query(description="custom period: first local date")]
EndQuery = Annotated[str | None, Query(description="custom period: last local date, inclusive")]
FormatQuery = Annotated[Literal["json", "csv"], Query(alias="format")]


class InvalidQuery(RequestError):
    status_code = 422


class UnknownRegion(RequestError):
    status_code = 404


def resolve_sites(registry: Registry, site: str | None, region: str | None) -> list[Site]:
    """The site, or the sites of a region tag 'key:value'; raise a RequestError otherwise."""
    if (site is None) == (region is None):
        raise InvalidQuery("give exactly one of site= or region=key:value")
    if site is not None:
        found = registry.site(site)
        if found is None:
            raise UnknownSite(f"unknown site {site[:64]!r}")
        return [found]
    assert region is not None
    key, sep, value = region.partition(":")
    if not sep or not key or not value:
        raise InvalidQuery(f"region {region[:64]!r} must be key:value, e.g. city:Hangzhou")
    sites = list(registry.region(key, value))
    if not sites:
        raise UnknownRegion(f"no site has the region tag {key[:32]} = {value[:32]!r}")
    return sites


def resolve_period(
    period: PeriodKind, on: str | None, start: str | None, end: str | None
) -> DateRange:
    def parsed(text: str | None) -> date | None:
        return None if text is None else parse_local_date(text)

    try:
        return period_range(period, on=parsed(on), start=parsed(start), end=parsed(end))
    except PeriodError as exc:
        raise InvalidQuery(str(exc)) from exc


def factor_sets_of(sites: list[Site], used: tuple[str, ...]) -> list[FactorSet]:
    by_id = {s.kpi.factor_set.id: s.kpi.factor_set for s in sites}
    return [by_id[i] for i in used if i in by_id]


@router.get(
    "/kpis",
    response_model=KpiReportOut,
    responses={200: CSV_RESPONSE, **READ_ERRORS},
)
async def kpis(
    registry: RegistryDep,
    store: StoreDep,
    now: NowDep,
    site: SiteQuery = None,
    region: RegionQuery = None,
    period: PeriodQuery = PeriodKind.DAY,
    on: DateQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    granularity: Annotated[
        Granularity, Query(description="rows: service (per service and day), day, week, month")
    ] = Granularity.DAY,
    output: FormatQuery = "json",
    csv_style: CsvQuery = "people",
    lang: LangQuery = "en",
) -> Response:
    """Every KPI with its unit, the factor set used and data quality, per row and for the period.

    Values are computed from the readings stored at query time: late readings are included in
    the next query of their period.
    """
    sites = resolve_sites(registry, site, region)
    span = resolve_period(period, on, start, end)
    result = await report(store, sites, period, span, granularity, now)
    scope = site if site is not None else str(region)
    if output == "csv":
        return csv_response(
            report_table(scope, result.rows, result.total),
            f"kpis-{scope}-{span.first}.csv",
            csv_style,
            lang,
        )
    factor_sets = factor_sets_of(sites, result.total.factor_sets)
    return kpi_json.response(kpi_json.report(result, factor_sets, site, region))


@router.get(
    "/ranking",
    response_model=RankingOut,
    responses={200: CSV_RESPONSE, **READ_ERRORS},
)
async def rank(
    registry: RegistryDep,
    store: StoreDep,
    now: NowDep,
    region: Annotated[str, Query(description="key:value of a region tag")],
    kpi: Annotated[str, Query(description="a KPI name of /kpis, e.g. waste_per_diner_g")],
    period: PeriodQuery = PeriodKind.MONTH,
    on: DateQuery = None,
    start: StartQuery = None,
    end: EndQuery = None,
    order: Annotated[
        Literal["asc", "desc"], Query(description="asc: lowest value first (rank 1)")
    ] = "asc",
    output: FormatQuery = "json",
    csv_style: CsvQuery = "people",
    lang: LangQuery = "en",
) -> Response:
    """The region's sites ordered by one KPI over the period; sites without a value come last."""
    if kpi not in CATALOGUE:
        raise InvalidQuery(f"unknown kpi {kpi[:64]!r}; one of: {', '.join(CATALOGUE)}")
    sites = resolve_sites(registry, None, region)
    span = resolve_period(period, on, start, end)
    result = await ranking(store, sites, kpi, period, span, now, order == "desc")
    if output == "csv":
        return csv_response(
            ranking_table(kpi, result.sites), f"ranking-{kpi}-{span.first}.csv", csv_style, lang
        )
    total = result.region_total
    return kpi_json.response(
        {
            "region": region,
            "kpi": kpi,
            "unit": CATALOGUE[kpi][1],
            "order": order,
            "period": period.value,
            "start": span.first.isoformat(),
            "end": span.last.isoformat(),
            "factor_sets": [
                kpi_json.factor_set(f) for f in factor_sets_of(sites, total.factor_sets)
            ],
            "note": LATE_DATA_NOTE,
            "sites": [kpi_json.ranked(r) for r in result.sites],
            "region_total": kpi_json.row(total),
            "rollups": kpi_json.rollups(result.rollups),
        }
    )
