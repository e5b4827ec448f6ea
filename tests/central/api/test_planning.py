"""GET /forecast and /production over card swipes and weighings ingested through the API."""

from collections.abc import AsyncIterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from central.planning import history_before
from tests.central.conftest import (
    KEY_S1,
    EdgeAuth,
    admin_client,
    batch,
    card,
    edge_toml,
    scale,
    utc_ms,
)
from tests.central.conftest import (
    get_json as get,
)

REGISTRY = f"""
[[sites]]
id = "s1"
registered_staff = 600

  [[sites.services]]
  name = "lunch"
  start = "11:00"
  end = "13:00"
  portion_g = 500

  [[sites.diner_overrides]]
  date = 2025-11-26
  diners = 80
  note = "training day"

[[sites]]
id = "s2"
registered_staff = 10

# AN EXAMPLE with made-up dates, not the State Council's 2027 schedule.
[calendar.2027]
holidays = [{{ name = "New Year's Day", start = 2027-01-01, end = 2027-01-03 }}]
adjusted_workdays = [2027-01-09]
{edge_toml("s1")}"""

FIRST = date(2025, 11, 3)  # a Monday
TARGET = date(2025, 11, 24)  # the Monday after three weeks of history


def local(on: date, hour: float) -> int:
    return utc_ms(on.year, on.month, on.day) + int((hour - 8) * 3_600_000)


def lunch(on: date, diners: int, overproduction_g: float, seq: int) -> list[dict[str, Any]]:
    out = [card(seq + i, local(on, 11.5), 1000 + i) for i in range(diners)]
    out += [scale(seq + i, local(on, 12), "plate", 50.0) for i in range(diners)]
    out.append(scale(seq + diners, local(on, 13.5), "overproduction", overproduction_g, "bin-1"))
    return out


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    async with admin_client(REGISTRY, tmp_path) as http:
        for k in range(22):
            on = FIRST + timedelta(days=k)
            if on.weekday() >= 5:
                continue
            diners = 10 if on.weekday() == 4 else 20
            overproduction = 3000.0 if on == TARGET else 2000.0
            readings = lunch(on, diners, overproduction, seq=k * 100)
            response = await http.post(
                "/api/v1/ingest", json=batch(readings, batch_id=f"b{k}"), auth=EdgeAuth(KEY_S1)
            )
            assert response.status_code == 200, response.text
        yield http


async def test_a_one_service_site_gets_a_forecast_with_intervals_and_overrides(
    client: httpx.AsyncClient,
) -> None:
    body = await get(client, "/api/v1/forecast", site="s1", start=TARGET.isoformat(), days=7)
    assert (body["start"], body["end"]) == ("2025-11-24", "2025-11-30")
    (lunch_forecast,) = body["services"]
    points = {p["date"]: p for p in lunch_forecast["points"]}
    monday = points["2025-11-24"]
    assert (monday["kind"], monday["source"]) == ("workday", "model")
    assert monday["diners"] == pytest.approx(20.0)
    assert monday["low"] <= monday["diners"] <= monday["high"]
    assert points["2025-11-28"]["diners"] == pytest.approx(10.0)  # Fridays are half
    assert points["2025-11-29"]["kind"] == "weekend"
    assert points["2025-11-29"]["diners"] == 0.0
    training = points["2025-11-26"]
    assert (training["source"], training["diners"], training["note"]) == (
        "override", 80.0, "training day"
    )  # fmt: skip
    # an operator's note is shown as entered: no code
    assert (training["note_code"], training["note_params"]) == (None, {})
    assert (monday["note"], monday["note_code"]) == ("", None)


async def test_production_recommendation_and_what_following_it_would_have_avoided(
    client: httpx.AsyncClient,
) -> None:
    body = await get(client, "/api/v1/production", site="s1", date=TARGET.isoformat())
    (plan,) = body["services"]
    assert plan["portion_g"] == 500.0
    assert plan["plate_g_per_diner"] == pytest.approx(50.0)
    over_per_diner = 15 * 2000 / (12 * 20 + 3 * 10)
    assert plan["overproduction_g_per_diner"] == pytest.approx(over_per_diner, abs=0.05)
    net_kg = (500 - 50 - over_per_diner) / 1000
    assert plan["recommended_kg"] == pytest.approx(20 * net_kg, abs=0.01)
    outcome = plan["outcome"]
    assert (outcome["actual_diners"], outcome["actual_overproduction_kg"]) == (20.0, 3.0)
    assert outcome["overproduction_avoided_kg"] == pytest.approx(3.0, abs=0.01)
    assert outcome["short_kg"] == pytest.approx(0.0, abs=0.01)
    assert "estimate" in outcome["note"]
    assert (outcome["note_code"], outcome["note_params"]) == ("outcome_estimate", {})
    assert (plan["reason"], plan["reason_code"], plan["reason_params"]) == ("", None, {})


