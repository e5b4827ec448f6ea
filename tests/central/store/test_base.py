"""The skeleton both stores share (central.store.base.ThreadedStore): a failed open closes what it
opened, closing twice is harmless, and a store that is not open answers StoreUnavailable."""

import sqlite3
import threading
from pathlib import Path

import pytest

from central.store import StoreError, StoreUnavailable
from central.store.base import ThreadedStore
from central.store.influx import InfluxStore
from central.store.influx_schema import reading_point
from central.store.sqlite import SqliteStore
from contract import CardRecord
from harness.ports import free_port

READING = CardRecord(device="card-1", boot="b1", seq=1, device_time_ms=1000, received_ms=1001,
                     person="ab" * 8)  # fmt: skip


def store_threads(prefix: str) -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(prefix)]


def influx_store() -> InfluxStore:
    # Nothing listens there; opening needs no round trip and none of these tests makes one.
    return InfluxStore(url=f"http://127.0.0.1:{free_port()}", org="o", bucket="b", token="t")


async def test_a_store_that_fails_to_open_closes_what_it_opened(tmp_path: Path) -> None:
    path = tmp_path / "central.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")  # a schema from a newer central
    store = SqliteStore(path)
    with pytest.raises(StoreError, match="schema version 99"):
        async with store:
            pytest.fail("opened a store of an unknown schema")
    # the writer thread had started to open the file: it is gone, so is the connection
    assert store_threads("sqlite-") == []
    await store.aclose()  # and closing again is harmless


@pytest.mark.parametrize("kind", ["sqlite", "influxdb"])
async def test_closing_twice_is_harmless_and_stops_the_threads(kind: str, tmp_path: Path) -> None:
    store: ThreadedStore = (
        SqliteStore(tmp_path / "central.db") if kind == "sqlite" else influx_store()
    )
    async with store:
        pass
    await store.aclose()
    assert store_threads("sqlite-") == []
    assert store_threads("influx-") == []


async def test_a_store_not_open_answers_unavailable(tmp_path: Path) -> None:
    sqlite_store = SqliteStore(tmp_path / "central.db")
    try:
        with pytest.raises(StoreUnavailable, match=r"sqlite store .*central\.db is closed"):
            await sqlite_store.site_stats("s1")
    finally:
        await sqlite_store.aclose()
    influx = influx_store()
    try:
        with pytest.raises(StoreUnavailable, match="influxdb store is closed"):
            await influx.write_points([reading_point("s1", READING, 0)])
        with pytest.raises(StoreUnavailable, match="influxdb store is closed"):
            await influx.site_stats("s1")
    finally:
        await influx.aclose()
