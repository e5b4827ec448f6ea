"""/docs and /redoc refer only to central's own assets, which it serves; `/` leads to the
dashboard. (tests/e2e/test_api_docs.py renders them in a browser with the network off.)"""

import re

import httpx

from central.apidocs import CONTENT_SECURITY_POLICY


async def test_doc_pages_load_only_from_central(client: httpx.AsyncClient) -> None:
    for page in ("/docs", "/redoc"):
        response = await client.get(page)
        assert response.status_code == 200
        assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
        assert "http://" not in response.text
        assert "https://" not in response.text
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", response.text)
        assert urls, response.text
        for url in urls:
            assert url.startswith("/"), f"{page} refers to {url}"
            if url.startswith("/docs-assets/"):
                asset = await client.get(url)
                assert asset.status_code == 200, url
                assert len(asset.content) > 100, url
    redirect = await client.get("/docs/oauth2-redirect")
    assert redirect.status_code == 200


async def test_root_leads_to_the_dashboard(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 307
    assert response.headers["location"] == "/dashboard/"
