"""Recovery of a damaged buffer file: set it aside, keep every row that can still be read.

WAL with synchronous=FULL survives power cuts by design; a file that is cut short or has damaged
pages comes from failing storage (SD cards, full disks, copied files). The edge must still start:
the damaged file is renamed aside (never deleted: an operator may recover more from it), and every
pending reading that can be read and is whole is copied, in its original order, into a fresh buffer.
"""

import json
import logging
import shutil
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

# Result codes (https://sqlite.org/rescode.html) that mean "the file is damaged", as opposed to
# "busy", "locked" or "cannot open", which must never make the edge set a buffer aside.
SQLITE_CORRUPT = 11
SQLITE_NOTADB = 26

# A bisection down to single ids stops after this many failed probes (a huge, mostly damaged id
# range); what was salvaged until then is kept.
MAX_FAILED_PROBES = 100_000

SIDE_FILES = ("-wal", "-shm", "-journal")
HEADER_BYTES = 100
SQLITE_MAGIC = b"SQLite format 3\x00"


def is_damage(exc: sqlite3.Error) -> bool:
    """True if SQLite says the file itself is damaged (corrupt or not a database)."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(code, int) and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB)


def check_integrity(connection: sqlite3.Connection) -> str | None:
    """None if `PRAGMA quick_check` finds the file sound, else its first complaint."""
    rows = connection.execute("PRAGMA quick_check").fetchall()
    first = str(rows[0][0]) if rows else "quick_check returned nothing"
    return None if first == "ok" else first


@dataclass(frozen=True, slots=True)
class SalvagedRow:
    device: str
    boot: str
    seq: int
    record: str


def set_aside(path: Path) -> Path:
    """Rename a damaged buffer and its WAL to `<name>.damaged-<epoch ms>`; return the new path."""
    aside = path.with_name(f"{path.name}.damaged-{time.time_ns() // 1_000_000}")
    path.rename(aside)
    for suffix in SIDE_FILES:
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.rename(aside.with_name(aside.name + suffix))
    return aside


def _whole(row: tuple[object, ...]) -> SalvagedRow | None:
    """The row if every field has its type and the record is JSON naming the same identity."""
    _, device, boot, seq, record = row
    if not (isinstance(device, str) and isinstance(boot, str) and isinstance(record, str)):
        return None
    if not isinstance(seq, int):
        return None
    try:
        body = json.loads(record)
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    if (body.get("device"), body.get("boot"), body.get("seq")) != (device, boot, seq):
        return None
    return SalvagedRow(device, boot, seq, record)


def _id_bounds(source: sqlite3.Connection) -> tuple[int, int] | None:
    queries = (
        "SELECT MIN(id), MAX(id) FROM pending",
        "SELECT 1, seq FROM sqlite_sequence WHERE name = 'pending'",
    )
    for query in queries:
        try:
            found = source.execute(query).fetchone()
        except sqlite3.Error:
            continue
        if found and found[0] is not None and found[1] is not None:
            return int(found[0]), int(found[1])
    return None


def _bisect_rows(source: sqlite3.Connection, low: int, high: int) -> Iterator[tuple[object, ...]]:
    """Every readable row with id in [low, high], in id order, skipping unreadable id ranges."""
    ranges = [(low, high)]
    failed = 0
    while ranges and failed < MAX_FAILED_PROBES:
        a, b = ranges.pop()
        try:
            rows = source.execute(
                "SELECT id, device, boot, seq, record FROM pending"
                " WHERE id BETWEEN ? AND ? ORDER BY id",
                (a, b),
            ).fetchall()
        except sqlite3.Error:
            failed += 1
            if a < b:
                middle = (a + b) // 2
                ranges.append((middle + 1, b))  # popped after the lower half: id order kept
                ranges.append((a, middle))
            continue
        yield from rows


@dataclass(frozen=True, slots=True)
class Salvage:
    """What could be read from a damaged buffer file."""

    rows: list[SalvagedRow]
    unreadable_rows: int  # rows read but not whole (bad types, torn JSON)
    counters: dict[str, int]


def _padded_copy(path: Path) -> Path:
    """A working copy, zero-filled up to the size its header declares.

    SQLite refuses a file shorter than the page count in its header as a whole; padded with zero
    pages, only the lost pages are unreadable and the rest of the b-trees can be walked. The file
    set aside stays exactly as it was found.
    """
    copy = path.with_name(path.name + ".salvage")
    shutil.copyfile(path, copy)
    for suffix in SIDE_FILES[:1]:  # the WAL belongs to the file; the shm index is rebuilt
        side = path.with_name(path.name + suffix)
        if side.exists():
            shutil.copyfile(side, copy.with_name(copy.name + suffix))
    with path.open("rb") as original:
        header = original.read(HEADER_BYTES)
    if len(header) == HEADER_BYTES and header.startswith(SQLITE_MAGIC):
        page_bytes = int.from_bytes(header[16:18], "big")
        page_bytes = 65536 if page_bytes == 1 else page_bytes
        declared = int.from_bytes(header[28:32], "big") * page_bytes
        if declared > copy.stat().st_size:
            with copy.open("r+b") as file:
                file.truncate(declared)
    return copy


def salvage(path: Path) -> Salvage:
    """Read what can be read from a damaged buffer file (never raises for damage)."""
    rows: list[SalvagedRow] = []
    unreadable = 0
    counters: dict[str, int] = {}
    try:
        copy = _padded_copy(path)
    except OSError as exc:
        logger.error("damaged buffer %s cannot be copied for salvage: %s", path, exc)
        return Salvage(rows, unreadable, counters)
    try:
        return _salvage_copy(copy)
    finally:
        for file in (copy, *(copy.with_name(copy.name + s) for s in SIDE_FILES)):
            file.unlink(missing_ok=True)


def _salvage_copy(path: Path) -> Salvage:
    rows: list[SalvagedRow] = []
    unreadable = 0
    counters: dict[str, int] = {}
    try:
        source = sqlite3.connect(path, isolation_level=None)
    except sqlite3.Error as exc:
        logger.error("damaged buffer %s cannot be opened at all: %s", path, exc)
        return Salvage(rows, unreadable, counters)
    try:
        bounds = _id_bounds(source)
        if bounds is not None:
            for row in _bisect_rows(source, *bounds):
                whole = _whole(row)
                if whole is None:
                    unreadable += 1
                else:
                    rows.append(whole)
        try:
            for name, value in source.execute("SELECT name, value FROM counters").fetchall():
                if isinstance(name, str) and isinstance(value, int):
                    counters[name] = value
        except sqlite3.Error:
            pass  # counters are statistics; a fresh buffer starts them at 0
    finally:
        source.close()
    return Salvage(rows, unreadable, counters)
