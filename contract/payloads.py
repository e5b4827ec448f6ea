"""JSON payloads that devices publish, schema version 1 (vendor-facing text: docs/protocol.md).

Every data payload carries the reading's identity within its device: the boot id (changes whenever
the device restarts) and a sequence number (restarts from 0 with each boot). Together with the site
and device from the topic, (site, device, boot, seq) identifies a reading across every hop.
"""

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

from contract.errors import PayloadError
from contract.topics import ID_PATTERN, DeviceKind
from contract.units import (
    MASS_TO_G,
    POWER_TO_KW,
    REGISTER_TO_CANONICAL,
    LossReason,
    MassUnit,
    PowerUnit,
    Quantity,
    RegisterUnit,
    Stream,
)

SCHEMA_VERSION = 1
MAX_PAYLOAD_BYTES = 4096
MAX_SEQ = 2**53 - 1  # the largest integer every JSON implementation represents exactly

# The latest instant any timestamp of the system may name (device clocks, the edge's receive time,
# central's), 9998-12-30T23:59:59.999Z: contract, edge, central and the read side all use this one
# bound. Its local date in any UTC offset (less than 24 h either way) is at most MAX_LOCAL_DATE,
# and every date central derives from a reading (KPI loads reach 33 days beyond it) still exists:
# Python's calendar ends at 9999-12-31, and a clock at the very end of it made central fail whole
# batches (issue 13).
MAX_EPOCH_MS = int(datetime(9998, 12, 31, tzinfo=UTC).timestamp() * 1000) - 1
# The latest local date a reading can have, in any time zone: the read side's last date.
MAX_LOCAL_DATE = date(9998, 12, 31)
# Bound of every measured value a device sends (mass, gross weight, register, power), in its own
# unit: converted to the canonical unit (at most x1000) it stays within MAX_CANONICAL_VALUE, and
# the sum of a year of readings stays finite and exact to far below a gram or a watt-hour.
MAX_DEVICE_VALUE = 1e12
MAX_CANONICAL_VALUE = 1e15


def _to_epoch_ms(value: Any) -> Any:
    """Accept epoch milliseconds (integer) or RFC 3339 text with an explicit offset."""
    if type(value) is int:  # the usual case, first (bool is a subclass of int, not int itself)
        return value
    if isinstance(value, bool):
        raise ValueError("timestamp must be epoch milliseconds or RFC 3339 text, not a boolean")
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"timestamp {value[:64]!r} is not RFC 3339") from None
        if parsed.tzinfo is None:
            raise ValueError(
                f"timestamp {value[:64]!r} has no UTC offset; "
                "add 'Z' or '+08:00' so that it names one instant"
            )
        return round(parsed.timestamp() * 1000)
    return value


def _no_bool(value: Any) -> Any:
    """Refuse a JSON boolean where a number belongs (Python counts True as 1)."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be blank (spaces only)")
    return value


# Constraints before the BeforeValidator: pydantic-core then checks them in the int schema itself
# (the other order adds two Python validators per timestamp; same messages either way).
EpochMs = Annotated[int, Field(ge=0, le=MAX_EPOCH_MS), BeforeValidator(_to_epoch_ms)]
BootId = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]
# Strict: a JSON integer only (`true` or `"7"` or `7.0` is not a sequence number).
Seq = Annotated[int, Field(ge=0, le=MAX_SEQ, strict=True)]
Reference = Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_not_blank)]
# Strict numbers and flags: a JSON number (integer or not) for a measured value, never a string
# or a boolean (`"mass": "100"` or `"mass": true` is refused, not read as 100 g or 1 g); a JSON
# boolean for a flag, never 1 or "true".
Measured = Annotated[float, Field(strict=True, ge=-MAX_DEVICE_VALUE, le=MAX_DEVICE_VALUE)]
NonNegative = Annotated[float, Field(strict=True, ge=0, le=MAX_DEVICE_VALUE)]
Flag = Annotated[bool, Field(strict=True)]
# A menu item code (the site's menu in central's registry); unknown codes are kept and reported.
ItemCode = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]


class _Payload(BaseModel):
    # Unknown fields are ignored so that vendors may add diagnostics (rssi, battery) freely.
    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False, strict=False)

    v: Annotated[Literal[1], BeforeValidator(_no_bool)] = Field(description="schema version")


class _Reading(_Payload):
    seq: Seq = Field(description="per-boot sequence number, from 0, +1 per reading")
    boot: BootId = Field(description="id of the current power-up of the device")
    ts: EpochMs = Field(description="device clock: epoch ms or RFC 3339 with offset")


class ScalePayload(_Reading):
    """A plate-return or kitchen-bin scale reading, in one of two forms (docs/protocol.md):

    - net: `mass`, the net mass of one tray or deposit;
    - raw (kitchen bins only): `gross`, the weight the platform shows now, with `stable`; central
      derives the deposits from the steps between stable readings (central/kpi/rawbins.py).
    """

    stream: Stream
    mass: NonNegative | None = Field(default=None, description="net mass, in `unit`")
    gross: Measured | None = Field(
        default=None, description="raw form: the platform's gross weight now, in `unit`"
    )
    stable: Flag | None = Field(
        default=None, description="raw form: the scale's motion detector reports a still platform"
    )
    unit: MassUnit
    tray: Reference | None = None
    card: Reference | None = Field(default=None, description="raw card number; hashed at the edge")
    item: ItemCode | None = Field(
        default=None, description="net form: menu item code of the food weighed (optional)"
    )
    reason: LossReason | None = Field(
        default=None, description="net form: why it was thrown away (optional)"
    )

    @model_validator(mode="after")
    def _net_or_raw(self) -> "ScalePayload":
        if self.mass is None and self.gross is None:
            raise ValueError(
                "send either mass (net mass of the tray or deposit) or gross with stable"
                " (raw gross weight of a kitchen bin)"
            )
        if self.mass is not None and self.gross is not None:
            raise ValueError(
                "mass and gross together: send mass for a net reading, or gross with stable for"
                " a raw reading, not both"
            )
        if self.gross is not None:
            if self.stable is None:
                raise ValueError("gross needs stable (true when the platform is still)")
            if self.stream is Stream.PLATE:
                raise ValueError(
                    "a plate-return scale sends the net mass of each tray (mass), not gross"
                )
        elif self.stable is not None:
            raise ValueError("stable belongs to the raw form: send it with gross, not with mass")
        if self.gross is not None and (self.item is not None or self.reason is not None):
            raise ValueError(
                "item and reason tag one weighing: send them with mass (net form), not with gross"
            )
        return self

    @property
    def mass_g(self) -> float | None:
        """Net mass in g; None in the raw form."""
        return None if self.mass is None else self.mass * MASS_TO_G[self.unit]

    @property
    def gross_g(self) -> float | None:
        """Gross weight in g; None in the net form."""
        return None if self.gross is None else self.gross * MASS_TO_G[self.unit]


class CardPayload(_Reading):
    """A meal transaction at a card reader or face terminal, or a visitor's meal without a card."""

    card: Reference | None = Field(
        default=None, description="raw card number or person id; hashed at the edge"
    )
    visitor: Flag = Field(default=False, description="a visitor's meal paid without a card")

    @model_validator(mode="after")
    def _card_or_visitor(self) -> "CardPayload":
        if self.visitor and self.card is not None:
            raise ValueError("a visitor meal carries no card: send either card or visitor=true")
        if not self.visitor and self.card is None:
            raise ValueError("card is required (or visitor=true for a meal without a card)")
        return self


