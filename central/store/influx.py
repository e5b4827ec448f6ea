"""The `influxdb` store: readings in an InfluxDB 2.x bucket, KPIs read back with Flux.

Central keeps no state of its own with this store, so several replicas can serve the same bucket.
Schema and identity: central/store/influx_schema.py and docs/influxdb.md.

Write path of a batch (one edge request): one Flux query reads the points the batch's devices
already have in the batch's milliseconds (identity -> slot) and the stored readings of the
batch's burst (clock verdicts, central/store/influx_clocks.py; a second query for a clock
predecessor only when it can change a verdict), and, with status changes, one reads the latest
status of their devices (for `since_ms`); then one synchronous write request (line protocol, ns
precision) carries the new readings, the verdicts of stored readings the batch vouched for, the
duplicate counts, the rejected readings and the status changes. The 2xx to the edge is sent only
after InfluxDB answered the write with 204; any failure to reach InfluxDB, a timeout or a
5xx/429 answer is StoreUnavailable (503: the edge keeps the batch and retries).
"""

import logging
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import date, timedelta
from typing import Any

import numpy as np
import urllib3
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write.point import Point
from influxdb_client.client.write_api import SYNCHRONOUS
from influxdb_client.rest import ApiException

from central.derived import DerivedSeries
from central.kpi.clocks import ClockRule
from central.kpi.edgehealth import EdgeHealthPeriod, EdgeHealthReport, health_period
from central.kpi.readings import (
    CardReadings,
    DuplicateCounts,
    MeterReadings,
    ScaleReadings,
    SiteReadings,
    bool_array,
    float_array,
    int_array,
    str_array,
)
from central.store.base import (
    BatchToStore,
    DevicePresence,
    SiteStats,
    StoreError,
    StoreUnavailable,
    ThreadedStore,
    WriteOutcome,
)
from central.store.flux import (
    burst_query,
    duplicates_query,
    existing_query,
    health_query,
    identity_ranges,
    parse_records,
    predecessor_query,
    presence_query,
    readings_query,
    stats_query,
)
from central.store.influx_clocks import (
    NO_JUDGEMENT,
    Judgement,
    StoredReading,
    burst_lookup,
    judge,
    second_lookup,
    stored_from_rows,
)
from central.store.influx_derived import derived_points
from central.store.influx_schema import (
    NS_PER_DAY,
    NS_PER_MS,
    Occupancy,
    duplicate_point,
    edge_duplicate_point,
    health_from_rows,
    health_point,
    local_date_of,
    needs_received_copy,
    occupancy,
    place,
    reading_point,
    received_point,
    rejected_point,
    representable,
    status_points,
    trusted_points,
    unrepresentable_row,
)
from contract import ReadingRecord

logger = logging.getLogger(__name__)

# HTTP answers of InfluxDB that a retry may cure: rate limited, overloaded, not ready.
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})


