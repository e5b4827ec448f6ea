"""What central needs from a reading store, as a Protocol, the store's typed errors, and the
skeleton the stores share (ThreadedStore: thread pools, handles, `async with`, aclose)."""

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from types import TracebackType
from typing import Any, ClassVar, NamedTuple, Protocol, Self, TypeVar, runtime_checkable

from central.errors import CentralError
from central.kpi.clocks import DEFAULT_CLOCK_RULE, ClockRule, attributed_instant_ms
from central.kpi.edgehealth import EdgeHealthPeriod
from central.kpi.presence import DevicePresence
from central.kpi.readings import DuplicateCounts, SiteReadings
from central.registry import Site
from contract import DeviceStatusRecord, DroppedDuplicate, EdgeHealth, ReadingRecord

__all__ = [
    "BatchToStore",
    "ClockTrusted",
    "DayInputs",
    "DevicePresence",
    "DuplicateCounts",
    "EdgeHealthPeriod",
    "PendingRollups",
    "PruneStep",
    "ReadingsStore",
    "RejectedEntryRow",
    "RejectedRow",
    "RollupRow",
    "RollupStore",
    "RollupToSave",
    "SealedStore",
    "SiteStats",
    "StoreError",
    "StoreHealth",
    "StoreUnavailable",
    "ThreadedStore",
    "WriteOutcome",
]

T = TypeVar("T")
H = TypeVar("H")


class StoreError(CentralError):
    """A store failure that retrying will not fix (bad schema, misconfiguration)."""


class StoreUnavailable(StoreError):
    """The store cannot serve right now (disk error, lock held too long); retryable, HTTP 503."""


class SealedPeriodUnreadable(StoreError):
    """A period reaches sealed dates (central/retention.py) whose rollups the site's current
    configuration cannot compose (another number of meal services); HTTP 409, naming the fix."""


@dataclass(frozen=True, slots=True)
class StoreHealth:
    """Whether the store can take writes now; `reason` says why not (for /health and logs)."""

    ok: bool
    reason: str | None = None


HEALTHY = StoreHealth(ok=True)


@dataclass(frozen=True, slots=True)
class RejectedRow:
    """A reading of a batch that failed validation, kept for inspection."""

    index: int
    reason: str
    raw_json: str


@dataclass(frozen=True, slots=True)
class RejectedEntryRow:
    """An entry of a batch's `statuses` or `duplicates` list that failed validation, kept."""

    field: str  # "statuses" or "duplicates": the list of UploadBatch it came from
    index: int
    reason: str
    raw_json: str


@dataclass(frozen=True, slots=True)
class BatchToStore:
    """The good and the rejected readings of one upload batch, written in one transaction."""

    site: str
    edge: str  # the authenticated edge id
    batch_id: str
    received_ms: int  # central's clock when the batch arrived
    readings: Sequence[ReadingRecord]
    rejected: Sequence[RejectedRow] = ()
    # the site's time zone: duplicates are counted per device and local date of the device time
    timezone: tzinfo = field(default=UTC)
    # copies the edge dropped from its buffer: counted with central's own duplicates, each
    # (edge, id) once
    edge_duplicates: Sequence[DroppedDuplicate] = ()
    # device status changes the edge saw (online/offline, the last will): stored once each
    statuses: Sequence[DeviceStatusRecord] = ()
    # entries of `statuses` / `duplicates` that failed validation: kept for inspection
    rejected_entries: Sequence[RejectedEntryRow] = ()
    # the site's wrong-clock rule: a duplicate is counted on the date central attributes its
    # reading to (a copy of a reading from a clock at 1970 counts on its receive date)
    clock: ClockRule = DEFAULT_CLOCK_RULE
    # the edge's health when it built the batch (contract.EdgeHealth), if it sent one
    health: EdgeHealth | None = None
    # the site's registry entry (its services and time zone): a card or scale reading then
    # marks exactly the local dates whose KPI load holds it; None (a site not in the registry):
    # the conservative reach (central.store.sqlite.touched_dates)
    config: Site | None = None

    def duplicate_date(self, record: ReadingRecord) -> date:
        """Local date a duplicate of `record` is counted on (docs/domain.md Q4)."""
        at_ms = attributed_instant_ms(record.device_time_ms, record.received_ms, self.clock)
        return datetime.fromtimestamp(at_ms / 1000, self.timezone).date()

    def edge_duplicate_ms(self, dropped: DroppedDuplicate) -> int:
        """The instant a copy the edge dropped is dated by: the same rule as `duplicate_date`
        when the edge sent its receive time, else (an older edge) its device time."""
        if dropped.received_ms is None:
            return dropped.device_time_ms
        return attributed_instant_ms(dropped.device_time_ms, dropped.received_ms, self.clock)

    def edge_duplicate_date(self, dropped: DroppedDuplicate) -> date:
        """Local date a copy the edge dropped is counted on (see `edge_duplicate_ms`)."""
        at_ms = self.edge_duplicate_ms(dropped)
        return datetime.fromtimestamp(at_ms / 1000, self.timezone).date()


