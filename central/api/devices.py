"""GET /api/v1/sites/{site}/devices: the status of each device of a site (online, offline since
when, or unknown), from the status changes its edge forwarded.

Behind read tokens (central/app.py READ_ROUTERS): the `{site}` path parameter is checked against
the token's scope.
"""

from datetime import datetime

from fastapi import APIRouter

from central.api.dashboard_schemas import DeviceStatusOut, SiteDevicesOut
from central.api.deps import RegistryDep, StoreDep
from central.api.errors import UnknownSite
from central.api.schemas import ErrorDetail
from central.kpi.presence import device_states
from central.registry import Site

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
    responses={code: {"model": ErrorDetail} for code in (404, 503)},
)
async def site_devices(site: str, registry: RegistryDep, store: StoreDep) -> SiteDevicesOut:
    """Each device with a known status, and each registered device without one (`unknown`)."""
    config = registry.site(site)
    if config is None:
        raise UnknownSite(f"unknown site {site[:64]!r}")
    states = device_states(await store.device_presence(site), registered_devices(config))
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
            )
            for d in states
        ],
    )
