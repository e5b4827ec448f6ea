"""The diner forecast on constructed histories: weekday pattern, holidays, 调休, bad input."""

from datetime import date, timedelta

import numpy as np
import pytest

from central.kitchen import DinerOverride
from central.kpi.forecast import (
    PACKAGE_CALENDAR,
    History,
    Source,
    forecast_service,
    same_weekday_last_week,
    weekday_mean_4_weeks,
)
from central.kpi.reasons import Reason
from contract.workcalendar import CalendarSource, DayKind, WorkCalendar, parse_calendar

WEEKDAY_FACTOR = {0: 1.1, 1: 1.0, 2: 1.0, 3: 1.0, 4: 0.8}
LEVEL = 300.0
OFF_DAY = 15.0


def truth(on: date, calendar: WorkCalendar = PACKAGE_CALENDAR) -> float:
    info = calendar.day_info(on)
    if info.kind is DayKind.ADJUSTED_WORKDAY:
        return LEVEL
    if info.kind is DayKind.WORKDAY:
        return LEVEL * WEEKDAY_FACTOR[on.weekday()]
    return OFF_DAY


def history(first: date, last: date, value: object = truth) -> History:
    days = (last - first).days + 1
    dates = [first + timedelta(days=i) for i in range(days)]
    diners = np.array([value(d) if callable(value) else value for d in dates], dtype=np.float64)
    return History(first, diners)


def dates(first: date, last: date) -> list[date]:
    return [first + timedelta(days=i) for i in range((last - first).days + 1)]


def test_holidays_and_adjusted_working_days_are_forecast_right() -> None:
    # 12 weeks to Saturday 2026-09-19 (the Dragon Boat Festival, 19 June, is in it); then the
    # worked Sunday 20 Sep (调休), Mid-Autumn (25-27 Sep), National Day (1-7 Oct), the worked
    # Saturday 10 Oct
    past = history(date(2026, 6, 28), date(2026, 9, 19))
    ahead = dates(date(2026, 9, 20), date(2026, 10, 11))
    points = forecast_service(past, "lunch", ahead)
    assert [p.on for p in points] == ahead
    for p in points:
        assert p.source is Source.MODEL
        assert p.diners == pytest.approx(truth(p.on), rel=0.01), p.on
        assert p.low is not None
        assert p.high is not None
        assert p.low <= truth(p.on) + 1e-6
        assert truth(p.on) - 1e-6 <= p.high
    by_date = {p.on: p for p in points}
    assert by_date[date(2026, 9, 20)].kind is DayKind.ADJUSTED_WORKDAY
    assert by_date[date(2026, 10, 1)].holiday == "National Day"
    assert by_date[date(2026, 10, 10)].diners == pytest.approx(LEVEL, rel=0.01)
    # the two baselines get exactly these days wrong
    full = history(date(2026, 6, 28), date(2026, 10, 11))
    assert same_weekday_last_week(full, date(2026, 9, 20)) == OFF_DAY
    assert weekday_mean_4_weeks(full, date(2026, 10, 1)) == pytest.approx(LEVEL)


def test_noisy_history_gives_an_interval_around_the_forecast() -> None:
    rng = np.random.default_rng(7)
    past = history(date(2026, 3, 1), date(2026, 5, 24))
    noisy = History(past.first, past.diners * rng.normal(1.0, 0.05, past.diners.size))
    (point,) = forecast_service(noisy, "lunch", [date(2026, 5, 26)])  # a Tuesday
    assert point.diners is not None
    assert point.low is not None
    assert point.high is not None
    assert point.low < point.diners < point.high
    assert point.diners == pytest.approx(LEVEL, rel=0.06)
    assert 0.02 < (point.high - point.low) / point.diners < 0.4


def test_overrides_replace_the_forecast_and_are_left_out_of_the_fit() -> None:
    meeting = date(2026, 9, 15)
    past = history(
        date(2026, 6, 28), date(2026, 9, 19), lambda d: 900.0 if d == meeting else truth(d)
    )
    overrides = [
        DinerOverride(meeting, "lunch", 900, "meeting"),
        DinerOverride(date(2026, 9, 22), None, 0, ""),
        DinerOverride(date(2026, 9, 23), "dinner", 50, "dinner only"),
    ]
    points = forecast_service(past, "lunch", dates(date(2026, 9, 21), date(2026, 9, 23)), overrides)
    monday, closed, other = points
    assert monday.diners == pytest.approx(LEVEL * 1.1, rel=0.01)  # the 900 did not lift the level
    assert (closed.source, closed.diners, closed.note_text) == (Source.OVERRIDE, 0.0, "closed")
    assert closed.note == Reason("override_closed")  # no note entered: a code of its own
    assert other.source is Source.MODEL  # the override names another service


def test_bad_input_answers_clearly() -> None:
    ahead = [date(2026, 9, 21)]
    (empty,) = forecast_service(History(date(2026, 9, 1), np.array([])), "lunch", ahead)
    assert (empty.source, empty.diners) == (Source.NO_HISTORY, None)
    assert "no card history" in empty.note_text
    assert empty.note == Reason("forecast_no_history")
    (zeros,) = forecast_service(history(date(2026, 9, 1), date(2026, 9, 20), 0.0), "lunch", ahead)
    assert zeros.source is Source.NO_HISTORY
    short = history(date(2026, 9, 15), date(2026, 9, 20))  # 4 working days
    (few,) = forecast_service(short, "lunch", ahead)
    assert (few.source, few.diners) == (Source.NO_HISTORY, None)
    assert "fewer than 5 working days" in few.note_text
    assert few.note == Reason("forecast_few_workdays", (("min_workdays", "5"), ("days", "6")))
    past = history(
        date(2026, 6, 1), date(2026, 9, 20), lambda d: 0.0 if d >= date(2026, 8, 1) else truth(d)
    )
    (closed,) = forecast_service(past, "lunch", ahead)
    assert (closed.source, closed.diners) == (Source.CLOSED, 0.0)
    assert "looks closed" in closed.note_text
    assert closed.note == Reason("forecast_closed", (("days", "28"),))


