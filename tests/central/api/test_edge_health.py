"""Edge health through the API: the health that travels with an edge's batches becomes its site's
edge list (GET /sites/{site}/edges) and an `edge_lost_readings` alert on the dates it lost any."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.central.conftest import KEY_S1, EdgeAuth, admin_client, batch, card, edge_toml, utc_ms

REGISTRY = f"""
[[sites]]
id = "s1"
registered_staff = 100
{edge_toml("s1")}"""
DAY_BEFORE_MS = utc_ms(2025, 11, 19, 8, 0)  # 16:00 in Shanghai, 19 Nov
ON_DATE_MS = utc_ms(2025, 11, 20, 2, 0)  # 10:00 in Shanghai, 20 Nov


def health(at_ms: int, dropped: int, dead: int, **extra: Any) -> dict[str, Any]:
    return {
        "measured_ms": at_ms, "dropped_overflow": dropped, "dead_lettered": dead,
        "intake_pauses": 0, "broker_sessions_lost": 0, "pending_readings": 12,
        "oldest_pending_age_ms": 2_500, **extra,
    }  # fmt: skip


async def upload(http: httpx.AsyncClient, seq: int, report: dict[str, Any]) -> httpx.Response:
    body = {**batch([card(seq, ON_DATE_MS, seq)], batch_id=f"b{seq}"), "health": report}
    return await http.post("/api/v1/ingest", json=body, auth=EdgeAuth(KEY_S1))


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(REGISTRY, tmp_path) as http:
        for seq, report in enumerate(
            (health(DAY_BEFORE_MS, 2, 1), health(ON_DATE_MS, 5, 1, broker_sessions_lost=1))
        ):
            response = await upload(http, seq, report)
            assert response.status_code == 200, response.text
        yield http


async def test_the_edge_list_shows_latest_health_and_what_the_date_added(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/v1/sites/s1/edges", params={"date": "2025-11-20"})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "site": "s1",
        "date": "2025-11-20",
        "edges": [
            {
                "edge": "edge-s1", "measured_ms": ON_DATE_MS,
                "measured": "2025-11-20T10:00:00+08:00", "pending_readings": 12,
                "oldest_pending_age_s": 2.5,
                "total": {"dropped_overflow": 5, "dead_lettered": 1, "intake_pauses": 0,
                          "broker_sessions_lost": 1},
                "on_date": {"dropped_overflow": 3, "dead_lettered": 0, "intake_pauses": 0,
                            "broker_sessions_lost": 1},
                "lost_readings": True,
            }
        ],
    }  # fmt: skip
    before = (await client.get("/api/v1/sites/s1/edges", params={"date": "2025-11-18"})).json()
    assert before["edges"] == []
    assert (await client.get("/api/v1/sites/nowhere/edges")).status_code == 404
    bad_date = await client.get("/api/v1/sites/s1/edges", params={"date": "20.11.2025"})
    assert bad_date.status_code == 422


async def test_an_edge_that_lost_readings_is_alerted_on_that_date(
    client: httpx.AsyncClient,
) -> None:
    def lost(on: str) -> list[dict[str, Any]]:
        return [a for a in alerts[on] if a["kind"] == "edge_lost_readings"]

    alerts = {}
    for on in ("2025-11-19", "2025-11-20", "2025-11-21"):
        response = await client.get("/api/v1/alerts", params={"site": "s1", "date": on})
        assert response.status_code == 200, response.text
        alerts[on] = response.json()["alerts"]
    (first,) = lost("2025-11-19")  # the first report ever: all its counts are new
    assert (first["edge"], first["value"]) == ("edge-s1", 3.0)
    (alert,) = lost("2025-11-20")
    assert (alert["edge"], alert["value"], alert["unit"]) == ("edge-s1", 4.0, "messages")
    assert "dropped_overflow 3, broker_sessions_lost 1" in alert["message"]
    assert lost("2025-11-21") == []  # nothing reported that day: nothing added


async def test_a_bad_health_report_costs_nothing_but_itself(client: httpx.AsyncClient) -> None:
    response = await upload(client, 7, {**health(ON_DATE_MS + 1, 9, 9), "dropped_overflow": -1})
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1
    edges = (await client.get("/api/v1/sites/s1/edges", params={"date": "2025-11-20"})).json()
    assert edges["edges"][0]["total"]["dropped_overflow"] == 5  # the bad report was not kept
