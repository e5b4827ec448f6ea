"""/docs and /redoc in a real headless chromium that cannot reach anything but loopback, as on an
intranet: the pages render from central's own assets, Swagger UI's Authorize takes a read token
and "Try it out" answers 200 with it, and no request goes anywhere but central."""

import json
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from central.apidocs import STATIC_DIR
from harness.registry import write_registry
from tests.central_process import central_process
from tests.e2e.browser import OFFLINE_ARGS, chromium, require_chromium, wait_for

pytestmark = pytest.mark.e2e

DASHBOARD_LOCK = Path(__file__).resolve().parents[2] / "dashboard" / "package-lock.json"


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """(base URL, admin read token) of a real `canteen-central serve` on a free loopback port."""
    require_chromium()
    write_registry(tmp_path / "sites.toml", ["site-01"])
    token = secrets.token_urlsafe(24)
    with central_process(tmp_path, tmp_path / "sites.toml", token) as (url, _):
        yield url, token


def only_central(driver: Any, base: str) -> list[dict[str, Any]]:
    """The requests the page sent since the last call; fails on any that left for another host
    (one that the page's Content-Security-Policy stopped in the browser never left)."""
    sent: dict[str, dict[str, Any]] = {}
    blocked: set[str] = set()
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message.get("method") == "Network.requestWillBeSent":
            sent[params["requestId"]] = params["request"]
        elif (
            message.get("method") == "Network.loadingFailed"
            and params.get("blockedReason") == "csp"
        ):
            blocked.add(params["requestId"])
    local = (f"{base}/", "data:", "blob:", "chrome:")  # chrome: the browser's own pages
    foreign = [
        r["url"] for rid, r in sent.items() if rid not in blocked and not r["url"].startswith(local)
    ]
    assert not foreign, f"requests left the machine: {foreign}"
    return list(sent.values())


def test_swagger_ui_renders_offline_and_authorize_works(
    central: tuple[str, str], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By

    base, token = central
    with chromium(
        tmp_path / "profile", lang="en", width=1280, height=900, extra_args=OFFLINE_ARGS
    ) as driver:
        driver.get(f"{base}/")  # `/` leads to the dashboard
        wait_for(lambda: driver.current_url == f"{base}/dashboard/", 10, "the redirect")
        # The network is really off: a CDN request fails in this browser.
        cdn = driver.execute_async_script(
            "const done = arguments[0];"
            "fetch('https://cdn.jsdelivr.net/npm/swagger-ui-dist@5/swagger-ui.css')"
            ".then(() => done('reached'), () => done('failed'));"
        )
        assert cdn == "failed"
        driver.get_log("performance")  # forget the probe

        driver.get(f"{base}/docs")
        wait_for(
            lambda: driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"),
            30,
            "Swagger UI to list the operations",
        )
        assert "canteen-central" in driver.find_element(By.CSS_SELECTOR, ".info .title").text

        driver.find_element(By.CSS_SELECTOR, ".auth-wrapper .authorize").click()
        # The dialog has one form per scheme: the edges' key (ingest) and the read token.
        form = wait_for(
            lambda: driver.find_elements(
                By.XPATH, "//div[@class='auth-container'][.//code[text()='ReadToken']]"
            ),
            10,
            "the read token's form",
        )[0]
        form.find_element(By.CSS_SELECTOR, "input").send_keys(token)
        form.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .authorize").click()
        form.find_element(By.CSS_SELECTOR, ".auth-btn-wrapper .btn-done").click()

        path = driver.find_element(
            By.CSS_SELECTOR, '.opblock-get .opblock-summary-path[data-path="/api/v1/sites"]'
        )
        path.click()
        block = path.find_element(
            By.XPATH, "./ancestor::div[contains(concat(' ', @class, ' '), ' opblock ')][1]"
        )
        wait_for(lambda: block.find_elements(By.CSS_SELECTOR, ".try-out__btn"), 10, "Try it out")
        block.find_element(By.CSS_SELECTOR, ".try-out__btn").click()
        wait_for(lambda: block.find_elements(By.CSS_SELECTOR, ".execute"), 10, "Execute")
        block.find_element(By.CSS_SELECTOR, ".execute").click()
        status = wait_for(
            lambda: block.find_elements(
                By.CSS_SELECTOR, ".live-responses-table tr.response .response-col_status"
            ),
            20,
            "the answer",
        )[0]
        assert status.text.strip().startswith("200"), status.text
        body = block.find_element(By.CSS_SELECTOR, ".live-responses-table .microlight").text
        assert [site["id"] for site in json.loads(body)] == ["site-01"]

        sent = only_central(driver, base)
        assert f"{base}/docs-assets/swagger-ui-bundle.js" in [r["url"] for r in sent]
        calls = [r for r in sent if r["url"] == f"{base}/api/v1/sites"]
        assert calls, [r["url"] for r in sent]
        assert calls[-1]["headers"].get("Authorization") == f"Bearer {token}"


def test_redoc_renders_offline(central: tuple[str, str], tmp_path: Path) -> None:
    from selenium.webdriver.common.by import By

    base, _ = central
    with chromium(
        tmp_path / "profile", lang="en", width=1280, height=900, extra_args=OFFLINE_ARGS
    ) as driver:
        driver.get(f"{base}/redoc")
        heading = wait_for(
            lambda: driver.find_elements(By.CSS_SELECTOR, ".api-info h1"), 30, "ReDoc's heading"
        )[0]
        assert heading.text.startswith("canteen-central")
        assert driver.find_elements(By.CSS_SELECTOR, "[data-section-id^='tag/sites']")
        sent = only_central(driver, base)
        assert f"{base}/docs-assets/redoc.standalone.js" in [r["url"] for r in sent]


def test_shipped_assets_are_the_pinned_versions() -> None:
    """static/ holds the versions dashboard/package-lock.json pins (scripts/build-dashboard)."""
    lock = json.loads(DASHBOARD_LOCK.read_text(encoding="utf-8"))["packages"]
    shipped = json.loads((STATIC_DIR / "versions.json").read_text(encoding="utf-8"))
    assert shipped == {
        name: lock[f"node_modules/{name}"]["version"] for name in ("swagger-ui-dist", "redoc")
    }
    for name in ("swagger-ui-bundle.js", "swagger-ui.css", "redoc.standalone.js"):
        assert (STATIC_DIR / name).stat().st_size > 100_000, name
