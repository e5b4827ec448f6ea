"""Sites, health, OpenAPI, and the daily KPI report of readings ingested through the API."""

from typing import Any

import httpx
import pytest

from tests.central.conftest import KEY_S1, EdgeAuth, admin, batch, card, meter, scale, utc_ms

# Asia/Shanghai is UTC+8: local 2026-11-20 hh:mm is UTC (hh - 8):mm, the day before when hh < 8.


def local(hour: int, minute: int = 0, day: int = 20) -> int:
    """Epoch ms of 2026-11-<day> hh:mm in Shanghai, from UTC by hand."""
    return utc_ms(2026, 11, day, 0, 0) + ((hour - 8) * 60 + minute) * 60_000


def day_readings() -> list[dict[str, Any]]:
    cards = [
        card(0, local(7, 0), 1), card(1, local(7, 0), 2), card(2, local(7, 5), 1),  # double swipe
        card(3, local(11, 0), 1),  # lunch start: inclusive
        card(4, local(13, 29), 3),
        card(5, local(13, 30), 4),  # lunch end: exclusive, in no service
    ]  # fmt: skip
    plate = [
        scale(0, local(7, 10), "plate", 5.0),  # clean
        scale(1, local(8, 59), "plate", 30.0),
        scale(2, local(10, 0) - 1, "plate", 20.0),  # last ms of breakfast's grace
        scale(3, local(10, 0), "plate", 40.0),  # breakfast end + grace: exclusive
        scale(4, local(12, 0), "plate", 10.0),  # == threshold: clean
        scale(5, local(12, 30), "plate", 50.0),
        scale(6, local(23, 59, day=19), "plate", 999.0),  # the day before
        scale(7, local(0, 0, day=21), "plate", 999.0),  # the day after
    ]
    kitchen = [
        scale(0, local(4, 30), "prep", 100.0, device="bin-1"),  # breakfast prep start: inclusive
        scale(1, local(4, 29), "prep", 200.0, device="bin-1"),  # before any service
        scale(2, local(10, 0), "prep", 300.0, device="bin-1"),  # lunch prep [09:00, 13:30)
        scale(3, local(9, 30), "overproduction", 500.0, device="bin-2"),
        scale(4, local(14, 30), "overproduction", 250.0, device="bin-2"),  # lunch end + grace
        scale(5, local(22, 0), "spoilage", 1000.0, device="bin-3"),
    ]
    # electricity: hourly, +10 kWh per hour, from 23:00 the day before to 01:00 the day after
    electricity = [
        meter(i, local(23, day=19) + i * 3_600_000, "electricity", 1000.0 + 10.0 * i, "elec-1")
        for i in range(27)
    ]
    # water: irregular readings, interpolated at the window boundaries
    water = [
        meter(0, local(0), "water", 100.0, "water-1"),
        meter(1, local(6), "water", 100.6, "water-1"),
        meter(2, local(12), "water", 102.0, "water-1"),
        meter(3, local(0, day=21), "water", 102.4, "water-1"),
    ]
    return cards + plate + kitchen + electricity + water


@pytest.fixture
async def ingested(client: httpx.AsyncClient) -> httpx.AsyncClient:
    readings = day_readings()
    for number, start in enumerate(range(0, len(readings), 20)):
        response = await client.post(
            "/api/v1/ingest",
            json=batch(readings[start : start + 20], batch_id=f"b{number}"),
            auth=EdgeAuth(KEY_S1),
        )
        assert response.status_code == 200, response.text
        assert response.json()["rejected"] == []
    return client