class InfluxStore(ThreadedStore):
    """`async with InfluxStore(url=..., org=..., bucket=..., token=...) as store:`.

    influxdb-client's synchronous API runs in an owned thread pool (writes in one thread, reads
    in up to `query_threads`); the client does not retry by itself (the edge does).
    """

    backend = "influxdb"
    _write_handle = "_write_client"
    _read_handle = "_query_client"

    def __init__(
        self,
        *,
        url: str,
        org: str,
        bucket: str,
        token: str,
        write_timeout_s: float = 10.0,
        query_timeout_s: float = 30.0,
        query_threads: int = 4,
    ) -> None:
        super().__init__(
            writer_thread_name="influx-writer",
            reader_thread_name="influx-q",
            reader_threads=query_threads,
        )
        self.url = url
        self.org = org
        self.bucket = bucket
        self._token = token
        self.write_timeout_s = write_timeout_s
        self.query_timeout_s = query_timeout_s
        self._write_client: InfluxDBClient | None = None
        self._query_client: InfluxDBClient | None = None

    def _client(self, timeout_s: float) -> InfluxDBClient:
        return InfluxDBClient(
            url=self.url,
            token=self._token,
            org=self.org,
            timeout=int(timeout_s * 1000),  # influxdb-client takes milliseconds
            retries=False,  # no hidden retries: a failure reaches the edge, which retries
        )

    @property
    def _label(self) -> str:
        return "influxdb store"

    async def _open(self) -> None:
        # No round trip at start: replicas may start before InfluxDB is ready; the first
        # request that needs it answers 503 until it is.
        self._write_client = self._client(self.write_timeout_s)
        self._query_client = self._client(self.query_timeout_s)
        logger.info("influxdb store: %s org=%s bucket=%s", self.url, self.org, self.bucket)

    # --- ReadingsStore --------------------------------------------------------------------

    async def write_batch(self, batch: BatchToStore) -> WriteOutcome:
        """Store a batch; returns once InfluxDB acknowledged the write (HTTP 204)."""
        stored = [r for r in batch.readings if representable(r)]
        occupied, burst = await self._run(
            self._reader, self._lookup, batch.site, stored, batch.clock
        )
        judgement = NO_JUDGEMENT
        if burst is not None:
            judgement = await self._run(
                self._reader, self._judge, batch.site, stored, batch.clock, burst
            )
        points, outcome = batch_points(batch, occupied, time.time_ns(), judgement)
        if batch.statuses:
            devices = sorted({s.device for s in batch.statuses})
            latest = await self._presence(batch.site, devices)
            by_device = {p.device: p for p in latest}
            points += status_points(batch.site, batch.edge, batch.statuses, by_device)
        if batch.health is not None:
            health = health_point(batch.site, EdgeHealthReport.of(batch.edge, batch.health))
            if health is not None:
                points.append(health)
        await self.write_points(points)
        return outcome

    async def write_derived(self, series: DerivedSeries) -> None:
        """Write (overwrite) derived series; returns once InfluxDB acknowledged the write."""
        await self.write_points(derived_points(series))

    async def write_points(self, points: Sequence[Point]) -> None:
        """One synchronous write request of `points` (the write half of write_batch)."""
        if points:
            await self._run(self._writer, self._write, list(points))

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
        query = readings_query(
            self.bucket,
            site,
            start_ms,
            end_ms,
            meter_lookaround_ms,
            raw_scale_lookback_ms,
            raw_clock,
        )
        rows = await self._run(self._reader, self._query, query)
        return readings_from_rows(rows, meter_devices)

    async def load_duplicates(self, site: str, first: date, last: date) -> DuplicateCounts:
        epoch = date(1970, 1, 1)
        query = duplicates_query(
            self.bucket,
            site,
            (first - epoch).days * NS_PER_DAY,
            (last + timedelta(days=1) - epoch).days * NS_PER_DAY,
        )
        rows = await self._run(self._reader, self._query, query)
        return duplicates_from_rows(rows)

    async def site_stats(self, site: str) -> SiteStats:
        rows = await self._run(self._reader, self._query, stats_query(self.bucket, site))
        counts = {row["result"]: int(row["_value"]) for row in rows}
        return SiteStats(readings=counts.get("readings", 0), rejected=counts.get("rejected", 0))

    async def device_presence(self, site: str) -> list[DevicePresence]:
        return await self._presence(site, ())

    async def edge_health(self, site: str, start_ms: int, end_ms: int) -> list[EdgeHealthPeriod]:
        latest = await self._latest_health(site, end_ms)
        before = {r.edge: r for r in await self._latest_health(site, start_ms)}
        return [health_period(r, before.get(r.edge), start_ms) for r in latest]

    async def _latest_health(self, site: str, before_ms: int) -> list[EdgeHealthReport]:
        rows = await self._run(
            self._reader, self._query, health_query(self.bucket, site, before_ms)
        )
        return health_from_rows(rows)

    async def _presence(self, site: str, devices: Sequence[str]) -> list[DevicePresence]:
        query = presence_query(self.bucket, site, devices)
        rows = await self._run(self._reader, self._query, query)
        return presence_from_rows(rows)

    # --- in the store's threads -----------------------------------------------------------

    def _store_error(self, exc: Exception) -> StoreError | None:
        if isinstance(exc, ApiException):
            reason = f"InfluxDB at {self.url} answered {exc.status}: {_body(exc)}"
            if exc.status in RETRYABLE_STATUS:
                return StoreUnavailable(reason)
            # 400 (bad line protocol, field type conflict), 401/403 (token), 404 (bucket),
            # 413, 422 (points beyond retention): retrying the same request cannot help.
            return StoreError(reason)
        if isinstance(exc, urllib3.exceptions.HTTPError | OSError):
            # Connection refused, DNS, TLS, read timeout: the edge keeps the batch and retries.
            return StoreUnavailable(f"InfluxDB at {self.url} unreachable: {exc}")
        return None

    def _write(self, points: list[Point]) -> None:
        client = self._require(self._write_client)
        # Persist before acknowledging: SYNCHRONOUS returns after InfluxDB's 204, which it sends
        # once the points are in its write-ahead log.
        client.write_api(write_options=SYNCHRONOUS).write(
            bucket=self.bucket, org=self.org, record=points
        )

    def _query(self, query: str) -> list[dict[str, Any]]:
        client = self._require(self._query_client)
        response = client.query_api().query_raw(query, org=self.org)
        try:
            return list(parse_records(response.stream(64 * 1024)))
        finally:
            response.release_conn()

    def _lookup(
        self, site: str, readings: Sequence[ReadingRecord], rule: ClockRule
    ) -> tuple[Occupancy, list[StoredReading] | None]:
        """One query: the identities the batch's readings may meet (the occupied slots) and,
        with the clock rule on, the stored readings of their burst (influx_clocks)."""
        if not readings:
            return {}, None
        devices = sorted({r.device for r in readings})
        ranges = identity_ranges(r.device_time_ms for r in readings)
        query = existing_query(self.bucket, site, devices, ranges)
        lookup = burst_lookup(readings, rule)
        if lookup is not None:
            query += "\n" + burst_query(
                self.bucket, site, lookup.devices, lookup.near_devices, lookup.lo_ms, lookup.hi_ms
            )
        occupied, burst = lookup_from_rows(self._query(query))
        return occupied, None if lookup is None else burst

    def _judge(
        self,
        site: str,
        readings: Sequence[ReadingRecord],
        rule: ClockRule,
        burst: list[StoredReading],
    ) -> Judgement:
        """The batch's clock verdicts, after the second lookup when it needs one."""
        second = second_lookup(readings, rule, burst)
        predecessors: list[StoredReading] = []
        if second is not None:
            query = predecessor_query(self.bucket, site, second.near(), second.predecessors)
            near, predecessors = predecessors_from_rows(self._query(query))
            burst = [*burst, *near]
        return judge(readings, rule, burst, predecessors)


