"""GET /dishes and /dishes/trend over tagged weighings ingested through the API."""

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.central.conftest import EDGES_TOML, admin_client, ingest, scale, utc_ms
from tests.central.conftest import get_json as get

REGISTRY = f"""
[[sites]]
id = "s1"
registered_staff = 600
region = {{ city = "Hangzhou" }}
food_price_cny_per_kg = 10.0
food_co2e_kg_per_kg = 2.0

  [[sites.menu]]
  code = "hongshao-rou"
  name_zh = "红烧肉"
  name_en = "Braised pork"
  category = "pork"

  [[sites.menu]]
  code = "rice"
  name_zh = "米饭"
  name_en = "Rice"
  category = "rice"
  price_cny_per_kg = 6.0

[[sites]]
id = "s2"
registered_staff = 100
region = {{ city = "Hangzhou" }}

  [[sites.menu]]
  code = "rice"
  category = "rice"
{EDGES_TOML}"""


def local(hour: float, day: int = 16) -> int:
    """Epoch ms of 2026-11-<day> at a local Shanghai hour (UTC+8); the 16th is a Monday."""
    return utc_ms(2026, 11, day) + int((hour - 8) * 3_600_000)


def tagged(
    seq: int, t_ms: int, stream: str, mass_g: float, item: str | None, reason: str | None
) -> dict[str, Any]:
    reading = scale(seq, t_ms, stream, mass_g, device="terminal-1")
    if item is not None:
        reading["item"] = item
    if reason is not None:
        reading["reason"] = reason
    return reading


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(REGISTRY, tmp_path) as http:
        s1 = [
            tagged(0, local(10), "prep", 1000.0, "hongshao-rou", "trim"),
            tagged(1, local(13.5), "overproduction", 3000.0, "hongshao-rou", "overproduced"),
            tagged(2, local(13.6), "overproduction", 2000.0, "rice", "overproduced"),
            tagged(3, local(9, day=17), "spoilage", 500.0, "mystery-stew", "expired"),
            tagged(4, local(13.5, day=17), "overproduction", 1000.0, "rice", None),
            scale(5, local(12), "plate", 400.0),  # untagged plate waste
        ]
        s2 = [tagged(0, local(13.5), "overproduction", 4000.0, "rice", "overproduced")]
        for readings, site in ((s1, "s1"), (s2, "s2")):
            assert (await ingest(http, readings, site=site))["accepted"] == len(readings)
        yield http


def by_key(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in body["rows"]}


async def test_waste_per_dish_with_value_co2e_share_and_unknown_items(
    client: httpx.AsyncClient,
) -> None:
    body = await get(client, "/api/v1/dishes", site="s1", period="week", date="2026-11-16")
    assert (body["start"], body["end"], body["total_g"]) == ("2026-11-16", "2026-11-22", 7900.0)
    assert body["tagged_g"] == 7500.0
    rows = by_key(body)
    assert [r["key"] for r in body["rows"]] == ["hongshao-rou", "rice", "mystery-stew", ""]
    pork = rows["hongshao-rou"]
    assert (pork["name_zh"], pork["category"], pork["known"]) == ("红烧肉", "pork", True)
    assert (pork["mass_g"], pork["weighings"]) == (4000.0, 2)
    assert pork["value_cny"] == pytest.approx(4 * 24.0)  # the pork category's default price
    assert pork["co2e_kg"] == pytest.approx(4 * 12.3)
    assert pork["share_pct"] == pytest.approx(100 * 4000 / 7900, abs=1e-3)
    assert rows["rice"]["value_cny"] == pytest.approx(3 * 6.0)  # the menu's own price
    # a code the menu does not list is kept, reported, and valued at the site's food price
    stew = rows["mystery-stew"]
    assert (stew["known"], stew["mass_g"], stew["value_cny"]) == (False, 500.0, 5.0)
    assert body["unknown_items"] == ["mystery-stew"]
    assert (rows[""]["name_en"], rows[""]["mass_g"]) == ("untagged", 400.0)


async def test_waste_per_reason_of_one_stream_and_one_day(client: httpx.AsyncClient) -> None:
    body = await get(
        client, "/api/v1/dishes", site="s1", period="day", date="2026-11-16",
        group="reason", stream="overproduction",
    )  # fmt: skip
    assert body["total_g"] == 5000.0
    rows = by_key(body)
    assert list(rows) == ["overproduced"]
    assert rows["overproduced"]["name_zh"] == "过量制作"
    assert rows["overproduced"]["share_pct"] == 100.0
    by_reason = await get(
        client, "/api/v1/dishes", site="s1", period="week", date="2026-11-16", group="reason"
    )
    assert by_reason["unknown_items"] == ["mystery-stew"]  # whichever way the rows are grouped
    assert {r["key"]: r["mass_g"] for r in by_reason["rows"]} == {
        "overproduced": 5000.0, "trim": 1000.0, "": 1400.0, "expired": 500.0,
    }  # fmt: skip


