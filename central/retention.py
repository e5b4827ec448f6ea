"""Retention of raw readings (the SQLite store): readings older than CENTRAL_RAW_RETENTION_DAYS are
deleted once their dates are rolled up, and those dates are **sealed** (docs/operations.md).

Per site, the horizon is the last local date at least the retention before the site's today up
to which every rollup is current (not pending, built for the site's configuration, chained). A
pass first rolls up what is pending there (central.reporting.settle), then seals the dates up to
the horizon in one transaction that checks again that none became pending meanwhile, then deletes
the readings no later date's load reads, in transactions of at most `chunk_rows` rows each (so
ingest waits for at most one chunk). Deleting is idempotent: an interrupted pass goes on at the
next one. A sealed date is final: its rollup is never pending again (late readings for it are
refused, a configuration change does not touch it) and the one-load fallback never builds it
from readings (central.reporting.site_table); see central/store/sqlite_retention.py for what is
deleted and what is kept.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Protocol, runtime_checkable

from central.alert_history import MAX_HISTORY_DAYS
from central.kpi.daytable import load_range
from central.kpi.periods import DateRange
from central.kpi.rollup import EMPTY_CHAIN, config_key
from central.kpi.windows import local_today
from central.registry import Site
from central.reporting import now_ms, settle
from central.store import PruneStep, RollupStore, SealedStore

logger = logging.getLogger(__name__)

# The shortest retention: the alert history reaches MAX_HISTORY_DAYS back, and the alerts of its
# first date read the readings of that date's month to date (central.reporting.alerts).
MIN_RAW_RETENTION_DAYS = MAX_HISTORY_DAYS + 31
PRUNE_CHUNK_ROWS = 5000  # rows deleted per transaction


@runtime_checkable
class PruningStore(RollupStore, SealedStore, Protocol):
    """A store that keeps rollups and can seal dates (the SQLite store)."""


@dataclass(frozen=True, slots=True)
class SitePruned:
    """What a pass did for one site (a dry run: what it would do)."""

    site: str
    sealed_through: date | None  # the horizon after the pass
    sealed_before: date | None  # ... and before it
    deleted: PruneStep  # rows deleted (a dry run: rows that would be)
    note: str = ""  # why the horizon stayed before the cut-off, if it did


def cutoff(site: Site, retention_days: int, today: date | None = None) -> date:
    """The last local date old enough to be sealed."""
    return (local_today(site) if today is None else today) - timedelta(days=retention_days)


async def current_through(store: PruningStore, site: Site, first: date, last: date) -> date | None:
    """The last date of [first, last] up to which every rollup from `first` on is current:
    stored, not pending, of the site's configuration, chained onto the date before (a date
    without a row is current only when nothing carries into it); None when `first` is not."""
    key = config_key(site)
    before, rows = await store.load_rollups(site.id, key, first, last, last + timedelta(days=1))
    by_date = {r.on: r for r in rows}
    ends = EMPTY_CHAIN if before is None else before.ends or EMPTY_CHAIN
    good = None
    on = first
    while on <= last:
        row = by_date.get(on)
        if row is None:
            if ends != EMPTY_CHAIN:
                break  # never rolled up: its figures would come from its readings
        else:
            stale = row.pending_ms is not None or row.config != key or row.starts != ends
            if stale and not row.sealed:
                break
            ends = row.ends or EMPTY_CHAIN
        good = on
        on += timedelta(days=1)
    return good


async def prune_site(
    store: PruningStore,
    site: Site,
    retention_days: int,
    *,
    today: date | None = None,
    chunk_rows: int = PRUNE_CHUNK_ROWS,
    dry_run: bool = False,
) -> SitePruned:
    """Seal the site's dates up to the retention's cut-off as far as they are rolled up, then
    delete the raw readings no later date reads (a dry run changes nothing and counts)."""
    was = await store.sealed_through(site.id)
    cut = cutoff(site, retention_days, today)
    through, note = was, ""
    if was is None or was < cut:
        first = (
            was + timedelta(days=1) if was is not None else await store.first_rollup_date(site.id)
        )
        if first is None:
            note = "no rollups, or readings older than the first rollup: nothing is sealed"
        elif first <= cut:
            if not dry_run:  # roll up what is pending up to the cut-off first
                pending = await store.pending_rollups(site.id, cut)
                await settle(store, site, first, cut, pending, now_ms(), want_entries=False)
            candidate = await current_through(store, site, first, cut)
            if candidate is None or candidate < cut:
                stop = first if candidate is None else candidate + timedelta(days=1)
                note = f"{stop} is not rolled up yet (pending or being rebuilt)"
            if candidate is not None:
                nxt = candidate + timedelta(days=1)
                keep_from_ms = load_range(site, DateRange(nxt, nxt)).start_ms
                if dry_run:
                    counts = await store.prunable(site.id, candidate, keep_from_ms)
                    return SitePruned(site.id, candidate, was, counts, note)
                sealed = await store.seal(
                    site.id, candidate, config_key(site), keep_from_ms, site.kpi.clock
                )
                if sealed:
                    through = candidate
                else:
                    note = "a write made a date pending while sealing: next pass"
    if dry_run:
        return SitePruned(site.id, through, was, await store.prunable(site.id), note)
    readings = duplicate_counts = edge_duplicates = 0
    while True:
        step = await store.prune_step(site.id, chunk_rows)
        readings += step.readings
        duplicate_counts += step.duplicate_counts
        edge_duplicates += step.edge_duplicates
        if step.rows < chunk_rows:
            break
        await asyncio.sleep(0)  # let waiting requests use the store
    done = SitePruned(site.id, through, was, PruneStep(readings, duplicate_counts, edge_duplicates))
    if done.deleted.rows or through != was:
        logger.info(
            "retention: site %s sealed through %s (was %s); deleted %d readings, %d duplicate"
            " counts, %d edge duplicate keys%s",
            site.id,
            through,
            was,
            readings,
            duplicate_counts,
            edge_duplicates,
            f"; {note}" if note else "",
        )
    return replace(done, note=note)


async def prune(
    store: PruningStore,
    sites: Sequence[Site],
    retention_days: int,
    *,
    today: Callable[[Site], date] | None = None,
    chunk_rows: int = PRUNE_CHUNK_ROWS,
    dry_run: bool = False,
) -> list[SitePruned]:
    """`prune_site` for every site, one after the other."""
    return [
        await prune_site(
            store,
            site,
            retention_days,
            today=None if today is None else today(site),
            chunk_rows=chunk_rows,
            dry_run=dry_run,
        )
        for site in sites
    ]