@dataclass(frozen=True, slots=True)
class ClockTrusted:
    """A reading whose late device time a write judged right with the stored readings
    (central.kpi.clocks.judge_burst): it is attributed by its device time."""

    device: str
    boot: str
    seq: int
    kind: str
    device_time_ms: int


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """accepted + duplicates + len(sealed) == len(batch.readings)."""

    accepted: int
    duplicates: int
    # The batch's readings the store holds as clock-trusted, and the stored readings the batch
    # made so: the instants the derived series must follow (the influxdb store reports them;
    # the SQLite store marks the dates of its rollups itself)
    clock_trusted: tuple[ClockTrusted, ...] = ()
    # positions in batch.readings of the readings not stored because their local date is sealed
    # (its raw readings were pruned after it was rolled up: central/retention.py), and the last
    # sealed date of the site
    sealed: tuple[int, ...] = ()
    sealed_through: date | None = None


@dataclass(frozen=True, slots=True)
class DayInputs:
    """What a store read for one local date's rollup, from one snapshot."""

    on: date
    gen: int  # the date's rollup generation when read (0: no write touched it yet)
    readings: SiteReadings
    duplicates: DuplicateCounts


@dataclass(frozen=True, slots=True)
class RollupRow:
    """A stored rollup row (central.kpi.rollup); `entry` and `dishes` only when asked for and
    current."""

    on: date
    gen: int
    pending_ms: int | None  # when a write (or a cascade) made it pending; None: rolled up
    config: str | None
    starts: bytes | None
    ends: bytes | None
    entry: bytes | None
    # the date's dish sums (central.kpi.dishes.dish_bytes), given with `entry`
    dishes: bytes | None = None
    # sealed (central/retention.py): its raw readings are pruned; never pending, never rebuilt,
    # current whatever the configuration (its entry comes with it)
    sealed: bool = False


@dataclass(frozen=True, slots=True)
class PendingRollups:
    """The pending rollups of a site (up to a date): how many, the first and last, the oldest
    mark."""

    count: int
    first: date | None
    last: date | None
    oldest_ms: int | None


class SummaryBlobs(NamedTuple):
    """A stored month summary (central.kpi.months): its site part (what a ranking reads) and
    its device part, kept apart so that a ranking never reads the latter."""

    site: bytes
    devices: bytes


@dataclass(frozen=True, slots=True)
class RollupToSave:
    """A rollup built from the snapshot of `gen` (DayInputs), chained from `starts`."""

    on: date
    gen: int
    starts: bytes
    ends: bytes
    entry: bytes
    dishes: bytes = b""  # the date's dish sums (central.kpi.dishes.dish_bytes)


@dataclass(frozen=True, slots=True)
class SiteStats:
    """What is stored for a site, over all time (lets a harness wait for delivery)."""

    readings: int
    rejected: int


class ReadingsStore(Protocol):
    """A durable, idempotent store of readings keyed by (site, device, boot, seq)."""

    @property
    def backend(self) -> str:
        """Short name for health answers and logs ('sqlite')."""
        ...

    async def write_batch(self, batch: BatchToStore) -> WriteOutcome:
        """Store a batch; return only once it is durable. Raise StoreUnavailable if it cannot be."""
        ...

    async def check_health(self) -> StoreHealth:
        """Check now whether the store can take writes (GET /health, and periodically)."""
        ...

    async def load_readings(
        self,
        site: str,
        start_ms: int,
        end_ms: int,
        *,
        meter_lookaround_ms: int = 0,
        meter_devices: Sequence[str] = (),
        raw_scale_lookback_ms: int = 0,
        raw_clock: ClockRule | None = None,
    ) -> SiteReadings:
        """Readings of `site` with start_ms <= device_time_ms < end_ms, as column arrays.

        With `meter_lookaround_ms`, each meter (of the range, or named in `meter_devices`) also
        gets its last reading before the range and its first after it, within that distance, so
        that consumption across a gap reaching over the range's ends can be placed (spread).
        With `raw_scale_lookback_ms`, each raw-mode kitchen bin with a reading in the range also
        gets its last stable reading before the range, within that distance: the reference of its
        first step, so that a deposit across midnight is neither lost nor counted twice. "Last" is
        by attributed time under `raw_clock` (central.kpi.clocks; default rule when None): the
        trusted reading latest by device time, plus a wrong-clock one received after it.
        """
        ...

    async def load_duplicates(self, site: str, first: date, last: date) -> DuplicateCounts:
        """Duplicates dropped for `site` with a local date in [first, last]."""
        ...

    async def site_stats(self, site: str) -> SiteStats:
        """Counts of stored and rejected readings of `site`."""
        ...

    async def device_presence(self, site: str) -> list[DevicePresence]:
        """The latest status of each device of `site` that ever reported one, by device."""
        ...

    async def edge_health(self, site: str, start_ms: int, end_ms: int) -> list[EdgeHealthPeriod]:
        """Each edge of `site` that reported its health before `end_ms`: its latest report
        before `end_ms` and its counters' increase in [start_ms, end_ms), by edge id."""
        ...