def batch_points(
    batch: BatchToStore, occupied: Occupancy, now_ns: int, judgement: Judgement = NO_JUDGEMENT
) -> tuple[list[Point], WriteOutcome]:
    """The points of one batch given what the store holds (`occupied`, and the clock verdicts
    judged with its stored readings, `judgement`), and its outcome.

    New readings at their slots with their clock verdicts, receive-time copies of those far
    from their receive time, `clock_trusted` onto the stored readings the batch vouches for,
    duplicate counts, the duplicates the edge dropped (one point per (edge, id)), rejected
    readings (including those whose times InfluxDB cannot hold).
    """
    stored = [r for r in batch.readings if representable(r)]
    placement = place(stored, occupied)
    verdict = judgement.of  # docs/influxdb.md, "Clocks"
    points: list[Point] = [
        reading_point(batch.site, r, slot, verdict(r)) for r, slot in placement.new
    ]
    # Receive-time copies of readings far from their receive time (wrong clocks, outages),
    # found by a period's query through their receive time (docs/influxdb.md).
    points += [
        received_point(batch.site, r, slot, verdict(r))
        for r, slot in placement.new
        if needs_received_copy(r)
    ]
    points += [
        point
        for s in judgement.retrusted
        for point in trusted_points(
            batch.site, s.device, s.kind, s.stream, s.quantity, s.time_ns, s.received_ms
        )
    ]
    duplicates: Counter[tuple[str, date]] = Counter()
    for record in placement.duplicates:
        duplicates[record.device, batch.duplicate_date(record)] += 1
    points += [
        duplicate_point(batch.site, device, day, n, now_ns)
        for (device, day), n in duplicates.items()
    ]
    # Copies the edge dropped from its buffer: one point per (edge, id), overwritten by a resend.
    for dropped in batch.edge_duplicates:
        dated_ms = batch.edge_duplicate_ms(dropped)
        point = edge_duplicate_point(batch.site, batch.edge, dropped, batch.timezone, dated_ms)
        if point is None:
            logger.warning(
                "site %s edge %s: dropped duplicate %d of %s dated %d ms is beyond "
                "InfluxDB's time range; not counted",
                batch.site, batch.edge, dropped.id, dropped.device, dated_ms,
            )  # fmt: skip
        else:
            points.append(point)
    rejected = list(batch.rejected) + [
        unrepresentable_row(i, r) for i, r in enumerate(batch.readings) if not representable(r)
    ]
    points += [
        rejected_point(batch.site, batch.edge, batch.batch_id, row, batch.received_ms)
        for row in rejected
    ]
    # Unrepresentable readings are accepted (the edge may drop them) but kept as rejected.
    accepted = len(batch.readings) - len(placement.duplicates)
    outcome = WriteOutcome(
        accepted=accepted,
        duplicates=len(placement.duplicates),
        clock_trusted=judgement.clock_trusted(stored),
    )
    return points, outcome


