"""Central notices when its store file is no longer the one it opened (deleted, replaced) or
refuses writes (full): ingest answers 503 (the edge keeps its copies), the change is logged at
ERROR, and GET /health answers 503 with the reason (issue 13). Real SQLite files, the real app."""

import asyncio
import logging
import os
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from central.app import create_app
from central.settings import CentralSettings
from central.store import ReadingsStore, StoreHealth
from central.store.sqlite import SqliteStore
from central.store_monitor import store_monitor
from tests.central.conftest import KEY_S1, EdgeAuth, batch, in_process, scale

URL = "/api/v1/ingest"
T0_MS = 1_700_000_000_000


def readings(first_seq: int, count: int = 3) -> list[dict[str, Any]]:
    return [scale(first_seq + i, T0_MS + first_seq + i, "plate", 20.0) for i in range(count)]


def stored(path: Path) -> int:
    with sqlite3.connect(path) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    return count


async def post(client: httpx.AsyncClient, body: dict[str, Any]) -> httpx.Response:
    return await client.post(URL, json=body, auth=EdgeAuth(KEY_S1))


async def test_a_deleted_store_file_is_noticed_refused_and_reported(
    settings: CentralSettings, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="central.store.sqlite_health")
    before = batch(readings(0), batch_id="before")
    after = batch(readings(10), batch_id="after")
    async with in_process(create_app(settings)) as client:
        assert (await post(client, before)).status_code == 200
        assert (await client.get("/api/v1/health")).status_code == 200
        settings.sqlite_path.unlink()  # `rm central.sqlite3` while central runs
        # found on /health alone, before any write
        health = await client.get("/api/v1/health")
        assert health.status_code == 503
        assert health.json()["status"] == "unavailable"
        assert "was deleted while central was running" in health.json()["reason"]
        # and no batch is acknowledged into the lost file: the edge keeps it
        refused = await post(client, after)
        assert refused.status_code == 503
        assert int(refused.headers["Retry-After"]) > 0
        assert "was deleted while central was running" in refused.json()["detail"]
    assert [r.levelname for r in caplog.records].count("ERROR") == 1  # logged once
    assert "was deleted while central was running" in caplog.text
    # a routine restart: central opens a new file, the edge resends, nothing it kept is lost
    async with in_process(create_app(settings)) as client:
        assert (await client.get("/api/v1/health")).json()["status"] == "ok"
        assert (await post(client, after)).json()["accepted"] == 3
    assert stored(settings.sqlite_path) == 3


async def test_a_replaced_store_file_is_noticed_and_refused(
    settings: CentralSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="central.store.sqlite_health")
    async with in_process(create_app(settings)) as client:
        assert (await post(client, batch(readings(0)))).status_code == 200
        # a backup restored over the running store's file
        other = tmp_path / "restored.sqlite3"
        async with SqliteStore(other):
            pass
        os.replace(other, settings.sqlite_path)
        refused = await post(client, batch(readings(10), batch_id="later"))
        assert refused.status_code == 503
        assert "was replaced by another file" in refused.json()["detail"]
        health = await client.get("/api/v1/health")
        assert health.status_code == 503
        assert "was replaced by another file" in health.json()["reason"]
    assert "was replaced by another file" in caplog.text


async def test_a_full_store_is_reported_until_writes_succeed_again(
    settings: CentralSettings, caplog: pytest.LogCaptureFixture
) -> None:
    # SQLite's max_page_count fails a write with SQLITE_FULL exactly as a full disk does, in
    # every environment (a tmpfs or loop mount needs root and leaves state behind on a crash).
    @asynccontextmanager
    async def small(s: CentralSettings) -> AsyncIterator[ReadingsStore]:
        async with SqliteStore(s.sqlite_path, max_size_bytes=3 * 1024 * 1024) as store:
            yield store

    caplog.set_level(logging.WARNING, logger="central.store.sqlite_health")
    async with in_process(create_app(settings, store_opener=small)) as client:
        answers = []
        for n in range(1000):
            response = await post(client, batch(readings(100 * n, 100), batch_id=f"b{n}"))
            answers.append(response.status_code)
            if response.status_code != 200:
                break
        assert answers[0] == 200
        assert answers[-1] == 503
        assert "database or disk is full" in response.json()["detail"]
        health = await client.get("/api/v1/health")
        assert health.status_code == 503
        assert "refuses writes: database or disk is full" in health.json()["reason"]
        # an operator frees space: the probe write of the next check succeeds
        with sqlite3.connect(settings.sqlite_path) as conn:
            conn.execute("DELETE FROM readings")
        assert (await client.get("/api/v1/health")).status_code == 200
        retried = await post(client, batch(readings(100 * n, 100), batch_id=f"b{n}"))
        assert retried.status_code == 200
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert len(errors) == 1
    assert "refuses writes: database or disk is full" in errors[0]
    assert "writes succeed again" in caplog.text


async def test_the_monitor_checks_the_store_without_requests() -> None:
    class Counted:
        def __init__(self) -> None:
            self.checked = asyncio.Event()

        async def check_health(self) -> StoreHealth:
            self.checked.set()
            return StoreHealth(ok=True)

    store = Counted()
    async with store_monitor(store, 0.001):  # type: ignore[arg-type]
        async with asyncio.timeout(10):
            await store.checked.wait()
    async with store_monitor(store, 0):  # type: ignore[arg-type]
        pass  # 0: no monitor task
