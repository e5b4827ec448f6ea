"""Flux queries of the `influxdb` store, and the parsing of InfluxDB's annotated-CSV answers.

Each function builds the text of one query (InfluxDB OSS 2.x takes no bind parameters, so string
values are escaped here: Flux string literals escape backslash, double quote and `${`). Times go
in as integer nanoseconds through `time(v:)`, so no clock or time-zone parsing is involved.
Answers are parsed by influxdb-client's own annotated-CSV parser (`FluxCsvParser`), the same
code `QueryApi.query_stream` uses, fed the raw body.
"""

import csv
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from influxdb_client.client.flux_csv_parser import (
    FluxCsvParser,
    FluxCsvParserException,
    FluxQueryException,
    FluxSerializationMode,
)
from influxdb_client.client.flux_table import FluxRecord

from central.kpi.clocks import DEFAULT_CLOCK_RULE, ClockRule
from central.store.base import StoreError
from central.store.influx_schema import (
    DEVICE_STATUS,
    DUPLICATE,
    EDGE_DUPLICATE,
    EDGE_HEALTH,
    END_OF_TIME_NS,
    HEALTH_FIELDS,
    NS_PER_MS,
    READING,
    RECEIVED,
    RECEIVED_INDEX_SKEW_MS,
    REJECTED,
)

__all__ = [
    "FluxAnswerError",
    "burst_query",
    "duplicates_query",
    "existing_query",
    "identity_ranges",
    "parse_records",
    "predecessor_query",
    "presence_query",
    "readings_query",
    "stats_query",
    "string",
]

# Columns of a pivoted reading row that the KPI engine needs.
READING_COLUMNS = (
    "kind", "device", "stream", "quantity", "time_ns", "mass_g", "person", "total", "received_ms",
    "gross_g", "stable", "item", "reason", "clock_trusted",
)  # fmt: skip
RECEIVED_VALUES = (
    "mass_g", "person", "total", "received_ms", "gross_g", "stable", "item", "reason",
    "clock_trusted",
)  # fmt: skip
# Gap (ms) between a batch's device times above which the identity lookup uses separate ranges.
CLUSTER_GAP_MS = 3_600_000


class FluxAnswerError(StoreError):
    """InfluxDB answered a query with an error table or a body that is not annotated CSV."""


def string(value: str) -> str:
    """A Flux string literal holding `value` exactly."""
    escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def _keep(columns: Iterable[str]) -> str:
    # keep(fn:) rather than keep(columns:): a column missing from one table (person of a meter)
    # is simply not there, whatever the Flux version does with unknown names.
    test = " or ".join(f"column == {string(c)}" for c in columns)
    return f"keep(fn: (column) => {test})"


def _any_of(column: str, values: Iterable[str]) -> str:
    return "(" + " or ".join(f"r.{column} == {string(v)}" for v in values) + ")"


def _source(bucket: str, start_ns: int, stop_ns: int) -> str:
    return (
        f"from(bucket: {string(bucket)})\n"
        f"  |> range(start: time(v: {int(start_ns)}), stop: time(v: {int(stop_ns)}))\n"
    )


_WITH_TIME_NS = "map(fn: (r) => ({r with time_ns: int(v: r._time)}))"
_PIVOT = 'pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")'


