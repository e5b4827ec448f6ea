"""Which dates are working days in mainland China: public holidays and adjusted working days (调休).

The State Council publishes each year's schedule in the November before. A date's kind comes from
the first of these that knows its year:

1. the site registry's `[calendar.YYYY]` tables (central-wide, docs/forecast.md "The calendar"):
   the schedule of a year entered from the notice, weeks before a package release carries it. A
   year in the registry replaces the package's table of that year entirely;
2. the `chinesecalendar` package (PyPI, imported as chinese_calendar), one release a year;
3. neither: the plain week (Monday-Friday work), marked `known = False` so that a forecast can
   say so and name the fix.

Shared by central (the diner forecast) and the simulator (its demand model), which read the same
registry: the simulated world and the measurement follow one calendar.
"""

import contextlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum
from typing import Any

import chinese_calendar

from contract.errors import ContractError

CALENDAR_KEY = "calendar"  # the registry's top-level table of years
# A notice may start the New Year holiday, and an adjusted working day before it, in the last
# days of the year before (the 2019 notice: 2018-12-29 worked, 2018-12-30 to 2019-01-01 off).
REACH_BACK_DAYS = 7
_YEAR_RE = re.compile(r"^\d{4}$")
_YEAR_KEYS = frozenset({"holidays", "adjusted_workdays"})
_HOLIDAY_KEYS = frozenset({"name", "start", "end"})
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class DayKind(StrEnum):
    WORKDAY = "workday"  # Monday-Friday, not a holiday
    ADJUSTED_WORKDAY = "adjusted_workday"  # a Saturday or Sunday worked in lieu (调休上班)
    WEEKEND = "weekend"  # Saturday or Sunday off
    HOLIDAY = "holiday"  # a day off of a public holiday, days off in lieu included


class CalendarSource(StrEnum):
    REGISTRY = "registry"  # the registry's [calendar.YYYY]
    PACKAGE = "chinesecalendar"
    PLAIN_WEEK = "plain_week"  # the year's schedule is not known: Monday-Friday work


@dataclass(frozen=True, slots=True)
class DayInfo:
    kind: DayKind
    holiday: str  # the holiday's name, "" when none
    source: CalendarSource

    @property
    def known(self) -> bool:
        """The schedule of this date's year is known (from the registry or the package)."""
        return self.source is not CalendarSource.PLAIN_WEEK

    @property
    def working(self) -> bool:
        return self.kind in (DayKind.WORKDAY, DayKind.ADJUSTED_WORKDAY)


class CalendarError(ContractError):
    """A `[calendar.YYYY]` table of the registry is wrong; `where` names the year and entry."""

    def __init__(self, reason: str, where: str) -> None:
        super().__init__(reason)
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass(frozen=True, slots=True)
class YearSchedule:
    """One year's notice: every day off of its holidays (by name) and its adjusted working days."""

    year: int
    holidays: Mapping[date, str]
    adjusted_workdays: frozenset[date]


class WorkCalendar:
    """Registry years first, then the package, then the plain week (module docstring)."""

    __slots__ = ("_holidays", "_worked", "years")

    def __init__(self, years: Iterable[YearSchedule] = ()) -> None:
        self.years: tuple[int, ...] = ()
        self._holidays: dict[date, str] = {}
        self._worked: set[date] = set()
        for schedule in years:
            self.years = (*self.years, schedule.year)
            self._holidays.update(schedule.holidays)
            self._worked.update(schedule.adjusted_workdays)

    def day_info(self, on: date) -> DayInfo:
        weekend = on.weekday() >= 5
        if on in self._worked:
            return DayInfo(DayKind.ADJUSTED_WORKDAY, "", CalendarSource.REGISTRY)
        if on in self._holidays:
            return DayInfo(DayKind.HOLIDAY, self._holidays[on], CalendarSource.REGISTRY)
        if on.year in self.years:
            plain = DayKind.WEEKEND if weekend else DayKind.WORKDAY
            return DayInfo(plain, "", CalendarSource.REGISTRY)
        return _package_day(on)

    def working(self, on: date) -> bool:
        return self.day_info(on).working


def package_knows(year: int) -> bool:
    """The installed chinesecalendar carries the notice of `year`."""
    return _package_day(date(year, 6, 30)).known


def _package_day(on: date) -> DayInfo:
    weekend = on.weekday() >= 5
    try:
        working = bool(chinese_calendar.is_workday(on))
        is_holiday, name = chinese_calendar.get_holiday_detail(on)
    except NotImplementedError:  # a year the package does not know yet
        plain = DayKind.WEEKEND if weekend else DayKind.WORKDAY
        return DayInfo(plain, "", CalendarSource.PLAIN_WEEK)
    holiday = str(name) if is_holiday and name else ""
    source = CalendarSource.PACKAGE
    if working:
        return DayInfo(DayKind.ADJUSTED_WORKDAY if weekend else DayKind.WORKDAY, holiday, source)
    off = DayKind.WEEKEND if weekend and not holiday else DayKind.HOLIDAY
    return DayInfo(off, holiday, source)


