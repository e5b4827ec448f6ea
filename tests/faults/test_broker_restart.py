"""Mosquitto restarted while devices keep publishing, within its queue bound: nothing lost.

The devices here are paho clients that, like real ones, keep unacknowledged QoS 1 messages and
resend them after reconnecting; the broker keeps the edge's persistent session and its queue
across the restart (persistence on, saved on a clean stop)."""

import json
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from contract.topics import DeviceKind, data_topic
from harness.processes import wait_until
from tests.faults.matrix import (
    FULL,
    SITE,
    buffer_state,
    one_site_stack,
    stored,
    wait_stored,
)

pytestmark = pytest.mark.e2e

DAY = "2026-11-18"
# 12:00 local (UTC+8) on DAY: inside lunch, so every tray counts in the lunch KPIs.
LUNCH_MS = int(datetime(2026, 11, 18, 4, 0, tzinfo=UTC).timestamp() * 1000)
DEVICES = ("plate-a", "plate-b", "plate-c")
RESTARTS = 3 if FULL else 1
PER_DEVICE = 600 if FULL else 300


def tray(device_index: int, seq: int) -> tuple[bytes, float]:
    mass_g = 10.0 + (seq * 7 + device_index * 3) % 90
    body = {
        "v": 1,
        "boot": f"boot{device_index}",
        "seq": seq,
        "ts": LUNCH_MS + seq * 1000 + device_index,
        "stream": "plate",
        "mass": mass_g,
        "unit": "g",
    }
    return json.dumps(body).encode(), mass_g


class Device(threading.Thread):
    """Publishes its trays at QoS 1, one every few ms, whatever the broker is doing."""

    def __init__(self, host: str, port: int, index: int) -> None:
        super().__init__(daemon=True)
        self.index = index
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"fault-device-{index}",
            protocol=mqtt.MQTTv311,
        )
        self.client.reconnect_delay_set(0.2, 1)  # type: ignore[arg-type]  # paho takes seconds as float
        self.acked: set[int] = set()
        self.client.on_publish = lambda _c, _u, mid, _rc, _p: self.acked.add(mid)
        self.client.connect(host, port)
        self.client.loop_start()
        self.infos: list[mqtt.MQTTMessageInfo] = []
        self.mass_g = 0.0

    def run(self) -> None:
        topic = data_topic(SITE, DeviceKind.SCALE, DEVICES[self.index])
        for seq in range(PER_DEVICE):
            payload, mass_g = tray(self.index, seq)
            # Queued by paho while the broker is away, resent after the reconnect.
            self.infos.append(self.client.publish(topic, payload, qos=1))
            self.mass_g += mass_g
            time.sleep(0.01)

    def all_acknowledged(self) -> bool:
        return len(self.infos) == PER_DEVICE and all(i.mid in self.acked for i in self.infos)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_broker_restarts_while_devices_publish(tmp_path: Path) -> None:
    with one_site_stack(tmp_path / "stack") as stack:
        devices = [Device(stack.broker.host, stack.broker.port, i) for i in range(len(DEVICES))]
        try:
            for device in devices:
                device.start()
            for restart in range(RESTARTS):
                half = (restart + 1) * PER_DEVICE // 2

                def persisted_past_half(half: int = half) -> bool:
                    return bool(buffer_state(stack)["counters"]["persisted"] > half)

                wait_until(persisted_past_half, 60)
                subscribed = stack.edge_subscriptions(SITE)
                stack.broker.restart()
                stack.wait_edge_subscribed(SITE, since=subscribed, timeout_s=60)
            for device in devices:
                device.join(timeout=120)
            wait_until(lambda: all(d.all_acknowledged() for d in devices), 120)
        finally:
            for device in devices:
                device.close()
        expected = PER_DEVICE * len(DEVICES)
        wait_stored(stack, expected)
        wait_until(lambda: buffer_state(stack)["pending"] == 0, 60)
        assert stored(stack) == expected
        kpis = stack.daily_kpis(SITE, DAY)
    lunch = next(s for s in kpis["services"] if s["service"] == "lunch")
    assert lunch["trays"] == expected
    assert lunch["waste_g"]["plate"] == pytest.approx(sum(d.mass_g for d in devices), rel=1e-9)
