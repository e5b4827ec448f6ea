"""Device presence through the API: status changes ingested from an edge's batches become the
device status list of a site, `device_offline` alerts and the offline counts of /regions."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.central.conftest import KEY_S1, EdgeAuth, admin_client, batch, edge_toml, utc_ms

REGISTRY = f"""
[[sites]]
id = "s1"
registered_staff = 100
region = {{ city = "Hangzhou" }}

  [[sites.meters]]
  device = "meter-gas"

  [[sites.scales]]
  device = "plate-1"

[[sites]]
id = "s2"
registered_staff = 100
region = {{ city = "Hangzhou" }}
{edge_toml("s1")}"""
ONLINE_MS = utc_ms(2025, 11, 20, 1, 0)  # 09:00 in Shanghai
WILL_MS = utc_ms(2025, 11, 20, 4, 30)  # 12:30 in Shanghai


def status(device: str, kind: str, state: str, at_ms: int, boot: str | None) -> dict[str, Any]:
    return {"kind": kind, "device": device, "state": state, "boot": boot, "received_ms": at_ms}


def statuses_only(changes: list[dict[str, Any]], batch_id: str) -> dict[str, Any]:
    return {**batch([], batch_id=batch_id), "statuses": changes}


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(REGISTRY, tmp_path) as http:
        changes = [
            status("meter-elec", "meter", "online", ONLINE_MS, "b1"),
            status("card-1", "card", "online", ONLINE_MS + 5, "c1"),
            status("meter-elec", "meter", "offline", WILL_MS, "b1"),  # its last will
        ]
        for batch_id in ("first", "resent-after-a-crash"):
            response = await http.post(
                "/api/v1/ingest", json=statuses_only(changes, batch_id), auth=EdgeAuth(KEY_S1)
            )
            assert response.status_code == 200, response.text
            assert response.json() == {
                "batch_id": batch_id, "accepted": 0, "duplicates": 0, "rejected": [],
                "rejected_statuses": [], "rejected_duplicates": [],
            }  # fmt: skip
        yield http


async def test_device_status_list_has_state_since_and_unknown_registered_devices(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/sites/s1/devices")
    assert response.status_code == 200, response.text
    devices = {d["device"]: d for d in response.json()["devices"]}
    assert [d["device"] for d in response.json()["devices"]] == [
        "card-1", "meter-elec", "meter-gas", "plate-1"
    ]  # fmt: skip
    assert devices["meter-elec"] == {
        "device": "meter-elec", "kind": "meter", "state": "offline", "boot": "b1",
        "since_ms": WILL_MS, "since": "2025-11-20T12:30:00+08:00", "readings": None,
    }  # fmt: skip
    assert (devices["card-1"]["state"], devices["card-1"]["since_ms"]) == ("online", ONLINE_MS + 5)
    for registered, kind, readings in (
        ("meter-gas", "meter", "silent"),
        ("plate-1", "scale", None),
    ):
        assert devices[registered] == {
            "device": registered, "kind": kind, "state": "unknown", "boot": None,
            "since_ms": None, "since": None, "readings": readings,
        }  # fmt: skip
    # only meters report at a fixed interval; meter-elec is neither configured nor has readings
    assert devices["card-1"]["readings"] is None
    assert (await client.get("/api/v1/sites/s2/devices")).json() == {"site": "s2", "devices": []}
    assert (await client.get("/api/v1/sites/nowhere/devices")).status_code == 404


async def test_an_offline_device_is_alerted_from_the_date_it_went_offline(
    client: httpx.AsyncClient,
) -> None:
    def offline(body: dict[str, Any]) -> list[dict[str, Any]]:
        return [a for a in body["alerts"] if a["kind"] == "device_offline"]

    day = (await client.get("/api/v1/alerts", params={"site": "s1", "date": "2025-11-20"})).json()
    (alert,) = offline(day)
    end_of_day_ms = utc_ms(2025, 11, 20, 16, 0)  # the date's end in Shanghai
    assert alert["device"] == "meter-elec"
    assert (alert["since_ms"], alert["boot"], alert["unit"]) == (WILL_MS, "b1", "min")
    assert alert["value"] == pytest.approx((end_of_day_ms - WILL_MS) / 60_000)
    assert "offline since 2025-11-20T12:30:00+08:00, boot b1" in alert["message"]
    assert "device_offline" in day["notes"][0]
    # the day before, it had not gone offline yet; card-1 is online: no alert
    before = await client.get("/api/v1/alerts", params={"site": "s1", "date": "2025-11-19"})
    assert offline(before.json()) == []
    # a region's alerts carry it too; the dashboard's region view marks the site
    region = await client.get(
        "/api/v1/alerts", params={"region": "city:Hangzhou", "date": "2025-11-21"}
    )
    assert [(a["site"], a["device"]) for a in offline(region.json())] == [("s1", "meter-elec")]
    (tag,) = (await client.get("/api/v1/regions")).json()
    assert tag["offline_devices"] == {"s1": 1, "s2": 0}


async def test_coming_back_online_ends_the_alert(client: httpx.AsyncClient) -> None:
    back_ms = int(datetime(2025, 11, 21, 2, 0, tzinfo=UTC).timestamp() * 1000)
    response = await client.post(
        "/api/v1/ingest",
        json=statuses_only([status("meter-elec", "meter", "online", back_ms, "b2")], "back"),
        auth=EdgeAuth(KEY_S1),
    )
    assert response.status_code == 200, response.text
    devices = {
        d["device"]: d for d in (await client.get("/api/v1/sites/s1/devices")).json()["devices"]
    }
    assert (devices["meter-elec"]["state"], devices["meter-elec"]["boot"]) == ("online", "b2")
    alerts = await client.get("/api/v1/alerts", params={"site": "s1", "date": "2025-11-21"})
    assert [a for a in alerts.json()["alerts"] if a["kind"] == "device_offline"] == []
    (tag,) = (await client.get("/api/v1/regions")).json()
    assert tag["offline_devices"] == {"s1": 0, "s2": 0}


async def test_a_bad_status_is_rejected_alone_and_the_good_one_stored(
    client: httpx.AsyncClient,
) -> None:
    back_ms = utc_ms(2025, 11, 21, 2, 0)
    changes = [
        status("meter-elec", "meter", "asleep", back_ms, None),  # no such state
        status("meter-elec", "meter", "online", back_ms + 1, "b2"),
    ]
    response = await client.post(
        "/api/v1/ingest", json=statuses_only(changes, "bad"), auth=EdgeAuth(KEY_S1)
    )
    assert response.status_code == 200, response.text
    (rejected,) = response.json()["rejected_statuses"]
    assert (rejected["index"], rejected["device"]) == (0, "meter-elec")
    assert rejected["reason"].startswith("state: ")
    devices = {
        d["device"]: d for d in (await client.get("/api/v1/sites/s1/devices")).json()["devices"]
    }
    assert (devices["meter-elec"]["state"], devices["meter-elec"]["boot"]) == ("online", "b2")
