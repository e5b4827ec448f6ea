"""Reports, rankings and alerts from the store: rollups or readings, then the pure KPI code.

Every answer reflects the readings stored at the moment of the query, so readings that arrive
late (after an edge outage) are part of the next answer for their period. With the SQLite store,
a site's table is composed of its per-date rollups (central.kpi.rollup), which every write
marks pending in its own transaction and the maintainer (central.rollup_maintainer) rebuilds
shortly after; a date still pending at read time is built on read, chained from its stored
predecessor (`settle`), so an answer never shows stale figures, and says how fresh the rollups
were (`Freshness`). Without rollups (the InfluxDB store), a few queries per site and period: one
range scan of readings, one of duplicate counts, and one of the baseline period.
"""

import bisect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from central.kpi.alerts import (
    Alert,
    edge_alerts,
    offline_devices,
    silent_devices,
    threshold_alerts,
)
from central.kpi.counters import WalkState
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
    period_totals,
    rank_sites,
)
from central.kpi.rollup import (
    EMPTY_CHAIN,
    Freshness,
    build_rollup,
    compose,
    config_key,
    empty_entry,
    parse_chain,
)
from central.kpi.totals import Totals
from central.kpi.windows import local_instant_ms
from central.registry import Site
from central.store import (
    PendingRollups,
    ReadingsStore,
    RollupRow,
    RollupStore,
    RollupToSave,
    StoreError,
)

# Beyond the loaded range, each meter's nearest reading within this distance is loaded too, so
# that a gap reaching over the period's ends is spread (estimated) instead of lost.
METER_LOOKAROUND_MS = 3 * 24 * 3_600_000


# A raw kitchen bin's step reference, and a meter's next reading after a date, for rollups:
# however far (a late reference beyond the store's reach is passed on by the chain state; a
# meter back after a gap makes the gap's dates pending: `bridged_gap`).
ROLLUP_RAW_LOOKBACK_MS = 10 * 366 * 24 * 3_600_000
ROLLUP_METER_LOOKAROUND_MS = ROLLUP_RAW_LOOKBACK_MS
SAVE_CHUNK_DATES = 7  # rollups built on a walk are stored this many at a time
# A read that finds more dates pending than its span plus this many (a configuration change, a
# first start on an old database) builds its span from one load instead; the maintainer catches
# up meanwhile.
MAX_EXTRA_DATES_ON_READ = 31


async def site_table(
    store: ReadingsStore, site: Site, span: DateRange, freshness: Freshness | None = None
) -> DayTable:
    """Base quantities of `site` over `span`, from the readings stored now: composed of rollups
    when the store keeps them, else built from one load."""
    if isinstance(store, RollupStore):
        table = await rolled_up_table(store, site, span, freshness)
        if table is not None:
            return table
    return await fresh_site_table(store, site, span)


async def rolled_up_table(
    store: RollupStore, site: Site, span: DateRange, freshness: Freshness | None = None
) -> DayTable | None:
    """`span` composed of the site's rollups, pending ones built on read; None when the span
    should be built from one load (a long walk, or peak grids that do not line up)."""
    pending = await store.pending_rollups(site.id, span.last)
    if freshness is not None:
        freshness.add(pending.count, pending.oldest_ms)
    if pending.count > span.days + MAX_EXTRA_DATES_ON_READ:
        return None
    settled = await settle(store, site, span.first, span.last, pending, now_ms())
    if settled is None:
        return None
    return compose(site, span, settled.entries)


@dataclass(frozen=True, slots=True)
class Settled:
    """A walk's outcome: the entries of the dates asked for, what was built and stored."""

    entries: list[bytes]
    built: int
    stored: int


