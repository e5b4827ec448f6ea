"""GET /api/v1/sites and the daily KPI report of a site."""

import re
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from central.api.access import ReaderDep
from central.api.daily import DailyKpis
from central.api.deps import RegistryDep, StoreDep
from central.api.errors import InvalidDate, UnknownService, UnknownSite
from central.api.schemas import ErrorDetail, SiteInfo, SiteStats
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.reporting import now_ms, report
from contract import MAX_LOCAL_DATE

# Behind read tokens: central/app.py includes this router in READ_ROUTERS.
router = APIRouter(tags=["sites"])

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
FIRST_LOCAL_DATE = date(1970, 1, 1)


def parse_local_date(text: str) -> date:
    """A calendar date YYYY-MM-DD; raise InvalidDate otherwise."""
    try:
        if not _DATE_RE.match(text):
            raise ValueError
        parsed = date.fromisoformat(text)
    except ValueError:
        raise InvalidDate(f"date {text[:40]!r} is not a calendar date YYYY-MM-DD") from None
    if not FIRST_LOCAL_DATE <= parsed <= MAX_LOCAL_DATE:
        # the contract's bound on every timestamp (contract.payloads.MAX_EPOCH_MS)
        raise InvalidDate(
            f"date {text!r} is outside {FIRST_LOCAL_DATE}..{MAX_LOCAL_DATE},"
            " the dates a reading can have"
        )
    return parsed


@router.get("/sites", response_model=list[SiteInfo])
async def list_sites(registry: RegistryDep, reader: ReaderDep) -> list[SiteInfo]:
    """The sites of the registry that the read token may see."""
    return [SiteInfo.of(site) for site in reader.visible_sites(registry)]


@router.get(
    "/sites/{site}/stats",
    response_model=SiteStats,
    responses={code: {"model": ErrorDetail} for code in (404, 503)},
)
async def site_stats(site: str, registry: RegistryDep, store: StoreDep) -> SiteStats:
    """How many readings of a site are stored and rejected (the harness waits on this)."""
    if registry.site(site) is None:
        raise UnknownSite(f"unknown site {site[:64]!r}")
    stats = await store.site_stats(site)
    return SiteStats(site=site, readings=stats.readings, rejected=stats.rejected)


@router.get(
    "/sites/{site}/kpis/daily",
    response_model=DailyKpis,
    responses={
        404: {"model": ErrorDetail},
        422: {"model": ErrorDetail},
        503: {"model": ErrorDetail},
    },
)
async def daily(
    site: str,
    registry: RegistryDep,
    store: StoreDep,
    date_text: Annotated[
        str, Query(alias="date", description="local date of the site, YYYY-MM-DD")
    ],
    service: Annotated[str | None, Query(description="only this meal service")] = None,
) -> DailyKpis:
    """Food-waste and energy KPIs of one site for one local date, per service and for the day."""
    site_config = registry.site(site)
    if site_config is None:
        raise UnknownSite(f"unknown site {site[:64]!r}")
    local_date = parse_local_date(date_text)
    if service is not None and site_config.service(service) is None:
        known = ", ".join(s.name for s in site_config.services)
        raise UnknownService(f"site {site!r} has no service {service[:64]!r} (it has: {known})")
    day = DateRange(local_date, local_date)
    rows = await report(store, [site_config], PeriodKind.DAY, day, Granularity.SERVICE, now_ms())
    return DailyKpis.of(site_config.timezone.key, rows, only_service=service)
