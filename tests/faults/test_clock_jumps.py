"""Clock jumps on the devices and on the edge: identity is (site, device, boot, seq), never time.

The edge runs in-process with an injected clock that jumps a day back and a year forward while
readings flow (and across a restart of the edge); the devices' own clocks jump to 1970 and ahead.
Central (a real process) must store every reading exactly once.
"""

import asyncio
import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from contract.topics import DeviceKind, data_topic
from edge.buffer import read_status
from edge.daemon import run_edge
from edge.settings import EdgeSettings
from harness.processes import wait_until
from tests.edge.conftest import Publisher
from tests.faults.matrix import SITE, one_site_stack, stored

pytestmark = pytest.mark.e2e

DAY_MS = 86_400_000
YEAR_MS = 365 * DAY_MS


class JumpingClock:
    """Wall time plus an offset the test changes while the edge runs."""

    def __init__(self) -> None:
        self.offset_ms = 0
        self.readings: list[int] = []

    def __call__(self) -> int:
        now = time.time_ns() // 1_000_000 + self.offset_ms
        self.readings.append(now)
        return now


def device_payload(seq: int, ts: int | str) -> bytes:
    body: dict[str, Any] = {"v": 1, "boot": "jumpy", "seq": seq, "ts": ts}
    body.update(stream="plate", mass=25, unit="g")
    return json.dumps(body).encode()


def edge_settings(env: dict[str, str]) -> EdgeSettings:
    values: dict[str, Any] = {key.removeprefix("EDGE_").lower(): v for key, v in env.items()}
    return EdgeSettings(**values)


async def run_for(settings: EdgeSettings, clock: JumpingClock, until: Any) -> None:
    ready = asyncio.Event()
    edge = run_edge(settings, ready=ready, handle_signals=False, clock_ms=clock)
    task = asyncio.create_task(edge)
    try:
        async with asyncio.timeout(60):
            await ready.wait()
        await asyncio.to_thread(wait_until, until, 60)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_clock_jumps_lose_and_double_nothing(tmp_path: Path) -> None:
    with one_site_stack(tmp_path / "stack") as stack:
        edge = stack.edges[SITE]
        edge.kill(signal.SIGKILL)  # replaced by an in-process edge with an injectable clock
        settings = edge_settings(edge.env)
        clock = JumpingClock()
        topic = data_topic(SITE, DeviceKind.SCALE, "scale-jumpy")
        now_ms = time.time_ns() // 1_000_000
        # The device clock: now, 1970, ten years ahead, back to now, RFC 3339 a day behind.
        device_times: list[int | str] = [now_ms, 0, now_ms + 10 * YEAR_MS, now_ms]
        device_times.append("2026-11-17T12:00:00+08:00")
        publisher = Publisher(stack.broker.host, stack.broker.port, "jumpy-device")
        try:
            seq = 0
            batches = [(0, 40), (-DAY_MS, 40), (YEAR_MS, 40), (-YEAR_MS, 40)]
            total = 0
            for offset_ms, count in batches:
                clock.offset_ms = offset_ms
                messages = []
                for _ in range(count):
                    ts = device_times[seq % len(device_times)]
                    messages.append((topic, device_payload(seq, ts)))
                    seq += 1
                publisher.publish_all(messages)
                total += count
                # A restart of the edge under each clock: the broker redelivers what was not
                # acknowledged, the edge resends what central did not confirm.
                asyncio.run(run_for(settings, clock, lambda t=total: stored(stack) >= t))
            # The same readings published again (a device resending after its own restart).
            publisher.publish_all([(topic, device_payload(s, now_ms)) for s in range(seq)])
            clock.offset_ms = -3 * DAY_MS
            received = read_status(settings.buffer_path).counters["received"]

            def resent_and_absorbed() -> bool:
                status = read_status(settings.buffer_path)
                return status.counters["received"] >= received + seq and status.pending == 0

            asyncio.run(run_for(settings, clock, resent_and_absorbed))
        finally:
            publisher.close()
        wait_until(lambda: stored(stack) == seq, 30)
        assert stored(stack) == seq
    # The jumps really happened on the edge clock.
    assert min(clock.readings) < now_ms - DAY_MS / 2
    assert max(clock.readings) > now_ms + YEAR_MS / 2
