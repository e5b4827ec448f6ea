"""GET /api/v1/sites/{site}/devices: the status of each device of a site (online, offline since
when, or unknown), from the status changes its edge forwarded, and each meter's readings state
on a date (reporting, late, silent); GET /api/v1/sites/{site}/edges:
the health of its edges (what they dropped, dead-lettered, lost; their buffer depth).

Behind read tokens (central/app.py READ_ROUTERS): the `{site}` path parameter is checked against
the token's scope.
"""

from datetime import datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from central.api.dashboard_schemas import (
    DeviceStatusOut,
    EdgeHealthCountsOut,
    EdgeHealthOut,
    SiteDevicesOut,
    SiteEdgesOut,
)
from central.api.deps import NowDep, RegistryDep, StoreDep
from central.api.errors import UnknownSite
from central.api.schemas import ErrorDetail
from central.api.sites import parse_local_date
from central.kpi.alerts import AlertKind
from central.kpi.edgehealth import EdgeHealthPeriod
from central.kpi.presence import device_states, with_readings
from central.kpi.windows import local_instant_ms, local_today
from central.registry import Site
from central.reporting import meter_alerts

router = APIRouter(tags=["sites"])


def registered_devices(site: Site) -> dict[str, str]:
    """Devices the registry names for the site (meters and scales it configures), with kind."""
    return {
        **{device: "scale" for device in site.kpi.scales},
        **{device: "meter" for device in site.kpi.meters},
    }


@router.get(
    "/sites/{site}/devices",
    response_model=SiteDevicesOut,
    responses={code: {"model": ErrorDetail} for code in (404, 422, 503)},
)
async def site_devices(
    site: str,
    registry: RegistryDep,
    store: StoreDep,
    now: NowDep,
    on: Annotated[
        str | None,
        Query(
            alias="date",
            description="local date YYYY-MM-DD of the meters' readings state (default: today)",
        ),
    ] = None,
) -> SiteDevicesOut:
    """Each device with a known status, and each registered device without one (`unknown`);
    each meter with what its readings say on the date (reporting, late or silent)."""
    config = registry.site(site)
    if config is None:
        raise UnknownSite(f"unknown site {site[:64]!r}")
    local_date = local_today(config) if on is None else parse_local_date(on)
    meters, judged = await meter_alerts(store, config, local_date, now)
    states = with_readings(
        device_states(await store.device_presence(site), registered_devices(config)),
        meters,
        late={a.device for a in judged if a.kind is AlertKind.DEVICE_LATE and a.device},
        silent={a.device for a in judged if a.kind is AlertKind.DEVICE_SILENT and a.device},
    )
    return SiteDevicesOut(
        site=site,
        devices=[
            DeviceStatusOut(
                device=d.device,
                kind=d.kind,
                state=d.state,
                boot=d.boot,
                since_ms=d.since_ms,
                since=(
                    None
                    if d.since_ms is None
                    else datetime.fromtimestamp(d.since_ms / 1000, config.timezone)
                ),
                readings=d.readings,
            )
            for d in states
        ],
    )


def _local(ms: int, site: Site) -> datetime | None:
    try:
        return datetime.fromtimestamp(ms / 1000, site.timezone)
    except (OverflowError, ValueError, OSError):  # an edge clock beyond the calendar
        return None


def edge_health_out(period: EdgeHealthPeriod, site: Site) -> EdgeHealthOut:
    latest = period.latest
    age_ms = latest.oldest_pending_age_ms
    return EdgeHealthOut(
        edge=latest.edge,
        measured_ms=latest.measured_ms,
        measured=_local(latest.measured_ms, site),
        pending_readings=latest.pending_readings,
        oldest_pending_age_s=None if age_ms is None else age_ms / 1000,
        total=EdgeHealthCountsOut(
            dropped_overflow=latest.dropped_overflow,
            dead_lettered=latest.dead_lettered,
            intake_pauses=latest.intake_pauses,
            broker_sessions_lost=latest.broker_sessions_lost,
        ),
        on_date=EdgeHealthCountsOut(**period.increase),
        lost_readings=period.lost_readings,
    )


@router.get(
    "/sites/{site}/edges",
    response_model=SiteEdgesOut,
    responses={code: {"model": ErrorDetail} for code in (404, 422, 503)},
)
async def site_edges(
    site: str,
    registry: RegistryDep,
    store: StoreDep,
    on: Annotated[
        str | None, Query(alias="date", description="local date YYYY-MM-DD (default: today)")
    ] = None,
) -> SiteEdgesOut:
    """Each edge's latest health report up to the date's end, and what it added on the date."""
    config = registry.site(site)
    if config is None:
        raise UnknownSite(f"unknown site {site[:64]!r}")
    local_date = local_today(config) if on is None else parse_local_date(on)
    start_ms = local_instant_ms(local_date, time(0, 0), config.timezone)
    end_ms = local_instant_ms(local_date + timedelta(days=1), time(0, 0), config.timezone)
    periods = await store.edge_health(site, start_ms, end_ms)
    return SiteEdgesOut(
        site=site, date=local_date, edges=[edge_health_out(p, config) for p in periods]
    )
