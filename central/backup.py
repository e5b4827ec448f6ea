"""`canteen-central backup DEST` and `restore SRC`: central's SQLite database (readings, rejected
readings, device status, the KPI rollups, edge keys and read tokens) copied with SQLite's online
backup API.

Backup reads the database in one read transaction (WAL mode: central keeps serving and writing
meanwhile) and so copies one committed state: every upload batch central answered 200 before the
copy began is in it, none is in it by half. The copy is written beside DEST, checked
(`PRAGMA integrity_check`), fsynced and then renamed into place, so DEST is never a partial file.

Restore checks the source (integrity, and that it is a central database of a schema this central
knows) and copies it into CENTRAL_SQLITE_PATH with the same API. It refuses to overwrite an
existing database without --force; stop central first (`systemctl stop canteen-central`): with
--force the copy is consistent for every SQLite connection, but a running central keeps what it
had cached in memory.
"""

import argparse
import os
import sqlite3
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from central.errors import CentralError
from central.keys_cli import DB_HELP, EXIT_FAILED, database_path
from central.store.sqlite import SCHEMA_VERSION

BUSY_TIMEOUT_S = 30.0  # waiting for central's writer to release a lock it holds
# The 'sqlite' store's tables; a central on the 'influxdb' store keeps only `credentials` here.
STORE_TABLES = frozenset({"readings", "rejected_readings", "device_status"})
CREDENTIALS_TABLE = "credentials"


class BackupError(CentralError):
    """A backup or restore that did not happen; `reason` says why and what to do."""


@dataclass(frozen=True, slots=True)
class Copied:
    """What a backup or restore copied."""

    path: Path
    size_bytes: int
    readings: int


def _open_existing(path: Path, *, read_only: bool) -> sqlite3.Connection:
    """A connection to an existing database file; never creates one."""
    if not path.is_file():
        raise BackupError(f"no database at {path} (set CENTRAL_SQLITE_PATH or pass --db)")
    mode = "ro" if read_only else "rw"
    try:
        conn = sqlite3.connect(
            f"{path.resolve().as_uri()}?mode={mode}", uri=True, timeout=BUSY_TIMEOUT_S
        )
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {path}: {exc}") from exc
    return conn


def check_database(conn: sqlite3.Connection, what: Path) -> int:
    """Raise BackupError unless `conn` is an intact central database; return its readings."""
    try:
        problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        if problems != ["ok"]:
            raise BackupError(f"{what} fails SQLite's integrity check: {'; '.join(problems[:5])}")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        store = tables >= STORE_TABLES and version == SCHEMA_VERSION
        if not store and (tables & STORE_TABLES or CREDENTIALS_TABLE not in tables):
            raise BackupError(
                f"{what} is not a central database of schema version {SCHEMA_VERSION} "
                f"(user_version {version}, tables {sorted(tables)[:8]})"
            )
        readings: int = conn.execute("SELECT count(*) FROM readings").fetchone()[0] if store else 0
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"{what} is not a readable SQLite database: {exc}") from exc
    return readings


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def backup(database: Path, dest: Path) -> Copied:
    """Copy `database` to `dest` (a file, or a folder for a time-stamped file); consistent while
    central writes. Refuses to overwrite an existing file."""
    if dest.is_dir():
        stamp = datetime.now(tz=UTC).strftime("%Y%m%dT%H%M%SZ")
        dest = dest / f"central-{stamp}.sqlite3"
    if dest.exists():
        raise BackupError(f"{dest} exists; choose a new name (backups are never overwritten)")
    if not dest.parent.is_dir():
        raise BackupError(f"folder {dest.parent} does not exist")
    partial = dest.with_name(f".{dest.name}.partial")
    partial.unlink(missing_ok=True)
    source = _open_existing(database, read_only=True)
    try:
        target = sqlite3.connect(partial)
        try:
            # pages=-1: the whole database in one step, in one read transaction. A stepwise copy
            # would start over at every commit of central's writer, and might never end.
            source.backup(target, pages=-1)
            readings = check_database(target, partial)
        finally:
            target.close()
        _fsync(partial)
        partial.rename(dest)
        _fsync(dest.parent)
    except sqlite3.Error as exc:
        raise BackupError(f"backup of {database} failed: {exc}") from exc
    finally:
        source.close()
        partial.unlink(missing_ok=True)
    return Copied(dest, dest.stat().st_size, readings)


def restore(source_path: Path, database: Path, *, force: bool) -> Copied:
    """Copy the backup `source_path` into `database`, after checking it. An existing database
    is replaced only with `force`."""
    source = _open_existing(source_path, read_only=True)
    try:
        check_database(source, source_path)
        if database.exists() and not force:
            raise BackupError(
                f"{database} exists: stop central, then run restore again with --force to "
                "replace it (take a backup of it first if it may still be needed)"
            )
        database.parent.mkdir(parents=True, exist_ok=True)
        target = sqlite3.connect(database, timeout=BUSY_TIMEOUT_S)
        try:
            # Central's databases are in WAL mode; the copy keeps the source's journal mode.
            source.backup(target, pages=-1)
            readings = check_database(target, database)
        finally:
            target.close()
    except sqlite3.Error as exc:
        raise BackupError(f"restore into {database} failed: {exc}") from exc
    finally:
        source.close()
    return Copied(database, database.stat().st_size, readings)


def add_backup_parsers(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    back = commands.add_parser(
        "backup",
        help="copy central's SQLite database to DEST, consistent while central runs",
        description="Copy central's SQLite database (readings, device status, KPI cache, keys "
        "and tokens) with SQLite's online backup API, while central serves and writes. DEST is "
        "a new file, or a folder for central-<UTC time>.sqlite3; an existing file is never "
        "overwritten. InfluxDB readings are backed up with `influx backup` "
        "(docs/operations.md).",
    )
    back.add_argument("dest", type=Path, metavar="DEST", help="new file, or existing folder")
    back.add_argument("--db", type=Path, metavar="PATH", help=DB_HELP)
    rest = commands.add_parser(
        "restore",
        help="check a backup and copy it into central's SQLite database",
        description="Check SRC (SQLite integrity, central's schema) and copy it into central's "
        "database. An existing database is replaced only with --force: stop central first.",
    )
    rest.add_argument("source", type=Path, metavar="SRC", help="a file written by backup")
    rest.add_argument("--db", type=Path, metavar="PATH", help=DB_HELP)
    rest.add_argument(
        "--force", action="store_true", help="replace an existing database (central stopped)"
    )


def run_backup_command(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run `backup` or `restore`; one line on stderr when it fails."""
    database = database_path(args, environ)
    try:
        if args.command == "backup":
            copied = backup(database, args.dest)
            verb = "backed up"
        else:
            copied = restore(args.source, database, force=args.force)
            verb = "restored"
    except BackupError as exc:
        print(f"canteen-central {args.command}: {exc.reason}", file=sys.stderr)
        return EXIT_FAILED
    print(
        f"{verb} {copied.readings} readings ({copied.size_bytes} bytes) to {copied.path}"
        + ("; start central" if args.command == "restore" else "")
    )
    return 0
