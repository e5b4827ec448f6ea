"""Read tokens and roles on every read endpoint: admin, viewer of a site, viewer of a region."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from central.__main__ import main
from central.app import create_app
from central.settings import CentralSettings
from tests.central.conftest import KEY_S1, admin, bearer, in_process

REGISTRY = """
[[sites]]
id = "hz-1"
registered_staff = 100
region = { province = "Zhejiang", city = "Hangzhou" }

[[sites]]
id = "nb-1"
registered_staff = 100
region = { province = "Zhejiang", city = "Ningbo" }

[[sites]]
id = "sz-1"
registered_staff = 100
region = { province = "Jiangsu", city = "Suzhou" }
"""

# Every read endpoint, with the site in its path where it has one.
SITE_PATHS = [
    "/api/v1/sites/{site}/stats",
    "/api/v1/sites/{site}/kpis/daily?date=2026-11-20",
    "/api/v1/sites/{site}/devices",
]


@pytest.fixture
def regional(tmp_path: Path, settings: CentralSettings) -> CentralSettings:
    path = tmp_path / "regional.toml"
    path.write_text(REGISTRY)
    return settings.model_copy(update={"registry_path": path})


@pytest.fixture
async def regional_client(regional: CentralSettings) -> AsyncIterator[httpx.AsyncClient]:
    async with in_process(create_app(regional)) as http:
        yield http


def token(settings: CentralSettings, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    db, registry = str(settings.sqlite_path), str(settings.registry_path)
    assert main(["keys", "--db", db, "--registry", registry, "create-token", *args]) == 0
    return capsys.readouterr().out.strip()


async def test_every_route_is_public_edge_or_behind_read_tokens(
    regional_client: httpx.AsyncClient,
) -> None:
    """A router added later without READ_ACCESS fails here (central/app.py, READ_ROUTERS). Read
    routes take a read token or a sign-in session (either one: two OpenAPI requirements)."""
    schema = (await regional_client.get("/openapi.json")).json()
    operations = [
        (path, method, operation)
        for path, methods in schema["paths"].items()
        for method, operation in methods.items()
    ]
    assert len(operations) >= 5
    for path, method, operation in operations:
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        if path == "/api/v1/health":
            assert schemes == set()
        elif path == "/api/v1/ingest":
            assert schemes == {"HTTPBearer"}  # the edge's key, and a signed body
        elif path in ("/api/v1/auth/sign-in", "/api/v1/auth/sign-out"):
            assert schemes == set()  # a password, or the session it ends (central/csrf.py)
        else:
            requirements = [set(r) for r in operation.get("security", [])]
            assert requirements == [{"ReadToken"}, {"Session"}], (
                f"{method.upper()} {path} is not behind read tokens"
            )
            if method == "get":
                response = await regional_client.get(path.replace("{site}", "hz-1"))
                assert response.status_code == 401, path


@pytest.mark.parametrize("path", ["/api/v1/sites", *(p.format(site="hz-1") for p in SITE_PATHS)])
async def test_reads_without_a_valid_token_are_401(
    regional_client: httpx.AsyncClient, path: str
) -> None:
    missing = await regional_client.get(path)
    assert missing.status_code == 401
    assert missing.json()["detail"].startswith("missing read token")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    for wrong in ("not-a-token", KEY_S1):  # an edge key is no read token either
        response = await regional_client.get(path, headers=bearer(wrong))
        assert response.status_code == 401
    assert (await regional_client.get("/api/v1/health")).status_code == 200


async def test_a_site_viewer_reads_its_site_only(
    regional: CentralSettings,
    regional_client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    viewer = bearer(token(regional, capsys, "--name", "hz-manager", "--site", "hz-1"))
    listed = await regional_client.get("/api/v1/sites", headers=viewer)
    assert [s["id"] for s in listed.json()] == ["hz-1"]
    for path in SITE_PATHS:
        assert (
            await regional_client.get(path.format(site="hz-1"), headers=viewer)
        ).status_code == 200
        for other in ("nb-1", "unknown-site"):
            response = await regional_client.get(path.format(site=other), headers=viewer)
            assert response.status_code == 403
            assert response.json()["detail"] == (
                f"token 'hz-manager' (viewer of site hz-1) may not read site '{other}'"
            )


async def test_a_region_viewer_reads_the_sites_with_its_tag(
    regional: CentralSettings,
    regional_client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    viewer = bearer(token(regional, capsys, "--name", "zj", "--region", "province:Zhejiang"))
    listed = await regional_client.get("/api/v1/sites", headers=viewer)
    assert [s["id"] for s in listed.json()] == ["hz-1", "nb-1"]
    for path in SITE_PATHS:
        for site in ("hz-1", "nb-1"):
            response = await regional_client.get(path.format(site=site), headers=viewer)
            assert response.status_code == 200
        response = await regional_client.get(path.format(site="sz-1"), headers=viewer)
        assert response.status_code == 403
        assert "viewer of region province:Zhejiang" in response.json()["detail"]
        assert "'sz-1'" in response.json()["detail"]


async def test_admins_read_everything_and_a_revoked_token_nothing(
    regional: CentralSettings,
    regional_client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    secret = token(regional, capsys, "--name", "ops", "--admin")
    for headers in (bearer(secret), admin()):  # a table token and the bootstrap setting
        listed = await regional_client.get("/api/v1/sites", headers=headers)
        assert [s["id"] for s in listed.json()] == ["hz-1", "nb-1", "sz-1"]
        unknown = await regional_client.get("/api/v1/sites/nowhere/stats", headers=headers)
        assert unknown.status_code == 404
    db, registry = str(regional.sqlite_path), str(regional.registry_path)
    assert main(["keys", "--db", db, "--registry", registry, "revoke", "ops"]) == 0
    response = await regional_client.get("/api/v1/sites", headers=bearer(secret))
    assert response.status_code == 401
    assert "read token 'ops' was revoked at" in response.json()["detail"]


async def test_openapi_documents_the_read_token(regional_client: httpx.AsyncClient) -> None:
    schema = (await regional_client.get("/openapi.json")).json()
    assert "ReadToken" in schema["components"]["securitySchemes"]
    stats = schema["paths"]["/api/v1/sites/{site}/stats"]["get"]
    assert {"401", "403"} <= set(stats["responses"])
    assert "security" not in schema["paths"]["/api/v1/health"]["get"]


async def test_query_scopes_of_kpi_ranking_and_alert_routes_are_checked(
    regional: CentralSettings,
    regional_client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    site_viewer = bearer(token(regional, capsys, "--name", "hz", "--site", "hz-1"))
    zj_viewer = bearer(token(regional, capsys, "--name", "zj", "--region", "province:Zhejiang"))
    day = "date=2026-11-20"
    cases = [
        (site_viewer, f"/api/v1/kpis?site=hz-1&{day}", 200),
        (site_viewer, f"/api/v1/kpis?site=nb-1&{day}", 403),
        (site_viewer, f"/api/v1/alerts?site=nb-1&{day}", 403),
        (site_viewer, f"/api/v1/kpis?region=city:Hangzhou&{day}", 200),  # only its own site
        (site_viewer, f"/api/v1/kpis?region=province:Zhejiang&{day}", 403),
        (site_viewer, f"/api/v1/ranking?region=province:Zhejiang&kpi=diners&{day}", 403),
        (zj_viewer, f"/api/v1/kpis?region=province:Zhejiang&{day}", 200),
        (zj_viewer, f"/api/v1/kpis?region=city:Ningbo&{day}", 200),  # inside its province
        (zj_viewer, f"/api/v1/ranking?region=province:Zhejiang&kpi=diners&{day}", 200),
        (zj_viewer, f"/api/v1/kpis?region=province:Jiangsu&{day}", 403),
        (zj_viewer, f"/api/v1/alerts?region=province:Jiangsu&{day}", 403),
        (zj_viewer, f"/api/v1/kpis?site=sz-1&{day}", 403),
        (zj_viewer, f"/api/v1/kpis?region=province:Nowhere&{day}", 403),
    ]
    for headers, path, status in cases:
        response = await regional_client.get(path, headers=headers)
        assert response.status_code == status, (path, response.text)
        if status == 403:
            assert "may not read" in response.json()["detail"]


async def test_regions_list_only_what_the_reader_may_see(
    regional: CentralSettings,
    regional_client: httpx.AsyncClient,
    capsys: pytest.CaptureFixture[str],
) -> None:
    viewer = bearer(token(regional, capsys, "--name", "zj2", "--region", "province:Zhejiang"))
    tags = {
        r["tag"]: r["sites"]
        for r in (await regional_client.get("/api/v1/regions", headers=viewer)).json()
    }
    assert tags == {
        "province:Zhejiang": ["hz-1", "nb-1"],
        "city:Hangzhou": ["hz-1"],
        "city:Ningbo": ["nb-1"],
    }
    everything = (await regional_client.get("/api/v1/regions", headers=admin())).json()
    assert {r["tag"] for r in everything} >= {"province:Jiangsu", "city:Suzhou"}
