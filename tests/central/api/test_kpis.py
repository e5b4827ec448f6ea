"""GET /kpis, /ranking and /alerts over readings ingested through the API, and late data."""

import csv
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.central.conftest import EDGES_TOML, admin_client, card, ingest, meter, scale, utc_ms
from tests.central.conftest import get_json as get

REGISTRY = f"""
default_factor_set = "cn-2022-calorific"

[[factor_sets]]
id = "cn-2022-calorific"
electricity_kgce_per_kwh = 0.1229
gas_kgce_per_m3 = 1.2143
grid_kgco2_per_kwh = 0.5366
gas_kgco2_per_m3 = 2.162

[[factor_sets]]
id = "primary-energy"
electricity_kgce_per_kwh = 0.3
gas_kgce_per_m3 = 1.2143
grid_kgco2_per_kwh = 0.5366
gas_kgco2_per_m3 = 2.162

[[sites]]
id = "s1"
registered_staff = 600
floor_area_m2 = 1500.0
region = {{ province = "Zhejiang", city = "Hangzhou" }}
food_price_cny_per_kg = 12.0
food_co2e_kg_per_kg = 2.5
waste_target_g_per_diner = 100.0
energy_quota_kgce_month = 10.0
off_hours_alert_share_pct = 30.0
device_silent_min = 90

  [[sites.meters]]
  device = "elec-1"
  interval_s = 3600

[[sites]]
id = "s2"
registered_staff = 100
region = {{ province = "Zhejiang", city = "Ningbo" }}
factor_set = "primary-energy"
{EDGES_TOML}"""


def local(hour: float, day: int = 20) -> int:
    """Epoch ms of 2026-11-<day> at a local Shanghai hour (UTC+8)."""
    return utc_ms(2026, 11, day) + int((hour - 8) * 3_600_000)


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(REGISTRY, tmp_path) as http:
        yield http


def electricity(first_hour: int, last_hour: int, day: int = 20) -> list[dict[str, Any]]:
    """Hourly register of elec-1, +10 kWh per hour from 1000 kWh at 00:00 of the 20th."""
    base = (day - 20) * 24
    return [
        meter(base + h, local(h, day), "electricity", 1000.0 + 10.0 * (base + h), "elec-1")
        for h in range(first_hour, last_hour + 1)
    ]


def lunch(first_person: int, count: int, seq0: int) -> list[dict[str, Any]]:
    return [card(seq0 + i, local(11.5), first_person + i) for i in range(count)] + [
        scale(seq0 + i, local(12), "plate", 50.0) for i in range(count)
    ]


async def test_site_day_report_with_units_factor_set_and_quality(
    client: httpx.AsyncClient,
) -> None:
    await ingest(client, electricity(0, 24) + lunch(1, 4, 0), "b1")
    again = await ingest(client, lunch(1, 4, 0), "b2")  # resent: duplicates
    assert again["duplicates"] == 8
    body = await get(client, "/api/v1/kpis", site="s1", period="day", date="2026-11-20")
    assert (body["scope"], body["site"], body["start"], body["end"]) == (
        "site", "s1", "2026-11-20", "2026-11-20"
    )  # fmt: skip
    assert body["factor_sets"][0]["id"] == "cn-2022-calorific"
    assert "late" in body["note"]
    total = body["total"]
    assert total["factor_sets"] == ["cn-2022-calorific"]
    kpis = total["kpis"]
    assert kpis["diners"] == {
        "id": "F7", "value": 4.0, "unit": "persons",
        "reason": None, "reason_code": None, "reason_params": None,
    }  # fmt: skip
    assert kpis["plate_waste_per_diner_g"]["value"] == pytest.approx(50.0)
    assert kpis["electricity_kwh"]["value"] == pytest.approx(240.0)
    assert kpis["energy_kgce_per_meal"]["value"] == pytest.approx(240 * 0.1229 / 4)
    assert kpis["energy_kgce_per_meal"]["unit"] == "kgce/meal"
    assert kpis["waste_value_cny"]["value"] == pytest.approx(0.2 * 12.0)
    # a missing value: why, in English and as a code with its parameters (central/kpi/reasons.py)
    assert kpis["gas_m3"] == {
        "id": "E2", "value": None, "unit": "m3", "reason": "no gas meter",
        "reason_code": "no_meter", "reason_params": {"quantity": "gas"},
    }  # fmt: skip
    assert (kpis["waste_rate_pct"]["reason_code"], kpis["waste_rate_pct"]["reason_params"]) == (
        "no_production",
        {},
    )
    missing = {name: v for name, v in kpis.items() if v["value"] is None}
    assert len(missing) > 5
    assert all(v["reason"] and v["reason_code"] for v in missing.values()), missing
    quality = total["quality"]
    assert (quality["meter_readings_received"], quality["meter_readings_expected"]) == (24, 24)
    assert quality["completeness_pct"] == pytest.approx(100.0)
    assert quality["duplicates_dropped"] == 8
    assert quality["duplicate_share_pct"] == pytest.approx(8 / (24 + 8 + 8) * 100)
    assert quality["clock_skew_median_ms"] == -50.0  # the fixtures' edge receives 50 ms late
    devices = {d["device"]: d for d in total["devices"]}
    assert devices["card-1"]["duplicates_dropped"] == 4
    assert devices["elec-1"]["completeness_pct"] == pytest.approx(100.0)
    # the old daily report still answers
    daily = await get(client, "/api/v1/sites/s1/kpis/daily", date="2026-11-20")
    assert daily["day"]["meals"] == 4