def readings_query(
    bucket: str,
    site: str,
    start_ms: int,
    end_ms: int,
    lookaround_ms: int = 0,
    raw_lookback_ms: int = 0,
    raw_clock: ClockRule | None = None,
) -> str:
    """Readings of `site` whose device time or edge receive time is in [start_ms, end_ms), the
    set the SQLite store loads, each once, as pivoted rows of READING_COLUMNS:

    - result "range": `reading` points with a device time within RECEIVED_INDEX_SKEW_MS of the
      range, kept when the device time or the receive time is in it (a reading closer to its
      receive time than that has no receive-time copy);
    - result "received": receive-time copies (`reading_by_received`) received in the range whose
      device time is beyond the widened range (the others are in "range" already), with
      `time_ns` set to the device time;
    - with a lookaround, each meter's last reading before and first after the range by device
      time (results "before", "after");
    - with a raw lookback, each raw bin's last stable reading before the range by attributed
      time under `raw_clock` (default rule when None): results "raw_before" and "raw_wrong",
      see `_raw_before`.
    """
    values = _any_of("_field", RECEIVED_VALUES)
    site_filter = f"r._measurement == {string(READING)} and r.site == {string(site)}"
    lo_ns, hi_ns = start_ms * NS_PER_MS, end_ms * NS_PER_MS
    wide_lo_ns = max(start_ms - RECEIVED_INDEX_SKEW_MS, 0) * NS_PER_MS
    wide_hi_ns = (end_ms + RECEIVED_INDEX_SKEW_MS) * NS_PER_MS
    in_range = (
        f"(r.time_ns >= {lo_ns} and r.time_ns < {hi_ns})"
        f" or (r.received_ms >= {int(start_ms)} and r.received_ms < {int(end_ms)})"
    )
    received_filter = f"r._measurement == {string(RECEIVED)} and r.site == {string(site)}"
    query = (
        _source(bucket, wide_lo_ns, wide_hi_ns)
        + f"  |> filter(fn: (r) => {site_filter})\n"
        + f"  |> filter(fn: (r) => {values})\n"
        + f"  |> {_PIVOT}\n"
        + f"  |> {_WITH_TIME_NS}\n"
        + f"  |> filter(fn: (r) => {in_range})\n"
        + f"  |> {_keep(READING_COLUMNS)}\n"
        + '  |> yield(name: "range")\n'
        + "\n"
        + _source(bucket, lo_ns, hi_ns)
        + f"  |> filter(fn: (r) => {received_filter})\n"
        + f"  |> filter(fn: (r) => {_any_of('_field', (*RECEIVED_VALUES, 'device_time_ns'))})\n"
        + f"  |> {_PIVOT}\n"
        + "  |> map(fn: (r) => ({r with time_ns: r.device_time_ns}))\n"
        + f"  |> filter(fn: (r) => r.time_ns < {wide_lo_ns} or r.time_ns >= {wide_hi_ns})\n"
        + f"  |> {_keep(READING_COLUMNS)}\n"
        + '  |> yield(name: "received")\n'
    )
    if raw_lookback_ms > 0:
        query += _raw_before(bucket, site, start_ms, end_ms, raw_lookback_ms, raw_clock)
    if lookaround_ms <= 0:
        return query
    meter_values = _any_of("_field", ("total", "received_ms"))
    for name, lo_ms, hi_ms, pick in (
        ("before", start_ms - lookaround_ms, start_ms, "last"),
        ("after", end_ms, end_ms + lookaround_ms, "first"),
    ):
        query += (
            "\n"
            + _source(bucket, max(lo_ms, 0) * NS_PER_MS, max(hi_ms, 0) * NS_PER_MS)
            + f'  |> filter(fn: (r) => {site_filter} and r.kind == "meter")\n'
            + f"  |> filter(fn: (r) => {meter_values})\n"
            + f"  |> {_PIVOT}\n"
            + '  |> group(columns: ["device"])\n'
            + '  |> sort(columns: ["_time"])\n'
            + f'  |> {pick}(column: "_time")\n'
            + f"  |> {_WITH_TIME_NS}\n"
            + f"  |> {_keep(READING_COLUMNS)}\n"
            + f"  |> yield(name: {string(name)})\n"
        )
    return query


def _trusted(rule: ClockRule) -> str:
    """Flux test of a trusted device clock (central.kpi.clocks), exact in ns: the reading's
    per-device verdict is `clock_trusted`, or device ms >= received_ms - max_delay and device
    ms <= received_ms + future_tolerance (the SQLite store's _TRUSTED_CLOCK)."""
    return (
        "((exists r.clock_trusted and r.clock_trusted == true)"
        f" or (r.time_ns >= (r.received_ms - {int(rule.max_delay_ms)}) * {NS_PER_MS}"
        f" and r.time_ns < (r.received_ms + {int(rule.future_tolerance_ms) + 1}) * {NS_PER_MS}))"
    )


