"""Signed uploads and edge keys from the credentials table, against central in process."""

import json
import sqlite3
import time

import httpx
import pytest

from central.__main__ import main
from central.settings import CentralSettings
from contract.signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign_headers, signing_key
from tests.central.conftest import KEY_S1, EdgeAuth, batch, bearer, card, meter, scale

URL = "/api/v1/ingest"


def readings() -> list[dict[str, object]]:
    return [
        scale(0, 1_700_000_000_000, "plate", 25.0),
        card(0, 1_700_000_000_100, 7),
        meter(0, 1_700_000_000_200, "electricity", 1234.5, device="elec-1"),
    ]


def stored_rows(settings: CentralSettings) -> list[tuple[object, ...]]:
    with sqlite3.connect(settings.sqlite_path) as conn:
        return conn.execute("SELECT * FROM readings ORDER BY device").fetchall()


def signed(key: str, body: bytes, now_s: float) -> dict[str, str]:
    return {**bearer(key), **sign_headers(signing_key(key), body, now_s)}


def keys(settings: CentralSettings, *args: str) -> int:
    """Run `canteen-central keys` on the test's database and registry."""
    return main(
        [
            "keys",
            "--db",
            str(settings.sqlite_path),
            "--registry",
            str(settings.registry_path),
            *args,
        ]
    )


async def test_an_unsigned_upload_is_401_and_stores_nothing(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    response = await client.post(URL, json=batch(readings()), headers=bearer(KEY_S1))
    assert response.status_code == 401
    assert response.json()["detail"].startswith("edge 'edge-s1': unsigned upload: send ")
    assert stored_rows(settings) == []


async def test_the_signature_is_checked_before_the_body_is_parsed(
    client: httpx.AsyncClient,
) -> None:
    body = b"not json at all"
    headers = {**bearer(KEY_S1), TIMESTAMP_HEADER: str(int(time.time()))}
    headers[SIGNATURE_HEADER] = "v1=" + "0" * 64
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401  # not 422: nothing was parsed
    assert "does not match the body" in response.json()["detail"]
    good = await client.post(URL, content=body, headers=signed(KEY_S1, body, time.time()))
    assert good.status_code == 422


# beyond the 300 s window by more than a request can take on a loaded machine (whole seconds)
@pytest.mark.parametrize("offset_s", [-330.0, 330.0, -86_400.0])
async def test_a_timestamp_outside_the_window_is_401_with_the_reason(
    client: httpx.AsyncClient, settings: CentralSettings, offset_s: float
) -> None:
    body = json.dumps(batch(readings())).encode()
    headers = signed(KEY_S1, body, time.time() + offset_s)
    response = await client.post(URL, content=body, headers=headers)
    assert response.status_code == 401
    detail = response.json()["detail"]
    assert "outside the 300 s window" in detail
    assert ("ahead of" if offset_s > 0 else "behind") in detail
    assert stored_rows(settings) == []


async def test_a_tampered_body_is_401(client: httpx.AsyncClient, settings: CentralSettings) -> None:
    body = json.dumps(batch(readings())).encode()
    headers = signed(KEY_S1, body, time.time())
    tampered = body.replace(b"25.0", b"2500.0")
    assert tampered != body
    response = await client.post(URL, content=tampered, headers=headers)
    assert response.status_code == 401
    assert stored_rows(settings) == []


async def test_a_batch_replayed_inside_the_window_changes_nothing(
    client: httpx.AsyncClient, settings: CentralSettings
) -> None:
    body = json.dumps(batch(readings(), batch_id="b-replayed")).encode()
    headers = signed(KEY_S1, body, time.time())
    first = await client.post(URL, content=body, headers=headers)
    assert first.json()["accepted"] == 3
    before = stored_rows(settings)
    for _ in range(3):  # the exact request captured and sent again, headers and all
        again = await client.post(URL, content=body, headers=headers)
        assert again.status_code == 200
        assert (again.json()["accepted"], again.json()["duplicates"]) == (0, 3)
    assert stored_rows(settings) == before
    assert len(before) == 3


async def test_a_key_created_with_the_cli_uploads_and_stops_when_revoked(
    client: httpx.AsyncClient, settings: CentralSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keys(settings, "create-edge", "--edge", "edge-s2b", "--site", "s2") == 0
    key = capsys.readouterr().out.strip()
    assert len(key) >= 40
    ok = await client.post(
        URL, json=batch(readings(), site="s2", edge="edge-s2b"), auth=EdgeAuth(key)
    )
    assert ok.status_code == 200, ok.text
    other_site = await client.post(URL, json=batch(readings(), site="s1"), auth=EdgeAuth(key))
    assert other_site.status_code == 403
    assert "edge 'edge-s2b' may write only site 's2'" in other_site.json()["detail"]
    # the database holds only the hash
    with sqlite3.connect(settings.sqlite_path) as conn:
        assert key not in str(conn.execute("SELECT * FROM credentials").fetchall())
    assert keys(settings, "revoke", "edge-s2b") == 0
    refused = await client.post(
        URL, json=batch(readings(), site="s2", edge="edge-s2b"), auth=EdgeAuth(key)
    )
    assert refused.status_code == 401
    assert "the API key of edge 'edge-s2b' was revoked at " in refused.json()["detail"]


async def test_a_registry_key_revoked_with_the_cli_is_refused_though_the_registry_lists_it(
    client: httpx.AsyncClient, settings: CentralSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert (
        await client.post(URL, json=batch(readings()), auth=EdgeAuth(KEY_S1))
    ).status_code == 200
    assert keys(settings, "revoke", "edge-s1") == 0
    assert "revoked the registry key of edge 'edge-s1'" in capsys.readouterr().err
    # the registry file is untouched and still lists edge-s1 with KEY_S1's hash
    refused = await client.post(URL, json=batch(readings()), auth=EdgeAuth(KEY_S1))
    assert refused.status_code == 401
    assert "was revoked at" in refused.json()["detail"]


async def test_a_new_key_in_the_table_supersedes_the_registry_key_of_the_same_edge(
    client: httpx.AsyncClient, settings: CentralSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keys(settings, "create-edge", "--edge", "edge-s1", "--site", "s1") == 0
    new_key = capsys.readouterr().out.strip()
    old = await client.post(URL, json=batch(readings()), auth=EdgeAuth(KEY_S1))
    assert old.status_code == 401
    assert "superseded" in old.json()["detail"]
    new = await client.post(URL, json=batch(readings()), auth=EdgeAuth(new_key))
    assert new.status_code == 200


async def test_read_tokens_are_not_edge_keys(
    client: httpx.AsyncClient, settings: CentralSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert keys(settings, "create-token", "--name", "ops", "--admin") == 0
    token = capsys.readouterr().out.strip()
    response = await client.post(URL, json=batch(readings()), auth=EdgeAuth(token))
    assert response.status_code == 401
    assert "read token, not an edge API key" in response.json()["detail"]
