"""Reports, rankings and alerts from the store: rollups or readings, then the pure KPI code.

Every answer reflects the readings stored at the moment of the query, so readings that arrive
late (after an edge outage) are part of the next answer for their period. With the SQLite store,
a site's table is composed of its per-date rollups (central.kpi.rollup), which every write
marks pending in its own transaction and the maintainer (central.rollup_maintainer) rebuilds
shortly after; a date still pending at read time is built on read, chained from its stored
predecessor (`settle`), so an answer never shows stale figures, and says how fresh the rollups
were (`Freshness`). The InfluxDB store keeps rollups too, marked without transactions
(central/store/influx_rollup.py). Without rollups, a few queries per site and period: one
range scan of readings, one of duplicate counts, and one of the baseline period.
"""

import bisect
import contextlib
import gc
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta

from central.derived import DerivedSeriesSink, derive
from central.kpi.alerts import (
    Alert,
    edge_alerts,
    meters_as_loaded,
    offline_devices,
    silent_meters,
    threshold_alerts,
)
from central.kpi.counters import MeterCurve, WalkState
from central.kpi.daytable import DayTable, build_day_table, day_meter_curves, load_range
from central.kpi.dishes import DishTable, build_dish_table, compose_dish_tables
from central.kpi.months import (
    CURRENT_HEAD,
    DatesSummary,
    SiteParts,
    is_current,
    month_of,
    month_parts,
    of_blobs,
    summarise,
    summed_totals,
)
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.rawbins import RAW_SCALE_LOOKBACK_MS
from central.kpi.readings import CardReadings, MeterReadings, ScaleReadings, SiteReadings
from central.kpi.report import (
    RankedSite,
    Report,
    Row,
    baseline_totals,
    build_report,
    period_kpis,
    period_totals,
    rank_totals,
    report_of_totals,
)
from central.kpi.rollup import (
    EMPTY_CHAIN,
    EntryLayoutError,
    Freshness,
    build_rollup,
    carries,
    compose,
    config_key,
    empty_entry,
    entry_services,
    parse_chain,
)
from central.kpi.totals import Totals
from central.kpi.values import KpiValue
from central.kpi.windows import local_instant_ms
from central.registry import Site
from central.store import (
    DayInputs,
    MonthSummaryStore,
    PendingRollups,
    ReadingsStore,
    RollupRow,
    RollupStore,
    RollupToSave,
    SealedPeriodUnreadable,
    SealedStore,
    StoreError,
    SummaryBlobs,
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
    when the store keeps them, else built from one load (never the sealed dates: their raw
    readings are pruned, central/retention.py)."""
    if isinstance(store, RollupStore):
        table = await rolled_up_table(store, site, span, freshness)
        if table is not None:
            return table
        through = await store.sealed_through(site.id) if isinstance(store, SealedStore) else None
        if through is not None and span.first <= through:
            return await sealed_site_table(store, site, span)
    return await fresh_site_table(store, site, span)


async def sealed_site_table(store: ReadingsStore, site: Site, span: DateRange) -> DayTable:
    """`span`, which reaches sealed dates, when `rolled_up_table` declined it (many pending
    dates, a configuration change, peak grids that do not line up): never from one load, since
    the sealed dates' raw readings are pruned; every date from its rollup, however many pending
    ones have to be built on read."""
    if not isinstance(store, RollupStore):
        raise StoreError(f"{site.id}: sealed dates need the store's rollups")
    pending = await store.pending_rollups(site.id, span.last)
    settled = await settle(store, site, span.first, span.last, pending, now_ms())
    if settled is None:  # the configuration changed just now: walk again under the new one
        pending = await store.pending_rollups(site.id, span.last)
        settled = await settle(store, site, span.first, span.last, pending, now_ms())
    if settled is None:
        raise StoreError(f"rollups of {site.id}: {span} could not be read")
    table = compose(site, span, settled.entries)
    if table is None:
        raise SealedPeriodUnreadable(
            f"site {site.id}: the dates of {span.first}..{span.last} do not share one 15-minute"
            " peak grid (the time zone's offset changed by other than a multiple of 15 minutes)"
            " and some are sealed: ask for periods on either side of the change"
        )
    return table


async def rolled_up_table(
    store: RollupStore, site: Site, span: DateRange, freshness: Freshness | None = None
) -> DayTable | None:
    """`span` composed of the site's rollups, pending ones built on read; None when the span
    should be built from one load (a long walk, or peak grids that do not line up)."""
    settled = await settled_span(store, site, span, freshness)
    if settled is None:
        return None
    return compose(site, span, settled.entries)


async def settled_span(
    store: RollupStore, site: Site, span: DateRange, freshness: Freshness | None = None
) -> "Settled | None":
    """The rollups of `span`, pending ones built on read; None when the span should be built
    from one load (a long walk, or the site's configuration changed)."""
    pending = await store.pending_rollups(site.id, span.last)
    if freshness is not None:
        freshness.add(pending.count, pending.oldest_ms)
    if pending.count > span.days + MAX_EXTRA_DATES_ON_READ:
        return None
    return await settle(store, site, span.first, span.last, pending, now_ms())


@dataclass(frozen=True, slots=True)
class Settled:
    """A walk's outcome: the entries and dish sums of the dates asked for, what was built and
    stored."""

    entries: list[bytes]
    built: int
    stored: int
    dishes: list[bytes]


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
    if any(r.config != key and not r.sealed for r in current):
        await store.set_rollup_config(site.id, key, now)
        return None
    by_date = {r.on: r for r in rows}
    ends = EMPTY_CHAIN if before is None else before.ends or EMPTY_CHAIN
    on = start
    entries: list[bytes] = []
    dishes: list[bytes] = []
    to_save: list[RollupToSave] = []
    gaps: list[tuple[date, date]] = []
    built = stored = 0
    written = sorted(by_date)
    while on <= last:
        row = by_date.get(on)
        if row is None and on < first and not carries(ends):
            # no write touched the date, so it has no readings and ends as it starts (unless
            # energy is carried into it: rollup.Chain): on to the next written date (or the
            # first asked for)
            at = bisect.bisect_left(written, on)
            on = min(first, written[at]) if at < len(written) else first
            continue
        if row is None and ends == EMPTY_CHAIN:
            # no readings and nothing carried into it (before a site's first reading): empty
            if want_entries:
                entries.append(empty_entry(site, on))
                dishes.append(b"")
            on += timedelta(days=1)
            continue
        if row is not None and row.sealed:
            # final: its raw readings are pruned (central/retention.py), it is never rebuilt
            ends = row.ends or EMPTY_CHAIN
            if on >= first and want_entries:
                if row.entry is None or row.dishes is None:
                    raise StoreError(f"rollup {site.id} {on}: sealed without entry or dish sums")
                if row.config != key and sealed_services(site, on, row.entry) != len(site.services):
                    raise SealedPeriodUnreadable(
                        f"site {site.id}: {on} is sealed with another number of meal services"
                        " than the registry gives now; periods reaching it cannot be composed"
                        " (docs/operations.md, retention)"
                    )
                entries.append(row.entry)
                dishes.append(row.dishes)
        elif (
            row is not None and row.pending_ms is None and row.config == key and row.starts == ends
        ):
            ends = row.ends or EMPTY_CHAIN
            if on >= first and want_entries:
                if row.entry is None or row.dishes is None:
                    raise StoreError(
                        f"rollup {site.id} {on}: current but without entry or dish sums"
                    )
                entries.append(row.entry)
                dishes.append(row.dishes)
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
                dishes.append(made.dishes)
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
            return Settled(
                redone.entries, built + redone.built, stored + redone.stored, redone.dishes
            )
    return Settled(entries, built, stored, dishes)


def sealed_services(site: Site, on: date, entry: bytes) -> int:
    """The number of meal services a sealed date's entry was built with; a clear refusal when
    this version cannot read its layout (central.kpi.rollup, ENTRY_LAYOUT)."""
    try:
        return entry_services(entry)
    except EntryLayoutError as exc:
        raise SealedPeriodUnreadable(
            f"site {site.id}: {on} is sealed and its rollup is in a layout this version cannot"
            f" read ({exc}); run the version that sealed it, or restore a backup taken before"
            " the upgrade (docs/operations.md, retention)"
        ) from exc


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
    inputs = await load_date_inputs(store, site, on, starts)
    made = build_rollup(site, on, inputs.readings, inputs.duplicates, starts)
    if isinstance(store, DerivedSeriesSink) and store.derived_series:
        # the date's series for dashboards, from this rollup and its readings, before the
        # rollup is saved (a failed write leaves the date pending: written again on its rebuild)
        span = DateRange(on, on)
        table = compose(site, span, [made.entry])
        walks = day_meter_curves(site, on, inputs.readings, parse_chain(starts).meters)
        curves = [curve for quantity in walks.values() for curve in quantity]
        await store.write_derived(derive(site, span, inputs.readings, table, curves))
    return RollupToSave(on, inputs.gen, made.starts, made.ends, made.entry, made.dishes)


async def load_date_inputs(store: RollupStore, site: Site, on: date, starts: bytes) -> DayInputs:
    """What the rollup of `site` on `on`, chained from `starts`, is built from."""
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
    return inputs


async def day_curves(store: ReadingsStore, site: Site, on: date) -> dict[str, list[MeterCurve]]:
    """Per quantity, the cleaned meter curves the KPIs of `site` on local date `on` are computed
    from: with rollups, those its rollup is built from, resumed from the stored date before
    (read after a report of the date has settled it); else those of one load of the date."""
    if isinstance(store, RollupStore):
        before, rows = await store.load_rollups(site.id, config_key(site), on, on, on)
        starts = rows[0].starts if rows else None
        if starts is None:  # no write touched the date: it starts where the one before ends
            starts = EMPTY_CHAIN if before is None else before.ends or EMPTY_CHAIN
        inputs = await load_date_inputs(store, site, on, starts)
        return day_meter_curves(site, on, inputs.readings, parse_chain(starts).meters)
    meter = await load_meter_readings(store, site, DateRange(on, on))
    meters_only = SiteReadings(ScaleReadings.empty(), CardReadings.empty(), meter)
    return day_meter_curves(site, on, meters_only)


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
    store: ReadingsStore,
    sites: Sequence[Site],
    span: DateRange,
    freshness: Freshness | None = None,
) -> list[DishTable]:
    """Waste by dish and reason of each site over `span` (central.kpi.dishes), from the readings
    stored now: composed of the dish sums of the site's rollups when the store keeps them, else
    built from one load of its readings."""
    return [await site_dish_table(store, site, span, freshness) for site in sites]


async def site_dish_table(
    store: ReadingsStore, site: Site, span: DateRange, freshness: Freshness | None = None
) -> DishTable:
    """One site's waste by dish and reason over `span` (dish_tables)."""
    if isinstance(store, RollupStore):
        settled = await settled_span(store, site, span, freshness)
        if settled is not None:
            return compose_dish_tables(site, span, settled.dishes)
    return build_dish_table(site, span, await load_site_readings(store, site, span))


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
    freshness: Freshness | None = None,
) -> Report:
    """A report of one site, or of several summed (a region), with the rollups' freshness
    (counted into `freshness` when given: an answer of several reports)."""
    freshness = new_freshness(store) if freshness is None else freshness
    if granularity in (Granularity.MONTH, Granularity.PERIOD):
        summed = await _summed_report(store, sites, period, span, granularity, now_ms, freshness)
        if summed is not None:
            return replace(summed, rollups=freshness)
    tables = [await site_table(store, site, span, freshness) for site in sites]
    baselines = {site.id: await site_baseline(store, site, freshness) for site in sites}
    built = build_report(tables, baselines, period, span, granularity, now_ms)
    return replace(built, rollups=freshness)


