"""The upload batch an edge POSTs to central, and central's answer.

Readings in a batch are already normalised by the edge: canonical units (g, kWh, m3, kW), epoch
milliseconds in UTC, and pseudonymous person ids (keyed hash) in place of raw card numbers.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from contract.payloads import (
    MAX_CANONICAL_VALUE,
    BootId,
    EpochMs,
    Flag,
    ItemCode,
    Reference,
    Seq,
)
from contract.topics import ID_PATTERN, DeviceKind
from contract.units import LossReason, Quantity, Stream

MAX_BATCH_READINGS = 5000
MAX_BATCH_STATUSES = 1000

SiteId = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]
DeviceId = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]
# A pseudonymous person id: hex of a keyed hash, never a raw card number.
PersonId = Annotated[str, Field(pattern=r"^[0-9a-f]{16,64}$")]
# Values in canonical units (g, kWh, m3, kW): strict JSON numbers within MAX_CANONICAL_VALUE.
Canonical = Annotated[float, Field(strict=True, ge=-MAX_CANONICAL_VALUE, le=MAX_CANONICAL_VALUE)]
CanonicalNonNegative = Annotated[float, Field(strict=True, ge=0, le=MAX_CANONICAL_VALUE)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    device: DeviceId
    boot: BootId
    seq: Seq
    device_time_ms: EpochMs = Field(description="the device's own clock, as it sent it")
    received_ms: EpochMs = Field(description="the edge's clock when the reading arrived")


def _is_none(value: object) -> bool:
    return value is None


class ScaleRecord(_Record):
    """A net reading (`mass_g`) or a raw one (`gross_g` and `stable`), never both.

    Fields of the other form are left out of the JSON, so that a net record is exactly what it was
    before the raw form existed (a central of that time still accepts it).
    """

    kind: Literal["scale"] = "scale"
    stream: Stream
    mass_g: CanonicalNonNegative | None = Field(default=None, exclude_if=_is_none)
    gross_g: Canonical | None = Field(
        default=None, exclude_if=_is_none, description="raw form: gross weight shown, g"
    )
    stable: Flag | None = Field(
        default=None, exclude_if=_is_none, description="raw form: the platform was still"
    )
    tray: Reference | None = None
    person: PersonId | None = None
    item: ItemCode | None = Field(
        default=None, exclude_if=_is_none, description="net form: menu item code"
    )
    reason: LossReason | None = Field(
        default=None, exclude_if=_is_none, description="net form: why it was thrown away"
    )

    @model_validator(mode="after")
    def _net_or_raw(self) -> "ScaleRecord":
        if (self.mass_g is None) == (self.gross_g is None):
            raise ValueError("a scale record has either mass_g (net) or gross_g (raw), exactly one")
        if (self.gross_g is None) != (self.stable is None):
            raise ValueError("gross_g and stable go together (the raw form)")
        if self.gross_g is not None and self.stream is Stream.PLATE:
            raise ValueError("plate readings are net (mass_g); gross_g is for kitchen bins")
        if self.gross_g is not None and (self.item is not None or self.reason is not None):
            raise ValueError("item and reason tag a net reading (mass_g), not gross_g")
        return self

    @property
    def is_raw(self) -> bool:
        return self.gross_g is not None


class CardRecord(_Record):
    kind: Literal["card"] = "card"
    person: PersonId


class MeterRecord(_Record):
    kind: Literal["meter"] = "meter"
    quantity: Quantity
    total: CanonicalNonNegative = Field(
        description="cumulative register: kWh for electricity, m3 for gas and water"
    )
    power_kw: CanonicalNonNegative | None = None


ReadingRecord = Annotated[ScaleRecord | CardRecord | MeterRecord, Field(discriminator="kind")]


class DroppedDuplicate(BaseModel):
    """A copy of a reading the edge dropped because the same (device, boot, seq) was still in its
    buffer (docs/domain.md Q4): central cannot see it, so the edge reports it once.

    `id` is the edge's own number for the drop, increasing and never reused by that edge: central
    counts each (edge, id) once, so a batch resent after a crash does not count it twice.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: int = Field(ge=1, strict=True)
    device: DeviceId
    device_time_ms: EpochMs = Field(description="the dropped copy's device time (local date)")


