"""run_edge end to end: real Mosquitto, real SQLite buffer, a fake central behind MockTransport."""

import asyncio
import threading
from pathlib import Path

import pytest

from edge.buffer import Buffer, read_status
from edge.daemon import run_edge
from edge.settings import EdgeSettings
from harness.broker import BrokerSettings, Mosquitto
from tests.edge.conftest import (
    FakeCentral,
    Publisher,
    card_payload,
    make_settings,
    meter_payload,
    scale_payload,
)

RAW_CARD = "6222020000001234"


def valid_messages(count: int, *, start: int = 0) -> list[tuple[str, bytes]]:
    messages = []
    for i in range(start, start + count):
        if i % 3 == 0:
            messages.append(("canteen/s1/scale/plate-1/data", scale_payload(i, card=RAW_CARD)))
        elif i % 3 == 1:
            messages.append(("canteen/s1/card/reader-1/data", card_payload(i, RAW_CARD)))
        else:
            messages.append(("canteen/s1/meter/main/data", meter_payload(i)))
    return messages


def identity(topic: str, seq: int) -> tuple[str, str, int]:
    return (topic.split("/")[3], "b1", seq)


async def start_edge(settings: EdgeSettings, central: FakeCentral) -> asyncio.Task[None]:
    ready = asyncio.Event()
    task = asyncio.create_task(
        run_edge(settings, transport=central.transport(), ready=ready, handle_signals=False)
    )
    async with asyncio.timeout(10):
        ready_wait = asyncio.create_task(ready.wait())
        done, _ = await asyncio.wait({task, ready_wait}, return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            ready_wait.cancel()
            task.result()  # raises the daemon's error
    return task


async def wait_drained(path: Path, timeout_s: float = 10) -> None:
    """Wait until the running edge deleted every confirmed row (central answered before that)."""
    async with asyncio.timeout(timeout_s):
        # The file belongs to the running edge; reading it is the only view there is.
        while (status := read_status(path)).pending or status.pending_statuses:  # noqa: ASYNC110 (no event crosses the process seam)
            await asyncio.sleep(0.01)


async def stop_edge(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def edge_settings(tmp_path: Path, broker: Mosquitto, **overrides: object) -> EdgeSettings:
    return make_settings(tmp_path, mqtt_host=broker.host, mqtt_port=broker.port, **overrides)


async def test_forwards_every_reading_once_and_dead_letters_the_rest(
    tmp_path: Path, mosquitto: Mosquitto, publisher: Publisher, central: FakeCentral
) -> None:
    settings = edge_settings(tmp_path, mosquitto, batch_max_readings=100)
    edge = await start_edge(settings, central)
    try:
        valid = valid_messages(300)
        invalid = [
            ("canteen/s1/scale/plate-1/data", b"{not json"),
            ("canteen/s1/scale/plate-1/data", scale_payload(1000, mass=-5)),
            (
                "canteen/s1/meter/main/data",
                b'{"v":1,"seq":1,"boot":"b1","ts":0,"quantity":"gas","total":1,"unit":"kWh"}',
            ),
            ("canteen/s1/toaster/t1/data", b"{}"),
        ]
        publisher.publish(
            "canteen/s1/scale/plate-1/status", b'{"v":1,"state":"online","boot":"b1"}'
        ).wait_for_publish(10)
        publisher.publish_all(valid[:150] + invalid + valid[150:])
        await central.wait_for(lambda: len(central.stored) >= len(valid))
        await wait_drained(settings.buffer_path)
    finally:
        await stop_edge(edge)

    expected = {identity(topic, i) for i, (topic, _) in enumerate(valid)}
    assert set(central.stored) == expected
    assert central.uploads == len(valid)  # exactly once: no reading was sent twice
    by_kind = {r["kind"] for r in central.stored.values()}
    assert by_kind == {"scale", "card", "meter"}
    meter = central.stored[("main", "b1", 2)]
    assert meter["total"] == pytest.approx(1.5)  # 1500 Wh -> 1.5 kWh
    assert meter["power_kw"] == pytest.approx(2.5)
    assert all(RAW_CARD not in batch.model_dump_json() for batch in central.batches)

    async with Buffer(settings.buffer_path) as buffer:
        assert await buffer.pending_count() == 0
        letters = await buffer.dead_letters()
        statuses = await buffer.device_statuses()
        counters = (await buffer.stats()).counters
    reasons = [d["reason"] for d in letters]
    assert len(reasons) == 4
    assert "invalid scale payload" in reasons[0]
    assert "mass" in reasons[1]
    assert "cannot measure gas" in reasons[2]
    assert "unknown device kind 'toaster'" in reasons[3]
    assert [(s.device, s.state) for s in statuses] == [("plate-1", "online")]
    sent = [(s.kind, s.device, s.state, s.boot) for b in central.batches for s in b.statuses]
    assert sent == [("scale", "plate-1", "online", "b1")]  # forwarded to central, once
    assert counters["persisted"] == len(valid)
    assert counters["uploaded"] == len(valid)
    assert counters["dead_lettered"] == 4
    assert counters["received"] == len(valid) + len(invalid) + 1
    # Pseudonymisation: the raw card number never reached the disk.
    for path in settings.buffer_path.parent.iterdir():
        assert RAW_CARD.encode() not in path.read_bytes(), path


async def test_restart_redelivers_unacknowledged_readings_exactly_once(
    tmp_path: Path, mosquitto: Mosquitto, publisher: Publisher
) -> None:
    """Stop the edge mid-stream with nothing uploaded; the restarted edge delivers every reading."""
    total = 1500
    messages = valid_messages(total)
    down = FakeCentral(answer_status=503)  # central unavailable: nothing leaves the buffer
    # Long collection windows: when the stop comes, the committer holds received, unpersisted
    # and (correctly) unacknowledged messages; acknowledging on receipt would lose them.
    settings = edge_settings(
        tmp_path, mosquitto, commit_max_readings=1000, commit_interval_ms=50, upload_interval_s=0.01
    )
    edge = await start_edge(settings, down)

    published = threading.Event()

    def publish_paced() -> None:
        # Keep publishing while the edge is stopped, so that the cut falls mid-stream.
        for start in range(0, total, 50):
            publisher.publish_all(messages[start : start + 50])
            threading.Event().wait(0.005)
        published.set()

    producer = asyncio.create_task(asyncio.to_thread(publish_paced))
    try:
        await down.wait_for(lambda: down.requests >= 1)  # some readings are committed
    finally:
        await stop_edge(edge)
    async with Buffer(settings.buffer_path) as buffer:
        persisted_before = (await buffer.stats()).counters["persisted"]
    assert 0 < persisted_before < total  # the stop really fell in the middle of the stream

    up = FakeCentral()
    restarted = edge_settings(
        tmp_path, mosquitto, commit_max_readings=20, commit_interval_ms=1, upload_interval_s=0.5
    )
    edge = await start_edge(restarted, up)
    try:
        async with asyncio.timeout(30):
            await producer
        assert published.is_set()
        await up.wait_for(lambda: len(up.stored) >= total)
        await wait_drained(settings.buffer_path)
    finally:
        await stop_edge(edge)

    assert set(up.stored) == {identity(topic, i) for i, (topic, _) in enumerate(messages)}
    assert up.uploads == total  # persistent session + reading identity: once each
    async with Buffer(settings.buffer_path) as buffer:
        counters = (await buffer.stats()).counters
        assert await buffer.pending_count() == 0
    assert counters["persisted"] == total


async def test_batches_carry_the_edges_health(
    tmp_path: Path, mosquitto: Mosquitto, publisher: Publisher, central: FakeCentral
) -> None:
    settings = edge_settings(tmp_path, mosquitto)
    edge = await start_edge(settings, central)
    try:
        publisher.publish_all([("canteen/s1/scale/plate-1/data", b"not json"), *valid_messages(3)])
        await central.wait_for(lambda: len(central.stored) == 3)
        health = central.batches[-1].health
        assert health is not None
        assert health.dead_lettered == 1
        assert health.dropped_overflow == 0
        assert health.broker_sessions_lost == 0
        # measured when the batch was built: its own readings were still pending then
        assert health.pending_readings >= 1
        assert health.oldest_pending_age_ms is not None
        assert health.oldest_pending_age_ms >= 0
    finally:
        await stop_edge(edge)


async def test_a_broker_that_lost_the_session_is_counted_warned_and_reported(
    tmp_path: Path, central: FakeCentral, caplog: pytest.LogCaptureFixture
) -> None:
    # A broker without persistence loses every session when it restarts, like a broker killed
    # before its first autosave.
    with Mosquitto(tmp_path / "broker", BrokerSettings(persistence=False)) as broker:
        settings = edge_settings(tmp_path, broker)
        edge = await start_edge(settings, central)
        try:
            publisher = Publisher(broker.host, broker.port)
            publisher.publish_all(valid_messages(1))
            publisher.close()
            await central.wait_for(lambda: len(central.stored) == 1)
            assert read_status(settings.buffer_path).counters["broker_sessions_lost"] == 0
            broker.restart()
            async with asyncio.timeout(20):
                # The file belongs to the running edge; reading it is the only view there is.
                while not read_status(settings.buffer_path).counters["broker_sessions_lost"]:  # noqa: ASYNC110 (no event crosses the process seam)
                    await asyncio.sleep(0.01)
            # A retained status change reaches the edge whenever it subscribes: its batch carries
            # the loss in its health.
            publisher = Publisher(broker.host, broker.port)
            publisher.publish(
                "canteen/s1/meter/main/status", b'{"v": 1, "state": "online"}', retain=True
            ).wait_for_publish(timeout=10)
            publisher.close()
            await central.wait_for(
                lambda: any(
                    b.health is not None and b.health.broker_sessions_lost == 1
                    for b in central.batches
                )
            )
        finally:
            await stop_edge(edge)
    assert read_status(settings.buffer_path).counters["broker_sessions_lost"] == 1
    assert "MQTT broker had lost this edge's session" in caplog.text
    assert any(r.levelname == "WARNING" for r in caplog.records if "lost" in r.getMessage())