def parse_calendar(document: Mapping[str, Any]) -> WorkCalendar:
    """The `[calendar.YYYY]` tables of a parsed registry; raise CalendarError naming the entry."""
    raw = document.get(CALENDAR_KEY)
    if raw is None:
        return WorkCalendar()
    if not isinstance(raw, Mapping):
        raise CalendarError("must be a table of years, such as [calendar.2027]", CALENDAR_KEY)
    schedules: list[YearSchedule] = []
    listed: dict[date, str] = {}  # every date of every year, to refuse one listed in two years
    for key, value in raw.items():
        where = f"{CALENDAR_KEY}.{key}"
        if not isinstance(key, str) or not _YEAR_RE.match(key) or int(key) < 1900:
            raise CalendarError("the key must be a year, such as [calendar.2027]", where)
        schedule = _parse_year(int(key), value, where)
        for on in (*schedule.holidays, *schedule.adjusted_workdays):
            if on in listed:
                raise CalendarError(f"{on} is listed in [{listed[on]}] too", where)
            listed[on] = where
        schedules.append(schedule)
    return WorkCalendar(schedules)


def _parse_year(year: int, raw: Any, where: str) -> YearSchedule:
    if not isinstance(raw, Mapping):
        raise CalendarError("must be a table with holidays and adjusted_workdays", where)
    unknown = sorted(set(raw) - _YEAR_KEYS)
    if unknown:
        raise CalendarError(
            f"unknown key {unknown[0]!r}; a year has holidays, adjusted_workdays", where
        )
    raw_holidays = raw.get("holidays")
    if not isinstance(raw_holidays, list) or not raw_holidays:
        raise CalendarError(
            "holidays must be a non-empty array of tables {name, start, end}, one per holiday",
            where,
        )
    off: dict[date, str] = {}
    for number, item in enumerate(raw_holidays, start=1):
        entry = f"{where} holidays[{number}]"
        if not isinstance(item, Mapping):
            raise CalendarError("must be a table {name, start, end}", entry)
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            raise CalendarError("name must be non-empty text (the holiday's name)", entry)
        entry = f"{where} holiday {name!r}"
        unknown = sorted(set(item) - _HOLIDAY_KEYS)
        if unknown:
            raise CalendarError(
                f"unknown key {unknown[0]!r}; a holiday has name, start, end", entry
            )
        start = _date(item.get("start"), year, f"{entry} start")
        end = _date(item["end"], year, f"{entry} end") if "end" in item else start
        if end < start:
            raise CalendarError(f"end {end} is before start {start}", entry)
        for offset in range((end - start).days + 1):
            on = start + timedelta(days=offset)
            if on in off:
                raise CalendarError(f"{on} is in holiday {off[on]!r} too: holidays overlap", entry)
            off[on] = name
    raw_worked = raw.get("adjusted_workdays", [])
    if not isinstance(raw_worked, list):
        raise CalendarError("adjusted_workdays must be an array of dates", where)
    worked: set[date] = set()
    for number, value in enumerate(raw_worked, start=1):
        entry = f"{where} adjusted_workdays[{number}]"
        on = _date(value, year, entry)
        if on.weekday() < 5:
            raise CalendarError(
                f"{on} is a {_WEEKDAYS[on.weekday()]}: an adjusted working day (调休上班) is a "
                "Saturday or Sunday worked in lieu",
                entry,
            )
        if on in off:
            raise CalendarError(f"{on} is a day off of holiday {off[on]!r} too", entry)
        if on in worked:
            raise CalendarError(f"{on} is listed twice", entry)
        worked.add(on)
    return YearSchedule(year, off, frozenset(worked))


def _date(value: Any, year: int, where: str) -> date:
    """A TOML local date (2027-01-01) or the text 'YYYY-MM-DD', within the notice's year."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # not a date: refused below with the text
            value = date.fromisoformat(value)
    if not isinstance(value, date) or hasattr(value, "hour"):  # a datetime is no date here
        raise CalendarError(f"must be a date YYYY-MM-DD, got {value!r}", where)
    if not date(year, 1, 1) - timedelta(REACH_BACK_DAYS) <= value <= date(year, 12, 31):
        raise CalendarError(
            f"{value} is not in {year} (only the New Year holiday may start in the last "
            f"{REACH_BACK_DAYS} days of {year - 1})",
            where,
        )
    return value
