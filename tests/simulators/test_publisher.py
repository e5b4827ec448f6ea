"""publisher: a real run against Mosquitto, counted from a subscriber's side."""

import asyncio
import json
import time
from collections import Counter, defaultdict
from datetime import date
from pathlib import Path

import aiomqtt
import pytest

from contract.payloads import parse_payload, parse_status
from contract.topics import DeviceKind, parse_topic
from harness.broker import Mosquitto
from simulators.devices import DEVICES
from simulators.errors import BrokerError, ConfigurationError
from simulators.publisher import SimClock, run_simulation
from simulators.settings import SimulatorSettings

START = date(2026, 11, 20)


def _settings(registry_path: Path, broker: Mosquitto, **overrides: object) -> SimulatorSettings:
    values: dict[str, object] = {
        "registry": registry_path,
        "mqtt_host": broker.host,
        "mqtt_port": broker.port,
        "sites": ("s2",),
        "start_date": START,
        "days": 1,
        "speed": 0,
        "seed": 5,
    }
    values.update(overrides)
    return SimulatorSettings.model_validate(values)


async def _retained_status(broker: Mosquitto, expected: int) -> dict[str, str]:
    states: dict[str, str] = {}
    async with aiomqtt.Client(broker.host, broker.port, identifier="status-reader") as client:
        await client.subscribe("canteen/+/+/+/status", qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                assert message.retain
                status = parse_status(
                    message.payload if isinstance(message.payload, bytes) else b""
                )
                states[parse_topic(message.topic.value).device] = status.state
                if len(states) == expected:
                    break
    return states


async def test_a_day_arrives_complete_in_order_and_devices_end_offline(
    mosquitto: Mosquitto, registry_path: Path, tmp_path: Path
) -> None:
    truth_path = tmp_path / "truth.json"
    settings = _settings(registry_path, mosquitto, truth_out=truth_path)
    received: Counter[DeviceKind] = Counter()
    seqs: dict[str, list[int]] = defaultdict(list)
    online_seen: set[str] = set()
    run_done = asyncio.Event()
    expected_total: list[int] = []

    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="observer") as observer:
        await observer.subscribe("canteen/#", qos=1)

        async def collect() -> None:
            async for message in observer.messages:
                assert isinstance(message.payload, bytes)
                address = parse_topic(message.topic.value)
                assert address.site == "s2"
                if address.channel == "status":
                    if parse_status(message.payload).state == "online":
                        online_seen.add(address.device)
                    continue
                parsed = parse_payload(address.kind, message.payload)
                received[address.kind] += 1
                seqs[address.device].append(parsed.seq)
                if run_done.is_set() and sum(received.values()) >= expected_total[0]:
                    return

        collector = asyncio.create_task(collect())
        truth = await run_simulation(settings)
        published = truth.to_json()["sites"]["s2"]["published"]
        expected_total.append(published["readings"])
        run_done.set()
        if sum(received.values()) < expected_total[0]:
            await asyncio.wait_for(collector, timeout=20)
        else:
            collector.cancel()

    assert published["readings"] == sum(published[k.value] for k in DeviceKind) > 4000
    assert {kind.value: received[kind] for kind in DeviceKind} == {
        k.value: published[k.value] for k in DeviceKind
    }
    for device, numbers in seqs.items():
        assert numbers == list(range(len(numbers))), f"{device} out of order"
    assert online_seen == {spec.id for spec in DEVICES}
    assert json.loads(truth_path.read_text()) == truth.to_json()
    day = truth.to_json()["sites"]["s2"]["days"]["2026-11-20"]["day"]
    assert received[DeviceKind.CARD] >= day["meals"] > 0

    # Clean shutdown: every device published its retained 'offline' status.
    states = await _retained_status(mosquitto, len(DEVICES))
    assert states == {spec.id: "offline" for spec in DEVICES}


async def test_stay_online_leaves_every_device_online_after_a_complete_run(
    mosquitto: Mosquitto, registry_path: Path
) -> None:
    await run_simulation(_settings(registry_path, mosquitto, stay_online=True))
    states = await _retained_status(mosquitto, len(DEVICES))
    assert states == {spec.id: "online" for spec in DEVICES}


