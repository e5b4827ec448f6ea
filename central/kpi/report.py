"""Reports over a period: rows per granularity bucket for a site or a set of sites, and rankings.

Pure functions over DayTables (one per site, built from stored readings at query time, so late
readings of a past period are included in the next report; with the SQLite store they are
composed of per-date rollups, central.kpi.rollup).
"""

import calendar
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import date, time

import numpy as np

from central.kpi.daytable import DayTable
from central.kpi.periods import Bucket, DateRange, Granularity, PeriodKind, buckets, label_of
from central.kpi.readings import Int64Array
from central.kpi.reasons import Reason, no_quota
from central.kpi.rollup import Freshness
from central.kpi.totals import NAN, Totals, combine, site_totals, site_totals_many
from central.kpi.values import (
    CATALOGUE,
    DeviceFigures,
    KpiValue,
    Quality,
    derive,
    device_figures,
    kpi_value,
    quality,
)
from central.kpi.windows import local_instant_ms
from central.registry import Site
from central.site_kpi_config import SiteKpiConfig

NO_QUOTA = no_quota()
QUOTA_SPAN = Reason("quota_span")
NOT_STARTED = Reason("period_not_started")


@dataclass(frozen=True, slots=True)
class Row:
    """One row of a report: KPIs with units, quality beside them, and the factor sets used."""

    label: str
    first: date
    last: date
    service: str | None
    kpis: Mapping[str, KpiValue]
    quality: Quality
    factor_sets: tuple[str, ...]
    sites: tuple[str, ...]
    devices: tuple[DeviceFigures, ...] = ()  # per device; empty in meal-service rows


@dataclass(frozen=True, slots=True)
class Report:
    sites: tuple[str, ...]
    period: PeriodKind
    span: DateRange
    granularity: Granularity
    rows: tuple[Row, ...]
    total: Row
    rollups: Freshness | None = None  # how fresh the rollups were; None: the store keeps none


@dataclass(frozen=True, slots=True)
class RankedSite:
    rank: int | None  # None when the KPI has no value for the site (listed last)
    site: str
    name: str
    value: KpiValue
    quality: Quality


def quota_for(config: SiteKpiConfig, span: DateRange) -> tuple[float, Reason | None]:
    """The quota (kgce) of a row's dates: a month's or year's quota, prorated by days."""
    first, last = span.first, span.last
    month_days = calendar.monthrange(first.year, first.month)[1]
    year_days = 366 if calendar.isleap(first.year) else 365
    year_quota, month_quota = config.energy_quota_kgce_year, config.energy_quota_kgce_month
    whole_year = (first.month, first.day, last.month, last.day) == (1, 1, 12, 31)
    if whole_year and first.year == last.year and year_quota is not None:
        return year_quota, None
    if (first.year, first.month) == (last.year, last.month) and month_quota is not None:
        return month_quota * span.days / month_days, None
    if first.year == last.year and year_quota is not None:
        return year_quota * span.days / year_days, None
    if month_quota is None and year_quota is None:
        return NAN, NO_QUOTA
    return NAN, QUOTA_SPAN


def row_quota(
    config: SiteKpiConfig, dates: DateRange, start_ms: int, end_ms: int, now_ms: int
) -> tuple[float, Reason | None]:
    """A row's quota (E7): its dates' (`quota_for`) times the share of [start_ms, end_ms) (the
    dates' local start and end) that has passed at now_ms."""
    quota, reason = quota_for(config, dates)
    share = min(1.0, max(0.0, (min(now_ms, end_ms) - start_ms) / (end_ms - start_ms)))
    if not math.isnan(quota) and share == 0.0:
        return NAN, NOT_STARTED
    return quota * share, reason


def device_start_ms(site: Site, device: str, time_ms: Int64Array) -> int | None:
    """From when a meter's readings are expected (Q1): the start of its registry `installed`
    date (or its first reading, if earlier), else its first reading loaded (`time_ms`, sorted),
    else (no reading at all) None: from the start."""
    installed = site.kpi.meter(device).installed
    first = int(time_ms[0]) if time_ms.size else None
    if installed is None:
        return first
    start = local_instant_ms(installed, time(0, 0), site.timezone)
    return start if first is None else min(start, first)  # readings before it count too