async def test_the_answers_say_which_dates_follow_the_plain_week_and_how_to_fix_it(
    client: httpx.AsyncClient,
) -> None:
    body = await get(client, "/api/v1/forecast", site="s1", start="2027-12-30", days=4)
    points = {p["date"]: p for p in body["services"][0]["points"]}
    assert [(d, p["calendar"], p["calendar_known"]) for d, p in points.items()] == [
        ("2027-12-30", "registry", True),  # a year of the registry: known
        ("2027-12-31", "registry", True),
        ("2028-01-01", "plain_week", False),  # neither the registry nor the package knows 2028
        ("2028-01-02", "plain_week", False),
    ]
    note = body["calendar_note"]
    assert note.startswith("2028-01-01 to 2028-01-02: the holiday schedule of 2028 is not known")
    assert "[calendar.2028] in the registry" in note
    assert (body["calendar_note_code"], body["calendar_note_params"]) == (
        "calendar_unknown_span",
        {"first": "2028-01-01", "last": "2028-01-02", "years": "2028", "tables": "[calendar.2028]"},
    )
    new_year = await get(client, "/api/v1/forecast", site="s1", start="2027-01-01", days=1)
    (point,) = new_year["services"][0]["points"]
    assert (point["kind"], point["holiday"], point["calendar"]) == (
        "holiday", "New Year's Day", "registry"
    )  # fmt: skip
    assert (new_year["calendar_note"], new_year["calendar_note_code"]) == ("", None)
    plan = await get(client, "/api/v1/production", site="s1", date="2028-01-03")
    assert plan["calendar_note"].startswith("2028-01-03: the holiday schedule of 2028")
    assert plan["calendar_note_code"] == "calendar_unknown"
    assert plan["services"][0]["forecast"]["calendar"] == "plain_week"
    known = await get(client, "/api/v1/production", site="s1", date="2027-01-09")
    assert known["services"][0]["forecast"]["kind"] == "adjusted_workday"
    assert known["calendar_note"] == ""


async def test_bad_input_is_answered_not_an_error(client: httpx.AsyncClient) -> None:
    # s2: no history, no planned portions
    body = await get(client, "/api/v1/production", site="s2", date="2025-11-24")
    assert [s["service"] for s in body["services"]] == ["breakfast", "lunch", "dinner"]
    for plan in body["services"]:
        assert plan["recommended_kg"] is None
        assert "portion_g" in plan["reason"]
        assert (plan["reason_code"], plan["reason_params"]) == ("no_portion", {})
        assert plan["forecast"]["source"] == "no_history"
    forecast = await get(client, "/api/v1/forecast", site="s2", start="2025-11-24", days=1)
    for service in forecast["services"]:
        (point,) = service["points"]
        assert point["diners"] is None
        assert point["note"] == "no card history for this service: nothing to forecast from"
        assert (point["note_code"], point["note_params"]) == ("forecast_no_history", {})
    # s1 before its first card: a planned portion, but no forecast, and the forecast's why
    before = await get(client, "/api/v1/production", site="s1", date="2025-10-01")
    (plan,) = before["services"]
    assert plan["recommended_kg"] is None
    assert plan["reason"] == (
        "no diner forecast: no card history for this service: nothing to forecast from"
    )
    assert (plan["reason_code"], plan["reason_params"]) == (
        "no_forecast", {"note": "forecast_no_history"}
    )  # fmt: skip
    unknown = await client.get("/api/v1/forecast", params={"site": "nowhere"})
    assert unknown.status_code == 404
    too_long = await client.get("/api/v1/forecast", params={"site": "s1", "days": 99})
    assert too_long.status_code == 422


def test_the_history_holds_complete_dates_only_never_today() -> None:
    """Tomorrow's forecast reads the 84 dates up to yesterday: today's services still to come
    would make it a day of few diners; a forecast of past dates reads the dates before them."""
    today = date(2026, 12, 7)
    tomorrow = history_before(today + timedelta(days=1), today)
    assert (tomorrow.last, tomorrow.days) == (today - timedelta(days=1), 84)
    assert history_before(today + timedelta(days=10), today).last == today - timedelta(days=1)
    past = history_before(TARGET, today)
    assert (past.first, past.last) == (TARGET - timedelta(days=84), TARGET - timedelta(days=1))
