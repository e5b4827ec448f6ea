"""GET /api/v1/regions: the region tags of the sites a reader may see, for region pickers, with
the number of offline devices of each site (the dashboard marks those sites).

Behind read tokens (central/app.py READ_ROUTERS): a scoped reader sees only the tags of its own
sites, and each tag lists only those of its sites.
"""

from fastapi import APIRouter

from central.api.access import ReaderDep
from central.api.dashboard_schemas import RegionOut
from central.api.deps import RegistryDep, StoreDep
from central.kpi.presence import OFFLINE

router = APIRouter(tags=["sites"])


@router.get("/regions", response_model=list[RegionOut])
async def regions(registry: RegistryDep, store: StoreDep, reader: ReaderDep) -> list[RegionOut]:
    """Every key:value tag of the visible sites' `region` tables with its sites, in order."""
    found: dict[tuple[str, str], list[str]] = {}
    offline: dict[str, int] = {}
    for site in reader.visible_sites(registry):
        if site.region:
            presence = await store.device_presence(site.id)
            offline[site.id] = sum(1 for p in presence if p.state == OFFLINE)
        for key, value in site.region.items():
            found.setdefault((key, value), []).append(site.id)
    return [
        RegionOut(
            tag=f"{key}:{value}",
            key=key,
            value=value,
            sites=sites,
            offline_devices={s: offline[s] for s in sites},
        )
        for (key, value), sites in found.items()
    ]