def _raw_before(
    bucket: str,
    site: str,
    start_ms: int,
    end_ms: int,
    lookback_ms: int,
    raw_clock: ClockRule | None,
) -> str:
    """Each raw bin's last stable reading before [start_ms, end_ms) by attributed time, the
    rule of the SQLite store (central/store/sqlite.py, _SELECT_RAW_SCALE_BEFORE and
    _SELECT_RAW_SCALE_WRONG_CLOCK_BEFORE):

    - result "raw_before": among the stable raw readings with a device time in
      [start - lookback, start) whose clock the rule trusts (within its limits, or judged
      clock-trusted per device: `clock_trusted`; every one when the rule is off),
      not received in the range (those are loaded with it), the last by device time;
    - result "raw_wrong" (rule on only): among those with a wrong clock received in
      [start - lookback, start), whose device time is not in the range, the last by receive
      time. A wrong clock within RECEIVED_INDEX_SKEW_MS of its receive time is found by device
      time (the `reading` points within that distance of the receive window), one further away
      by its `reading_by_received` copy. readings_from_rows keeps it only when it was received
      at or after the "raw_before" reading's device time (only then does it come after it).
    """
    rule = DEFAULT_CLOCK_RULE if raw_clock is None else raw_clock
    lo_ms = max(start_ms - lookback_ms, 0)
    lo_ns, start_ns, end_ns = lo_ms * NS_PER_MS, start_ms * NS_PER_MS, end_ms * NS_PER_MS
    site_filter = (
        f'r._measurement == {string(READING)} and r.site == {string(site)} and r.kind == "scale"'
    )
    raw_values = _any_of("_field", ("gross_g", "stable", "received_ms", "clock_trusted"))
    stable = "exists r.gross_g and r.stable == true"
    received_in = f"(r.received_ms >= {int(start_ms)} and r.received_ms < {int(end_ms)})"
    if not rule.enabled:
        return (
            "\n"
            + _source(bucket, lo_ns, start_ns)
            + f"  |> filter(fn: (r) => {site_filter})\n"
            + f"  |> filter(fn: (r) => {raw_values})\n"
            + f"  |> {_PIVOT}\n"
            + f"  |> filter(fn: (r) => {stable})\n"
            + f"  |> {_WITH_TIME_NS}\n"
            + f"  |> filter(fn: (r) => not {received_in})\n"
            + '  |> group(columns: ["device"])\n'
            + '  |> sort(columns: ["_time"])\n'
            + '  |> last(column: "_time")\n'
            + f"  |> {_keep(READING_COLUMNS)}\n"
            + '  |> yield(name: "raw_before")\n'
        )
    skew_ns = RECEIVED_INDEX_SKEW_MS * NS_PER_MS
    device_in = f"(r.time_ns >= {start_ns} and r.time_ns < {end_ns})"
    received_before = f"r.received_ms >= {lo_ms} and r.received_ms < {int(start_ms)}"
    copy_filter = (
        f'r._measurement == {string(RECEIVED)} and r.site == {string(site)} and r.kind == "scale"'
    )
    copy_values = _any_of(
        "_field", ("gross_g", "stable", "received_ms", "clock_trusted", "device_time_ns")
    )
    return (
        "\n"
        # stable raw readings with a device time in the lookback, or close enough to a receive
        # time in it to have no receive-time copy
        + "raw_stable = "
        + _source(bucket, max(lo_ns - skew_ns, 0), start_ns + skew_ns)
        + f"  |> filter(fn: (r) => {site_filter})\n"
        + f"  |> filter(fn: (r) => {raw_values})\n"
        + f"  |> {_PIVOT}\n"
        + f"  |> filter(fn: (r) => {stable})\n"
        + f"  |> {_WITH_TIME_NS}\n"
        + "\n"
        + "raw_stable\n"
        + f"  |> filter(fn: (r) => r.time_ns >= {lo_ns} and r.time_ns < {start_ns})\n"
        + f"  |> filter(fn: (r) => {_trusted(rule)} and not {received_in})\n"
        + '  |> group(columns: ["device"])\n'
        + '  |> sort(columns: ["_time"])\n'
        + '  |> last(column: "_time")\n'
        + f"  |> {_keep(READING_COLUMNS)}\n"
        + '  |> yield(name: "raw_before")\n'
        + "\n"
        + "raw_wrong_near = raw_stable\n"
        + f"  |> filter(fn: (r) => {received_before})\n"
        + f"  |> filter(fn: (r) => not {_trusted(rule)} and not {device_in})\n"
        + f"  |> {_keep(READING_COLUMNS)}\n"
        + "raw_wrong_far = "
        + _source(bucket, lo_ns, start_ns)
        + f"  |> filter(fn: (r) => {copy_filter})\n"
        + f"  |> filter(fn: (r) => {copy_values})\n"
        + f"  |> {_PIVOT}\n"
        + f"  |> filter(fn: (r) => {stable})\n"
        + "  |> map(fn: (r) => ({r with time_ns: r.device_time_ns}))\n"
        + f"  |> filter(fn: (r) => not {_trusted(rule)} and not {device_in})\n"
        + f"  |> {_keep(READING_COLUMNS)}\n"
        + "union(tables: [raw_wrong_near, raw_wrong_far])\n"
        + '  |> group(columns: ["device"])\n'
        + '  |> sort(columns: ["received_ms", "time_ns"])\n'
        + '  |> last(column: "received_ms")\n'
        + '  |> yield(name: "raw_wrong")\n'
    )


