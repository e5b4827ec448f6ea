"""The upload batch an edge POSTs to central, and central's answer.

Readings in a batch are already normalised by the edge: canonical units (g, kWh, m3, kW), epoch
milliseconds in UTC, and pseudonymous person ids (keyed hash) in place of raw card numbers.
"""

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from contract.payloads import BootId, EpochMs, Seq
from contract.topics import ID_PATTERN
from contract.units import Quantity, Stream

MAX_BATCH_READINGS = 5000

SiteId = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]
DeviceId = Annotated[str, Field(pattern=f"^{ID_PATTERN}$")]
# A pseudonymous person id: hex of a keyed hash, never a raw card number.
PersonId = Annotated[str, Field(pattern=r"^[0-9a-f]{16,64}$")]
Reference = Annotated[str, Field(min_length=1, max_length=64)]


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    device: DeviceId
    boot: BootId
    seq: Seq
    device_time_ms: EpochMs = Field(description="the device's own clock, as it sent it")
    received_ms: EpochMs = Field(description="the edge's clock when the reading arrived")


class ScaleRecord(_Record):
    kind: Literal["scale"] = "scale"
    stream: Stream
    mass_g: float = Field(ge=0)
    tray: Reference | None = None
    person: PersonId | None = None


class CardRecord(_Record):
    kind: Literal["card"] = "card"
    person: PersonId


class MeterRecord(_Record):
    kind: Literal["meter"] = "meter"
    quantity: Quantity
    total: float = Field(
        ge=0, description="cumulative register: kWh for electricity, m3 for gas and water"
    )
    power_kw: float | None = Field(default=None, ge=0)


ReadingRecord = Annotated[ScaleRecord | CardRecord | MeterRecord, Field(discriminator="kind")]


class UploadBatch(BaseModel):
    """POST /api/v1/ingest body."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    v: Literal[1] = 1
    site: SiteId
    edge: DeviceId
    batch_id: Annotated[str, Field(min_length=1, max_length=64)]
    readings: Annotated[list[ReadingRecord], Field(min_length=1, max_length=MAX_BATCH_READINGS)]


class RejectedReading(BaseModel):
    index: int
    reason: str
    device: str | None = None
    boot: str | None = None
    seq: int | None = None


class IngestResult(BaseModel):
    """Central's 200 answer: each reading of the batch is accepted, a duplicate, or rejected."""

    batch_id: str
    accepted: int
    duplicates: int
    rejected: list[RejectedReading] = Field(default_factory=list)
