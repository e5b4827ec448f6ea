"""GET /reports/monthly: the XLSX workbook and the printable page, zh and en, with 同比 and 环比
from GET /kpis of the comparison months, or — where a comparison month has no data."""

import io
from collections.abc import AsyncIterator
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from openpyxl import load_workbook
from openpyxl.worksheet.worksheet import Worksheet

from tests.central.conftest import EDGES_TOML, admin_client, card, ingest, meter, scale, utc_ms

REGISTRY = f"""
[[sites]]
id = "s1"
name = "一号食堂"
registered_staff = 600
floor_area_m2 = 1500.0
region = {{ province = "Zhejiang" }}
food_price_cny_per_kg = 12.0
waste_target_g_per_diner = 100.0
clean_plate_goal_pct = 80.0
energy_quota_kgce_month = 10.0

[[sites]]
id = "s2"
registered_staff = 100
region = {{ province = "Zhejiang" }}
{EDGES_TOML}"""


def local_ms(year: int, month: int, day: int, hour: float) -> int:
    """Epoch ms of a local Shanghai time (UTC+8)."""
    return utc_ms(year, month, day) + int((hour - 8) * 3_600_000)


def lunch_day(
    year: int, month: int, day: int, diners: int, plate_g: float, seq0: int
) -> list[dict[str, Any]]:
    """`diners` swipes and plates of `plate_g` at lunch, and an electricity meter 0..24 h."""
    readings = []
    for i in range(diners):
        readings.append(card(seq0 + i, local_ms(year, month, day, 11.5), 1 + i))
        readings.append(scale(seq0 + i, local_ms(year, month, day, 12), "plate", plate_g))
    readings += [
        meter(seq0 + h, local_ms(year, month, day, h), "electricity", 100.0 + 5.0 * h, "elec-1")
        for h in range(25)
    ]
    return readings


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(REGISTRY, tmp_path) as http:
        yield http


async def month_kpis(client: httpx.AsyncClient, on: str, **scope: str) -> dict[str, Any]:
    response = await client.get("/api/v1/kpis", params={"period": "month", "date": on, **scope})
    assert response.status_code == 200, response.text
    total: dict[str, Any] = response.json()["total"]
    return total


