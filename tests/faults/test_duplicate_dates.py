"""One dating rule for duplicates at both hops, through real processes.

A card reader whose clock is at 1970 sends a swipe three times: the second copy arrives while the
edge still holds the first (the edge drops it and reports it, with its receive time), the third
after central stored the swipe (central drops it). With clock correction on, central attributes
the swipe to its receive time, and both dropped copies count on that local date, none on
1970-01-01 (docs/kpis.md, "Wrong device clocks").
"""

import asyncio
import json
import signal
from datetime import date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from contract.topics import DeviceKind, data_topic
from edge.buffer import read_status
from harness.ports import free_port
from harness.stack import Stack, StackSettings
from tests.edge.conftest import Publisher
from tests.faults.matrix import SITE, stored
from tests.faults.test_clock_jumps import JumpingClock, edge_settings, run_for

pytestmark = pytest.mark.e2e

TZ = ZoneInfo("Asia/Shanghai")  # the stack's sites (harness.registry)


def swipe() -> bytes:
    body = {"v": 1, "boot": "at-1970", "seq": 1, "ts": 86_400_000 + 5, "card": "c-0001"}
    return json.dumps(body).encode()


def duplicates_on(stack: Stack, day: date) -> int:
    response = httpx.get(
        f"{stack.central_url}/api/v1/kpis",
        params={"site": SITE, "date": day.isoformat(), "granularity": "day"},
        headers=stack.read_headers,
        timeout=30,
    )
    response.raise_for_status()
    body: dict[str, Any] = response.json()
    return sum(int(row["quality"]["duplicates_dropped"]) for row in body["rows"])


def test_copies_dropped_at_the_edge_and_at_central_count_on_the_same_date(
    tmp_path: Path,
) -> None:
    settings = StackSettings(workdir=tmp_path / "stack", sites=(SITE,), clock_correction=True)
    with Stack(settings) as stack:
        edge = stack.edges[SITE]
        edge.kill(signal.SIGKILL)  # replaced by an in-process edge the test can cut off
        online = edge_settings(edge.env)
        offline = online.model_copy(update={"central_url": f"http://127.0.0.1:{free_port()}"})
        clock = JumpingClock()
        topic = data_topic(SITE, DeviceKind.CARD, "card-1")
        publisher = Publisher(stack.broker.host, stack.broker.port, "card-at-1970")
        try:
            # Central unreachable: the swipe stays in the edge's buffer, its copy is dropped there.
            publisher.publish_all([(topic, swipe())])
            asyncio.run(run_for(offline, clock, lambda: read_status(online.buffer_path).pending))

            def copy_dropped() -> bool:
                return read_status(online.buffer_path).pending_duplicates == 1

            publisher.publish_all([(topic, swipe())])
            asyncio.run(run_for(offline, clock, copy_dropped))
            # Central reachable: the swipe and the edge's report are delivered.
            asyncio.run(run_for(online, clock, lambda: stored(stack) == 1 and _drained(online)))
            # The third copy reaches central, which drops it.
            received_before = read_status(online.buffer_path).counters["received"]

            def third_delivered() -> bool:
                status = read_status(online.buffer_path)
                return status.counters["received"] > received_before and _drained(online)

            publisher.publish_all([(topic, swipe())])
            asyncio.run(run_for(online, clock, third_delivered))
        finally:
            publisher.close()
        # the local date(s) of the edge's receive times (two only across a midnight)
        received_on = {
            datetime.fromtimestamp(ms / 1000, TZ).date()
            for ms in (min(clock.readings), max(clock.readings))
        }
        on_receive_date = sum(duplicates_on(stack, day) for day in received_on)
        # the swipe's device time: 1970-01-02 08:00 in Shanghai
        on_1970 = duplicates_on(stack, date(1970, 1, 2))
    assert (on_receive_date, on_1970) == (2, 0)


def _drained(settings: Any) -> bool:
    status = read_status(settings.buffer_path)
    return status.pending == 0 and status.pending_duplicates == 0
