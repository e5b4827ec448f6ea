"""The InfluxDB schema of central's readings (docs/influxdb.md): measurements, tags, fields, times.

One point per reading in measurement `reading`; one per device status change in
`device_status` (see `status_point`); one per edge health report in `edge_health`
(`health_point`). Tags (the series key, low cardinality): site,
device, kind, and stream (scales) or quantity (meters). Fields: the values (scales: mass_g, or
gross_g and stable in the raw form), boot, seq,
received_ms, and the pseudonymous person id. Timestamp: nanoseconds = device_time_ms x 10^6 +
a slot in [0, 10^6) that keeps two readings of one device in the same millisecond apart.

A reading whose device time is more than RECEIVED_INDEX_SKEW_MS from its edge receive time (a
wrong clock: hours off, at 1970; or data buffered over an outage) gets a second point, a copy in
`reading_by_received` timestamped by its receive time, so that a period's query finds the readings
central attributes to it by receive time (central/kpi/clocks.py) without scanning all time.

Identity (site, device, boot, seq) -> one series key + timestamp, so a resent reading lands on its
own point (InfluxDB: same measurement, tag set and timestamp = same point, fields overwritten).
The slot starts at seq mod 10^6; only when another identity already holds that slot (a reboot
that reuses device times and sequence numbers) does the writer probe the next free one, having
read the device's points of that millisecond first (central/store/influx.py).
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from typing import Any

from influxdb_client.client.write.point import Point
from influxdb_client.domain.write_precision import WritePrecision

from central.kpi.edgehealth import EdgeHealthReport
from central.kpi.presence import DevicePresence
from central.store.base import RejectedRow
from contract import (
    CardRecord,
    DeviceStatusRecord,
    DroppedDuplicate,
    MeterRecord,
    ReadingRecord,
    ScaleRecord,
)

READING = "reading"
RECEIVED = "reading_by_received"  # copies of readings far from their receive time, at that time
DUPLICATE = "duplicate"
EDGE_DUPLICATE = "edge_duplicate"  # copies an edge dropped and reported, one point per (edge, id)
REJECTED = "rejected"
DEVICE_STATUS = "device_status"
EDGE_HEALTH = "edge_health"  # one point per health report of an edge (central.kpi.edgehealth)

NS_PER_MS = 1_000_000
SLOTS_PER_MS = NS_PER_MS
NS_PER_DAY = 86_400 * 1_000_000_000
# InfluxDB timestamps are signed 64-bit nanoseconds: 1677-09-21 to 2262-04-11.
MAX_DEVICE_TIME_MS = (2**63 - 1) // NS_PER_MS - 1
# Upper bound of "all time" ranges in Flux (the last representable whole day).
END_OF_TIME_NS = MAX_DEVICE_TIME_MS // 86_400_000 * 86_400_000 * NS_PER_MS

# A reading whose |device time - receive time| exceeds this gets a receive-time copy (RECEIVED).
# Readings closer than this are found by widening a query's device-time range by it (flux.py).
# A schema constant: changing it needs the copies of stored readings rewritten.
RECEIVED_INDEX_SKEW_MS = 3_600_000

Identity = tuple[str, int]  # (boot, seq) within one device
# Who holds which slot of a device's millisecond: (device, device_time_ms) -> slot -> identity.
Occupancy = dict[tuple[str, int], dict[int, Identity]]


def representable(record: ReadingRecord) -> bool:
    """Whether InfluxDB can hold the reading's device and receive times (the contract allows up
    to year 9999)."""
    return max(record.device_time_ms, record.received_ms) <= MAX_DEVICE_TIME_MS


def reading_point(
    site: str, record: ReadingRecord, slot: int, clock_trusted: bool | None = None
) -> Point:
    """The point of one reading; `slot` in [0, 10^6) is its nanoseconds within the millisecond;
    `clock_trusted` its per-device clock verdict (central.kpi.clocks.judge_device), if any."""
    _check_slot(slot)
    point = _with_values(Point(READING), site, record, clock_trusted)
    point.time(record.device_time_ms * NS_PER_MS + slot, WritePrecision.NS)
    return point


def needs_received_copy(record: ReadingRecord) -> bool:
    """Whether the reading is far enough from its receive time to need a RECEIVED copy."""
    return abs(record.device_time_ms - record.received_ms) > RECEIVED_INDEX_SKEW_MS


def received_point(
    site: str, record: ReadingRecord, slot: int, clock_trusted: bool | None = None
) -> Point:
    """The receive-time copy of a reading: same tags and fields, plus `device_time_ns` (the
    timestamp of its `reading` point), at receive time (ms) x 10^6 + the reading's slot."""
    _check_slot(slot)
    point = _with_values(Point(RECEIVED), site, record, clock_trusted)
    point.field("device_time_ns", record.device_time_ms * NS_PER_MS + slot)
    point.time(record.received_ms * NS_PER_MS + slot, WritePrecision.NS)
    return point