async def test_late_readings_change_the_next_answer(client: httpx.AsyncClient) -> None:
    await ingest(client, electricity(0, 12) + lunch(1, 3, 0), "b1")
    before = (await get(client, "/api/v1/kpis", site="s1", date="2026-11-20"))["total"]
    assert before["kpis"]["diners"]["value"] == 3
    assert before["kpis"]["electricity_kwh"]["value"] == pytest.approx(120.0)
    # after an edge outage the rest of the day arrives: more diners, the afternoon's energy
    await ingest(client, electricity(13, 24) + lunch(4, 2, 100), "late")
    after = (await get(client, "/api/v1/kpis", site="s1", date="2026-11-20"))["total"]
    assert after["kpis"]["diners"]["value"] == 5
    assert after["kpis"]["electricity_kwh"]["value"] == pytest.approx(240.0)
    assert after["quality"]["meter_readings_received"] == 24


async def test_a_gap_over_midnight_is_spread_and_reported_as_estimated(
    client: httpx.AsyncClient,
) -> None:
    # hourly until 22:00 on the 20th, then nothing until 02:00 on the 21st (4 h > 3 x 1 h)
    await ingest(client, electricity(0, 22) + electricity(2, 24, day=21), "b1")
    day = (await get(client, "/api/v1/kpis", site="s1", date="2026-11-20"))["total"]
    # 22:00-24:00 is half of the gap's 40 kWh: placed pro rata, flagged estimated
    assert day["kpis"]["electricity_kwh"]["value"] == pytest.approx(240.0)
    assert day["quality"]["estimated_electricity_kwh"] == pytest.approx(20.0)
    assert day["quality"]["estimated_share_pct"] == pytest.approx(20 / 240 * 100)
    assert day["quality"]["completeness_pct"] == pytest.approx(23 / 24 * 100)
    assert day["quality"]["gaps"] == 0  # the gap's reading is on the 21st
    nxt = (await get(client, "/api/v1/kpis", site="s1", date="2026-11-21"))["total"]
    assert nxt["kpis"]["electricity_kwh"]["value"] == pytest.approx(240.0)
    assert nxt["quality"]["estimated_electricity_kwh"] == pytest.approx(20.0)
    assert nxt["quality"]["gaps"] == 1
    # per meter and per day (granularity=day rows carry the devices too)
    week = await get(client, "/api/v1/kpis", site="s1", period="week", date="2026-11-21")
    saturday = next(r for r in week["rows"] if r["label"] == "2026-11-21")
    (elec,) = [d for d in saturday["devices"] if d["device"] == "elec-1"]
    assert elec["counter_events"] == {
        "reset": 0, "wrap": 0, "spike": 0, "dip": 0, "gap": 1, "exchange": 0
    }  # fmt: skip
    assert (elec["readings"], elec["expected"]) == (22, 24)  # 02:00 to 23:00
    daily = await get(client, "/api/v1/sites/s1/kpis/daily", date="2026-11-20")
    assert daily["day"]["energy"]["electricity_kwh"] == pytest.approx(240.0)


