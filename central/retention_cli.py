"""`canteen-central prune`: seal the rolled-up dates older than the retention and delete their raw
readings now, or with --dry-run say what that would do.

Central does the same by itself on every rollup sweep when CENTRAL_RAW_RETENTION_DAYS is set;
this command runs it once, for example before a backup, and can run while central serves (both
write the database in short transactions).
"""

import argparse
import asyncio
import sys
from collections.abc import Mapping
from pathlib import Path

from central.errors import CentralError
from central.keys_cli import (
    EXIT_FAILED,
    EXIT_USAGE,
    add_command,
    database_path,
    registry_at,
)
from central.registry import Site
from central.retention import MIN_RAW_RETENTION_DAYS, SitePruned, prune
from central.store.sqlite import SqliteStore


def add_prune_parser(commands: "argparse._SubParsersAction[argparse.ArgumentParser]") -> None:
    parser = add_command(
        commands,
        "prune",
        "seal rolled-up dates older than the retention and delete their raw readings",
        __doc__,
        "(required) ",
    )
    parser.add_argument(
        "--days",
        type=int,
        metavar="N",
        help="keep the raw readings of the last N local dates (default: "
        f"CENTRAL_RAW_RETENTION_DAYS; at least {MIN_RAW_RETENTION_DAYS})",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="change nothing: print the horizon each site would get and the rows it would free",
    )


def run_prune(args: argparse.Namespace, environ: Mapping[str, str]) -> int:
    """Run `prune`; one line per site on stdout, one line on stderr when it cannot run."""
    days = args.days
    if days is None and environ.get("CENTRAL_RAW_RETENTION_DAYS"):
        try:
            days = int(environ["CENTRAL_RAW_RETENTION_DAYS"])
        except ValueError:
            return _usage("CENTRAL_RAW_RETENTION_DAYS: not a whole number of days")
    if days is None:
        return _usage("no retention: pass --days N or set CENTRAL_RAW_RETENTION_DAYS")
    if days < MIN_RAW_RETENTION_DAYS:
        return _usage(f"a retention of {days} days is below the minimum {MIN_RAW_RETENTION_DAYS}")
    db = database_path(args, environ)
    if not db.is_file():
        return _failed(f"no database at {db} (set CENTRAL_SQLITE_PATH or pass --db)")
    try:
        registry = registry_at(args, environ)
        if registry is None:
            return _usage(
                "the site registry is needed: pass --registry or set CENTRAL_REGISTRY_PATH"
            )
        done = asyncio.run(_prune(db, list(registry.sites.values()), days, args.dry_run))
    except CentralError as exc:
        return _failed(exc.reason)
    for site in done:
        print(_line(site, args.dry_run))
    return 0


async def _prune(db: Path, sites: list[Site], days: int, dry_run: bool) -> list[SitePruned]:
    async with SqliteStore(db) as store:
        return await prune(store, sites, days, dry_run=dry_run)


def _line(site: SitePruned, dry_run: bool) -> str:
    moved = site.sealed_through != site.sealed_before
    horizon = f"sealed through {site.sealed_through or 'no date'}"
    if moved:
        horizon += f" (was {site.sealed_before or 'none'})"
    verb = "would delete" if dry_run else "deleted"
    d = site.deleted
    text = (
        f"site {site.site}: {'would be ' if dry_run and moved else ''}{horizon}; {verb}"
        f" {d.readings} readings, {d.duplicate_counts} duplicate counts,"
        f" {d.edge_duplicates} edge duplicate keys"
    )
    return text + (f" ({site.note})" if site.note else "")


def _usage(reason: str) -> int:
    print(f"canteen-central prune: {reason}", file=sys.stderr)
    return EXIT_USAGE


def _failed(reason: str) -> int:
    print(f"canteen-central prune: {reason}", file=sys.stderr)
    return EXIT_FAILED