def expected_to_date(table: DayTable, now_ms: int) -> dict[str, Int64Array]:
    """Per meter, the readings expected on each date of the table (Q1) counting only the part
    of the date that has passed at `now_ms` and that follows the meter's start
    (`device_start_ms`): the reporting slots that began in that part, at most the whole date's
    count (read-time view on top of the table's whole-date `expected`)."""
    out = {}
    for d in table.devices:
        if d.expected is None:
            continue
        begin = device_start_ms(table.site, d.device, d.time_ms)
        interval_ms = table.site.kpi.meter(d.device).interval_s * 1000
        out[d.device] = expected_slots(
            table.day_start_ms, table.day_end_ms, d.expected, begin, now_ms, interval_ms
        )
    return out


def expected_slots(
    starts: Int64Array,
    ends: Int64Array,
    expected: Int64Array,
    begin: int | Int64Array | None,
    now_ms: int,
    interval_ms: int | Int64Array,
) -> Int64Array:
    """`expected_to_date` of one meter: of dates [starts, ends) whose whole-date counts are
    `expected`, the slots that began after `begin` (None: from the start) and before now_ms
    (`begin` and `interval_ms` per date, too: many meters' dates at once)."""
    lo = starts if begin is None else np.maximum(starts, begin)
    covered = np.clip(np.minimum(ends, now_ms) - lo, 0, None)
    slots = -(-covered // interval_ms)  # ceiling: slots that began in the covered part
    out: Int64Array = np.where(covered >= ends - starts, expected, np.minimum(expected, slots))
    return out


def _rows_totals(
    table: DayTable,
    rows: Sequence[Bucket],
    service: int | None,
    baseline: Totals | None,
    now_ms: int,
    device_skews: bool = True,
) -> list[Totals]:
    """Totals of every bucket of `rows` at once (central.kpi.totals.site_totals_many), each
    with its quota: a month's or year's, prorated by days, times the share of it elapsed, and
    its meters' expected readings as of `now_ms` (`expected_to_date`)."""
    bounds, quotas = [], []
    for bucket in rows:
        lo = (bucket.dates.first - table.span.first).days
        hi = lo + bucket.dates.days
        start_ms, end_ms = int(table.day_start_ms[lo]), int(table.day_end_ms[hi - 1])
        bounds.append((lo, hi))
        quotas.append(row_quota(table.site.kpi, bucket.dates, start_ms, end_ms, now_ms))
    expected = expected_to_date(table, now_ms)
    if expected:  # the table's meters with their expected readings as of now_ms, once per meter
        devices = tuple(
            d if d.expected is None else replace(d, expected=expected[d.device])
            for d in table.devices
        )
        table = replace(table, devices=devices)
    return site_totals_many(
        table, bounds, service, quotas=quotas, baseline=baseline, device_skews=device_skews
    )


def _row(
    label: str,
    bucket: Bucket,
    service: str | None,
    totals: Totals,
    sites: tuple[str, ...],
    with_devices: bool = False,
) -> Row:
    return Row(
        label=label,
        first=bucket.dates.first,
        last=bucket.dates.last,
        service=service,
        kpis=derive(totals),
        quality=quality(totals),
        factor_sets=tuple(sorted(totals.factor_sets)),
        sites=sites,
        devices=device_figures(totals) if with_devices else (),
    )


def baseline_totals(table: DayTable | None) -> Totals | None:
    """Totals of a site's whole baseline period (F9)."""
    if table is None:
        return None
    return site_totals(table, 0, table.span.days)


def build_report(
    tables: Sequence[DayTable],
    baselines: Mapping[str, Totals | None],
    period: PeriodKind,
    span: DateRange,
    granularity: Granularity,
    now_ms: int,
) -> Report:
    """Rows of one site or of several sites summed (a region), and the period's total row."""
    if not tables:
        raise ValueError("a report needs at least one site")
    sites = tuple(t.site.id for t in tables)
    rows: list[Row] = []
    row_buckets = buckets(span, granularity)
    if granularity is Granularity.SERVICE:
        names = tables[0].services if len(tables) == 1 else _common_services(tables)
        per_service = {
            name: [
                _rows_totals(  # a service row lists no devices: its row figures only
                    t,
                    row_buckets,
                    t.services.index(name),
                    baselines.get(t.site.id),
                    now_ms,
                    device_skews=False,
                )
                for t in tables
            ]
            for name in names
        }
        for i, bucket in enumerate(row_buckets):
            for name in names:
                parts = [per_table[i] for per_table in per_service[name]]
                rows.append(_row(bucket.label, bucket, name, combine(parts), sites))
        whole = Bucket(label_of(period, span), Granularity.PERIOD, span)
        per_table_whole = [
            _rows_totals(t, [whole], None, baselines.get(t.site.id), now_ms)[0] for t in tables
        ]
        return _report(sites, period, span, granularity, rows, per_table_whole)
    per_table = [
        _rows_totals(t, row_buckets, None, baselines.get(t.site.id), now_ms) for t in tables
    ]
    if granularity is Granularity.PERIOD:
        per_table_whole = [t[0] for t in per_table]  # the one row is the whole period
    else:
        whole = Bucket(label_of(period, span), Granularity.PERIOD, span)
        per_table_whole = [
            _rows_totals(t, [whole], None, baselines.get(t.site.id), now_ms)[0] for t in tables
        ]
    return report_of_totals(sites, period, span, granularity, per_table, per_table_whole)


def report_of_totals(
    sites: tuple[str, ...],
    period: PeriodKind,
    span: DateRange,
    granularity: Granularity,
    per_site_rows: Sequence[Sequence[Totals]],
    per_site_whole: Sequence[Totals],
) -> Report:
    """A report of whole-date rows (not per service) from each site's totals of each bucket of
    `buckets(span, granularity)` and of the whole period (a region: the sites' summed)."""
    rows = []
    for i, bucket in enumerate(buckets(span, granularity)):
        parts = [totals[i] for totals in per_site_rows]
        rows.append(_row(bucket.label, bucket, None, combine(parts), sites, with_devices=True))
    return _report(sites, period, span, granularity, rows, per_site_whole)


def _report(
    sites: tuple[str, ...],
    period: PeriodKind,
    span: DateRange,
    granularity: Granularity,
    rows: list[Row],
    per_site_whole: Sequence[Totals],
) -> Report:
    whole = Bucket(label_of(period, span), Granularity.PERIOD, span)
    total = combine(per_site_whole)
    return Report(
        sites=sites,
        period=period,
        span=span,
        granularity=granularity,
        rows=tuple(rows),
        total=_row(whole.label, whole, None, total, sites, with_devices=True),
    )


def period_totals(
    table: DayTable, baseline: Totals | None, period: PeriodKind, span: DateRange, now_ms: int
) -> Totals:
    """A site's totals of the whole period, as a ranking needs them: without per-device skew
    figures (a network's region has thousands of devices; each site's are in its own report).
    Computed site after site, so that a ranking holds one site's table at a time."""
    whole = Bucket(label_of(period, span), Granularity.PERIOD, span)
    return _rows_totals(table, [whole], None, baseline, now_ms, device_skews=False)[0]


def period_kpis(
    table: DayTable, spans: Sequence[DateRange], now_ms: int
) -> list[Mapping[str, KpiValue]]:
    """The KPIs of each span of dates within the table's, as a report's row of just those dates
    gives them at `now_ms` (without per-device figures), computed together."""
    rows = [Bucket(label_of(PeriodKind.CUSTOM, s), Granularity.PERIOD, s) for s in spans]
    return [derive(t) for t in _rows_totals(table, rows, None, None, now_ms, device_skews=False)]


def rank_totals(
    sites: Sequence[tuple[str, str]],
    parts: Sequence[Totals],
    kpi: str,
    descending: bool,
    period: PeriodKind,
    span: DateRange,
) -> tuple[list[RankedSite], Row]:
    """Sites (id, name) ordered by one KPI of their period's totals (ascending unless
    `descending`; sites without a value last), each with its quality, and the region's whole
    row: each site's ranked KPI alone (`kpi_value`), every KPI of the region's."""
    if kpi not in CATALOGUE:
        raise KeyError(kpi)
    if not parts:
        raise ValueError("a ranking needs at least one site")
    valued = [
        (site, name, kpi_value(t, kpi), quality(t))
        for (site, name), t in zip(sites, parts, strict=True)
    ]
    with_value = [v for v in valued if v[2].value is not None]
    without = [v for v in valued if v[2].value is None]
    with_value.sort(key=lambda v: (v[2].value or 0.0) * (-1 if descending else 1))
    ranked = [RankedSite(i, *v) for i, v in enumerate(with_value, start=1)]
    ranked += [RankedSite(None, *v) for v in without]
    whole = Bucket(label_of(period, span), Granularity.PERIOD, span)
    every = tuple(site for site, _ in sites)
    return ranked, _row(whole.label, whole, None, combine(parts), every)


def _common_services(tables: Sequence[DayTable]) -> tuple[str, ...]:
    """Services every site of a region has, in the first site's order."""
    return tuple(n for n in tables[0].services if all(n in t.services for t in tables[1:]))