async def test_daily_kpis_match_the_hand_computed_values(ingested: httpx.AsyncClient) -> None:
    response = await ingested.get(
        "/api/v1/sites/s1/kpis/daily", params={"date": "2026-11-20"}, headers=admin()
    )
    assert response.status_code == 200, response.text
    kpis = response.json()
    assert (kpis["site"], kpis["date"], kpis["timezone"]) == ("s1", "2026-11-20", "Asia/Shanghai")
    breakfast, lunch, dinner = kpis["services"]

    assert breakfast["service"] == "breakfast"
    assert (breakfast["diners"], breakfast["trays"], breakfast["clean_plates"]) == (2, 3, 1)
    assert breakfast["clean_plate_rate_pct"] == pytest.approx(100 / 3)
    assert breakfast["waste_g"] == {"plate": 55.0, "prep": 100.0, "overproduction": 500.0}
    assert breakfast["waste_per_diner_g"] == pytest.approx(
        {"plate": 27.5, "prep": 50.0, "overproduction": 250.0, "total": 327.5}
    )
    # energy window 04:30-09:00: 45 kWh; water C(04:30) = 0.45, C(09:00) = 0.6 + 1.4 * 3/6 = 1.3
    assert breakfast["energy"] == pytest.approx(
        {"electricity_kwh": 45.0, "gas_m3": None, "water_m3": 0.85}
    )
    assert breakfast["energy_per_meal"] == pytest.approx(
        {"electricity_kwh": 22.5, "gas_m3": None, "water_l": 425.0}
    )

    assert (lunch["diners"], lunch["trays"], lunch["clean_plates"]) == (2, 2, 1)
    assert lunch["clean_plate_rate_pct"] == pytest.approx(50.0)
    assert lunch["waste_g"] == {"plate": 60.0, "prep": 300.0, "overproduction": 0.0}
    # water 09:00-13:30: C(13:30) = 2.0 + 0.4 * 1.5/12 = 2.05, minus 1.3
    assert lunch["energy"] == pytest.approx(
        {"electricity_kwh": 45.0, "gas_m3": None, "water_m3": 0.75}
    )

    assert (dinner["diners"], dinner["trays"], dinner["clean_plate_rate_pct"]) == (0, 0, None)
    assert dinner["waste_per_diner_g"] == {
        "plate": None, "prep": None, "overproduction": None, "total": None
    }  # fmt: skip
    # water 15:00-19:30: 2.0 + 0.4 * 7.5/12 - (2.0 + 0.4 * 3/12) = 0.15
    assert dinner["energy"] == pytest.approx(
        {"electricity_kwh": 45.0, "gas_m3": None, "water_m3": 0.15}
    )
    assert dinner["energy_per_meal"] == {"electricity_kwh": None, "gas_m3": None, "water_l": None}

    day = kpis["day"]
    assert (day["meals"], day["trays"], day["clean_plates"]) == (4, 6, 2)
    assert day["clean_plate_rate_pct"] == pytest.approx(100 / 3)
    assert day["waste_g"] == {
        "plate": 155.0, "prep": 600.0, "overproduction": 750.0, "spoilage": 1000.0
    }  # fmt: skip
    # total is F4 (plate + prep + overproduction), without spoilage, as in /api/v1/kpis
    assert day["waste_per_diner_g"] == pytest.approx(
        {"plate": 38.75, "prep": 150.0, "overproduction": 187.5, "spoilage": 250.0,
         "total": 376.25}
    )  # fmt: skip
    assert day["energy"] == pytest.approx(
        {"electricity_kwh": 240.0, "gas_m3": None, "water_m3": 2.4}
    )
    assert day["energy_per_meal"] == pytest.approx(
        {"electricity_kwh": 60.0, "gas_m3": None, "water_l": 600.0}
    )
    assert day["off_hours_energy"] == pytest.approx(
        {"electricity_kwh": 105.0, "gas_m3": None, "water_m3": 0.65}
    )
    # in the local day: 6 cards, 12 scale readings, 24 hourly electricity, 3 water readings
    assert kpis["readings"] == 45


async def test_one_service_only(ingested: httpx.AsyncClient) -> None:
    response = await ingested.get(
        "/api/v1/sites/s1/kpis/daily",
        params={"date": "2026-11-20", "service": "lunch"},
        headers=admin(),
    )
    assert response.status_code == 200
    kpis = response.json()
    assert [s["service"] for s in kpis["services"]] == ["lunch"]
    assert kpis["day"]["meals"] == 4


async def test_another_date_has_no_data(ingested: httpx.AsyncClient) -> None:
    kpis = (
        await ingested.get("/api/v1/sites/s1/kpis/daily?date=2026-11-22", headers=admin())
    ).json()
    assert kpis["readings"] == 0
    assert kpis["day"]["energy"] == {"electricity_kwh": None, "gas_m3": None, "water_m3": None}


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        ("/api/v1/sites/s9/kpis/daily?date=2026-11-20", 404, "unknown site 's9'"),
        ("/api/v1/sites/s1/kpis/daily?date=2026-11-20&service=brunch", 404,
         "site 's1' has no service 'brunch' (it has: breakfast, lunch, dinner)"),
        ("/api/v1/sites/s1/kpis/daily?date=2026-13-01", 422, "is not a calendar date YYYY-MM-DD"),
        ("/api/v1/sites/s1/kpis/daily?date=20261120", 422, "is not a calendar date YYYY-MM-DD"),
    ],
)  # fmt: skip
async def test_daily_errors(
    client: httpx.AsyncClient, path: str, status: int, message: str
) -> None:
    response = await client.get(path, headers=admin())
    assert response.status_code == status
    assert message in response.json()["detail"]


async def test_sites_and_health(client: httpx.AsyncClient) -> None:
    health = await client.get("/api/v1/health")
    assert health.json() == {"status": "ok", "store": "sqlite", "sites": 2}
    sites = (await client.get("/api/v1/sites", headers=admin())).json()
    assert [s["id"] for s in sites] == ["s1", "s2"]
    assert sites[0]["timezone"] == "Asia/Shanghai"
    assert sites[0]["registered_staff"] == 600
    assert sites[0]["services"][1] == {
        "name": "lunch", "start": "11:00", "end": "13:30", "grace_min": 60, "prep_lead_min": 120
    }  # fmt: skip


async def test_openapi_documents_the_upload_batch(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    body = schema["paths"]["/api/v1/ingest"]["post"]["requestBody"]
    assert body["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/UploadBatch"
    }
    components = schema["components"]["schemas"]
    assert {"UploadBatch", "ScaleRecord", "CardRecord", "MeterRecord", "DailyKpis"} <= set(
        components
    )
    assert "#/$defs/" not in str(schema)
    assert (await client.get("/docs")).status_code == 200


async def test_stats_count_what_is_stored(ingested: httpx.AsyncClient) -> None:
    stats = (await ingested.get("/api/v1/sites/s1/stats", headers=admin())).json()
    assert stats == {"site": "s1", "readings": len(day_readings()), "rejected": 0}
    assert (await ingested.get("/api/v1/sites/s2/stats", headers=admin())).json()["readings"] == 0
    assert (await ingested.get("/api/v1/sites/s9/stats", headers=admin())).status_code == 404
