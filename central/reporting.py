"""Reports, rankings and alerts from the store: loads each site's readings, then the pure KPI code.

Every answer reflects the readings stored at the moment of the query, so readings that arrive
late (after an edge outage) are part of the next answer for their period. Without a day cache
(the InfluxDB store), a few queries per site and period: one range scan of readings, one of
duplicate counts, and one of the baseline period when the site has one. With the SQLite store's
day cache (central.kpi.daycache), a site's table is composed of per-date entries that every write
affecting the date invalidates in its own transaction; dates without a valid entry are built and
stored, and a span whose composition is not proven exact is built from one load as before.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from central.kpi.alerts import (
    Alert,
    edge_alerts,
    offline_devices,
    silent_devices,
    threshold_alerts,
)
from central.kpi.daycache import build_entry, compose, config_key
from central.kpi.daytable import DayTable, build_day_table, load_range
from central.kpi.dishes import DishTable, build_dish_table
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.rawbins import RAW_SCALE_LOOKBACK_MS
from central.kpi.readings import SiteReadings
from central.kpi.report import (
    RankedSite,
    Report,
    Row,
    baseline_totals,
    build_report,
    period_rows,
    rank_sites,
)
from central.kpi.totals import Totals
from central.kpi.windows import local_instant_ms
from central.registry import Site
from central.store import DayCacheStore, ReadingsStore

# Beyond the loaded range, each meter's nearest reading within this distance is loaded too, so
# that a gap reaching over the period's ends is spread (estimated) instead of lost.
METER_LOOKAROUND_MS = 3 * 24 * 3_600_000


async def site_table(store: ReadingsStore, site: Site, span: DateRange) -> DayTable:
    """Base quantities of `site` over `span`, from the readings stored now (through the day
    cache when the store keeps one)."""
    if isinstance(store, DayCacheStore):
        table = await cached_site_table(store, site, span)
        if table is not None:
            return table
    return await fresh_site_table(store, site, span)


async def cached_site_table(store: DayCacheStore, site: Site, span: DateRange) -> DayTable | None:
    """`span` composed of per-date cache entries (missing ones built and stored), or None when
    the composition is not proven equal to a fresh build (central.kpi.daycache)."""
    key = config_key(site)
    stored = await store.load_day_entries(site.id, key, span.first, span.last)
    entries: dict[date, bytes] = {}
    missing = []
    for on in span.dates():
        entry = stored.get(on.isoformat(), (0, None))[1]
        if entry is None:
            missing.append(on)
        else:
            entries[on] = entry
    if missing:
        entries.update(await build_day_entries(store, site, missing))
    return compose(site, span, [entries[on] for on in span.dates()])


async def build_day_entries(
    store: DayCacheStore, site: Site, dates: Sequence[date]
) -> dict[date, bytes]:
    """Build the cache entries of `dates` from the readings stored now, and store them (an
    entry whose date was written meanwhile is not stored: its gen moved)."""
    days = []
    for on in dates:
        window = load_range(site, DateRange(on, on))
        days.append((on, window.start_ms, window.end_ms))
    inputs = await store.load_day_inputs(
        site.id,
        days,
        METER_LOOKAROUND_MS,
        tuple(site.kpi.meters),
        raw_scale_lookback_ms=RAW_SCALE_LOOKBACK_MS,
        raw_clock=site.kpi.clock,
    )
    built = [(i.on, i.gen, build_entry(site, i.on, i.readings, i.duplicates)) for i in inputs]
    await store.save_day_entries(site.id, config_key(site), built)
    return {on: blob for on, _, blob in built}


async def load_site_readings(store: ReadingsStore, site: Site, span: DateRange) -> SiteReadings:
    """Everything the KPIs of `site` over `span` read: the readings of its windows, each meter's
    nearest readings around them and each raw bin's step reference."""
    window = load_range(site, span)
    return await store.load_readings(
        site.id,
        window.start_ms,
        window.end_ms,
        meter_lookaround_ms=METER_LOOKAROUND_MS,
        meter_devices=tuple(site.kpi.meters),
        raw_scale_lookback_ms=RAW_SCALE_LOOKBACK_MS,
        raw_clock=site.kpi.clock,
    )


async def fresh_site_table(store: ReadingsStore, site: Site, span: DateRange) -> DayTable:
    """Base quantities of `site` over `span`, built from one load of the readings stored now."""
    readings = await load_site_readings(store, site, span)
    duplicates = await store.load_duplicates(site.id, span.first, span.last)
    return build_day_table(site, span, readings, duplicates)


async def dish_tables(
    store: ReadingsStore, sites: Sequence[Site], span: DateRange
) -> list[DishTable]:
    """Waste by dish and reason of each site over `span` (central.kpi.dishes), from one load of
    the readings stored now per site."""
    return [build_dish_table(s, span, await load_site_readings(store, s, span)) for s in sites]


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
    region_total: Row  # the period's row of every site together


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
    rows, region = period_rows(tables, baselines, period, span, now_ms)
    per_site = [(t.site.id, t.site.name, row) for t, row in zip(tables, rows, strict=True)]
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
    month_table = await fresh_site_table(store, site, month_span)  # receive times: not cached
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
    start_ms = local_instant_ms(on, time(0, 0), site.timezone)
    end_ms = local_instant_ms(on + timedelta(days=1), time(0, 0), site.timezone)
    edges = edge_alerts(site.id, await store.edge_health(site.id, start_ms, end_ms))
    return out + offline + silent_devices(month_table, as_of_ms) + edges


def now_ms() -> int:
    """Epoch ms of the wall clock (routes pass it down so that tests can pick a moment)."""
    return int(datetime.now(tz=UTC).timestamp() * 1000)
