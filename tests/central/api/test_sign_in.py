"""Sign-in, sessions and sign-out over HTTP: cookie flags, scopes, CSRF refusal (counted) and
lockout."""

import io
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from central.__main__ import main
from central.app import create_app
from central.settings import CentralSettings
from tests.central.api.test_read_access import REGISTRY
from tests.central.conftest import bearer, in_process

PASSWORD = "correct horse battery"
ORIGIN = {"Origin": "http://central.test"}
SAME_ORIGIN = {"Sec-Fetch-Site": "same-origin"}


@pytest.fixture
def regional(tmp_path: Path, settings: CentralSettings) -> CentralSettings:
    path = tmp_path / "regional.toml"
    path.write_text(REGISTRY)
    return settings.model_copy(
        update={
            "registry_path": path,
            "sign_in_max_failures_per_user": 3,
            "sign_in_max_failures_per_address": 6,
        }
    )


def add_user(
    settings: CentralSettings, monkeypatch: pytest.MonkeyPatch, name: str, *scope: str
) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO(f"{PASSWORD}\n"))
    db, registry = str(settings.sqlite_path), str(settings.registry_path)
    assert main(["users", "--db", db, "--registry", registry, "add", name, *scope]) == 0


@pytest.fixture
async def client(
    regional: CentralSettings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[httpx.AsyncClient]:
    add_user(regional, monkeypatch, "hz", "--site", "hz-1")
    add_user(regional, monkeypatch, "zj", "--region", "province:Zhejiang")
    add_user(regional, monkeypatch, "ops", "--admin")
    async with in_process(create_app(regional)) as http:
        yield http


async def sign_in(
    http: httpx.AsyncClient, user: str, password: str = PASSWORD, headers: dict[str, str] = ORIGIN
) -> httpx.Response:
    return await http.post(
        "/api/v1/auth/sign-in", json={"user": user, "password": password}, headers=headers
    )


async def test_sign_in_sets_a_strict_httponly_cookie_that_reads_until_sign_out(
    client: httpx.AsyncClient, regional: CentralSettings
) -> None:
    assert (await client.get("/api/v1/sites")).status_code == 401
    response = await sign_in(client, "zj")
    assert response.status_code == 200
    assert response.json() == {
        "name": "zj", "kind": "user", "role": "region", "scope": "province:Zhejiang",
    }  # fmt: skip
    cookie = response.headers["set-cookie"]
    flags = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert flags >= {"httponly", "samesite", "max-age", "path"}
    assert "samesite=strict" in cookie.lower()
    assert f"max-age={int(regional.session_max_age_s)}" in cookie.lower()
    assert "secure" not in flags  # plain HTTP here; see the HTTPS test
    sites = await client.get("/api/v1/sites")
    assert [s["id"] for s in sites.json()] == ["hz-1", "nb-1"]
    assert (await client.get("/api/v1/auth/session")).json()["name"] == "zj"
    assert (await client.post("/api/v1/auth/sign-out", headers=SAME_ORIGIN)).status_code == 204
    # The browser drops the cookie; a copy kept by somebody is refused as well.
    assert "canteen_session" not in client.cookies
    client.cookies.set("canteen_session", cookie.split(";")[0].split("=", 1)[1])
    after = await client.get("/api/v1/sites")
    assert after.status_code == 401
    assert "session has ended" in after.json()["detail"]


async def test_the_cookie_is_secure_over_https(
    regional: CentralSettings, client: httpx.AsyncClient
) -> None:
    async with in_process(create_app(regional)) as http:
        http.base_url = httpx.URL("https://central.test")
        response = await sign_in(http, "ops", headers={"Origin": "https://central.test"})
        assert response.status_code == 200
        assert "secure" in response.headers["set-cookie"].lower()


async def test_a_site_user_cannot_read_another_site(client: httpx.AsyncClient) -> None:
    assert (await sign_in(client, "hz")).status_code == 200
    assert (await client.get("/api/v1/sites/hz-1/stats")).status_code == 200
    refused = await client.get("/api/v1/sites/nb-1/stats")
    assert refused.status_code == 403
    assert refused.json()["detail"] == ("user 'hz' (viewer of site hz-1) may not read site 'nb-1'")
    assert (
        await client.get("/api/v1/kpis", params={"region": "province:Zhejiang"})
    ).status_code == 403


async def test_a_bearer_token_wins_over_the_cookie(
    client: httpx.AsyncClient,
) -> None:
    assert (await sign_in(client, "ops")).status_code == 200
    response = await client.get("/api/v1/sites", headers=bearer("not-a-token"))
    assert response.status_code == 401


async def test_wrong_passwords_and_unknown_users_get_the_same_answer(
    client: httpx.AsyncClient,
) -> None:
    wrong = await sign_in(client, "hz", "not the password")
    unknown = await sign_in(client, "nobody", PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json() == {"detail": "wrong user name or password"}
    assert "set-cookie" not in wrong.headers


async def test_a_user_is_locked_out_after_repeated_failures(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await sign_in(client, "hz", "guess guess guess")).status_code == 401
    locked = await sign_in(client, "hz", "guess guess guess")
    assert locked.status_code == 429
    assert locked.json()["detail"] == "too many failed sign-ins: try again in 15 minutes"
    assert locked.headers["retry-after"] == "900"
    # Locked means locked: the right password is refused too, without being checked.
    assert (await sign_in(client, "hz")).status_code == 429
    assert (await sign_in(client, "zj")).status_code == 200  # other users are not affected


async def test_an_address_is_locked_out_after_failures_across_user_names(
    client: httpx.AsyncClient,
) -> None:
    for name in ("a1", "a2", "a3", "a4", "a5", "a6"):
        assert (await sign_in(client, name, "guess guess guess")).status_code == 401
    assert (await sign_in(client, "a7", "guess guess guess")).status_code == 429
    assert (await sign_in(client, "ops")).status_code == 429  # from this address, nobody


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": "http://evil.test"},
        {"Origin": "http://central.test", "Sec-Fetch-Site": "cross-site"},
    ],
)
async def test_cross_site_requests_with_the_cookie_are_refused(
    client: httpx.AsyncClient, headers: dict[str, str]
) -> None:
    assert (await sign_in(client, "ops", headers=headers)).status_code == 403
    assert (await sign_in(client, "ops")).status_code == 200
    refused = await client.post("/api/v1/auth/sign-out", headers=headers)
    assert refused.status_code == 403
    assert refused.json()["detail"].startswith("cross-site request refused (CSRF protection)")
    assert (await client.get("/api/v1/sites")).status_code == 200  # still signed in
    # Any state-changing request that carries the cookie, whatever its route.
    assert (await client.post("/api/v1/ingest", headers=headers, content=b"{}")).status_code == 403
    assert (await client.post("/api/v1/auth/sign-out", headers=ORIGIN)).status_code == 204
    metrics = (await client.get("/metrics")).text
    assert 'canteen_central_requests_refused_total{route="csrf",status="403"} 3.0' in metrics


async def test_bearer_posts_without_the_cookie_are_not_csrf_checked(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post("/api/v1/ingest", headers=bearer("x"), content=b"{}")
    assert response.status_code == 401  # the edge's key check, not the CSRF refusal


async def test_disabling_a_user_ends_its_session(
    client: httpx.AsyncClient, regional: CentralSettings
) -> None:
    assert (await sign_in(client, "hz")).status_code == 200
    assert main(["users", "--db", str(regional.sqlite_path), "disable", "hz"]) == 0
    assert (await client.get("/api/v1/sites")).status_code == 401
    assert (await sign_in(client, "hz")).status_code == 401
