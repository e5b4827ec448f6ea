"""A row nobody measured shows its counts, masses and energy as missing, not zero (docs/kpis.md,
"Missing, not zero"): day and month rows before a site's first reading and after its last, a
region's rows, a ranking's site without data, over a real SQLite store through the API."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.central.conftest import EDGES_TOML, admin_client, card, ingest, meter, scale, utc_ms
from tests.central.conftest import get_json as get

REGISTRY = f"""
[[sites]]
id = "s1"
registered_staff = 600
region = {{ city = "Hangzhou" }}

  [[sites.meters]]
  device = "elec-1"
  interval_s = 3600

[[sites]]
id = "s2"
registered_staff = 100
region = {{ city = "Hangzhou" }}
{EDGES_TOML}"""

NO_READINGS = "no readings in this row"
NOW_MS = utc_ms(2026, 11, 26, 4)  # 12:00 in Shanghai on the 26th


def local(hour: float, day: int) -> int:
    """Epoch ms of 2026-11-<day> at a local Shanghai hour (UTC+8)."""
    return utc_ms(2026, 11, day) + int((hour - 8) * 3_600_000)


def electricity(first_hour: int, last_hour: int, day: int) -> list[dict[str, Any]]:
    """Hourly register of elec-1, +10 kWh per hour from 1000 kWh at 00:00 of the 20th."""
    base = (day - 20) * 24
    return [
        meter(base + h, local(h, day), "electricity", 1000.0 + 10.0 * (base + h), "elec-1")
        for h in range(first_hour, last_hour + 1)
    ]


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """s1's first reading is on 2026-11-20 (lunch: 4 diners, 50 g each; the meter hourly); on
    the 21st only the meter reports (no diner: a 0 that stands); the meter is then silent until
    00:00 on the 24th (the 22nd and 23rd hold no reading, their energy is the gap's estimate);
    on the 25th a spoilage bin is weighed (no meter reading: energy missing, counts stand);
    s2 has no reading at all."""
    async with admin_client(REGISTRY, tmp_path, now_ms=NOW_MS) as http:
        lunch = [card(i, local(11.5, 20), 1 + i) for i in range(4)]
        lunch += [scale(i, local(12, 20), "plate", 50.0) for i in range(4)]
        lunch.append(scale(4, local(15, 25), "spoilage", 1000.0))
        meters = electricity(0, 23, 20) + electricity(0, 23, 21) + electricity(0, 0, 24)
        await ingest(http, lunch + meters, "b1")
        yield http


def value(row: dict[str, Any], kpi: str) -> Any:
    return row["kpis"][kpi]["value"]


def missing(row: dict[str, Any], *kpis: str) -> list[str | None]:
    """The reasons of `kpis` in `row`, each of which must have no value."""
    for kpi in kpis:
        assert value(row, kpi) is None, (row["label"], kpi, row["kpis"][kpi])
    return [row["kpis"][k]["reason"] for k in kpis]


COUNTS = ("diners", "trays", "clean_plates", "plate_waste_g", "spoilage_waste_g",
          "waste_per_diner_g", "attendance_pct")  # fmt: skip
ENERGY = ("electricity_kwh", "energy_kgce", "co2_kg", "peak_demand_kw", "off_hours_share_pct")


async def test_day_rows_before_the_first_reading_and_without_any_are_missing(
    client: httpx.AsyncClient,
) -> None:
    body = await get(client, "/api/v1/kpis", site="s1", period="month", date="2026-11-20")
    rows = {r["label"]: r for r in body["rows"]}
    # before the first reading, and after the last (the 26th is today, the 27th on has not
    # happened): nothing measured
    for label in ("2026-11-01", "2026-11-19", "2026-11-26", "2026-11-30"):
        row = rows[label]
        assert row["quality"]["readings_stored"] == 0
        assert missing(row, *COUNTS, *ENERGY) == [NO_READINGS] * (len(COUNTS) + len(ENERGY))
    # the first day, as before
    first = rows["2026-11-20"]
    assert (value(first, "diners"), value(first, "trays")) == (4, 4)
    assert value(first, "plate_waste_g") == pytest.approx(200.0)
    assert value(first, "electricity_kwh") == pytest.approx(240.0)
    # the meter reported, the card reader did not: 0 diners stands, no per-diner figure
    meters_only = rows["2026-11-21"]
    assert (value(meters_only, "diners"), value(meters_only, "plate_waste_g")) == (0, 0.0)
    assert missing(meters_only, "waste_per_diner_g") == ["no diners in this row"]
    assert value(meters_only, "electricity_kwh") == pytest.approx(240.0)
    # inside the meter's gap: no reading, so no counts, but the gap's estimate stands
    for label in ("2026-11-22", "2026-11-23"):
        row = rows[label]
        assert missing(row, *COUNTS) == [NO_READINGS] * len(COUNTS)
        assert value(row, "electricity_kwh") == pytest.approx(240.0)
        assert row["quality"]["estimated_electricity_kwh"] == pytest.approx(240.0)
    # a scale weighed, no meter reported and no gap reaches the date: counts stand, energy missing
    scale_only = rows["2026-11-25"]
    assert (value(scale_only, "diners"), value(scale_only, "spoilage_waste_g")) == (0, 1000.0)
    assert missing(scale_only, *ENERGY) == ["no meter readings in this row"] * len(ENERGY)
    # the month sums what was measured
    assert value(body["total"], "diners") == 4
    assert value(body["total"], "electricity_kwh") == pytest.approx(960.0)
    # the quota burn-down's use is /kpis' energy: none where that is missing, the gap's estimate
    burn = await get(client, "/api/v1/sites/s1/quota-burndown", date="2026-11-20")
    used = {p["label"]: p["used_kgce"] for p in burn["month"]["points"]}
    assert [used[f"2026-11-{d}"] for d in (19, 25, 26)] == [None] * 3
    assert used["2026-11-22"] == pytest.approx(value(rows["2026-11-22"], "energy_kgce"))
    # the daily view says the same
    daily = await get(client, "/api/v1/sites/s1/kpis/daily", date="2026-11-19")
    assert (daily["day"]["meals"], daily["day"]["trays"], daily["services"][0]["diners"]) == (
        None, None, None
    )  # fmt: skip
    assert daily["day"]["waste_g"]["plate"] is None
    assert daily["day"]["energy"]["electricity_kwh"] is None


async def test_month_rows_before_the_first_reading_are_missing(client: httpx.AsyncClient) -> None:
    body = await get(
        client, "/api/v1/kpis", site="s1", period="year", date="2026-11-20", granularity="month"
    )
    rows = body["rows"]
    assert [r["label"] for r in rows][0::10] == ["2026-01", "2026-11"]
    for row in rows[:10] + rows[11:]:  # January to October, and December (not begun)
        assert missing(row, *COUNTS, *ENERGY) == [NO_READINGS] * (len(COUNTS) + len(ENERGY))
    november = rows[10]
    assert (value(november, "diners"), value(november, "trays")) == (4, 4)
    assert value(november, "electricity_kwh") == pytest.approx(960.0)
    assert value(body["total"], "diners") == 4


async def test_a_region_sums_its_sites_with_readings_and_is_missing_without_any(
    client: httpx.AsyncClient,
) -> None:
    body = await get(
        client, "/api/v1/kpis", region="city:Hangzhou", period="year", date="2026-11-20",
        granularity="month",
    )  # fmt: skip
    assert body["sites"] == ["s1", "s2"]
    rows = body["rows"]
    for row in rows[:10]:
        assert missing(row, "diners", "plate_waste_g", "electricity_kwh") == [NO_READINGS] * 3
    # s2 has nothing: the region's November is s1's
    november = rows[10]
    assert (value(november, "diners"), value(november, "plate_waste_g")) == (4, 200.0)
    assert value(november, "waste_per_diner_g") == pytest.approx(50.0)
    assert value(november, "electricity_kwh") == pytest.approx(960.0)
    s2 = await get(client, "/api/v1/kpis", site="s2", period="month", date="2026-11-20")
    assert missing(s2["total"], "diners", "plate_waste_g", "electricity_kwh") == [NO_READINGS] * 3


@pytest.mark.parametrize("period", ["month", "year"])
async def test_a_site_without_data_ranks_without_a_value(
    client: httpx.AsyncClient, period: str
) -> None:
    for kpi, order in (("diners", "asc"), ("waste_per_diner_g", "asc"), ("trays", "desc")):
        ranked = await get(
            client, "/api/v1/ranking", region="city:Hangzhou", kpi=kpi, period=period,
            date="2026-11-20", order=order,
        )  # fmt: skip
        assert [(r["rank"], r["site"]) for r in ranked["sites"]] == [(1, "s1"), (None, "s2")]
        s2 = ranked["sites"][1]["value"]
        assert (s2["value"], s2["reason"]) == (None, NO_READINGS)
        assert value(ranked["region_total"], "diners") == 4
    # a month before any site had data: nobody ranks, the region's row is missing
    before = await get(
        client, "/api/v1/ranking", region="city:Hangzhou", kpi="diners", period="month",
        date="2026-10-15",
    )  # fmt: skip
    assert [r["rank"] for r in before["sites"]] == [None, None]
    assert missing(before["region_total"], "diners", "electricity_kwh") == [NO_READINGS] * 2