async def _summed_report(
    store: ReadingsStore,
    sites: Sequence[Site],
    period: PeriodKind,
    span: DateRange,
    granularity: Granularity,
    read_ms: int,
    freshness: Freshness | None,
) -> Report | None:
    """A report by month or of the whole period from the sites' month summaries (each month
    row is one part of `month_parts`), or None when a site's cannot be had that way."""
    summed = None if freshness is None else Freshness(freshness.read_ms)
    of_sites = await sites_summaries(store, sites, span, summed, devices=True)
    if of_sites is None or any(parts is None for parts in of_sites):
        return None  # counted nothing into `freshness`: the caller composes every date
    if freshness is not None and summed is not None:
        freshness.add(summed.pending_dates, summed.oldest_pending_ms)
    every = [parts for parts in of_sites if parts is not None]
    baselines = [await site_baseline(store, site, freshness) for site in sites]
    per_site_whole = summed_totals(sites, every, baselines, read_ms, with_devices=True)
    if granularity is Granularity.MONTH:
        months = summed_totals(sites, every, baselines, read_ms, each_part=True, with_devices=True)
        at = iter(months)
        per_site_rows = [[next(at) for _ in parts.spans] for parts in every]
    else:
        per_site_rows = [[whole] for whole in per_site_whole]
    ids = tuple(s.id for s in sites)
    return report_of_totals(ids, period, span, granularity, per_site_rows, per_site_whole)


