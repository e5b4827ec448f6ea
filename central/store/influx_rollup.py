"""KPI rollups in the `influxdb` store without transactions: their points and the pending rule
(docs/influxdb.md, "Rollups"; the Flux queries are in central/store/flux.py).

- `rollup_mark` (tag site; timestamp: the local date's 00:00 read as UTC, so a date's mark is
  overwritten by the next): field `mark`, a number unique per write (the writer's clock in ns,
  its last three digits random). Every batch writes the marks of the dates it touches in a
  request of its own, after InfluxDB acknowledged the batch's readings and before central
  answers the edge.
- `rollup` (same series key and timestamp): the rollup of the date, with the `mark` it was built
  from (0: no write touched the date), `config`, `starts`, `ends`, `entry` and `dishes` (base64
  strings: the bytes of central.kpi.rollup, opaque here) and `built_ms`; a save overwrites it.
- `rollup_config` (tag site; timestamp: when it was set): the configuration key the site's
  rollups are built for (the latest point).
- `rollup_dirty` (tag site; timestamp: the writer's clock by ten minutes): the sites written
  lately, for the maintainer (`InfluxStore.pending_rollup_sites`).

A date is pending when its latest mark differs from the mark its stored rollup was built from
(or it has no rollup), when the rollup was built for another configuration, or when its
`starts` differ from the stored `ends` of the date before it (the chain). A builder reads the
mark before the readings, so a write whose readings it missed wrote its mark after that read:
the stored rollup's mark is then not the latest one, and the date stays pending.
"""

import base64
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from central.kpi.rollup import EMPTY_CHAIN
from central.store.base import PendingRollups, RollupRow, RollupToSave
from central.store.influx_schema import (
    DIRTY_BUCKET_MS,
    NS_PER_MS,
    ROLLUP,
    ROLLUP_CONFIG,
    ROLLUP_DIRTY,
    ROLLUP_MARK,
    day_ns,
    local_date_of,
)

# InfluxDB keeps string field values up to 64 KiB: a rollup with a longer base64 field is not
# stored (the date stays pending and is built on read), see `rollup_point`.
MAX_STRING_FIELD_BYTES = 64 * 1024
EPOCH = date(1970, 1, 1)
MAX_ROLLUP_DATE = date(2262, 4, 1)  # "every date": InfluxDB's timestamps end on 2262-04-11
# `rollup_dirty`: one point per site and DIRTY_BUCKET_MS of the writer's clock (overwritten within
# them), so that a maintainer finds the sites written lately without reading every site's
# rollups. A maintainer looks back this far before its previous look (writes in flight, replica
# clocks apart), and at its first look this far back.
DIRTY_LOOKBACK_MS = 2 * DIRTY_BUCKET_MS
DIRTY_FIRST_LOOK_MS = 7 * 86_400_000
SITES_PER_STATE_QUERY = 100  # sites per state query of the maintainer (the Flux filter's size)


def new_mark(now_ns: int) -> int:
    """A mark: the writer's clock in ns to the microsecond, plus 0-999 random ns, so that two
    writes (two replicas) never write the same mark."""
    return now_ns // 1000 * 1000 + secrets.randbelow(1000)


def mark_points(site: str, dates: Iterable[date], mark: int) -> list[Point]:
    """The `rollup_mark` points of `dates` (dates before 1970 hold no readings: left out)."""
    return [
        Point(ROLLUP_MARK)
        .tag("site", site)
        .field("mark", int(mark))
        .time(day_ns(on), WritePrecision.NS)
        for on in sorted(set(dates))
        if on >= EPOCH
    ]


