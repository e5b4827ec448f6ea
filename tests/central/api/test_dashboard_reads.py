"""GET /regions, /sites/{site}/load-curve and /sites/{site}/quota-burndown: the reads the dashboard
needs beyond /kpis, over readings ingested through the API into a real SQLite store."""

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.central.conftest import KEY_S1, EdgeAuth, admin_client, batch, edge_toml, meter, utc_ms

# November 2025: in the past whatever the test machine's clock says, so every day has started.
REGISTRY = f"""
[[sites]]
id = "s1"
registered_staff = 600
region = {{ province = "Zhejiang", city = "Hangzhou" }}
energy_quota_kgce_month = 300.0
energy_quota_kgce_year = 3650.0

  [[sites.meters]]
  device = "elec-1"
  interval_s = 300

[[sites]]
id = "s2"
registered_staff = 100
region = {{ province = "Zhejiang", city = "Ningbo" }}
{edge_toml("s1")}"""
KWH_PER_5_MIN = 1.0
KGCE_PER_KWH = 0.1229  # the built-in factor set


def local(day: int, minute: int) -> int:
    """Epoch ms of 2025-11-<day> 00:00 Shanghai (UTC+8) plus `minute` minutes."""
    return utc_ms(2025, 11, day) - 8 * 3_600_000 + minute * 60_000


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(REGISTRY, tmp_path) as http:
        # elec-1 every 5 minutes from 23:00 on the 19th to 01:00 on the 21st, 1 kWh each, with
        # nothing received from 10:05 to 10:55 on the 20th (a gap: its 12 kWh are estimated).
        readings: list[dict[str, Any]] = []
        for step in range(-12, 24 * 12 + 13):
            minute = step * 5
            if 10 * 60 < minute < 11 * 60:
                continue
            total = 5000.0 + KWH_PER_5_MIN * (step + 12)
            readings.append(meter(len(readings), local(20, minute), "electricity", total, "elec-1"))
        response = await http.post("/api/v1/ingest", json=batch(readings), auth=EdgeAuth(KEY_S1))
        assert response.status_code == 200, response.text
        yield http


async def test_regions_list_every_tag_with_its_sites(client: httpx.AsyncClient) -> None:
    answer = (await client.get("/api/v1/regions")).json()
    # no device has reported a status: nothing offline (tests/central/api/test_devices.py)
    assert [region.pop("offline_devices") for region in answer] == [
        {"s1": 0, "s2": 0},
        {"s1": 0},
        {"s2": 0},
    ]
    assert answer == [
        {"tag": "province:Zhejiang", "key": "province", "value": "Zhejiang", "sites": ["s1", "s2"]},
        {"tag": "city:Hangzhou", "key": "city", "value": "Hangzhou", "sites": ["s1"]},
        {"tag": "city:Ningbo", "key": "city", "value": "Ningbo", "sites": ["s2"]},
    ]


async def test_load_curve_has_96_quarter_hours_adding_up_to_the_day(
    client: httpx.AsyncClient,
) -> None:
    answer = (await client.get("/api/v1/sites/s1/load-curve", params={"date": "2025-11-20"})).json()
    assert answer["interval_min"] == 15
    assert answer["timezone"] == "Asia/Shanghai"
    assert len(answer["start"]) == 96
    assert answer["start"][0] == "2025-11-20T00:00:00+08:00"
    assert answer["start"][42] == "2025-11-20T10:30:00+08:00"
    quantities = {q["quantity"]: q for q in answer["quantities"]}
    elec = quantities["electricity"]
    assert elec["present"] is True
    assert elec["unit"] == "kWh"
    assert elec["used"] == pytest.approx([3 * KWH_PER_5_MIN] * 96)
    # 10:00-11:00 rests on the gap: spread evenly and flagged estimated; nothing else is
    estimated = elec["estimated"]
    assert estimated[40:44] == pytest.approx([3 * KWH_PER_5_MIN] * 4)
    assert sum(estimated[:40]) == sum(estimated[44:]) == 0
    assert quantities["gas"] == {
        "quantity": "gas", "unit": "m3", "present": False, "used": None, "estimated": None,
        "total": None, "covered": None,
    }  # fmt: skip
    assert elec["covered"] == [True] * 96  # readings on both sides of every interval
    assert answer["peak_demand_kw"] == pytest.approx(3 * KWH_PER_5_MIN / 0.25)
    assert [s["name"] for s in answer["services"]] == ["breakfast", "lunch", "dinner"]
    assert answer["services"][1]["start"] == "2025-11-20T11:00:00+08:00"
    assert answer["services"][1]["energy_start"] == "2025-11-20T09:00:00+08:00"

    kpis = (
        await client.get(
            "/api/v1/kpis", params={"site": "s1", "period": "day", "date": "2025-11-20"}
        )
    ).json()["total"]["kpis"]
    assert elec["total"] == pytest.approx(kpis["electricity_kwh"]["value"], rel=1e-12)
    assert answer["peak_demand_kw"] == pytest.approx(kpis["peak_demand_kw"]["value"], rel=1e-12)


