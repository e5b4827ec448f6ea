"""Flux text of the `influxdb` store, and parsing of recorded annotated-CSV answers.

The fixtures follow InfluxDB's annotated CSV format (#datatype, #group, #default annotations, a
header row with `result` and `table`, a new annotation block whenever the schema changes, an
`error,reference` table for a failed query), shaped as the store's queries answer: pivoted rows
with `time_ns`. They are parsed by influxdb-client's own FluxCsvParser, as in production.
"""

from datetime import date
from pathlib import Path

import numpy as np
import pytest

from central.kpi.clocks import ClockRule
from central.kpi.presence import DevicePresence
from central.store.flux import (
    FluxAnswerError,
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
    string,
)
from central.store.influx import (
    duplicates_from_rows,
    lookup_from_rows,
    predecessors_from_rows,
    presence_from_rows,
    readings_from_rows,
)
from central.store.influx_clocks import StoredReading
from central.store.influx_schema import (
    END_OF_TIME_NS,
    NS_PER_MS,
    RECEIVED_INDEX_SKEW_MS,
    occupancy,
)

FIXTURES = Path(__file__).parent / "fixtures"


def answer(name: str, chunk_bytes: int = 41) -> list[bytes]:
    """A recorded body in chunks that cut lines anywhere, as HTTP delivers it."""
    body = (FIXTURES / name).read_bytes()
    return [body[i : i + chunk_bytes] for i in range(0, len(body), chunk_bytes)]


def test_strings_are_escaped_for_flux() -> None:
    assert string('a"b\\c${x}') == '"a\\"b\\\\c\\${x}"'
    query = readings_query('bucket"x', 's"1', 1000, 2000)
    assert 'from(bucket: "bucket\\"x")' in query
    assert 'r.site == "s\\"1"' in query


def test_readings_query_ranges_in_nanoseconds_with_lookaround() -> None:
    hour_ns = RECEIVED_INDEX_SKEW_MS * NS_PER_MS
    start_ms, end_ms = 5 * 3_600_000, 6 * 3_600_000
    plain = readings_query("canteen", "s1", start_ms, end_ms)
    start_ns, end_ns = start_ms * NS_PER_MS, end_ms * NS_PER_MS
    assert plain.count("yield(") == 2
    # device times: the range widened by the skew below which readings have no receive-time
    # copy, kept when the device time or the receive time is in the range
    assert (
        f"range(start: time(v: {start_ns - hour_ns}), stop: time(v: {end_ns + hour_ns}))" in plain
    )
    assert (
        f"filter(fn: (r) => (r.time_ns >= {start_ns} and r.time_ns < {end_ns})"
        f" or (r.received_ms >= {start_ms} and r.received_ms < {end_ms}))" in plain
    )
    # receive-time copies: received in the range, device time beyond the widened range
    received = plain[plain.index('yield(name: "range")') :]
    assert f"range(start: time(v: {start_ns}), stop: time(v: {end_ns}))" in received
    assert 'r._measurement == "reading_by_received"' in received
    assert "time_ns: r.device_time_ns" in received
    assert f"r.time_ns < {start_ns - hour_ns} or r.time_ns >= {end_ns + hour_ns}" in received
    assert 'yield(name: "received")' in received
    around = readings_query("canteen", "s1", 10_000, 20_000, lookaround_ms=5_000)
    assert 'yield(name: "before")' in around
    assert "range(start: time(v: 5000000000), stop: time(v: 10000000000))" in around
    assert 'yield(name: "after")' in around
    assert "range(start: time(v: 20000000000), stop: time(v: 25000000000))" in around
    assert 'last(column: "_time")' in around
    assert 'first(column: "_time")' in around
    # a lookaround or a widened range reaching before 1970 starts at 1970
    early = readings_query("canteen", "s1", 1_000, 2_000, lookaround_ms=5_000)
    assert "range(start: time(v: 0), stop: time(v: 1000000000))" in early
    assert f"range(start: time(v: 0), stop: time(v: {2_000_000_000 + hour_ns}))" in early


def test_identity_lookup_splits_far_apart_times() -> None:
    assert identity_ranges([5, 3, 3, 7_200_000, 4]) == [(3, 6), (7_200_000, 7_200_001)]
    assert identity_ranges([0, 3_600_000]) == [(0, 3_600_001)]
    query = existing_query("canteen", "s1", ["b", "a", "b"], [(3, 6), (10, 11)])
    assert query.count("yield(") == 2
    assert '(r.device == "a" or r.device == "b")' in query
    with pytest.raises(ValueError, match="needs devices"):
        existing_query("canteen", "s1", [], [(1, 2)])