async def sites_summaries(
    store: ReadingsStore,
    sites: Sequence[Site],
    span: DateRange,
    freshness: Freshness | None,
    devices: bool,
) -> list[SiteParts | None] | None:
    """`site_summaries` of every site, with their device parts when `devices`; None when the
    store keeps no month summaries or the span has no whole month. When the span is whole
    months, the sites' stored summaries are read together; a site with pending dates up to the
    span's end (at most a few on a running central) or a missing, stale or old-layout summary,
    and every site of a span with partial months, takes `site_summaries` (which builds and
    stores what is missing)."""
    if not isinstance(store, MonthSummaryStore) or not isinstance(store, RollupStore):
        return None
    parts = month_parts(span)
    spans = [p for p, _ in parts]
    if not any(whole for _, whole in parts):
        return None
    stored: dict[str, list[SummaryBlobs]] = {}
    if all(whole for _, whole in parts):
        pending = {  # (a date pending after the span, today's say, changes nothing in it)
            site
            for site, p in (await store.pending_rollup_sites()).items()
            if p.first is not None and p.first <= span.last
        }
        configs = {site.id: config_key(site) for site in sites if site.id not in pending}
        months = [p.first for p in spans]
        stored = await store.current_month_summaries(configs, months, CURRENT_HEAD, devices)
    out: list[SiteParts | None] = []
    for site in sites:
        blobs = stored.get(site.id)
        if blobs is not None:
            site_parts = [b.site for b in blobs]
            out.append(SiteParts(spans, site_parts, [b.devices for b in blobs] if devices else ()))
            continue
        summaries = await site_summaries(store, site, span, freshness)
        out.append(None if summaries is None else SiteParts.of(summaries))
    return out


