"""POST /api/v1/ingest in process, with the lifespan run and a real SQLite file."""

import json
import logging
import sqlite3
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from central.app import create_app
from central.settings import CentralSettings
from central.store import ReadingsStore
from central.store.sqlite import SqliteStore
from contract import MAX_BATCH_STATUSES
from tests.central.conftest import (
    KEY_S1,
    KEY_S2,
    EdgeAuth,
    batch,
    bearer,
    card,
    in_process,
    meter,
    scale,
)

URL = "/api/v1/ingest"


def stored_count(settings: CentralSettings) -> int:
    with sqlite3.connect(settings.sqlite_path) as conn:
        count: int = conn.execute("SELECT COUNT(*) FROM readings").fetchone()[0]
    return count


def three_readings() -> list[dict[str, object]]:
    return [
        scale(0, 1_700_000_000_000, "plate", 25.0),
        card(0, 1_700_000_000_100, 7),
        meter(0, 1_700_000_000_200, "electricity", 1234.5, device="elec-1"),
    ]


async def test_missing_key_is_401_with_a_bearer_challenge(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=batch(three_readings()))
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "missing API key" in response.json()["detail"]


async def test_wrong_key_is_401(client: httpx.AsyncClient) -> None:
    response = await client.post(URL, json=batch(three_readings()), headers=bearer("not-a-key"))
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert "unknown API key" in response.json()["detail"]


