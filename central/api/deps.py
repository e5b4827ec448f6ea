"""Typed dependencies: the resources opened by the lifespan, reaching routes via request state."""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from central.alert_acks import AlertAckStore
from central.auth import EdgeAuthenticator
from central.metrics import CentralMetrics
from central.registry import Registry
from central.reporting import now_ms
from central.rollup_maintainer import RollupMaintainer
from central.settings import CentralSettings
from central.store import ReadingsStore
from central.tokens import ReadAuthenticator
from central.users import UserStore

STATE_KEY = "central"


@dataclass(frozen=True, slots=True)
class CentralResources:
    """Everything a route may use; built once per application lifespan."""

    settings: CentralSettings
    registry: Registry
    authenticator: EdgeAuthenticator
    store: ReadingsStore
    readers: ReadAuthenticator
    users: UserStore  # dashboard users and their sign-in sessions
    metrics: CentralMetrics
    acks: AlertAckStore
    rollups: RollupMaintainer | None = None  # None: the store keeps no rollups


def get_resources(request: Request) -> CentralResources:
    resources = getattr(request.state, STATE_KEY, None)
    if not isinstance(resources, CentralResources):
        raise RuntimeError("central's lifespan has not run: serve the app with lifespan enabled")
    return resources


Resources = Annotated[CentralResources, Depends(get_resources)]


def get_registry(resources: Resources) -> Registry:
    return resources.registry


def get_store(resources: Resources) -> ReadingsStore:
    return resources.store


RegistryDep = Annotated[Registry, Depends(get_registry)]
StoreDep = Annotated[ReadingsStore, Depends(get_store)]


def get_now_ms() -> int:
    """The moment KPIs, quota use and alerts are evaluated at: the wall clock (a test overrides
    this dependency to pick one)."""
    return now_ms()


NowDep = Annotated[int, Depends(get_now_ms)]


def get_acks(resources: Resources) -> AlertAckStore:
    return resources.acks


AcksDep = Annotated[AlertAckStore, Depends(get_acks)]
