"""No poison batch (issue 13): a reading central cannot store is rejected on its own, with a
reason, and the rest of its batch is stored; never a 5xx for the whole batch."""

import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from central.app import create_app
from central.settings import CentralSettings
from central.store import BatchToStore, ReadingsStore, WriteOutcome
from central.store.sqlite import SqliteStore
from contract import (
    MAX_EPOCH_MS,
    MAX_LOCAL_DATE,
    CardRecord,
    DroppedDuplicate,
    MeterRecord,
    Quantity,
    ScaleRecord,
    Stream,
)
from tests.central.conftest import KEY_S1, EdgeAuth, batch, card, in_process, meter, scale

URL = "/api/v1/ingest"
END_OF_9999_MS = 253402300799999  # 9999-12-31T23:59:59.999Z, the contract's maximum until now
T0_MS = 1_700_000_000_000


def good_readings() -> list[dict[str, Any]]:
    return [
        scale(0, T0_MS, "plate", 25.0),
        card(0, T0_MS + 100, 7),
        meter(0, T0_MS + 200, "electricity", 1234.5, device="elec-1"),
    ]


def rows(settings: CentralSettings, sql: str) -> list[tuple[Any, ...]]:
    with sqlite3.connect(settings.sqlite_path) as conn:
        return conn.execute(sql).fetchall()


@pytest.mark.parametrize(
    ("field", "kind"),
    [
        ("device_time_ms", "scale"),
        ("device_time_ms", "card"),
        ("device_time_ms", "meter"),
        ("received_ms", "card"),
    ],
)
async def test_a_reading_at_the_end_of_year_9999_is_rejected_alone(
    client: httpx.AsyncClient, settings: CentralSettings, field: str, kind: str
) -> None:
    late = {
        "scale": scale(1, T0_MS, "plate", 10.0),
        "card": card(1, T0_MS, 8),
        "meter": meter(1, T0_MS, "electricity", 1300.0, device="elec-1"),
    }[kind]
    late[field] = END_OF_9999_MS
    readings = good_readings()
    readings.insert(1, late)
    body = batch(readings, batch_id="late")
    body["duplicates"] = [
        {"id": 1, "device": "card-1", "device_time_ms": T0_MS},
        {"id": 2, "device": "card-1", "device_time_ms": END_OF_9999_MS},
    ]
    for _ in range(2):  # a resend is answered the same way: the edge is never stuck on it
        response = await client.post(URL, json=body, auth=EdgeAuth(KEY_S1))
        assert response.status_code == 200, response.text
        result = response.json()
        assert [r["index"] for r in result["rejected"]] == [1]
        rejected = result["rejected"][0]
        assert (rejected["device"], rejected["seq"]) == (late["device"], 1)
        assert (
            f"{field}: Input should be less than or equal to {MAX_EPOCH_MS}" in rejected["reason"]
        )
        assert [(r["index"], r["device"]) for r in result["rejected_duplicates"]] == [(1, "card-1")]
        assert (
            "device_time_ms: Input should be less than or equal to"
            in (result["rejected_duplicates"][0]["reason"])
        )
    assert rows(settings, "SELECT COUNT(*) FROM readings") == [(3,)]
    assert rows(settings, "SELECT reading_index FROM rejected_readings") == [(1,)]
    assert rows(settings, "SELECT id FROM edge_duplicates") == [(1,)]


