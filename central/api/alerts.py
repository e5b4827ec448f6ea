"""GET /api/v1/alerts: quota, waste target, off-hours energy, offline and silent devices of a date.

Read tokens (issue 4) will be added to this router as a dependency.
"""

from typing import Annotated

from fastapi import APIRouter, Query

from central.api.deps import NowDep, RegistryDep, StoreDep
from central.api.kpi_schemas import AlertsOut, alert_out, rollups_out
from central.api.kpis import RegionQuery, SiteQuery, resolve_sites
from central.api.schemas import ErrorDetail
from central.api.sites import parse_local_date
from central.kpi.alerts import STATUS_NOTE
from central.reporting import alerts as site_alerts
from central.reporting import new_freshness

router = APIRouter(tags=["alerts"])


@router.get(
    "/alerts",
    response_model=AlertsOut,
    responses={code: {"model": ErrorDetail} for code in (404, 422, 503)},
)
async def alerts(
    registry: RegistryDep,
    store: StoreDep,
    now: NowDep,
    on: Annotated[str, Query(alias="date", description="local date YYYY-MM-DD")],
    site: SiteQuery = None,
    region: RegionQuery = None,
) -> AlertsOut:
    """Alerts of a site or of every site of a region for one local date, as a list, and how
    fresh the rollups behind the quota, waste and off-hours alerts were."""
    sites = resolve_sites(registry, site, region)
    local_date = parse_local_date(on)
    freshness = new_freshness(store)
    found = [
        alert for s in sites for alert in await site_alerts(store, s, local_date, now, freshness)
    ]
    return AlertsOut(
        date=local_date,
        sites=[s.id for s in sites],
        alerts=[alert_out(a) for a in found],
        notes=[STATUS_NOTE],
        rollups=rollups_out(freshness),
    )