def trusted_points(
    site: str,
    device: str,
    kind: str,
    stream: str | None,
    quantity: str | None,
    time_ns: int,
    received_ms: int,
) -> list[Point]:
    """`clock_trusted` true written onto a stored reading's point (series and timestamp as
    stored; InfluxDB keeps its other fields) and onto its receive-time copy if it has one: a
    later upload showed the device's clock right (central/store/influx_clocks.py)."""
    points = []
    copy = abs(time_ns // NS_PER_MS - received_ms) > RECEIVED_INDEX_SKEW_MS
    slot = time_ns % NS_PER_MS
    for measurement, at_ns in ((READING, time_ns), (RECEIVED, received_ms * NS_PER_MS + slot)):
        if measurement == RECEIVED and not copy:
            continue
        point = Point(measurement).tag("site", site).tag("device", device).tag("kind", kind)
        if stream is not None:
            point.tag("stream", stream)
        if quantity is not None:
            point.tag("quantity", quantity)
        points.append(point.field("clock_trusted", True).time(at_ns, WritePrecision.NS))
    return points


def _check_slot(slot: int) -> None:
    if not 0 <= slot < SLOTS_PER_MS:
        raise ValueError(f"slot {slot} outside [0, {SLOTS_PER_MS})")


def _with_values(
    point: Point, site: str, record: ReadingRecord, clock_trusted: bool | None = None
) -> Point:
    """Tags and fields of a reading (docs/influxdb.md, "Schema")."""
    point.tag("site", site).tag("device", record.device).tag("kind", record.kind)
    point.field("boot", record.boot).field("seq", int(record.seq))
    point.field("received_ms", int(record.received_ms))
    if clock_trusted is not None:
        point.field("clock_trusted", clock_trusted)
    if isinstance(record, ScaleRecord):
        point.tag("stream", record.stream.value)
        if record.gross_g is None:
            point.field("mass_g", float(record.mass_g or 0.0))
        else:  # the raw form (kitchen bins): gross weight and the motion detector's verdict
            point.field("gross_g", float(record.gross_g)).field("stable", bool(record.stable))
        point.field("tray", record.tray).field("person", record.person)  # None: field left out
        # Dish and loss reason are fields, not tags: the point's identity stays (site, device,
        # kind, stream, time), and an untagged reading simply has no such field.
        point.field("item", record.item)
        point.field("reason", None if record.reason is None else record.reason.value)
    elif isinstance(record, CardRecord):
        point.field("person", record.person)
    elif isinstance(record, MeterRecord):
        point.tag("quantity", record.quantity.value).field("total", float(record.total))
        if record.power_kw is not None:
            point.field("power_kw", float(record.power_kw))
    else:  # pragma: no cover - the union is closed
        raise TypeError(f"not a reading record: {type(record).__name__}")
    return point


@dataclass(frozen=True, slots=True)
class Placement:
    """Which readings of a batch are new (with their slot) and which are duplicates."""

    new: tuple[tuple[ReadingRecord, int], ...]
    duplicates: tuple[ReadingRecord, ...]


def place(readings: Iterable[ReadingRecord], occupied: Occupancy) -> Placement:
    """Give each new reading a free slot of its device's millisecond; spot the duplicates.

    `occupied` holds what the store has already; it is updated with the batch's own readings,
    so a reading twice in one batch is a duplicate too. Deterministic: the same state and batch
    give the same slots, so two replicas writing one resent batch write the same points.
    """
    new: list[tuple[ReadingRecord, int]] = []
    duplicates: list[ReadingRecord] = []
    for record in readings:
        slots = occupied.setdefault((record.device, record.device_time_ms), {})
        identity = (record.boot, record.seq)
        if identity in slots.values():
            duplicates.append(record)
            continue
        slot = record.seq % SLOTS_PER_MS
        while slot in slots:
            # Another identity holds it: a reboot reusing device times and sequence numbers.
            slot = (slot + 1) % SLOTS_PER_MS
            if len(slots) >= SLOTS_PER_MS:
                raise OverflowError(
                    f"device {record.device}: over {SLOTS_PER_MS} readings in millisecond "
                    f"{record.device_time_ms}"
                )
        slots[slot] = identity
        new.append((record, slot))
    return Placement(tuple(new), tuple(duplicates))


def duplicate_point(site: str, device: str, local_date: date, count: int, now_ns: int) -> Point:
    """Q4: `count` duplicates of `device` dropped now, for a local date of the device time.

    The timestamp encodes the local date (its 00:00 read as UTC) plus the receive clock's
    nanosecond of the day, so each write adds a point of its own (summed by the query) and a
    date's points fall in one day-long range without knowing the site's time zone.
    """
    day_ns = (local_date - date(1970, 1, 1)).days * NS_PER_DAY
    point: Point = (
        Point(DUPLICATE)
        .tag("site", site)
        .tag("device", device)
        .field("count", int(count))
        .time(day_ns + now_ns % NS_PER_DAY, WritePrecision.NS)
    )
    return point


def edge_duplicate_point(
    site: str, edge: str, dropped: DroppedDuplicate, timezone: tzinfo, dated_ms: int | None = None
) -> Point | None:
    """Q4: a copy the edge dropped and reported (contract DroppedDuplicate), counted once.

    Series key: site, edge, device; timestamp: the local date of `dated_ms` (the copy's
    attributed instant, BatchToStore.edge_duplicate_ms; default: its device time), its 00:00
    read as UTC as in `duplicate_point`, + the edge's drop id mod one day of nanoseconds. Both
    come from
    (site, edge, id) alone (an id always names the same copy), so a resent batch overwrites the
    same point and the query counts one point per (edge, id). None for an instant whose local
    date InfluxDB cannot hold (beyond 2262).
    """
    if dated_ms is None:
        dated_ms = dropped.device_time_ms
    if dated_ms > MAX_DEVICE_TIME_MS:
        return None
    local = datetime.fromtimestamp(dated_ms / 1000, timezone).date()
    day_ns = (local - date(1970, 1, 1)).days * NS_PER_DAY
    if day_ns + NS_PER_DAY > 2**63 - 1:
        return None
    point: Point = (
        Point(EDGE_DUPLICATE)
        .tag("site", site)
        .tag("edge", edge)
        .tag("device", dropped.device)
        .field("id", int(dropped.id))
        .field("device_time_ms", int(dropped.device_time_ms))
        .time(day_ns + dropped.id % NS_PER_DAY, WritePrecision.NS)
    )
    if dropped.received_ms is not None:
        point.field("received_ms", int(dropped.received_ms))
    return point


def local_date_of(time_ns: int) -> date:
    """The local date a duplicate or edge-duplicate point was written for (inverse of
    `duplicate_point` and `edge_duplicate_point`)."""
    return date.fromordinal(date(1970, 1, 1).toordinal() + time_ns // NS_PER_DAY)


def rejected_point(
    site: str, edge: str, batch_id: str, row: RejectedRow, received_ms: int
) -> Point:
    """A reading central refused; `key` (edge/batch/index) lets a resent batch count once."""
    point: Point = (
        Point(REJECTED)
        .tag("site", site)
        .tag("edge", edge)
        .field("key", f"{edge}/{batch_id}/{row.index}")
        .field("batch_id", batch_id)
        .field("index", int(row.index))
        .field("reason", row.reason)
        .field("raw", row.raw_json)
        .time(received_ms * NS_PER_MS + row.index % SLOTS_PER_MS, WritePrecision.NS)
    )
    return point


def unrepresentable_row(position: int, record: ReadingRecord) -> RejectedRow:
    """A reading whose device or receive time InfluxDB cannot hold, kept as a rejected row.

    Its index is negative (-1 - position among the batch's valid readings), so that its key
    never meets a reading the contract rejected (those have the batch index, >= 0).
    """
    return RejectedRow(
        index=-1 - position,
        reason=f"device_time_ms {record.device_time_ms} or received_ms {record.received_ms} is "
        "beyond InfluxDB's time range (2262-04-11); reading kept as rejected",
        raw_json=record.model_dump_json(),
    )


def occupancy(rows: Iterable[tuple[str, int, str, int]]) -> Occupancy:
    """Occupancy from stored (device, time_ns, boot, seq) rows."""
    occupied: Occupancy = {}
    for device, time_ns, boot, seq in rows:
        ms, slot = divmod(time_ns, NS_PER_MS)
        occupied.setdefault((device, ms), {})[slot] = (boot, seq)
    return occupied


def status_point(site: str, edge: str, status: DeviceStatusRecord, since_ms: int) -> Point:
    """A device status change. Tags site, device, kind; time = the edge's receive time (ms), so a
    resent change lands on its own point again. Fields: state, boot, device_time_ms (when
    known), since_ms (when the device entered this state), edge."""
    point: Point = (
        Point(DEVICE_STATUS)
        .tag("site", site)
        .tag("device", status.device)
        .tag("kind", status.kind.value)
        .field("state", status.state)
        .field("boot", status.boot)  # None: field left out
        .field("since_ms", int(since_ms))
        .field("edge", edge)
        .time(status.received_ms * NS_PER_MS, WritePrecision.NS)
    )
    if status.device_time_ms is not None:
        point.field("device_time_ms", int(status.device_time_ms))
    return point


def status_points(
    site: str,
    edge: str,
    statuses: Sequence[DeviceStatusRecord],
    latest: Mapping[str, DevicePresence],
) -> list[Point]:
    """The points of a batch's status changes, each with its `since_ms`: carried over from the
    device's latest stored status (`latest`) while the state stays the same, else its own time.

    A resent change that is still its device's latest gets the same since_ms again (idempotent);
    a change older than the latest stored one starts its own run (the latest is unaffected).
    """
    known = dict(latest)
    points = []
    for status in sorted(statuses, key=lambda s: s.received_ms):
        previous = known.get(status.device)
        since_ms = status.received_ms
        if (
            previous is not None
            and previous.state == status.state
            and previous.changed_ms <= status.received_ms
        ):
            since_ms = previous.since_ms
        points.append(status_point(site, edge, status, since_ms))
        if previous is None or status.received_ms >= previous.changed_ms:
            known[status.device] = DevicePresence(
                status.device, status.kind.value, status.state, status.boot, since_ms,
                status.received_ms,
            )  # fmt: skip
    return points


HEALTH_FIELDS = (
    "dropped_overflow",
    "dead_lettered",
    "intake_pauses",
    "broker_sessions_lost",
    "pending_readings",
    "oldest_pending_age_ms",
)


def health_point(site: str, report: EdgeHealthReport) -> Point | None:
    """An edge's health report. Tags site, edge; time = the edge's clock when it measured (ms),
    so a resent batch writes the same point again. None when that time is beyond InfluxDB's
    range (an edge clock years off): the report is not kept."""
    if not 0 <= report.measured_ms <= MAX_DEVICE_TIME_MS:
        return None
    point: Point = Point(EDGE_HEALTH).tag("site", site).tag("edge", report.edge)
    point.time(report.measured_ms * NS_PER_MS, WritePrecision.NS)
    for name in HEALTH_FIELDS:
        value = getattr(report, name)
        if value is not None:
            point.field(name, int(value))
    return point


def health_from_rows(rows: Iterable[dict[str, Any]]) -> list[EdgeHealthReport]:
    """The latest report per edge from rows of flux.health_query, by edge."""
    out = []
    for row in rows:
        age = row.get("oldest_pending_age_ms")
        out.append(
            EdgeHealthReport(
                edge=str(row["edge"]),
                measured_ms=int(row["time_ns"]) // NS_PER_MS,
                dropped_overflow=int(row.get("dropped_overflow") or 0),
                dead_lettered=int(row.get("dead_lettered") or 0),
                intake_pauses=int(row.get("intake_pauses") or 0),
                broker_sessions_lost=int(row.get("broker_sessions_lost") or 0),
                pending_readings=int(row.get("pending_readings") or 0),
                oldest_pending_age_ms=None if age is None else int(age),
            )
        )
    return sorted(out, key=lambda r: r.edge)
