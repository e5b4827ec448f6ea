"""The daily view (central/api/daily.py) of the one KPI pipeline, on hand-made readings."""

from datetime import date, time
from zoneinfo import ZoneInfo

import pytest

from central.api.daily import DailyKpis
from central.kpi.daytable import build_day_table
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.readings import CardReadings, MeterReadings, ScaleReadings, SiteReadings
from central.kpi.report import Report, build_report
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
    clean_plate_threshold_g=10.0,
)
DAY = date(2026, 11, 20)
MIDNIGHT = utc_ms(2026, 11, 19, 16)  # 00:00 local
LUNCH = utc_ms(2026, 11, 20, 3)  # 11:00 local, the lunch window's (inclusive) start
LUNCH_END = utc_ms(2026, 11, 20, 5, 30)  # 13:30 local, its (exclusive) end
DINNER = utc_ms(2026, 11, 20, 10)  # 18:00 local
H = 3_600_000


def view(readings: SiteReadings, only_service: str | None = None) -> DailyKpis:
    span = DateRange(DAY, DAY)
    table = build_day_table(SITE, span, readings)
    report: Report = build_report(
        [table], {}, PeriodKind.DAY, span, Granularity.SERVICE, MIDNIGHT + 48 * H
    )
    return DailyKpis.of(SITE.timezone.key, report, only_service=only_service)


def readings() -> SiteReadings:
    return SiteReadings(
        scale=ScaleReadings.of(
            time_ms=[LUNCH, LUNCH + H, LUNCH + 2 * H, LUNCH + H, DINNER, MIDNIGHT + 2 * H],
            stream=["plate", "plate", "plate", "prep", "plate", "spoilage"],
            # 10 g is clean (== threshold), 10.5 g and 45 g are not
            mass_g=[0.0, 10.0, 10.5, 300.0, 45.0, 5000.0],
        ),
        # a eats lunch (swiping twice) and dinner: two meals; b lunch; p0 swipes before lunch
        # and pd at its exclusive end: neither is a lunch diner
        card=CardReadings.of(
            time_ms=[LUNCH, LUNCH + H, LUNCH + H, DINNER, LUNCH - 1, LUNCH_END],
            person=["a", "a", "b", "a", "p0", "pd"],
        ),
        meter=MeterReadings.empty(),
    )


def test_services_and_day_come_from_the_report_rows() -> None:
    kpis = view(readings())
    lunch, dinner = kpis.services
    assert (lunch.service, lunch.diners, dinner.service, dinner.diners) == ("lunch", 2, "dinner", 1)
    assert (lunch.trays, lunch.clean_plates) == (3, 2)
    assert lunch.clean_plate_rate_pct == pytest.approx(200 / 3)
    assert lunch.waste_g.plate == pytest.approx(20.5)
    assert lunch.waste_per_diner_g.total == pytest.approx((20.5 + 300.0) / 2)
    assert dinner.clean_plate_rate_pct == 0.0
    day = kpis.day
    assert day.meals == 3
    assert (day.trays, day.clean_plates) == (4, 2)
    assert day.waste_g.spoilage == 5000.0
    assert day.waste_per_diner_g.spoilage == pytest.approx(5000.0 / 3)
    # F4 leaves spoilage out, in the daily view as in /kpis (docs/kpis.md)
    assert day.waste_per_diner_g.total == pytest.approx((20.5 + 45.0 + 300.0) / 3)
    assert kpis.readings == 12
    # no meter: energy is missing (null), never zero
    assert day.energy.electricity_kwh is None
    assert day.off_hours_energy.gas_m3 is None
    assert day.energy_per_meal.water_l is None


def test_a_service_can_be_picked_and_the_day_stays_whole() -> None:
    everything = view(readings())
    only_dinner = view(readings(), only_service="dinner")
    assert [s.service for s in only_dinner.services] == ["dinner"]
    assert only_dinner.day == everything.day


def test_a_day_without_readings_has_no_counts_and_no_per_diner_figures() -> None:
    empty = SiteReadings(
        scale=ScaleReadings.empty(), card=CardReadings.empty(), meter=MeterReadings.empty()
    )
    kpis = view(empty)
    # nothing was measured: missing, not 0 (docs/kpis.md, "Missing, not zero")
    assert (kpis.day.meals, kpis.day.trays, kpis.day.waste_g.plate) == (None, None, None)
    assert kpis.services[0].diners is None
    assert kpis.day.waste_per_diner_g.total is None
    assert kpis.day.clean_plate_rate_pct is None
    assert kpis.readings == 0
