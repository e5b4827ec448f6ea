"""The embedded default store: one SQLite file in WAL mode, written by one connection in one thread.

Durability: `synchronous=FULL` with WAL makes COMMIT return only after the write-ahead log is
fsynced, so a 2xx answered after `write_batch` means the readings survive a power cut.
Idempotency: the primary key (site, device, boot, seq) with INSERT OR IGNORE drops resends.
"""

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from central.kpi.readings import (
    CardReadings,
    MeterReadings,
    ScaleReadings,
    SiteReadings,
    float_array,
    int_array,
    str_array,
)
from central.store.base import (
    BatchToStore,
    DuplicateCounts,
    SiteStats,
    StoreError,
    StoreUnavailable,
    WriteOutcome,
)
from contract import CardRecord, MeterRecord, ReadingRecord, ScaleRecord

logger = logging.getLogger(__name__)

T = TypeVar("T")

SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS readings (
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    boot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    device_time_ms INTEGER NOT NULL,
    received_ms INTEGER NOT NULL,
    stream TEXT,
    mass_g REAL,
    tray TEXT,
    person TEXT,
    quantity TEXT,
    total REAL,
    power_kw REAL,
    ingested_ms INTEGER NOT NULL,
    PRIMARY KEY (site, device, boot, seq)
);
-- The site-day KPI query is a range scan on this index.
CREATE INDEX IF NOT EXISTS readings_site_time ON readings (site, device_time_ms);
CREATE INDEX IF NOT EXISTS readings_site_received ON readings (site, received_ms);
CREATE TABLE IF NOT EXISTS rejected_readings (
    site TEXT NOT NULL,
    edge TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    reading_index INTEGER NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    -- an edge resending a batch after a crash records its bad readings once
    UNIQUE (site, edge, batch_id, reading_index)
);
-- DOMAIN.md Q4: duplicate deliveries dropped, per device and local date of the device time.
CREATE TABLE IF NOT EXISTS duplicate_counts (
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    local_date TEXT NOT NULL,
    duplicates INTEGER NOT NULL,
    PRIMARY KEY (site, device, local_date)
);
-- Copies an edge dropped from its buffer and reported (UploadBatch.duplicates): each counted once.
CREATE TABLE IF NOT EXISTS edge_duplicates (
    site TEXT NOT NULL,
    edge TEXT NOT NULL,
    id INTEGER NOT NULL,
    device TEXT NOT NULL,
    device_time_ms INTEGER NOT NULL,
    PRIMARY KEY (site, edge, id)
);
"""

_INSERT_EDGE_DUPLICATE = """
INSERT OR IGNORE INTO edge_duplicates (site, edge, id, device, device_time_ms)
VALUES (?, ?, ?, ?, ?)
"""

_COUNT_DUPLICATE = """
INSERT INTO duplicate_counts (site, device, local_date, duplicates) VALUES (?, ?, ?, ?)
ON CONFLICT (site, device, local_date) DO UPDATE SET duplicates = duplicates + excluded.duplicates
"""

_SELECT_DUPLICATES = """
SELECT device, local_date, duplicates FROM duplicate_counts
WHERE site = ? AND local_date >= ? AND local_date <= ?
"""

_INSERT_READING = """
INSERT OR IGNORE INTO readings (
    site, device, boot, seq, kind, device_time_ms, received_ms,
    stream, mass_g, tray, person, quantity, total, power_kw, ingested_ms
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""

_INSERT_REJECTED = """
INSERT OR IGNORE INTO rejected_readings (
    site, edge, batch_id, reading_index, reason, raw, received_ms
) VALUES (?, ?, ?, ?, ?, ?, ?)
"""

# One query per kind, with only that kind's columns: turning SQLite rows into Python objects is
# most of a KPI query's time (docs/performance.md), so no column is fetched that is not used.
# COALESCE keeps every column one numpy dtype. Readings received in the range are loaded too: a
# wrong device clock (at 1970, hours off) is attributed by its receive time (central.kpi.clocks).
_RANGE = """FROM readings WHERE site = ? AND ((device_time_ms >= ? AND device_time_ms < ?)
                    OR (received_ms >= ? AND received_ms < ?))"""
_SELECT_SCALES = f"""
SELECT device_time_ms, COALESCE(stream, ''), COALESCE(mass_g, 0.0), device, received_ms
{_RANGE} AND kind = 'scale'
"""
_SELECT_CARDS = f"""
SELECT device_time_ms, COALESCE(person, ''), device, received_ms {_RANGE} AND kind = 'card'
"""
_SELECT_METERS = f"""
SELECT device, COALESCE(quantity, ''), device_time_ms, COALESCE(total, 0.0), received_ms
{_RANGE} AND kind = 'meter'
"""

# The nearest reading of one meter before (after) a range. INDEXED BY: walk the time index from
# the range's end outwards and stop at the first reading of the device, instead of reading every
# row of the device through the primary key.
_SELECT_METER_BEFORE = """
SELECT device, COALESCE(quantity, ''), device_time_ms, COALESCE(total, 0.0), received_ms
FROM readings INDEXED BY readings_site_time
WHERE site = ? AND device_time_ms >= ? AND device_time_ms < ? AND device = ? AND kind = 'meter'
ORDER BY device_time_ms DESC LIMIT 1
"""
_SELECT_METER_AFTER = """
SELECT device, COALESCE(quantity, ''), device_time_ms, COALESCE(total, 0.0), received_ms
FROM readings INDEXED BY readings_site_time
WHERE site = ? AND device_time_ms >= ? AND device_time_ms < ? AND device = ? AND kind = 'meter'
ORDER BY device_time_ms ASC LIMIT 1
"""

Row = tuple[Any, ...]


def _row(site: str, record: ReadingRecord, ingested_ms: int) -> Row:
    if isinstance(record, ScaleRecord):
        return (
            site, record.device, record.boot, record.seq, "scale", record.device_time_ms,
            record.received_ms, record.stream.value, record.mass_g, record.tray, record.person,
            None, None, None, ingested_ms,
        )  # fmt: skip
    if isinstance(record, CardRecord):
        return (
            site, record.device, record.boot, record.seq, "card", record.device_time_ms,
            record.received_ms, None, None, None, record.person,
            None, None, None, ingested_ms,
        )  # fmt: skip
    if isinstance(record, MeterRecord):
        return (
            site, record.device, record.boot, record.seq, "meter", record.device_time_ms,
            record.received_ms, None, None, None, None,
            record.quantity.value, record.total, record.power_kw, ingested_ms,
        )  # fmt: skip
    raise TypeError(f"not a reading record: {type(record).__name__}")


def _columns(rows: list[Row], width: int) -> list[list[Any]]:
    """Rows to `width` column lists (empty lists when there is no row)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _scales(rows: list[Row]) -> ScaleReadings:
    time_ms, stream, mass_g, device, received_ms = _columns(rows, 5)
    return ScaleReadings(
        time_ms=int_array(time_ms),
        stream=str_array(stream),
        mass_g=float_array(mass_g),
        device=str_array(device),
        received_ms=int_array(received_ms),
    )


def _cards(rows: list[Row]) -> CardReadings:
    time_ms, person, device, received_ms = _columns(rows, 4)
    return CardReadings(
        time_ms=int_array(time_ms),
        person=str_array(person),
        device=str_array(device),
        received_ms=int_array(received_ms),
    )


def _meters(rows: list[Row]) -> MeterReadings:
    device, quantity, time_ms, total, received_ms = _columns(rows, 5)
    return MeterReadings(
        device=str_array(device),
        quantity=str_array(quantity),
        time_ms=int_array(time_ms),
        total=float_array(total),
        received_ms=int_array(received_ms),
    )


class SqliteStore:
    """`async with SqliteStore(path) as store:`; blocking sqlite3 calls run in two owned threads.

    One writer connection in one thread serialises writes (SQLite allows one writer anyway);
    one reader connection in another thread reads concurrently thanks to WAL.
    """

    backend = "sqlite"

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-reader")
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None

    async def __aenter__(self) -> Self:
        try:
            await self._run(self._writer, self._open_writer)
            await self._run(self._reader, self._open_reader)
        except BaseException:
            await self.aclose()
            raise
        logger.info("sqlite store open at %s", self.path)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close both connections in their own threads, then stop the threads."""
        for executor, attr in ((self._reader, "_read_conn"), (self._writer, "_write_conn")):
            with contextlib.suppress(RuntimeError):  # executor already shut down: closed before
                await asyncio.get_running_loop().run_in_executor(executor, self._close, attr)
            executor.shutdown(wait=True)

    async def write_batch(self, batch: BatchToStore) -> WriteOutcome:
        """Insert the batch in one transaction; returns after COMMIT, i.e. once it is on disk."""
        return await self._run(self._writer, self._write, batch)

    async def load_readings(
        self,
        site: str,
        start_ms: int,
        end_ms: int,
        *,
        meter_lookaround_ms: int = 0,
        meter_devices: Sequence[str] = (),
    ) -> SiteReadings:
        return await self._run(
            self._reader, self._load, site, start_ms, end_ms, meter_lookaround_ms, meter_devices
        )

    async def load_duplicates(self, site: str, first: date, last: date) -> DuplicateCounts:
        return await self._run(self._reader, self._duplicates, site, first, last)

    async def site_stats(self, site: str) -> SiteStats:
        return await self._run(self._reader, self._stats, site)

    async def _run(self, executor: ThreadPoolExecutor, fn: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(executor, fn, *args)
        except sqlite3.Error as exc:
            # Locked beyond busy_timeout, disk full, I/O error: the edge keeps the batch, retries.
            raise StoreUnavailable(f"sqlite store {self.path}: {exc}") from exc

    # --- the functions below run in the store's threads -----------------------------------

    def _connect(self) -> sqlite3.Connection:
        # isolation_level=None: no implicit transactions; writes use explicit BEGIN IMMEDIATE.
        conn = sqlite3.connect(self.path, timeout=self.busy_timeout_ms / 1000, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
        return conn

    def _open_writer(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the directory of {self.path}: {exc}") from exc
        conn = self._connect()
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode != "wal":
                raise StoreError(
                    f"sqlite store {self.path}: WAL mode refused (journal_mode={mode})"
                )
            conn.execute("PRAGMA synchronous = FULL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version not in (0, SCHEMA_VERSION):
                raise StoreError(
                    f"sqlite store {self.path} has schema version {version}; "
                    f"this central knows version {SCHEMA_VERSION}"
                )
            conn.executescript(_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except BaseException:
            conn.close()
            raise
        self._write_conn = conn

    def _open_reader(self) -> None:
        conn = self._connect()
        conn.execute("PRAGMA query_only = 1")
        self._read_conn = conn

    def _close(self, attr: str) -> None:
        conn: sqlite3.Connection | None = getattr(self, attr)
        if conn is not None:
            setattr(self, attr, None)
            conn.close()

    def _write(self, batch: BatchToStore) -> WriteOutcome:
        conn = self._write_conn
        if conn is None:
            raise StoreUnavailable(f"sqlite store {self.path} is closed")
        ingested_ms = time.time_ns() // 1_000_000
        site = batch.site
        rows = [_row(site, record, ingested_ms) for record in batch.readings]
        conn.execute("BEGIN IMMEDIATE")
        try:
            duplicates = self._insert_readings(conn, rows, batch)
            accepted = len(rows) - sum(duplicates.values())
            for dropped in batch.edge_duplicates:
                edge_row = (site, batch.edge, dropped.id, dropped.device, dropped.device_time_ms)
                if conn.execute(_INSERT_EDGE_DUPLICATE, edge_row).rowcount == 1:
                    day = datetime.fromtimestamp(dropped.device_time_ms / 1000, batch.timezone)
                    duplicates[dropped.device, day.date().isoformat()] += 1
            if duplicates:
                conn.executemany(
                    _COUNT_DUPLICATE,
                    [(site, device, day, n) for (device, day), n in duplicates.items()],
                )
            if batch.rejected:
                conn.executemany(
                    _INSERT_REJECTED,
                    [
                        (site, batch.edge, batch.batch_id, r.index, r.reason, r.raw_json,
                         batch.received_ms)
                        for r in batch.rejected
                    ],
                )  # fmt: skip
            # Persist before acknowledging: COMMIT returns after the WAL fsync (synchronous=FULL).
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return WriteOutcome(accepted=accepted, duplicates=len(rows) - accepted)

    @staticmethod
    def _insert_readings(
        conn: sqlite3.Connection, rows: list[Row], batch: BatchToStore
    ) -> Counter[tuple[str, str]]:
        """Insert the readings; the duplicates (primary key already there) per device and day.

        Set-based first: one executemany, and when every row was inserted (no resend, the usual
        case) there is no duplicate to count. Otherwise the savepoint is rolled back and the batch
        inserted row by row (rowcount 0: a duplicate), which names each duplicate's device and day.
        """
        duplicates: Counter[tuple[str, str]] = Counter()
        conn.execute("SAVEPOINT readings_batch")
        before = conn.total_changes
        conn.executemany(_INSERT_READING, rows)
        if conn.total_changes - before == len(rows):
            conn.execute("RELEASE readings_batch")
            return duplicates
        conn.execute("ROLLBACK TO readings_batch")
        conn.execute("RELEASE readings_batch")
        for row, record in zip(rows, batch.readings, strict=True):
            if conn.execute(_INSERT_READING, row).rowcount == 0:
                duplicates[record.device, batch.duplicate_date(record).isoformat()] += 1
        return duplicates

    def _load(
        self,
        site: str,
        start_ms: int,
        end_ms: int,
        lookaround_ms: int = 0,
        meter_devices: Sequence[str] = (),
    ) -> SiteReadings:
        conn = self._read_conn
        if conn is None:
            raise StoreUnavailable(f"sqlite store {self.path} is closed")
        span = (site, start_ms, end_ms, start_ms, end_ms)
        scales = conn.execute(_SELECT_SCALES, span).fetchall()
        cards = conn.execute(_SELECT_CARDS, span).fetchall()
        meters = conn.execute(_SELECT_METERS, span).fetchall()
        if lookaround_ms > 0:
            devices = {row[0] for row in meters} | set(meter_devices)
            for device in sorted(devices):
                for query, lo, hi in (
                    (_SELECT_METER_BEFORE, start_ms - lookaround_ms, start_ms),
                    (_SELECT_METER_AFTER, end_ms, end_ms + lookaround_ms),
                ):
                    found = conn.execute(query, (site, lo, hi, device)).fetchone()
                    if found is not None:
                        meters.append(found)
        return SiteReadings(scale=_scales(scales), card=_cards(cards), meter=_meters(meters))

    def _duplicates(self, site: str, first: date, last: date) -> DuplicateCounts:
        conn = self._read_conn
        if conn is None:
            raise StoreUnavailable(f"sqlite store {self.path} is closed")
        rows = conn.execute(
            _SELECT_DUPLICATES, (site, first.isoformat(), last.isoformat())
        ).fetchall()
        if not rows:
            return DuplicateCounts.empty()
        device, local_date, count = zip(*rows, strict=True)
        return DuplicateCounts(str_array(device), str_array(local_date), int_array(count))

    def _stats(self, site: str) -> SiteStats:
        conn = self._read_conn
        if conn is None:
            raise StoreUnavailable(f"sqlite store {self.path} is closed")
        readings = conn.execute("SELECT COUNT(*) FROM readings WHERE site = ?", (site,))
        rejected = conn.execute("SELECT COUNT(*) FROM rejected_readings WHERE site = ?", (site,))
        return SiteStats(readings=readings.fetchone()[0], rejected=rejected.fetchone()[0])