async def test_load_curve_beyond_the_last_reading_is_not_covered(
    client: httpx.AsyncClient,
) -> None:
    # the readings end at 01:00 on the 21st: after that the day has no data (not zero use)
    answer = (await client.get("/api/v1/sites/s1/load-curve", params={"date": "2025-11-21"})).json()
    elec = next(q for q in answer["quantities"] if q["quantity"] == "electricity")
    assert elec["covered"] == [True] * 4 + [False] * 92
    assert answer["peak_demand_kw"] == pytest.approx(3 * KWH_PER_5_MIN / 0.25)
    # a day without any reading: no curve (as /kpis: no electricity that day), no peak demand
    # (not 0 kW)
    empty = (await client.get("/api/v1/sites/s1/load-curve", params={"date": "2025-11-23"})).json()
    elec = next(q for q in empty["quantities"] if q["quantity"] == "electricity")
    assert (elec["present"], elec["used"], elec["covered"]) == (False, None, None)
    assert empty["peak_demand_kw"] is None


def december(day: int, minute: int) -> int:
    """Epoch ms of 2025-12-<day> 00:00 Shanghai plus `minute` minutes."""
    return utc_ms(2025, 12, day) - 8 * 3_600_000 + minute * 60_000


async def test_load_curve_takes_the_days_curves_from_the_kpis_pipeline(
    client: httpx.AsyncClient,
) -> None:
    """A dirty meter (a gap over midnight, a reset, a reading sent with a wrong clock, a resend):
    each day's intervals add up to its energy in /kpis, with the same estimated part and peak
    demand, because the load curve splits the curves the day's rollup is built from."""
    readings: list[dict[str, Any]] = []
    total = 100.0
    for step in range(3 * 24 * 12):  # Dec 10-12, every 5 minutes
        minute = step * 5
        if 22 * 60 < minute < 26 * 60:  # silent from 22:00 on the 10th to 02:00 on the 11th
            total += KWH_PER_5_MIN
            continue
        total = 0.5 if minute == (24 + 12) * 60 else total + KWH_PER_5_MIN  # a reset at noon
        reading = meter(step, december(10, minute), "electricity", total, "elec-2")
        if minute == (24 + 18) * 60:  # a wrong device clock: central dates it by receive time
            reading["device_time_ms"] = 1_000
        readings.append(reading)
    for batch_id, part in (("dec-1", readings), ("dec-2", readings[100:140])):  # a resend
        response = await client.post(
            "/api/v1/ingest", json=batch(part, batch_id=batch_id), auth=EdgeAuth(KEY_S1)
        )
        assert response.status_code == 200, response.text
    for day in ("2025-12-10", "2025-12-11", "2025-12-12"):
        curve = (await client.get("/api/v1/sites/s1/load-curve", params={"date": day})).json()
        kpis = await client.get("/api/v1/kpis", params={"site": "s1", "period": "day", "date": day})
        row = kpis.json()["total"]
        elec = next(q for q in curve["quantities"] if q["quantity"] == "electricity")
        assert elec["total"] == pytest.approx(row["kpis"]["electricity_kwh"]["value"], rel=1e-9)
        assert sum(elec["used"]) == pytest.approx(elec["total"], rel=1e-12)
        assert sum(elec["estimated"]) == pytest.approx(
            row["quality"]["estimated_electricity_kwh"], rel=1e-9, abs=1e-9
        )
        peak = row["kpis"]["peak_demand_kw"]["value"]
        assert curve["peak_demand_kw"] == pytest.approx(peak, rel=1e-9), day
        assert set(curve["rollups"]) == {"pending_dates", "oldest_pending_s"}  # SQLite: rollups


async def test_load_curve_as_csv(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/api/v1/sites/s1/load-curve",
        params={"date": "2025-11-20", "format": "csv", "csv": "machine"},
    )
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.text)))
    assert rows[0] == ["start", "electricity [kWh]", "electricity_estimated [kWh]"]
    assert len(rows) == 97
    assert rows[41] == ["2025-11-20T10:00:00+08:00", "3.0", "3.0"]


