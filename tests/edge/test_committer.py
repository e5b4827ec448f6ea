"""Committer: validation into readings, statuses and dead letters; persist before acknowledge."""

import asyncio
import sqlite3
from pathlib import Path

import pytest

from edge.buffer import Buffer
from edge.committer import Committer, classify
from edge.mqtt_intake import INVALID_TOPIC, IncomingMessage
from edge.records import pseudonymise
from edge.settings import parse_device_list
from tests.edge.conftest import card_payload, meter_payload, scale_payload

KEY = b"per-site-secret-0123456789"


def message(topic: str, payload: bytes, mid: int = 1) -> IncomingMessage:
    return IncomingMessage(
        topic=topic,
        payload=payload,
        qos=1,
        mid=mid,
        retain=False,
        dup=False,
        received_ms=1_800_000_000_000 + mid,
        connection=1,
    )


def test_classify_sorts_readings_statuses_and_dead_letters() -> None:
    messages = [
        message("canteen/s1/scale/p1/data", scale_payload(0, card="CARD-1")),
        message("canteen/s1/card/r1/data", card_payload(0, "CARD-1")),
        message("canteen/s1/meter/m1/data", meter_payload(0)),
        message("canteen/s1/scale/p1/status", b'{"v":1,"state":"online","boot":"b1"}'),
        message("canteen/s2/scale/p1/data", scale_payload(1)),
        message("canteen/s1/robot/x/data", scale_payload(2)),
        message("canteen/s1/scale/p1/data", b"{not json"),
        message("canteen/s1/scale/p1/data", scale_payload(3, mass=-1)),
        message("canteen/s1/scale/p1/status", b'{"v":1,"state":"sleepy"}'),
        message(INVALID_TOPIC, b"x"),
    ]
    result = classify(messages, site="s1", person_key=KEY)
    assert [(r.device, r.seq) for r in result.readings] == [("p1", 0), ("r1", 0), ("m1", 0)]
    assert pseudonymise(KEY, "s1", "CARD-1") in result.readings[1].record_json
    assert [(s.kind, s.device, s.state, s.boot) for s in result.statuses] == [
        ("scale", "p1", "online", "b1")
    ]
    reasons = [d.reason for d in result.dead_letters]
    assert len(reasons) == 6
    assert "this edge serves site 's1'" in reasons[0]
    assert "unknown device kind 'robot'" in reasons[1]
    assert "invalid scale payload" in reasons[2]
    assert "mass" in reasons[3]
    assert "invalid status payload" in reasons[4]
    assert "UTF-8" in reasons[5]
    assert result.dead_letters[2].payload == b"{not json"


def test_with_a_device_list_unknown_devices_are_dead_lettered() -> None:
    known = parse_device_list("scale/p1, card/r1")
    messages = [
        message("canteen/s1/scale/p1/data", scale_payload(0)),
        message("canteen/s1/card/r1/data", card_payload(0, "CARD-1")),
        message("canteen/s1/scale/p9/data", scale_payload(1)),  # not listed
        message("canteen/s1/card/p1/data", card_payload(1, "CARD-2")),  # listed as a scale
        message("canteen/s1/meter/m1/status", b'{"v":1,"state":"online"}'),
    ]
    result = classify(messages, site="s1", person_key=KEY, known_devices=known)
    assert [(r.device, r.seq) for r in result.readings] == [("p1", 0), ("r1", 0)]
    assert result.statuses == []
    assert [d.reason.split(":")[0] for d in result.dead_letters] == [
        "unknown device scale/p9",
        "unknown device card/p1",
        "unknown device meter/m1",
    ]
    # Without a list every device of the site is accepted, as before.
    assert len(classify(messages, site="s1", person_key=KEY).readings) == 4


def test_device_list_setting_is_validated() -> None:
    assert parse_device_list("") == frozenset()
    with pytest.raises(ValueError, match="is not '<kind>/<device id>'"):
        parse_device_list("oven/x")
    with pytest.raises(ValueError, match="is not '<kind>/<device id>'"):
        parse_device_list("scale/a/b")


class RecordingSource:
    """A message source at the intake seam: checks, at each ack, that the message is on disk."""

    def __init__(self, path: Path, messages: list[IncomingMessage]) -> None:
        self.path = path
        self.queue: asyncio.Queue[IncomingMessage] = asyncio.Queue()
        for m in messages:
            self.queue.put_nowait(m)
        self.acks: list[tuple[int, int]] = []  # (mid, rows on disk seen by another connection)

    async def get(self) -> IncomingMessage:
        return await self.queue.get()

    def get_nowait(self) -> IncomingMessage | None:
        try:
            return self.queue.get_nowait()
        except asyncio.QueueEmpty:
            return None

    def ack(self, message: IncomingMessage) -> bool:
        # A separate connection sees only committed data.
        connection = sqlite3.connect(self.path)
        try:
            (rows,) = connection.execute(
                "SELECT (SELECT COUNT(*) FROM pending) + (SELECT COUNT(*) FROM dead_letters)"
            ).fetchone()
        finally:
            connection.close()
        self.acks.append((message.mid, rows))
        return True


async def test_acks_follow_the_commit_in_receipt_order(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    messages = [message("canteen/s1/scale/p1/data", scale_payload(i), mid=i + 1) for i in range(7)]
    messages.insert(3, message("canteen/s1/scale/p1/data", b"garbage", mid=100))
    messages.append(message("canteen/s1/scale/p1/data", scale_payload(0), mid=101))  # duplicate
    source = RecordingSource(path, messages)
    woken: list[int] = []
    async with Buffer(path) as buffer:
        committer = Committer(
            source,
            buffer,
            site="s1",
            person_key=KEY,
            commit_max_readings=4,
            commit_interval_ms=50,
            on_persisted=lambda: woken.append(1),
        )
        first = await committer.commit_next()
        second = await committer.commit_next()
        third = await committer.commit_next()
        counters = (await buffer.stats()).counters
    assert (first.received, second.received, third.received) == (4, 4, 1)
    assert third.duplicates == 1
    # Every message acked, in receipt order, and only once its commit was visible on disk.
    assert [mid for mid, _ in source.acks] == [m.mid for m in messages]
    assert [rows for _, rows in source.acks] == [4] * 4 + [8] * 4 + [8]
    assert counters["received"] == 9
    assert counters["dead_lettered"] == 1
    assert counters["duplicates"] == 1
    assert woken == [1, 1]  # the uploader is woken after commits that added rows


async def test_commit_interval_bounds_the_wait(tmp_path: Path) -> None:
    path = tmp_path / "b.sqlite3"
    source = RecordingSource(path, [message("canteen/s1/scale/p1/data", scale_payload(0))])
    async with Buffer(path) as buffer:
        committer = Committer(
            source,
            buffer,
            site="s1",
            person_key=KEY,
            commit_max_readings=500,
            commit_interval_ms=10,
        )
        async with asyncio.timeout(5):
            outcome = await committer.commit_next()
    assert outcome.persisted == 1
    assert len(source.acks) == 1
