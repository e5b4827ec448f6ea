"""Central serves the committed dashboard build at /dashboard/, and that build is not stale."""

import gzip
import hashlib
import json
import re
from pathlib import Path

from central.app import create_app
from central.dashboard import STATIC_DIR
from central.settings import CentralSettings
from tests.central.conftest import in_process

ROOT = Path(__file__).resolve().parents[2]
SOURCES = ROOT / "dashboard"
UNIT_DECIMALS = "../central/unit_decimals.json"  # bundled by dashboard/src/format.js
REASONS = "../central/kpi/reasons.json"  # bundled by dashboard/src/i18n.js


def source_hash() -> str:
    """The hash dashboard/build.mjs records in build-info.json (same files, same order)."""
    digest = hashlib.sha256()
    names = [f"src/{p.name}" for p in sorted((SOURCES / "src").iterdir())]
    for name in [*names, "package.json", "package-lock.json", "build.mjs", UNIT_DECIMALS, REASONS]:
        digest.update(name.encode() + b"\0")
        digest.update((SOURCES / name).read_bytes() + b"\0")
    return digest.hexdigest()


def test_committed_bundle_is_built_from_the_current_sources() -> None:
    info = json.loads((STATIC_DIR / "build-info.json").read_text(encoding="utf-8"))
    assert info["source_sha256"] == source_hash(), (
        "central/dashboard/static is stale: run scripts/build-dashboard and commit the result"
    )
    page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    referenced = re.findall(r'(?:src|href)="(assets/[^"]+)"', page)
    assert sorted(referenced) == sorted([info["js"], info["css"]])
    for asset in referenced:
        assert (STATIC_DIR / asset).stat().st_size > 0
    assert (STATIC_DIR / info["js"]).stat().st_size < 800_000  # ECharts' modular build only
    assert "http" not in "".join(re.findall(r'(?:src|href)="([^"]+)"', page))  # no CDN


async def test_central_serves_the_page_and_its_assets(settings: CentralSettings) -> None:
    async with in_process(create_app(settings)) as client:
        page = await client.get("/dashboard/")
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page.headers["content-security-policy"]
        assert page.headers["cache-control"] == "no-cache"
        scripts = re.findall(r'src="(assets/[^"]+\.js)"', page.text)
        assert len(scripts) == 1
        bundle = await client.get(f"/dashboard/{scripts[0]}")
        assert bundle.status_code == 200
        assert "javascript" in bundle.headers["content-type"]
        assert "immutable" in bundle.headers["cache-control"]
        assert "Authorization" in bundle.text  # the bundle sends the read token
        redirect = await client.get("/dashboard", follow_redirects=False)
        assert redirect.status_code in (307, 308)
        assert redirect.headers["location"].endswith("/dashboard/")
        missing = await client.get("/dashboard/assets/nothing.js")
        assert missing.status_code == 404


async def test_dashboard_routes_stay_out_of_the_api_schema(settings: CentralSettings) -> None:
    async with in_process(create_app(settings)) as client:
        schema = (await client.get("/openapi.json")).json()
    assert not any(path.startswith("/dashboard") for path in schema["paths"])
    assert "/api/v1/sites/{site}/load-curve" in schema["paths"]


async def test_bundles_are_sent_gzipped_to_browsers_that_accept_it(
    settings: CentralSettings,
) -> None:
    info = json.loads((STATIC_DIR / "build-info.json").read_text(encoding="utf-8"))
    plain = (STATIC_DIR / info["js"]).read_bytes()
    packed = (STATIC_DIR / f"{info['js']}.gz").read_bytes()
    assert gzip.decompress(packed) == plain, "the .gz beside the bundle is stale"
    async with in_process(create_app(settings)) as client:
        url = f"/dashboard/{info['js']}"
        for accept in ("gzip, deflate, br", "br;q=1.0, gzip;q=0.8", "*"):
            async with client.stream("GET", url, headers={"Accept-Encoding": accept}) as answer:
                body = b"".join([chunk async for chunk in answer.aiter_raw()])
            assert answer.status_code == 200
            assert answer.headers["content-encoding"] == "gzip", accept
            assert answer.headers["content-type"].startswith("text/javascript")
            assert answer.headers["vary"] == "Accept-Encoding"
            assert "immutable" in answer.headers["cache-control"]
            assert body == packed
            etag = answer.headers["etag"]
        again = await client.get(url, headers={"Accept-Encoding": "gzip", "If-None-Match": etag})
        assert again.status_code == 304
        for accept in ("identity", "gzip;q=0", "br"):
            answer = await client.get(url, headers={"Accept-Encoding": accept})
            assert answer.status_code == 200
            assert "content-encoding" not in answer.headers, accept
            assert answer.headers["vary"] == "Accept-Encoding"
            assert answer.content == plain
        page = await client.get("/dashboard/", headers={"Accept-Encoding": "gzip"})
        assert "content-encoding" not in page.headers  # the page is small and has no .gz