@runtime_checkable
class RollupStore(Protocol):
    """A store that also keeps the KPI rollups (central.kpi.rollup) in its own database, marked
    pending by every write that may change a date's figures: in the write's transaction
    (SQLite), or by marks written after its readings and before it is acknowledged (InfluxDB,
    central/store/influx_rollup.py)."""

    async def rollup_config(self, site: str) -> str | None:
        """The configuration key the site's rollups were last built for (None: never)."""
        ...

    async def set_rollup_config(self, site: str, config: str, now_ms: int) -> None:
        """Record `config` for the site; every rollup of another key becomes pending."""
        ...

    async def pending_rollups(self, site: str, last: date) -> PendingRollups:
        """The site's pending rollups on or before `last`."""
        ...

    async def pending_rollup_sites(self) -> dict[str, PendingRollups]:
        """Every site with a pending rollup, and its pending rollups."""
        ...

    async def load_rollups(
        self, site: str, config: str, first: date, last: date, entries_from: date
    ) -> tuple[RollupRow | None, list[RollupRow]]:
        """The latest row before `first` (without entry), and the rows of [first, last] in date
        order, with their entry from `entries_from` on when rolled up under `config`."""
        ...

    async def load_day_inputs(
        self,
        site: str,
        days: Sequence[tuple[date, int, int]],
        meter_lookaround_ms: int,
        meter_devices: Sequence[str],
        raw_scale_lookback_ms: int = 0,
        raw_clock: ClockRule | None = None,
    ) -> list[DayInputs]:
        """For each (date, start_ms, end_ms): its gen, readings and duplicates, one snapshot
        (loaded as `load_readings` loads them)."""
        ...

    async def mark_rollups_pending(self, site: str, first: date, last: date, now_ms: int) -> None:
        """Make the rollups of [first, last] pending (bumping their gen) as a write would."""
        ...

    async def save_rollups(
        self, site: str, config: str, rollups: Sequence[RollupToSave], now_ms: int
    ) -> int:
        """Store rollups in date order; one is skipped when its gen moved since its inputs were
        read, or when its starts differ from the stored ends of the previous date. A stored
        rollup whose ends differ from the next date's starts makes that date pending. Returns
        how many were stored."""
        ...


@runtime_checkable
class MonthSummaryStore(Protocol):
    """A rollup store that also keeps one summary per site and month (central.kpi.months), made
    stale (its summary dropped, its gen bumped) by any change of a rollup of the month, in the
    change's own transaction (SQLite)."""

    async def month_summaries(
        self, site: str, config: str, months: Sequence[date]
    ) -> dict[date, tuple[int, SummaryBlobs | None]]:
        """Per month (its first date): its gen (0: no row yet) and its summary when current
        (built under `config` and not stale since), else None."""
        ...

    async def current_month_summaries(
        self, configs: Mapping[str, str], months: Sequence[date], head: bytes, devices: bool
    ) -> dict[str, list[SummaryBlobs]]:
        """Of many sites (site -> its current config), in a few queries, those whose every month
        of `months` has a current summary whose site part starts with `head` (the reader's
        layout): their summaries in month order, with their device parts only when `devices`
        (else empty: a ranking lists no device)."""
        ...

    async def save_month_summary(
        self, site: str, month: date, config: str, gen: int, summary: SummaryBlobs
    ) -> bool:
        """Store the summary of a month built from its dates as they were at `gen`; False (not
        stored) when a rollup of the month changed since."""
        ...

    async def stale_months(self, site: str, before: date) -> list[date]:
        """The site's months (first dates) before `before` whose summary is stale."""
        ...


@dataclass(frozen=True, slots=True)
class PruneStep:
    """What one step of pruning a site's raw readings deleted (central/retention.py)."""

    readings: int
    duplicate_counts: int
    edge_duplicates: int

    @property
    def rows(self) -> int:
        return self.readings + self.duplicate_counts + self.edge_duplicates


