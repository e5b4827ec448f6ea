"""GET /api/v1/regions: the region tags of the registry, for the region pickers of clients.

Read tokens (issue 4) will be added to this router as a dependency.
"""

from fastapi import APIRouter

from central.api.dashboard_schemas import RegionOut
from central.api.deps import RegistryDep

router = APIRouter(tags=["sites"])


@router.get("/regions", response_model=list[RegionOut])
async def regions(registry: RegistryDep) -> list[RegionOut]:
    """Every key:value tag of the sites' `region` tables with its sites, in registry order."""
    found: dict[tuple[str, str], list[str]] = {}
    for site in registry.sites.values():
        for key, value in site.region.items():
            found.setdefault((key, value), []).append(site.id)
    return [
        RegionOut(tag=f"{key}:{value}", key=key, value=value, sites=sites)
        for (key, value), sites in found.items()
    ]
