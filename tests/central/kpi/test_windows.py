"""Attribution windows of Asia/Shanghai dates, converted to UTC by hand (UTC+8, no DST)."""

from datetime import date, time
from zoneinfo import ZoneInfo

from central.kpi.windows import Window, complement, day_windows
from central.registry import Service, Site
from tests.central.conftest import utc_ms

SHANGHAI = ZoneInfo("Asia/Shanghai")


def make_site(*services: Service) -> Site:
    return Site(
        id="s1",
        name="One",
        timezone=SHANGHAI,
        registered_staff=10,
        services=services or (
            Service("breakfast", time(6, 30), time(9, 0)),
            Service("lunch", time(11, 0), time(13, 30)),
            Service("dinner", time(17, 0), time(19, 30)),
        ),
    )  # fmt: skip


def test_day_is_local_midnight_to_midnight_in_utc() -> None:
    windows = day_windows(make_site(), date(2026, 11, 20))
    # 2026-11-20 00:00 +08:00 is 2026-11-19 16:00 UTC
    assert windows.day == Window(utc_ms(2026, 11, 19, 16, 0), utc_ms(2026, 11, 20, 16, 0))


def test_service_windows_follow_the_architecture_table() -> None:
    breakfast, lunch, _ = day_windows(make_site(), date(2026, 11, 20)).services
    assert breakfast.service == "breakfast"
    # 06:30-09:00 local is 22:30 (previous UTC day) - 01:00 UTC
    assert breakfast.diners == Window(utc_ms(2026, 11, 19, 22, 30), utc_ms(2026, 11, 20, 1, 0))
    # plate and overproduction: [start, end + 60 min)
    assert breakfast.plate == Window(utc_ms(2026, 11, 19, 22, 30), utc_ms(2026, 11, 20, 2, 0))
    assert breakfast.overproduction == breakfast.plate
    # prep and energy: [start - 120 min, end) = 04:30-09:00 local
    assert breakfast.prep == Window(utc_ms(2026, 11, 19, 20, 30), utc_ms(2026, 11, 20, 1, 0))
    assert breakfast.energy == breakfast.prep
    assert lunch.diners == Window(utc_ms(2026, 11, 20, 3, 0), utc_ms(2026, 11, 20, 5, 30))


def test_off_hours_are_the_day_minus_energy_windows() -> None:
    windows = day_windows(make_site(), date(2026, 11, 20))
    # energy windows 04:30-09:00, 09:00-13:30, 15:00-19:30 local
    assert windows.off_hours == (
        Window(utc_ms(2026, 11, 19, 16, 0), utc_ms(2026, 11, 19, 20, 30)),  # 00:00-04:30
        Window(utc_ms(2026, 11, 20, 5, 30), utc_ms(2026, 11, 20, 7, 0)),  # 13:30-15:00
        Window(utc_ms(2026, 11, 20, 11, 30), utc_ms(2026, 11, 20, 16, 0)),  # 19:30-24:00
    )


def test_preparation_before_midnight_leaves_the_previous_day() -> None:
    early = make_site(
        Service("breakfast", time(1, 0), time(3, 0))
    )  # prep from 23:00 the day before
    windows = day_windows(early, date(2026, 11, 20))
    (breakfast,) = windows.services
    assert breakfast.prep.start_ms == utc_ms(2026, 11, 19, 15, 0)  # 2026-11-19 23:00 local
    # this day loses 00:00-03:00 and the next day's preparation 23:00-24:00
    assert windows.off_hours == (Window(utc_ms(2026, 11, 19, 19, 0), utc_ms(2026, 11, 20, 15, 0)),)
    assert windows.span() == Window(utc_ms(2026, 11, 19, 15, 0), utc_ms(2026, 11, 20, 16, 0))


def test_complement_of_touching_and_outside_holes() -> None:
    outer = Window(0, 100)
    holes = [Window(-10, 5), Window(20, 30), Window(30, 40), Window(90, 200), Window(300, 400)]
    assert complement(outer, holes) == (Window(5, 20), Window(40, 90))
    assert complement(outer, []) == (outer,)