async def test_a_region_sums_its_sites_and_values_each_at_its_own_prices(
    client: httpx.AsyncClient,
) -> None:
    body = await get(
        client, "/api/v1/dishes", region="city:Hangzhou", period="day", date="2026-11-16", top=1
    )
    assert [r["key"] for r in body["rows"]] == ["rice"]
    rice = body["rows"][0]
    assert rice["mass_g"] == 6000.0
    assert rice["value_cny"] == pytest.approx(2 * 6.0 + 4 * 5.0)  # s1's price, s2's default


async def test_csv_and_an_items_trend(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/dishes",
        params={"site": "s1", "date": "2026-11-16", "format": "csv", "csv": "machine"},
    )
    assert response.status_code == 200
    lines = list(csv.reader(io.StringIO(response.text)))
    assert lines[0][:2] == ["item", "known"]
    people = await client.get(
        "/api/v1/dishes", params={"site": "s1", "date": "2026-11-16", "format": "csv", "lang": "zh"}
    )
    assert people.text.startswith("\ufeff菜品,在菜单中")
    assert lines[1][0] == "hongshao-rou"
    assert lines[-1][0] == "total"
    trend = await get(
        client, "/api/v1/dishes/trend", site="s1", item="rice", period="week", date="2026-11-16"
    )
    assert [p["mass_g"] for p in trend["points"]] == [2000.0, 1000.0, 0, 0, 0, 0, 0]
    assert (trend["known"], trend["name_en"]) == (True, "Rice")
    bad = await client.get(
        "/api/v1/dishes/trend", params={"site": "s1", "item": "rice", "granularity": "service"}
    )
    assert bad.status_code == 422
    assert "granularity" in bad.json()["detail"]


async def test_waste_per_dish_and_reason_of_one_meal_service(client: httpx.AsyncClient) -> None:
    """A service's waste is what was weighed in its windows (the default lunch 11:00-13:30:
    prep from 09:00, plate and overproduction until 14:30); spoilage belongs to no service."""
    at = {"period": "week", "date": "2026-11-16"}
    week = {"site": "s1", **at}
    lunch = await get(client, "/api/v1/dishes", service="lunch", **week)
    assert (lunch["service"], lunch["services"]) == ("lunch", ["breakfast", "lunch", "dinner"])
    assert lunch["total_g"] == 7400.0  # the week's 7,900 g but the 500 g spoiled at 09:00
    assert {r["key"]: r["mass_g"] for r in lunch["rows"]} == {
        "hongshao-rou": 4000.0, "rice": 3000.0, "": 400.0,
    }  # fmt: skip
    assert lunch["unknown_items"] == []  # the unknown code was spoilage, in no service
    assert by_key(lunch)["rice"]["share_pct"] == pytest.approx(100 * 3000 / 7400, abs=1e-3)
    reasons = await get(client, "/api/v1/dishes", service="lunch", group="reason", **week)
    # read from the rollups, which the first read built and stored
    assert reasons["rollups"] == {"pending_dates": 0, "oldest_pending_s": 0.0}
    assert {r["key"]: r["mass_g"] for r in reasons["rows"]} == {
        "overproduced": 5000.0, "": 1400.0, "trim": 1000.0,
    }  # fmt: skip
    breakfast = await get(client, "/api/v1/dishes", service="breakfast", **week)
    assert (breakfast["total_g"], breakfast["rows"]) == (0.0, [])
    whole = await get(client, "/api/v1/dishes", **week)
    assert (whole["service"], whole["total_g"]) == (None, 7900.0)

    # a region: each site's own windows; the trend and the CSV of one service
    region = await get(client, "/api/v1/dishes", region="city:Hangzhou", service="lunch", **at)
    assert by_key(region)["rice"]["mass_g"] == 7000.0
    trend = await get(client, "/api/v1/dishes/trend", item="rice", service="lunch", **week)
    assert trend["service"] == "lunch"
    assert [p["mass_g"] for p in trend["points"]] == [2000.0, 1000.0, 0, 0, 0, 0, 0]
    response = await client.get(
        "/api/v1/dishes", params={**week, "service": "lunch", "format": "csv", "csv": "machine"}
    )
    assert response.status_code == 200
    assert "dishes-item-s1-lunch-2026-11-16.csv" in response.headers["content-disposition"]
    lines = list(csv.reader(io.StringIO(response.text)))
    assert [line[0] for line in lines[1:]] == ["hongshao-rou", "rice", "", "total"]
    assert lines[-1][5] == "7400.0"


async def test_a_service_the_sites_do_not_have_is_refused(client: httpx.AsyncClient) -> None:
    for path, extra in (("/api/v1/dishes", {}), ("/api/v1/dishes/trend", {"item": "rice"})):
        response = await client.get(
            path, params={"site": "s1", "date": "2026-11-16", "service": "supper", **extra}
        )
        assert response.status_code == 422
        assert response.json()["detail"] == (
            "service 'supper' is not a meal service of these sites: breakfast, lunch, dinner"
        )