def _is_burst(row: dict[str, Any]) -> bool:
    return str(row.get("result", "")).startswith("burst")


def lookup_from_rows(rows: Iterable[dict[str, Any]]) -> tuple[Occupancy, list[StoredReading]]:
    """The answer of a batch's lookup (flux.existing_query + flux.burst_query): the occupied
    slots (results "ids<n>") and the stored readings of its burst (result "burst")."""
    ids: list[dict[str, Any]] = []
    burst: list[dict[str, Any]] = []
    for row in rows:
        (burst if _is_burst(row) else ids).append(row)
    occupied = occupancy(
        (str(row["device"]), int(row["time_ns"]), str(row["boot"]), int(row["seq"]))
        for row in ids
        if row.get("boot") is not None and row.get("seq") is not None
    )
    return occupied, stored_from_rows(burst)


def predecessors_from_rows(
    rows: Iterable[dict[str, Any]],
) -> tuple[list[StoredReading], list[StoredReading]]:
    """The answer of flux.predecessor_query: the live readings of the burst it fetched
    (results "burst<n>") and the predecessor candidates (results "pred<n>")."""
    rows = list(rows)
    return (
        stored_from_rows(r for r in rows if _is_burst(r)),
        stored_from_rows(r for r in rows if not _is_burst(r)),
    )


def _body(exc: ApiException) -> str:
    body = exc.body
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    return str(body or exc.reason)[:300]


