"""Keeps the KPI rollups (central.kpi.rollup) current, off the request path.

Every write marks the local dates it touches pending: in its own transaction (the SQLite store's
`kpi_rollup` rows), or by `rollup_mark` points written after its readings (the InfluxDB store,
central/store/influx_rollup.py). The maintainer wakes shortly after writes (ingest calls `poke`;
a debounce of `debounce_s` gathers a burst of batches into one pass) and at least every
`sweep_interval_s`, asks the store which sites have pending dates, and per site walks from the
first pending date in date order (central.reporting.settle): each pending date is rebuilt from
its readings, chained from the stored ends of the date before; when a rebuilt date's ends differ
from the next date's starts, the next date is pending (SQLite marks it in the same transaction,
InfluxDB finds it by comparing the two), and the pass goes on until no date is pending; then
the site's stale month summaries of past months are rebuilt from their dates' rollups
(central.kpi.months; SQLite only). A pass
also records each site's configuration key, so that a changed registry makes every rollup of the
changed sites pending. With a retention
(`retention_days`), each sweep also prunes the raw readings of rolled-up dates older than it
(central/retention.py), site after site.

Rollups are only stored when no write touched their date since its readings were read and when
they chain onto the stored previous date (the store checks both; InfluxDB, without transactions,
keeps a rollup pending while its mark is not the date's latest), so two maintainers (two
replicas on one database or bucket) converge, and a read that finds a date pending builds it
itself (answers never show stale figures): the maintainer changes how fast answers come, not what
they say. `rollup_lag_s` tells how long the oldest pending date has waited (for metrics).
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass

from central.kpi.rollup import config_key
from central.kpi.windows import local_today
from central.registry import Registry, Site
from central.reporting import now_ms, refresh_month_summaries, settle
from central.retention import PRUNE_CHUNK_ROWS, PruningStore, SitePruned, prune_site
from central.store import RollupStore, StoreError

logger = logging.getLogger(__name__)

MAX_PASSES_PER_WAKE = 10  # cascades settle in a pass or two; a bound against a busy loop


@dataclass(frozen=True, slots=True)
class MaintainPass:
    """What one pass did."""

    sites: int  # sites with pending dates
    built: int  # rollups built
    stored: int  # rollups stored (the others lost a race with a write: still pending)
    seconds: float
    months: int = 0  # month summaries rebuilt (central.kpi.months)


class RollupMaintainer:
    """`await maintainer.run()` in a task; `poke()` after every write."""

    def __init__(
        self,
        store: RollupStore,
        sites: Sequence[Site],
        debounce_s: float,
        sweep_interval_s: float,
        retention_days: int | None = None,
        prune_chunk_rows: int = PRUNE_CHUNK_ROWS,
    ) -> None:
        self.store = store
        self.sites = {site.id: site for site in sites}
        self.debounce_s = debounce_s
        self.sweep_interval_s = sweep_interval_s
        self.retention_days = retention_days
        self.prune_chunk_rows = prune_chunk_rows
        self._on_pruned: Callable[[SitePruned], None] = lambda _: None
        self._wake = asyncio.Event()
        # epoch ms of the oldest pending mark known (None: nothing pending at the last look)
        self._oldest_pending_ms: int | None = None
        self._looked = False  # a pass has looked at the store

    def poke(self) -> None:
        """A write marked dates pending: run a pass soon."""
        if self._oldest_pending_ms is None:
            self._oldest_pending_ms = now_ms()
        self._wake.set()

    def as_of_s(self) -> float | None:
        """Epoch s before which every write is rolled up (as of the last look; now when nothing
        is pending); None before the first pass. Feeds central's rollup lag gauge."""
        if not self._looked:
            return None
        return time.time() - self.rollup_lag_s()

    def rollup_lag_s(self) -> float:
        """Seconds the oldest pending rollup has waited, as of the last look; 0 when none."""
        if self._oldest_pending_ms is None:
            return 0.0
        return max(0.0, (now_ms() - self._oldest_pending_ms) / 1000)

    async def check_configs(self) -> None:
        """Record every site's configuration key; a changed one makes its rollups pending."""
        for site in self.sites.values():
            key = config_key(site)
            if await self.store.rollup_config(site.id) != key:
                await self.store.set_rollup_config(site.id, key, now_ms())

    def watch_pruning(self, on_pruned: Callable[[SitePruned], None]) -> None:
        """Tell `on_pruned` what each site's pruning did (central's metrics)."""
        self._on_pruned = on_pruned

    async def prune_once(self) -> list[SitePruned]:
        """Prune every site's raw readings older than the retention (none without one)."""
        if self.retention_days is None or not isinstance(self.store, PruningStore):
            return []
        out = []
        for site in self.sites.values():
            try:
                done = await prune_site(
                    self.store, site, self.retention_days, chunk_rows=self.prune_chunk_rows
                )
            except StoreError:
                raise
            except Exception:
                logger.exception("retention: site %s failed; next site", site.id)
                continue
            self._on_pruned(done)
            out.append(done)
        return out

    async def _prune(self) -> None:
        await self.prune_once()

    async def pass_once(self) -> MaintainPass:
        """Rebuild every pending date of every site of the registry, in date order per site."""
        started = time.perf_counter()
        pending = {
            site: p
            for site, p in (await self.store.pending_rollup_sites()).items()
            if site in self.sites  # a site no longer in the registry: nothing reads it
        }
        built = stored = months = 0
        for site_id, mine in sorted(pending.items()):
            site = self.sites.get(site_id)
            if site is None or mine.first is None or mine.last is None:
                continue
            try:
                done = await settle(
                    self.store, site, mine.first, mine.last, mine, now_ms(), want_entries=False
                )
                if done is None:  # its configuration changed meanwhile: next pass
                    continue
                built += done.built
                stored += done.stored
                refreshed = await refresh_month_summaries(self.store, site, local_today(site))
                months += refreshed.months
                built += refreshed.built
                stored += refreshed.stored
            except StoreError:
                raise
            except Exception:
                # A report of these dates would fail the same way and say so; the maintainer
                # must not take central (and ingest) down with it.
                logger.exception("rollup maintainer: site %s failed; next site", site_id)
            await asyncio.sleep(0)  # let waiting requests use the store's threads
        left = await self.store.pending_rollup_sites()
        oldest = [p.oldest_ms for s, p in left.items() if s in self.sites and p.oldest_ms]
        self._oldest_pending_ms = min(oldest) if oldest else None
        self._looked = True
        return MaintainPass(len(pending), built, stored, time.perf_counter() - started, months)

    async def run(self) -> None:
        """Passes until cancelled: one now, then after each poke (debounced) or sweep interval;
        store errors are logged and the next pass tries again."""
        await self._guarded(self.check_configs)
        await self._guarded(self._prune)
        while True:
            await self._guarded(self._settle)
            try:
                # asyncio.timeout, not wait_for: 3.11's wait_for can swallow a cancellation that
                # arrives together with the wake-up (then the lifespan's exit would hang)
                async with asyncio.timeout(self.sweep_interval_s):
                    await self._wake.wait()
            except TimeoutError:
                await self._guarded(self.check_configs)
                await self._guarded(self._prune)
            await asyncio.sleep(self.debounce_s)  # gather the batches of a burst
            self._wake.clear()

    async def settle_all(self) -> int:
        """Passes until no date is pending (a cascade may leave the date after a pass's last
        pending) or MAX_PASSES_PER_WAKE; returns how many rollups were built."""
        built = 0
        for _ in range(MAX_PASSES_PER_WAKE):
            done = await self.pass_once()
            built += done.built
            if done.built:
                logger.info(
                    "rollup maintainer: built %d rollups (%d stored) of %d sites in %.2f s",
                    done.built,
                    done.stored,
                    done.sites,
                    done.seconds,
                )
            if not done.sites or self._oldest_pending_ms is None:
                break
        return built

    async def _settle(self) -> None:
        await self.settle_all()

    async def _guarded(self, step: Callable[[], Awaitable[None]]) -> None:
        try:
            await step()
        except StoreError as exc:
            logger.warning("rollup maintainer: %s; next pass later", exc)


@asynccontextmanager
async def rollup_maintainer(
    store: object,
    registry: Registry,
    debounce_s: float,
    sweep_interval_s: float,
    retention_days: int | None = None,
) -> AsyncIterator[RollupMaintainer | None]:
    """Run the maintainer beside the block when `store` keeps rollups (yields it, else None)."""
    if not isinstance(store, RollupStore):
        yield None
        return
    maintainer = RollupMaintainer(
        store, list(registry.sites.values()), debounce_s, sweep_interval_s, retention_days
    )
    async with asyncio.TaskGroup() as tasks:
        task = tasks.create_task(maintainer.run(), name="rollup-maintainer")
        try:
            yield maintainer
        finally:
            task.cancel()
