"""GET /api/v1/regions: the region tags of the sites a reader may see, for region pickers.

Behind read tokens (central/app.py READ_ROUTERS): a scoped reader sees only the tags of its own
sites, and each tag lists only those of its sites.
"""

from fastapi import APIRouter

from central.api.access import ReaderDep
from central.api.dashboard_schemas import RegionOut
from central.api.deps import RegistryDep

router = APIRouter(tags=["sites"])


@router.get("/regions", response_model=list[RegionOut])
async def regions(registry: RegistryDep, reader: ReaderDep) -> list[RegionOut]:
    """Every key:value tag of the visible sites' `region` tables with its sites, in order."""
    found: dict[tuple[str, str], list[str]] = {}
    for site in reader.visible_sites(registry):
        for key, value in site.region.items():
            found.setdefault((key, value), []).append(site.id)
    return [
        RegionOut(tag=f"{key}:{value}", key=key, value=value, sites=sites)
        for (key, value), sites in found.items()
    ]
