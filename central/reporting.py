"""Reports, rankings and alerts from the store: loads each site's readings, then the pure KPI code.

Nothing is cached: every answer is computed from the readings stored at the moment of the query,
so readings that arrive late (after an edge outage) are part of the next answer for their period.
A few queries per site and period: one range scan of readings, one of duplicate counts, and one
of the baseline period when the site has one.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from central.kpi.alerts import Alert, offline_devices, silent_devices, threshold_alerts
from central.kpi.daytable import DayTable, build_day_table, load_range
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.report import RankedSite, Report, baseline_totals, build_report, rank_sites
from central.kpi.totals import Totals
from central.kpi.windows import local_instant_ms
from central.registry import Site
from central.store import ReadingsStore

# Beyond the loaded range, each meter's nearest reading within this distance is loaded too, so
# that a gap reaching over the period's ends is spread (estimated) instead of lost.
METER_LOOKAROUND_MS = 3 * 24 * 3_600_000
# Each raw kitchen bin's last stable reading before the loaded range, within this distance, is
# loaded too: the reference of its first step (central.kpi.rawbins). A bin silent for longer loses
# the first deposit after its silence (the step has no reference).
RAW_SCALE_LOOKBACK_MS = 31 * 24 * 3_600_000


async def site_table(store: ReadingsStore, site: Site, span: DateRange) -> DayTable:
    """Base quantities of `site` over `span`, from the readings stored now."""
    window = load_range(site, span)
    readings = await store.load_readings(
        site.id,
        window.start_ms,
        window.end_ms,
        meter_lookaround_ms=METER_LOOKAROUND_MS,
        meter_devices=tuple(site.kpi.meters),
        raw_scale_lookback_ms=RAW_SCALE_LOOKBACK_MS,
    )
    duplicates = await store.load_duplicates(site.id, span.first, span.last)
    return build_day_table(site, span, readings, duplicates)


async def site_baseline(store: ReadingsStore, site: Site) -> Totals | None:
    """Totals of the site's configured baseline period (F9), or None without one."""
    if site.kpi.baseline is None:
        return None
    table = await site_table(store, site, DateRange(*site.kpi.baseline))
    return baseline_totals(table)


async def report(
    store: ReadingsStore,
    sites: Sequence[Site],
    period: PeriodKind,
    span: DateRange,
    granularity: Granularity,
    now_ms: int,
) -> Report:
    """A report of one site, or of several summed (a region)."""
    tables = [await site_table(store, site, span) for site in sites]
    baselines = {site.id: await site_baseline(store, site) for site in sites}
    return build_report(tables, baselines, period, span, granularity, now_ms)


@dataclass(frozen=True, slots=True)
class Ranking:
    kpi: str
    descending: bool
    span: DateRange
    sites: tuple[RankedSite, ...]
    region_total: Report


async def ranking(
    store: ReadingsStore,
    sites: Sequence[Site],
    kpi: str,
    period: PeriodKind,
    span: DateRange,
    now_ms: int,
    descending: bool = False,
) -> Ranking:
    """Sites ranked by one KPI over the period, and the region's total."""
    tables = [await site_table(store, site, span) for site in sites]
    baselines = {site.id: await site_baseline(store, site) for site in sites}
    per_site = [
        (
            t.site.id,
            t.site.name,
            build_report([t], baselines, period, span, Granularity.PERIOD, now_ms),
        )
        for t in tables
    ]
    region = build_report(tables, baselines, period, span, Granularity.PERIOD, now_ms)
    return Ranking(kpi, descending, span, tuple(rank_sites(per_site, kpi, descending)), region)


async def alerts(store: ReadingsStore, site: Site, on: date, now_ms: int) -> list[Alert]:
    """Alerts of `site` for local date `on`, evaluated at the end of that date (or now).

    One load of the month to date gives the date's row, the month's quota use and the meters'
    last readings; the year to date is loaded only when there is a yearly quota to compare with.
    Offline devices come from the devices' latest status (one small read).
    """
    as_of_ms = min(now_ms, local_instant_ms(on + timedelta(days=1), time(0, 0), site.timezone))
    baselines: dict[str, Totals | None] = {site.id: None}  # F9 is not alerted on
    month_span = DateRange(on.replace(day=1), on)
    month_table = await site_table(store, site, month_span)
    month = build_report(
        [month_table], baselines, PeriodKind.MONTH, month_span, Granularity.DAY, as_of_ms
    )
    year = None
    if site.kpi.energy_quota_kgce_year is not None:
        year_span = DateRange(date(on.year, 1, 1), on)
        year_table = await site_table(store, site, year_span)
        year = build_report(
            [year_table], baselines, PeriodKind.YEAR, year_span, Granularity.PERIOD, as_of_ms
        ).total
    out = threshold_alerts(
        site.id,
        month.rows[-1],  # the date itself
        month.total,
        year,
        site.kpi.waste_target_g_per_diner,
        site.kpi.off_hours_alert_share_pct,
    )
    presence = await store.device_presence(site.id)
    offline = offline_devices(site.id, presence, as_of_ms, site.timezone)
    return out + offline + silent_devices(month_table, as_of_ms)


def now_ms() -> int:
    """Epoch ms of the wall clock (routes pass it down so that tests can pick a moment)."""
    return int(datetime.now(tz=UTC).timestamp() * 1000)