@runtime_checkable
class SealedStore(Protocol):
    """A rollup store whose raw readings can be pruned after they are rolled up: the dates up
    to a site's horizon are sealed (central/retention.py)."""

    async def sealed_through(self, site: str) -> date | None:
        """The site's last sealed local date (None: nothing sealed)."""
        ...

    async def first_rollup_date(self, site: str) -> date | None:
        """The site's earliest rollup row, or None; None also when the site has readings
        before it (a database older than rollups: nothing may be sealed)."""
        ...

    async def seal(
        self, site: str, through: date, config: str, keep_from_ms: int, clock: ClockRule
    ) -> bool:
        """Seal the site's dates up to `through` when every rollup after the old horizon up to
        it is current under `config`, in one transaction; False when one is not (a write came
        between: try later). `keep_from_ms`: the load start of the date after `through`; the
        readings with both times before it become prunable, except the references the loads
        of later dates read (each meter's last reading, each raw bin's last stable readings:
        judged by `clock`), which are kept."""
        ...

    async def prune_step(self, site: str, max_rows: int) -> PruneStep:
        """Delete at most `max_rows` prunable rows of the site in one short transaction."""
        ...

    async def prunable(
        self, site: str, through: date | None = None, keep_from_ms: int | None = None
    ) -> PruneStep:
        """Count the rows that sealing through `through` (the next date's load starting at
        `keep_from_ms`) makes prunable; both None: what the current horizon leaves to prune."""
        ...


class _Closeable(Protocol):
    def close(self) -> None: ...


class ThreadedStore(ABC):
    """The skeleton of a store over a blocking client, used as `async with Store(...) as store:`.

    Blocking calls run in two owned thread pools (one writer thread, `reader_threads` readers)
    through `_run`, which turns the client's errors into StoreError or StoreUnavailable
    (`_store_error`). Each pool has one handle (a connection, a client), held in the attribute
    that `_write_handle` / `_read_handle` names and None while closed. `_open` opens the handles;
    if it fails, what it opened is closed again. `aclose` closes the read side, then the write
    side (the handle, then the threads) and may be called more than once.
    """

    # Names of the attributes that hold the write and the read handle (None while closed).
    _write_handle: ClassVar[str]
    _read_handle: ClassVar[str]
    # True when a handle may only be closed in the thread that made it (sqlite3 connections): it
    # is closed there, after the calls queued before it. Otherwise it is closed once its pool has
    # finished every call (a pool of several threads may still be using it).
    _close_in_own_thread: ClassVar[bool] = False

    def __init__(
        self, *, writer_thread_name: str, reader_thread_name: str, reader_threads: int = 1
    ) -> None:
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=writer_thread_name)
        self._reader = ThreadPoolExecutor(
            max_workers=reader_threads, thread_name_prefix=reader_thread_name
        )

    @property
    @abstractmethod
    def _label(self) -> str:
        """The store in error messages ('sqlite store /data/central.db')."""

    @abstractmethod
    async def _open(self) -> None:
        """Open the handles (the thread pools exist already)."""

    @abstractmethod
    def _store_error(self, exc: Exception) -> StoreError | None:
        """The store error that `exc`, raised by a call in `_run`, means; None lets it through."""

    async def __aenter__(self) -> Self:
        try:
            await self._open()
        except BaseException:
            await self.aclose()
            raise
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the read side, then the write side: each handle, then its threads."""
        sides = ((self._reader, self._read_handle), (self._writer, self._write_handle))
        for executor, attr in sides:
            if self._close_in_own_thread:
                with contextlib.suppress(RuntimeError):  # executor already shut down: closed before
                    await asyncio.get_running_loop().run_in_executor(
                        executor, self._drop_handle, attr
                    )
                executor.shutdown(wait=True)
            else:
                executor.shutdown(wait=True)  # no call is using the handle any more
                self._drop_handle(attr)

    def _drop_handle(self, attr: str) -> None:
        handle: _Closeable | None = getattr(self, attr)
        if handle is not None:
            setattr(self, attr, None)
            handle.close()

    async def check_health(self) -> StoreHealth:
        """Healthy unless a store knows better (SqliteStore checks its file)."""
        return HEALTHY

    def _require(self, handle: H | None) -> H:
        """`handle` (read in a store thread), or StoreUnavailable if the store is closed."""
        if handle is None:
            raise StoreUnavailable(f"{self._label} is closed")
        return handle

    async def _run(self, executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        """`fn(*args)` in one of the store's thread pools, its client errors as store errors."""
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except Exception as exc:
            error = self._store_error(exc)
            if error is None:
                raise
            raise error from exc
