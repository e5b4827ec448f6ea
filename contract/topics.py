"""MQTT topic hierarchy: `canteen/<site>/<kind>/<device>/data` and the retained `.../status`."""

import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

from contract.errors import TopicError

TOPIC_ROOT = "canteen"
# Site and device ids: letters, digits, '-' and '_' only, so that no id can contain the MQTT
# separators or wildcards ('/', '+', '#') nor the '$' prefix reserved by brokers (MQTT 3.1.1 §4.7).
ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_ID_RE = re.compile(ID_PATTERN)

Channel = Literal["data", "status"]


class DeviceKind(StrEnum):
    SCALE = "scale"
    CARD = "card"
    METER = "meter"


@dataclass(frozen=True, slots=True)
class TopicAddress:
    """Where a message came from, as read from its topic."""

    site: str
    kind: DeviceKind
    device: str
    channel: Channel


def check_id(value: str, what: str) -> str:
    if not _ID_RE.fullmatch(value):
        raise TopicError(f"{what} {value!r} is not 1-64 characters of letters, digits, '-' or '_'")
    return value


def _topic(site: str, kind: DeviceKind, device: str, channel: Channel) -> str:
    check_id(site, "site id")
    check_id(device, "device id")
    return f"{TOPIC_ROOT}/{site}/{kind.value}/{device}/{channel}"


def data_topic(site: str, kind: DeviceKind, device: str) -> str:
    return _topic(site, kind, device, "data")


def status_topic(site: str, kind: DeviceKind, device: str) -> str:
    return _topic(site, kind, device, "status")


def site_subscriptions(site: str) -> list[str]:
    """The two filters an edge subscribes to for one site."""
    check_id(site, "site id")
    return [f"{TOPIC_ROOT}/{site}/+/+/data", f"{TOPIC_ROOT}/{site}/+/+/status"]


def parse_topic(topic: str) -> TopicAddress:
    """Read site, kind, device and channel from a topic; TopicError says why it does not fit."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] != TOPIC_ROOT:
        raise TopicError(
            f"topic {topic[:200]!r} is not of the form "
            f"{TOPIC_ROOT}/<site>/<kind>/<device>/<data|status>"
        )
    _, site, kind, device, channel = parts
    check_id(site, "site id")
    check_id(device, "device id")
    try:
        device_kind = DeviceKind(kind)
    except ValueError:
        kinds = ", ".join(k.value for k in DeviceKind)
        raise TopicError(f"unknown device kind {kind[:64]!r}; expected one of {kinds}") from None
    if channel == "data":
        return TopicAddress(site, device_kind, device, "data")
    if channel == "status":
        return TopicAddress(site, device_kind, device, "status")
    raise TopicError(f"unknown channel {channel[:64]!r}; expected 'data' or 'status'")
