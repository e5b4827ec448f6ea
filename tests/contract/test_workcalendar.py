"""The work calendar: registry years before the package, the plain week for unknown years, and
one-line errors naming the entry of a wrong `[calendar.YYYY]` table."""

import re
import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from contract.workcalendar import (
    CalendarError,
    CalendarSource,
    DayKind,
    WorkCalendar,
    package_knows,
    parse_calendar,
)

# AN EXAMPLE with made-up dates, not the State Council's 2027 schedule.
EXAMPLE_2027 = """
[calendar.2027]
holidays = [
  { name = "New Year's Day", start = 2026-12-31, end = 2027-01-02 },
  { name = "Spring Festival", start = 2027-02-06, end = 2027-02-12 },
  { name = "Labour Day", start = "2027-05-01" },
]
adjusted_workdays = [2026-12-27, 2027-02-13, "2027-02-20"]
"""


def parsed(text: str) -> WorkCalendar:
    return parse_calendar(tomllib.loads(text))


def refused(document: dict[str, Any]) -> CalendarError:
    with pytest.raises(CalendarError) as caught:
        parse_calendar(document)
    return caught.value


def year_2027(**table: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"holidays": [{"name": "Spring Festival", "start": date(2027, 2, 6)}]}
    return {"calendar": {"2027": base | table}}


def test_a_registry_year_gives_its_holidays_and_adjusted_working_days() -> None:
    assert not package_knows(2027)  # else this test shows nothing new
    plain = WorkCalendar()
    calendar = parsed(EXAMPLE_2027)
    assert calendar.years == (2027,)
    new_year = calendar.day_info(date(2027, 1, 1))  # a Friday
    assert (new_year.kind, new_year.holiday, new_year.source) == (
        DayKind.HOLIDAY,
        "New Year's Day",
        CalendarSource.REGISTRY,
    )
    assert new_year.known
    assert not new_year.working
    assert plain.day_info(date(2027, 1, 1)).kind is DayKind.WORKDAY
    assert plain.day_info(date(2027, 1, 1)).source is CalendarSource.PLAIN_WEEK
    assert not plain.day_info(date(2027, 1, 1)).known
    saturday = calendar.day_info(date(2027, 2, 13))
    assert (saturday.kind, saturday.source) == (DayKind.ADJUSTED_WORKDAY, CalendarSource.REGISTRY)
    assert calendar.working(date(2027, 2, 20))
    assert calendar.day_info(date(2027, 5, 1)).holiday == "Labour Day"
    # dates of the year the table does not list follow the week, as known
    tuesday = calendar.day_info(date(2027, 3, 2))
    assert (tuesday.kind, tuesday.known) == (DayKind.WORKDAY, True)
    assert calendar.day_info(date(2027, 3, 6)).kind is DayKind.WEEKEND
    # the notice's days in late December of the year before, over the package's 2026
    assert calendar.day_info(date(2026, 12, 31)).holiday == "New Year's Day"
    assert calendar.day_info(date(2026, 12, 27)).kind is DayKind.ADJUSTED_WORKDAY
    # other 2026 dates stay the package's
    national_day = calendar.day_info(date(2026, 10, 1))
    assert (national_day.holiday, national_day.source) == ("National Day", CalendarSource.PACKAGE)


def test_a_registry_year_replaces_the_packages_year() -> None:
    assert package_knows(2026)
    calendar = parse_calendar(
        {"calendar": {"2026": {"holidays": [{"name": "Made up", "start": date(2026, 3, 3)}]}}}
    )
    assert calendar.day_info(date(2026, 3, 3)).kind is DayKind.HOLIDAY
    national_day = calendar.day_info(date(2026, 10, 1))  # not in the registry's 2026
    assert (national_day.kind, national_day.source) == (DayKind.WORKDAY, CalendarSource.REGISTRY)