def test_dates_without_readings_are_left_out_not_read_as_no_diners() -> None:
    # NaN: a date nobody measured (before the site's first reading, every device down); the
    # site's report rows show it missing (docs/kpis.md), central.planning passes it on as NaN
    first, last = date(2026, 6, 28), date(2026, 9, 19)
    unmeasured = {first + timedelta(days=i) for i in range(0, 84, 3)}  # every third date
    past = history(first, last, lambda d: np.nan if d in unmeasured else truth(d))
    ahead = dates(date(2026, 9, 21), date(2026, 9, 27))  # Monday to Sunday
    for p in forecast_service(past, "lunch", ahead):
        assert p.source is Source.MODEL
        assert p.diners == pytest.approx(truth(p.on), rel=0.01), p.on  # weekends: 15, not 0
    assert same_weekday_last_week(past, date(2026, 7, 8)) is None  # 1 July: unmeasured
    assert weekday_mean_4_weeks(past, date(2026, 7, 29)) == pytest.approx(truth(date(2026, 7, 22)))
    # four weeks without a single reading: not "closed", the earlier weeks still forecast
    silent = history(first, last, lambda d: np.nan if d > date(2026, 8, 20) else truth(d))
    (point,) = forecast_service(silent, "lunch", [date(2026, 9, 22)])
    assert point.source is Source.MODEL
    assert point.diners == pytest.approx(truth(date(2026, 9, 22)), rel=0.01)


def test_a_year_the_calendar_does_not_know_is_flagged() -> None:
    past = history(date(2026, 10, 12), date(2026, 12, 31))
    (point,) = forecast_service(past, "lunch", [date(2027, 1, 4)])
    assert point.calendar_known is False
    assert point.calendar is CalendarSource.PLAIN_WEEK
    assert "2027-01-04: the holiday schedule of 2027 is not known" in point.note_text
    assert "[calendar.2027] in the registry" in point.note_text
    assert isinstance(point.note, Reason)
    assert (point.note.code, point.note.params_json) == (
        "calendar_unknown", {"date": "2027-01-04", "years": "2027", "tables": "[calendar.2027]"}
    )  # fmt: skip
    assert point.diners == pytest.approx(LEVEL * 1.1, rel=0.01)


# AN EXAMPLE with made-up dates, not the State Council's 2027 schedule.
REGISTRY_2027 = parse_calendar(
    {
        "calendar": {
            "2027": {
                "holidays": [
                    {"name": "New Year's Day", "start": date(2027, 1, 1), "end": date(2027, 1, 3)},
                    {"name": "Spring Festival", "start": date(2027, 2, 6), "end": "2027-02-12"},
                ],
                "adjusted_workdays": [date(2027, 2, 13), date(2027, 2, 20)],
            }
        }
    }
)


def test_a_registry_year_changes_the_forecast_of_its_holidays_and_adjusted_workdays() -> None:
    # history to 2027-01-31 (New Year's Day in it), then the Spring Festival and worked Saturdays
    past = history(date(2026, 11, 9), date(2027, 1, 31), lambda d: truth(d, REGISTRY_2027))
    ahead = dates(date(2027, 2, 5), date(2027, 2, 20))
    with_registry = {p.on: p for p in forecast_service(past, "lunch", ahead, (), REGISTRY_2027)}
    package_only = {p.on: p for p in forecast_service(past, "lunch", ahead)}
    for on in ahead:
        p = with_registry[on]
        assert (p.calendar, p.calendar_known, p.note) == (CalendarSource.REGISTRY, True, ""), on
        assert p.diners == pytest.approx(truth(on, REGISTRY_2027), rel=0.01), on
        assert package_only[on].calendar is CalendarSource.PLAIN_WEEK
    monday = date(2027, 2, 8)  # in the Spring Festival
    assert with_registry[monday].kind is DayKind.HOLIDAY
    assert with_registry[monday].holiday == "Spring Festival"
    assert with_registry[monday].diners == pytest.approx(OFF_DAY)
    assert package_only[monday].diners == pytest.approx(LEVEL * 1.1, rel=0.05)  # a working day
    worked = date(2027, 2, 13)  # a Saturday worked in lieu
    assert with_registry[worked].kind is DayKind.ADJUSTED_WORKDAY
    assert with_registry[worked].diners == pytest.approx(LEVEL, rel=0.01)
    assert package_only[worked].diners == pytest.approx(OFF_DAY)
    # New Year's Day in the history was an off day: it did not pull the level down, as it does
    # when taken for a working day with few diners
    tuesday = date(2027, 2, 16)
    assert with_registry[tuesday].diners == pytest.approx(LEVEL, rel=0.001)
    tuesday_diners = package_only[tuesday].diners
    assert tuesday_diners is not None
    assert tuesday_diners < LEVEL * 0.995
