"""The lockstep clock: every message goes out after a tick at most one step before its due time
(a wrong-clock message exactly at it); over real Mosquitto, a subscriber stamping messages with
the last tick sees simulated time, as an edge with EDGE_SIM_CLOCK_TOPIC does."""

import asyncio
import json
from pathlib import Path

import aiomqtt
import pytest

from contract.payloads import parse_payload
from contract.topics import parse_topic
from harness.broker import Mosquitto
from simulators.lockstep import LockstepClock
from simulators.publisher import run_simulation
from tests.simulators.test_publisher import _settings

STEP_MS = 60_000
CLOCK_TOPIC = "sim/clock"


async def test_each_message_follows_a_tick_of_its_step() -> None:
    log: list[tuple[str, int]] = []

    async def publish_tick(now_ms: int) -> None:
        await asyncio.sleep(0)  # a broker round trip
        log.append(("tick", now_ms))

    # (due, timed by receipt) per device task, each sorted as the fault injector sends them
    devices = [
        [(0, False), (10_000, False), (70_000, False), (200_000, False)],
        [(5_000, False), (30_000, True), (31_000, False), (500_000, True)],
        [(61_000, False), (61_000, False), (400_000, False)],
    ]
    clock = LockstepClock(len(devices), STEP_MS, publish_tick)

    async def device(messages: list[tuple[int, bool]]) -> None:
        try:
            for due, exact in messages:
                await clock.wait_for(due, exact)
                await asyncio.sleep(0)  # the PUBACK
                log.append(("exact" if exact else "message", due))
        finally:
            clock.leave()

    async with asyncio.timeout(10), asyncio.TaskGroup() as tasks:
        tasks.create_task(clock.run())
        for messages in devices:
            tasks.create_task(device(messages))

    last_tick = None
    ticks = []
    for kind, value in log:
        if kind == "tick":
            ticks.append(value)
            last_tick = value
            continue
        assert last_tick is not None
        if kind == "exact":
            assert last_tick == value
        else:
            assert value - STEP_MS < last_tick <= value, (kind, value, last_tick)
    assert ticks == sorted(ticks)
    assert sum(kind != "tick" for kind, _ in log) == sum(map(len, devices))
    assert clock.ticks == len(ticks) < sum(map(len, devices))


async def test_a_subscriber_stamping_with_the_ticks_sees_simulated_time(
    mosquitto: Mosquitto, registry_path: Path, tmp_path: Path
) -> None:
    truth_path = tmp_path / "truth.json"
    settings = _settings(
        registry_path,
        mosquitto,
        truth_out=truth_path,
        faults="clock_skew",
        fault_rate=5.0,
        clock_topic=CLOCK_TOPIC,
        clock_step_s=STEP_MS / 1000,
    )
    stamped: list[tuple[int, int]] = []  # (device time, receive stamp)
    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="edge-like") as edge:
        # one session, as the edge: its subscriptions deliver in the broker's order
        await edge.subscribe([("canteen/+/+/+/data", 1), (CLOCK_TOPIC, 1)])
        now: list[int] = []
        target: list[int] = []
        complete = asyncio.Event()

        async def collect() -> None:
            async for message in edge.messages:
                assert isinstance(message.payload, bytes)
                if message.topic.value == CLOCK_TOPIC:
                    now.append(int(message.payload))
                    continue
                address = parse_topic(message.topic.value)
                reading = parse_payload(address.kind, message.payload)
                stamped.append((reading.ts, now[-1]))
                if target and len(stamped) >= target[0]:
                    complete.set()

        collector = asyncio.create_task(collect())
        await run_simulation(settings)
        truth = json.loads(truth_path.read_text())
        expected = truth["sites"]["s2"]["published"]["readings"]
        target.append(expected)
        if len(stamped) >= expected:
            complete.set()
        async with asyncio.timeout(30):
            await complete.wait()
        collector.cancel()
        with pytest.raises(asyncio.CancelledError):
            await collector
    skewed = truth["sites"]["s2"]["fault_readings"]["clock_skew"]
    assert skewed > 0
    wrong = [(t, at) for t, at in stamped if abs(t - at) > 3_600_000]
    assert len(wrong) == skewed
    right = [(t, at) for t, at in stamped if abs(t - at) <= 3_600_000]
    assert all(t - STEP_MS < at <= t for t, at in right)


async def test_a_paused_device_does_not_hold_the_clock_back() -> None:
    """A device waiting for its next batch pauses; the others' messages go out meanwhile (the
    planner feeding it may itself wait for them), then it resumes and is served in order."""
    ticks: list[int] = []

    async def publish_tick(now_ms: int) -> None:
        await asyncio.sleep(0)
        ticks.append(now_ms)

    clock = LockstepClock(2, STEP_MS, publish_tick)
    fed = asyncio.Event()
    sent: list[int] = []

    async def busy() -> None:
        try:
            for due in (0, 100_000, 200_000):
                await clock.wait_for(due)
                sent.append(due)
            fed.set()  # the planner can feed the other device only now
            for due in (900_000,):
                await clock.wait_for(due)
                sent.append(due)
        finally:
            clock.leave()

    async def starved() -> None:
        try:
            clock.pause()
            try:
                await fed.wait()
            finally:
                clock.resume()
            await clock.wait_for(500_000)
            sent.append(500_000)
        finally:
            clock.leave()

    async with asyncio.timeout(10), asyncio.TaskGroup() as tasks:
        tasks.create_task(clock.run())
        tasks.create_task(busy())
        tasks.create_task(starved())
    assert sent == [0, 100_000, 200_000, 500_000, 900_000]
    assert ticks == [0, 100_000, 200_000, 500_000, 900_000]
