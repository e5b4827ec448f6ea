"""The durable queue of an edge: a SQLite file holding readings until central confirmed them.

All SQLite access runs on one dedicated worker thread and is exposed as an async API, so that the
event loop never blocks on a disk flush and the connection is never shared between threads. WAL with
synchronous=FULL: when `commit` returns, the transaction is on disk and survives a power cut, which
is what makes it safe to acknowledge the MQTT messages afterwards.
"""

import asyncio
import contextlib
import functools
import json
import logging
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TypeVar

from contract import EdgeHealth
from edge.errors import BufferWriteError, EdgeBufferError
from edge.salvage import check_integrity, is_damage, salvage, set_aside
from edge.settings import OverflowPolicy

logger = logging.getLogger(__name__)

SCHEMA_VERSION = 1
MAX_TOPIC_CHARS = 512
MAX_REASON_CHARS = 2000

# Persisted across restarts; `edge status` and the stats log line print them.
COUNTER_NAMES = (
    "received",  # MQTT messages committed (readings, statuses and dead letters)
    "persisted",  # new readings written to the buffer
    "duplicates",  # readings whose (device, boot, seq) was already pending
    # messages that failed topic or payload validation, and pending entries central kept failing
    # on alone (the uploader's isolation of a poison batch)
    "dead_lettered",
    "dropped_overflow",  # readings lost to the buffer bound (either overflow policy)
    "status_updates",  # device online/offline messages
    "status_changes",  # status messages that changed a device's state or boot (sent to central)
    "status_changes_dropped",  # changes collapsed or dropped to the status outbox bound
    "uploaded",  # readings central answered 2xx for (accepted, duplicate or rejected)
    "rejected_by_central",  # readings central answered as rejected
    "upload_failures",  # upload attempts that did not end in a 2xx
    "buffer_recoveries",  # damaged buffer files set aside at start (edge/salvage.py)
    "salvaged_readings",  # pending readings copied from damaged files into a fresh buffer
    "intake_pauses",  # times reading from the broker paused: intake queue full (nothing lost)
    "broker_sessions_lost",  # reconnects where the broker had lost this edge's session
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS pending (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    boot TEXT NOT NULL,
    seq INTEGER NOT NULL,
    record TEXT NOT NULL,
    UNIQUE (device, boot, seq)
);
-- Copies the UNIQUE key above dropped, kept until central counted them (docs/domain.md Q4).
CREATE TABLE IF NOT EXISTS dropped_duplicates (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    device TEXT NOT NULL,
    device_time_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    received_ms INTEGER NOT NULL,
    topic TEXT NOT NULL,
    payload BLOB NOT NULL,
    payload_bytes INTEGER NOT NULL,
    reason TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS device_status (
    site TEXT NOT NULL,
    kind TEXT NOT NULL,
    device TEXT NOT NULL,
    state TEXT NOT NULL,
    boot TEXT,
    received_ms INTEGER NOT NULL,
    PRIMARY KEY (site, kind, device)
);
-- Device status changes waiting for central's 2xx (UploadBatch.statuses), oldest first. Written
-- in the transaction that updates device_status, deleted only after central confirmed them.
CREATE TABLE IF NOT EXISTS status_outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    device TEXT NOT NULL,
    state TEXT NOT NULL,
    boot TEXT,
    device_time_ms INTEGER,
    received_ms INTEGER NOT NULL
);
"""

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class NewReading:
    """A converted reading to persist; (device, boot, seq) is its identity within this site."""

    device: str
    boot: str
    seq: int
    record_json: str
    device_time_ms: int = 0  # reported with the copy when it turns out a duplicate (Q4)


@dataclass(frozen=True, slots=True)
class PendingDuplicate:
    """A copy dropped because its (device, boot, seq) was pending, waiting to be reported."""

    id: int  # AUTOINCREMENT: never reused, so central counts each (edge, id) once
    device: str
    device_time_ms: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A message that could not be turned into a reading, kept for an operator to inspect."""

    received_ms: int
    topic: str
    payload: bytes
    reason: str


@dataclass(frozen=True, slots=True)
class DeviceStatus:
    """The latest retained presence message of a device."""

    site: str
    kind: str
    device: str
    state: str
    boot: str | None
    received_ms: int
    device_time_ms: int | None = None  # the status message's `ts`, if it had one


@dataclass(frozen=True, slots=True)
class PendingStatus:
    """A device status change waiting in the outbox for central's 2xx (oldest first)."""

    id: int
    kind: str
    device: str
    state: str
    boot: str | None
    device_time_ms: int | None
    received_ms: int


@dataclass(frozen=True, slots=True)
class PendingRow:
    """A reading waiting for upload, with its buffer id (oldest first)."""

    id: int
    device: str
    boot: str
    seq: int
    record_json: str


@dataclass(frozen=True, slots=True)
class CommitOutcome:
    """What one commit did with the messages it was given."""

    received: int = 0
    persisted: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    dropped_overflow: int = 0
    status_updates: int = 0
    status_changes: int = 0  # status messages that changed a device's state: queued for central


@dataclass(frozen=True, slots=True)
class BufferStats:
    """Counters and depths, for the stats log line and `canteen-edge status`."""

    counters: dict[str, int]
    pending: int
    dead_letters: int
    last_dead_letters: list[dict[str, Any]] = field(default_factory=list)
    pending_duplicates: int = 0  # dropped duplicates not yet reported to central
    pending_statuses: int = 0  # device status changes not yet confirmed by central

    def as_dict(self) -> dict[str, Any]:
        return {
            "counters": self.counters,
            "pending": self.pending,
            "pending_duplicates": self.pending_duplicates,
            "pending_statuses": self.pending_statuses,
            "dead_letters": self.dead_letters,
            "last_dead_letters": self.last_dead_letters,
        }


# Primary result codes (https://sqlite.org/rescode.html) of a write the disk refused.
_SQLITE_IOERR = 10
_SQLITE_FULL = 13


class _DamagedFile(Exception):
    """The buffer file is damaged; `reason` says how (SQLite's words)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _is_write_refused(exc: sqlite3.Error) -> bool:
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (_SQLITE_IOERR, _SQLITE_FULL)


def _configure(connection: sqlite3.Connection) -> None:
    connection.execute("PRAGMA journal_mode=WAL")
    # FULL: a WAL commit is fsynced before COMMIT returns, so an acknowledged message is on disk.
    connection.execute("PRAGMA synchronous=FULL")
    connection.execute("PRAGMA busy_timeout=5000")


def _read_stats(connection: sqlite3.Connection, last_dead_letters: int) -> BufferStats:
    counters = {name: 0 for name in COUNTER_NAMES}
    counters.update(dict(connection.execute("SELECT name, value FROM counters").fetchall()))
    (pending,) = connection.execute("SELECT COUNT(*) FROM pending").fetchone()
    (duplicates,) = connection.execute("SELECT COUNT(*) FROM dropped_duplicates").fetchone()
    (statuses,) = connection.execute("SELECT COUNT(*) FROM status_outbox").fetchone()
    (dead,) = connection.execute("SELECT COUNT(*) FROM dead_letters").fetchone()
    rows = connection.execute(
        "SELECT id, received_ms, topic, payload_bytes, reason FROM dead_letters"
        " ORDER BY id DESC LIMIT ?",
        (last_dead_letters,),
    ).fetchall()
    letters = [
        {"id": r[0], "received_ms": r[1], "topic": r[2], "payload_bytes": r[3], "reason": r[4]}
        for r in rows
    ]
    return BufferStats(counters, pending, dead, letters, duplicates, statuses)


def read_status(path: Path, *, last_dead_letters: int = 10) -> BufferStats:
    """Read counters and depths from a buffer file, read-only (a running edge may own it)."""
    if not path.exists():
        raise EdgeBufferError(f"no buffer file at {path}")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            connection.execute("PRAGMA busy_timeout=5000")
            return _read_stats(connection, last_dead_letters)
        finally:
            connection.close()
    except sqlite3.Error as exc:
        raise EdgeBufferError(f"cannot read buffer {path}: {exc}") from exc


class Buffer:
    """`async with Buffer(path) as buffer:` a bounded, crash-safe queue of readings."""

    def __init__(
        self,
        path: Path,
        *,
        max_readings: int = 1_000_000,
        overflow_policy: OverflowPolicy = OverflowPolicy.DROP_OLDEST,
        dead_letter_max_rows: int = 10_000,
        dead_letter_max_payload_bytes: int = 4096,
        # Status changes are rare (a few per device and day): 10,000 outlasts weeks without
        # central for a site's devices, so this is a constant, not an EDGE_* setting.
        status_outbox_max_rows: int = 10_000,
    ) -> None:
        if (
            max_readings < 1
            or dead_letter_max_rows < 1
            or dead_letter_max_payload_bytes < 0
            or status_outbox_max_rows < 1
        ):
            raise ValueError("buffer bounds must be positive")
        self.path = path
        self.max_readings = max_readings
        self.overflow_policy = overflow_policy
        self.dead_letter_max_rows = dead_letter_max_rows
        self.dead_letter_max_payload_bytes = dead_letter_max_payload_bytes
        self.status_outbox_max_rows = status_outbox_max_rows
        self._executor: ThreadPoolExecutor | None = None
        # Owned by the worker thread only.
        self._connection: sqlite3.Connection | None = None
        self._pending = 0
        self._pending_duplicates = 0
        self._pending_statuses = 0
        self._dead_letters = 0
        self.recovered_from: Path | None = None  # where a damaged file was set aside at open

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edge-buffer")
        try:
            await self._call(self._open_sync)
        except BaseException:
            self._shutdown()
            raise
        logger.info(
            "buffer %s open: %d pending readings, %d dead letters",
            self.path,
            self._pending,
            self._dead_letters,
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._shutdown()

    def _shutdown(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return
        # A transaction already running on the worker finishes first (it cannot be interrupted
        # halfway anyway); then the connection is closed on the thread that opened it. Blocking
        # here is bounded by one transaction and keeps shutdown correct under cancellation.
        closing = executor.submit(self._close_sync)
        executor.shutdown(wait=True)
        closing.result()

    async def _call(self, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            raise EdgeBufferError("buffer is not open; use `async with Buffer(...)`")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, functools.partial(fn, *args))

    def _open_sync(self) -> None:
        try:
            self._connection = self._initialise()
        except _DamagedFile as damaged:
            self._connection = self._recover(damaged.reason)

    def _initialise(self) -> sqlite3.Connection:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            existed = self.path.exists() and self.path.stat().st_size > 0
            # isolation_level=None: transactions are explicit BEGIN IMMEDIATE ... COMMIT below.
            connection = sqlite3.connect(self.path, isolation_level=None)
        except (OSError, sqlite3.Error) as exc:
            raise EdgeBufferError(f"cannot open buffer {self.path}: {exc}") from exc
        try:
            _configure(connection)
            # A power cut cannot damage a WAL database with synchronous=FULL, failing storage can:
            # check before writing anything (O(file size), once per start).
            problem = check_integrity(connection) if existed else None
            if problem is not None:
                raise _DamagedFile(problem)
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise EdgeBufferError(
                    f"buffer {self.path} has schema {version}, newer than this edge's"
                    f" {SCHEMA_VERSION}; upgrade the edge"
                )
            connection.executescript(_SCHEMA)
            connection.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
            connection.executemany(
                "INSERT OR IGNORE INTO counters (name, value) VALUES (?, 0)",
                [(name,) for name in COUNTER_NAMES],
            )
            (self._pending,) = connection.execute("SELECT COUNT(*) FROM pending").fetchone()
            (self._pending_duplicates,) = connection.execute(
                "SELECT COUNT(*) FROM dropped_duplicates"
            ).fetchone()
            (self._pending_statuses,) = connection.execute(
                "SELECT COUNT(*) FROM status_outbox"
            ).fetchone()
            (self._dead_letters,) = connection.execute(
                "SELECT COUNT(*) FROM dead_letters"
            ).fetchone()
        except sqlite3.Error as exc:
            connection.close()
            if is_damage(exc):
                raise _DamagedFile(str(exc)) from exc
            raise EdgeBufferError(f"cannot initialise buffer {self.path}: {exc}") from exc
        except BaseException:
            connection.close()
            raise
        return connection

    def _recover(self, reason: str) -> sqlite3.Connection:
        """Set the damaged file aside, start a fresh one, copy into it every whole row."""
        try:
            aside = set_aside(self.path)
        except OSError as exc:
            raise EdgeBufferError(
                f"buffer {self.path} is damaged ({reason}) and cannot be set aside: {exc}"
            ) from exc
        found = salvage(aside)
        connection = self._initialise()
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(
                "INSERT OR IGNORE INTO pending (device, boot, seq, record) VALUES (?, ?, ?, ?)",
                [(r.device, r.boot, r.seq, r.record) for r in found.rows],
            )
            connection.executemany(
                "UPDATE counters SET value = ? WHERE name = ?",
                [(value, name) for name, value in found.counters.items() if name in COUNTER_NAMES],
            )
            self._add_counters(
                connection, {"buffer_recoveries": 1, "salvaged_readings": len(found.rows)}
            )
            connection.execute("COMMIT")
            (self._pending,) = connection.execute("SELECT COUNT(*) FROM pending").fetchone()
        except sqlite3.Error as exc:
            connection.close()
            raise EdgeBufferError(f"cannot fill the fresh buffer {self.path}: {exc}") from exc
        self.recovered_from = aside
        logger.error(
            "buffer %s was damaged (%s): set aside as %s; salvaged %d pending readings"
            " (%d rows unreadable) into a fresh buffer",
            self.path,
            reason,
            aside,
            len(found.rows),
            found.unreadable_rows,
        )
        return connection

    def _close_sync(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

    def _db(self) -> sqlite3.Connection:
        if self._connection is None:
            raise EdgeBufferError("buffer is not open")
        return self._connection

    def _transaction(self, body: Callable[[sqlite3.Connection], T]) -> T:
        connection = self._db()
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                result = body(connection)
                connection.execute("COMMIT")
            except BaseException:
                # SQLite may already have rolled back by itself (SQLITE_FULL, I/O errors).
                if connection.in_transaction:
                    with contextlib.suppress(sqlite3.Error):
                        connection.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            if _is_write_refused(exc):
                raise BufferWriteError(
                    f"buffer {self.path}: disk refused the write: {exc}"
                ) from exc
            raise EdgeBufferError(f"buffer {self.path}: {exc}") from exc
        return result

    def _insert_dead_letters(self, db: sqlite3.Connection, letters: Sequence[DeadLetter]) -> int:
        """Keep `letters`, then the newest `dead_letter_max_rows`; the count of dead letters."""
        limit = self.dead_letter_max_payload_bytes
        db.executemany(
            "INSERT INTO dead_letters (received_ms, topic, payload, payload_bytes, reason)"
            " VALUES (?, ?, ?, ?, ?)",
            [
                (
                    letter.received_ms,
                    letter.topic[:MAX_TOPIC_CHARS],
                    letter.payload[:limit],
                    len(letter.payload),
                    letter.reason[:MAX_REASON_CHARS],
                )
                for letter in letters
            ],
        )
        dead = self._dead_letters + len(letters)
        if dead > self.dead_letter_max_rows:
            db.execute(
                "DELETE FROM dead_letters WHERE id IN"
                " (SELECT id FROM dead_letters ORDER BY id LIMIT ?)",
                (dead - self.dead_letter_max_rows,),
            )
            dead = self.dead_letter_max_rows
        return dead

    @staticmethod
    def _add_counters(connection: sqlite3.Connection, deltas: Mapping[str, int]) -> None:
        connection.executemany(
            "INSERT INTO counters (name, value) VALUES (?, ?)"
            " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value",
            [(name, delta) for name, delta in deltas.items() if delta],
        )

    # -- intake side -------------------------------------------------------------------------

    async def commit(
        self,
        readings: Sequence[NewReading] = (),
        dead_letters: Sequence[DeadLetter] = (),
        statuses: Sequence[DeviceStatus] = (),
        *,
        received: int | None = None,
    ) -> CommitOutcome:
        """Write all of it in ONE transaction; on return it is on disk (synchronous=FULL)."""
        if received is None:
            received = len(readings) + len(dead_letters) + len(statuses)
        outcome = await self._call(
            self._commit_sync, list(readings), list(dead_letters), list(statuses), received
        )
        if outcome.dropped_overflow:
            logger.warning(
                "buffer full (%d readings, policy %s): dropped %d readings",
                self.max_readings,
                self.overflow_policy.value,
                outcome.dropped_overflow,
            )
        return outcome

    def _commit_sync(
        self,
        readings: list[NewReading],
        dead_letters: list[DeadLetter],
        statuses: list[DeviceStatus],
        received: int,
    ) -> CommitOutcome:
        def body(db: sqlite3.Connection) -> tuple[CommitOutcome, int, int]:
            pending = self._pending
            persisted = duplicates = dropped = 0
            copies: list[tuple[str, int]] = []  # dropped duplicates, reported to central
            for reading in readings:
                identity = (reading.device, reading.boot, reading.seq)
                if (
                    self.overflow_policy is OverflowPolicy.DROP_NEWEST
                    and pending >= self.max_readings
                ):
                    known = db.execute(
                        "SELECT 1 FROM pending WHERE device = ? AND boot = ? AND seq = ?",
                        identity,
                    ).fetchone()
                    if known:
                        duplicates += 1
                        copies.append((reading.device, reading.device_time_ms))
                    else:
                        dropped += 1
                    continue
                # The reading identity absorbs QoS 1 redelivery and device resends.
                cursor = db.execute(
                    "INSERT OR IGNORE INTO pending (device, boot, seq, record) VALUES (?, ?, ?, ?)",
                    (*identity, reading.record_json),
                )
                if cursor.rowcount == 1:
                    persisted += 1
                    pending += 1
                else:
                    duplicates += 1
                    copies.append((reading.device, reading.device_time_ms))
            if copies:
                db.executemany(
                    "INSERT INTO dropped_duplicates (device, device_time_ms) VALUES (?, ?)", copies
                )
            if pending > self.max_readings:  # only reachable with DROP_OLDEST
                excess = pending - self.max_readings
                db.execute(
                    "DELETE FROM pending WHERE id IN (SELECT id FROM pending ORDER BY id LIMIT ?)",
                    (excess,),
                )
                dropped += excess
                pending = self.max_readings

            dead = self._insert_dead_letters(db, dead_letters)

            changes, collapsed = self._record_statuses(db, statuses)
            outcome = CommitOutcome(
                received=received,
                persisted=persisted,
                duplicates=duplicates,
                dead_lettered=len(dead_letters),
                dropped_overflow=dropped,
                status_updates=len(statuses),
                status_changes=changes,
            )
            self._add_counters(
                db,
                {
                    "received": outcome.received,
                    "persisted": outcome.persisted,
                    "duplicates": outcome.duplicates,
                    "dead_lettered": outcome.dead_lettered,
                    "dropped_overflow": outcome.dropped_overflow,
                    "status_updates": outcome.status_updates,
                    "status_changes": outcome.status_changes,
                    "status_changes_dropped": collapsed,
                },
            )
            return outcome, pending, dead

        outcome, self._pending, self._dead_letters = self._transaction(body)
        self._pending_duplicates += outcome.duplicates
        if outcome.status_changes:
            (self._pending_statuses,) = (
                self._db().execute("SELECT COUNT(*) FROM status_outbox").fetchone()
            )
        return outcome

    def _record_statuses(
        self, db: sqlite3.Connection, statuses: list[DeviceStatus]
    ) -> tuple[int, int]:
        """Upsert each device's latest status; queue each CHANGE (new device, other state, or a
        new boot) in the outbox for central. Returns (changes queued, changes dropped).

        A retained status the broker redelivers (edge restart, reconnect) repeats the stored one
        and is not a change, so central hears of each change once. Bound: beyond
        `status_outbox_max_rows` (central unreachable for long), only the newest change of each
        device is kept, then the oldest are dropped; central still learns every device's latest
        state, only intermediate flaps are lost (counted in `status_changes_dropped`).
        """
        changes = 0
        for status in statuses:
            known = db.execute(
                "SELECT state, boot FROM device_status WHERE site = ? AND kind = ? AND device = ?",
                (status.site, status.kind, status.device),
            ).fetchone()
            changed = (
                known is None
                or known[0] != status.state
                or (status.boot is not None and known[1] != status.boot)
            )
            db.execute(
                "INSERT INTO device_status (site, kind, device, state, boot, received_ms)"
                " VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (site, kind, device) DO UPDATE SET state = excluded.state,"
                " boot = COALESCE(excluded.boot, boot), received_ms = excluded.received_ms",
                (
                    status.site,
                    status.kind,
                    status.device,
                    status.state,
                    status.boot,
                    status.received_ms,
                ),
            )
            if changed:
                changes += 1
                # The boot a will names: the device's last known boot when the will has none.
                boot = status.boot if status.boot is not None else (known[1] if known else None)
                db.execute(
                    "INSERT INTO status_outbox"
                    " (kind, device, state, boot, device_time_ms, received_ms)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        status.kind,
                        status.device,
                        status.state,
                        boot,
                        status.device_time_ms,
                        status.received_ms,
                    ),
                )
        if not changes:
            return 0, 0
        (queued,) = db.execute("SELECT COUNT(*) FROM status_outbox").fetchone()
        if queued <= self.status_outbox_max_rows:
            return changes, 0
        dropped = db.execute(
            "DELETE FROM status_outbox WHERE id NOT IN"
            " (SELECT MAX(id) FROM status_outbox GROUP BY kind, device)"
        ).rowcount
        queued -= dropped
        if queued > self.status_outbox_max_rows:
            dropped += db.execute(
                "DELETE FROM status_outbox WHERE id IN"
                " (SELECT id FROM status_outbox ORDER BY id LIMIT ?)",
                (queued - self.status_outbox_max_rows,),
            ).rowcount
        logger.warning(
            "status outbox full (%d changes): dropped %d older changes, kept the newest per device",
            self.status_outbox_max_rows,
            dropped,
        )
        return changes, dropped

    # -- upload side -------------------------------------------------------------------------

    async def oldest(self, limit: int) -> list[PendingRow]:
        """The `limit` oldest pending readings, in the order they were persisted."""
        return await self._call(self._oldest_sync, limit)

    def _oldest_sync(self, limit: int) -> list[PendingRow]:
        rows = self._db().execute(
            "SELECT id, device, boot, seq, record FROM pending ORDER BY id LIMIT ?", (limit,)
        )
        return [PendingRow(*row) for row in rows.fetchall()]

    async def oldest_and_newest(self, oldest: int, newest: int) -> list[PendingRow]:
        """The `oldest` oldest and the `newest` newest pending readings (no row twice), by id."""
        return await self._call(self._oldest_and_newest_sync, oldest, newest)

    def _oldest_and_newest_sync(self, oldest: int, newest: int) -> list[PendingRow]:
        rows = self._db().execute(
            "SELECT id, device, boot, seq, record FROM pending"
            " WHERE id IN (SELECT id FROM pending ORDER BY id LIMIT ?)"
            " OR id IN (SELECT id FROM pending ORDER BY id DESC LIMIT ?) ORDER BY id",
            (oldest, newest),
        )
        return [PendingRow(*row) for row in rows.fetchall()]

    async def oldest_duplicates(self, limit: int) -> list[PendingDuplicate]:
        """The `limit` oldest dropped duplicates central has not confirmed yet."""
        return await self._call(self._oldest_duplicates_sync, limit)

    def _oldest_duplicates_sync(self, limit: int) -> list[PendingDuplicate]:
        rows = self._db().execute(
            "SELECT id, device, device_time_ms FROM dropped_duplicates ORDER BY id LIMIT ?",
            (limit,),
        )
        return [PendingDuplicate(*row) for row in rows.fetchall()]

    async def oldest_statuses(self, limit: int) -> list[PendingStatus]:
        """The `limit` oldest device status changes central has not confirmed yet."""
        return await self._call(self._oldest_statuses_sync, limit)

    def _oldest_statuses_sync(self, limit: int) -> list[PendingStatus]:
        rows = self._db().execute(
            "SELECT id, kind, device, state, boot, device_time_ms, received_ms FROM status_outbox"
            " ORDER BY id LIMIT ?",
            (limit,),
        )
        return [PendingStatus(*row) for row in rows.fetchall()]

    async def delete_confirmed(
        self,
        ids: Sequence[int],
        *,
        rejected: int = 0,
        duplicate_ids: Sequence[int] = (),
        status_ids: Sequence[int] = (),
    ) -> int:
        """Delete readings (and reported duplicates and status changes) central confirmed (2xx);
        count them as uploaded. Returns reading rows deleted."""
        return await self._call(
            self._delete_sync, list(ids), rejected, list(duplicate_ids), list(status_ids)
        )

    def _delete_sync(
        self, ids: list[int], rejected: int, duplicate_ids: list[int], status_ids: list[int]
    ) -> int:
        def body(db: sqlite3.Connection) -> tuple[int, int, int]:
            cursor = db.executemany("DELETE FROM pending WHERE id = ?", [(i,) for i in ids])
            deleted = max(cursor.rowcount, 0)
            cursor = db.executemany(
                "DELETE FROM dropped_duplicates WHERE id = ?", [(i,) for i in duplicate_ids]
            )
            reported = max(cursor.rowcount, 0)
            cursor = db.executemany(
                "DELETE FROM status_outbox WHERE id = ?", [(i,) for i in status_ids]
            )
            self._add_counters(db, {"uploaded": len(ids), "rejected_by_central": rejected})
            return deleted, reported, max(cursor.rowcount, 0)

        deleted, reported, sent = self._transaction(body)
        self._pending -= deleted
        self._pending_duplicates -= reported
        self._pending_statuses -= sent
        return deleted

    async def dead_letter_unsent(
        self,
        letters: Sequence[DeadLetter],
        *,
        ids: Sequence[int] = (),
        duplicate_ids: Sequence[int] = (),
        status_ids: Sequence[int] = (),
    ) -> None:
        """Move pending readings (dropped-duplicate reports, status changes) that central fails
        on to the dead letters, in one transaction: the uploader's isolation of a batch that
        keeps failing (edge/uploader.py) — they are kept for inspection and no longer block the
        entries behind them."""

        def body(db: sqlite3.Connection) -> tuple[int, int, int, int]:
            counts = [
                max(db.executemany(sql, [(i,) for i in chosen]).rowcount, 0)
                for sql, chosen in (
                    ("DELETE FROM pending WHERE id = ?", ids),
                    ("DELETE FROM dropped_duplicates WHERE id = ?", duplicate_ids),
                    ("DELETE FROM status_outbox WHERE id = ?", status_ids),
                )
            ]
            dead = self._insert_dead_letters(db, letters)
            self._add_counters(db, {"dead_lettered": len(letters)})
            return counts[0], counts[1], counts[2], dead

        deleted, reported, sent, self._dead_letters = await self._call(self._transaction, body)
        self._pending -= deleted
        self._pending_duplicates -= reported
        self._pending_statuses -= sent

    async def reclaim_space(self) -> None:
        """After the disk refused a write: fold the WAL into the database and truncate it.

        Deleting rows needs WAL space too; a WAL left large by earlier writes can hold the very
        space the next delete needs. Failure here is expected on a full disk and only logged.
        """

        def checkpoint() -> None:
            try:
                self._db().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            except sqlite3.Error as exc:
                logger.warning("buffer %s: WAL checkpoint failed: %s", self.path, exc)

        await self._call(checkpoint)

    async def add_counters(self, **deltas: int) -> None:
        """Add to persisted counters, e.g. `upload_failures=1`."""
        unknown = set(deltas) - set(COUNTER_NAMES)
        if unknown:
            raise ValueError(f"unknown counters {sorted(unknown)}")
        await self._call(self._transaction, lambda db: self._add_counters(db, deltas))

    # -- inspection --------------------------------------------------------------------------

    async def pending_duplicates_count(self) -> int:
        """Dropped duplicates not yet confirmed by central."""
        return await self._call(lambda: self._pending_duplicates)

    async def pending_statuses_count(self) -> int:
        """Device status changes not yet confirmed by central."""
        return await self._call(lambda: self._pending_statuses)

    async def pending_count(self) -> int:
        """Readings waiting for upload (kept in memory by the worker: no table scan)."""
        return await self._call(lambda: self._pending)

    async def health(self, measured_ms: int) -> EdgeHealth:
        """The edge's health for central (contract.EdgeHealth), read from one snapshot."""

        def read() -> EdgeHealth:
            db = self._db()
            counters = dict(db.execute("SELECT name, value FROM counters").fetchall())
            oldest = db.execute("SELECT record FROM pending ORDER BY id LIMIT 1").fetchone()
            age_ms = None
            if oldest is not None:
                received_ms = int(json.loads(oldest[0])["received_ms"])
                age_ms = max(0, measured_ms - received_ms)
            return EdgeHealth(
                measured_ms=measured_ms,
                dropped_overflow=counters.get("dropped_overflow", 0),
                dead_lettered=counters.get("dead_lettered", 0),
                intake_pauses=counters.get("intake_pauses", 0),
                broker_sessions_lost=counters.get("broker_sessions_lost", 0),
                pending_readings=self._pending,
                oldest_pending_age_ms=age_ms,
            )

        return await self._call(read)

    async def stats(self, *, last_dead_letters: int = 0) -> BufferStats:
        return await self._call(lambda: _read_stats(self._db(), last_dead_letters))

    async def dead_letters(self) -> list[dict[str, Any]]:
        """Every stored dead letter, oldest first, with the (truncated) payload bytes."""

        def read() -> list[dict[str, Any]]:
            rows = self._db().execute(
                "SELECT id, received_ms, topic, payload, payload_bytes, reason"
                " FROM dead_letters ORDER BY id"
            )
            keys = ("id", "received_ms", "topic", "payload", "payload_bytes", "reason")
            return [dict(zip(keys, row, strict=True)) for row in rows.fetchall()]

        return await self._call(read)

    async def device_statuses(self) -> list[DeviceStatus]:
        def read() -> list[DeviceStatus]:
            rows = self._db().execute(
                "SELECT site, kind, device, state, boot, received_ms FROM device_status"
                " ORDER BY site, kind, device"
            )  # the device's clock is kept with the changes in the outbox only
            return [DeviceStatus(*row) for row in rows.fetchall()]

        return await self._call(read)


def stats_json(stats: BufferStats) -> str:
    """The `canteen-edge status` output."""
    return json.dumps(stats.as_dict(), indent=2, sort_keys=True)
