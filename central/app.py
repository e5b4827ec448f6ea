"""`create_app(settings)`: the FastAPI application; its lifespan opens and closes the store."""

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from central.alert_acks import AlertAckStore
from central.api import (
    alert_history,
    alerts,
    devices,
    dishes,
    health,
    ingest,
    kpis,
    load_curve,
    metrics,
    planning,
    quota,
    regions,
    reports,
    session,
    sites,
)
from central.api.access import READ_ACCESS, READ_RESPONSES, SESSION_COOKIE
from central.api.deps import STATE_KEY, CentralResources
from central.api.errors import install_error_handlers
from central.apidocs import mount_api_docs
from central.auth import EdgeAuthenticator
from central.credentials import CredentialStore
from central.csrf import CsrfMiddleware, Scope
from central.dashboard import mount_dashboard
from central.metrics import CentralMetrics
from central.registry import Registry, load_registry
from central.rollup_maintainer import rollup_maintainer
from central.settings import CentralSettings
from central.store import ReadingsStore, StoreError
from central.store.sqlite import SqliteStore
from central.store_monitor import store_monitor
from central.tokens import ReadAuthenticator
from central.users import UserStore
from contract import UploadBatch

API_PREFIX = "/api/v1"
VERSION = "0.1.0"

# Who may call what (docs/security.md). Every router is in exactly one of these tuples; a
# router of read endpoints goes into READ_ROUTERS, behind read tokens (central/api/access.py).
PUBLIC_ROUTERS = (health.router,)  # no credentials
# Sign-in and sign-out: no credentials but the form's password or the session cookie; every
# request checked against cross-site forgery (central/csrf.py).
SESSION_ROUTERS = (session.router,)
OPERATIONS_ROUTERS = (metrics.router,)  # no credentials, outside /api/v1: GET /metrics
EDGE_ROUTERS = (ingest.router,)  # edge API key and signed body, checked in the route
# Read token; a {site} path parameter or site=/region= query is checked against its scope.
READ_ROUTERS = (
    sites.router,
    devices.router,
    kpis.router,
    dishes.router,
    planning.router,
    alerts.router,
    alert_history.router,
    reports.router,
    regions.router,
    load_curve.router,
    quota.router,
    session.read_router,
)

StoreOpener = Callable[[CentralSettings], AbstractAsyncContextManager[ReadingsStore]]


def open_store(settings: CentralSettings) -> AbstractAsyncContextManager[ReadingsStore]:
    """The store named by CENTRAL_STORE, as an async context manager (a later backend goes here)."""
    if settings.store == "sqlite":
        return SqliteStore(
            settings.sqlite_path,
            group_commit_max_batches=settings.sqlite_group_commit_max_batches,
        )
    if settings.store == "influxdb":
        from central.store.influx_open import open_influx_store  # needs the `influx` extra

        return open_influx_store(settings)
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
        async with (
            store_opener(settings) as store,
            rollup_maintainer(
                store,
                site_registry,
                settings.rollup_debounce_s,
                settings.rollup_sweep_interval_s,
                settings.raw_retention_days if settings.store == "sqlite" else None,
            ) as maintainer,
            store_monitor(store, settings.store_check_interval_s),
        ):
            metrics = CentralMetrics()
            if maintainer is not None:
                metrics.watch_rollups(maintainer.as_of_s)
                maintainer.watch_pruning(metrics.site_pruned)
            # Edge keys and read tokens managed by `canteen-central keys`, the dashboard's users
            # managed by `canteen-central users`, and alert acknowledgements
            # (central/alert_acks.py), in central's SQLite file.
            with (
                CredentialStore(settings.sqlite_path) as credentials,
                UserStore(settings.sqlite_path) as users,
                AlertAckStore(settings.sqlite_path) as acks,
            ):
                yield {
                    STATE_KEY: CentralResources(
                        settings=settings,
                        registry=site_registry,
                        authenticator=EdgeAuthenticator(
                            site_registry.edges, credentials, sites=site_registry.sites.keys()
                        ),
                        store=store,
                        rollups=maintainer,
                        readers=ReadAuthenticator(
                            credentials,
                            ()
                            if settings.admin_token_sha256 is None
                            else (settings.admin_token_sha256,),
                        ),
                        users=users,
                        metrics=metrics,
                        acks=acks,
                    )
                }

    app = FastAPI(
        title="canteen-central",
        version=VERSION,
        description="Ingest of edge upload batches; food-waste and energy KPIs per canteen.",
        lifespan=lifespan,
        docs_url=None,  # FastAPI's pages load their scripts from a CDN: central/apidocs instead
        redoc_url=None,
    )
    install_error_handlers(app)

    def csrf_refused(scope: Scope) -> None:
        resources = scope.get("state", {}).get(STATE_KEY)
        if isinstance(resources, CentralResources):
            resources.metrics.request_refused("csrf", 403)

    app.add_middleware(
        CsrfMiddleware,
        cookie_name=SESSION_COOKIE,
        always_checked_paths=frozenset(
            f"{API_PREFIX}{route.path}"
            for route in session.router.routes
            if isinstance(route, APIRoute)
        ),
        on_refused=csrf_refused,
    )
    for router in (*PUBLIC_ROUTERS, *SESSION_ROUTERS, *EDGE_ROUTERS):
        app.include_router(router, prefix=API_PREFIX)
    for router in OPERATIONS_ROUTERS:
        app.include_router(router)
    for router in READ_ROUTERS:
        app.include_router(
            router, prefix=API_PREFIX, dependencies=READ_ACCESS, responses=READ_RESPONSES
        )
    mount_dashboard(app)
    mount_api_docs(app)

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
