"""GET /alerts/history and POST /alerts/ack: the alerts of a span of dates, acknowledged with who
and when, once (idempotent), only by a reader of the alert's site."""

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from central.__main__ import main
from central.credentials import CredentialStore, Role
from tests.central.api.test_reports import REGISTRY, lunch_day
from tests.central.conftest import admin_client, bearer, ingest

HISTORY = "/api/v1/alerts/history"


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(REGISTRY, tmp_path) as http:
        yield http


def read_token(tmp_path: Path, name: str, role: Role, scope: str) -> dict[str, str]:
    with CredentialStore(tmp_path / "central.sqlite3") as credentials:
        return bearer(credentials.create(name, role, scope).secret)


async def history(client: httpx.AsyncClient, **params: str) -> dict[str, object]:
    response = await client.get(HISTORY, params=params)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def waste_alert(body: dict[str, object]) -> dict[str, object]:
    alerts = body["alerts"]
    assert isinstance(alerts, list)
    (found,) = [a for a in alerts if a["kind"] == "waste_target"]
    assert isinstance(found, dict)
    return found


async def test_history_lists_each_dates_alerts_as_the_dated_endpoint_does(
    client: httpx.AsyncClient,
) -> None:
    await ingest(client, lunch_day(2026, 11, 20, 4, 150.0, 0), "nov")
    body = await history(client, site="s1", start="2026-11-19", end="2026-11-21")
    assert (body["start"], body["end"], body["sites"]) == ("2026-11-19", "2026-11-21", ["s1"])
    listed = body["alerts"]
    assert isinstance(listed, list)
    for on in ("2026-11-19", "2026-11-20", "2026-11-21"):
        dated = (await client.get("/api/v1/alerts", params={"site": "s1", "date": on})).json()
        assert [(a["kind"], a["device"], a["message"]) for a in dated["alerts"]] == [
            (a["kind"], a["device"], a["message"]) for a in listed if a["date"] == on
        ]
    alert = waste_alert(body)
    assert alert["id"] == "s1/2026-11-20/waste_target/"
    assert alert["ack"] is None
    assert body["open"] == len(listed)


async def test_acknowledging_records_who_and_when_once(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await ingest(client, lunch_day(2026, 11, 20, 4, 150.0, 0), "nov")
    manager = read_token(tmp_path, "s1-manager", Role.SITE, "s1")
    body = {"site": "s1", "date": "2026-11-20", "kind": "waste_target", "note": "menu changed"}
    first = await client.post("/api/v1/alerts/ack", json=body, headers=manager)
    assert first.status_code == 200, first.text
    ack = first.json()
    assert ack["id"] == "s1/2026-11-20/waste_target/"
    assert (ack["ack"]["by"], ack["ack"]["note"]) == ("token s1-manager", "menu changed")
    # again, by someone else: the first acknowledgement stands (a retried POST is harmless)
    again = await client.post("/api/v1/alerts/ack", json={**body, "note": "again"})
    assert again.status_code == 200
    assert again.json() == ack
    listed = await history(client, site="s1", start="2026-11-20", end="2026-11-20")
    assert waste_alert(listed)["ack"] == ack["ack"]
    alerts = listed["alerts"]
    assert isinstance(alerts, list)
    assert listed["open"] == len(alerts) - 1
    # the region's history carries it too
    region = await history(client, region="province:Zhejiang", start="2026-11-20", end="2026-11-20")
    assert waste_alert(region)["ack"] == ack["ack"]


async def test_acknowledging_needs_a_reader_of_the_site_and_an_existing_alert(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    await ingest(client, lunch_day(2026, 11, 20, 4, 150.0, 0), "nov")
    body = {"site": "s1", "date": "2026-11-20", "kind": "waste_target"}
    other = read_token(tmp_path, "s2-manager", Role.SITE, "s2")
    refused = await client.post("/api/v1/alerts/ack", json=body, headers=other)
    assert refused.status_code == 403
    assert "may not read site 's1'" in refused.json()["detail"]
    nobody = await client.post("/api/v1/alerts/ack", json=body, headers={"Authorization": ""})
    assert nobody.status_code == 401
    missing = await client.post("/api/v1/alerts/ack", json={**body, "date": "2026-11-19"})
    assert missing.status_code == 404
    assert "no alert 's1/2026-11-19/waste_target/'" in missing.json()["detail"]
    unknown = await client.post("/api/v1/alerts/ack", json={**body, "kind": "bogus"})
    assert unknown.status_code == 422
    listed = await history(client, site="s1", start="2026-11-20", end="2026-11-20")
    assert waste_alert(listed)["ack"] is None  # nothing was recorded


async def test_history_spans_are_bounded(client: httpx.AsyncClient) -> None:
    too_long = await client.get(
        HISTORY, params={"site": "s1", "start": "2026-01-01", "end": "2026-12-31"}
    )
    assert too_long.status_code == 422
    assert "at most 92 days" in too_long.json()["detail"]
    backwards = await client.get(
        HISTORY, params={"site": "s1", "start": "2026-11-02", "end": "2026-11-01"}
    )
    assert backwards.status_code == 422
    future = await history(client, site="s1", start="2999-01-01", end="2999-01-02")
    assert future["alerts"] == []  # dates after today have no alerts yet


async def test_a_signed_in_user_acknowledges_from_central_pages_only(
    client: httpx.AsyncClient, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ingest(client, lunch_day(2026, 11, 20, 4, 150.0, 0), "nov")
    monkeypatch.setattr("sys.stdin", io.StringIO("correct horse battery\n"))
    db, registry = str(tmp_path / "central.sqlite3"), str(tmp_path / "registry.toml")
    assert main(["users", "--db", db, "--registry", registry, "add", "chef", "--site", "s1"]) == 0
    no_token = {"Authorization": ""}  # the client's admin token would win over the cookie
    own_page = {**no_token, "Origin": "http://central.test"}
    signed_in = await client.post(
        "/api/v1/auth/sign-in",
        json={"user": "chef", "password": "correct horse battery"},
        headers=own_page,
    )
    assert signed_in.status_code == 200, signed_in.text
    body = {"site": "s1", "date": "2026-11-20", "kind": "waste_target"}
    forged = await client.post(
        "/api/v1/alerts/ack", json=body, headers={**no_token, "Origin": "https://evil.test"}
    )
    assert forged.status_code == 403  # another site's page: refused before the route runs
    done = await client.post("/api/v1/alerts/ack", json=body, headers=own_page)
    assert done.status_code == 200, done.text
    assert done.json()["ack"]["by"] == "chef"
