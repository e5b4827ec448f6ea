"""Hostile and broken MQTT input, published to a real Mosquitto between good readings.

Each bad message that reaches the edge is rejected with a reason, counted, kept in the dead-letter
table, and never blocks a good reading: every good one reaches central. Topics outside the edge's
subscriptions (`$` prefixes, extra levels, other sites) never reach it at all.
"""

import json
import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

from contract.payloads import MAX_PAYLOAD_BYTES
from harness.processes import wait_until
from tests.edge.conftest import Publisher
from tests.faults.matrix import SITE, buffer_state, edge_buffer, one_site_stack, stored, wait_stored

pytestmark = pytest.mark.e2e

GOOD_TOPIC = f"canteen/{SITE}/scale/plate-1/data"
CARD_TOPIC = f"canteen/{SITE}/card/reader-1/data"
METER_TOPIC = f"canteen/{SITE}/meter/meter-1/data"
TS = 1_795_000_000_000


def scale(number: int, **fields: Any) -> bytes:
    body: dict[str, Any] = {"v": 1, "boot": "b1", "seq": number, "ts": TS + number}
    body.update(stream="plate", mass=42, unit="g")
    body.update(fields)
    return json.dumps(body).encode()


def raw_scale(seq: int, mass: str) -> bytes:
    return (
        f'{{"v":1,"boot":"b1","seq":{seq},"ts":{TS},"stream":"plate","mass":{mass},"unit":"g"}}'
    ).encode()


# (topic, payload, a fragment of the reason the edge must give)
BAD_DELIVERED: list[tuple[str, bytes, str]] = [
    (GOOD_TOPIC, b"not json at all", "invalid"),
    (GOOD_TOPIC, b"\xff\xfe\x00garbage", "invalid"),
    (GOOD_TOPIC, '{"v": 1, "boot": "\u00e9"}'.encode("latin-1"), "invalid"),
    (GOOD_TOPIC, b"{" + b" " * MAX_PAYLOAD_BYTES + b"}", "exceeds the limit"),
    (GOOD_TOPIC, scale(9000, pad="x" * 4 * 1024 * 1024), "exceeds the limit"),  # 4 MiB
    (GOOD_TOPIC, b"[" * 2000 + b"]" * 2000, "invalid"),  # deeply nested
    (GOOD_TOPIC, scale(9001, mass="heavy"), "mass"),
    (GOOD_TOPIC, scale(9002, seq="seven"), "seq"),
    (GOOD_TOPIC, raw_scale(9003, "NaN"), "invalid"),
    (GOOD_TOPIC, raw_scale(9004, "Infinity"), "invalid"),
    (GOOD_TOPIC, raw_scale(9005, "1e999"), "invalid"),
    (GOOD_TOPIC, scale(9006, mass=-5), "mass"),
    (GOOD_TOPIC, scale(9007, ts="2026-11-20T12:00:00"), "ts"),  # no offset
    (GOOD_TOPIC, scale(9008, seq=2**60), "seq"),  # absurd
    (GOOD_TOPIC, scale(9009, stream="soup"), "stream"),
    (GOOD_TOPIC, json.dumps([1, 2, 3]).encode(), "invalid"),
    (CARD_TOPIC, json.dumps({"v": 1, "boot": "b1", "seq": 1, "ts": TS}).encode(), "card"),
    (METER_TOPIC, scale(9010), "invalid"),  # a scale payload on a meter topic
    (f"canteen/{SITE}/oven/oven-1/data", scale(9011), "unknown device kind"),
    (f"canteen/{SITE}/scale/../data", scale(9012), "device id"),
    (f"canteen/{SITE}/scale/bad id!/data", scale(9013), "device id"),
    # issue 13: a clock at the end of year 9999 passed the edge and made central answer 500 to
    # every batch holding it (the canteen stalled); wrong JSON types were coerced
    (GOOD_TOPIC, scale(9014, ts=253402300799999), "ts: Input should be less than or equal"),
    (GOOD_TOPIC, scale(9015, ts="9999-12-31T23:59:59.999Z"), "ts: Input should be less than"),
    (
        METER_TOPIC,
        json.dumps(
            {
                "v": 1,
                "boot": "b1",
                "seq": 1,
                "ts": 253402300799999,
                "quantity": "electricity",
                "total": 1.0,
                "unit": "kWh",
            }
        ).encode(),
        "ts: Input should be less than or equal",
    ),
    (GOOD_TOPIC, scale(9016, mass="100"), "mass: Input should be a valid number"),
    (GOOD_TOPIC, scale(9017, mass=True), "mass: Input should be a valid number"),
    (GOOD_TOPIC, scale(9018, seq=True), "seq: Input should be a valid integer"),
    (
        CARD_TOPIC,
        json.dumps({"v": 1, "boot": "b1", "seq": 2, "ts": TS, "card": "   "}).encode(),
        "card: Value error, must not be blank",
    ),
]
# Never delivered to the edge: outside its subscriptions (MQTT 3.1.1 §4.7.2: wildcards do not
# match topics starting with '$'; `+` matches exactly one level).
NOT_DELIVERED: list[tuple[str, bytes]] = [
    (f"$canteen/{SITE}/scale/plate-1/data", scale(9100)),
    (f"canteen/{SITE}/scale/plate-1/data/extra", scale(9101)),
    (f"canteen/{SITE}/scale/plate-1/../../other", scale(9102)),
    ("canteen/site-99/scale/plate-1/data", scale(9103)),
]


def dead_letters(path: Path) -> list[tuple[str, int, str]]:
    uri = f"{path.resolve().as_uri()}?mode=ro"
    with closing(sqlite3.connect(uri, uri=True)) as connection:
        return connection.execute(
            "SELECT topic, payload_bytes, reason FROM dead_letters ORDER BY id"
        ).fetchall()


def test_hostile_payloads_and_topics_are_dead_lettered_and_never_block_good_ones(
    tmp_path: Path,
) -> None:
    with one_site_stack(tmp_path / "stack") as stack:
        publisher = Publisher(stack.broker.host, stack.broker.port, "hostile-device")
        try:
            messages: list[tuple[str, bytes]] = []
            good = 0
            for topic, payload, _ in BAD_DELIVERED:
                messages.append((topic, payload))
                messages.append((GOOD_TOPIC, scale(good)))  # a good one right behind each
                good += 1
            for topic, payload in NOT_DELIVERED:
                messages.append((topic, payload))
                messages.append((GOOD_TOPIC, scale(good)))
                good += 1
            publisher.publish_all(messages, timeout_s=60)
        finally:
            publisher.close()
        wait_stored(stack, good)
        wait_until(lambda: buffer_state(stack)["pending"] == 0, 60)
        assert stored(stack) == good
        status = buffer_state(stack)
        letters = dead_letters(edge_buffer(stack))
        stack.check_alive()
    assert status["counters"]["dead_lettered"] == len(BAD_DELIVERED)
    assert status["counters"]["persisted"] == good
    assert len(letters) == len(BAD_DELIVERED)
    for (topic, payload, fragment), (kept_topic, size, reason) in zip(
        BAD_DELIVERED, letters, strict=True
    ):
        assert kept_topic == topic
        assert size == len(payload)
        assert fragment.lower() in reason.lower(), (topic, payload[:80], reason)