async def test_batch_for_another_site_is_403(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    response = await client.post(
        URL, json=batch(three_readings(), site="s2"), auth=EdgeAuth(KEY_S1)
    )
    assert response.status_code == 403
    assert response.json()["detail"] == "edge 'edge-s1' may write only site 's1', not 's2'"
    assert stored_count(settings) == 0


@pytest.mark.parametrize(
    ("body", "named"),
    [
        (b"not json", "Invalid JSON"),
        (json.dumps({"v": 1, "edge": "edge-s1", "batch_id": "b", "readings": []}).encode(), "site"),
        (json.dumps({"v": 1, "site": "s1", "edge": "edge-s1", "readings": []}).encode(),
         "batch_id"),
        (json.dumps({"v": 1, "site": "s1", "edge": "edge-s1", "batch_id": "b",
                     "readings": {"a": 1}}).encode(), "readings"),
        (json.dumps({"v": 1, "site": "s1", "edge": "edge-s1", "batch_id": "b",
                     "readings": []}).encode(), "readings"),
    ],
)  # fmt: skip
async def test_malformed_envelope_is_422_naming_the_field(
    client: httpx.AsyncClient, body: bytes, named: str
) -> None:
    response = await client.post(URL, content=body, auth=EdgeAuth(KEY_S1))
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail.startswith("malformed upload batch: ")
    assert named in detail


async def test_too_many_readings_is_413(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    readings = [card(i, 1_700_000_000_000 + i, i) for i in range(settings.max_batch_readings + 1)]
    response = await client.post(URL, json=batch(readings), auth=EdgeAuth(KEY_S1))
    assert response.status_code == 413
    assert f"limit of {settings.max_batch_readings} readings" in response.json()["detail"]
    # the same count with one bad reading takes the slow path and is refused as well
    readings[0]["seq"] = -1
    response = await client.post(URL, json=batch(readings), auth=EdgeAuth(KEY_S1))
    assert response.status_code == 413
    assert stored_count(settings) == 0


async def test_oversized_body_is_413_before_authentication(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    body = json.dumps(batch(three_readings(), batch_id="x" * 10)).encode()
    body += b" " * (settings.max_body_bytes - len(body) + 1)
    response = await client.post(URL, content=body)  # no key at all: the size is checked first
    assert response.status_code == 413
    assert f"limit of {settings.max_body_bytes} bytes" in response.json()["detail"]


async def test_oversized_chunked_body_is_413(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(settings.max_body_bytes // 1024 + 2):
            yield b" " * 1024

    response = await client.post(URL, content=chunks(), headers=bearer(KEY_S1))
    assert "content-length" not in response.request.headers
    assert response.status_code == 413


async def test_same_batch_twice_is_stored_once(
    client: httpx.AsyncClient, settings: CentralSettings, caplog: pytest.LogCaptureFixture
) -> None:
    body = batch(three_readings(), batch_id="b-42")
    with caplog.at_level(logging.INFO, logger="central.api.ingest"):
        first = await client.post(URL, json=body, auth=EdgeAuth(KEY_S1))
        second = await client.post(URL, json=body, auth=EdgeAuth(KEY_S1))
    assert first.status_code == second.status_code == 200
    nothing_rejected: dict[str, list[Any]] = {
        "rejected": [],
        "rejected_statuses": [],
        "rejected_duplicates": [],
    }
    assert first.json() == {"batch_id": "b-42", "accepted": 3, "duplicates": 0, **nothing_rejected}
    assert second.json() == {"batch_id": "b-42", "accepted": 0, "duplicates": 3, **nothing_rejected}
    assert stored_count(settings) == 3
    assert "site=s1 edge=edge-s1 batch_id=b-42 accepted=0 duplicates=3 rejected=0" in caplog.text


async def test_bad_readings_are_rejected_and_good_ones_stored(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    readings: list[Any] = list(three_readings())
    bad_mass = scale(1, 1_700_000_000_300, "plate", -5.0)
    bad_kind = {"kind": "thermometer", "device": "t1", "boot": "b1", "seq": 9}
    readings[1:1] = [bad_mass]
    readings.append(bad_kind)
    readings.append("not an object")
    response = await client.post(
        URL, json=batch(readings, batch_id="b-mixed"), auth=EdgeAuth(KEY_S1)
    )
    assert response.status_code == 200
    result = response.json()
    assert (result["accepted"], result["duplicates"]) == (3, 0)
    rejected = result["rejected"]
    assert [r["index"] for r in rejected] == [1, 4, 5]
    assert (rejected[0]["device"], rejected[0]["boot"], rejected[0]["seq"]) == ("scale-1", "b1", 1)
    assert "mass_g" in rejected[0]["reason"]
    assert rejected[1]["device"] == "t1"
    assert "thermometer" in rejected[1]["reason"]
    assert rejected[2]["device"] is None
    assert stored_count(settings) == 3
    with sqlite3.connect(settings.sqlite_path) as conn:
        kept = conn.execute(
            "SELECT edge, batch_id, reading_index, raw FROM rejected_readings"
            " ORDER BY reading_index"
        ).fetchall()
    assert [(edge, b, i) for edge, b, i, _ in kept] == [
        ("edge-s1", "b-mixed", 1),
        ("edge-s1", "b-mixed", 4),
        ("edge-s1", "b-mixed", 5),
    ]
    assert json.loads(kept[0][3]) == bad_mass


async def test_store_unavailable_is_503_with_retry_after(
    tmp_path: Path, settings: CentralSettings
) -> None:
    def short_wait(s: CentralSettings) -> AbstractAsyncContextManager[ReadingsStore]:
        return SqliteStore(s.sqlite_path, busy_timeout_ms=50)

    app = create_app(settings, store_opener=short_wait)
    async with in_process(app) as client:
        blocker = sqlite3.connect(settings.sqlite_path, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")  # another writer holds the lock past busy_timeout
            response = await client.post(URL, json=batch(three_readings()), auth=EdgeAuth(KEY_S1))
        finally:
            blocker.close()
        assert response.status_code == 503
        assert int(response.headers["retry-after"]) > 0
        assert "database is locked" in response.json()["detail"]
        retried = await client.post(URL, json=batch(three_readings()), auth=EdgeAuth(KEY_S1))
        assert retried.json()["accepted"] == 3


async def test_each_edge_writes_its_own_site(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    response = await client.post(
        URL, json=batch(three_readings(), site="s2", edge="edge-s2"), auth=EdgeAuth(KEY_S2)
    )
    assert response.status_code == 200
    with sqlite3.connect(settings.sqlite_path) as conn:
        sites = conn.execute("SELECT DISTINCT site FROM readings").fetchall()
    assert sites == [("s2",)]


async def test_duplicates_the_edge_dropped_are_accepted_without_readings(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    body = batch([], batch_id="dups")
    body["duplicates"] = [{"id": 7, "device": "m1", "device_time_ms": 1_700_000_000_000}]
    for _ in range(2):  # a resend counts once
        response = await client.post(URL, json=body, auth=EdgeAuth(KEY_S1))
        assert response.status_code == 200
        assert response.json() == {"batch_id": "dups", "accepted": 0, "duplicates": 0,
                                   "rejected": [], "rejected_statuses": [],
                                   "rejected_duplicates": []}  # fmt: skip
    with sqlite3.connect(settings.sqlite_path) as conn:
        rows = conn.execute("SELECT device, duplicates FROM duplicate_counts").fetchall()
    assert rows == [("m1", 1)]
    del body["duplicates"]
    response = await client.post(URL, json=body, auth=EdgeAuth(KEY_S1))
    assert response.status_code == 422


async def test_bad_status_and_duplicate_entries_are_rejected_one_by_one(
    client: httpx.AsyncClient, settings: CentralSettings, caplog: pytest.LogCaptureFixture
) -> None:
    online = {"kind": "meter", "device": "elec-1", "state": "online", "boot": "b1",
              "received_ms": 1_700_000_000_000}  # fmt: skip
    asleep = {**online, "state": "asleep", "received_ms": 1_700_000_000_050}
    offline = {**online, "state": "offline", "received_ms": 1_700_000_000_100}
    dropped = {"id": 7, "device": "elec-1", "device_time_ms": 1_700_000_000_200}
    numbered_zero = {"id": 0, "device": "elec-1", "device_time_ms": 1_700_000_000_300}
    body = batch(three_readings(), batch_id="b-entries")
    body["statuses"] = [online, asleep, offline]
    body["duplicates"] = [numbered_zero, dropped, "not an object"]
    with caplog.at_level(logging.INFO, logger="central.api.ingest"):
        first = await client.post(URL, json=body, auth=EdgeAuth(KEY_S1))
        again = await client.post(URL, json=body, auth=EdgeAuth(KEY_S1))  # a resend
    assert first.status_code == again.status_code == 200, first.text
    result = first.json()
    assert (result["accepted"], result["duplicates"], result["rejected"]) == (3, 0, [])
    (bad_status,) = result["rejected_statuses"]
    assert (bad_status["index"], bad_status["device"]) == (1, "elec-1")
    assert bad_status["reason"] == "state: Input should be 'online' or 'offline'"
    bad_zero, bad_text = result["rejected_duplicates"]
    assert (bad_zero["index"], bad_zero["device"]) == (0, "elec-1")
    assert bad_zero["reason"].startswith("id: Input should be greater than or equal to 1")
    assert (bad_text["index"], bad_text["device"]) == (2, None)
    assert "valid dictionary" in bad_text["reason"]
    assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 3)
    assert again.json()["rejected_statuses"] == result["rejected_statuses"]
    assert "rejected_duplicates=2 rejected_statuses=1" in caplog.text
    assert "statuses[1]: state: Input should be 'online' or 'offline'" in caplog.text
    assert stored_count(settings) == 3
    with sqlite3.connect(settings.sqlite_path) as conn:
        changes = conn.execute(
            "SELECT state, received_ms FROM device_status_log ORDER BY received_ms"
        ).fetchall()
        edge_dropped = conn.execute("SELECT id, device FROM edge_duplicates").fetchall()
        kept = conn.execute(
            "SELECT edge, batch_id, field, entry_index, reason, raw FROM rejected_entries"
            " ORDER BY field, entry_index"
        ).fetchall()
        (state,) = conn.execute(
            "SELECT state FROM device_status WHERE device = 'elec-1'"
        ).fetchone()
    assert changes == [("online", 1_700_000_000_000), ("offline", 1_700_000_000_100)]
    assert state == "offline"
    assert edge_dropped == [(7, "elec-1")]  # the good dropped duplicate, counted once
    assert [(e, b, f, i) for e, b, f, i, _, _ in kept] == [
        ("edge-s1", "b-entries", "duplicates", 0),
        ("edge-s1", "b-entries", "duplicates", 2),
        ("edge-s1", "b-entries", "statuses", 1),
    ]  # kept once, although the batch came twice
    assert [json.loads(raw) for *_, raw in kept] == [numbered_zero, "not an object", asleep]
    assert kept[2][4] == bad_status["reason"]


async def test_a_bad_statuses_or_duplicates_list_still_refuses_the_batch(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    """Entries are rejected one by one; a list that is not one, or too long, is the envelope's."""
    too_many = batch(three_readings(), batch_id="too-many")
    too_many["statuses"] = [0] * (MAX_BATCH_STATUSES + 1)  # counted before any entry is read
    not_a_list = batch(three_readings(), batch_id="not-a-list")
    not_a_list["duplicates"] = {"id": 1}
    for body, field in ((too_many, "statuses"), (not_a_list, "duplicates")):
        response = await client.post(URL, json=body, auth=EdgeAuth(KEY_S1))
        assert response.status_code == 422, response.text
        assert field in response.json()["detail"]
    assert stored_count(settings) == 0