def test_no_calendar_table_is_the_package_alone() -> None:
    calendar = parse_calendar({"sites": []})
    assert calendar.years == ()
    assert calendar.day_info(date(2026, 10, 1)).source is CalendarSource.PACKAGE


@pytest.mark.parametrize(
    ("document", "where", "words"),
    [
        (year_2027(adjusted_workdays=[date(2027, 2, 15)]), "calendar.2027 adjusted_workdays[1]",
         "2027-02-15 is a Monday: an adjusted working day"),
        (year_2027(adjusted_workdays=[date(2027, 2, 6)]), "calendar.2027 adjusted_workdays[1]",
         "2027-02-06 is a day off of holiday 'Spring Festival' too"),
        (year_2027(adjusted_workdays=[date(2027, 2, 13), date(2027, 2, 13)]),
         "calendar.2027 adjusted_workdays[2]", "listed twice"),
        (year_2027(adjusted_workdays=[date(2026, 2, 14)]), "calendar.2027 adjusted_workdays[1]",
         "2026-02-14 is not in 2027"),
        (year_2027(holidays=[{"name": "Labour Day", "start": date(2028, 5, 1)}]),
         "calendar.2027 holiday 'Labour Day' start", "2028-05-01 is not in 2027"),
        (year_2027(holidays=[{"name": "Spring Festival", "start": date(2027, 2, 6),
                              "end": date(2027, 2, 12)},
                             {"name": "Lantern", "start": date(2027, 2, 12)}]),
         "calendar.2027 holiday 'Lantern'", "2027-02-12 is in holiday 'Spring Festival' too"),
        (year_2027(holidays=[{"name": "Spring Festival", "start": date(2027, 2, 12),
                              "end": date(2027, 2, 6)}]),
         "calendar.2027 holiday 'Spring Festival'", "end 2027-02-06 is before start 2027-02-12"),
        (year_2027(holidays=[{"name": "Spring Festival", "start": "6 Feb 2027"}]),
         "calendar.2027 holiday 'Spring Festival' start", "must be a date YYYY-MM-DD"),
        (year_2027(holidays=[{"name": "Spring Festival", "start": date(2027, 2, 6), "days": 7}]),
         "calendar.2027 holiday 'Spring Festival'", "unknown key 'days'"),
        (year_2027(holidays=[{"start": date(2027, 2, 6)}]), "calendar.2027 holidays[1]",
         "name must be non-empty text"),
        (year_2027(holidays=[]), "calendar.2027", "holidays must be a non-empty array"),
        (year_2027(adjusted_workday=[date(2027, 2, 13)]), "calendar.2027",
         "unknown key 'adjusted_workday'"),
        ({"calendar": {"27": {}}}, "calendar.27", "the key must be a year"),
        ({"calendar": [2027]}, "calendar", "must be a table of years"),
        ({"calendar": {
            "2026": {"holidays": [{"name": "New Year's Day", "start": date(2026, 12, 31)}]},
            "2027": {"holidays": [{"name": "New Year's Day", "start": date(2026, 12, 31)}]},
        }}, "calendar.2027", "2026-12-31 is listed in [calendar.2026] too"),
    ],
)  # fmt: skip
def test_a_wrong_calendar_table_is_refused_naming_the_entry(
    document: dict[str, Any], where: str, words: str
) -> None:
    error = refused(document)
    assert error.where == where
    assert words in error.reason
    assert str(error) == f"{where}: {error.reason}"
    assert "\n" not in str(error)


def test_the_documented_example_is_a_valid_calendar_table() -> None:
    forecast_md = Path(__file__).resolve().parents[2] / "docs" / "forecast.md"
    blocks = re.findall(r"```toml\n(.*?)```", forecast_md.read_text(encoding="utf-8"), re.S)
    (example,) = [b for b in blocks if "[calendar." in b]
    assert "AN EXAMPLE" in example  # made-up dates, said so
    calendar = parsed(example)
    assert calendar.years == (2027,)
    assert calendar.day_info(date(2027, 2, 8)).kind is DayKind.HOLIDAY