def dirty_point(site: str, now_ms: int) -> Point:
    """The site's `rollup_dirty` point of the ten minutes of `now_ms`."""
    point: Point = (
        Point(ROLLUP_DIRTY)
        .tag("site", site)
        .field("last_ms", int(now_ms))
        .time(max(now_ms, 0) // DIRTY_BUCKET_MS * DIRTY_BUCKET_MS * NS_PER_MS, WritePrecision.NS)
    )
    return point


def _b64(blob: bytes) -> str:
    return base64.b64encode(blob).decode("ascii")


def rollup_point(site: str, config: str, rollup: RollupToSave, built_ms: int) -> Point | None:
    """The `rollup` point of a built date; None when a field is beyond InfluxDB's string limit."""
    texts = [_b64(b) for b in (rollup.starts, rollup.ends, rollup.entry, rollup.dishes)]
    if max(len(t) for t in texts) > MAX_STRING_FIELD_BYTES:
        return None
    point: Point = (
        Point(ROLLUP)
        .tag("site", site)
        .field("mark", int(rollup.gen))
        .field("config", config)
        .field("starts", texts[0])
        .field("ends", texts[1])
        .field("entry", texts[2])
        .field("dishes", texts[3])
        .field("built_ms", int(built_ms))
        .time(day_ns(rollup.on), WritePrecision.NS)
    )
    return point


def config_point(site: str, config: str, set_ms: int) -> Point:
    """A `rollup_config` point of the site, at the time it is set (the latest one counts; a
    timestamp within any bucket's retention)."""
    point: Point = (
        Point(ROLLUP_CONFIG)
        .tag("site", site)
        .field("config", config)
        .field("set_ms", int(set_ms))
        .time(max(set_ms, 0) * NS_PER_MS, WritePrecision.NS)
    )
    return point


@dataclass(frozen=True, slots=True)
class StoredRollup:
    """A `rollup` point without its entry."""

    mark: int
    config: str
    starts: bytes
    ends: bytes
    built_ms: int


@dataclass(slots=True)
class SiteRollups:
    """What InfluxDB holds of a site's rollups (one state query)."""

    marks: dict[date, int] = field(default_factory=dict)
    rollups: dict[date, StoredRollup] = field(default_factory=dict)
    entries: dict[date, tuple[bytes, bytes]] = field(default_factory=dict)  # entry, dishes
    config: str | None = None
    config_set_ms: int = 0
    config_at_ns: int = -1

    def rows(self) -> list[RollupRow]:
        """Every date with a mark or a rollup, in date order, pending or not (the module's
        rule), with its entry when current and read."""
        out = []
        previous_ends = EMPTY_CHAIN  # no date before: nothing carried in
        for on in sorted(self.marks.keys() | self.rollups.keys()):
            mark = self.marks.get(on, 0)
            stored = self.rollups.get(on)
            if stored is None:
                out.append(RollupRow(on, mark, mark // NS_PER_MS, None, None, None, None))
                continue
            pending_ms: int | None = None
            if stored.mark != mark:
                pending_ms = mark // NS_PER_MS  # a write since it was built
            elif self.config is not None and stored.config != self.config:
                pending_ms = self.config_set_ms
            elif stored.starts != previous_ends:
                pending_ms = stored.built_ms  # chained from ends that changed since
            entry, dishes = (
                self.entries.get(on, (None, None)) if pending_ms is None else (None, None)
            )
            row = RollupRow(
                on, mark, pending_ms, stored.config, stored.starts, stored.ends, entry, dishes
            )  # fmt: skip
            out.append(row)
            previous_ends = stored.ends
        return out


def state_from_rows(rows: Iterable[dict[str, Any]]) -> dict[str, SiteRollups]:
    """The rollup state per site from the rows of `rollup_state_query`."""
    out: dict[str, SiteRollups] = {}
    for row in rows:
        site = out.setdefault(str(row["site"]), SiteRollups())
        result = row.get("result")
        if result == "config":
            at_ns = int(row.get("time_ns") or 0)
            if at_ns >= site.config_at_ns:  # the latest point (one per site from InfluxDB)
                site.config = str(row["config"])
                site.config_set_ms = int(row.get("set_ms") or 0)
                site.config_at_ns = at_ns
            continue
        on = local_date_of(int(row["time_ns"]))
        if result == "marks":
            site.marks[on] = int(row["mark"])
        elif result == "rollups":
            site.rollups[on] = StoredRollup(
                mark=int(row.get("mark") or 0),
                config=str(row.get("config") or ""),
                starts=base64.b64decode(row.get("starts") or ""),
                ends=base64.b64decode(row.get("ends") or ""),
                built_ms=int(row.get("built_ms") or 0),
            )
        elif result == "entries":
            site.entries[on] = (
                base64.b64decode(row["entry"]),
                base64.b64decode(row.get("dishes") or ""),
            )
    return out


def pending_of(rows: Sequence[RollupRow], last: date) -> PendingRollups:
    """The pending rows on or before `last`, as the SQLite store counts them."""
    pending = [r for r in rows if r.on <= last and r.pending_ms is not None]
    if not pending:
        return PendingRollups(0, None, None, None)
    return PendingRollups(
        len(pending),
        pending[0].on,
        pending[-1].on,
        min(r.pending_ms for r in pending if r.pending_ms is not None),
    )


def chained_rollups(site: SiteRollups, rollups: Sequence[RollupToSave]) -> list[RollupToSave]:
    """Those of `rollups` (in date order) to store: built from the date's current mark (0: none),
    and chained from the stored ends of the date before (a date with a mark but no rollup has
    none: not chained), counting the ones stored before them in the same save."""
    ends: dict[date, bytes | None] = {on: None for on in site.marks}
    ends.update({on: r.ends for on, r in site.rollups.items()})
    out = []
    for r in rollups:
        if r.gen != site.marks.get(r.on, 0):
            continue  # a write since its inputs were read
        before = [on for on in ends if on < r.on]
        chained_from = EMPTY_CHAIN if not before else ends[max(before)]
        if r.starts != chained_from:
            continue
        out.append(r)
        ends[r.on] = r.ends
    return out
