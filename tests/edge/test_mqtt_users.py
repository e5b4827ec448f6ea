"""Per-device Mosquitto users and ACLs, against a real Mosquitto: a device publishes only under
its own topic, the edge reads the site, a wrong password is refused."""

import queue
import threading
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.__main__ import main
from edge.mqtt_users import DeviceUser, MqttUsersError, acl_text, generate
from harness.broker import BrokerSettings, Mosquitto

ROOT = Path(__file__).resolve().parents[2]
SITE = "s1"
DEVICES = ["scale/scale-1", "card/card-1", "meter/elec-1"]
TIMEOUT_S = 10


class Client:
    """A paho client that reports its CONNACK and the messages it receives."""

    def __init__(self, broker: Mosquitto, user: str | None, password: str | None) -> None:
        self.connack: queue.Queue[int] = queue.Queue()
        self.messages: queue.Queue[tuple[str, bytes]] = queue.Queue()
        self.subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=f"test-{user}",
            protocol=mqtt.MQTTv311,
        )
        if user is not None:
            self.client.username_pw_set(user, password)
        self.client.on_connect = lambda _c, _u, _f, reason, _p: self.connack.put(reason.value)
        self.client.on_message = lambda _c, _u, msg: self.messages.put(
            (msg.topic, bytes(msg.payload))
        )
        self.client.on_subscribe = lambda *_: self.subscribed.set()
        self.client.connect(broker.host, broker.port)
        self.client.loop_start()
        self.rc = self.connack.get(timeout=TIMEOUT_S)

    def publish(self, topic: str, payload: bytes) -> None:
        info = self.client.publish(topic, payload, qos=1)
        info.wait_for_publish(timeout=TIMEOUT_S)  # PUBACK: the broker has handled it

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def site_broker(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> Iterator[tuple[Mosquitto, dict[str, str]]]:
    out = tmp_path / "auth"
    args = ["mqtt-users", "--site", SITE, "--edge-user", "edge-s1", "--out", str(out)]
    for device in DEVICES:
        args += ["--device", device]
    assert main(args) == 0
    printed = capsys.readouterr().out.splitlines()
    passwords = dict(line.split("\t") for line in printed)
    settings = BrokerSettings(password_file=out / "passwd", acl_file=out / "acl")
    with Mosquitto(tmp_path / "broker", settings) as broker:
        yield broker, passwords


def test_the_password_file_holds_hashes_only(
    site_broker: tuple[Mosquitto, dict[str, str]], tmp_path: Path
) -> None:
    _, passwords = site_broker
    assert sorted(passwords) == ["card-1", "edge-s1", "elec-1", "scale-1"]
    stored = (tmp_path / "auth" / "passwd").read_text()
    assert sorted(line.split(":")[0] for line in stored.splitlines()) == sorted(passwords)
    assert all(password not in stored for password in passwords.values())
    assert (tmp_path / "auth" / "passwd").stat().st_mode & 0o077 == 0


def test_a_device_publishes_only_under_its_own_topic(
    site_broker: tuple[Mosquitto, dict[str, str]],
) -> None:
    broker, passwords = site_broker
    edge = Client(broker, "edge-s1", passwords["edge-s1"])
    scale = Client(broker, "scale-1", passwords["scale-1"])
    try:
        assert (edge.rc, scale.rc) == (0, 0)
        edge.client.subscribe("canteen/s1/#", qos=1)
        assert edge.subscribed.wait(TIMEOUT_S)
        forged = [
            "canteen/s1/card/card-1/data",  # another device's topic
            "canteen/s1/meter/scale-1/data",  # its own id under another kind
            "canteen/s2/scale/scale-1/data",  # another site
            "canteen/s1/scale/scale-1x/data",  # a longer id with the same prefix
        ]
        for topic in forged:
            scale.publish(topic, b"forged")
        scale.publish("canteen/s1/scale/scale-1/data", b"own")
        # One client's messages reach a subscriber in order (MQTT 3.1.1 §4.6): when the
        # authorised message arrives, every forged one before it has been dropped.
        assert edge.messages.get(timeout=TIMEOUT_S) == ("canteen/s1/scale/scale-1/data", b"own")
        assert edge.messages.empty()
    finally:
        edge.close()
        scale.close()


def test_the_edge_reads_but_cannot_publish(
    site_broker: tuple[Mosquitto, dict[str, str]],
) -> None:
    broker, passwords = site_broker
    edge = Client(broker, "edge-s1", passwords["edge-s1"])
    meter = Client(broker, "elec-1", passwords["elec-1"])
    try:
        edge.client.subscribe("canteen/s1/#", qos=1)
        assert edge.subscribed.wait(TIMEOUT_S)
        edge.publish("canteen/s1/meter/elec-1/data", b"forged by the edge")
        meter.publish("canteen/s1/meter/elec-1/data", b"own")
        assert edge.messages.get(timeout=TIMEOUT_S) == ("canteen/s1/meter/elec-1/data", b"own")
        assert edge.messages.empty()
    finally:
        edge.close()
        meter.close()


@pytest.mark.parametrize(
    ("user", "password"),
    [("scale-1", "wrong-password"), ("nobody", "whatever"), (None, None)],
)
def test_a_wrong_password_unknown_user_or_anonymous_client_is_refused(
    site_broker: tuple[Mosquitto, dict[str, str]], user: str | None, password: str | None
) -> None:
    broker, _ = site_broker
    client = Client(broker, user, password)
    try:
        # CONNACK 4 "bad user name or password" or 5 "not authorised" (MQTT 3.1.1 §3.2.2.3),
        # which paho 2 reports as the MQTT 5 reason codes 134 and 135.
        assert client.rc in (134, 135)
    finally:
        client.close()


def test_bad_device_specs_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for spec, message in [
        ("scale-1", "kind/device"),
        ("fridge/f-1", "kind must be one of"),
        ("scale/a+b", "device id"),
    ]:
        args = ["mqtt-users", "--site", SITE, "--edge-user", "e", "--device", spec]
        assert main([*args, "--out", str(tmp_path)]) == 2
        assert message in capsys.readouterr().err
    with pytest.raises(MqttUsersError, match="repeated: scale-1"):
        generate(tmp_path, SITE, "scale-1", [DeviceUser.parse("scale/scale-1")])


def test_the_example_acl_in_deploy_is_what_the_generator_writes() -> None:
    example = (ROOT / "deploy" / "mosquitto" / "acl.example").read_text()
    devices = [DeviceUser.parse(d) for d in ("scale/scale-01", "card/card-01", "meter/elec-01")]
    assert example == acl_text("site-01", "edge-site-01", devices)
