"""Which dates are working days in mainland China: public holidays and adjusted working days (调休).

The State Council publishes each year's schedule in the November before; the `chinesecalendar`
package (PyPI, imported as chinese_calendar) carries those notices as tables, one release a year.
For a year it does not know yet, dates follow the plain week (Monday-Friday work) and are marked
`known = False`, so that a forecast can say so; enter that year's holidays as diner overrides
(central.kitchen) until the package is updated (docs/forecast.md).
"""

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

import chinese_calendar


class DayKind(StrEnum):
    WORKDAY = "workday"  # Monday-Friday, not a holiday
    ADJUSTED_WORKDAY = "adjusted_workday"  # a Saturday or Sunday worked in lieu (调休上班)
    WEEKEND = "weekend"  # Saturday or Sunday off
    HOLIDAY = "holiday"  # a weekday off: a public holiday or a day off in lieu


@dataclass(frozen=True, slots=True)
class DayInfo:
    kind: DayKind
    holiday: str  # the holiday's English name, "" when none
    known: bool  # the calendar knows this date's year

    @property
    def working(self) -> bool:
        return self.kind in (DayKind.WORKDAY, DayKind.ADJUSTED_WORKDAY)


def day_info(on: date) -> DayInfo:
    weekend = on.weekday() >= 5
    try:
        working = bool(chinese_calendar.is_workday(on))
        is_holiday, name = chinese_calendar.get_holiday_detail(on)
    except NotImplementedError:  # a year the package does not know yet
        return DayInfo(DayKind.WEEKEND if weekend else DayKind.WORKDAY, "", known=False)
    holiday = str(name) if is_holiday and name else ""
    if working:
        return DayInfo(DayKind.ADJUSTED_WORKDAY if weekend else DayKind.WORKDAY, holiday, True)
    return DayInfo(DayKind.WEEKEND if weekend and not holiday else DayKind.HOLIDAY, holiday, True)
