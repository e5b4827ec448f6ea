"""GET /api/v1/sites/{site}/quota-burndown: energy used against the month's and year's quota.

Read tokens (issue 4) will be added to this router as a dependency.
"""

import calendar
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query

from central.api.dashboard_schemas import BurnDownOut, BurnPointOut, QuotaBurnDownOut
from central.api.deps import NowDep, RegistryDep, StoreDep
from central.api.errors import UnknownSite
from central.api.kpi_schemas import rollups_out
from central.api.schemas import ErrorDetail
from central.api.sites import parse_local_date
from central.kpi.burndown import BurnDown, burn_down
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.report import NO_QUOTA
from central.kpi.rollup import Freshness
from central.registry import Site
from central.reporting import new_freshness, report
from central.store import ReadingsStore

router = APIRouter(tags=["kpis"])


def _out(period: PeriodKind, burn: BurnDown, quota_use_pct: float | None) -> BurnDownOut:
    return BurnDownOut(
        period=period.value,
        start=burn.span.first,
        end=burn.span.last,
        quota_kgce=burn.quota_kgce,
        reason=burn.reason,
        quota_use_pct=quota_use_pct,
        points=[
            BurnPointOut(
                label=p.label,
                start=p.first,
                end=p.last,
                used_kgce=p.used_kgce,
                cumulative_kgce=p.cumulative_kgce,
                allowed_kgce=p.allowed_kgce,
                remaining_kgce=p.remaining_kgce,
            )
            for p in burn.points
        ],
    )


async def _period(
    store: ReadingsStore,
    site: Site,
    period: PeriodKind,
    span: DateRange,
    granularity: Granularity,
    quota: float | None,
    now: int,
    freshness: Freshness | None,
) -> BurnDownOut:
    result = await report(store, [site], period, span, granularity, now, freshness)
    today = datetime.fromtimestamp(now / 1000, tz=site.timezone).date()
    burn = burn_down(span, result.rows, quota, NO_QUOTA.text, today)
    return _out(period, burn, result.total.kpis["quota_use_pct"].value)


@router.get(
    "/sites/{site}/quota-burndown",
    response_model=QuotaBurnDownOut,
    responses={code: {"model": ErrorDetail} for code in (404, 422, 503)},
)
async def quota_burndown(
    site: str,
    registry: RegistryDep,
    store: StoreDep,
    now: NowDep,
    on: Annotated[str, Query(alias="date", description="any local date of the month and year")],
) -> QuotaBurnDownOut:
    """Energy (kgce) used day by day in the month of `date` and month by month in its year,
    cumulated, beside the quota allowed to each row's end (E7's proration by days)."""
    found = registry.site(site)
    if found is None:
        raise UnknownSite(f"unknown site {site[:64]!r}")
    local_date = parse_local_date(on)
    month = DateRange(
        local_date.replace(day=1),
        local_date.replace(day=calendar.monthrange(local_date.year, local_date.month)[1]),
    )
    year = DateRange(date(local_date.year, 1, 1), date(local_date.year, 12, 31))
    quotas = found.kpi
    freshness = new_freshness(store)
    return QuotaBurnDownOut(
        site=site,
        date=local_date,
        month=await _period(
            store, found, PeriodKind.MONTH, month, Granularity.DAY,
            quotas.energy_quota_kgce_month, now, freshness,
        ),
        year=await _period(
            store, found, PeriodKind.YEAR, year, Granularity.MONTH,
            quotas.energy_quota_kgce_year, now, freshness,
        ),
        rollups=rollups_out(freshness),
    )  # fmt: skip