async def test_wrong_json_types_in_a_record_are_rejected_alone(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    readings: list[dict[str, Any]] = good_readings()
    as_text = scale(1, T0_MS, "plate", 10.0) | {"mass_g": "100"}
    as_flag = scale(2, T0_MS, "plate", 10.0) | {"mass_g": True}
    seq_flag = card(1, T0_MS, 9) | {"seq": True}
    readings += [as_text, as_flag, seq_flag]
    response = await client.post(URL, json=batch(readings), auth=EdgeAuth(KEY_S1))
    assert response.status_code == 200
    result = response.json()
    assert result["accepted"] == 3
    reasons = {r["index"]: r["reason"] for r in result["rejected"]}
    assert "mass_g: Input should be a valid number" in reasons[3]
    assert "mass_g: Input should be a valid number" in reasons[4]
    assert "seq: Input should be a valid integer" in reasons[5]


class FailsOnDevice:
    """The real SQLite store, failing (as a bug would) on every batch holding one device's
    reading, one dropped-duplicate report or one status change of it: the seam to reproduce a
    store that cannot store one entry."""

    def __init__(self, store: SqliteStore, device: str) -> None:
        self._store = store
        self._device = device
        self.backend = store.backend
        self.batches_failed = 0

    async def write_batch(self, batch: BatchToStore) -> WriteOutcome:
        devices = {
            *(r.device for r in batch.readings),
            *(d.device for d in batch.edge_duplicates),
            *(s.device for s in batch.statuses),
        }
        if self._device in devices:
            self.batches_failed += 1
            raise ValueError("year 10000 is out of range")
        return await self._store.write_batch(batch)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


async def test_a_store_failing_on_one_entry_stores_the_rest_and_rejects_it(
    settings: CentralSettings, caplog: pytest.LogCaptureFixture
) -> None:
    @asynccontextmanager
    async def opener(s: CentralSettings) -> AsyncIterator[ReadingsStore]:
        async with SqliteStore(s.sqlite_path) as store:
            yield FailsOnDevice(store, "poison")

    readings = [scale(i, T0_MS + i, "plate", 10.0 + i) for i in range(40)]
    readings[17] = scale(17, T0_MS + 17, "plate", 1.0, device="poison")
    body = batch(readings, batch_id="isolate")
    body["duplicates"] = [
        {"id": 1, "device": "poison", "device_time_ms": T0_MS},
        {"id": 2, "device": "scale-1", "device_time_ms": T0_MS},
    ]
    body["statuses"] = [
        {"kind": "scale", "device": "poison", "state": "online", "received_ms": T0_MS},
        {"kind": "scale", "device": "scale-1", "state": "online", "received_ms": T0_MS},
    ]
    app = create_app(settings, store_opener=opener)
    caplog.set_level(logging.ERROR, logger="central.api.isolation")
    async with in_process(app) as client:
        response = await client.post(URL, json=body, auth=EdgeAuth(KEY_S1))
    assert response.status_code == 200, response.text
    result = response.json()
    assert (result["accepted"], result["duplicates"]) == (39, 0)
    assert [(r["index"], r["device"], r["seq"]) for r in result["rejected"]] == [(17, "poison", 17)]
    assert (
        "central cannot store this entry (ValueError: year 10000"
        in (result["rejected"][0]["reason"])
    )
    assert [r["index"] for r in result["rejected_duplicates"]] == [0]
    assert [r["index"] for r in result["rejected_statuses"]] == [0]
    assert rows(settings, "SELECT COUNT(*) FROM readings WHERE device = 'poison'") == [(0,)]
    assert rows(settings, "SELECT COUNT(*) FROM readings") == [(39,)]
    assert rows(settings, "SELECT reading_index FROM rejected_readings") == [(17,)]
    assert rows(settings, "SELECT field, entry_index FROM rejected_entries ORDER BY field") == [
        ("duplicates", 0),
        ("statuses", 0),
    ]
    assert rows(settings, "SELECT device FROM device_status") == [("scale-1",)]
    assert "readings[17] rejected: central cannot store this entry" in caplog.text


async def test_the_read_side_ends_at_the_last_date_a_reading_can_have(
    client: httpx.AsyncClient,
) -> None:
    from tests.central.conftest import admin

    for path in (
        "/api/v1/sites/s1/kpis/daily?date={d}",
        "/api/v1/kpis?site=s1&period=year&date={d}",
        "/api/v1/sites/s1/load-curve?date={d}",
        "/api/v1/alerts?site=s1&date={d}",
    ):
        last = await client.get(path.format(d=MAX_LOCAL_DATE.isoformat()), headers=admin())
        assert last.status_code == 200, (path, last.text)
        beyond = await client.get(path.format(d="9999-01-01"), headers=admin())
        assert beyond.status_code == 422, (path, beyond.text)
        assert "the dates a reading can have" in beyond.json()["detail"]


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Etc/GMT+12", "UTC"])
async def test_every_date_the_store_derives_from_the_latest_instant_exists(
    tmp_path: Path, zone: str
) -> None:
    # the widest reach: a stable raw kitchen-bin reading (KPI loads reach 33 days beyond it),
    # a meter, a card, and a dropped duplicate, all at the shared maximum, in the zones of the
    # extreme offsets (UTC+14, UTC-12)
    at = MAX_EPOCH_MS
    records: list[ScaleRecord | MeterRecord | CardRecord] = [
        ScaleRecord(device="bin-1", boot="b1", seq=0, device_time_ms=at, received_ms=at,
                    stream=Stream.PREP, gross_g=5.0, stable=True),
        MeterRecord(device="m1", boot="b1", seq=0, device_time_ms=at, received_ms=at,
                    quantity=Quantity.ELECTRICITY, total=1.0),
        CardRecord(device="c1", boot="b1", seq=0, device_time_ms=at, received_ms=0,
                   person="ab" * 8),
    ]  # fmt: skip
    async with SqliteStore(tmp_path / "s.sqlite3") as store:
        for _ in range(2):  # the second time every reading is a duplicate, dated too
            outcome = await store.write_batch(
                BatchToStore(
                    site="s1",
                    edge="e1",
                    batch_id="latest",
                    received_ms=at,
                    readings=records,
                    timezone=ZoneInfo(zone),
                    edge_duplicates=[DroppedDuplicate(id=1, device="c1", device_time_ms=at)],
                )
            )
        assert (outcome.accepted, outcome.duplicates) == (0, 3)
        dups = await store.load_duplicates("s1", date(1969, 12, 31), MAX_LOCAL_DATE)
        assert int(dups.duplicates.sum()) == 4