def test_duplicates_and_stats_queries() -> None:
    day = 86_400 * 10**9
    query = duplicates_query("canteen", "s1", 3 * day, 5 * day)
    assert f"range(start: time(v: {3 * day}), stop: time(v: {5 * day}))" in query
    assert 'r._measurement == "duplicate"' in query
    # the copies edges dropped: same day range, one row per point, with its edge
    edge = query[query.index('yield(name: "duplicates")') :]
    assert f"range(start: time(v: {3 * day}), stop: time(v: {5 * day}))" in edge
    assert 'r._measurement == "edge_duplicate" and r.site == "s1" and r._field == "id"' in edge
    assert 'column == "edge"' in edge
    assert 'yield(name: "edge_duplicates")' in edge
    stats = stats_query("canteen", "s1")
    assert 'yield(name: "readings")' in stats
    assert 'yield(name: "rejected")' in stats
    assert "distinct()" in stats


def test_recorded_readings_answer_becomes_the_kpi_arrays() -> None:
    rows = list(parse_records(answer("readings.csv")))
    readings = readings_from_rows(rows, meter_devices=())
    np.testing.assert_array_equal(
        readings.scale.time_ms, [1767225600000, 1767225601000, 1767225602000]
    )
    np.testing.assert_array_equal(readings.scale.stream, ["plate", "plate", "prep"])
    np.testing.assert_array_equal(readings.scale.mass_g, [61.5, 20.0, 1200.0])
    np.testing.assert_array_equal(readings.scale.device, ["plate-1", "plate-1", "bin-1"])
    np.testing.assert_array_equal(readings.scale.received_ms[:1], [1767225600040])
    # the double swipe: one millisecond, two readings; and a card at 1970 found by its
    # receive time (result "received"), with its device time
    np.testing.assert_array_equal(readings.card.time_ms, [1767225605000, 1767225605000, 3000])
    np.testing.assert_array_equal(readings.card.person, ["cd" * 8, "cd" * 8, "ef" * 8])
    np.testing.assert_array_equal(readings.card.device, ["card-1", "card-1", "card-2"])
    np.testing.assert_array_equal(readings.card.received_ms[2:], [1767225606000])
    # meter-elec has readings in the range: its neighbours before and after are kept;
    # meter-gas has none and is not named: its "before" row is left out
    order = np.argsort(readings.meter.time_ms)
    np.testing.assert_array_equal(readings.meter.device[order], ["meter-elec"] * 3)
    np.testing.assert_array_equal(readings.meter.total[order], [12300.5, 12345.678, 12399.0])
    named = readings_from_rows(rows, meter_devices=("meter-gas",))
    assert "meter-gas" in named.meter.device.tolist()
    np.testing.assert_array_equal(named.meter.quantity[named.meter.device == "meter-gas"], ["gas"])


def test_recorded_duplicates_are_summed_per_device_and_local_date() -> None:
    counts = duplicates_from_rows(parse_records(answer("duplicates.csv")))
    found = list(
        zip(
            counts.device.tolist(),
            counts.local_date.tolist(),
            counts.duplicates.tolist(),
            strict=True,
        )
    )
    # card-1 on 2026-01-01: 2 + 1 counted by central, plus two copies its edge dropped (one
    # row each, whatever the drop id in `_value`); plate-1: one dropped copy only
    assert found == [
        ("card-1", "2026-01-01", 5),
        ("meter-elec", "2026-01-02", 4),
        ("plate-1", "2026-01-03", 1),
    ]
    assert date.fromisoformat(found[0][1]) == date(2026, 1, 1)


def test_recorded_identities_give_the_occupied_slots() -> None:
    rows = parse_records(answer("existing.csv"))
    occupied = occupancy((row["device"], row["time_ns"], row["boot"], row["seq"]) for row in rows)
    assert occupied == {("card-1", 1767225605000): {41: ("b1", 41), 42: ("b0", 42)}}


def test_stats_answer_has_both_results() -> None:
    rows = list(parse_records(answer("stats.csv")))
    assert {row["result"]: row["_value"] for row in rows} == {"readings": 1234, "rejected": 3}


