"""GET /metrics: central's Prometheus metrics (central/metrics.py), for an operator's scraper."""

from fastapi import APIRouter
from prometheus_client import generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from starlette.responses import Response

from central.api.deps import Resources

router = APIRouter(tags=["operations"])


@router.get("/metrics", include_in_schema=False)
async def metrics(resources: Resources) -> Response:
    """The Prometheus text exposition of this central's counters and gauges."""
    return Response(generate_latest(resources.metrics.registry), media_type=CONTENT_TYPE_LATEST)
