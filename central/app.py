"""`create_app(settings)`: the FastAPI application; its lifespan opens and closes the store."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from central.api import alerts, health, ingest, kpis, load_curve, quota, regions, sites
from central.api.deps import STATE_KEY, CentralResources
from central.api.errors import install_error_handlers
from central.auth import EdgeAuthenticator
from central.dashboard import mount_dashboard
from central.registry import Registry, load_registry
from central.settings import CentralSettings
from central.store import ReadingsStore, StoreError
from central.store.sqlite import SqliteStore
from contract import UploadBatch

API_PREFIX = "/api/v1"
VERSION = "0.1.0"

StoreOpener = Callable[[CentralSettings], AbstractAsyncContextManager[ReadingsStore]]


def open_store(settings: CentralSettings) -> AbstractAsyncContextManager[ReadingsStore]:
    """The store named by CENTRAL_STORE, as an async context manager (a later backend goes here)."""
    if settings.store == "sqlite":
        return SqliteStore(settings.sqlite_path)
    raise StoreError(f"unknown store backend {settings.store!r}")


def create_app(
    settings: CentralSettings,
    *,
    registry: Registry | None = None,
    store_opener: StoreOpener = open_store,
) -> FastAPI:
    """Build central. The registry is validated here (fail fast, RegistryError); the store opens
    in the lifespan and reaches routes through typed dependencies (central.api.deps)."""
    site_registry = registry if registry is not None else load_registry(settings.registry_path)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Any]]:
        async with store_opener(settings) as store:
            yield {
                STATE_KEY: CentralResources(
                    settings=settings,
                    registry=site_registry,
                    authenticator=EdgeAuthenticator(site_registry.edges),
                    store=store,
                )
            }

    app = FastAPI(
        title="canteen-central",
        version=VERSION,
        description="Ingest of edge upload batches; food-waste and energy KPIs per canteen.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    for router in (ingest.router, health.router, sites.router, kpis.router, alerts.router):
        app.include_router(router, prefix=API_PREFIX)
    for router in (regions.router, load_curve.router, quota.router):  # read by the dashboard
        app.include_router(router, prefix=API_PREFIX)
    mount_dashboard(app)

    def openapi() -> dict[str, Any]:
        # The ingest route reads its body raw (size limit, partial acceptance), so FastAPI cannot
        # see its model: document the contract's UploadBatch as the request body by hand.
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            upload = UploadBatch.model_json_schema(ref_template="#/components/schemas/{model}")
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.update(upload.pop("$defs", {}))
            components["UploadBatch"] = upload
            schema["paths"][f"{API_PREFIX}/ingest"]["post"]["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/UploadBatch"}}
                },
            }
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
