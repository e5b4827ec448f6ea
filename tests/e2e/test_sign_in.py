"""Sign-in in a real headless chromium against a real central process: the dashboard opened
without a session shows the sign-in form; a wrong password is refused; signing in loads the
data without a reload (and only the user's site); a second tab is signed in too; signing out in
one tab ends the session for both."""

import secrets
import subprocess
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.processes import python_module
from harness.registry import write_registry
from tests.central.conftest import EdgeAuth, batch, card, scale, utc_ms
from tests.central_process import central_process
from tests.e2e.browser import api_requests, chromium, require_chromium, screenshot, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "sign-in"
PASSWORD = "a long enough passphrase"
DAY = "2026-11-20"
VIEW = f"#view=site&site=site-01&period=day&date={DAY}"


def lunch_readings() -> list[dict[str, Any]]:
    """Five diners and their plates at site-01's lunch of DAY (Asia/Shanghai, UTC+8)."""
    noon_ms = utc_ms(2026, 11, 20, 4)  # 12:00 local
    return [card(i, noon_ms - 1_800_000 + i * 1000, 100 + i) for i in range(5)] + [
        scale(i, noon_ms + i * 1000, "plate", 30.0 + i) for i in range(5)
    ]


def add_user(env: dict[str, str], name: str, *scope: str) -> None:
    """The real CLI, the password on stdin (never on the command line)."""
    subprocess.run(
        python_module("central", "users", "add", name, *scope),
        input=f"{PASSWORD}\n", text=True, env=env, check=True, capture_output=True, timeout=60,
    )  # fmt: skip


def state(driver: Any) -> str:
    return str(driver.execute_script("return document.body.dataset.state"))


def wait_state(driver: Any, wanted: str) -> None:
    wait_for(lambda: state(driver) == wanted, 30, f"the page to be {wanted!r}")


def test_sign_in_second_tab_and_sign_out_in_a_real_browser(tmp_path: Path) -> None:
    require_chromium()
    from selenium.webdriver.common.by import By

    admin_token = secrets.token_urlsafe(32)
    registry = tmp_path / "sites.toml"
    credentials = write_registry(registry, ["site-01", "site-02"])
    env = {
        "CENTRAL_REGISTRY_PATH": str(registry),
        "CENTRAL_SQLITE_PATH": str(tmp_path / "central.sqlite3"),  # where central_process keeps it
        "PATH": "/usr/bin:/bin",
    }
    add_user(env, "hz-manager", "--site", "site-01")
    with (
        central_process(tmp_path, registry, admin_token) as (base, _),
        httpx.Client(base_url=base, timeout=30) as api,
    ):
        edge = credentials["site-01"]
        uploaded = api.post(
            "/api/v1/ingest",
            json=batch(lunch_readings(), site="site-01", edge=edge.edge_id),
            auth=EdgeAuth(edge.api_key),
        )
        assert uploaded.status_code == 200, uploaded.text
        report = api.get(
            "/api/v1/kpis",
            params={"site": "site-01", "period": "day", "date": DAY},
            headers={"Authorization": f"Bearer {admin_token}"},
        ).json()
        diners = report["total"]["kpis"]["diners"]["value"]
        assert diners == 5

        with chromium(tmp_path / "profile", lang="en-US", width=1280, height=900) as driver:
            driver.get(f"{base}/dashboard/{VIEW}")
            wait_state(driver, "signin")  # no session: the form, not an error
            screenshot(driver, ARTIFACTS / "sign-in.png", width=1280)
            driver.execute_script("window.notReloaded = true")
            # in Chinese too, on the language switch
            driver.find_element(By.CSS_SELECTOR, '#lang option[value="zh"]').click()
            wait_for(
                lambda: driver.find_element(By.CSS_SELECTOR, "#signin h2").text == "登录食堂看板",
                15, "the Chinese sign-in form",
            )  # fmt: skip
            assert driver.find_element(By.ID, "signin-submit").text == "登录"
            screenshot(driver, ARTIFACTS / "sign-in-zh.png", width=1280)
            driver.find_element(By.CSS_SELECTOR, '#lang option[value="en"]').click()
            wait_for(
                lambda: driver.find_element(By.ID, "signin-submit").text == "Sign in",
                15, "the English sign-in form",
            )  # fmt: skip

            user = driver.find_element(By.ID, "signin-user")
            password = driver.find_element(By.ID, "signin-password")
            user.send_keys("hz-manager")
            password.send_keys("not the password")
            driver.find_element(By.ID, "signin-submit").click()
            message = driver.find_element(By.ID, "signin-message")
            wait_for(lambda: message.text, 15, "the refusal")
            assert message.text == "Wrong user name or password."

            password.clear()
            password.send_keys(PASSWORD)
            driver.find_element(By.ID, "signin-submit").click()
            wait_state(driver, "ready")
            # the data loaded in place, after the 401, without a reload
            assert driver.execute_script("return window.notReloaded") is True
            card_value = driver.find_element(
                By.CSS_SELECTOR, '[data-kpi="diners"][data-scope="site-01"]'
            )
            assert float(card_value.get_attribute("data-value")) == diners
            assert driver.find_element(By.ID, "signed-in").text == "Signed in as hz-manager"
            # a viewer of site-01 is offered site-01 only
            options = driver.find_elements(By.CSS_SELECTOR, "#site-picker option")
            assert [o.get_attribute("value") for o in options] == ["site-01"]
            cookie = driver.get_cookie("canteen_session")
            assert cookie is not None
            assert cookie["httpOnly"] is True
            assert cookie["sameSite"] == "Strict"
            assert cookie.get("expiry"), "a persistent cookie: a new day keeps the session"
            assert driver.execute_script("return document.cookie") == ""  # HttpOnly
            sent = api_requests(driver)
            assert sent
            assert not [r["url"] for r in sent if "Authorization" in r["headers"]]
            screenshot(driver, ARTIFACTS / "signed-in.png", width=1280)

            # a second tab: signed in already, the same figures
            first = driver.current_window_handle
            driver.switch_to.new_window("tab")
            driver.get(f"{base}/dashboard/{VIEW}")
            wait_state(driver, "ready")
            card_value = driver.find_element(
                By.CSS_SELECTOR, '[data-kpi="diners"][data-scope="site-01"]'
            )
            assert float(card_value.get_attribute("data-value")) == diners

            # sign out there: the form comes back, and the first tab's next load asks too
            driver.find_element(By.ID, "signout").click()
            wait_state(driver, "signin")
            assert driver.get_cookie("canteen_session") is None
            driver.switch_to.window(first)
            driver.find_element(By.CSS_SELECTOR, '#period-picker option[value="week"]').click()
            wait_state(driver, "signin")
            assert driver.find_elements(By.ID, "signin-user")
