"""GET /api/v1/health: liveness for load balancers and the harness."""

from fastapi import APIRouter

from central.api.deps import RegistryDep, StoreDep
from central.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get("/health", response_model=Health)
async def health(registry: RegistryDep, store: StoreDep) -> Health:
    return Health(status="ok", store=store.backend, sites=len(registry.sites))