class DeviceStatusRecord(BaseModel):
    """A device presence change the edge saw on the retained status topic (online, or offline:
    the device's own goodbye or its MQTT last will).

    Identity: (device, received_ms, state). `received_ms` is the edge's clock when the status
    message arrived; it is kept with the change, so an edge resending a batch after a crash sends
    the same record again and central stores the change once.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: DeviceKind
    device: DeviceId
    state: Literal["online", "offline"]
    boot: BootId | None = Field(default=None, description="the boot the status names, if any")
    device_time_ms: EpochMs | None = Field(
        default=None, description="the device's clock in the status message, if it sent one"
    )
    received_ms: EpochMs = Field(description="the edge's clock when the status message arrived")


Count = Annotated[int, Field(ge=0, strict=True)]


class EdgeHealth(BaseModel):
    """The edge's own health, measured when it built the batch (docs/protocol.md, "Edge health").

    The counters are cumulative since the edge's buffer file was created (a new buffer file starts
    them at 0 again): central takes a date's increase from the reports before and on that date.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    measured_ms: EpochMs = Field(description="the edge's clock when these figures were read")
    dropped_overflow: Count = Field(description="readings dropped to the buffer bound")
    dead_lettered: Count = Field(description="messages that failed topic or payload validation")
    intake_pauses: Count = Field(
        description="times the edge stopped reading from the broker because its intake queue was"
        " full (backpressure; nothing lost)"
    )
    broker_sessions_lost: Count = Field(
        description="times the broker had lost the edge's persistent session on reconnect"
        " (readings published before the re-subscription are lost)"
    )
    pending_readings: Count = Field(description="readings in the buffer not yet confirmed")
    oldest_pending_age_ms: Count | None = Field(
        default=None, description="age of the oldest pending reading (edge receive time); none"
    )


class UploadBatch(BaseModel):
    """POST /api/v1/ingest body.

    `duplicates`, `statuses` and `health` are optional (absent in batches of older edges): a batch
    carries readings, the edge's dropped duplicates, device status changes, or any mix, never
    nothing; `health` travels with them.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    site: SiteId
    edge: DeviceId
    batch_id: Annotated[str, Field(min_length=1, max_length=64)]
    readings: Annotated[list[ReadingRecord], Field(max_length=MAX_BATCH_READINGS)]
    duplicates: Annotated[list[DroppedDuplicate], Field(max_length=MAX_BATCH_READINGS)] = Field(
        default_factory=list
    )
    statuses: Annotated[list[DeviceStatusRecord], Field(max_length=MAX_BATCH_STATUSES)] = Field(
        default_factory=list
    )
    health: EdgeHealth | None = Field(
        default=None, description="the edge's health when it built the batch (optional)"
    )

    @model_validator(mode="after")
    def _not_empty(self) -> "UploadBatch":
        if not self.readings and not self.duplicates and not self.statuses:
            raise ValueError(
                "readings, duplicates and statuses are all empty: a batch needs at least one"
                " reading, one dropped duplicate or one device status change"
            )
        return self


class RejectedReading(BaseModel):
    index: int
    reason: str
    device: str | None = None
    boot: str | None = None
    seq: int | None = None


class RejectedEntry(BaseModel):
    """An entry of a batch's `statuses` or `duplicates` list that central could not use.

    `index` is the entry's position in its list; `reason` names each wrong field. The batch's
    other entries and its readings are stored all the same: the edge should log the entry and
    may drop it, never resend it (it would be rejected again).
    """

    index: int
    reason: str
    device: str | None = Field(default=None, description="the entry's device, where readable")


class IngestResult(BaseModel):
    """Central's 200 answer: each reading of the batch is accepted, a duplicate, or rejected;
    each status change and dropped duplicate is stored or rejected.

    `rejected_statuses` and `rejected_duplicates` came after the first release: they default to
    empty, so an answer of an older central parses, and an older edge ignores them.
    """

    batch_id: str
    accepted: int
    duplicates: int
    rejected: list[RejectedReading] = Field(default_factory=list)
    rejected_statuses: list[RejectedEntry] = Field(
        default_factory=list, description="entries of the batch's `statuses` not stored"
    )
    rejected_duplicates: list[RejectedEntry] = Field(
        default_factory=list, description="entries of the batch's `duplicates` not counted"
    )