def identity_ranges(times_ms: Iterable[int], gap_ms: int = CLUSTER_GAP_MS) -> list[tuple[int, int]]:
    """[first, last + 1) ms ranges covering the times, split where they are more than gap apart."""
    ranges: list[tuple[int, int]] = []
    for t in sorted(set(times_ms)):
        if ranges and t - (ranges[-1][1] - 1) <= gap_ms:
            ranges[-1] = (ranges[-1][0], t + 1)
        else:
            ranges.append((t, t + 1))
    return ranges


def existing_query(
    bucket: str, site: str, devices: Sequence[str], ranges: Sequence[tuple[int, int]]
) -> str:
    """The stored (device, time_ns, boot, seq) of `devices` within the ms ranges: what a batch
    must not overwrite, and which of its readings are duplicates."""
    if not devices or not ranges:
        raise ValueError("an identity lookup needs devices and ranges")
    parts = []
    for n, (lo_ms, hi_ms) in enumerate(ranges):
        parts.append(
            _source(bucket, lo_ms * NS_PER_MS, hi_ms * NS_PER_MS)
            + f"  |> filter(fn: (r) => r._measurement == {string(READING)}"
            f" and r.site == {string(site)})\n"
            + f"  |> filter(fn: (r) => {_any_of('device', sorted(set(devices)))})\n"
            + f"  |> filter(fn: (r) => {_any_of('_field', ('boot', 'seq'))})\n"
            + f"  |> {_PIVOT}\n"
            + f"  |> {_WITH_TIME_NS}\n"
            + f"  |> {_keep(('device', 'time_ns', 'boot', 'seq'))}\n"
            + f'  |> yield(name: "ids{n}")\n'
        )
    return "\n".join(parts)


# Columns of a stored reading as the clock verdicts need it (central/store/influx_clocks.py):
# its series (tags), its point's timestamp, its identity, its receive time and stored verdict.
CLOCK_COLUMNS = (
    "device", "kind", "stream", "quantity", "time_ns", "boot", "seq", "received_ms",
    "clock_trusted",
)  # fmt: skip
_CLOCK_FIELDS = ("boot", "seq", "received_ms", "clock_trusted")


def burst_query(
    bucket: str,
    site: str,
    devices: Sequence[str],
    near_devices: Sequence[str],
    lo_ms: int,
    hi_ms: int,
) -> str:
    """The stored readings of `devices` received in [lo_ms, hi_ms] (a batch's burst), as rows
    of CLOCK_COLUMNS in result "burst" (time_ns: the `reading` point's timestamp):

    - through their receive-time copies (`reading_by_received`), those more than
      RECEIVED_INDEX_SKEW_MS from their receive time: late and wrong clocks, for every device;
    - for `near_devices` only (those with a late reading in the batch), also the `reading`
      points within RECEIVED_INDEX_SKEW_MS of the window whose receive time is in it (the live
      readings that may vouch for a late one). A device's stored late readings are found in
      every batch of it this way, and the near ones fetched with a second query only when a
      stored late reading was found (central/store/influx.py).
    """
    if not devices:
        raise ValueError("a burst lookup needs devices")
    far_filter = f"r._measurement == {string(RECEIVED)} and r.site == {string(site)}"
    query = (
        "burst_far = "
        + _source(bucket, lo_ms * NS_PER_MS, (hi_ms + 1) * NS_PER_MS)
        + f"  |> filter(fn: (r) => {far_filter})\n"
        + f"  |> filter(fn: (r) => {_any_of('device', sorted(set(devices)))})\n"
        + f"  |> filter(fn: (r) => {_any_of('_field', (*_CLOCK_FIELDS, 'device_time_ns'))})\n"
        + f"  |> {_PIVOT}\n"
        + "  |> map(fn: (r) => ({r with time_ns: r.device_time_ns}))\n"
        + f"  |> {_keep(CLOCK_COLUMNS)}\n"
    )
    if not near_devices:
        return query + 'burst_far\n  |> yield(name: "burst")\n'
    return (
        query
        + "burst_near = "
        + _near(bucket, site, near_devices, lo_ms, hi_ms)
        + 'union(tables: [burst_far, burst_near])\n  |> yield(name: "burst")\n'
    )