async def test_granularity_custom_period_and_csv(client: httpx.AsyncClient) -> None:
    await ingest(client, electricity(0, 24) + electricity(1, 24, day=21) + lunch(1, 2, 0), "b1")
    body = await get(
        client, "/api/v1/kpis", site="s1", period="custom", start="2026-11-20",
        end="2026-11-21", granularity="service",
    )  # fmt: skip
    assert [(r["label"], r["service"]) for r in body["rows"]][:3] == [
        ("2026-11-20", "breakfast"), ("2026-11-20", "lunch"), ("2026-11-20", "dinner")
    ]  # fmt: skip
    assert body["rows"][1]["kpis"]["diners"]["value"] == 2
    assert body["total"]["kpis"]["electricity_kwh"]["value"] == pytest.approx(480.0)

    response = await client.get(
        "/api/v1/kpis",
        params={
            "site": "s1",
            "period": "week",
            "date": "2026-11-20",
            "format": "csv",
            "csv": "machine",
        },
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert len(table) == 7 + 1  # Monday to Sunday, then the total
    assert table[-1]["service"] == "total"
    assert table[-1]["label"] == "2026-W47"
    assert float(table[-1]["electricity_kwh [kWh]"]) == pytest.approx(480.0)
    assert table[0]["diners [persons]"] == ""  # Monday: no reading, missing (not 0)
    assert table[4]["diners [persons]"] == "2.0"
    assert "quality.completeness_pct [%]" in table[0]


async def test_region_report_and_ranking(client: httpx.AsyncClient) -> None:
    await ingest(client, lunch(1, 4, 0), "b1")
    s2 = [card(i, local(11.5), 50 + i) for i in range(2)] + [
        scale(i, local(12), "plate", 20.0) for i in range(2)
    ]
    await ingest(client, s2, "b2", site="s2")
    region = await get(client, "/api/v1/kpis", region="province:Zhejiang", date="2026-11-20")
    assert (region["scope"], region["sites"]) == ("region", ["s1", "s2"])
    assert region["total"]["kpis"]["diners"]["value"] == 6
    assert region["total"]["kpis"]["plate_waste_per_diner_g"]["value"] == pytest.approx(240 / 6)
    assert region["total"]["kpis"]["waste_value_cny"]["reason"] == (
        "food_price_cny_per_kg is not configured for every site"
    )
    assert region["total"]["kpis"]["waste_value_cny"]["reason_code"] == "not_configured"
    assert region["total"]["kpis"]["waste_value_cny"]["reason_params"] == {
        "key": "food_price_cny_per_kg", "scope": "region"
    }  # fmt: skip
    ranked = await get(
        client, "/api/v1/ranking", region="province:Zhejiang", kpi="plate_waste_per_diner_g",
        period="month", date="2026-11-20",
    )  # fmt: skip
    assert ranked["unit"] == "g/diner"
    assert [(r["rank"], r["site"], r["value"]["value"]) for r in ranked["sites"]] == [
        (1, "s2", 20.0), (2, "s1", 50.0)
    ]  # fmt: skip
    assert ranked["region_total"]["kpis"]["diners"]["value"] == 6
    params = {
        "region": "city:Hangzhou", "kpi": "diners", "date": "2026-11-20", "format": "csv",
        "csv": "machine",
    }  # fmt: skip
    csv_text = (await client.get("/api/v1/ranking", params=params)).text
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert [(r["rank"], r["site"], r["diners [persons]"]) for r in rows] == [("1", "s1", "4.0")]
    # a site without a value ranks last with why: in JSON, and in the CSVs (in the CSV's language)
    params = {"region": "province:Zhejiang", "kpi": "waste_value_cny", "date": "2026-11-20"}
    ranked = await get(client, "/api/v1/ranking", **params)
    last = ranked["sites"][-1]
    assert (last["site"], last["rank"], last["value"]["reason_code"]) == (
        "s2",
        None,
        "not_configured",
    )
    assert last["value"]["reason_params"] == {"key": "food_price_cny_per_kg"}
    machine = (
        await client.get("/api/v1/ranking", params={**params, "format": "csv", "csv": "machine"})
    ).text
    rows = list(csv.DictReader(io.StringIO(machine)))
    assert (rows[-1]["reason"], rows[-1]["reason_code"]) == (
        "food_price_cny_per_kg is not configured",
        "not_configured",
    )
    people = (
        await client.get("/api/v1/ranking", params={**params, "format": "csv", "lang": "zh"})
    ).text
    rows = list(csv.DictReader(io.StringIO(people.lstrip("\ufeff"))))
    assert (rows[-1]["无数值原因"], rows[-1]["无数值原因代码"]) == (
        "未配置 food_price_cny_per_kg",
        "not_configured",
    )


async def test_alerts(client: httpx.AsyncClient) -> None:
    # 240 kWh = 29.5 kgce in one day against 10 kgce a month (6.7 kgce for the 20 days to
    # date); 150 g plate waste per diner; a gas meter that stops reporting at 09:00
    readings = [
        *electricity(0, 24),
        card(0, local(11.5), 1), scale(0, local(12), "plate", 150.0),
        meter(0, local(8), "gas", 10.0, "gas-1"), meter(1, local(9), "gas", 10.5, "gas-1"),
    ]  # fmt: skip
    await ingest(client, readings, "b1")
    body = await get(client, "/api/v1/alerts", site="s1", date="2026-11-20")
    kinds = {(a["kind"], a["device"]) for a in body["alerts"]}
    assert ("quota_month", None) in kinds
    assert ("waste_target", None) in kinds
    assert ("off_hours", None) in kinds
    assert ("device_silent", "gas-1") in kinds
    # hourly readings are within device_silent_min = 90; cards and scales report only when used
    assert {d for k, d in kinds if k == "device_silent"} == {"gas-1"}
    assert "status topic" in body["notes"][0]
    waste = next(a for a in body["alerts"] if a["kind"] == "waste_target")
    assert (waste["value"], waste["threshold"], waste["unit"]) == (150.0, 100.0, "g/diner")
    quota = next(a for a in body["alerts"] if a["kind"] == "quota_month")
    assert quota["value"] == pytest.approx((240 * 0.1229 + 0.5 * 1.2143) / (10 * 20 / 30) * 100)
    quiet = await get(client, "/api/v1/alerts", region="city:Ningbo", date="2026-11-20")
    assert quiet["alerts"] == []


@pytest.mark.parametrize(
    ("path", "params", "status", "message"),
    [
        ("/api/v1/kpis", {"date": "2026-11-20"}, 422, "exactly one of site= or region="),
        ("/api/v1/kpis", {"site": "s1", "region": "city:X", "date": "2026-11-20"}, 422,
         "exactly one of"),
        ("/api/v1/kpis", {"site": "s9", "date": "2026-11-20"}, 404, "unknown site 's9'"),
        ("/api/v1/kpis", {"region": "Hangzhou", "date": "2026-11-20"}, 422, "must be key:value"),
        ("/api/v1/kpis", {"region": "city:Paris", "date": "2026-11-20"}, 404, "no site has"),
        ("/api/v1/kpis", {"site": "s1", "period": "custom", "start": "2026-11-20"}, 422,
         "needs both start and end"),
        ("/api/v1/kpis", {"site": "s1", "period": "month"}, 422, "needs a date inside it"),
        ("/api/v1/kpis", {"site": "s1", "date": "2026-02-30"}, 422, "not a calendar date"),
        ("/api/v1/ranking", {"region": "city:Hangzhou", "kpi": "nope", "date": "2026-11-20"},
         422, "unknown kpi 'nope'"),
    ],
)  # fmt: skip
async def test_bad_parameters_are_refused_with_a_reason(
    client: httpx.AsyncClient, path: str, params: dict[str, str], status: int, message: str
) -> None:
    response = await client.get(path, params=params)
    assert response.status_code == status
    assert message in response.json()["detail"]


async def test_openapi_documents_the_new_routes(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    assert {"/api/v1/kpis", "/api/v1/ranking", "/api/v1/alerts"} <= set(schema["paths"])
    assert "text/csv" in schema["paths"]["/api/v1/kpis"]["get"]["responses"]["200"]["content"]


def _with_meters(extra: str) -> str:
    """REGISTRY with more settings and meters on site s1 (after its elec-1 meter)."""
    anchor = '  device = "elec-1"\n  interval_s = 3600\n'
    assert anchor in REGISTRY
    return REGISTRY.replace(anchor, anchor + extra)


async def test_completeness_expects_only_the_passed_part_of_today(tmp_path: Path) -> None:
    # "now" is 12:30 on the 20th: hourly readings 00:00..12:00 are all that can exist yet
    async with admin_client(REGISTRY, tmp_path, now_ms=local(12.5)) as client:
        await ingest(client, electricity(0, 12), "b1")
        day = await get(client, "/api/v1/kpis", site="s1", date="2026-11-20")
        quality = day["total"]["quality"]
        assert (quality["meter_readings_received"], quality["meter_readings_expected"]) == (13, 13)
        assert quality["completeness_pct"] == pytest.approx(100.0)
        # the week (Mon 16th to Sun 22nd): nothing expected before the meter's first reading
        # (00:00 on the 20th) nor after now
        week = await get(client, "/api/v1/kpis", site="s1", period="week", date="2026-11-20")
        assert week["total"]["quality"]["meter_readings_expected"] == 13
        assert week["total"]["quality"]["completeness_pct"] == pytest.approx(100.0)
        by_day = {r["label"]: r["quality"]["meter_readings_expected"] for r in week["rows"]}
        assert by_day == {
            "2026-11-16": 0, "2026-11-17": 0, "2026-11-18": 0, "2026-11-19": 0,
            "2026-11-20": 13, "2026-11-21": 0, "2026-11-22": 0,
        }  # fmt: skip
        # an hour later one reading is missing: 13 of 14
        late_now = await get(client, "/api/v1/kpis", site="s1", date="2026-11-21")
        assert late_now["total"]["quality"]["completeness_pct"] is None  # nothing expected yet


async def test_completeness_counts_from_the_registry_install_date(tmp_path: Path) -> None:
    # gas-1 is installed on the 18th but its first reading arrives on the 20th at 00:00:
    # the 18th and 19th are missing (2 x 24), the 20th expects 00:00..12:00 (13) at 12:30
    registry = _with_meters(
        '\n  [[sites.meters]]\n  device = "gas-1"\n  interval_s = 3600\n  installed = 2026-11-18\n'
    )
    async with admin_client(registry, tmp_path, now_ms=local(12.5)) as client:
        gas = [meter(h, local(h), "gas", 10.0 + h, "gas-1") for h in range(13)]
        await ingest(client, electricity(0, 12) + gas, "b1")
        week = await get(client, "/api/v1/kpis", site="s1", period="week", date="2026-11-20")
        devices = {d["device"]: d for d in week["total"]["devices"]}
        assert (devices["gas-1"]["readings"], devices["gas-1"]["expected"]) == (13, 2 * 24 + 13)
        assert (devices["elec-1"]["readings"], devices["elec-1"]["expected"]) == (13, 13)
        quality = week["total"]["quality"]
        assert quality["meter_readings_expected"] == 2 * 24 + 13 + 13
        assert quality["completeness_pct"] == pytest.approx(26 / 74 * 100)
        # before its install date nothing is expected of it
        monday = next(r for r in week["rows"] if r["label"] == "2026-11-17")
        assert monday["quality"]["meter_readings_expected"] == 0


async def test_a_late_but_complete_meter_is_late_not_silent(tmp_path: Path) -> None:
    # every hourly reading of the 20th is there, but 06:00..15:00 reached the edge 5 h late
    # (an outage); silence is judged by the time the readings cover, not when they arrived
    registry = _with_meters("").replace(
        "device_silent_min = 90", "device_silent_min = 30\nclock_max_delay_min = 360.0"
    )
    async with admin_client(registry, tmp_path) as client:
        readings = electricity(0, 24)
        for reading in readings[6:16]:
            reading["received_ms"] = reading["device_time_ms"] + 5 * 3_600_000
        await ingest(client, readings, "b1")
        body = await get(client, "/api/v1/alerts", site="s1", date="2026-11-20")
        by_kind = {a["kind"]: a for a in body["alerts"] if a["device"] == "elec-1"}
        assert "device_silent" not in by_kind
        late = by_kind["device_late"]
        assert (late["value"], late["threshold"], late["unit"]) == (300.0, 30.0, "min")
        assert "10 readings" in late["message"]
        day = await get(client, "/api/v1/kpis", site="s1", date="2026-11-20")
        assert day["total"]["quality"]["completeness_pct"] == pytest.approx(100.0)
        # the device list says so too: connection unknown (no status), readings late
        listed = await get(client, "/api/v1/sites/s1/devices", date="2026-11-20")
        (elec,) = [d for d in listed["devices"] if d["device"] == "elec-1"]
        assert (elec["state"], elec["readings"]) == ("unknown", "late")


async def test_a_meter_silent_by_device_time_is_silent_even_if_receipts_are_recent(
    tmp_path: Path,
) -> None:
    # readings until 09:00 only, all received at 23:00 (late upload): covered up to 09:00
    registry = _with_meters("").replace(
        "device_silent_min = 90", "device_silent_min = 30\nclock_max_delay_min = 1440.0"
    )
    async with admin_client(registry, tmp_path) as client:
        readings = electricity(0, 9)
        for reading in readings:
            reading["received_ms"] = local(23)
        await ingest(client, readings, "b1")
        body = await get(client, "/api/v1/alerts", site="s1", date="2026-11-20")
        silent = [a for a in body["alerts"] if a["kind"] == "device_silent"]
        assert [(a["device"], a["value"]) for a in silent] == [("elec-1", 15 * 60.0)]
