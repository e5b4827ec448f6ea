"""The daily report assembled from arrays: meals, service filter, readings of the day."""

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest

from central.kpi.daily import METER_MARGIN_MS, daily_kpis, load_window
from central.kpi.readings import (
    CardReadings,
    MeterReadings,
    ScaleReadings,
    SiteReadings,
    float_array,
    int_array,
    str_array,
)
from central.kpi.windows import day_windows
from central.registry import Service, Site
from tests.central.conftest import utc_ms

SITE = Site(
    id="s1",
    name="One",
    timezone=ZoneInfo("Asia/Shanghai"),
    registered_staff=10,
    services=(
        Service("lunch", time(11, 0), time(13, 30)),
        Service("dinner", time(17, 0), time(19, 30)),
    ),
    clean_plate_threshold_g=0.0,
)
LUNCH = utc_ms(2026, 11, 20, 4, 0)  # 12:00 local
DINNER = utc_ms(2026, 11, 20, 10, 0)  # 18:00 local


def test_meals_sum_service_diners_and_a_service_can_be_picked() -> None:
    readings = SiteReadings(
        scale=ScaleReadings.of(
            time_ms=int_array([LUNCH, DINNER]),
            stream=str_array(["plate", "plate"]),
            mass_g=float_array([0.0, 12.0]),
        ),
        # person a eats lunch and dinner: two meals
        card=CardReadings.of(
            time_ms=int_array([LUNCH, LUNCH, DINNER]), person=str_array(["a", "b", "a"])
        ),
        meter=MeterReadings.empty(),
    )
    windows = day_windows(SITE, date(2026, 11, 20))
    kpis = daily_kpis(SITE, windows, readings)
    assert [(s.service, s.diners) for s in kpis.services] == [("lunch", 2), ("dinner", 1)]
    assert kpis.day.meals == 3
    assert kpis.day.clean_plate_rate_pct == pytest.approx(50.0)  # threshold 0 g: only the 0 g tray
    assert kpis.day.waste_per_diner_g.plate == pytest.approx(4.0)
    assert kpis.readings == 5
    assert kpis.day.energy.electricity_kwh is None
    only_dinner = daily_kpis(SITE, windows, readings, only_service="dinner")
    assert [s.service for s in only_dinner.services] == ["dinner"]
    assert only_dinner.day == kpis.day


def test_load_window_adds_the_meter_margin() -> None:
    windows = day_windows(SITE, date(2026, 11, 20))
    loaded = load_window(windows)
    assert loaded.start_ms == windows.day.start_ms - METER_MARGIN_MS
    assert loaded.end_ms == windows.day.end_ms + METER_MARGIN_MS
