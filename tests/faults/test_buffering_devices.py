"""Clocks judged per device, through real processes (Mosquitto, central, an edge).

A meter that keeps a day of readings in its own memory and uploads them at once (many
commercial meters do, at 08:00) has a correct clock: its live readings show it. Its buffered
readings keep their device times, so yesterday's electricity is yesterday's. A scale whose clock
is 3 days behind (every reading, live ones included) is corrected to its receive times as
before. The edge runs in-process with a clock the test sets (its receive times), so that the
meter's live reading of yesterday is received yesterday; central judges the clocks at ingest
(docs/kpis.md, "Wrong device clocks").
"""

import asyncio
import json
import signal
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from contract.topics import DeviceKind, data_topic
from edge.buffer import read_status
from harness.stack import Stack, StackSettings
from tests.edge.conftest import Publisher
from tests.faults.matrix import SITE, stored
from tests.faults.test_clock_jumps import JumpingClock, edge_settings, run_for

pytestmark = pytest.mark.e2e

TZ = ZoneInfo("Asia/Shanghai")  # the stack's sites (harness.registry)
MINUTE_MS = 60_000
DAY_MS = 24 * 60 * MINUTE_MS
KWH_PER_QUARTER = 0.5


def meter_reading(seq: int, ts: int) -> bytes:
    return json.dumps({
        "v": 1, "boot": "buffering", "seq": seq, "ts": ts, "quantity": "electricity",
        "total": 1000 + seq * KWH_PER_QUARTER, "unit": "kWh",
    }).encode()  # fmt: skip


def plate_reading(seq: int, ts: int) -> bytes:
    body = {"v": 1, "boot": "behind", "seq": seq, "ts": ts, "stream": "plate", "mass": 100,
            "unit": "g"}  # fmt: skip
    return json.dumps(body).encode()


def daily(stack: Stack, day: str) -> dict[str, Any]:
    return stack.daily_kpis(SITE, day)


def test_buffered_readings_keep_their_times_and_a_wrong_clock_is_corrected(
    tmp_path: Path,
) -> None:
    settings = StackSettings(workdir=tmp_path / "stack", sites=(SITE,), clock_correction=True)
    now_ms = time.time_ns() // 1_000_000
    today = datetime.fromtimestamp(now_ms / 1000, TZ).date()
    yesterday = today - timedelta(days=1)
    midnight_ms = int(datetime.combine(yesterday, datetime.min.time(), TZ).timestamp() * 1000)
    # yesterday 00:00 to today 00:00 every 15 minutes: 96 quarters of 0.5 kWh
    quarters = [midnight_ms + n * 15 * MINUTE_MS for n in range(97)]
    with Stack(settings) as stack:
        edge = stack.edges[SITE]
        edge.kill(signal.SIGKILL)  # replaced by an in-process edge with a clock the test sets
        settings_edge = edge_settings(edge.env)
        clock = JumpingClock()
        meter = data_topic(SITE, DeviceKind.METER, "meter-elec")
        plate = data_topic(SITE, DeviceKind.SCALE, "plate-1")
        publisher = Publisher(stack.broker.host, stack.broker.port, "buffering-devices")
        try:
            # Yesterday 00:00: the meter's live reading, received then.
            clock.offset_ms = quarters[0] + 500 - now_ms
            publisher.publish_all([(meter, meter_reading(0, quarters[0]))])
            asyncio.run(run_for(settings_edge, clock, lambda: stored(stack) >= 1))
            # Now: the day it kept in its memory, then its live reading; and a plate scale
            # whose clock is 3 days behind, live readings included.
            clock.offset_ms = 0
            live_ms = time.time_ns() // 1_000_000
            messages = [(meter, meter_reading(n, quarters[n])) for n in range(1, 97)]
            messages.append((meter, meter_reading(97, live_ms)))
            messages += [(plate, plate_reading(n, live_ms - 3 * DAY_MS + n)) for n in range(5)]
            publisher.publish_all(messages)

            def drained() -> bool:
                return stored(stack) >= 103 and read_status(settings_edge.buffer_path).pending == 0

            asyncio.run(run_for(settings_edge, clock, drained))
        finally:
            publisher.close()
        assert stored(stack) == 103
        before = daily(stack, yesterday.isoformat())
        on_today = daily(stack, today.isoformat())
        three_days_ago = daily(stack, (today - timedelta(days=3)).isoformat())
    # Yesterday's electricity is yesterday's: its 96 quarters of 0.5 kWh, at their device times
    # (judged alone, all but the last 90 minutes would have moved to their receive time, today).
    assert before["readings"] == 96
    assert before["day"]["energy"]["electricity_kwh"] == pytest.approx(96 * KWH_PER_QUARTER)
    # The scale 3 days behind is attributed to today, by its receive times; the meter's reading
    # of today 00:00 and its live one are today's too.
    assert on_today["readings"] == 5 + 2
    assert on_today["day"]["waste_g"]["plate"] == pytest.approx(500.0)
    assert three_days_ago["readings"] == 0