async def site_summaries(
    store: ReadingsStore, site: Site, span: DateRange, freshness: Freshness | None = None
) -> list[DatesSummary] | None:
    """The summaries of `span`'s parts (central.kpi.months): its whole months' stored ones
    (built from their dates' rollups and stored when missing or stale), its partial months'
    built from their dates' rollups; None when the store keeps no month summaries, the span has
    no whole month, or its dates are to be built from one load (`settled_span`)."""
    if not isinstance(store, MonthSummaryStore) or not isinstance(store, RollupStore):
        return None
    parts = month_parts(span)
    months = [p.first for p, whole in parts if whole]
    if not months:
        return None
    key = config_key(site)
    stored = await store.month_summaries(site.id, key, months)
    first_pending = pending = await store.pending_rollups(site.id, span.last)
    if pending.count > span.days + MAX_EXTRA_DATES_ON_READ:
        return None
    out = []
    for part, whole in parts:
        gen, blobs = stored.get(part.first, (0, None)) if whole else (0, None)
        if blobs is not None and is_current(blobs.site):
            out.append(of_blobs(blobs.site, blobs.devices))
            continue  # (one of another layout, built by another version, is rebuilt below)
        made = await _summarise(store, site, part, pending, key, gen if whole else None)
        if made is None:
            return None
        summary, walked = made
        out.append(summary)
        if walked.built:
            pending = await store.pending_rollups(site.id, span.last)
    if freshness is not None:
        freshness.add(first_pending.count, first_pending.oldest_ms)
    return out


async def _summarise(
    store: RollupStore,
    site: Site,
    part: DateRange,
    pending: PendingRollups,
    key: str,
    gen: int | None,
) -> tuple[DatesSummary, Settled] | None:
    """The summary of `part` from its dates' rollups (pending ones built and stored), stored as
    its month's when `gen` is given: the month's gen read before its rollups were (the store
    refuses the summary when a rollup of the month changed since; when this walk built dates,
    they changed it: the gen is read again and the dates loaded again). Also the walk's
    outcome."""
    settled = await settle(store, site, part.first, part.last, pending, now_ms())
    if settled is None:
        return None
    walked = settled
    if gen is not None and isinstance(store, MonthSummaryStore) and settled.built:
        gen = (await store.month_summaries(site.id, key, [part.first]))[part.first][0]
        pending = await store.pending_rollups(site.id, part.last)
        again = await settle(store, site, part.first, part.last, pending, now_ms())
        if again is not None and not again.built:
            settled = again
        else:
            gen = None  # written to meanwhile: this read's summary is right, not stored
    summary = summarise(site, part, settled.entries)
    if summary is None:
        return None
    if gen is not None and isinstance(store, MonthSummaryStore):
        blobs = SummaryBlobs(summary.site, summary.devices)
        await store.save_month_summary(site.id, part.first, key, gen, blobs)
    return summary, walked


