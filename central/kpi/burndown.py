"""Quota burn-down (E7 over time): energy used to date against the quota of a month or a year.

A report's rows (days of a month, months of a year) give the energy used in each; the burn-down
adds them up and puts beside each row the part of the quota allowed by its end (the quota prorated
by days, as E7 does) and what is left of the whole quota.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date

from central.kpi.periods import DateRange
from central.kpi.report import Row


@dataclass(frozen=True, slots=True)
class BurnPoint:
    label: str
    first: date
    last: date
    used_kgce: float | None  # None: not started, no meter reading in it, or no energy meter
    cumulative_kgce: float | None  # energy used from the period's start to the row's end
    allowed_kgce: float | None  # quota x (days to the row's end / days of the period)
    remaining_kgce: float | None  # quota - cumulative


@dataclass(frozen=True, slots=True)
class BurnDown:
    span: DateRange
    quota_kgce: float | None
    reason: str | None  # why quota_kgce is None
    points: tuple[BurnPoint, ...]


def burn_down(
    span: DateRange, rows: Sequence[Row], quota_kgce: float | None, reason: str | None, today: date
) -> BurnDown:
    """Cumulative energy per row of `span` and the quota. A row after `today` has no use yet,
    and a row whose energy is missing in /kpis (no meter reading and no gap's estimate in it:
    before the meters' first reading, after their last; docs/kpis.md) has no data: its use and
    cumulative use are None, not 0 (a chart draws no line there); the cumulative use goes on
    after it with the rows that have data."""
    points: list[BurnPoint] = []
    cumulative = 0.0
    for row in rows:
        used = row.kpis["energy_kgce"].value if row.first <= today else None
        if used is not None:
            cumulative += used
        shown = None if used is None else cumulative
        allowed = (
            quota_kgce * ((row.last - span.first).days + 1) / span.days
            if quota_kgce is not None
            else None
        )
        points.append(
            BurnPoint(
                label=row.label,
                first=row.first,
                last=row.last,
                used_kgce=used,
                cumulative_kgce=shown,
                allowed_kgce=allowed,
                remaining_kgce=(
                    quota_kgce - shown if quota_kgce is not None and shown is not None else None
                ),
            )
        )
    return BurnDown(span, quota_kgce, None if quota_kgce is not None else reason, tuple(points))
