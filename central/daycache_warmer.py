"""Builds the KPI day cache of past dates in the background, so that reports find it warm.

A report composes its span from per-date cache entries (central.kpi.daycache); a date without a
valid entry is built when a report first needs it, from that date's readings (about 5 ms per
site-date). A site-year report of a canteen whose dates were never built takes seconds, and a
monthly ranking of a hundred canteens after a restart many seconds. The warmer does that work
ahead of the reports: every `interval_s` it asks the store, per site, which past local dates
(the last `days` dates before today) were written but have no entry valid for the site's
current configuration: dates that received readings since their entry was built, late data,
dates of a site whose configuration changed, and every written date after a first start on an
existing database. It builds them a few dates at a time, oldest first, yielding to requests
between chunks. Today is left to the reports: it changes with every batch.

Entries are only ever stored when no write touched their date since its readings were loaded
(the store's gen check), so the warmer never changes an answer, only how fast it comes.
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from central.kpi.daycache import config_key
from central.registry import Registry, Site
from central.reporting import build_day_entries
from central.store import DayCacheStore, StoreError

logger = logging.getLogger(__name__)

CHUNK_DATES = 7  # dates built per store round trip; requests run between chunks


@dataclass(slots=True)
class WarmerProgress:
    """How far the warmer got: `as_of_s` is the wall-clock start (epoch s) of its last completed
    pass, so every past date written before then (within the warmed range) has a valid entry;
    None before the first. Feeds central's KPI cache lag gauge (central/metrics.py)."""

    as_of_s: float | None = None


@dataclass(frozen=True, slots=True)
class WarmPass:
    """What one pass did."""

    sites: int
    built: int  # entries built and offered to the store
    seconds: float


def local_today(site: Site) -> date:
    return datetime.now(tz=site.timezone).date()


async def warm_site(store: DayCacheStore, site: Site, first: date, last: date) -> int:
    """Build the stale entries of `site` in [first, last]; return how many were built."""
    stale = await store.stale_day_entries(site.id, config_key(site), first, last)
    for at in range(0, len(stale), CHUNK_DATES):
        await build_day_entries(store, site, stale[at : at + CHUNK_DATES])
        await asyncio.sleep(0)  # let waiting requests use the store's threads
    return len(stale)


async def warm_once(
    store: DayCacheStore,
    sites: Sequence[Site],
    days: int,
    today_of: Callable[[Site], date] = local_today,
) -> WarmPass:
    """One pass over `sites`: the stale entries of their last `days` dates before today."""
    started = time.perf_counter()
    built = 0
    for site in sites:
        today = today_of(site)
        try:
            built += await warm_site(store, site, today - timedelta(days), today - timedelta(1))
        except StoreError:
            raise
        except Exception:
            # A report of these dates would fail the same way and say so; the warmer must not
            # take central (and ingest) down with it.
            logger.exception("day-cache warmer: site %s failed; next site", site.id)
    return WarmPass(len(sites), built, time.perf_counter() - started)


async def run_warmer(
    store: DayCacheStore,
    registry: Registry,
    interval_s: float,
    days: int,
    progress: WarmerProgress | None = None,
) -> None:
    """A pass now and then every `interval_s`, until cancelled; store errors are logged and the
    next pass tries again. Each completed pass moves `progress` on."""
    sites = list(registry.sites.values())
    progress = progress if progress is not None else WarmerProgress()
    while True:
        started_s = time.time()
        try:
            done = await warm_once(store, sites, days)
        except StoreError as exc:
            logger.warning("day-cache warmer: %s; next pass in %.0f s", exc, interval_s)
        else:
            progress.as_of_s = started_s
            if done.built:
                logger.info(
                    "day-cache warmer: built %d entries of %d sites in %.1f s",
                    done.built,
                    done.sites,
                    done.seconds,
                )
        await asyncio.sleep(interval_s)


@asynccontextmanager
async def day_cache_warmer(
    store: object, registry: Registry, interval_s: float, days: int
) -> AsyncIterator[WarmerProgress | None]:
    """Run the warmer beside the block when `store` keeps a day cache and `interval_s` > 0;
    the block gets its progress (None when no warmer runs)."""
    if interval_s <= 0 or not isinstance(store, DayCacheStore):
        yield None
        return
    progress = WarmerProgress()
    async with asyncio.TaskGroup() as tasks:
        task = tasks.create_task(
            run_warmer(store, registry, interval_s, days, progress), name="warmer"
        )
        try:
            yield progress
        finally:
            task.cancel()
