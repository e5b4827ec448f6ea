"""GET /api/v1/health: for load balancers and the harness; 503 while the store cannot take
writes (its file deleted, replaced, unwritable or full: central/store/sqlite_health.py)."""

from fastapi import APIRouter, Response

from central.api.deps import RegistryDep, StoreDep
from central.api.schemas import Health

router = APIRouter(tags=["health"])


@router.get(
    "/health",
    response_model=Health,
    response_model_exclude_none=True,
    responses={503: {"model": Health, "description": "the store cannot take writes; `reason`"}},
)
async def health(registry: RegistryDep, store: StoreDep, response: Response) -> Health:
    state = await store.check_health()
    if not state.ok:
        response.status_code = 503
    return Health(
        status="ok" if state.ok else "unavailable",
        store=store.backend,
        sites=len(registry.sites),
        reason=state.reason,
    )