async def test_load_curve_of_a_day_without_readings_is_empty_not_an_error(
    client: httpx.AsyncClient,
) -> None:
    answer = (await client.get("/api/v1/sites/s2/load-curve", params={"date": "2025-11-20"})).json()
    assert all(not q["present"] for q in answer["quantities"])
    assert answer["peak_demand_kw"] is None


@pytest.mark.parametrize(
    ("path", "params", "status"),
    [
        ("/api/v1/sites/nope/load-curve", {"date": "2025-11-20"}, 404),
        ("/api/v1/sites/s1/load-curve", {"date": "2025-11-31"}, 422),
        ("/api/v1/sites/s1/load-curve", {}, 422),
        ("/api/v1/sites/nope/quota-burndown", {"date": "2025-11-20"}, 404),
        ("/api/v1/sites/s1/quota-burndown", {"date": "20-11-2025"}, 422),
    ],
)
async def test_bad_requests_are_refused_with_a_reason(
    client: httpx.AsyncClient, path: str, params: dict[str, str], status: int
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == status
    assert response.json()["detail"]


async def test_quota_burn_down_of_month_and_year(client: httpx.AsyncClient) -> None:
    answer = (
        await client.get("/api/v1/sites/s1/quota-burndown", params={"date": "2025-11-20"})
    ).json()
    month = answer["month"]
    assert (month["start"], month["end"], month["quota_kgce"]) == (
        "2025-11-01",
        "2025-11-30",
        300.0,
    )
    points = month["points"]
    assert len(points) == 30
    day_19, day_20, day_21 = 12 * KGCE_PER_KWH, 288 * KGCE_PER_KWH, 12 * KGCE_PER_KWH
    assert points[18]["used_kgce"] == pytest.approx(day_19)
    assert points[19]["used_kgce"] == pytest.approx(day_20)
    assert points[19]["cumulative_kgce"] == pytest.approx(day_19 + day_20)
    assert points[20]["cumulative_kgce"] == pytest.approx(day_19 + day_20 + day_21)
    # no meter reading before the 19th nor after the 21st: no data there, not 0 kgce
    for point in points[:18] + points[21:]:
        assert (point["used_kgce"], point["cumulative_kgce"]) == (None, None), point["label"]
    assert points[19]["allowed_kgce"] == pytest.approx(300.0 * 20 / 30)
    assert points[20]["remaining_kgce"] == pytest.approx(300.0 - (day_19 + day_20 + day_21))
    kpis = (
        await client.get(
            "/api/v1/kpis", params={"site": "s1", "period": "month", "date": "2025-11-20"}
        )
    ).json()["total"]["kpis"]
    assert month["quota_use_pct"] == pytest.approx(kpis["quota_use_pct"]["value"], rel=1e-12)
    days = await client.get(
        "/api/v1/kpis",
        params={"site": "s1", "period": "month", "date": "2025-11-20", "granularity": "day"},
    )
    rows = days.json()["rows"]
    assert [p["start"] for p in points] == [r["start"] for r in rows]
    for point, row in zip(points, rows, strict=True):  # each day's use is /kpis' energy_kgce
        assert point["used_kgce"] == row["kpis"]["energy_kgce"]["value"], point["label"]
    assert set(answer["rollups"]) == {"pending_dates", "oldest_pending_s"}

    year = answer["year"]
    assert year["quota_kgce"] == 3650.0
    assert [p["label"] for p in year["points"]][10] == "2025-11"
    assert year["points"][10]["allowed_kgce"] == pytest.approx(3650.0 * 334 / 365)
    # the months before the meters' first reading have no data (the issue's 0 kgce line)
    assert [p["cumulative_kgce"] for p in year["points"][:10]] == [None] * 10
    assert year["points"][10]["cumulative_kgce"] == pytest.approx(day_19 + day_20 + day_21)


async def test_quota_burn_down_without_quota_says_why(client: httpx.AsyncClient) -> None:
    answer = (
        await client.get("/api/v1/sites/s2/quota-burndown", params={"date": "2025-11-20"})
    ).json()
    for part in (answer["month"], answer["year"]):
        assert part["quota_kgce"] is None
        assert "energy_quota_kgce_month" in part["reason"]
        assert all(p["allowed_kgce"] is None for p in part["points"])
