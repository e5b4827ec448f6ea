"""Fixtures of central's tests: a registry file, settings on tmp_path, an in-process app client."""

import hashlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, MutableMapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from central.api.deps import get_now_ms
from central.app import create_app
from central.settings import CentralSettings
from contract.signing import sign_headers, signing_key

KEY_S1 = "test-key-of-edge-s1"
KEY_S2 = "test-key-of-edge-s2"
ADMIN_TOKEN = "test-bootstrap-admin-token"

EDGE_KEYS = {"s1": KEY_S1, "s2": KEY_S2}  # the key of each site's edge, edge-<site>


def edge_toml(site: str) -> str:
    """The registry's [[edges]] entry of edge-<site>, writing `site` with its EDGE_KEYS key."""
    digest = hashlib.sha256(EDGE_KEYS[site].encode()).hexdigest()
    return f'\n[[edges]]\nid = "edge-{site}"\nsite = "{site}"\nkey_sha256 = "{digest}"\n'


EDGES_TOML = edge_toml("s1") + edge_toml("s2")

REGISTRY_TOML = f"""
[[sites]]
id = "s1"
name = "Canteen One"
registered_staff = 600
floor_area_m2 = 1500.0

[[sites]]
id = "s2"
name = "Canteen Two"
registered_staff = 100
{EDGES_TOML}"""

Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


def utc_ms(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> int:
    """Epoch ms of a UTC wall-clock time, spelt out by hand in the tests."""
    return int(datetime(year, month, day, hour, minute, tzinfo=UTC).timestamp() * 1000)


def person(n: int) -> str:
    return f"{n:016x}"


def scale(
    seq: int, t_ms: int, stream: str, mass_g: float, device: str = "scale-1"
) -> dict[str, Any]:
    return {
        "kind": "scale", "device": device, "boot": "b1", "seq": seq, "device_time_ms": t_ms,
        "received_ms": t_ms + 50, "stream": stream, "mass_g": mass_g,
    }  # fmt: skip


def card(seq: int, t_ms: int, who: int, device: str = "card-1") -> dict[str, Any]:
    return {
        "kind": "card", "device": device, "boot": "b1", "seq": seq, "device_time_ms": t_ms,
        "received_ms": t_ms + 50, "person": person(who),
    }  # fmt: skip


def meter(seq: int, t_ms: int, quantity: str, total: float, device: str) -> dict[str, Any]:
    return {
        "kind": "meter", "device": device, "boot": "b1", "seq": seq, "device_time_ms": t_ms,
        "received_ms": t_ms + 50, "quantity": quantity, "total": total,
    }  # fmt: skip


def batch(
    readings: list[dict[str, Any]],
    batch_id: str = "batch-1",
    site: str = "s1",
    edge: str = "edge-s1",
) -> dict[str, Any]:
    return {"v": 1, "site": site, "edge": edge, "batch_id": batch_id, "readings": readings}


async def ingest(
    client: httpx.AsyncClient,
    readings: list[dict[str, Any]],
    batch_id: str = "batch-1",
    site: str = "s1",
) -> dict[str, Any]:
    """Upload `readings` as edge-<site> (EDGE_KEYS, signed); the answer, which must be 200."""
    response = await client.post(
        "/api/v1/ingest",
        json=batch(readings, batch_id=batch_id, site=site, edge=f"edge-{site}"),
        auth=EdgeAuth(EDGE_KEYS[site]),
    )
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


async def get_json(client: httpx.AsyncClient, path: str, **params: Any) -> dict[str, Any]:
    """A GET that must answer 200, as JSON."""
    response = await client.get(path, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def admin() -> dict[str, str]:
    """Headers of the bootstrap admin read token of the `settings` fixture."""
    return bearer(ADMIN_TOKEN)


class EdgeAuth(httpx.Auth):
    """What the edge's uploader sends: its bearer key and the signature of the body."""

    requires_request_body = True

    def __init__(self, key: str, clock_s: Callable[[], float] = time.time) -> None:
        self.key = key
        self.clock_s = clock_s

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = f"Bearer {self.key}"
        request.headers.update(sign_headers(signing_key(self.key), request.content, self.clock_s()))
        yield request


@pytest.fixture
def registry_path(tmp_path: Path) -> Path:
    path = tmp_path / "registry.toml"
    path.write_text(REGISTRY_TOML, encoding="utf-8")
    return path


@pytest.fixture
def settings(tmp_path: Path, registry_path: Path) -> CentralSettings:
    return CentralSettings(
        registry_path=registry_path,
        sqlite_path=tmp_path / "data" / "central.sqlite3",
        max_batch_readings=100,
        max_body_bytes=64 * 1024,
        admin_token_sha256=hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest(),
    )


@asynccontextmanager
async def in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Run the app's lifespan and talk to it over ASGI, handing the lifespan state to each
    request the way an ASGI server does."""
    async with app.router.lifespan_context(app) as state:

        async def with_state(scope: Scope, receive: Receive, send: Send) -> None:
            await app({**scope, "state": dict(state or {})}, receive, send)

        transport = httpx.ASGITransport(app=with_state)
        async with httpx.AsyncClient(transport=transport, base_url="http://central.test") as client:
            yield client


@pytest.fixture
async def client(settings: CentralSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(create_app(settings)) as http:
        yield http


@asynccontextmanager
async def admin_client(
    registry_toml: str, workdir: Path, now_ms: int | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process central on `registry_toml` whose client reads as the bootstrap admin (ingest
    authenticates per request with EdgeAuth); KPIs and alerts evaluated at `now_ms` if given,
    else at the wall clock."""
    registry = workdir / "registry.toml"
    registry.write_text(registry_toml, encoding="utf-8")
    settings = CentralSettings(
        registry_path=registry,
        sqlite_path=workdir / "central.sqlite3",
        admin_token_sha256=hashlib.sha256(ADMIN_TOKEN.encode()).hexdigest(),
    )
    app = create_app(settings)
    if now_ms is not None:
        app.dependency_overrides[get_now_ms] = lambda: now_ms
    async with in_process(app) as http:
        http.headers.update(admin())
        yield http