def test_error_tables_and_foreign_bodies_are_typed_errors() -> None:
    with pytest.raises(FluxAnswerError, match="schema collision"):
        list(parse_records(answer("error.csv")))
    with pytest.raises(FluxAnswerError, match="not annotated CSV"):
        list(parse_records(answer("notcsv.txt")))


def test_presence_query_takes_the_latest_status_change_per_device() -> None:
    every = presence_query("canteen", "s1")
    assert 'r._measurement == "device_status" and r.site == "s1"' in every
    assert 'group(columns: ["device"])' in every
    assert 'last(column: "_time")' in every
    assert 'yield(name: "presence")' in every
    assert "r.device ==" not in every
    some = presence_query("canteen", "s1", ["m2", "m1", "m2"])
    assert '(r.device == "m1" or r.device == "m2")' in some


def test_recorded_presence_answer_gives_state_since_and_boot() -> None:
    presence = presence_from_rows(parse_records(answer("presence.csv")))
    assert presence == [
        DevicePresence("card-1", "card", "online", "b7", 1767225600123, 1767225600123),
        DevicePresence("meter-elec", "meter", "offline", "b3", 1767225700000, 1767229200000),
        # a will without a boot, in a table of its own (no boot column)
        DevicePresence("plate-1", "scale", "offline", None, 1767229300000, 1767229300000),
    ]


def test_raw_bins_get_their_last_stable_reading_before_the_range() -> None:
    query = readings_query("canteen", "s1", 10_000, 20_000, raw_lookback_ms=4_000)
    assert 'yield(name: "raw_before")' in query
    assert "exists r.gross_g and r.stable == true" in query
    assert '"gross_g"' in query.split('yield(name: "range")')[0]  # fields of the range itself
    rows = [
        {"result": "range", "kind": "scale", "device": "bin-a", "stream": "prep",
         "time_ns": 12_000_000_000, "gross_g": 900.0, "stable": True, "received_ms": 12_001},
        {"result": "range", "kind": "scale", "device": "plate-1", "stream": "plate",
         "time_ns": 13_000_000_000, "mass_g": 40.0, "received_ms": 13_001},
        {"result": "raw_before", "kind": "scale", "device": "bin-a", "stream": "prep",
         "time_ns": 7_000_000_000, "gross_g": 400.0, "stable": True, "received_ms": 7_001},
        # a bin without a reading in the range: its reference is not needed
        {"result": "raw_before", "kind": "scale", "device": "bin-b", "stream": "spoilage",
         "time_ns": 8_000_000_000, "gross_g": 100.0, "stable": True, "received_ms": 8_001},
    ]  # fmt: skip
    scale = readings_from_rows(rows).scale
    assert scale.device.tolist() == ["bin-a", "plate-1", "bin-a"]
    np.testing.assert_array_equal(scale.gross_g, [900.0, np.nan, 400.0])
    assert scale.stable.tolist() == [True, True, True]
    assert scale.mass_g.tolist() == [0.0, 40.0, 0.0]


def _part(query: str, name: str) -> str:
    """The statement of `query` that yields `name` (from the previous blank line)."""
    end = query.index(f'yield(name: "{name}")')
    return query[query.rindex("\n\n", 0, end) : end]