@dataclass(frozen=True, slots=True)
class MonthsRefreshed:
    """What `refresh_month_summaries` did: summaries built, and the dates it had to build."""

    months: int
    built: int
    stored: int


async def refresh_month_summaries(store: RollupStore, site: Site, today: date) -> MonthsRefreshed:
    """Rebuild the site's stale month summaries of months before `today`'s (the maintainer,
    after it settled the site's dates)."""
    if not isinstance(store, MonthSummaryStore):
        return MonthsRefreshed(0, 0, 0)
    key = config_key(site)
    months = built = stored = 0
    for month in await store.stale_months(site.id, today.replace(day=1)):
        span = month_of(month)
        gen, blob = (await store.month_summaries(site.id, key, [month]))[month]
        if blob is not None:
            continue
        pending = await store.pending_rollups(site.id, span.last)
        made = await _summarise(store, site, span, pending, key, gen)
        if made is not None:
            months += 1
            built += made[1].built
            stored += made[1].stored
    return MonthsRefreshed(months, built, stored)


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
    """Sites ranked by one KPI over the period, and the region's total: from the sites' month
    summaries summed together (`summed_totals`) where they can be had, else (no whole month in
    the span, a store without summaries) from each site's composed table, one at a time."""
    freshness = new_freshness(store)
    summaries = await sites_summaries(store, sites, span, freshness, devices=False)
    of_sites = summaries or [None] * len(sites)
    baselines = [await site_baseline(store, site, freshness) for site in sites]
    summed = [(i, parts) for i, parts in enumerate(of_sites) if parts is not None]
    with collector_paused():
        rows = (
            summed_totals(
                [sites[i] for i, _ in summed],
                [parts for _, parts in summed],
                [baselines[i] for i, _ in summed],
                now_ms,
            )
            if summed
            else []
        )
    of_summed = dict(zip((i for i, _ in summed), rows, strict=True))
    totals = []
    for i, (site, baseline) in enumerate(zip(sites, baselines, strict=True)):
        row = of_summed.get(i)
        if row is None:  # one site's table at a time: a network's would not fit in memory
            table = await site_table(store, site, span, freshness)
            row = period_totals(table, baseline, period, span, now_ms)
        totals.append(row)
    ids = [(s.id, s.name) for s in sites]
    with collector_paused():
        ranked, region = rank_totals(ids, totals, kpi, descending, period, span)
    return Ranking(kpi, descending, span, tuple(ranked), region, freshness)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off (as it was after) for a synchronous burst of
    short-lived objects, a ranking's rows (a few dozen per site, freed by reference counting):
    their allocations would otherwise set off passes over the whole process heap, ~20% of a
    10,000-site ranking (docs/performance.md)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


async def alerts(
    store: ReadingsStore,
    site: Site,
    on: date,
    now_ms: int,
    freshness: Freshness | None = None,
) -> list[Alert]:
    """Alerts of `site` for local date `on`, evaluated at the end of that date (or now):
    `alerts_over` of that date alone."""
    return (await alerts_over(store, site, DateRange(on, on), now_ms, freshness))[on]