def _near(bucket: str, site: str, devices: Sequence[str], lo_ms: int, hi_ms: int) -> str:
    """`reading` points of `devices` received in [lo_ms, hi_ms] that have no receive-time copy
    (their device time is within RECEIVED_INDEX_SKEW_MS of the receive time)."""
    return (
        _source(
            bucket,
            max(lo_ms - RECEIVED_INDEX_SKEW_MS, 0) * NS_PER_MS,
            (hi_ms + RECEIVED_INDEX_SKEW_MS + 1) * NS_PER_MS,
        )
        + f"  |> filter(fn: (r) => r._measurement == {string(READING)}"
        f" and r.site == {string(site)})\n"
        + f"  |> filter(fn: (r) => {_any_of('device', sorted(set(devices)))})\n"
        + f"  |> filter(fn: (r) => {_any_of('_field', _CLOCK_FIELDS)})\n"
        + f"  |> {_PIVOT}\n"
        + f"  |> {_WITH_TIME_NS}\n"
        + f"  |> filter(fn: (r) => r.received_ms >= {int(lo_ms)}"
        f" and r.received_ms <= {int(hi_ms)})\n" + f"  |> {_keep(CLOCK_COLUMNS)}\n"
    )


def predecessor_query(
    bucket: str,
    site: str,
    near: Sequence[tuple[Sequence[str], int, int]],
    wanted: Sequence[tuple[str, str, int, int, int]],
) -> str:
    """The second clock lookup of a batch (central/store/influx.py), only when it is needed:

    - for each (devices, lo_ms, hi_ms) of `near`: the `reading` points of those devices received
      in [lo_ms, hi_ms] without a receive-time copy (result "burst", as in `burst_query`);
    - for each (device, boot, below_seq, lo_ms, hi_ms) of `wanted`: the reading of that boot
      with the highest seq below `below_seq` among those with a device time in [lo_ms, hi_ms)
      (result "pred<n>"): the predecessor of the earliest reading of a burst.
    """
    if not near and not wanted:
        raise ValueError("a predecessor lookup needs devices")
    parts = []
    for n, (devices, lo_ms, hi_ms) in enumerate(near):
        parts.append(_near(bucket, site, devices, lo_ms, hi_ms) + f'  |> yield(name: "burst{n}")\n')
    for n, (device, boot, below_seq, lo_ms, hi_ms) in enumerate(wanted):
        parts.append(
            _source(bucket, max(lo_ms, 0) * NS_PER_MS, max(hi_ms, 0) * NS_PER_MS)
            + f"  |> filter(fn: (r) => r._measurement == {string(READING)}"
            f" and r.site == {string(site)} and r.device == {string(device)})\n"
            + f"  |> filter(fn: (r) => {_any_of('_field', _CLOCK_FIELDS)})\n"
            + f"  |> {_PIVOT}\n"
            + f"  |> filter(fn: (r) => r.boot == {string(boot)} and r.seq < {int(below_seq)})\n"
            + f"  |> {_WITH_TIME_NS}\n"
            + f"  |> {_keep(CLOCK_COLUMNS)}\n"
            + "  |> group()\n"
            + '  |> sort(columns: ["seq"])\n'
            + '  |> last(column: "seq")\n'
            + f'  |> yield(name: "pred{n}")\n'
        )
    return "\n".join(parts)


def duplicates_query(bucket: str, site: str, first_day_ns: int, stop_day_ns: int) -> str:
    """Duplicates of `site` for local dates in [first, stop): result "duplicates", the counts
    central wrote (duplicate_point); result "edge_duplicates", one row per copy an edge dropped
    (edge_duplicate_point: `_value` is the edge's drop id)."""
    return (
        _source(bucket, first_day_ns, stop_day_ns)
        + f"  |> filter(fn: (r) => r._measurement == {string(DUPLICATE)}"
        f' and r.site == {string(site)} and r._field == "count")\n'
        + f"  |> {_WITH_TIME_NS}\n"
        + f"  |> {_keep(('device', 'time_ns', '_value'))}\n"
        + '  |> yield(name: "duplicates")\n'
        + "\n"
        + _source(bucket, first_day_ns, stop_day_ns)
        + f"  |> filter(fn: (r) => r._measurement == {string(EDGE_DUPLICATE)}"
        f' and r.site == {string(site)} and r._field == "id")\n'
        + f"  |> {_WITH_TIME_NS}\n"
        + f"  |> {_keep(('device', 'edge', 'time_ns', '_value'))}\n"
        + '  |> yield(name: "edge_duplicates")\n'
    )


