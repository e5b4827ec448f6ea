"""MqttIntake against a real Mosquitto: manual acks, persistent session, redelivery, reconnect."""

import asyncio

import pytest

from contract.topics import site_subscriptions
from edge.errors import IntakeError
from edge.mqtt_intake import IncomingMessage, MqttIntake
from edge.simclock import TickClock
from harness.broker import Mosquitto
from tests.edge.conftest import Publisher, scale_payload

TOPIC = "canteen/s1/scale/p1/data"


def intake(broker: Mosquitto, client_id: str = "edge-test") -> MqttIntake:
    return MqttIntake(
        host=broker.host,
        port=broker.port,
        client_id=client_id,
        topics=site_subscriptions("s1"),
        reconnect_min_delay_s=1,
        reconnect_max_delay_s=2,
    )


async def receive(source: MqttIntake, count: int) -> list[IncomingMessage]:
    async with asyncio.timeout(10):
        return [await source.get() for _ in range(count)]


def seq_of(message: IncomingMessage) -> int:
    return int(message.payload.split(b'"seq": ')[1].split(b",")[0])


async def test_unacknowledged_messages_are_redelivered_after_restart(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    async with intake(mosquitto) as first:
        async with asyncio.timeout(10):
            await first.wait_subscribed()
        publisher.publish_all([(TOPIC, scale_payload(i)) for i in range(5)])
        got = await receive(first, 5)
        assert [seq_of(m) for m in got] == [0, 1, 2, 3, 4]
        assert all(m.qos == 1 and m.received_ms > 0 for m in got)
        # Only these two were "persisted".
        assert first.ack(got[0])
        assert first.ack(got[1])

    async with intake(mosquitto) as second:
        async with asyncio.timeout(10):
            await second.wait_subscribed()
        # A marker after the redelivery: the broker keeps order, so when the marker arrives
        # nothing else is still on its way.
        publisher.publish_all([(TOPIC, scale_payload(99))])
        got = await receive(second, 4)
        assert [seq_of(m) for m in got] == [2, 3, 4, 99]
        assert [m.dup for m in got] == [True, True, True, False]
        for message in got:
            assert second.ack(message)

    async with intake(mosquitto) as third:
        async with asyncio.timeout(10):
            await third.wait_subscribed()
        publisher.publish_all([(TOPIC, scale_payload(100))])
        got = await receive(third, 1)
        assert [seq_of(m) for m in got] == [100]  # everything acked before stayed acked
        third.ack(got[0])


async def test_messages_queue_while_the_edge_is_away(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    async with intake(mosquitto) as first:
        async with asyncio.timeout(10):
            await first.wait_subscribed()
    publisher.publish_all([(TOPIC, scale_payload(i)) for i in range(3)])
    async with intake(mosquitto) as second:
        got = await receive(second, 3)
        assert [seq_of(m) for m in got] == [0, 1, 2]
        for message in got:
            second.ack(message)


class SeverableProxy:
    """A TCP relay in front of the broker whose connections the test can cut (a network failure).

    Cutting the network rather than restarting the broker keeps the broker's in-memory session, so
    the test does not depend on the broker's on-disk persistence.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> "SeverableProxy":
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.sever()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers += [writer, up_writer]

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except ConnectionError:
                pass
            finally:
                dst.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))

    def sever(self) -> None:
        for writer in self.writers:
            writer.close()
        self.writers.clear()


async def test_reconnect_resubscribes_and_skips_stale_acks(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    async with SeverableProxy(mosquitto.host, mosquitto.port) as proxy:
        source = MqttIntake(
            host="127.0.0.1",
            port=proxy.port,
            client_id="edge-test",
            topics=site_subscriptions("s1"),
            reconnect_min_delay_s=1,
            reconnect_max_delay_s=1,
        )
        async with source:
            async with asyncio.timeout(10):
                await source.wait_subscribed()
            publisher.publish_all([(TOPIC, scale_payload(1))])
            (before,) = await receive(source, 1)
            proxy.sever()
            # paho reconnects by itself; the broker redelivers the unacknowledged message.
            (again,) = await receive(source, 1)
            assert seq_of(again) == 1
            assert again.dup
            assert again.connection > before.connection
            assert not source.ack(before)  # its packet id belongs to the old connection
            assert source.ack(again)
            async with asyncio.timeout(10):
                await source.wait_subscribed()
            publisher.publish_all([(TOPIC, scale_payload(2))])
            (after,) = await receive(source, 1)
            assert seq_of(after) == 2
            assert not after.dup
            assert source.ack(after)


async def test_a_lockstep_clock_stamps_receive_times_with_its_ticks(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    ticks = TickClock("sim/clock", origin_ms=1_000)
    source = MqttIntake(
        host=mosquitto.host,
        port=mosquitto.port,
        client_id="edge-ticks",
        topics=site_subscriptions("s1"),
        clock_ms=ticks.now_ms,
        tick_topic=ticks.topic,
        on_tick=ticks.tick,
    )
    async with source:
        async with asyncio.timeout(10):
            await source.wait_subscribed()
        # ticks and data in one publisher's order, as the lockstep simulator acknowledges them
        publisher.publish_all([(TOPIC, scale_payload(0))])
        publisher.publish_all([("sim/clock", b"5000")])
        publisher.publish_all([(TOPIC, scale_payload(1)), (TOPIC, scale_payload(2))])
        publisher.publish_all([("sim/clock", b"not a time"), ("sim/clock", b"9000")])
        publisher.publish_all([(TOPIC, scale_payload(3))])
        got = await receive(source, 4)  # the ticks are consumed, never queued
        assert [(seq_of(m), m.received_ms) for m in got] == [
            (0, 1_000), (1, 5_000), (2, 5_000), (3, 9_000)
        ]  # fmt: skip
        assert source.get_nowait() is None


async def test_a_failure_in_the_network_thread_is_raised_not_swallowed(
    mosquitto: Mosquitto, publisher: Publisher
) -> None:
    def broken_tick(payload: bytes) -> None:
        raise ValueError(f"cannot read tick {payload!r}")

    source = MqttIntake(
        host=mosquitto.host,
        port=mosquitto.port,
        client_id="edge-broken",
        topics=site_subscriptions("s1"),
        tick_topic="sim/clock",
        on_tick=broken_tick,
    )
    async with source:
        async with asyncio.timeout(10):
            await source.wait_subscribed()
        publisher.publish_all([("sim/clock", b"not a tick")])
        # the daemon runs this in its TaskGroup: the edge ends instead of staying deaf
        with pytest.raises(IntakeError, match="network thread failed"):
            async with asyncio.timeout(10):
                await source.wait_failed()