async def alerts_over(
    store: ReadingsStore,
    site: Site,
    span: DateRange,
    now_ms: int,
    freshness: Freshness | None = None,
) -> dict[date, list[Alert]]:
    """Alerts of `site` on each date of `span`, each evaluated at the end of its date (or now),
    as `alerts` gives them date by date, from a few reads whatever the span's length:

    - quota, waste target and off-hours share from one table of the site's rollups (`site_table`)
      from the first date's month (year, with a yearly quota) to the last: each date's row, its
      month to date and year to date are periods of that table, as in /kpis (`period_kpis`);
    - `device_silent`/`device_late`, which need receive times, from one load of the meters'
      readings from the first date's month: each date judges its meters on what a load of its
      own month to date holds (`meters_as_loaded`), so the dates of a range are judged exactly as
      one by one;
    - `device_offline` from the devices' latest status (one small read); edge losses from the
      edges' health reports of each date (two small queries per date).
    """
    yearly = site.kpi.energy_quota_kgce_year is not None
    first = date(span.first.year, 1, 1) if yearly else span.first.replace(day=1)
    table = await site_table(store, site, DateRange(first, span.last), freshness)
    meters = await load_meter_readings(store, site, DateRange(span.first.replace(day=1), span.last))
    presence = await store.device_presence(site.id)
    dates = list(span.dates())
    # each date's row, month to date and year to date, the latter two only with a quota; each
    # ends at its date's end, so `now_ms` gives each the share of its quota a report of it
    # would (one computation for every date)
    kpi = site.kpi
    quotas = kpi.energy_quota_kgce_month is not None or yearly
    targets = kpi.waste_target_g_per_diner is not None or kpi.off_hours_alert_share_pct is not None
    day_spans = [DateRange(on, on) for on in dates] if targets else []
    month_spans = [DateRange(on.replace(day=1), on) for on in dates] if quotas else []
    year_spans = [DateRange(date(on.year, 1, 1), on) for on in dates] if yearly else []
    figures = iter(period_kpis(table, [*day_spans, *month_spans, *year_spans], now_ms))

    def each_date(spans: list[DateRange]) -> list[Mapping[str, KpiValue] | None]:
        return [next(figures) for _ in spans] if spans else [None] * len(dates)

    day_kpis, month_kpis, year_kpis = (
        each_date(day_spans),
        each_date(month_spans),
        each_date(year_spans),
    )
    out: dict[date, list[Alert]] = {}
    for i, on in enumerate(dates):
        start_ms = local_instant_ms(on, time(0, 0), site.timezone)
        end_ms = local_instant_ms(on + timedelta(days=1), time(0, 0), site.timezone)
        as_of_ms = min(now_ms, end_ms)
        found = threshold_alerts(
            site.id,
            day_kpis[i],
            month_kpis[i],
            year_kpis[i],
            kpi.waste_target_g_per_diner,
            kpi.off_hours_alert_share_pct,
        )
        found += offline_devices(site.id, presence, as_of_ms, site.timezone)
        found += judge_meters(site, meters, on, as_of_ms)[1]
        found += edge_alerts(site.id, await store.edge_health(site.id, start_ms, end_ms))
        out[on] = found
    return out


async def load_meter_readings(store: ReadingsStore, site: Site, span: DateRange) -> MeterReadings:
    """The meter readings a load of `span` holds (load_site_readings): each meter's nearest
    readings around it included."""
    window = load_range(site, span)
    readings = await store.load_readings(
        site.id,
        window.start_ms,
        window.end_ms,
        meter_lookaround_ms=METER_LOOKAROUND_MS,
        meter_devices=tuple(site.kpi.meters),
    )
    return readings.meter


def judge_meters(
    site: Site, meters: MeterReadings, on: date, as_of_ms: int
) -> tuple[frozenset[str], list[Alert]]:
    """The meters judged on `on` (configured, or with readings in its month to date) and their
    `device_silent`/`device_late` alerts at `as_of_ms`, from `meters` loaded over the month to
    date of `on` or over a range that contains it (load_meter_readings)."""
    window = load_range(site, DateRange(on.replace(day=1), on))
    judged = meters_as_loaded(
        meters, site.kpi.clock, site.kpi.meters, window.start_ms, window.end_ms, METER_LOOKAROUND_MS
    )
    start_ms = local_instant_ms(on, time(0, 0), site.timezone)
    return frozenset(m.device for m in judged), silent_meters(site, judged, as_of_ms, start_ms)


async def meter_alerts(
    store: ReadingsStore, site: Site, on: date, now_ms: int
) -> tuple[frozenset[str], list[Alert]]:
    """The meters judged (configured, or with readings this month) and their `device_silent`
    and `device_late` alerts for local date `on` (as `alerts` gives them), from one load of the
    month's meter readings to date."""
    as_of_ms = min(now_ms, local_instant_ms(on + timedelta(days=1), time(0, 0), site.timezone))
    meters = await load_meter_readings(store, site, DateRange(on.replace(day=1), on))
    return judge_meters(site, meters, on, as_of_ms)


def now_ms() -> int:
    """Epoch ms of the wall clock (routes pass it down so that tests can pick a moment)."""
    return int(datetime.now(tz=UTC).timestamp() * 1000)
