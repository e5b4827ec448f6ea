"""What central needs from a reading store, as a Protocol, and the store's typed errors."""

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, tzinfo
from typing import Protocol, runtime_checkable

from central.errors import CentralError
from central.kpi.clocks import DEFAULT_CLOCK_RULE, ClockRule, attributed_instant_ms
from central.kpi.presence import DevicePresence
from central.kpi.readings import DuplicateCounts, SiteReadings
from contract import DeviceStatusRecord, DroppedDuplicate, ReadingRecord

__all__ = [
    "BatchToStore",
    "DayCacheStore",
    "DayInputs",
    "DevicePresence",
    "DuplicateCounts",
    "ReadingsStore",
    "RejectedEntryRow",
    "RejectedRow",
    "SiteStats",
    "StoreError",
    "StoreUnavailable",
    "WriteOutcome",
]


class StoreError(CentralError):
    """A store failure that retrying will not fix (bad schema, misconfiguration)."""


class StoreUnavailable(StoreError):
    """The store cannot serve right now (disk error, lock held too long); retryable, HTTP 503."""


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

    def duplicate_date(self, record: ReadingRecord) -> date:
        """Local date a duplicate of `record` is counted on (DOMAIN.md Q4)."""
        at_ms = attributed_instant_ms(record.device_time_ms, record.received_ms, self.clock)
        return datetime.fromtimestamp(at_ms / 1000, self.timezone).date()


@dataclass(frozen=True, slots=True)
class WriteOutcome:
    """accepted + duplicates == len(batch.readings)."""

    accepted: int
    duplicates: int


@dataclass(frozen=True, slots=True)
class DayInputs:
    """What a store read for one local date of the KPI day cache, from one snapshot."""

    on: date
    gen: int  # the date's cache generation when read (0: never invalidated)
    readings: SiteReadings
    duplicates: DuplicateCounts


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


@runtime_checkable
class DayCacheStore(Protocol):
    """A store that also keeps the KPI day cache (central.kpi.daycache) in its own database,
    invalidated in the transaction of every write that may change a date's figures."""

    async def load_day_entries(
        self, site: str, config: str, first: date, last: date
    ) -> dict[str, tuple[int, bytes | None]]: ...

    async def load_day_inputs(
        self,
        site: str,
        days: Sequence[tuple[date, int, int]],
        meter_lookaround_ms: int,
        meter_devices: Sequence[str],
        raw_scale_lookback_ms: int = 0,
        raw_clock: ClockRule | None = None,
    ) -> list[DayInputs]: ...

    async def save_day_entries(
        self, site: str, config: str, entries: Sequence[tuple[date, int, bytes]]
    ) -> None: ...