class MeterPayload(_Reading):
    """A cumulative register of an electricity, gas or water meter."""

    quantity: Quantity
    total: NonNegative = Field(description="cumulative register value, in `unit`")
    unit: RegisterUnit
    power: NonNegative | None = Field(default=None, description="instantaneous power")
    power_unit: PowerUnit | None = None

    @model_validator(mode="after")
    def _units_fit(self) -> "MeterPayload":
        quantities, _ = REGISTER_TO_CANONICAL[self.unit]
        if self.quantity not in quantities:
            raise ValueError(f"unit {self.unit.value!r} cannot measure {self.quantity.value}")
        if self.power is not None and self.power_unit is None:
            raise ValueError("power given without power_unit ('W' or 'kW')")
        if self.power is not None and self.quantity is not Quantity.ELECTRICITY:
            raise ValueError("power is only defined for electricity meters")
        return self

    @property
    def total_canonical(self) -> float:
        """Register in kWh (electricity) or m3 (gas, water)."""
        return self.total * REGISTER_TO_CANONICAL[self.unit][1]

    @property
    def power_kw(self) -> float | None:
        if self.power is None or self.power_unit is None:
            return None
        return self.power * POWER_TO_KW[self.power_unit]


DevicePayload = ScalePayload | CardPayload | MeterPayload


class StatusPayload(_Payload):
    """Retained device presence; the 'offline' form is registered as the MQTT last will."""

    state: Literal["online", "offline"]
    boot: BootId | None = None
    ts: EpochMs | None = None


_MODEL_BY_KIND: dict[DeviceKind, type[ScalePayload] | type[CardPayload] | type[MeterPayload]] = {
    DeviceKind.SCALE: ScalePayload,
    DeviceKind.CARD: CardPayload,
    DeviceKind.METER: MeterPayload,
}


def describe_validation_error(exc: ValidationError) -> str:
    """One line naming each wrong field, for logs, dead letters and HTTP answers."""
    parts = []
    for error in exc.errors(include_url=False)[:5]:
        where = ".".join(str(p) for p in error["loc"]) or "payload"
        parts.append(f"{where}: {error['msg']}")
    more = exc.error_count() - len(parts)
    if more > 0:
        parts.append(f"and {more} more")
    return "; ".join(parts)


def _check_size(raw: bytes) -> None:
    if len(raw) > MAX_PAYLOAD_BYTES:
        raise PayloadError(f"payload of {len(raw)} bytes exceeds the limit of {MAX_PAYLOAD_BYTES}")


def parse_payload(kind: DeviceKind, raw: bytes) -> DevicePayload:
    """Validate a data payload of a device of `kind`; raise PayloadError with a readable reason."""
    _check_size(raw)
    model = _MODEL_BY_KIND[kind]
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise PayloadError(
            f"invalid {kind.value} payload: {describe_validation_error(exc)}"
        ) from exc


def parse_status(raw: bytes) -> StatusPayload:
    _check_size(raw)
    try:
        return StatusPayload.model_validate_json(raw)
    except ValidationError as exc:
        raise PayloadError(f"invalid status payload: {describe_validation_error(exc)}") from exc
