"""The dashboard in a real headless chromium against real processes: the figures on the page equal
those of the API, a click leads from the region to a canteen and a period, every API call carries
the bearer token, a CSV downloads, and screenshots of each view are saved.

Screenshots go to test-artifacts/dashboard/; with CANTEEN_UPDATE_SCREENSHOTS=1 the README's
images in docs/img/ are rewritten too (fixed viewport, each below 600 KB).
"""

import math
import os
import shutil
from pathlib import Path
from typing import Any

import httpx
import pytest

from harness.stack import Stack, StackSettings
from tests.e2e.browser import api_requests, chromium, require_chromium, screenshot, wait_for

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts" / "dashboard"
README_IMAGES = ROOT / "docs" / "img"
WIDTH, HEIGHT = 1280, 900
MAX_README_IMAGE_BYTES = 600_000  # the site view is one long page (devices, dishes, alert history)
SITES = ("site-01", "site-02")
FIRST, LAST = "2026-11-18", "2026-11-19"
REGION = "province:Zhejiang"
REGION_KPIS = ("waste_per_diner_g", "clean_plate_rate_pct", "energy_kgce_per_meal", "quota_use_pct")
SITE_CARDS = (
    "diners",
    "waste_per_diner_g",
    "clean_plate_rate_pct",
    "electricity_kwh_per_meal",
    "gas_m3_per_meal",
    "water_l_per_meal",
    "energy_kgce_per_meal",
    "quota_use_pct",
    "off_hours_share_pct",
    "peak_demand_kw",
)


def shown(driver: Any, name: str, scope: str) -> tuple[float | None, str, int]:
    """(raw value, shown text, decimals) of the element with data-kpi=name, data-scope=scope."""
    from selenium.webdriver.common.by import By

    found = driver.find_elements(By.CSS_SELECTOR, f'[data-kpi="{name}"][data-scope="{scope}"]')
    assert found, f"no element shows {name} of {scope}"
    el = found[0]
    raw = el.get_attribute("data-value")
    return (float(raw) if raw else None), el.text, int(el.get_attribute("data-decimals"))


def check_equal(driver: Any, name: str, scope: str, api_value: float | None) -> None:
    value, text, decimals = shown(driver, name, scope)
    if api_value is None:
        assert value is None, f"{scope} {name}: page value {value}, the API has none"
        assert text == "—", f"{scope} {name}: shows {text!r}, the API has none"
        return
    assert value == api_value, f"{scope} {name}: page value {value} != API {api_value}"
    number = float(text.replace(",", ""))
    assert math.isclose(number, api_value, abs_tol=0.5 * 10**-decimals + 1e-9), (
        f"{scope} {name}: shows {text!r}, the API says {api_value}"
    )


def readme_image(driver: Any, name: str) -> None:
    path = screenshot(driver, README_IMAGES / name, width=WIDTH)
    size = path.stat().st_size
    assert size < MAX_README_IMAGE_BYTES, f"{path} is {size} bytes: keep README images small"


def wait_rendered(driver: Any, after: int) -> int:
    """Wait for a render newer than `after` to finish; return its number."""

    def done() -> int:
        state = driver.execute_script(
            "return [document.body.dataset.state, document.body.dataset.render]"
        )
        if state[0] == "error":
            message = driver.execute_script("return document.getElementById('content').innerText")
            raise AssertionError(f"the dashboard shows an error: {message}")
        return int(state[1]) if state[0] == "ready" and state[1] and int(state[1]) > after else 0

    rendered: int = wait_for(done, 30, "the dashboard to render")
    return rendered