async def settle(
    store: RollupStore,
    site: Site,
    first: date,
    last: date,
    pending: PendingRollups,
    now: int,
    want_entries: bool = True,
    again: bool = True,
) -> Settled | None:
    """Walk the site's rollups from the first pending one (or `first`) to `last`, in date order:
    a rollup is taken when it is current (not pending, built for the site's configuration) and
    its starts equal the previous date's ends; otherwise the date is built from its readings,
    chained from the previous date's ends, and stored (gen-checked: two walkers converge).
    None when a rollup of another configuration shows up: the site's configuration changed,
    every rollup of it is now pending (the caller builds from one load, or walks again)."""
    key = config_key(site)
    start = first if pending.first is None else min(first, pending.first)
    before, rows = await store.load_rollups(site.id, key, start, last, first)
    current = (r for r in (before, *rows) if r is not None and r.pending_ms is None)
    if any(r.config != key for r in current):
        await store.set_rollup_config(site.id, key, now)
        return None
    by_date = {r.on: r for r in rows}
    ends = EMPTY_CHAIN if before is None else before.ends or EMPTY_CHAIN
    on = start
    entries: list[bytes] = []
    to_save: list[RollupToSave] = []
    gaps: list[tuple[date, date]] = []
    built = stored = 0
    written = sorted(by_date)
    while on <= last:
        row = by_date.get(on)
        if row is None and on < first:
            # no write touched the date, so it has no readings and ends as it starts: on to the
            # next written date (or the first asked for)
            at = bisect.bisect_left(written, on)
            on = min(first, written[at]) if at < len(written) else first
            continue
        if row is None and ends == EMPTY_CHAIN:
            # no readings and nothing carried into it (before a site's first reading): empty
            if want_entries:
                entries.append(empty_entry(site, on))
            on += timedelta(days=1)
            continue
        if row is not None and row.pending_ms is None and row.config == key and row.starts == ends:
            ends = row.ends or EMPTY_CHAIN
            if on >= first and want_entries:
                if row.entry is None:
                    raise StoreError(f"rollup {site.id} {on}: current but without entry")
                entries.append(row.entry)
        else:
            made = await build_date_rollup(store, site, on, ends)
            gap = bridged_gap(site, on, ends, made.ends, row)
            if gap is not None:
                gaps.append(gap)
            built += 1
            to_save.append(made)
            ends = made.ends
            if on >= first and want_entries:
                entries.append(made.entry)
            if len(to_save) >= SAVE_CHUNK_DATES:
                stored += await store.save_rollups(site.id, key, to_save, now)
                to_save = []
        on += timedelta(days=1)
    stored += await store.save_rollups(site.id, key, to_save, now)
    for lo, hi in gaps:
        await store.mark_rollups_pending(site.id, lo, hi, now)
    if again and any(lo <= last and hi >= first for lo, hi in gaps):
        pending = await store.pending_rollups(site.id, last)
        redone = await settle(store, site, first, last, pending, now, want_entries, again=False)
        if redone is not None:
            return Settled(redone.entries, built + redone.built, stored + redone.stored)
    return Settled(entries, built, stored)


def bridged_gap(
    site: Site, on: date, starts: bytes, ends: bytes, previous: RollupRow | None
) -> tuple[date, date] | None:
    """The dates a meter was silent on before its first reading of `on` (from the date of its
    last reading before), when they are more than the date before and the meter is back on `on`
    for the first time (its `previous` rollup, from the same starts, did not see it): those dates
    were rolled up without that reading, which their share of the consumption across the gap
    needs (counters.py spreads it). None when no meter came back after such a gap."""
    before, after = parse_chain(starts).meters, parse_chain(ends).meters
    seen: Mapping[str, WalkState] = {}
    if previous is not None and previous.starts == starts:
        seen = parse_chain(previous.ends).meters
    since = [
        datetime.fromtimestamp(state.last_ms / 1000, site.timezone).date()
        for device, state in before.items()
        if device in after
        and after[device].last_ms != state.last_ms
        and (device not in seen or seen[device].last_ms == state.last_ms)
    ]
    lo = min(since, default=on)
    return (lo, on - timedelta(days=1)) if lo < on - timedelta(days=1) else None