def test_the_raw_bin_reference_query_applies_the_clock_rule() -> None:
    hour = 3_600_000
    start, end, lookback = 100 * hour, 124 * hour, 48 * hour
    rule = ClockRule(future_tolerance_ms=600_000, max_delay_ms=5_400_000)
    query = readings_query("canteen", "s1", start, end, raw_lookback_ms=lookback, raw_clock=rule)
    lo_ns, start_ns, end_ns = (start - lookback) * NS_PER_MS, start * NS_PER_MS, end * NS_PER_MS
    skew_ns = RECEIVED_INDEX_SKEW_MS * NS_PER_MS
    # device-time source: the lookback widened by the receive-time copy threshold on both sides
    assert f"range(start: time(v: {lo_ns - skew_ns}), stop: time(v: {start_ns + skew_ns}))" in query
    # within the rule's limits, or judged clock-trusted per device (a buffered raw bin)
    trusted = (
        "((exists r.clock_trusted and r.clock_trusted == true)"
        " or (r.time_ns >= (r.received_ms - 5400000) * 1000000"
        " and r.time_ns < (r.received_ms + 600001) * 1000000))"
    )
    received_in = f"(r.received_ms >= {start} and r.received_ms < {end})"
    device_in = f"(r.time_ns >= {start_ns} and r.time_ns < {end_ns})"
    # trusted clocks: device time in the lookback, not received in the range, last by time
    before = _part(query, "raw_before")
    assert f"r.time_ns >= {lo_ns} and r.time_ns < {start_ns}" in before
    assert f"filter(fn: (r) => {trusted} and not {received_in})" in before
    assert 'last(column: "_time")' in before
    # wrong clocks: received in the lookback, device time not in the range, from the device-time
    # source (close to their receive time) or from the receive-time copies, last by receive time
    wrong = query[query.index("raw_wrong_near = ") : query.index('yield(name: "raw_wrong")')]
    assert f"r.received_ms >= {start - lookback} and r.received_ms < {start}" in wrong
    assert wrong.count(f"not {trusted} and not {device_in}") == 2
    far = wrong[wrong.index("raw_wrong_far = ") :]
    assert f"range(start: time(v: {lo_ns}), stop: time(v: {start_ns}))" in far
    assert 'r._measurement == "reading_by_received"' in far
    assert "time_ns: r.device_time_ns" in far
    assert "union(tables: [raw_wrong_near, raw_wrong_far])" in wrong
    assert 'last(column: "received_ms")' in wrong
    # the rule's thresholds are the site's
    other = readings_query(
        "canteen", "s1", start, end, raw_lookback_ms=lookback,
        raw_clock=ClockRule(future_tolerance_ms=0, max_delay_ms=60_000),
    )  # fmt: skip
    assert "(r.received_ms - 60000) * 1000000" in other
    assert "(r.received_ms + 1) * 1000000" in other
    # the rule off: every clock trusted, by device time only, no wrong-clock result
    off = readings_query(
        "canteen", "s1", start, end, raw_lookback_ms=lookback, raw_clock=ClockRule(enabled=False)
    )
    assert 'yield(name: "raw_wrong")' not in off
    assert "r.received_ms -" not in off
    assert f"range(start: time(v: {lo_ns}), stop: time(v: {start_ns}))" in _part(off, "raw_before")
    assert f"not {received_in}" in _part(off, "raw_before")


def test_recorded_raw_references_keep_a_wrong_clock_received_after_the_trusted_one() -> None:
    hour = 3_600_000
    start = 100 * hour
    scale = readings_from_rows(parse_records(answer("raw_before.csv"))).scale
    got = sorted(
        zip(scale.device.tolist(), scale.time_ms.tolist(), scale.gross_g.tolist(), strict=True)
    )
    assert got == [
        ("bin-a", 7, 42.0),  # clock at 1970, received after the trusted reference: kept
        ("bin-a", start - 3 * hour, 5.0),
        ("bin-a", start + hour, 1995.0),
        # bin-b's wrong clock (9 h ahead) was received before its trusted reference: left out
        ("bin-b", start - 2 * hour, 700.0),
        ("bin-b", start + 2 * hour, 800.0),
        ("bin-c", start - 20 * hour, 120.0),  # no trusted reference: the wrong-clock one
        ("bin-c", start + 3 * hour, 300.0),
        # bin-d has no reading in the range: neither of its references
    ]
    assert scale.stable.all()
    assert scale.received_ms[scale.time_ms == 7].tolist() == [start - hour]


def test_health_query_takes_each_edges_last_report_before_a_moment() -> None:
    query = health_query("canteen", "s1", 1_795_000_000_000)
    assert f"range(start: time(v: 0), stop: time(v: {1_795_000_000_000 * NS_PER_MS}))" in query
    assert 'r._measurement == "edge_health" and r.site == "s1"' in query
    assert 'group(columns: ["edge"])' in query
    assert 'last(column: "_time")' in query
    assert 'column == "dropped_overflow"' in query
    # a moment beyond InfluxDB's range asks up to its end, not past it
    assert f"stop: time(v: {END_OF_TIME_NS}))" in health_query("canteen", "s1", 2**62)


