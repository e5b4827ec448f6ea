"""What a monthly report holds: the month's KPIs per day and in total, the previous month (环比)
and the same month last year (同比), the year to date, and the month's alerts with their
acknowledgements. Every figure comes from central.reporting (the one KPI pipeline); only the
changes against the comparison months are computed here.

A comparison month without a single stored reading has no figures (None, shown as —), not zeros:
the KPI pipeline counts, say, 0 diners there, but nobody measured anything.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from central.alert_acks import AlertAckStore
from central.alert_history import DatedAlert, alert_history, local_today
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.report import Report, Row
from central.registry import Site
from central.reporting import report
from central.store import ReadingsStore

# The month's summary: name of a KPI of GET /kpis (central.kpi.values.CATALOGUE).
SUMMARY_KPIS = (
    "diners",
    "attendance_pct",
    "waste_per_diner_g",
    "plate_waste_per_diner_g",
    "prep_waste_per_diner_g",
    "overproduction_per_diner_g",
    "spoilage_per_diner_g",
    "clean_plate_rate_pct",
    "waste_value_cny",
    "waste_co2e_kg",
    "electricity_kwh",
    "gas_m3",
    "water_m3",
    "energy_kgce",
    "energy_kgce_per_meal",
    "energy_kgce_per_m2",
    "energy_kgce_per_staff",
    "co2_kg",
    "quota_use_pct",
    "off_hours_share_pct",
    "peak_demand_kw",
)
WASTE_KPIS = (
    "diners",
    "plate_waste_g",
    "prep_waste_g",
    "overproduction_waste_g",
    "spoilage_waste_g",
    "plate_waste_per_diner_g",
    "prep_waste_per_diner_g",
    "overproduction_per_diner_g",
    "spoilage_per_diner_g",
    "waste_per_diner_g",
    "clean_plate_rate_pct",
    "waste_value_cny",
    "waste_co2e_kg",
)
ENERGY_KPIS = (
    "electricity_kwh",
    "gas_m3",
    "water_m3",
    "energy_kgce",
    "electricity_kwh_per_meal",
    "gas_m3_per_meal",
    "water_l_per_meal",
    "energy_kgce_per_meal",
    "co2_kg",
    "off_hours_share_pct",
    "peak_demand_kw",
)
QUALITY_FIGURES = (
    "completeness_pct",
    "estimated_share_pct",
    "duplicate_share_pct",
    "readings_stored",
    "duplicates_dropped",
    "clock_corrected",
    "resets",
    "wraps",
    "spikes",
    "dips",
    "gaps",
    "exchanges",
    "scale_rejected_below_division",
    "scale_rejected_above_max",
)


class MonthError(ValueError):
    """A month parameter that is not YYYY-MM or lies in the future."""


def parse_month(text: str) -> date:
    """The first day of month `YYYY-MM`; raise MonthError."""
    year, sep, month = text.partition("-")
    if not (sep and len(year) == 4 and len(month) == 2 and year.isdigit() and month.isdigit()):
        raise MonthError(f"month {text[:20]!r} must be YYYY-MM")
    # 1971 at the earliest: the report compares with the same month a year before
    if not (1971 <= int(year) <= 9998 and 1 <= int(month) <= 12):
        raise MonthError(f"month {text[:20]!r} is not a month of the years 1971-9998")
    return date(int(year), int(month), 1)


def month_span(first: date) -> DateRange:
    following = (first.replace(day=28) + timedelta(days=4)).replace(day=1)
    return DateRange(first, following - timedelta(days=1))


def previous_month(first: date) -> date:
    return (first - timedelta(days=1)).replace(day=1)


@dataclass(frozen=True, slots=True)
class Comparison:
    """A comparison month's total row, or None when it has no stored reading."""

    span: DateRange
    row: Row | None

    def value(self, kpi: str) -> float | None:
        return None if self.row is None else self.row.kpis[kpi].value


@dataclass(frozen=True, slots=True)
class Targets:
    """What the registry sets for a single site; None for a region or when not configured."""

    waste_target_g_per_diner: float | None
    clean_plate_goal_pct: float | None
    energy_quota_kgce_month: float | None
    energy_quota_kgce_year: float | None


@dataclass(frozen=True, slots=True)
class MonthlyReport:
    scope: str  # the site id, or the region tag key:value
    title: str  # the site's name, or the region tag
    sites: tuple[Site, ...]
    span: DateRange
    through: date  # the last date with a row: the month's last, or today in the current month
    month: Report  # one row per date and the month's total (GET /kpis of the month)
    previous: Comparison  # 环比
    last_year: Comparison  # 同比
    year_to_date: Row  # 1 January .. end of the month (or today)
    per_site: tuple[Row, ...]  # a region's sites, each month's total; empty for a site
    targets: Targets
    alerts: tuple[DatedAlert, ...]
    generated_ms: int


def change(now: float | None, before: float | None, unit: str) -> float | None:
    """The change of a figure against a comparison: in percentage points for a figure in %,
    else relative, in %; None when either is missing or the reference is 0."""
    if now is None or before is None:
        return None
    if unit == "%":
        return now - before
    if before == 0:
        return None
    return (now - before) / abs(before) * 100.0


def has_data(row: Row) -> bool:
    return row.quality.readings_stored > 0


def _targets(sites: Sequence[Site]) -> Targets:
    if len(sites) != 1:
        return Targets(None, None, None, None)
    kpi = sites[0].kpi
    return Targets(
        kpi.waste_target_g_per_diner,
        kpi.clean_plate_goal_pct,
        kpi.energy_quota_kgce_month,
        kpi.energy_quota_kgce_year,
    )


async def build_monthly_report(
    store: ReadingsStore,
    acks: AlertAckStore,
    sites: Sequence[Site],
    scope: str,
    title: str,
    first: date,
    now_ms: int,
) -> MonthlyReport:
    """The monthly report of `sites` (one site, or a region's sites summed) for the month
    starting `first`; raise MonthError for a month that has not begun at any of them."""
    if all(first > local_today(site, now_ms) for site in sites):
        raise MonthError(f"{first:%Y-%m} has not begun")
    span = month_span(first)
    month = await report(store, sites, PeriodKind.MONTH, span, Granularity.DAY, now_ms)

    async def comparison(other: DateRange) -> Comparison:
        got = await report(store, sites, PeriodKind.MONTH, other, Granularity.PERIOD, now_ms)
        return Comparison(other, got.total if has_data(got.total) else None)

    previous = await comparison(month_span(previous_month(first)))
    last_year = await comparison(month_span(first.replace(year=first.year - 1)))
    ytd_span = DateRange(date(first.year, 1, 1), span.last)
    ytd = await report(store, sites, PeriodKind.CUSTOM, ytd_span, Granularity.PERIOD, now_ms)
    per_site: list[Row] = []
    if len(sites) > 1:
        for one in sites:
            got = await report(store, [one], PeriodKind.MONTH, span, Granularity.PERIOD, now_ms)
            per_site.append(got.total)
    found = await alert_history(store, acks, sites, span, now_ms)
    return MonthlyReport(
        scope=scope,
        title=title,
        sites=tuple(sites),
        span=span,
        through=min(span.last, max(local_today(site, now_ms) for site in sites)),
        month=month,
        previous=previous,
        last_year=last_year,
        year_to_date=ytd.total,
        per_site=tuple(per_site),
        targets=_targets(sites),
        alerts=tuple(found),
        generated_ms=now_ms,
    )