async def test_unreachable_broker_is_a_broker_error(registry_path: Path, tmp_path: Path) -> None:
    from harness.ports import free_port

    settings = SimulatorSettings(
        registry=registry_path,
        mqtt_port=free_port(),
        speed=0,
        start_date=START,
        truth_out=tmp_path / "t.json",
    )
    with pytest.raises(BrokerError, match="cannot connect"):
        await run_simulation(settings)
    assert not (tmp_path / "t.json").exists()


async def test_unknown_site_is_refused_before_connecting(registry_path: Path) -> None:
    settings = SimulatorSettings(registry=registry_path, sites="s1,nope", mqtt_port=1)
    with pytest.raises(ConfigurationError, match="nope"):
        await run_simulation(settings)


async def test_sim_clock_paces_by_speed() -> None:
    loop = asyncio.get_running_loop()
    clock = SimClock(origin_ms=1_000_000, speed=20.0)
    started = loop.time()
    await clock.wait_for(1_000_000 + 2_000)  # 2 simulated seconds at 20x: 0.1 s
    assert loop.time() - started >= 0.095
    instant = SimClock(origin_ms=0, speed=0)
    started = loop.time()
    await instant.wait_for(10**12)
    assert loop.time() - started < 0.05


async def test_all_faults_over_mqtt_arrive_as_the_truth_counts(
    mosquitto: Mosquitto, registry_path: Path
) -> None:
    # raw kitchen bins: scale_drift (in all) acts on them only
    settings = _settings(registry_path, mosquitto, faults="all", fault_rate=3.0, raw_bins="s2")
    received: Counter[DeviceKind] = Counter()
    copies: dict[tuple[str, str, int], list[bytes]] = defaultdict(list)
    states: Counter[str] = Counter()
    expected: dict[str, int] = {}
    complete = asyncio.Event()

    def check_complete() -> None:
        # Readings and the status messages of the clean shutdown reach the observer independently
        # of when run_simulation returns: wait for both counts rather than for the run.
        readings_in = expected and sum(received.values()) >= expected["readings"]
        if readings_in and states["offline"] >= expected["offline"]:
            complete.set()

    async with aiomqtt.Client(mosquitto.host, mosquitto.port, identifier="observer") as observer:
        await observer.subscribe("canteen/#", qos=1)

        async def collect() -> None:
            async for message in observer.messages:
                assert isinstance(message.payload, bytes)
                address = parse_topic(message.topic.value)
                if address.channel == "status":
                    states[parse_status(message.payload).state] += 1
                else:
                    parsed = parse_payload(address.kind, message.payload)
                    received[address.kind] += 1
                    copies[(address.device, parsed.boot, parsed.seq)].append(message.payload)
                check_complete()

        collector = asyncio.create_task(collect())
        truth = await run_simulation(settings)
        site = truth.to_json()["sites"]["s2"]
        restarts = site["faults"]["device_reboot"] + site["faults"]["meter_reset"]
        expected.update(readings=site["published"]["readings"], offline=restarts + len(DEVICES))
        check_complete()
        try:
            await asyncio.wait_for(complete.wait(), timeout=20)
        finally:
            collector.cancel()

    faults = site["faults"]
    assert all(faults[name] > 0 for name in faults if name != "clock_skew"), faults  # not in all
    assert {k.value: received[k] for k in DeviceKind} == {
        k.value: site["published"][k.value] for k in DeviceKind
    }
    repeats = sum(len(payloads) - 1 for payloads in copies.values())
    assert repeats == faults["duplicate"]
    assert all(len(set(payloads)) == 1 for payloads in copies.values())
    assert states["offline"] == restarts + len(DEVICES)  # and each device's clean shutdown
    assert states["online"] == restarts + len(DEVICES)


async def test_sim_clock_follows_a_given_wall_origin() -> None:
    wall_now_ms = time.time_ns() // 1_000_000
    # simulated origin was due 100 s ago at speed 1: an instant 50 s after it is already past
    past = SimClock(0, 1.0, wall_origin_ms=wall_now_ms - 100_000)
    await asyncio.wait_for(past.wait_for(50_000), timeout=10)
    # without a wall origin the clock starts now: the same instant is 50 s away
    now = SimClock(0, 1.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(now.wait_for(50_000), timeout=0.2)
