"""The embedded default store: one SQLite file in WAL mode, written by one connection in one thread.

Durability: `synchronous=FULL` with WAL makes COMMIT return only after the write-ahead log is
fsynced, so a 2xx answered after `write_batch` means the readings survive a power cut.
Idempotency: the primary key (site, device, boot, seq) with INSERT OR IGNORE drops resends.
Group commit: batches that wait for the writer together are written in one transaction (one
savepoint each) and one fsync'd COMMIT; each caller is answered only after that COMMIT. A batch
that fails inside a group does not fail the others: the group is rolled back and each of its
batches is written again in a transaction of its own (see SqliteStore._write_group).
"""

import asyncio
import bisect
import functools
import itertools
import json
import logging
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import astuple, dataclass, replace
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from central.kpi.clocks import (
    BURST_MS,
    DEFAULT_CLOCK_RULE,
    ClockRule,
    Timed,
    attributed_instant_ms,
    judge_burst,
)
from central.kpi.daytable import load_range
from central.kpi.edgehealth import EdgeHealthPeriod, EdgeHealthReport, health_period
from central.kpi.periods import DateRange
from central.kpi.rawbins import RAW_SCALE_LOOKBACK_MS
from central.kpi.readings import (
    CardReadings,
    MeterReadings,
    ScaleReadings,
    SiteReadings,
    bool_array,
    float_array,
    int_array,
    str_array,
)
from central.kpi.rollup import EMPTY_CHAIN, parse_chain
from central.registry import Site
from central.store import sqlite_retention as retention
from central.store.base import (
    BatchToStore,
    ClockTrusted,
    DayInputs,
    DevicePresence,
    DuplicateCounts,
    PendingRollups,
    PruneStep,
    RollupRow,
    RollupToSave,
    SiteStats,
    StoreError,
    StoreHealth,
    StoreUnavailable,
    SummaryBlobs,
    ThreadedStore,
    WriteOutcome,
)
from central.store.sqlite_health import PROBE_SCHEMA, StoreFileHealth
from central.store.sqlite_tx import snapshot, transaction
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
    gross_g REAL,
    stable INTEGER,
    item TEXT,
    reason TEXT,
    -- the per-device clock verdict of a late reading (central.kpi.clocks.judge_device): 1 keeps
    -- its device time, 0 not (yet); NULL: judged by itself
    clock_trusted INTEGER,
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
-- Entries of a batch's `statuses` or `duplicates` list that failed validation (`field` names the
-- list, `entry_index` the position in it), kept for inspection like rejected_readings; a resent
-- batch records them once.
CREATE TABLE IF NOT EXISTS rejected_entries (
    site TEXT NOT NULL,
    edge TEXT NOT NULL,
    batch_id TEXT NOT NULL,
    field TEXT NOT NULL,
    entry_index INTEGER NOT NULL,
    reason TEXT NOT NULL,
    raw TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    UNIQUE (site, edge, batch_id, field, entry_index)
);
-- docs/domain.md Q4: duplicate deliveries dropped, per device and local date of the device time.
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
    received_ms INTEGER,  -- the edge's receive time of the copy; NULL from older edges
    PRIMARY KEY (site, edge, id)
);
-- Device status changes reported by the edges (UploadBatch.statuses): each change once (a resent
-- batch repeats its key), the newest STATUS_HISTORY_PER_DEVICE per device.
CREATE TABLE IF NOT EXISTS device_status_log (
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    received_ms INTEGER NOT NULL,
    state TEXT NOT NULL,
    kind TEXT NOT NULL,
    boot TEXT,
    device_time_ms INTEGER,
    edge TEXT NOT NULL,
    PRIMARY KEY (site, device, received_ms, state)
);
-- The latest status of each device, derived from device_status_log in the same transaction.
CREATE TABLE IF NOT EXISTS device_status (
    site TEXT NOT NULL,
    device TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    boot TEXT,
    since_ms INTEGER NOT NULL,
    changed_ms INTEGER NOT NULL,
    PRIMARY KEY (site, device)
);
-- Edge health reports (UploadBatch.health, central.kpi.edgehealth): the latest of each edge per
-- UTC day (`day` = measured_ms // 86,400,000), so the table grows by one row per edge and day.
CREATE TABLE IF NOT EXISTS edge_health (
    site TEXT NOT NULL,
    edge TEXT NOT NULL,
    day INTEGER NOT NULL,
    measured_ms INTEGER NOT NULL,
    dropped_overflow INTEGER NOT NULL,
    dead_lettered INTEGER NOT NULL,
    intake_pauses INTEGER NOT NULL,
    broker_sessions_lost INTEGER NOT NULL,
    pending_readings INTEGER NOT NULL,
    oldest_pending_age_ms INTEGER,
    PRIMARY KEY (site, edge, day)
);
-- KPI rollups (central.kpi.rollup): one row per site and local date. Every write that may change
-- a date's figures bumps its `gen`, clears `entry` and sets `pending_ms` (when it became pending)
-- in the write's own transaction; a rollup computed from an older snapshot is only stored when
-- `gen` has not moved since and its `starts` equal the stored `ends` of the previous date (so it
-- can never overwrite newer data, nor break the chain). `starts`/`ends`: the chain state around
-- the date (meter cleaning states, raw-bin references); the entry blob comes last in the row, then
-- the date's dish sums (central.kpi.dishes.dish_bytes), written and read with the entry.
CREATE TABLE IF NOT EXISTS kpi_rollup (
    site TEXT NOT NULL,
    local_date TEXT NOT NULL,
    gen INTEGER NOT NULL,
    pending_ms INTEGER,
    config TEXT,
    starts BLOB,
    ends BLOB,
    entry BLOB,
    dishes BLOB,
    PRIMARY KEY (site, local_date)
);
CREATE INDEX IF NOT EXISTS kpi_rollup_pending ON kpi_rollup (site, local_date)
WHERE pending_ms IS NOT NULL;
-- The configuration key (central.kpi.rollup.config_key) the site's rollups were last built for:
-- when it changes, every rollup of the site becomes pending.
CREATE TABLE IF NOT EXISTS kpi_rollup_config (
    site TEXT PRIMARY KEY,
    config TEXT NOT NULL
);
"""

# Month summaries (central.kpi.months): per site and month (`month`: its first local date), the
# additive totals of its dates' rollups, built under `config`. Any change of a rollup row of the
# month (a write marking it pending, a rebuild, a cascade, a configuration change, pruning) drops
# the summary and bumps `gen` in the change's own transaction (the triggers), so a summary is
# only stored (gen-checked) when no rollup of its month changed since its entries were read.
_MONTH_SCHEMA = """
CREATE TABLE IF NOT EXISTS kpi_rollup_month (
    site TEXT NOT NULL,
    month TEXT NOT NULL,
    gen INTEGER NOT NULL,
    config TEXT,
    summary BLOB,
    PRIMARY KEY (site, month)
);
-- A summary's device part, apart so that a ranking (which reads only `summary`) reads small rows;
-- read only with a current `summary` of its month, written in the same transaction.
CREATE TABLE IF NOT EXISTS kpi_rollup_month_devices (
    site TEXT NOT NULL,
    month TEXT NOT NULL,
    devices BLOB NOT NULL,
    PRIMARY KEY (site, month)
);
""" + "".join(
    f"""
CREATE TRIGGER IF NOT EXISTS kpi_rollup_month_{event.lower()} AFTER {event} ON kpi_rollup
BEGIN
    INSERT INTO kpi_rollup_month (site, month, gen)
    SELECT {row}.site, substr({row}.local_date, 1, 8) || '01', 0 WHERE NOT EXISTS (
        SELECT 1 FROM kpi_rollup_month
        WHERE site = {row}.site AND month = substr({row}.local_date, 1, 8) || '01');
    UPDATE kpi_rollup_month SET gen = gen + 1, summary = NULL
    WHERE site = {row}.site AND month = substr({row}.local_date, 1, 8) || '01';
END;
"""
    for event, row in (("INSERT", "NEW"), ("UPDATE", "NEW"), ("DELETE", "OLD"))
)

# Sites per query of `month_summaries_of` (SQLite's default limit is 32,766 parameters).
MONTH_SITES_PER_QUERY = 500

# Status changes kept per device: enough for "offline since" and a few weeks of flapping.
STATUS_HISTORY_PER_DEVICE = 200

_INSERT_STATUS = """
INSERT OR IGNORE INTO device_status_log
    (site, device, received_ms, state, kind, boot, device_time_ms, edge)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""
# Newest first; a tie in the edge's milliseconds goes to the change stored last (the edge sends
# its changes in the order it received them).
_LATEST_STATUS = """
SELECT kind, state, boot, received_ms FROM device_status_log WHERE site = ? AND device = ?
ORDER BY received_ms DESC, rowid DESC LIMIT 1
"""
_SINCE = """
SELECT MIN(received_ms) FROM device_status_log
WHERE site = ? AND device = ? AND state = ? AND received_ms > COALESCE(
    (SELECT MAX(received_ms) FROM device_status_log
     WHERE site = ? AND device = ? AND state != ?), -1)
"""
_UPSERT_PRESENCE = """
INSERT INTO device_status (site, device, kind, state, boot, since_ms, changed_ms)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (site, device) DO UPDATE SET kind = excluded.kind, state = excluded.state,
    boot = excluded.boot, since_ms = excluded.since_ms, changed_ms = excluded.changed_ms
"""
_PRUNE_STATUS = """
DELETE FROM device_status_log WHERE site = ? AND device = ? AND rowid NOT IN (
    SELECT rowid FROM device_status_log WHERE site = ? AND device = ?
    ORDER BY received_ms DESC, rowid DESC LIMIT ?)
"""

_HEALTH_COLUMNS = (
    "edge, measured_ms, dropped_overflow, dead_lettered, intake_pauses, broker_sessions_lost,"
    " pending_readings, oldest_pending_age_ms"
)
# A resent or late batch never replaces a newer report of the same day.
_UPSERT_HEALTH = f"""
INSERT INTO edge_health (site, day, {_HEALTH_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (site, edge, day) DO UPDATE SET measured_ms = excluded.measured_ms,
    dropped_overflow = excluded.dropped_overflow, dead_lettered = excluded.dead_lettered,
    intake_pauses = excluded.intake_pauses, broker_sessions_lost = excluded.broker_sessions_lost,
    pending_readings = excluded.pending_readings,
    oldest_pending_age_ms = excluded.oldest_pending_age_ms
WHERE excluded.measured_ms > edge_health.measured_ms
"""
# Each edge's latest report before a moment.
_LATEST_HEALTH = f"""
SELECT {_HEALTH_COLUMNS} FROM edge_health AS h WHERE site = ? AND measured_ms = (
    SELECT MAX(measured_ms) FROM edge_health WHERE site = h.site AND edge = h.edge
    AND measured_ms < ?)
ORDER BY edge
"""
MS_PER_DAY = 86_400_000

# Columns added after the first release: (table, name, type). A database created before them gets
# them with ALTER TABLE ADD COLUMN at open (NULL in old rows: net readings, untagged, edge
# duplicates dated by device time), see _migrate.
_ADDED_COLUMNS = (
    ("readings", "gross_g", "REAL"),
    ("readings", "stable", "INTEGER"),
    ("readings", "item", "TEXT"),
    ("readings", "reason", "TEXT"),
    ("edge_duplicates", "received_ms", "INTEGER"),
    ("readings", "clock_trusted", "INTEGER"),
    ("kpi_rollup", "dishes", "BLOB"),
)
# Late readings not (yet) clock-trusted: a live reading of their device in a later upload may
# still vouch for them (_judge_clocks). Each batch looks up those received within a burst of it.
_CLOCK_PENDING_INDEX = """
CREATE INDEX IF NOT EXISTS readings_clock_pending ON readings (site, received_ms)
WHERE clock_trusted = 0
"""
_SELECT_CLOCK_PENDING = """
SELECT DISTINCT device, boot FROM readings INDEXED BY readings_clock_pending
WHERE site = ? AND clock_trusted = 0 AND received_ms >= ? AND received_ms <= ?
"""
# The stored readings of one (device, boot) received in a window, and the one before a seq.
_SELECT_BURST = """
SELECT seq, device_time_ms, received_ms, clock_trusted, kind, stable
FROM readings INDEXED BY readings_site_received
WHERE site = ? AND received_ms >= ? AND received_ms <= ? AND device = ? AND boot = ?
"""
_SELECT_PREDECESSOR = """
SELECT seq, device_time_ms, received_ms, clock_trusted, kind, stable FROM readings
WHERE site = ? AND device = ? AND boot = ? AND seq < ? ORDER BY seq DESC LIMIT 1
"""
_TRUST_CLOCK = """
UPDATE readings SET clock_trusted = 1 WHERE site = ? AND device = ? AND boot = ? AND seq = ?
"""
# Raw kitchen-bin readings only (a partial index, so net-only sites pay nothing for it): the last
# stable reading of a raw bin before a range is one index probe however long ago it was.
_RAW_SCALE_INDEX = """
CREATE INDEX IF NOT EXISTS readings_raw_scale ON readings (site, device, device_time_ms)
WHERE gross_g IS NOT NULL AND stable = 1
"""

_MARK_PENDING = """
INSERT INTO kpi_rollup (site, local_date, gen, pending_ms) VALUES (?, ?, 1, ?)
ON CONFLICT (site, local_date) DO UPDATE SET gen = gen + 1, entry = NULL,
    pending_ms = COALESCE(pending_ms, excluded.pending_ms)
"""

# A sealed rollup (central/retention.py: at or before the site's horizon) is current whatever
# its configuration.
_SEALED_3 = f"local_date <= {retention.HORIZON.replace('?', '?3')}"
_SELECT_ROLLUPS = f"""
SELECT local_date, gen, pending_ms, config, starts, ends,
    CASE WHEN local_date >= ?1 AND (config = ?2 OR {_SEALED_3}) AND pending_ms IS NULL
        THEN entry END,
    CASE WHEN local_date >= ?1 AND (config = ?2 OR {_SEALED_3}) AND pending_ms IS NULL
        THEN dishes END,
    {_SEALED_3}
FROM kpi_rollup WHERE site = ?3 AND local_date >= ?4 AND local_date <= ?5 ORDER BY local_date
"""

_SELECT_ROLLUP_BEFORE = f"""
SELECT local_date, gen, pending_ms, config, starts, ends, NULL, NULL,
    local_date <= {retention.HORIZON.replace("?", "?1")}
FROM kpi_rollup WHERE site = ?1 AND local_date < ?2 ORDER BY local_date DESC LIMIT 1
"""

_SELECT_PENDING = """
SELECT COUNT(*), MIN(local_date), MAX(local_date), MIN(pending_ms) FROM kpi_rollup
WHERE site = ? AND local_date <= ? AND pending_ms IS NOT NULL
"""

_UPDATE_ROLLUP = """
UPDATE kpi_rollup SET config = ?, starts = ?, ends = ?, entry = ?, dishes = ?, pending_ms = NULL
WHERE site = ? AND local_date = ? AND gen = ?
"""

_INSERT_ROLLUP = """
INSERT OR IGNORE INTO kpi_rollup (site, local_date, gen, config, starts, ends, entry, dishes)
VALUES (?, ?, 0, ?, ?, ?, ?, ?)
"""

# The next rollup (dates without a row between carry the state) was chained from other ends: it
# becomes pending (its gen stays, so that its rebuild in the same save is still stored).
_CASCADE = """
UPDATE kpi_rollup SET entry = NULL, pending_ms = COALESCE(pending_ms, ?)
WHERE site = ? AND starts IS NOT ? AND local_date = (
    SELECT MIN(local_date) FROM kpi_rollup WHERE site = ? AND local_date > ?)
"""

_INSERT_EDGE_DUPLICATE = """
INSERT OR IGNORE INTO edge_duplicates (site, edge, id, device, device_time_ms, received_ms)
VALUES (?, ?, ?, ?, ?, ?)
"""

_COUNT_DUPLICATE = """
INSERT INTO duplicate_counts (site, device, local_date, duplicates) VALUES (?, ?, ?, ?)
ON CONFLICT (site, device, local_date) DO UPDATE SET duplicates = duplicates + excluded.duplicates
"""

_SELECT_DUPLICATES = """
SELECT device, local_date, duplicates FROM duplicate_counts
WHERE site = ? AND local_date >= ? AND local_date <= ?
"""

# The columns of a row built by _row, in order; ingested_ms (the write's own clock) is bound
# once per statement, after them.
_READING_COLUMNS = (
    "site, device, boot, seq, kind, device_time_ms, received_ms, stream, mass_g, tray, person, "
    "quantity, total, power_kw, gross_g, stable, item, reason, clock_trusted"
)
_READING_WIDTH = 19
_CLOCK_TRUSTED = _READING_WIDTH - 1  # the last column of a row: set by _judge_clocks
# Rows per multi-row INSERT at most (a power of two; lowered to the connection's variable limit).
_MAX_ROWS_PER_INSERT = 512


@functools.lru_cache(maxsize=64)
def _insert_sql(table: str, columns: str, width: int, shared: str, rows: int) -> str:
    """INSERT OR IGNORE of `rows` rows of `width` values, followed by the `shared` columns bound
    once (?1, ?2, ...), in one statement: INSERT ... SELECT from a multi-row VALUES."""
    names = [name.strip() for name in shared.split(",") if name.strip()]
    one = "(" + ",".join("?" * width) + ")"
    picked = [f"column{i}" for i in range(1, width + 1)] + [
        f"?{i}" for i in range(1, len(names) + 1)
    ]
    into = ", ".join([columns, *names])
    return (
        f"INSERT OR IGNORE INTO {table} ({into}) SELECT {', '.join(picked)} FROM (VALUES "
        + ",".join([one] * rows)
        + ")"
    )


def _insert_rows(
    conn: sqlite3.Connection,
    rows: Sequence[tuple[Any, ...]],
    shared: Sequence[Any],
    table: str = "readings",
    columns: str = _READING_COLUMNS,
    shared_columns: str = "ingested_ms",
) -> None:
    """INSERT OR IGNORE `rows` (plus the `shared` values in every row) in order, as executemany
    would, with a few multi-row statements.

    sqlite3 releases the GIL around every step: executemany gives it up and waits for it again
    once per row, and while the event loop validates the next batch each wait can last up to a
    switch interval (docs/performance.md, round 4). A multi-row VALUES is one step per statement.
    Chunks are powers of two (few distinct statements, all cached); the rows go in the batch's
    order, so a key repeated in the batch keeps its first copy, as with executemany.
    """
    width = len(columns.split(","))
    limit = max(1, (conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) - len(shared)) // width)
    most = min(_MAX_ROWS_PER_INSERT, 1 << (limit.bit_length() - 1))
    start, count = 0, len(rows)
    while start < count:
        size = min(most, 1 << ((count - start).bit_length() - 1))
        params = [*shared, *itertools.chain.from_iterable(rows[start : start + size])]
        conn.execute(_insert_sql(table, columns, width, shared_columns, size), params)
        start += size


# Which of a batch's (device, boot, seq) keys (a JSON array of triples) are stored for the site.
# CROSS JOIN keeps the keys outside: one primary-key probe per key, never a scan of the site.
_SELECT_STORED_KEYS = """
SELECT r.device, r.boot, r.seq
FROM json_each(?1) AS k
CROSS JOIN readings AS r ON r.site = ?2 AND r.device = k.value ->> 0 AND r.boot = k.value ->> 1
    AND r.seq = k.value ->> 2
"""

_INSERT_REJECTED = """
INSERT OR IGNORE INTO rejected_readings (
    site, edge, batch_id, reading_index, reason, raw, received_ms
) VALUES (?, ?, ?, ?, ?, ?, ?)
"""

_INSERT_REJECTED_ENTRY = """
INSERT OR IGNORE INTO rejected_entries (
    site, edge, batch_id, field, entry_index, reason, raw, received_ms
) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""

# One query per kind, with only that kind's columns: turning SQLite rows into Python objects is
# most of a KPI query's time (docs/performance.md), so no column is fetched that is not used.
# COALESCE keeps every column one numpy dtype. Readings received in the range are loaded too: a
# wrong device clock (at 1970, hours off) is attributed by its receive time (central.kpi.clocks).
_RANGE = """FROM readings WHERE site = ? AND ((device_time_ms >= ? AND device_time_ms < ?)
                    OR (received_ms >= ? AND received_ms < ?))"""
# Scale columns: gross_g stays NULL (NaN in numpy) for net readings, stable 1 for them.
_SCALE_COLUMNS = """device_time_ms, COALESCE(stream, ''), COALESCE(mass_g, 0.0), device,
       received_ms, gross_g, COALESCE(stable, 1), COALESCE(item, ''), COALESCE(reason, ''),
       COALESCE(clock_trusted, 0)"""
_SELECT_SCALES = f"""
SELECT {_SCALE_COLUMNS}
{_RANGE} AND kind = 'scale'
"""
# The last stable reading of one raw bin before a range (the reference of its first step).
# The last one by device time among those whose clock the rule trusts (the last three parameters:
# rule enabled, max delay, future tolerance).
_TRUSTED_CLOCK = (
    "(? = 0 OR COALESCE(clock_trusted, 0) = 1"
    " OR (device_time_ms >= received_ms - ? AND device_time_ms <= received_ms + ?))"
)
_SELECT_RAW_SCALE_BEFORE = f"""
SELECT {_SCALE_COLUMNS}
FROM readings INDEXED BY readings_raw_scale
WHERE site = ? AND device = ? AND gross_g IS NOT NULL AND stable = 1
  AND device_time_ms >= ? AND device_time_ms < ? AND {_TRUSTED_CLOCK}
  AND NOT (received_ms >= ? AND received_ms < ?)  -- not loaded with the range already
ORDER BY device_time_ms DESC LIMIT 1
"""
# ... and the last one by receive time (its attributed time) among those with a wrong clock,
# received after the trusted one's device time (only such can come after it).
_SELECT_RAW_SCALE_WRONG_CLOCK_BEFORE = f"""
SELECT {_SCALE_COLUMNS}
FROM readings INDEXED BY readings_site_received
WHERE site = ? AND received_ms >= ? AND received_ms < ? AND device = ?
  AND gross_g IS NOT NULL AND stable = 1 AND NOT {_TRUSTED_CLOCK}
  AND NOT (device_time_ms >= ? AND device_time_ms < ?)  -- not loaded with the range already
ORDER BY received_ms DESC LIMIT 1
"""
_SELECT_CARDS = f"""
SELECT device_time_ms, COALESCE(person, ''), device, received_ms, COALESCE(clock_trusted, 0)
{_RANGE} AND kind = 'card'
"""
_METER_COLUMNS = """device, COALESCE(quantity, ''), device_time_ms, COALESCE(total, 0.0),
       received_ms, COALESCE(clock_trusted, 0)"""
_SELECT_METERS = f"""
SELECT {_METER_COLUMNS}
{_RANGE} AND kind = 'meter'
"""

# The nearest reading of one meter before (after) a range. INDEXED BY: walk the time index from
# the range's end outwards and stop at the first reading of the device, instead of reading every
# row of the device through the primary key.
_SELECT_METER_BEFORE = f"""
SELECT {_METER_COLUMNS}
FROM readings INDEXED BY readings_site_time
WHERE site = ? AND device_time_ms >= ? AND device_time_ms < ? AND device = ? AND kind = 'meter'
ORDER BY device_time_ms DESC LIMIT 1
"""
_SELECT_METER_AFTER = f"""
SELECT {_METER_COLUMNS}
FROM readings INDEXED BY readings_site_time
WHERE site = ? AND device_time_ms >= ? AND device_time_ms < ? AND device = ? AND kind = 'meter'
ORDER BY device_time_ms ASC LIMIT 1
"""

Row = tuple[Any, ...]

# Batches committed together at most (SqliteStore(group_commit_max_batches=...)); 1: no grouping.
DEFAULT_GROUP_COMMIT_MAX_BATCHES = 32


@dataclass(frozen=True, slots=True)
class _Prepared:
    """A batch with its rows and touched dates, computed before it reaches the writer thread
    (pure Python work the single writer does not have to do in series)."""

    batch: BatchToStore
    rows: list[Row]
    touched: list[str]  # local dates whose KPI cache entries the batch invalidates, sorted

    @classmethod
    def of(cls, batch: BatchToStore) -> "_Prepared":
        rows = [_row(batch.site, record) for record in batch.readings]
        return cls(batch, rows, touched_dates(batch, rows, exact_meters=True))


@dataclass(frozen=True, slots=True)
class _PendingWrite:
    """A batch waiting for the writer thread, and how to answer its caller."""

    prepared: _Prepared
    future: "asyncio.Future[WriteOutcome]"
    loop: asyncio.AbstractEventLoop


def _settle(future: "asyncio.Future[WriteOutcome]", result: WriteOutcome | BaseException) -> None:
    """Event loop: answer a waiting write_batch (unless its caller has gone: cancelled)."""
    if future.done():
        return
    if isinstance(result, BaseException):
        future.set_exception(result)
    else:
        future.set_result(result)


MS_PER_DAY = 86_400_000
# How far (device or receive time) a reading reaches into other local dates' KPI loads: a date's
# load covers its service windows (which may cross midnight) plus METER_MARGIN_MS; a meter reading
# is also the nearest reading before or after other dates' loads within METER_LOOKAROUND_MS.
# Conservative bounds; tests/central/test_rollup.py checks them against those constants. With the
# site's configuration at hand, a card or scale reading marks exactly the dates whose load holds
# it (_dates_loading), chosen among those of READING_REACH_MS; so does a meter reading written to
# SQLite, plus the dates from its meter's previous stored reading on (_meter_gap_dates).
READING_REACH_MS = 2 * MS_PER_DAY
METER_REACH_MS = 5 * MS_PER_DAY
# A stable reading of a raw kitchen bin is also the reference of the bin's first step on later
# dates, as far as RAW_SCALE_LOOKBACK_MS (central.kpi.rawbins) reaches forward (beyond it, the
# rollups' chain state passes a changed reference on: central.kpi.rollup).
RAW_SCALE_REACH_MS = RAW_SCALE_LOOKBACK_MS + READING_REACH_MS


def _touched_dates(
    rows: Sequence[Row],
    extra_ms: Sequence[int],
    tz: Any,
    config: Site | None = None,
    exact_meters: bool = False,
) -> set[str]:
    """Local dates whose KPI inputs a batch may change (see READING_REACH_MS): with the site's
    `config`, a card or scale reading (not a raw bin's stable reading, a later date's step
    reference) marks the dates whose load holds its device or receive time; so does a meter
    reading when `exact_meters` (the caller adds the dates back to the meter's previous
    reading: _meter_gap_dates)."""
    reach: dict[int, tuple[int, int]] = {}  # UTC day -> (reach back, reach forward)

    def touch(day: int, back_ms: int, forward_ms: int) -> None:
        was = reach.get(day, (0, 0))
        reach[day] = (max(was[0], back_ms), max(was[1], forward_ms))

    # a batch holds a few distinct (UTC day, reach) pairs: collect them first, then touch each
    seen: set[tuple[int, int, int]] = set()
    loaded: set[int] = set()  # device and receive times of the readings marked by load windows
    for row in rows:
        kind = row[4]
        exact = kind != "meter" and row[15] != 1  # card, net or unstable
        if config is not None and (exact or (exact_meters and kind == "meter")):
            loaded.add(row[5])
            loaded.add(row[6])
            continue
        pad = METER_REACH_MS if kind == "meter" else READING_REACH_MS
        forward = RAW_SCALE_REACH_MS if kind == "scale" and row[15] == 1 else pad  # stable
        seen.add((row[5] // MS_PER_DAY, pad, forward))
        seen.add((row[6] // MS_PER_DAY, pad, forward))
    for t, pad, forward in seen:
        touch(t, pad, forward)
    for t_ms in extra_ms:
        touch(t_ms // MS_PER_DAY, READING_REACH_MS, READING_REACH_MS)
    dates: set[str] = set()
    for day, (back_ms, forward_ms) in reach.items():
        dates.update(d.isoformat() for d in _dates_around(day, back_ms, forward_ms, tz))
    if config is not None and loaded:
        dates |= _dates_loading(sorted(loaded), config)
    return dates


def _dates_around(day: int, back_ms: int, forward_ms: int, tz: Any) -> list[date]:
    """The local dates from `back_ms` before UTC day `day` to `forward_ms` after it."""
    lo = datetime.fromtimestamp((day * MS_PER_DAY - back_ms) / 1000, tz).date()
    hi = datetime.fromtimestamp(((day + 1) * MS_PER_DAY + forward_ms) / 1000, tz).date()
    return [lo + timedelta(days=i) for i in range((hi - lo).days + 1)]


def _meter_gap_dates(conn: sqlite3.Connection, site: str, rows: Sequence[Row], tz: Any) -> set[str]:
    """The local dates a batch's meter readings can change beyond the loads that hold them
    (_dates_loading): a date's rollup also reads each meter's next reading after its end (however
    far: it interpolates the register up to midnight, and the walk judges the last reading by
    it), so a reading changes every date from its meter's previous reading on. That reading is
    at least the latest of the stored predecessor (by seq, of the same boot) whose device and
    receive times both lie before the batch's readings of that meter: whichever of the two
    times a reading is attributed by (central.kpi.clocks), it lies between them. So the dates
    from the earlier of those two times to the batch's last time are marked. Without such a
    predecessor (a meter's first reading of a boot, a wrong clock), the conservative reach of
    METER_REACH_MS around each time. Later dates follow through the chain (central.reporting
    `settle`); dates between the batch and the meter's next reading too."""
    spans: dict[tuple[str, str], tuple[int, int, int]] = {}  # (device, boot): seq, from, to
    for row in rows:
        if row[4] != "meter":
            continue
        lo, hi = min(row[5], row[6]), max(row[5], row[6])
        was = spans.get((row[1], row[2]))
        if was is not None:
            lo, hi = min(was[1], lo), max(was[2], hi)
        spans[row[1], row[2]] = (row[3] if was is None else min(was[0], row[3]), lo, hi)
    dates: set[date] = set()
    for (device, boot), (seq, lo, hi) in spans.items():
        before = conn.execute(_SELECT_PREDECESSOR, (site, device, boot, seq)).fetchone()
        if before is not None and max(before[1], before[2]) < lo:
            first = datetime.fromtimestamp(min(before[1], before[2]) / 1000, tz).date()
            last = datetime.fromtimestamp(hi / 1000, tz).date()
            dates.update(first + timedelta(days=i) for i in range((last - first).days + 1))
        else:
            for t_ms in (lo, hi):
                dates.update(_dates_around(t_ms // MS_PER_DAY, METER_REACH_MS, METER_REACH_MS, tz))
    return {d.isoformat() for d in dates}


def _dates_loading(times_ms: Sequence[int], site: Site) -> set[str]:
    """The local dates of `site` whose KPI load (load_range: services, crossing midnight too,
    and METER_MARGIN_MS) holds one of `times_ms` (sorted), among the dates of READING_REACH_MS."""
    candidates: set[date] = set()
    for day in {t // MS_PER_DAY for t in times_ms}:
        candidates.update(_dates_around(day, READING_REACH_MS, READING_REACH_MS, site.timezone))
    out: set[str] = set()
    for on in candidates:
        window = load_range(site, DateRange(on, on))
        first = bisect.bisect_left(times_ms, window.start_ms)
        if first < len(times_ms) and times_ms[first] < window.end_ms:
            out.add(on.isoformat())
    return out


def touched_dates(
    batch: BatchToStore,
    rows: Sequence[Row] | None = None,
    trusted: Sequence[ClockTrusted] = (),
    exact_meters: bool = False,
) -> list[str]:
    """The local dates (ISO, sorted) whose rollups a batch may change (`rows`: its readings'
    rows, when made already; `trusted`: stored readings it made clock-trusted, whose device
    times now count): both stores mark these (the InfluxDB store's `rollup_mark` points,
    central/store/influx_rollup.py). A batch with `trusted` readings keeps the conservative
    reach: a stored reading's receive time (its date until then) is not at hand here, only that
    it lies within a burst of the batch's. `exact_meters`: the meter readings' loads only; the
    caller adds the dates back to each meter's previous reading (SQLite: _meter_gap_dates)."""
    if rows is None:
        rows = [_row(batch.site, record) for record in batch.readings]
    rows = [*rows, *((batch.site, t.device, t.boot, t.seq, t.kind, t.device_time_ms,
                      t.device_time_ms, *(None,) * 12) for t in trusted)]  # fmt: skip
    extra_ms = [batch.edge_duplicate_ms(d) for d in batch.edge_duplicates]
    config = None if trusted else batch.config
    exact = exact_meters and config is not None
    return sorted(_touched_dates(rows, extra_ms, batch.timezone, config, exact))


def _row(site: str, record: ReadingRecord) -> Row:
    """The reading's values in the order of _READING_COLUMNS (ingested_ms comes at write time)."""
    if isinstance(record, ScaleRecord):
        return (
            site, record.device, record.boot, record.seq, "scale", record.device_time_ms,
            record.received_ms, record.stream.value, record.mass_g, record.tray, record.person,
            None, None, None, record.gross_g,
            None if record.stable is None else int(record.stable),
            record.item, None if record.reason is None else record.reason.value, None,
        )  # fmt: skip
    if isinstance(record, CardRecord):
        return (
            site, record.device, record.boot, record.seq, "card", record.device_time_ms,
            record.received_ms, None, None, None, record.person,
            None, None, None, None, None, None, None, None,
        )  # fmt: skip
    if isinstance(record, MeterRecord):
        return (
            site, record.device, record.boot, record.seq, "meter", record.device_time_ms,
            record.received_ms, None, None, None, None,
            record.quantity.value, record.total, record.power_kw, None, None, None, None, None,
        )  # fmt: skip
    raise TypeError(f"not a reading record: {type(record).__name__}")


def _judge_clocks(
    conn: sqlite3.Connection, rows: list[Row], batch: BatchToStore
) -> tuple[list[Row], list[Row]]:
    """The batch's rows with their per-device clock verdicts (central.kpi.clocks.judge_device),
    and the stored readings the batch makes clock-trusted (as rows: key, kind, times, stable).

    Judged per (device, boot) with a late reading in the batch, or with a late stored reading not
    yet trusted received within a burst of the batch's readings: together with its stored
    readings received within a burst of them and the predecessor of the earliest. Other rows
    keep NULL (judged by themselves, as every reading of a site without clock correction).
    """
    rule = batch.clock
    if not rule.enabled or not rows:
        return rows, []
    site = batch.site
    groups: dict[tuple[str, str], list[int]] = {}
    for n, row in enumerate(rows):
        groups.setdefault((row[1], row[2]), []).append(n)
    judged = {key for key, of in groups.items()
              if any(rows[n][5] - rows[n][6] < -rule.max_delay_ms for n in of)}  # fmt: skip
    lo_ms = min(row[6] for row in rows) - BURST_MS
    hi_ms = max(row[6] for row in rows) + BURST_MS
    pending = conn.execute(_SELECT_CLOCK_PENDING, (site, lo_ms, hi_ms)).fetchall()
    judged |= {(device, boot) for device, boot in pending} & groups.keys()
    out, retrusted = list(rows), []
    for device, boot in sorted(judged):
        of = groups[device, boot]
        window = (min(rows[n][6] for n in of) - BURST_MS, max(rows[n][6] for n in of) + BURST_MS)
        stored = conn.execute(_SELECT_BURST, (site, *window, device, boot)).fetchall()
        seen = {row[0] for row in stored}
        fresh = []  # the batch's rows not stored yet (a copy repeated in the batch: the first)
        for n in of:
            if rows[n][3] not in seen:
                seen.add(rows[n][3])
                fresh.append(n)
        before = conn.execute(_SELECT_PREDECESSOR, (site, device, boot, min(seen))).fetchone()
        verdicts, trusted_now = judge_burst(
            [_timed(s) for s in stored],
            None if before is None else _timed(before),
            [Timed(rows[n][3], rows[n][5], rows[n][6]) for n in fresh],
            rule,
        )
        retrusted += [_stored_row(site, device, boot, stored[k]) for k in trusted_now]
        for n, verdict in zip(fresh, verdicts, strict=True):
            out[n] = (*rows[n][:_CLOCK_TRUSTED], None if verdict is None else int(verdict))
    return out, retrusted


def _timed(stored: Row) -> Timed:
    """A stored reading (seq, device time, receive time, verdict, ...) as judge_burst sees it."""
    return Timed(stored[0], stored[1], stored[2], None if stored[3] is None else bool(stored[3]))


def _sealed_rows(rows: Sequence[Row], batch: BatchToStore, through: date) -> tuple[int, ...]:
    """Positions of the rows whose attributed local date (their clock verdict applied) is
    sealed: at or before `through` (central/retention.py)."""
    after = through + timedelta(days=1)
    end_ms = int(datetime(after.year, after.month, after.day, tzinfo=batch.timezone).timestamp())
    end_ms *= 1000  # the first instant after the horizon; a reading attributed before it is sealed
    out = []
    for n, row in enumerate(rows):
        time_ms, received_ms = row[5], row[6]
        if time_ms >= end_ms and received_ms >= end_ms:
            continue  # the usual case: attributed after the horizon whatever its clock
        trusted = row[_CLOCK_TRUSTED] == 1
        at_ms = time_ms if trusted else attributed_instant_ms(time_ms, received_ms, batch.clock)
        if at_ms < end_ms:
            out.append(n)
    return tuple(out)


def _stored_row(site: str, device: str, boot: str, stored: Row) -> Row:
    """A stored reading (seq, device time, receive time, verdict, kind, stable) in the layout of
    _row, as far as _touched_dates and _TRUST_CLOCK read it."""
    seq, time_ms, received_ms, _, kind, stable = stored
    return (site, device, boot, seq, kind, time_ms, received_ms, *([None] * 8), stable, 1)


def _columns(rows: list[Row], width: int) -> list[list[Any]]:
    """Rows to `width` column lists (empty lists when there is no row)."""
    if not rows:
        return [[] for _ in range(width)]
    return [list(column) for column in zip(*rows, strict=True)]


def _scales(rows: list[Row]) -> ScaleReadings:
    time_ms, stream, mass_g, device, received_ms, gross_g, stable, item, reason, trusted = _columns(
        rows, 10
    )
    return ScaleReadings(
        time_ms=int_array(time_ms),
        stream=str_array(stream),
        mass_g=float_array(mass_g),
        device=str_array(device),
        received_ms=int_array(received_ms),
        gross_g=float_array(gross_g),  # NULL -> NaN
        stable=bool_array(stable),
        item=str_array(item),
        reason=str_array(reason),
        clock_trusted=bool_array(trusted),
    )


def _cards(rows: list[Row]) -> CardReadings:
    time_ms, person, device, received_ms, trusted = _columns(rows, 5)
    return CardReadings(
        time_ms=int_array(time_ms),
        person=str_array(person),
        device=str_array(device),
        received_ms=int_array(received_ms),
        clock_trusted=bool_array(trusted),
    )


def _meters(rows: list[Row]) -> MeterReadings:
    device, quantity, time_ms, total, received_ms, trusted = _columns(rows, 6)
    return MeterReadings(
        device=str_array(device),
        quantity=str_array(quantity),
        time_ms=int_array(time_ms),
        total=float_array(total),
        received_ms=int_array(received_ms),
        clock_trusted=bool_array(trusted),
    )


def _rollup_row(row: Sequence[Any]) -> RollupRow:
    day, gen, pending_ms, config, starts, ends, entry, dishes, sealed = row
    return RollupRow(
        date.fromisoformat(day),
        gen,
        pending_ms,
        config,
        starts,
        ends,
        entry,
        dishes,
        bool(sealed),
    )


def _pending(row: Sequence[Any]) -> PendingRollups:
    count, first, last, oldest_ms = row
    return PendingRollups(
        count,
        None if first is None else date.fromisoformat(first),
        None if last is None else date.fromisoformat(last),
        oldest_ms,
    )


def _migrate(conn: sqlite3.Connection) -> None:
    """Add the columns a database created by an older central lacks (NULL in its old rows)."""
    for table, name, sql_type in _ADDED_COLUMNS:
        present = {row[1] for row in conn.execute(f"PRAGMA table_info({table})")}
        if name not in present:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {name} {sql_type}")
            logger.info("sqlite store: added column %s.%s", table, name)
    # The day cache of an older central: its dates (every date ever written) become pending
    # rollups, which the maintainer builds (central.rollup_maintainer).
    if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'kpi_day_cache'").fetchone():
        now_ms = time.time_ns() // 1_000_000
        conn.execute(
            "INSERT OR IGNORE INTO kpi_rollup (site, local_date, gen, pending_ms)"
            " SELECT site, local_date, gen, ? FROM kpi_day_cache",
            (now_ms,),
        )
        conn.execute("DROP TABLE kpi_day_cache")
        logger.info("sqlite store: the day cache's dates are pending rollups now")


class SqliteStore(ThreadedStore):
    """`async with SqliteStore(path) as store:`; blocking sqlite3 calls run in two owned threads.

    One writer connection in one thread serialises writes (SQLite allows one writer anyway);
    one reader connection in another thread reads concurrently thanks to WAL.
    """

    backend = "sqlite"
    _write_handle = "_write_conn"
    _read_handle = "_read_conn"
    # A sqlite3 connection may only be used, and closed, in the thread that made it.
    _close_in_own_thread = True

    def __init__(
        self,
        path: Path,
        *,
        busy_timeout_ms: int = 5000,
        group_commit_max_batches: int = DEFAULT_GROUP_COMMIT_MAX_BATCHES,
        max_size_bytes: int | None = None,
    ) -> None:
        if max_size_bytes is not None and max_size_bytes < 1:
            raise ValueError(f"max_size_bytes must be >= 1 or None, not {max_size_bytes}")
        if group_commit_max_batches < 1:
            raise ValueError(
                f"group_commit_max_batches must be >= 1, not {group_commit_max_batches}"
            )
        super().__init__(writer_thread_name="sqlite-writer", reader_thread_name="sqlite-reader")
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self.group_commit_max_batches = group_commit_max_batches
        # A bound on the file (SQLite's max_page_count): past it writes fail as on a full disk.
        self.max_size_bytes = max_size_bytes
        # Is the file still the one opened, and writable? (central/store/sqlite_health.py)
        self.file_health = StoreFileHealth(path)
        # Batches waiting for the writer thread, with the future of their caller; the drain job
        # runs on the writer thread while `_draining` is set (both guarded by `_pending_lock`).
        self._pending: list[_PendingWrite] = []
        self._pending_lock = threading.Lock()
        self._draining = False
        self._write_conn: sqlite3.Connection | None = None
        self._read_conn: sqlite3.Connection | None = None

    @property
    def _label(self) -> str:
        return f"sqlite store {self.path}"

    async def _open(self) -> None:
        await self._run(self._writer, self._open_writer)
        await self._run(self._reader, self._open_reader)
        logger.info("sqlite store open at %s", self.path)

    def _store_error(self, exc: Exception) -> StoreError | None:
        if isinstance(exc, sqlite3.Error):
            # Locked beyond busy_timeout, disk full, I/O error: the edge keeps the batch, retries.
            return StoreUnavailable(f"{self._label}: {exc}")
        return None

    async def write_batch(self, batch: BatchToStore) -> WriteOutcome:
        """Insert the batch; returns after the COMMIT that holds it, i.e. once it is on disk.

        Batches waiting together are committed together (group commit, see _drain); the answer
        of each is its own outcome, or its own error.
        """
        prepared = _Prepared.of(batch)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[WriteOutcome] = loop.create_future()
        with self._pending_lock:
            self._pending.append(_PendingWrite(prepared, future, loop))
            start = not self._draining
            self._draining = True
        if start:
            try:
                self._writer.submit(self._drain)
            except RuntimeError:  # the executor is shut down: the store was closed
                with self._pending_lock:
                    self._draining = False
                    self._pending.clear()
                raise self._closed() from None
        return await future

    async def check_health(self) -> StoreHealth:
        """The file's identity and writability, and while writes fail a probe write, checked
        in the writer thread (after the writes queued before)."""
        try:
            return await self._run(self._writer, lambda: self.file_health.check(self._write_conn))
        except RuntimeError:  # the writer is shut down: the store was closed
            return StoreHealth(ok=False, reason=f"{self._label} is closed")

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
        return await self._run(
            self._reader,
            self._load,
            site,
            start_ms,
            end_ms,
            meter_lookaround_ms,
            meter_devices,
            raw_scale_lookback_ms,
            raw_clock,
        )

    async def load_duplicates(self, site: str, first: date, last: date) -> DuplicateCounts:
        return await self._run(self._reader, self._duplicates, site, first, last)

    async def site_stats(self, site: str) -> SiteStats:
        return await self._run(self._reader, self._stats, site)

    async def device_presence(self, site: str) -> list[DevicePresence]:
        return await self._run(self._reader, self._presence, site)

    async def edge_health(self, site: str, start_ms: int, end_ms: int) -> list[EdgeHealthPeriod]:
        return await self._run(self._reader, self._edge_health, site, start_ms, end_ms)

    def _edge_health(self, site: str, start_ms: int, end_ms: int) -> list[EdgeHealthPeriod]:
        conn = self._require(self._read_conn)
        latest = [EdgeHealthReport(*row) for row in conn.execute(_LATEST_HEALTH, (site, end_ms))]
        before = {
            row[0]: EdgeHealthReport(*row) for row in conn.execute(_LATEST_HEALTH, (site, start_ms))
        }
        return [health_period(r, before.get(r.edge), start_ms) for r in latest]

    # --- KPI rollups (central.kpi.rollup) ------------------------------------------------

    async def rollup_config(self, site: str) -> str | None:
        return await self._run(self._reader, self._rollup_config, site)

    async def set_rollup_config(self, site: str, config: str, now_ms: int) -> None:
        await self._run(self._writer, self._set_rollup_config, site, config, now_ms)

    async def pending_rollups(self, site: str, last: date) -> PendingRollups:
        return await self._run(self._reader, self._pending_rollups, site, last)

    async def pending_rollup_sites(self) -> dict[str, PendingRollups]:
        return await self._run(self._reader, self._pending_rollup_sites)

    async def load_rollups(
        self, site: str, config: str, first: date, last: date, entries_from: date
    ) -> tuple[RollupRow | None, list[RollupRow]]:
        return await self._run(
            self._reader, self._load_rollups, site, config, first, last, entries_from
        )

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
        return await self._run(
            self._reader,
            self._day_inputs,
            site,
            days,
            meter_lookaround_ms,
            meter_devices,
            raw_scale_lookback_ms,
            raw_clock,
        )

    async def mark_rollups_pending(self, site: str, first: date, last: date, now_ms: int) -> None:
        await self._run(self._writer, self._mark_pending, site, first, last, now_ms)

    async def save_rollups(
        self, site: str, config: str, rollups: Sequence[RollupToSave], now_ms: int
    ) -> int:
        if not rollups:
            return 0
        return await self._run(self._writer, self._save_rollups, site, config, rollups, now_ms)

    # --- month summaries (central.kpi.months) ---------------------------------------------

    async def month_summaries(
        self, site: str, config: str, months: Sequence[date]
    ) -> dict[date, tuple[int, SummaryBlobs | None]]:
        return await self._run(self._reader, self._month_summaries, site, config, months)

    async def current_month_summaries(
        self, configs: Mapping[str, str], months: Sequence[date], head: bytes, devices: bool
    ) -> dict[str, list[SummaryBlobs]]:
        return await self._run(self._reader, self._current_months, configs, months, head, devices)

    async def save_month_summary(
        self, site: str, month: date, config: str, gen: int, summary: SummaryBlobs
    ) -> bool:
        return await self._run(
            self._writer, self._save_month_summary, site, month, config, gen, summary
        )

    async def stale_months(self, site: str, before: date) -> list[date]:
        rows = await self._run(
            self._reader,
            lambda: (
                self._require(self._read_conn)
                .execute(
                    "SELECT month FROM kpi_rollup_month WHERE site = ? AND summary IS NULL"
                    " AND month < ? ORDER BY month",
                    (site, before.isoformat()),
                )
                .fetchall()
            ),
        )
        return [date.fromisoformat(m) for (m,) in rows]

    def _month_summaries(
        self, site: str, config: str, months: Sequence[date]
    ) -> dict[date, tuple[int, SummaryBlobs | None]]:
        if not months:
            return {}
        conn = self._require(self._read_conn)
        found = {
            date.fromisoformat(month): (
                gen,
                SummaryBlobs(summary, devices or b"")
                if stored == config and summary is not None
                else None,
            )
            for month, gen, stored, summary, devices in conn.execute(
                "SELECT month, gen, config, summary, devices FROM kpi_rollup_month"
                " LEFT JOIN kpi_rollup_month_devices USING (site, month)"
                " WHERE site = ? AND month >= ? AND month <= ?",
                (site, min(months).isoformat(), max(months).isoformat()),
            )
        }
        return {m: found.get(m, (0, None)) for m in months}

    def _current_months(
        self, configs: Mapping[str, str], months: Sequence[date], head: bytes, devices: bool
    ) -> dict[str, list[SummaryBlobs]]:
        """One query per MONTH_SITES_PER_QUERY sites, in one read transaction (a snapshot)."""
        wanted = sorted({m.isoformat() for m in months})
        if not wanted or not configs:
            return {}
        conn = self._require(self._read_conn)
        sites = list(configs)
        part, join = "NULL", ""
        if devices:
            part, join = "devices", " LEFT JOIN kpi_rollup_month_devices USING (site, month)"
        found: dict[str, list[SummaryBlobs]] = {}
        with snapshot(conn):
            for n in range(0, len(sites), MONTH_SITES_PER_QUERY):
                chunk = sites[n : n + MONTH_SITES_PER_QUERY]
                for site, stored, summary, device_part in conn.execute(
                    f"SELECT site, config, summary, {part} FROM kpi_rollup_month{join}"
                    f" WHERE site IN ({','.join('?' * len(chunk))})"
                    f" AND month IN ({','.join('?' * len(wanted))})"
                    " AND substr(summary, 1, ?) = ? ORDER BY site, month",
                    (*chunk, *wanted, len(head), head),
                ):
                    if stored == configs[site]:
                        found.setdefault(site, []).append(SummaryBlobs(summary, device_part or b""))
        # (each month asked for at most once per site: as many as asked for is every one)
        return {site: each for site, each in found.items() if len(each) == len(wanted)}

    def _save_month_summary(
        self, site: str, month: date, config: str, gen: int, summary: SummaryBlobs
    ) -> bool:
        conn = self._require(self._write_conn)
        with transaction(conn):
            cursor = conn.execute(
                "INSERT INTO kpi_rollup_month (site, month, gen, config, summary)"
                " VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (site, month) DO UPDATE"
                " SET config = excluded.config, summary = excluded.summary WHERE gen = ?3",
                (site, month.isoformat(), gen, config, summary.site),
            )
            stored = cursor.rowcount > 0
            if stored:
                conn.execute(
                    "INSERT OR REPLACE INTO kpi_rollup_month_devices (site, month, devices)"
                    " VALUES (?, ?, ?)",
                    (site, month.isoformat(), summary.devices),
                )
        return stored

    # --- sealed dates and pruning (central/retention.py, central/store/sqlite_retention.py) --

    async def sealed_through(self, site: str) -> date | None:
        return await self._run(self._reader, self._read, retention.sealed_through, site)

    async def first_rollup_date(self, site: str) -> date | None:
        return await self._run(self._reader, self._read, retention.first_rollup_date, site)

    async def seal(
        self, site: str, through: date, config: str, keep_from_ms: int, clock: ClockRule
    ) -> bool:
        chain = await self._run(
            self._reader,
            lambda: (
                self._require(self._read_conn)
                .execute(
                    "SELECT ends FROM kpi_rollup WHERE site = ? AND local_date <= ?"
                    " ORDER BY local_date DESC LIMIT 1",
                    (site, through.isoformat()),
                )
                .fetchone()
            ),
        )
        ends = parse_chain(None if chain is None else chain[0])
        # read outside the write lock: a reading written meanwhile makes a date up to `through`
        # pending, and `seal` refuses then
        keep = await self._run(
            self._reader,
            self._read,
            retention.keepers,
            site,
            keep_from_ms,
            ends.meters.keys(),
            ends.raw_bins.keys(),
            clock,
        )
        return await self._run(
            self._writer,
            lambda: retention.seal(
                self._require(self._write_conn), site, through, config, keep_from_ms, keep
            ),
        )

    async def prune_step(self, site: str, max_rows: int) -> PruneStep:
        done = await self._run(
            self._writer,
            lambda: retention.prune_step(self._require(self._write_conn), site, max_rows),
        )
        return PruneStep(*done)

    async def prunable(
        self, site: str, through: date | None = None, keep_from_ms: int | None = None
    ) -> PruneStep:
        counts = await self._run(
            self._reader, self._read, retention.prunable, site, through, keep_from_ms
        )
        return PruneStep(*counts)

    def _read(self, fn: Callable[..., T], *args: Any) -> T:
        return fn(self._require(self._read_conn), *args)

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
            _migrate(conn)
            conn.executescript(_MONTH_SCHEMA)
            conn.executescript(_RAW_SCALE_INDEX)
            conn.executescript(_CLOCK_PENDING_INDEX)
            conn.executescript(retention.SCHEMA)
            conn.executescript(PROBE_SCHEMA)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            if self.max_size_bytes is not None:
                (page_bytes,) = conn.execute("PRAGMA page_size").fetchone()
                conn.execute(f"PRAGMA max_page_count = {max(1, self.max_size_bytes // page_bytes)}")
            self.file_health.opened()
        except BaseException:
            conn.close()
            raise
        self._write_conn = conn

    def _open_reader(self) -> None:
        conn = self._connect()
        conn.execute("PRAGMA query_only = 1")
        self._read_conn = conn

    def _drain(self) -> None:
        """Writer thread: write the waiting batches, a group at a time, until none waits."""
        while True:
            with self._pending_lock:
                group = self._pending[: self.group_commit_max_batches]
                del self._pending[: len(group)]
                if not group:
                    self._draining = False
                    return
            results = self._write_checked([p.prepared for p in group])
            for pending, result in zip(group, results, strict=True):
                pending.loop.call_soon_threadsafe(_settle, pending.future, result)

    def _write_checked(self, batches: Sequence[_Prepared]) -> list[WriteOutcome | BaseException]:
        """`_write_group`, only into the file opened, and checked again after the COMMIT: a
        batch committed into a file that was deleted or replaced meanwhile is answered 503
        (persist before acknowledge: the edge keeps its copy), never 200."""
        lost = self.file_health.check_identity()
        if lost is not None:
            return [StoreUnavailable(lost)] * len(batches)
        try:
            results = self._write_group(batches)
        except BaseException as exc:  # an unexpected failure: every caller gets it
            return [exc] * len(batches)
        lost = self.file_health.check_identity()
        if lost is not None:
            return [r if isinstance(r, BaseException) else StoreUnavailable(lost) for r in results]
        if any(isinstance(r, WriteOutcome) for r in results):
            self.file_health.write_succeeded()
        return results

    def _write_group(self, batches: Sequence[_Prepared]) -> list[WriteOutcome | BaseException]:
        """Write `batches` in one transaction and one COMMIT; per batch, its outcome or error.

        Each batch runs in a savepoint of its own: a batch that fails is rolled back to it and
        answered with its error, the others are committed. If a failure ended the transaction
        itself, or the COMMIT fails, every batch is written again in a transaction of its own.
        Nothing is answered before the COMMIT that holds it has returned.
        """
        if len(batches) == 1:
            return [self._write_alone(batches[0])]
        conn = self._write_conn
        if conn is None:
            return [self._closed()] * len(batches)
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as exc:  # locked beyond busy_timeout: no batch can be written now
            return [self._unavailable(exc)] * len(batches)
        outcomes: list[WriteOutcome | BaseException] = []
        try:
            for batch in batches:
                conn.execute("SAVEPOINT group_batch")
                try:
                    outcomes.append(self._write_body(conn, batch))
                except Exception as exc:
                    if not conn.in_transaction:
                        raise  # SQLite ended the transaction: nothing of the group is kept
                    conn.execute("ROLLBACK TO group_batch")
                    outcomes.append(self._as_error(exc))
                conn.execute("RELEASE group_batch")
            # Persist before acknowledging: COMMIT returns after the WAL fsync (synchronous=FULL).
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            logger.warning(
                "sqlite store: a group commit of %d batches failed (%s); writing each alone",
                len(batches),
                exc,
            )
            return [self._write_alone(batch) for batch in batches]
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        return outcomes

    def _unavailable(self, exc: sqlite3.Error) -> StoreUnavailable:
        # Locked beyond busy_timeout, disk full, I/O error: the edge keeps the batch, retries.
        self.file_health.write_failed(exc)
        return StoreUnavailable(f"sqlite store {self.path}: {exc}")

    def _as_error(self, exc: Exception) -> Exception:
        """The error a caller sees for a failed write (sqlite3 errors are retryable: 503)."""
        return self._unavailable(exc) if isinstance(exc, sqlite3.Error) else exc

    def _closed(self) -> StoreUnavailable:
        return StoreUnavailable(f"{self._label} is closed")

    def _write_alone(self, batch: _Prepared) -> WriteOutcome | BaseException:
        """One batch in one transaction; its outcome, or its error as the caller should see it."""
        try:
            return self._write(batch)
        except Exception as exc:
            return self._as_error(exc)

    def _write(self, batch: _Prepared) -> WriteOutcome:
        conn = self._require(self._write_conn)
        with transaction(conn):  # persisted before acknowledged: COMMIT returns after the fsync
            return self._write_body(conn, batch)

    def _write_body(self, conn: sqlite3.Connection, prepared: _Prepared) -> WriteOutcome:
        """Every statement of one batch, inside a transaction the caller opened and commits."""
        ingested_ms = time.time_ns() // 1_000_000
        batch = prepared.batch
        site = batch.site
        rows, retrusted = _judge_clocks(conn, prepared.rows, batch)
        through = retention.sealed_through(conn, site)
        sealed: tuple[int, ...] = ()
        if through is not None:  # a sealed date's figures are final: its readings are refused
            sealed = _sealed_rows(rows, batch, through)
            if sealed:
                gone = set(sealed)
                rows = [row for n, row in enumerate(rows) if n not in gone]
                batch = replace(
                    batch, readings=[r for n, r in enumerate(batch.readings) if n not in gone]
                )
        duplicates = self._insert_readings(conn, rows, batch, ingested_ms)
        accepted = len(rows) - sum(duplicates.values())
        for dropped in batch.edge_duplicates:
            edge_row = (
                site, batch.edge, dropped.id, dropped.device, dropped.device_time_ms,
                dropped.received_ms,
            )  # fmt: skip
            if conn.execute(_INSERT_EDGE_DUPLICATE, edge_row).rowcount == 1:
                duplicates[dropped.device, batch.edge_duplicate_date(dropped).isoformat()] += 1
        if duplicates:
            conn.executemany(
                _COUNT_DUPLICATE,
                [(site, device, day, n) for (device, day), n in duplicates.items()],
            )
        touched = set(prepared.touched)
        if batch.config is not None:  # the meters' readings marked their loads alone
            touched |= _meter_gap_dates(conn, site, rows, batch.timezone)
        if retrusted:  # stored readings that now keep their device time: their dates change
            conn.executemany(_TRUST_CLOCK, [row[:4] for row in retrusted])
            touched |= _touched_dates(retrusted, [], batch.timezone, batch.config)
        if through is not None:  # never pending again (central/retention.py)
            touched = {day for day in touched if day > through.isoformat()}
        # In the write's own transaction: a rollup can never outlive the data it was built from.
        conn.executemany(_MARK_PENDING, [(site, day, ingested_ms) for day in sorted(touched)])
        if batch.rejected:
            conn.executemany(
                _INSERT_REJECTED,
                [
                    (site, batch.edge, batch.batch_id, r.index, r.reason, r.raw_json,
                     batch.received_ms)
                    for r in batch.rejected
                ],
            )  # fmt: skip
        if batch.rejected_entries:
            conn.executemany(
                _INSERT_REJECTED_ENTRY,
                [
                    (site, batch.edge, batch.batch_id, r.field, r.index, r.reason, r.raw_json,
                     batch.received_ms)
                    for r in batch.rejected_entries
                ],
            )  # fmt: skip
        self._store_statuses(conn, batch)
        if batch.health is not None:
            report = EdgeHealthReport.of(batch.edge, batch.health)
            conn.execute(
                _UPSERT_HEALTH,
                (site, report.measured_ms // MS_PER_DAY, *astuple(report)),
            )
        return WriteOutcome(
            accepted=accepted,
            duplicates=len(rows) - accepted,
            sealed=sealed,
            sealed_through=through if sealed else None,
        )

    @staticmethod
    def _insert_readings(
        conn: sqlite3.Connection, rows: list[Row], batch: BatchToStore, ingested_ms: int
    ) -> Counter[tuple[str, str]]:
        """Insert the readings; the duplicates (primary key already there) per device and day.

        Set-based first: one multi-row insert, and when every row was inserted (no resend, the usual
        case) there is no duplicate to count; when none was (a whole batch resent), every reading
        is a duplicate. Otherwise the savepoint is rolled back, the keys already stored are found
        with one query (the batch's keys as JSON, joined on the primary key), and only the new
        rows are inserted; a key repeated within the batch counts as a duplicate after its first
        occurrence, as a row-by-row insert would count it.
        """
        duplicates: Counter[tuple[str, str]] = Counter()
        conn.execute("SAVEPOINT readings_batch")
        before = conn.total_changes
        _insert_rows(conn, rows, (ingested_ms,))
        inserted = conn.total_changes - before
        if inserted == len(rows):
            conn.execute("RELEASE readings_batch")
            return duplicates
        if inserted == 0:  # a resent batch: every reading was stored before
            conn.execute("RELEASE readings_batch")
            for record in batch.readings:
                duplicates[record.device, batch.duplicate_date(record).isoformat()] += 1
            return duplicates
        # Some were there: undo, look the batch's keys up in one statement, insert the new ones.
        conn.execute("ROLLBACK TO readings_batch")
        conn.execute("RELEASE readings_batch")
        keys = json.dumps([[row[1], row[2], row[3]] for row in rows])
        stored = {
            (device, boot, seq)
            for device, boot, seq in conn.execute(_SELECT_STORED_KEYS, (keys, batch.site))
        }
        fresh = []
        for row, record in zip(rows, batch.readings, strict=True):
            key = (row[1], row[2], row[3])
            if key in stored:  # stored before, or earlier in this batch
                duplicates[record.device, batch.duplicate_date(record).isoformat()] += 1
            else:
                stored.add(key)
                fresh.append(row)
        _insert_rows(conn, fresh, (ingested_ms,))
        return duplicates

    @staticmethod
    def _store_statuses(conn: sqlite3.Connection, batch: BatchToStore) -> None:
        """Log each new status change, then re-derive the touched devices' latest status.

        Deriving from the log (not updating in place) keeps a resent or late change harmless:
        "since" is the first change of the current run of the latest state, whatever the order
        in which the changes arrived.
        """
        site, touched = batch.site, set()
        for status in batch.statuses:
            row = (
                site, status.device, status.received_ms, status.state, status.kind.value,
                status.boot, status.device_time_ms, batch.edge,
            )  # fmt: skip
            if conn.execute(_INSERT_STATUS, row).rowcount == 1:
                touched.add(status.device)
        for device in sorted(touched):
            conn.execute(_PRUNE_STATUS, (site, device, site, device, STATUS_HISTORY_PER_DEVICE))
            kind, state, boot, changed_ms = conn.execute(_LATEST_STATUS, (site, device)).fetchone()
            (since_ms,) = conn.execute(
                _SINCE, (site, device, state, site, device, state)
            ).fetchone()
            conn.execute(
                _UPSERT_PRESENCE,
                (site, device, kind, state, boot, changed_ms if since_ms is None else since_ms,
                 changed_ms),
            )  # fmt: skip

    def _presence(self, site: str) -> list[DevicePresence]:
        conn = self._require(self._read_conn)
        rows = conn.execute(
            "SELECT device, kind, state, boot, since_ms, changed_ms FROM device_status"
            " WHERE site = ? ORDER BY device",
            (site,),
        ).fetchall()
        return [DevicePresence(*row) for row in rows]

    def _load(
        self,
        site: str,
        start_ms: int,
        end_ms: int,
        lookaround_ms: int = 0,
        meter_devices: Sequence[str] = (),
        raw_lookback_ms: int = 0,
        raw_clock: ClockRule | None = None,
    ) -> SiteReadings:
        conn = self._require(self._read_conn)
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
        if raw_lookback_ms > 0:
            raw_devices = sorted({row[3] for row in scales if row[5] is not None})
            rule = DEFAULT_CLOCK_RULE if raw_clock is None else raw_clock
            trust = (int(rule.enabled), rule.max_delay_ms, rule.future_tolerance_ms)
            for device in raw_devices:
                # The bin's last stable reading before the range by attributed time (the clock
                # rule applied, central.kpi.clocks): the trusted one latest by device time, and a
                # wrong-clock one received after it, if any; the KPI code orders them.
                lo = start_ms - raw_lookback_ms
                trusted = conn.execute(
                    _SELECT_RAW_SCALE_BEFORE, (site, device, lo, start_ms, *trust, start_ms, end_ms)
                ).fetchone()
                if trusted is not None:
                    scales.append(trusted)
                    lo = max(lo, trusted[0])  # its device time (_SCALE_COLUMNS)
                if rule.enabled:
                    wrong = conn.execute(
                        _SELECT_RAW_SCALE_WRONG_CLOCK_BEFORE,
                        (site, lo, start_ms, device, *trust, start_ms, end_ms),
                    ).fetchone()
                    if wrong is not None:
                        scales.append(wrong)
        return SiteReadings(scale=_scales(scales), card=_cards(cards), meter=_meters(meters))

    def _rollup_config(self, site: str) -> str | None:
        conn = self._require(self._read_conn)
        found = conn.execute("SELECT config FROM kpi_rollup_config WHERE site = ?", (site,))
        row = found.fetchone()
        return None if row is None else str(row[0])

    def _set_rollup_config(self, site: str, config: str, now_ms: int) -> None:
        conn = self._require(self._write_conn)
        with transaction(conn):
            conn.execute(
                "UPDATE kpi_rollup SET entry = NULL, pending_ms = COALESCE(pending_ms, ?1)"
                f" WHERE site = ?2 AND config IS NOT ?3"
                f" AND local_date > {retention.HORIZON.replace('?', '?2')}",
                (now_ms, site, config),
            )
            conn.execute(
                "INSERT INTO kpi_rollup_config (site, config) VALUES (?, ?)"
                " ON CONFLICT (site) DO UPDATE SET config = excluded.config",
                (site, config),
            )

    def _pending_rollups(self, site: str, last: date) -> PendingRollups:
        conn = self._require(self._read_conn)
        return _pending(conn.execute(_SELECT_PENDING, (site, last.isoformat())).fetchone())

    def _pending_rollup_sites(self) -> dict[str, PendingRollups]:
        conn = self._require(self._read_conn)
        rows = conn.execute(
            "SELECT site, COUNT(*), MIN(local_date), MAX(local_date), MIN(pending_ms)"
            " FROM kpi_rollup WHERE pending_ms IS NOT NULL GROUP BY site"
        ).fetchall()
        return {row[0]: _pending(row[1:]) for row in rows}

    def _load_rollups(
        self, site: str, config: str, first: date, last: date, entries_from: date
    ) -> tuple[RollupRow | None, list[RollupRow]]:
        conn = self._require(self._read_conn)
        with snapshot(conn):  # one snapshot: the row before and the rows agree
            before = conn.execute(_SELECT_ROLLUP_BEFORE, (site, first.isoformat())).fetchone()
            rows = conn.execute(
                _SELECT_ROLLUPS,
                (entries_from.isoformat(), config, site, first.isoformat(), last.isoformat()),
            ).fetchall()
        return (None if before is None else _rollup_row(before)), [_rollup_row(r) for r in rows]

    def _day_inputs(
        self,
        site: str,
        days: Sequence[tuple[date, int, int]],
        lookaround_ms: int,
        meter_devices: Sequence[str],
        raw_lookback_ms: int = 0,
        raw_clock: ClockRule | None = None,
    ) -> list[DayInputs]:
        conn = self._require(self._read_conn)
        out = []
        with snapshot(conn):  # one snapshot: the gens read belong to the readings read
            first, last = min(d for d, _, _ in days), max(d for d, _, _ in days)
            gens = {
                day: gen
                for day, gen, _ in conn.execute(
                    "SELECT local_date, gen, NULL FROM kpi_rollup"
                    " WHERE site = ? AND local_date >= ? AND local_date <= ?",
                    (site, first.isoformat(), last.isoformat()),
                )
            }
            for on, start_ms, end_ms in days:
                readings = self._load(
                    site, start_ms, end_ms, lookaround_ms, meter_devices, raw_lookback_ms, raw_clock
                )
                out.append(
                    DayInputs(
                        on, gens.get(on.isoformat(), 0), readings, self._duplicates(site, on, on)
                    )
                )
        return out

    def _mark_pending(self, site: str, first: date, last: date, now_ms: int) -> None:
        conn = self._require(self._write_conn)
        with transaction(conn):
            conn.execute(
                "UPDATE kpi_rollup SET gen = gen + 1, entry = NULL,"
                " pending_ms = COALESCE(pending_ms, ?1)"
                " WHERE site = ?2 AND local_date >= ?3 AND local_date <= ?4"
                f" AND local_date > {retention.HORIZON.replace('?', '?2')}",
                (now_ms, site, first.isoformat(), last.isoformat()),
            )

    def _save_rollups(
        self, site: str, config: str, rollups: Sequence[RollupToSave], now_ms: int
    ) -> int:
        conn = self._require(self._write_conn)
        stored = 0
        with transaction(conn):
            through = retention.sealed_through(conn, site)
            for r in rollups:
                day = r.on.isoformat()
                if through is not None and r.on <= through:
                    continue  # sealed: final (central/retention.py)
                before = conn.execute(
                    "SELECT ends FROM kpi_rollup WHERE site = ? AND local_date < ?"
                    " ORDER BY local_date DESC LIMIT 1",
                    (site, day),
                ).fetchone()
                # dates without a row between carry the state unchanged (no readings)
                chained = r.starts == (EMPTY_CHAIN if before is None else before[0])
                if not chained:
                    continue  # built from ends that are no longer the previous date's
                values = (config, r.starts, r.ends, r.entry, r.dishes, site, day, r.gen)
                done = conn.execute(_UPDATE_ROLLUP, values).rowcount
                if not done and r.gen == 0:  # a date no write touched yet: a new row
                    insert = (site, day, config, r.starts, r.ends, r.entry, r.dishes)
                    done = conn.execute(_INSERT_ROLLUP, insert).rowcount
                if done:
                    stored += 1
                    conn.execute(_CASCADE, (now_ms, site, r.ends, site, day))
        return stored

    def _duplicates(self, site: str, first: date, last: date) -> DuplicateCounts:
        conn = self._require(self._read_conn)
        rows = conn.execute(
            _SELECT_DUPLICATES, (site, first.isoformat(), last.isoformat())
        ).fetchall()
        if not rows:
            return DuplicateCounts.empty()
        device, local_date, count = zip(*rows, strict=True)
        return DuplicateCounts(str_array(device), str_array(local_date), int_array(count))

    def _stats(self, site: str) -> SiteStats:
        conn = self._require(self._read_conn)
        readings = conn.execute("SELECT COUNT(*) FROM readings WHERE site = ?", (site,))
        rejected = conn.execute("SELECT COUNT(*) FROM rejected_readings WHERE site = ?", (site,))
        return SiteStats(readings=readings.fetchone()[0], rejected=rejected.fetchone()[0])
