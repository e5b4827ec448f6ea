"""Figure 6g's data: a national network's rollups generated directly, not from readings.

A template site's stored rollups (figure 6's generated data, rolled up by the maintainer) are
copied to `sites` sites x the 365 (or 366) dates of a calendar year: date i takes the template's
entry and dish sums i modulo its dates, the entry's day bounds rewritten to date i's (the first
two float64s of its fixed block, central.kpi.rollup.encode), with empty chain states on both
sides (every row chains onto the one before, so a read takes every row as current), and each
month's summary (central.kpi.months) as the maintainer would have stored it. One
INSERT ... SELECT of sites x dates writes them, so generating 10,000 sites x 1 year takes SQLite's
time, not Python's.
"""

import sqlite3
import struct
from dataclasses import dataclass, replace
from datetime import date, time, timedelta
from pathlib import Path

from central.kpi.months import month_parts, summarise
from central.kpi.periods import DateRange
from central.kpi.rollup import EMPTY_CHAIN, ENTRY_HEAD, config_key
from central.kpi.windows import local_instant_ms
from central.registry import Site
from central.store.sqlite import SqliteStore

_COPY = """
INSERT INTO kpi_rollup (site, local_date, gen, pending_ms, config, starts, ends, entry, dishes)
SELECT s.site, d.local_date, 1, NULL, s.config, ?, ?, d.entry, d.dishes
FROM n_sites s CROSS JOIN n_dates d ORDER BY s.site, d.local_date
"""


_MONTHS = """
INSERT INTO kpi_rollup_month (site, month, gen, config, summary)
SELECT s.site, m.month, 0, s.config, m.summary FROM n_sites s CROSS JOIN n_months m WHERE true
ON CONFLICT (site, month) DO UPDATE SET config = excluded.config, summary = excluded.summary
"""

_MONTH_DEVICES = """
INSERT OR REPLACE INTO kpi_rollup_month_devices (site, month, devices)
SELECT s.site, m.month, m.devices FROM n_sites s CROSS JOIN n_months m
"""


def month_summaries(
    template: Site, by_date: list[tuple[str, bytes, bytes]]
) -> list[tuple[str, bytes, bytes]]:
    """(month, site part, device part) of each whole month's summary of the dates (iso date,
    entry, dishes)."""
    out = []
    entries = {date.fromisoformat(on): entry for on, entry, _ in by_date}
    first, last = min(entries), max(entries)
    for part, whole in month_parts(DateRange(first, last)):
        if whole:
            summary = summarise(template, part, [entries[d] for d in part.dates()])
            if summary is None:
                raise ValueError(f"the template's entries of {part} do not compose")
            out.append((part.first.isoformat(), summary.site, summary.devices))
    return out


@dataclass(frozen=True, slots=True)
class National:
    sites: list[Site]
    span: DateRange
    rows: int
    bytes_per_site_date: float


def template_entries(sqlite_path: Path, site: str) -> list[tuple[bytes, bytes]]:
    """The stored rollup entries of `site` and their dish sums, in date order."""
    with sqlite3.connect(sqlite_path) as conn:
        rows = conn.execute(
            "SELECT entry, dishes FROM kpi_rollup WHERE site = ? AND entry IS NOT NULL"
            " AND dishes IS NOT NULL ORDER BY local_date",
            (site,),
        ).fetchall()
    if not rows:
        raise ValueError(f"no rollup of {site} in {sqlite_path}")
    return [(bytes(entry), bytes(dishes)) for entry, dishes in rows]


def with_day(entry: bytes, site: Site, on: date) -> bytes:
    """`entry` with its day bounds set to local date `on` of `site`."""
    _, n_header, _, _ = ENTRY_HEAD.unpack_from(entry)
    at = ENTRY_HEAD.size + n_header
    start = local_instant_ms(on, time(0, 0), site.timezone)
    end = local_instant_ms(on + timedelta(days=1), time(0, 0), site.timezone)
    return entry[:at] + struct.pack("<2d", start, end) + entry[at + 16 :]


async def generate(
    path: Path, template: Site, entries: list[tuple[bytes, bytes]], sites: int, year: int
) -> National:
    """`sites` copies of `template` (ids nat-00000...) with rollups for every date of `year`."""
    span = DateRange(date(year, 1, 1), date(year, 12, 31))
    async with SqliteStore(path):
        pass  # the schema
    copies = [replace(template, id=f"nat-{n:05d}", name=f"nat {n}") for n in range(sites)]
    by_date = []
    for i, on in enumerate(span.dates()):
        entry, dishes = entries[i % len(entries)]
        by_date.append((on.isoformat(), with_day(entry, template, on), dishes))
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TEMP TABLE n_sites (site TEXT, config TEXT)")
        conn.execute("CREATE TEMP TABLE n_dates (local_date TEXT, entry BLOB, dishes BLOB)")
        conn.executemany(
            "INSERT INTO n_sites VALUES (?, ?)", [(s.id, config_key(s)) for s in copies]
        )
        conn.executemany("INSERT INTO n_dates VALUES (?, ?, ?)", by_date)
        conn.execute(_COPY, (EMPTY_CHAIN, EMPTY_CHAIN))
        conn.execute(
            "INSERT INTO kpi_rollup_config (site, config) SELECT site, config FROM n_sites"
        )
        # each month's summary, as the maintainer stores it (central.kpi.months): the same for
        # every copy (a summary names no site), summarised once from the template's entries
        conn.execute("CREATE TEMP TABLE n_months (month TEXT, summary BLOB, devices BLOB)")
        conn.executemany(
            "INSERT INTO n_months VALUES (?, ?, ?)", month_summaries(template, by_date)
        )
        conn.execute(_MONTHS)
        conn.execute(_MONTH_DEVICES)
        total, rows = conn.execute(
            "SELECT SUM(LENGTH(entry) + LENGTH(dishes) + LENGTH(starts) + LENGTH(ends)"
            " + LENGTH(site)"
            " + LENGTH(local_date) + LENGTH(config) + 16), COUNT(*) FROM kpi_rollup"
        ).fetchone()
    return National(copies, span, int(rows), float(total) / max(1, int(rows)))