async def build_date_rollup(
    store: RollupStore, site: Site, on: date, starts: bytes
) -> RollupToSave:
    """The rollup of `site` on `on` from its readings stored now, chained from `starts`."""
    window = load_range(site, DateRange(on, on))
    meters = set(site.kpi.meters) | set(parse_chain(starts).meters)
    (inputs,) = await store.load_day_inputs(
        site.id,
        [(on, window.start_ms, window.end_ms)],
        ROLLUP_METER_LOOKAROUND_MS,
        tuple(sorted(meters)),
        raw_scale_lookback_ms=ROLLUP_RAW_LOOKBACK_MS,
        raw_clock=site.kpi.clock,
    )
    made = build_rollup(site, on, inputs.readings, inputs.duplicates, starts)
    return RollupToSave(on, inputs.gen, made.starts, made.ends, made.entry)


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


async def site_baseline(
    store: ReadingsStore, site: Site, freshness: Freshness | None = None
) -> Totals | None:
    """Totals of the site's configured baseline period (F9), or None without one."""
    if site.kpi.baseline is None:
        return None
    table = await site_table(store, site, DateRange(*site.kpi.baseline), freshness)
    return baseline_totals(table)


def new_freshness(store: ReadingsStore) -> Freshness | None:
    """An empty Freshness for an answer from `store`; None when it keeps no rollups."""
    return Freshness(now_ms()) if isinstance(store, RollupStore) else None


async def report(
    store: ReadingsStore,
    sites: Sequence[Site],
    period: PeriodKind,
    span: DateRange,
    granularity: Granularity,
    now_ms: int,
) -> Report:
    """A report of one site, or of several summed (a region), with the rollups' freshness."""
    freshness = new_freshness(store)
    tables = [await site_table(store, site, span, freshness) for site in sites]
    baselines = {site.id: await site_baseline(store, site, freshness) for site in sites}
    built = build_report(tables, baselines, period, span, granularity, now_ms)
    return replace(built, rollups=freshness)


@dataclass(frozen=True, slots=True)
class Ranking:
    kpi: str
    descending: bool
    span: DateRange
    sites: tuple[RankedSite, ...]
    region_total: Row  # the period's row of every site together
    rollups: Freshness | None = None  # None: the store keeps no rollups


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
    freshness = new_freshness(store)
    parts = []
    for site in sites:  # one site's table at a time: a network's would not fit in memory
        table = await site_table(store, site, span, freshness)
        baseline = await site_baseline(store, site, freshness)
        parts.append(period_totals(table, baseline, period, span, now_ms))
    rows, region = period_rows([s.id for s in sites], parts, period, span)
    per_site = [(s.id, s.name, row) for s, row in zip(sites, rows, strict=True)]
    ranked = tuple(rank_sites(per_site, kpi, descending))
    return Ranking(kpi, descending, span, ranked, region, freshness)


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
    return out + offline + silent_devices(month_table, as_of_ms, start_ms) + edges


async def meter_alerts(
    store: ReadingsStore, site: Site, on: date, now_ms: int
) -> tuple[frozenset[str], list[Alert]]:
    """The meters judged (configured, or with readings this month) and their `device_silent`
    and `device_late` alerts for local date `on` (as `alerts` gives them), from one load of the
    month to date."""
    as_of_ms = min(now_ms, local_instant_ms(on + timedelta(days=1), time(0, 0), site.timezone))
    month_table = await fresh_site_table(store, site, DateRange(on.replace(day=1), on))
    start_ms = local_instant_ms(on, time(0, 0), site.timezone)
    meters = frozenset(d.device for d in month_table.devices if d.kind == "meter")
    return meters, silent_devices(month_table, as_of_ms, start_ms)


def now_ms() -> int:
    """Epoch ms of the wall clock (routes pass it down so that tests can pick a moment)."""
    return int(datetime.now(tz=UTC).timestamp() * 1000)