def stats_query(bucket: str, site: str) -> str:
    """Readings stored for `site` (one `seq` field per reading) and distinct rejected readings."""
    return (
        _source(bucket, 0, END_OF_TIME_NS)
        + f"  |> filter(fn: (r) => r._measurement == {string(READING)}"
        f' and r.site == {string(site)} and r._field == "seq")\n'
        + "  |> group()\n"
        + "  |> count()\n"
        + '  |> yield(name: "readings")\n'
        + "\n"
        + _source(bucket, 0, END_OF_TIME_NS)
        + f"  |> filter(fn: (r) => r._measurement == {string(REJECTED)}"
        f' and r.site == {string(site)} and r._field == "key")\n'
        + "  |> group()\n"
        + "  |> distinct()\n"
        + "  |> count()\n"
        + '  |> yield(name: "rejected")\n'
    )


PRESENCE_COLUMNS = ("device", "kind", "time_ns", "state", "boot", "since_ms")


def presence_query(bucket: str, site: str, devices: Sequence[str] = ()) -> str:
    """The latest status change of each device of `site` (or of `devices` only), as pivoted
    rows of PRESENCE_COLUMNS; time_ns is the edge's receive time of the change."""
    only = f"  |> filter(fn: (r) => {_any_of('device', sorted(set(devices)))})\n" if devices else ""
    return (
        _source(bucket, 0, END_OF_TIME_NS)
        + f"  |> filter(fn: (r) => r._measurement == {string(DEVICE_STATUS)}"
        f" and r.site == {string(site)})\n"
        + only
        + f"  |> filter(fn: (r) => {_any_of('_field', ('state', 'boot', 'since_ms'))})\n"
        + f"  |> {_PIVOT}\n"
        + '  |> group(columns: ["device"])\n'
        + '  |> sort(columns: ["_time"])\n'
        + '  |> last(column: "_time")\n'
        + f"  |> {_WITH_TIME_NS}\n"
        + f"  |> {_keep(PRESENCE_COLUMNS)}\n"
        + '  |> yield(name: "presence")\n'
    )


HEALTH_COLUMNS = ("edge", "time_ns", *HEALTH_FIELDS)


def health_query(bucket: str, site: str, before_ms: int) -> str:
    """Each edge's latest health report of `site` before `before_ms`, as pivoted rows of
    HEALTH_COLUMNS (time_ns: the edge's clock when it measured)."""
    return (
        _source(bucket, 0, min(max(1, before_ms) * NS_PER_MS, END_OF_TIME_NS))
        + f"  |> filter(fn: (r) => r._measurement == {string(EDGE_HEALTH)}"
        f" and r.site == {string(site)})\n"
        + f"  |> {_PIVOT}\n"
        + '  |> group(columns: ["edge"])\n'
        + '  |> sort(columns: ["_time"])\n'
        + '  |> last(column: "_time")\n'
        + f"  |> {_WITH_TIME_NS}\n"
        + f"  |> {_keep(HEALTH_COLUMNS)}\n"
        + '  |> yield(name: "health")\n'
    )


class _Body:
    """A raw response body as FluxCsvParser reads it: an iterable of bytes with close()."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks = chunks

    def __iter__(self) -> Iterator[bytes]:
        # csv.reader wants one line at a time; HTTP bodies come in chunks of any size.
        pending = b""
        for chunk in self._chunks:
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                yield line + b"\n"
        if pending:
            yield pending

    def close(self) -> None:
        close = getattr(self._chunks, "close", None)
        if callable(close):
            close()


def parse_records(body: Iterable[bytes]) -> Iterator[dict[str, Any]]:
    """The rows of an annotated-CSV answer (all results and tables), as column -> typed value.

    Typed by the `#datatype` annotation (long -> int, double -> float, string -> str); empty
    cells take the `#default` annotation or None. An error table raises FluxAnswerError.
    """
    parser = FluxCsvParser(_Body(body), FluxSerializationMode.stream)
    try:
        for record in parser.generator():
            if isinstance(record, FluxRecord):
                yield record.values
    except FluxQueryException as exc:
        raise FluxAnswerError(f"InfluxDB query failed: {exc.message}") from exc
    except (FluxCsvParserException, csv.Error, ValueError, IndexError, KeyError) as exc:
        raise FluxAnswerError(f"InfluxDB answer is not annotated CSV: {exc}") from exc
