"""Edge test helpers: device payloads, settings, a QoS 1 publisher and a fake central."""

import asyncio
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contract import IngestResult, UploadBatch
from edge.settings import EdgeSettings
from harness.broker import Mosquitto

SITE = "s1"
API_KEY = "test-api-key-0123456789"
PERSON_KEY = "test-person-key-0123456789"


def scale_payload(seq: int, *, boot: str = "b1", card: str | None = None, **extra: Any) -> bytes:
    body: dict[str, Any] = {
        "v": 1,
        "seq": seq,
        "boot": boot,
        "ts": 1_795_000_000_000 + seq,
        "stream": "plate",
        "mass": 0.125,
        "unit": "kg",
    }
    if card is not None:
        body["card"] = card
    body.update(extra)
    return json.dumps(body).encode()


def card_payload(seq: int, card: str, *, boot: str = "b1") -> bytes:
    return json.dumps(
        {"v": 1, "seq": seq, "boot": boot, "ts": "2026-11-20T12:00:00+08:00", "card": card}
    ).encode()


def meter_payload(seq: int, *, boot: str = "b1", total_wh: float = 1_500.0) -> bytes:
    return json.dumps(
        {
            "v": 1,
            "seq": seq,
            "boot": boot,
            "ts": 1_795_000_000_000,
            "quantity": "electricity",
            "total": total_wh,
            "unit": "Wh",
            "power": 2500,
            "power_unit": "W",
        }
    ).encode()


def make_settings(tmp_path: Path, **overrides: Any) -> EdgeSettings:
    values: dict[str, Any] = {
        "site": SITE,
        "central_url": "http://central.test",
        "api_key": API_KEY,
        "person_key": PERSON_KEY,
        "buffer_path": tmp_path / "edge" / "buffer.sqlite3",
        "commit_interval_ms": 5,
        "upload_interval_s": 0.05,
        "backoff_initial_s": 0.01,
        "backoff_max_s": 0.05,
        "stats_interval_s": 60,
    }
    values.update(overrides)
    return EdgeSettings(**values)


@dataclass
class FakeCentral:
    """Validates each POST as UploadBatch, stores readings by identity, answers IngestResult."""

    answer_status: int | None = None  # force this status instead of 200
    stored: dict[tuple[str, str, int], dict[str, Any]] = field(default_factory=dict)
    batches: list[UploadBatch] = field(default_factory=list)
    requests: int = 0
    uploads: int = 0  # readings received in 2xx-answered batches, duplicates included
    authorizations: set[str] = field(default_factory=set)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        self.changed.set()
        self.authorizations.add(request.headers.get("authorization", ""))
        if self.answer_status is not None:
            return httpx.Response(self.answer_status, json={"detail": "forced by the test"})
        batch = UploadBatch.model_validate_json(request.content)
        self.batches.append(batch)
        accepted = duplicates = 0
        for reading in batch.readings:
            key = (reading.device, reading.boot, reading.seq)
            self.uploads += 1
            if key in self.stored:
                duplicates += 1
            else:
                self.stored[key] = reading.model_dump(mode="json")
                accepted += 1
        result = IngestResult(batch_id=batch.batch_id, accepted=accepted, duplicates=duplicates)
        return httpx.Response(200, content=result.model_dump_json())

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handler)

    async def wait_for(self, condition: Callable[[], bool], timeout_s: float = 20) -> None:
        async with asyncio.timeout(timeout_s):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@pytest.fixture
def central() -> FakeCentral:
    return FakeCentral()


class Publisher:
    """A device-side paho client publishing at QoS 1, as the simulators do."""

    def __init__(self, host: str, port: int, client_id: str = "test-publisher") -> None:
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=client_id,
            protocol=mqtt.MQTTv311,
        )
        self.client.connect(host, port)
        self.client.loop_start()

    def publish(self, topic: str, payload: bytes, *, retain: bool = False) -> mqtt.MQTTMessageInfo:
        return self.client.publish(topic, payload, qos=1, retain=retain)

    def publish_all(self, messages: list[tuple[str, bytes]], timeout_s: float = 20) -> None:
        infos = [self.publish(topic, payload) for topic, payload in messages]
        for info in infos:
            info.wait_for_publish(timeout=timeout_s)
            assert info.is_published()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def publisher(mosquitto: Mosquitto) -> Iterator[Publisher]:
    pub = Publisher(mosquitto.host, mosquitto.port)
    yield pub
    pub.close()
