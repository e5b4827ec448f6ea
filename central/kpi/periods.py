"""Reporting periods (day, ISO week, month, year, custom) and their buckets, as local dates."""

import calendar
from dataclasses import dataclass
from datetime import date, timedelta
from enum import StrEnum

MAX_CUSTOM_DAYS = 3 * 366  # a custom range longer than this is refused (the load would be huge)


class PeriodKind(StrEnum):
    DAY = "day"
    WEEK = "week"  # ISO week, Monday to Sunday
    MONTH = "month"
    YEAR = "year"
    CUSTOM = "custom"


class Granularity(StrEnum):
    """How a period is split into rows; `service` is one row per meal service and day."""

    SERVICE = "service"
    DAY = "day"
    WEEK = "week"
    MONTH = "month"
    PERIOD = "period"  # one row: the whole period


class PeriodError(ValueError):
    """A period that cannot be resolved; the reason names the parameter."""


@dataclass(frozen=True, slots=True)
class DateRange:
    """Local dates first..last, both inclusive."""

    first: date
    last: date

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range(self.days)]

    def clip(self, other: "DateRange") -> "DateRange | None":
        first, last = max(self.first, other.first), min(self.last, other.last)
        return DateRange(first, last) if first <= last else None


@dataclass(frozen=True, slots=True)
class Bucket:
    """One row of a report: a label and its dates (clipped to the period)."""

    label: str
    kind: Granularity
    dates: DateRange


def period_range(
    kind: PeriodKind, on: date | None = None, start: date | None = None, end: date | None = None
) -> DateRange:
    """The dates of the period of `kind` holding `on`, or start..end for a custom period."""
    if kind is PeriodKind.CUSTOM:
        if start is None or end is None:
            raise PeriodError("a custom period needs both start and end")
        if end < start:
            raise PeriodError(f"end {end} is before start {start}")
        span = DateRange(start, end)
        if span.days > MAX_CUSTOM_DAYS:
            raise PeriodError(f"a custom period is at most {MAX_CUSTOM_DAYS} days")
        return span
    if on is None:
        raise PeriodError(f"a {kind.value} period needs a date inside it")
    if kind is PeriodKind.DAY:
        return DateRange(on, on)
    if kind is PeriodKind.WEEK:
        monday = on - timedelta(days=on.weekday())
        return DateRange(monday, monday + timedelta(days=6))
    if kind is PeriodKind.MONTH:
        return DateRange(
            on.replace(day=1), on.replace(day=calendar.monthrange(on.year, on.month)[1])
        )
    return DateRange(date(on.year, 1, 1), date(on.year, 12, 31))


def label_of(kind: PeriodKind | Granularity, span: DateRange) -> str:
    """2026-11-20, 2026-W47, 2026-11, 2026, or first..last."""
    first = span.first
    if kind in (PeriodKind.DAY, Granularity.DAY, Granularity.SERVICE):
        return first.isoformat()
    if kind in (PeriodKind.WEEK, Granularity.WEEK):
        year, week, _ = first.isocalendar()
        return f"{year}-W{week:02d}"
    if kind in (PeriodKind.MONTH, Granularity.MONTH):
        return f"{first:%Y-%m}"
    if kind is PeriodKind.YEAR:
        return f"{first:%Y}"
    return f"{span.first.isoformat()}..{span.last.isoformat()}"


def buckets(span: DateRange, granularity: Granularity) -> list[Bucket]:
    """The rows of `span` at `granularity`, in date order, each clipped to the span."""
    if granularity is Granularity.PERIOD:
        return [Bucket(label_of(PeriodKind.CUSTOM, span), granularity, span)]
    if granularity in (Granularity.DAY, Granularity.SERVICE):
        return [Bucket(d.isoformat(), granularity, DateRange(d, d)) for d in span.dates()]
    kind = PeriodKind.WEEK if granularity is Granularity.WEEK else PeriodKind.MONTH
    out: list[Bucket] = []
    cursor = span.first
    while cursor <= span.last:
        whole = period_range(kind, on=cursor)
        part = whole.clip(span)
        assert part is not None  # cursor lies in both
        out.append(Bucket(label_of(granularity, whole), granularity, part))
        cursor = whole.last + timedelta(days=1)
    return out