async def workbook(client: httpx.AsyncClient, **params: str) -> Any:
    response = await client.get("/api/v1/reports/monthly", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert "attachment" in response.headers["content-disposition"]
    return load_workbook(io.BytesIO(response.content))


def same(value: float) -> Any:
    """Equal to an API value as a workbook stores it (15 significant digits)."""
    return pytest.approx(value, rel=1e-14, abs=0)


def table(sheet: Worksheet) -> tuple[list[Any], dict[str, list[Any]]]:
    """The header row (the first row of more than two filled cells) and the rows below it by
    their first cell."""
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    start = next(i for i, r in enumerate(rows) if sum(c is not None for c in r) > 2)
    body = {str(r[0]): r for r in rows[start + 1 :] if r[0] is not None}
    return rows[start], body


async def test_workbook_in_chinese_with_mom_and_missing_yoy(client: httpx.AsyncClient) -> None:
    await ingest(client, lunch_day(2026, 11, 20, 4, 150.0, 0), "nov")
    await ingest(client, lunch_day(2026, 10, 20, 5, 80.0, 100), "oct")
    book = await workbook(client, site="s1", month="2026-11", lang="zh")
    assert book.sheetnames == ["概要", "分类浪费", "能耗", "定额使用", "数据质量", "设备", "告警"]
    header, rows = table(book["概要"])
    assert header == [
        "指标", "单位", "本月", "目标", "上月（2026-10）", "环比 [%]", "去年同月（2025-11）",
        "同比 [%]",
    ]  # fmt: skip
    now = await month_kpis(client, "2026-11-20", site="s1")
    before = await month_kpis(client, "2026-10-20", site="s1")
    waste = rows["人均浪费"]
    assert waste[1] == "克/人"
    assert waste[2] == now["kpis"]["waste_per_diner_g"]["value"] == pytest.approx(150.0)
    assert waste[3] == 100.0  # the target
    assert waste[4] == before["kpis"]["waste_per_diner_g"]["value"] == pytest.approx(80.0)
    assert waste[5] == pytest.approx((150.0 - 80.0) / 80.0 * 100)
    assert (waste[6], waste[7]) == ("—", "—")  # no data in 2025-11: missing, never 0
    assert rows["就餐人次"][2] == now["kpis"]["diners"]["value"] == 4
    assert rows["就餐人次"][6] == "—"
    assert rows["光盘率"][3] == 80.0
    # a workbook keeps 15 significant digits, as a spreadsheet does
    assert rows["单位建筑面积能耗"][2] == same(now["kpis"]["energy_kgce_per_m2"]["value"])
    assert rows["人均综合能耗"][2] == same(now["kpis"]["energy_kgce_per_staff"]["value"])
    # a KPI the pipeline cannot compute (no gas meter) is missing in the workbook too
    assert now["kpis"]["gas_m3"]["value"] is None
    assert rows["用气量"][2] == "—"
    notes = [r[0] for r in book["概要"].iter_rows(values_only=True) if r[0]]
    assert "2025-11无数据" in notes
    # waste by stream: one row per date and the total, each equal to GET /kpis
    _, waste_rows = table(book["分类浪费"])
    assert waste_rows["2026-11-20"][1] == 4  # diners
    assert len([k for k in waste_rows if str(k).startswith("2026-11-")]) == 30
    assert waste_rows["合计"][1] == now["kpis"]["diners"]["value"]
    _, quota = table(book["定额使用"])
    (month_row,) = [v for k, v in quota.items() if str(k).startswith("本月")]
    assert month_row[1:] == [
        10.0, same(now["kpis"]["energy_kgce"]["value"]), same(now["kpis"]["quota_use_pct"]["value"])
    ]  # fmt: skip
    alerts = [r for r in book["告警"].iter_rows(min_row=2, values_only=True) if r[1] == "s1"]
    (waste_alert,) = [r for r in alerts if r[0] == "2026-11-20" and r[2] == "人均浪费超目标"]
    assert waste_alert[3] is None  # names no device (an empty cell)
    assert waste_alert[4:6] == (pytest.approx(150.0), 100.0)
    assert waste_alert[8] == "未确认"  # open


async def test_workbook_in_english_with_yoy_when_last_year_has_data(
    client: httpx.AsyncClient,
) -> None:
    await ingest(client, lunch_day(2026, 11, 20, 4, 150.0, 0), "nov")
    await ingest(client, lunch_day(2025, 11, 20, 2, 120.0, 200), "last-year")
    book = await workbook(client, site="s1", month="2026-11", lang="en")
    assert book.sheetnames[:3] == ["Summary", "Waste by stream", "Energy"]
    header, rows = table(book["Summary"])
    assert header[2:] == [
        "This month", "Target", "Previous month (2026-10)", "Change vs previous month [%]",
        "Same month last year (2025-11)", "Change vs last year [%]",
    ]  # fmt: skip
    last_year = await month_kpis(client, "2025-11-20", site="s1")
    waste = rows["Waste per diner"]
    assert waste[6] == last_year["kpis"]["waste_per_diner_g"]["value"] == pytest.approx(120.0)
    assert waste[7] == pytest.approx((150.0 - 120.0) / 120.0 * 100)
    assert (waste[4], waste[5]) == ("—", "—")  # October has no data
    rate = rows["Clean-plate rate"]  # in %: the change is in percentage points
    if rate[2] is not None and rate[6] not in (None, "—"):
        assert rate[7] == pytest.approx(rate[2] - rate[6])


async def test_printable_page_and_region_report(client: httpx.AsyncClient) -> None:
    await ingest(client, lunch_day(2026, 11, 20, 4, 150.0, 0), "nov")
    page = await client.get(
        "/api/v1/reports/monthly",
        params={"site": "s1", "month": "2026-11", "lang": "zh", "format": "html"},
    )
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    text = page.text
    assert '<html lang="zh-CN">' in text
    assert "@media print" in text
    assert "size: A4" in text
    assert "一号食堂月度报告 2026-11" in text
    for section in ("summary", "waste", "energy", "quota", "quality", "alerts"):
        assert f'data-section="{section}"' in text
    assert "<script" not in text
    # the region's quota use is missing (s2 has no quota): why, in the report's language
    zh_region = await client.get(
        "/api/v1/reports/monthly",
        params={"region": "province:Zhejiang", "month": "2026-11", "lang": "zh", "format": "html"},
    )
    assert "有食堂未配置能耗定额" in zh_region.text
    assert (
        page.headers["content-security-policy"] == "default-src 'none'; style-src 'unsafe-inline'"
    )
    english = await client.get(
        "/api/v1/reports/monthly",
        params={"site": "s1", "month": "2026-11", "lang": "en", "format": "html"},
    )
    assert "Change vs last year" in english.text
    assert "环比" not in english.text
    region = await workbook(client, region="province:Zhejiang", month="2026-11", lang="en")
    assert region.sheetnames[:2] == ["Summary", "Canteens"]
    _, sites = table(region["Canteens"])
    s1 = await month_kpis(client, "2026-11-20", site="s1")
    assert sites["一号食堂 (s1)"][1] == s1["kpis"]["diners"]["value"]
    _, summary = table(region["Summary"])
    total = await month_kpis(client, "2026-11-20", region="province:Zhejiang")
    assert summary["Diners"][2] == total["kpis"]["diners"]["value"]
    assert summary["Waste per diner"][3] == "—"  # a region has no one target


@pytest.mark.parametrize(
    ("month", "detail"),
    [("2026-13", "is not a month"), ("26-11", "must be YYYY-MM"), ("2999-01", "has not begun")],
)
async def test_bad_months_are_refused_with_the_reason(
    client: httpx.AsyncClient, month: str, detail: str
) -> None:
    response = await client.get("/api/v1/reports/monthly", params={"site": "s1", "month": month})
    assert response.status_code == 422
    assert detail in response.json()["detail"]


async def test_the_current_month_has_rows_up_to_today_only(client: httpx.AsyncClient) -> None:
    def today() -> date:
        return datetime.now(ZoneInfo("Asia/Shanghai")).date()

    before = today()
    book = await workbook(client, site="s1", month=f"{before:%Y-%m}", lang="en")
    after = today()
    _, rows = table(book["Waste by stream"])
    dated = [k for k in rows if k != "Total"]
    assert dated[0] == f"{before:%Y-%m}-01"
    assert dated[-1] in (before.isoformat(), after.isoformat())  # not the month's last date
    assert len(dated) in (before.day, after.day)