def test_dashboard_shows_the_api_figures_in_a_real_browser(tmp_path: Path) -> None:
    require_chromium()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    if ARTIFACTS.exists():
        shutil.rmtree(ARTIFACTS)
    update_readme = os.environ.get("CANTEEN_UPDATE_SCREENSHOTS") == "1"
    # site-01 has a baseline period (its first day), site-02 none: trends against each.
    settings = StackSettings(
        workdir=tmp_path / "stack", sites=SITES, baselines={"site-01": (FIRST, FIRST)}
    )
    with Stack(settings) as stack:
        truth = stack.run_simulator(start_date=FIRST, days=2, seed=7, speed=0, timeout_s=180)
        stack.wait_delivered(truth, timeout_s=180)
        token = stack.admin_token  # central requires a read token; the page gets it in the link
        api = httpx.Client(
            base_url=f"{stack.central_url}/api/v1", timeout=30, headers=stack.read_headers
        )
        period = {"period": "custom", "start": FIRST, "end": LAST}
        downloads = tmp_path / "downloads"
        downloads.mkdir()
        with (
            api,
            chromium(tmp_path / "profile", lang="en-US", width=WIDTH, height=HEIGHT) as driver,
        ):
            driver.execute_cdp_cmd(
                "Browser.setDownloadBehavior",
                {"behavior": "allow", "downloadPath": str(downloads)},
            )
            driver.get(
                f"{stack.central_url}/dashboard/#view=region&region={REGION}&period=custom"
                f"&start={FIRST}&end={LAST}&date={LAST}&token={token}"
            )
            render = wait_rendered(driver, 0)

            # the token moved from the URL into sessionStorage, and every API call carries it
            assert "token" not in driver.current_url
            assert driver.execute_script("return sessionStorage.getItem('canteen.token')") == token
            assert driver.find_element(By.ID, "title").text == "Canteen dashboard"

            # region view: each canteen's four KPIs and the region's total equal /ranking's
            for kpi in REGION_KPIS:
                order = "desc" if kpi == "clean_plate_rate_pct" else "asc"
                ranking = api.get(
                    "/ranking", params={"region": REGION, "kpi": kpi, "order": order, **period}
                ).json()
                for ranked in ranking["sites"]:
                    check_equal(driver, kpi, ranked["site"], ranked["value"]["value"])
                check_equal(driver, kpi, REGION, ranking["region_total"]["kpis"][kpi]["value"])
                if kpi == "waste_per_diner_g":  # the table is ranked by it by default
                    rows = driver.find_elements(By.CSS_SELECTOR, "table.ranking tbody tr")
                    assert [r.get_attribute("data-site") for r in rows] == [
                        s["site"] for s in ranking["sites"]
                    ]
            # each canteen's trend: against its baseline period, else the previous period
            previous = {"period": "custom", "start": "2026-11-16", "end": "2026-11-17"}
            references = {
                "site-01": ("baseline", {"period": "custom", "start": FIRST, "end": FIRST}),
                "site-02": ("previous", previous),
            }
            for site, (reference, span) in references.items():
                before = api.get("/kpis", params={"site": site, "granularity": "period", **span})
                for kpi in REGION_KPIS:
                    trend = driver.find_element(
                        By.CSS_SELECTOR, f'[data-trend="{kpi}"][data-scope="{site}"]'
                    )
                    assert trend.get_attribute("data-reference") == reference, (site, kpi)
                    expected = before.json()["total"]["kpis"][kpi]["value"]
                    shown_before = trend.get_attribute("data-previous")
                    assert (float(shown_before) if shown_before else None) == expected, (site, kpi)
            # the simulator has ended: each device said goodbye (retained offline), every site
            # is marked with its offline devices, as /regions counts them
            (region_tag,) = [r for r in api.get("/regions").json() if r["tag"] == REGION]
            for site in SITES:
                badge = driver.find_element(By.CSS_SELECTOR, f'[data-offline="{site}"]')
                count = region_tag["offline_devices"][site]
                assert count > 0, site
                assert badge.get_attribute("data-count") == str(count), site
            diners = api.get("/kpis", params={"region": REGION, **period}).json()
            check_equal(driver, "diners", REGION, diners["total"]["kpis"]["diners"]["value"])
            assert diners["total"]["kpis"]["diners"]["value"] > 0
            screenshot(driver, ARTIFACTS / "region.png", width=WIDTH)
            if update_readme:
                readme_image(driver, "dashboard-region.png")

            # click through to a canteen: its cards equal /kpis of the same period
            driver.find_element(By.CSS_SELECTOR, 'a.site-link[data-site="site-02"]').click()
            render = wait_rendered(driver, render)
            assert "view=site" in driver.current_url
            assert "site=site-02" in driver.current_url
            report = api.get("/kpis", params={"site": "site-02", **period}).json()
            for kpi in SITE_CARDS:
                check_equal(driver, kpi, "site-02", report["total"]["kpis"][kpi]["value"])
            check_equal(
                driver, "quality.completeness_pct", "site-02",
                report["total"]["quality"]["completeness_pct"],
            )  # fmt: skip
            for device in report["total"]["devices"]:
                check_equal(driver, "device.readings", device["device"], device["readings"])
            # each device's connection state is /sites/{site}/devices's
            presence = api.get("/sites/site-02/devices").json()["devices"]
            assert {d["state"] for d in presence} == {"offline"}
            for device in presence:
                row = driver.find_element(By.CSS_SELECTOR, f'tr[data-device="{device["device"]}"]')
                assert row.get_attribute("data-state") == device["state"], device["device"]
            listed = {d["device"] for d in report["total"]["devices"]} | {
                d["device"] for d in presence
            }
            # the edges report their health on their own clock (today): none for the period
            assert api.get("/sites/site-02/edges", params={"date": LAST}).json()["edges"] == []
            edge_panel = driver.find_element(By.CSS_SELECTOR, '[data-panel="edges"] .panel-body')
            assert "No edge has reported its health" in edge_panel.text
            panels = ("diners", "waste", "clean-plate", "load-curve", "quota-month", "devices")
            for panel in (*panels, "edges", "top-dishes", "production"):
                assert driver.find_elements(By.CSS_SELECTOR, f'[data-panel="{panel}"] .panel-body')
            # the kitchen terminal's tagged pans: the period's most wasted dish leads the table
            dishes = api.get(
                "/dishes",
                params={"site": "site-02", "period": "custom", "start": FIRST, "end": LAST},
            ).json()
            first_dish = driver.find_element(
                By.CSS_SELECTOR, '[data-panel="top-dishes"] tr[data-item]'
            )
            assert first_dish.get_attribute("data-item") == dishes["rows"][0]["key"]
            # one meal service: the selector offers the site's services; the table follows the API
            picker = Select(driver.find_element(By.ID, "dish-service-picker"))
            assert [o.get_attribute("value") for o in picker.options] == [
                "", "breakfast", "lunch", "dinner",
            ]  # fmt: skip
            picker.select_by_value("lunch")
            render = wait_rendered(driver, render)
            assert "dishService=lunch" in driver.current_url
            lunch = api.get(
                "/dishes",
                params={"site": "site-02", "period": "custom", "start": FIRST, "end": LAST,
                        "service": "lunch"},
            ).json()  # fmt: skip
            assert lunch["total_g"] < dishes["total_g"]  # breakfast and dinner are left out
            rows = driver.find_elements(By.CSS_SELECTOR, '[data-panel="top-dishes"] tr[data-item]')
            assert [r.get_attribute("data-item") for r in rows] == [r["key"] for r in lunch["rows"]]
            Select(driver.find_element(By.ID, "dish-service-picker")).select_by_value("")
            render = wait_rendered(driver, render)
            assert "dishService" not in driver.current_url
            planned = driver.find_elements(
                By.CSS_SELECTOR, '[data-panel="production"] tr[data-service]'
            )
            assert len(planned) == 3  # one row per meal service (the default three)

            # a CSV of the API (per service rows) and one built in the page (devices)
            driver.find_element(By.CSS_SELECTOR, 'button[data-csv="diners"]').click()
            driver.find_element(By.CSS_SELECTOR, 'button[data-csv="devices"]').click()
            kpis_csv = downloads / "kpis-site-02-service.csv"
            devices_csv = downloads / f"devices-site-02-{FIRST}.csv"
            wait_for(lambda: kpis_csv.exists() and devices_csv.exists(), 15, "the CSV downloads")
            # CSV for people: UTF-8 with a BOM, the header in the page's language
            assert kpis_csv.read_bytes().startswith(b"\xef\xbb\xbf")
            lines = kpis_csv.read_text(encoding="utf-8-sig").splitlines()
            assert lines[0].startswith("Scope,Period,Start,End,Meal service")
            assert len(lines) == 2 * 3 + 2  # header, 2 days x 3 services, total
            device_lines = devices_csv.read_text(encoding="utf-8-sig").splitlines()
            assert len(device_lines) == 1 + len(listed)
            # built in the page: labelled in the page's language too (csv.js forPeople)
            assert device_lines[0].startswith("Device,Kind,Connection,Since,Readings,")

            # pick a period: one day; the cards follow, and the load curve is that day's
            Select(driver.find_element(By.ID, "period-picker")).select_by_value("day")
            render = wait_rendered(driver, render)
            day = api.get("/kpis", params={"site": "site-02", "period": "day", "date": LAST}).json()
            for kpi in SITE_CARDS:
                check_equal(driver, kpi, "site-02", day["total"]["kpis"][kpi]["value"])
            screenshot(driver, ARTIFACTS / "site.png", width=WIDTH)
            if update_readme:
                readme_image(driver, "dashboard-site.png")

            # the viewer's language, switched by hand: Chinese labels, the same figures
            Select(driver.find_element(By.ID, "lang")).select_by_value("zh")
            render = wait_rendered(driver, render)
            assert driver.find_element(By.ID, "title").text == "食堂看板"
            check_equal(driver, "diners", "site-02", day["total"]["kpis"]["diners"]["value"])
            screenshot(driver, ARTIFACTS / "site-zh.png", width=WIDTH)

            # today, each edge's health is /sites/{site}/edges's
            today = api.get("/sites/site-02/edges").json()
            assert today["edges"], "the edges report their health with their batches"
            driver.get(
                f"{stack.central_url}/dashboard/#view=site&site=site-02&period=day"
                f"&date={today['date']}"
            )
            render = wait_rendered(driver, render)
            for edge in today["edges"]:
                row = driver.find_element(By.CSS_SELECTOR, f'tr[data-edge="{edge["edge"]}"]')
                assert row.get_attribute("data-lost") == str(edge["lost_readings"]).lower()

            requests = api_requests(driver)
            assert len(requests) > 10
            missing = [
                r["url"] for r in requests if r["headers"].get("Authorization") != f"Bearer {token}"
            ]
            assert not missing, f"API calls without the bearer token: {missing}"

        # the load curve adds up to the day's consumption and its peak is E9
        curve = httpx.get(
            f"{stack.central_url}/api/v1/sites/site-02/load-curve",
            timeout=30,
            params={"date": LAST},
            headers=stack.read_headers,
        ).json()
        kpis = day["total"]["kpis"]
        for quantity, name in (
            ("electricity", "electricity_kwh"),
            ("gas", "gas_m3"),
            ("water", "water_m3"),
        ):
            got = next(q for q in curve["quantities"] if q["quantity"] == quantity)
            assert len(got["used"]) == 96
            assert got["total"] == pytest.approx(kpis[name]["value"], rel=1e-9, abs=1e-9)
        assert curve["peak_demand_kw"] == pytest.approx(kpis["peak_demand_kw"]["value"], rel=1e-9)
        stack.check_alive()
