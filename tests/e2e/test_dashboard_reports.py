"""The dashboard's targets, comparisons, monthly report and alert history in a real headless
chromium against a real central process: the comparison table shows GET /kpis of the previous
month and — for last year (no data), the target is drawn, the report button downloads a workbook
whose figures are GET /kpis's, and an alert is acknowledged with who and when."""

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openpyxl import load_workbook

from tests.central.api.test_reports import REGISTRY, lunch_day
from tests.central.conftest import KEY_S1, KEY_S2, EdgeAuth, batch
from tests.central_process import central_process
from tests.e2e.browser import chromium, require_chromium, screenshot, wait_for
from tests.e2e.test_dashboard import wait_rendered

pytestmark = pytest.mark.e2e

MONTH, DAY, BEFORE = "2026-11", "2026-11-20", "2026-10-20"
ALERT_ID = "s1/2026-11-20/waste_target/"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "dashboard-reports"


@pytest.fixture
def central(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A central process on a free port with the reports' registry; its URL and admin token."""
    require_chromium()
    (tmp_path / "sites.toml").write_text(REGISTRY, encoding="utf-8")
    token = secrets.token_urlsafe(24)
    with central_process(tmp_path, tmp_path / "sites.toml", token) as (url, process):
        yield url, token
        process.check_running()


def kpis(api: httpx.Client, on: str) -> dict[str, Any]:
    answer = api.get("/kpis", params={"site": "s1", "period": "month", "date": on})
    assert answer.status_code == 200, answer.text
    total: dict[str, Any] = answer.json()["total"]["kpis"]
    return total


def test_targets_comparisons_report_and_alert_acknowledgement(
    central: tuple[str, str], tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    url, token = central
    for batch_id, readings in (
        ("nov", lunch_day(2026, 11, 20, 4, 150.0, 0)),
        ("oct", lunch_day(2026, 10, 20, 5, 80.0, 100)),
    ):
        sent = httpx.post(
            f"{url}/api/v1/ingest", json=batch(readings, batch_id=batch_id), auth=EdgeAuth(KEY_S1)
        )
        assert sent.status_code == 200, sent.text
    other = batch(lunch_day(2026, 10, 20, 3, 60.0, 0), batch_id="s2-oct", site="s2", edge="edge-s2")
    sent = httpx.post(f"{url}/api/v1/ingest", json=other, auth=EdgeAuth(KEY_S2))
    assert sent.status_code == 200, sent.text
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    api = httpx.Client(
        base_url=f"{url}/api/v1", timeout=30, headers={"Authorization": f"Bearer {token}"}
    )
    with api, chromium(tmp_path / "profile", lang="en-US", width=1280, height=900) as driver:
        driver.execute_cdp_cmd(
            "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
        )
        driver.get(f"{url}/dashboard/#view=site&site=s1&period=month&date={DAY}&token={token}")
        wait_rendered(driver, 0)
        now, before = kpis(api, DAY), kpis(api, BEFORE)

        # the comparison table: this month, the previous month (GET /kpis), last year missing
        def shown(name: str, scope: str) -> str | None:
            found = driver.find_element(
                By.CSS_SELECTOR, f'.comparison [data-kpi="{name}"][data-scope="{scope}"]'
            )
            value = found.get_attribute("data-value")
            return None if value is None else str(value)

        for name in ("waste_per_diner_g", "diners", "energy_kgce_per_m2", "energy_kgce_per_staff"):
            assert shown(name, "s1") == str_or_empty(now[name]["value"]), name
            assert shown(name, "previous") == str_or_empty(before[name]["value"]), name
            assert shown(name, "lastYear") == "", name  # 2025-11 has no data: —
        last_year = driver.find_element(
            By.CSS_SELECTOR, '.comparison [data-kpi="diners"][data-scope="lastYear"]'
        )
        assert last_year.text == "—"
        change = driver.find_element(
            By.CSS_SELECTOR, '[data-change="waste_per_diner_g"][data-scope="previous"]'
        )
        assert float(change.get_attribute("data-value") or "nan") == pytest.approx(87.5)
        # the registry's target and goal on the charts
        for panel, target in (("waste", "100"), ("clean-plate", "80")):
            body = driver.find_element(By.CSS_SELECTOR, f'[data-panel="{panel}"] .panel-body')
            assert body.get_attribute("data-target") == target, panel

        # the monthly report: downloaded from the button, its figures are GET /kpis's
        driver.find_element(By.CSS_SELECTOR, 'button[data-report="xlsx"]').click()
        path = downloads / f"report-s1-{MONTH}-en.xlsx"
        wait_for(path.exists, 30, "the report download")
        wait_for(lambda: not list(downloads.glob("*.crdownload")), 30, "the download to finish")
        book = load_workbook(path)
        rows = {r[0]: r for r in book["Summary"].iter_rows(values_only=True) if r and r[0]}
        for label, name in (
            ("Diners", "diners"),
            ("Waste per diner", "waste_per_diner_g"),
            ("Energy per m² of floor area", "energy_kgce_per_m2"),
        ):
            assert rows[label][2] == pytest.approx(now[name]["value"], rel=1e-14), label
            assert rows[label][4] == pytest.approx(before[name]["value"], rel=1e-14), label
            assert rows[label][6] == "—", label  # last year: missing, never 0

        # the alert history (drawn when it arrives): acknowledge the waste alert of the 20th
        (row,) = wait_for(
            lambda: driver.find_elements(By.CSS_SELECTOR, f'tr[data-alert-id="{ALERT_ID}"]'),
            30,
            "the alert history",
        )
        assert "open" in (row.get_attribute("class") or "")
        row.find_element(By.CSS_SELECTOR, "button.ack-button").click()
        (cell,) = wait_for(
            lambda: driver.find_elements(
                By.CSS_SELECTOR, f'tr[data-alert-id="{ALERT_ID}"] td.ack[data-acked-by]'
            ),
            15,
            "the acknowledgement",
        )
        assert cell.get_attribute("data-acked-by") == "token bootstrap-admin"
        history = api.get("/alerts/history", params={"site": "s1", "start": DAY, "end": DAY}).json()
        (acked,) = [a for a in history["alerts"] if a["id"] == ALERT_ID]
        assert acked["ack"]["by"] == "token bootstrap-admin"
        screenshot(driver, ARTIFACTS / "site-month.png", width=1280)

        # in Chinese: 环比 and 同比 headings, and the report in Chinese, as workbook and page
        Select(driver.find_element(By.ID, "lang")).select_by_value("zh")
        wait_rendered(driver, 0)
        wait_for(
            lambda: "环比" in driver.find_element(By.CSS_SELECTOR, ".comparison thead").text,
            15,
            "the Chinese comparison table",
        )
        assert "同比" in driver.find_element(By.CSS_SELECTOR, ".comparison thead").text
        (acked_zh,) = wait_for(
            lambda: driver.find_elements(
                By.CSS_SELECTOR, f'[data-history="ready"] tr[data-alert-id="{ALERT_ID}"] td.ack'
            ),
            30,
            "the Chinese alert history",
        )
        assert acked_zh.get_attribute("data-acked-by") == "token bootstrap-admin"  # kept
        driver.find_element(By.CSS_SELECTOR, 'button[data-report="xlsx"]').click()
        driver.find_element(By.CSS_SELECTOR, 'button[data-report="html"]').click()
        zh_book, zh_page = (downloads / f"report-s1-{MONTH}-zh.{ext}" for ext in ("xlsx", "html"))
        wait_for(lambda: zh_book.exists() and zh_page.exists(), 30, "the Chinese reports")
        wait_for(lambda: not list(downloads.glob("*.crdownload")), 30, "the downloads to finish")
        assert load_workbook(zh_book).sheetnames[0] == "概要"
        page = zh_page.read_text(encoding="utf-8")
        assert "一号食堂月度报告 2026-11" in page
        assert "token bootstrap-admin" in page  # the acknowledgement is in the report's alerts
        screenshot(driver, ARTIFACTS / "site-month-zh.png", width=1280)

        # the region view compares the region's total the same way
        driver.get(f"{url}/dashboard/#view=region&region=province:Zhejiang&period=month&date={DAY}")
        in_region = 'main:has([data-panel="ranking-table"]) .comparison [data-scope="previous"]'
        wait_for(
            lambda: driver.find_elements(By.CSS_SELECTOR, in_region), 30, "the region's comparison"
        )
        region = api.get(
            "/kpis", params={"region": "province:Zhejiang", "period": "month", "date": BEFORE}
        ).json()["total"]["kpis"]
        assert region["diners"]["value"] == 5 + 3  # both canteens' October
        assert shown("diners", "previous") == str_or_empty(region["diners"]["value"])
        assert shown("diners", "lastYear") == ""


def str_or_empty(value: float | None) -> str:
    """A value as the page keeps it in data-value (JavaScript's String of the number)."""
    if value is None:
        return ""
    return str(int(value)) if float(value).is_integer() else repr(value)
