"""Periods and their buckets: ISO weeks, months, years, custom ranges."""

from datetime import date

import pytest

from central.kpi.periods import (
    DateRange,
    Granularity,
    PeriodError,
    PeriodKind,
    buckets,
    period_range,
)


@pytest.mark.parametrize(
    ("kind", "first", "last"),
    [
        (PeriodKind.DAY, date(2026, 11, 20), date(2026, 11, 20)),
        (PeriodKind.WEEK, date(2026, 11, 16), date(2026, 11, 22)),  # Monday to Sunday
        (PeriodKind.MONTH, date(2026, 11, 1), date(2026, 11, 30)),
        (PeriodKind.YEAR, date(2026, 1, 1), date(2026, 12, 31)),
    ],
)
def test_period_holding_a_date(kind: PeriodKind, first: date, last: date) -> None:
    assert period_range(kind, on=date(2026, 11, 20)) == DateRange(first, last)


def test_custom_period_and_its_errors() -> None:
    span = period_range(PeriodKind.CUSTOM, start=date(2026, 2, 27), end=date(2026, 3, 2))
    assert span.days == 4
    with pytest.raises(PeriodError, match="needs both start and end"):
        period_range(PeriodKind.CUSTOM, start=date(2026, 1, 1))
    with pytest.raises(PeriodError, match="before start"):
        period_range(PeriodKind.CUSTOM, start=date(2026, 1, 2), end=date(2026, 1, 1))
    with pytest.raises(PeriodError, match="needs a date"):
        period_range(PeriodKind.MONTH)


def test_buckets_are_clipped_to_the_span() -> None:
    span = DateRange(date(2026, 11, 28), date(2026, 12, 2))  # Saturday to Wednesday
    weeks = buckets(span, Granularity.WEEK)
    assert [(b.label, b.dates.first, b.dates.last) for b in weeks] == [
        ("2026-W48", date(2026, 11, 28), date(2026, 11, 29)),
        ("2026-W49", date(2026, 11, 30), date(2026, 12, 2)),
    ]
    months = buckets(span, Granularity.MONTH)
    assert [(b.label, b.dates.days) for b in months] == [("2026-11", 3), ("2026-12", 2)]
    assert next(b.label for b in buckets(span, Granularity.DAY)) == "2026-11-28"
    assert len(buckets(span, Granularity.PERIOD)) == 1
    # ISO week 1 of 2027 starts on Monday 2027-01-04; 2027-01-01 belongs to 2026-W53
    assert buckets(DateRange(date(2027, 1, 1), date(2027, 1, 1)), Granularity.WEEK)[0].label == (
        "2026-W53"
    )