def test_burst_query_finds_stored_readings_by_their_receive_time() -> None:
    """The stored readings of a batch's burst (docs/influxdb.md, "Clocks"): every device's
    receive-time copies received in the window; the `reading` points near the window only for
    the devices with a late reading in the batch, kept when received in it."""
    hour_ns = RECEIVED_INDEX_SKEW_MS * NS_PER_MS
    lo_ms, hi_ms = 1_767_254_340_000, 1_767_254_460_000
    lo_ns, hi_ns = lo_ms * NS_PER_MS, hi_ms * NS_PER_MS
    far_only = burst_query("canteen", "s1", ["m1", "c1", "m1"], [], lo_ms, hi_ms)
    assert far_only.count("from(") == 1
    assert f"range(start: time(v: {lo_ns}), stop: time(v: {hi_ns + NS_PER_MS}))" in far_only
    assert 'r._measurement == "reading_by_received" and r.site == "s1"' in far_only
    assert '(r.device == "c1" or r.device == "m1")' in far_only
    assert "time_ns: r.device_time_ns" in far_only
    assert 'column == "clock_trusted"' in far_only
    assert 'burst_far\n  |> yield(name: "burst")' in far_only
    both = burst_query("canteen", "s1", ["m1", "c1"], ["m1"], lo_ms, hi_ms)
    near = both[both.index("burst_near = ") :]
    assert (
        f"range(start: time(v: {lo_ns - hour_ns}), stop: time(v: {hi_ns + hour_ns + NS_PER_MS}))"
        in near
    )
    assert 'r._measurement == "reading" and r.site == "s1"' in near
    assert '(r.device == "m1")' in near
    assert f"r.received_ms >= {lo_ms} and r.received_ms <= {hi_ms}" in near
    assert 'union(tables: [burst_far, burst_near])\n  |> yield(name: "burst")' in both
    with pytest.raises(ValueError, match="needs devices"):
        burst_query("canteen", "s1", [], [], lo_ms, hi_ms)


def test_predecessor_query_takes_the_highest_seq_below_the_burst_in_a_window() -> None:
    day_ms = 86_400_000
    query = predecessor_query(
        "canteen", "s1", [(("m2",), 1_000, 2_000)],
        [("m1", "b1", 7, 5 * day_ms, 9 * day_ms), ("bs", 'b"2', 1, 0, day_ms)],
    )  # fmt: skip
    assert query.count("yield(") == 3
    assert 'yield(name: "burst0")' in query
    assert "r.received_ms >= 1000 and r.received_ms <= 2000" in query
    first = query[query.index('yield(name: "burst0")') : query.index('yield(name: "pred0")')]
    assert (
        f"range(start: time(v: {5 * day_ms * NS_PER_MS}), stop: time(v: {9 * day_ms * NS_PER_MS}))"
        in first
    )
    assert 'r._measurement == "reading" and r.site == "s1" and r.device == "m1"' in first
    assert 'r.boot == "b1" and r.seq < 7' in first
    assert 'sort(columns: ["seq"])' in first
    assert 'last(column: "seq")' in first
    assert 'r.boot == "b\\"2" and r.seq < 1' in query
    with pytest.raises(ValueError, match="needs devices"):
        predecessor_query("canteen", "s1", [], [])


def test_recorded_lookup_answer_gives_slots_and_the_stored_burst() -> None:
    """One request answers the identity lookup and the burst: near rows without a stored
    verdict (no `clock_trusted` column), far rows with one, a scale with its stream tag."""
    occupied, burst = lookup_from_rows(parse_records(answer("burst.csv")))
    assert occupied == {("m1", 1767254400000): {7: ("b1", 7)}}
    assert burst == [
        StoredReading("m1", "b1", 1, 1767139200000000001, 1767254400000, False, "meter",
                      quantity="electricity"),
        StoredReading("m1", "b1", 2, 1767140100000000002, 1767254400005, False, "meter",
                      quantity="electricity"),
        StoredReading("m1", "b1", 6, 1767254399000000006, 1767254400020, None, "meter",
                      quantity="electricity"),
        StoredReading("bs", "b1", 1, 1766563200000000001, 1767254400001, True, "scale",
                      stream="plate"),
    ]  # fmt: skip
    assert burst[0].timed().time_ms == 1767139200000


def test_recorded_predecessor_answer_gives_live_readings_and_predecessors() -> None:
    near, predecessors = predecessors_from_rows(parse_records(answer("predecessor.csv")))
    assert [(s.device, s.boot, s.seq, s.trusted) for s in near] == [("m2", "b4", 3, None)]
    assert [(s.device, s.seq, s.time_ns, s.trusted, s.stream) for s in predecessors] == [
        ("m1", 0, 1767138300000000000, None, None),
        ("bs", 0, 1766563140000000000, True, "plate"),
    ]
