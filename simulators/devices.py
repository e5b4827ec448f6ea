"""The devices of a simulated canteen: fixed ids, boot ids, sequence numbers, payload serialisation.

Boot ids derive from (seed, site, device, start date): running the same simulation twice sends the
same (device, boot, seq) for the same reading, which the pipeline correctly treats as duplicates,
while a run over other dates is a new boot and never collides.
"""

import hashlib
import json
from dataclasses import dataclass, field
from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from contract.payloads import SCHEMA_VERSION
from contract.topics import DeviceKind, data_topic, status_topic
from contract.units import CANONICAL_REGISTER_UNIT, MassUnit, PowerUnit, Quantity, Stream
from simulators.events import CardSwipe, Event, GrossReading, MeterReading, Weighing
from simulators.localtime import rfc3339


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A device type within a canteen; scales carry their display unit and division (g)."""

    id: str
    kind: DeviceKind
    stream: Stream | None = None
    quantity: Quantity | None = None
    unit: MassUnit = MassUnit.G
    division_g: float = 1.0


CARD_READERS = ("card-1", "card-2")
PLATE_SCALES = ("plate-1", "plate-2")
BIN_PREP = "bin-prep"
BIN_SPOILAGE = "bin-spoilage"
KITCHEN_BINS = (BIN_PREP, BIN_SPOILAGE)  # the scales that can run in raw mode (--raw-bins)
SCALE_OVER = "scale-over"
METER_BY_QUANTITY: dict[Quantity, str] = {
    Quantity.ELECTRICITY: "meter-elec",
    Quantity.GAS: "meter-gas",
    Quantity.WATER: "meter-water",
}

# Kitchen scales show kg with a 5 g division; plate-return scales show g with a 1 g division.
DEVICES: tuple[DeviceSpec, ...] = (
    *(DeviceSpec(card, DeviceKind.CARD) for card in CARD_READERS),
    *(DeviceSpec(plate, DeviceKind.SCALE, stream=Stream.PLATE) for plate in PLATE_SCALES),
    DeviceSpec(BIN_PREP, DeviceKind.SCALE, stream=Stream.PREP, unit=MassUnit.KG, division_g=5.0),
    DeviceSpec(
        BIN_SPOILAGE, DeviceKind.SCALE, stream=Stream.SPOILAGE, unit=MassUnit.KG, division_g=5.0
    ),
    DeviceSpec(
        SCALE_OVER, DeviceKind.SCALE, stream=Stream.OVERPRODUCTION, unit=MassUnit.KG, division_g=5.0
    ),
    *(DeviceSpec(meter, DeviceKind.METER, quantity=q) for q, meter in METER_BY_QUANTITY.items()),
)
DEVICE_BY_ID: dict[str, DeviceSpec] = {spec.id: spec for spec in DEVICES}


def boot_id(seed: int, site_id: str, device_id: str, start_date: date, generation: int = 0) -> str:
    """8 hex characters, a stable function of the run's inputs (never Python's salted hash()).

    `generation` counts the device's restarts within the run (0: the boot the run starts with).
    """
    text = f"{seed}|{site_id}|{device_id}|{start_date.isoformat()}"
    if generation:
        text += f"|{generation}"
    return hashlib.blake2b(text.encode(), digest_size=4).hexdigest()


@dataclass(frozen=True, slots=True)
class OutgoingMessage:
    """One payload ready for MQTT: `at_ms` is the instant it describes, `due_ms` when it is sent.

    Data messages are due when they happen, except late data (sent after an outage). Status
    messages (`retain`) announce a device restart.
    """

    at_ms: int
    topic: str
    payload: bytes
    publish_at_ms: int | None = None
    retain: bool = False
    # central attributes it by its receive time (a wrong device clock): a lockstep clock
    # (simulators/lockstep.py) has the edge stamp it exactly at `due_ms`
    timed_by_receipt: bool = False

    @property
    def due_ms(self) -> int:
        return self.at_ms if self.publish_at_ms is None else self.publish_at_ms

    @property
    def is_data(self) -> bool:
        return not self.retain


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), allow_nan=False).encode()


@dataclass(slots=True)
class DeviceState:
    """One device of one site during a run: its boot and the next sequence number."""

    site_id: str
    spec: DeviceSpec
    boot: str
    tz: ZoneInfo
    seq: int = 0
    generation: int = 0  # restarts so far in this run
    data_topic: str = field(init=False)
    status_topic: str = field(init=False)

    def __post_init__(self) -> None:
        self.data_topic = data_topic(self.site_id, self.spec.kind, self.spec.id)
        self.status_topic = status_topic(self.site_id, self.spec.kind, self.spec.id)

    def _next(self, at_ms: int, body: dict[str, Any]) -> OutgoingMessage:
        document: dict[str, Any] = {"v": SCHEMA_VERSION, "seq": self.seq, "boot": self.boot}
        # Card readers send epoch ms, scales and meters RFC 3339 with offset (both in the contract).
        document["ts"] = at_ms if self.spec.kind is DeviceKind.CARD else rfc3339(at_ms, self.tz)
        document.update(body)
        self.seq += 1
        return OutgoingMessage(at_ms=at_ms, topic=self.data_topic, payload=_encode(document))

    def render(self, event: Event) -> OutgoingMessage:
        """Serialise the device's next reading; the caller keeps per-device time order."""
        match event:
            case CardSwipe():
                if self.spec.kind is not DeviceKind.CARD:
                    raise ValueError(f"{self.spec.id} is not a card reader")
                if event.card is None:
                    return self._next(event.at_ms, {"visitor": True})
                return self._next(event.at_ms, {"card": event.card})
            case Weighing():
                return self._next(event.at_ms, self._weighing_body(event))
            case GrossReading():
                return self._next(event.at_ms, self._gross_body(event))
            case MeterReading():
                return self._next(event.at_ms, self._meter_body(event))

    def _weighing_body(self, event: Weighing) -> dict[str, Any]:
        if self.spec.stream is not event.stream:
            raise ValueError(f"{self.spec.id} weighs {self.spec.stream}, not {event.stream}")
        mass: float | int
        if self.spec.unit is MassUnit.KG:
            mass = round(event.shown_g / 1000.0, 3)
        else:
            mass = round(event.shown_g)
        body: dict[str, Any] = {
            "stream": event.stream.value,
            "mass": mass,
            "unit": self.spec.unit.value,
        }
        if event.card is not None:
            body["card"] = event.card
        if event.item is not None:
            body["item"] = event.item
        if event.reason is not None:
            body["reason"] = event.reason
        return body

    def _gross_body(self, event: GrossReading) -> dict[str, Any]:
        """The raw form of docs/protocol.md: gross weight in the display unit, and stable."""
        if self.spec.stream is not event.stream:
            raise ValueError(f"{self.spec.id} weighs {self.spec.stream}, not {event.stream}")
        gross: float | int
        if self.spec.unit is MassUnit.KG:
            gross = round(event.gross_g / 1000.0, 3)
        else:
            gross = round(event.gross_g)
        return {
            "stream": event.stream.value,
            "gross": gross,
            "unit": self.spec.unit.value,
            "stable": event.stable,
        }

    def _meter_body(self, event: MeterReading) -> dict[str, Any]:
        if self.spec.quantity is not event.quantity:
            raise ValueError(f"{self.spec.id} meters {self.spec.quantity}, not {event.quantity}")
        body: dict[str, Any] = {
            "quantity": event.quantity.value,
            "total": round(event.register, 3),
            "unit": CANONICAL_REGISTER_UNIT[event.quantity],
        }
        if event.power_kw is not None:
            body["power"] = round(event.power_kw, 3)
            body["power_unit"] = PowerUnit.KW.value
        return body

    def restart(self, at_ms: int, new_boot: str) -> list[OutgoingMessage]:
        """Power-cycle at `at_ms`: retained 'offline' (old boot), then 'online' with a new boot.

        The sequence restarts at 0 with the new boot (docs/protocol.md, Identity).
        """
        offline = OutgoingMessage(
            at_ms, self.status_topic, self.status("offline", at_ms), retain=True
        )
        self.boot, self.seq = new_boot, 0
        self.generation += 1
        online = OutgoingMessage(
            at_ms, self.status_topic, self.status("online", at_ms), retain=True
        )
        return [offline, online]

    def status(self, state: str, at_ms: int | None = None) -> bytes:
        """Retained presence, contract.StatusPayload form; the 'offline' form is the last will."""
        document: dict[str, Any] = {"v": SCHEMA_VERSION, "state": state, "boot": self.boot}
        if at_ms is not None:
            document["ts"] = rfc3339(at_ms, self.tz)
        return _encode(document)


def fleet(site_id: str, tz: ZoneInfo, *, seed: int, start_date: date) -> dict[str, DeviceState]:
    """Fresh state (seq 0) of every device of a site for a run."""
    return {
        spec.id: DeviceState(site_id, spec, boot_id(seed, site_id, spec.id, start_date), tz)
        for spec in DEVICES
    }