def readings_from_rows(
    rows: Iterable[dict[str, Any]], meter_devices: Sequence[str] = ()
) -> SiteReadings:
    """Column arrays of pivoted reading rows (flux.READING_COLUMNS), as the SQLite store gives.

    Rows of the "range" and "received" results are the readings of the period (by device time or
    by receive time; flux.readings_query gives each reading once).
    Rows of the "before"/"after" results (nearest meter readings beyond the range) are kept only
    for meters that have readings in the range or are named in `meter_devices`; rows of the
    "raw_before" result (a raw bin's last stable reading before the range with a trusted clock)
    only for bins with a raw reading in the range, and rows of "raw_wrong" (its last one with a
    wrong clock, by receive time) only for those bins and when received at or after the
    "raw_before" reading's device time (the SQLite store's rule).
    """
    ranged: list[dict[str, Any]] = []
    around: list[dict[str, Any]] = []
    for row in rows:
        in_range = row.get("result") in (None, "", "range", "received", "_result")
        (ranged if in_range else around).append(row)
    meters = {r["device"] for r in ranged if r.get("kind") == "meter"} | set(meter_devices)
    raw_bins = {
        r["device"] for r in ranged if r.get("kind") == "scale" and r.get("gross_g") is not None
    }
    # A raw bin's trusted reference (device ms): a wrong-clock one is kept if received after it.
    trusted_ms = {
        r["device"]: int(r["time_ns"]) // NS_PER_MS
        for r in around
        if r.get("result") == "raw_before"
    }

    def wanted(row: dict[str, Any]) -> bool:
        device, result = row.get("device"), row.get("result")
        if result == "raw_before":
            return device in raw_bins
        if result == "raw_wrong":
            received_ms = int(row.get("received_ms") or 0)
            return device in raw_bins and received_ms >= trusted_ms.get(str(device), 0)
        return device in meters

    kept = ranged + [r for r in around if wanted(r)]
    by_kind: dict[str, list[dict[str, Any]]] = {"scale": [], "card": [], "meter": []}
    for row in kept:
        by_kind.setdefault(str(row.get("kind")), []).append(row)

    def ms(part: list[dict[str, Any]]) -> np.ndarray[Any, np.dtype[np.int64]]:
        return int_array([int(r["time_ns"]) // NS_PER_MS for r in part])

    def column(part: list[dict[str, Any]], name: str, default: Any) -> list[Any]:
        return [default if r.get(name) is None else r[name] for r in part]

    scale, card, meter = by_kind["scale"], by_kind["card"], by_kind["meter"]
    return SiteReadings(
        scale=ScaleReadings(
            time_ms=ms(scale),
            stream=str_array(column(scale, "stream", "")),
            mass_g=float_array(column(scale, "mass_g", 0.0)),
            device=str_array(column(scale, "device", "")),
            received_ms=int_array(column(scale, "received_ms", 0)),
            gross_g=float_array(column(scale, "gross_g", np.nan)),
            stable=bool_array(column(scale, "stable", True)),
            item=str_array(column(scale, "item", "")),
            reason=str_array(column(scale, "reason", "")),
            clock_trusted=bool_array(column(scale, "clock_trusted", False)),
        ),
        card=CardReadings(
            time_ms=ms(card),
            person=str_array(column(card, "person", "")),
            device=str_array(column(card, "device", "")),
            received_ms=int_array(column(card, "received_ms", 0)),
            clock_trusted=bool_array(column(card, "clock_trusted", False)),
        ),
        meter=MeterReadings(
            device=str_array(column(meter, "device", "")),
            quantity=str_array(column(meter, "quantity", "")),
            time_ms=ms(meter),
            total=float_array(column(meter, "total", 0.0)),
            received_ms=int_array(column(meter, "received_ms", 0)),
            clock_trusted=bool_array(column(meter, "clock_trusted", False)),
        ),
    )


def duplicates_from_rows(rows: Iterable[dict[str, Any]]) -> DuplicateCounts:
    """Duplicate counts summed per device and local date (several writes add several points):
    rows of result "duplicates" add their count (`_value`), rows of result "edge_duplicates"
    (one point per (edge, id) the edge dropped, `_value` = the id) add one each."""
    counts: Counter[tuple[str, str]] = Counter()
    for row in rows:
        day = local_date_of(int(row["time_ns"])).isoformat()
        edge = row.get("result") == "edge_duplicates"
        counts[str(row["device"]), day] += 1 if edge else int(row["_value"])
    if not counts:
        return DuplicateCounts.empty()
    keys = sorted(counts)
    return DuplicateCounts(
        str_array([d for d, _ in keys]),
        str_array([day for _, day in keys]),
        int_array([counts[k] for k in keys]),
    )


def presence_from_rows(rows: Iterable[dict[str, Any]]) -> list[DevicePresence]:
    """The latest status per device from presence rows (flux.PRESENCE_COLUMNS), by device."""
    latest: dict[str, DevicePresence] = {}
    for row in rows:
        changed_ms = int(row["time_ns"]) // NS_PER_MS
        device = str(row["device"])
        if device in latest and latest[device].changed_ms > changed_ms:
            continue
        since = row.get("since_ms")
        latest[device] = DevicePresence(
            device=device,
            kind=str(row.get("kind") or ""),
            state=str(row["state"]),
            boot=None if row.get("boot") in (None, "") else str(row["boot"]),
            since_ms=changed_ms if since is None else int(since),
            changed_ms=changed_ms,
        )
    return [latest[d] for d in sorted(latest)]
