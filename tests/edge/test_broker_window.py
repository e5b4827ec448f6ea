"""The edge against Mosquitto 2.0.11, whose in-flight window does not hold (fixed in 2.0.13).

2.0.11 miscounts its window when a client acknowledges in order: once a backlog is queued for the
session, each PUBACK releases far more than `max_inflight_messages`. The edge must take every
message of the backlog on one connection anyway (docs/faults.md, "A broker that overruns its
in-flight window").
"""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from contract.topics import site_subscriptions
from edge.buffer import Buffer
from edge.committer import Committer
from edge.mqtt_intake import MqttIntake
from harness.broker import BrokerSettings, Mosquitto, mosquitto_with_window_bug
from tests.edge.conftest import PERSON_KEY, SITE, Publisher, scale_payload

WINDOW_MESSAGES = 20
QUEUE_MAX_MESSAGES = 100  # five windows: plenty for a broker that holds its window
BACKLOG_MESSAGES = 4_000


@pytest.fixture
def broker_2_0_11(tmp_path: Path) -> Iterator[Mosquitto]:
    settings = BrokerSettings(max_inflight_messages=WINDOW_MESSAGES)
    with Mosquitto(tmp_path / "broker", settings, binary=mosquitto_with_window_bug()) as broker:
        assert broker.version() == "2.0.11"
        yield broker


def edge_intake(broker: Mosquitto) -> MqttIntake:
    return MqttIntake(
        host=broker.host,
        port=broker.port,
        client_id="edge-window",
        topics=site_subscriptions(SITE),
        queue_max_messages=QUEUE_MAX_MESSAGES,
    )


async def test_a_backlog_beyond_the_window_arrives_without_a_reconnect(
    broker_2_0_11: Mosquitto, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The session exists, then the edge is away while the devices publish a backlog.
    async with edge_intake(broker_2_0_11) as intake:
        async with asyncio.timeout(10):
            await intake.wait_subscribed()
    publisher = Publisher(broker_2_0_11.host, broker_2_0_11.port)
    try:
        publisher.publish_all(
            [(f"canteen/{SITE}/scale/p1/data", scale_payload(i)) for i in range(BACKLOG_MESSAGES)]
        )
    finally:
        publisher.close()

    async with (
        Buffer(tmp_path / "buffer.sqlite3") as buffer,
        edge_intake(broker_2_0_11) as intake,
    ):
        committer = Committer(
            intake, buffer, site=SITE, person_key=PERSON_KEY.encode(), commit_max_readings=50
        )
        # Every message must come on this one connection: a lost one would wait for a reconnect.
        async with asyncio.timeout(60):
            while await buffer.pending_count() < BACKLOG_MESSAGES:
                await committer.commit_next()
        assert intake.connections == 1
        stats = await buffer.stats()
        assert stats.pending == BACKLOG_MESSAGES
        assert stats.counters["duplicates"] == 0
        # The broker did overrun its window (else this test proves nothing), and the intake held
        # the overrun back by pausing its reads, in episodes counted once each.
        assert intake.pauses >= 1
        assert intake.held_peak_messages == QUEUE_MAX_MESSAGES
    # One summary line for the episode, not one per message; nothing at ERROR.
    pause_lines = [r for r in caplog.records if "intake queue full" in r.getMessage()]
    assert len(pause_lines) == 1
    assert pause_lines[0].levelname == "WARNING"
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
