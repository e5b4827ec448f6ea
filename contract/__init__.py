"""The wire contract shared by simulators, edge and central: topics, payloads, upload batches
(and contract.workcalendar, the holiday calendar central forecasts with and the simulator follows).

Nothing else is shared between the three deployables. Everything here is documented for device
vendors in docs/protocol.md; change both together and bump the schema version on a breaking change.
"""

from contract.batch import (
    MAX_BATCH_READINGS,
    MAX_BATCH_STATUSES,
    CardRecord,
    DeviceStatusRecord,
    DroppedDuplicate,
    EdgeHealth,
    IngestResult,
    MeterRecord,
    ReadingRecord,
    RejectedEntry,
    RejectedReading,
    ScaleRecord,
    UploadBatch,
)
from contract.errors import ContractError, PayloadError, TopicError
from contract.payloads import (
    MAX_EPOCH_MS,
    MAX_LOCAL_DATE,
    SCHEMA_VERSION,
    CardPayload,
    DevicePayload,
    MeterPayload,
    ScalePayload,
    StatusPayload,
    parse_payload,
    parse_status,
)
from contract.topics import DeviceKind, TopicAddress, data_topic, parse_topic, status_topic
from contract.units import LossReason, MassUnit, PowerUnit, Quantity, RegisterUnit, Stream

__all__ = [
    "MAX_BATCH_READINGS",
    "MAX_BATCH_STATUSES",
    "MAX_EPOCH_MS",
    "MAX_LOCAL_DATE",
    "SCHEMA_VERSION",
    "CardPayload",
    "CardRecord",
    "ContractError",
    "DeviceKind",
    "DevicePayload",
    "DeviceStatusRecord",
    "DroppedDuplicate",
    "EdgeHealth",
    "IngestResult",
    "LossReason",
    "MassUnit",
    "MeterPayload",
    "MeterRecord",
    "PayloadError",
    "PowerUnit",
    "Quantity",
    "ReadingRecord",
    "RegisterUnit",
    "RejectedEntry",
    "RejectedReading",
    "ScalePayload",
    "ScaleRecord",
    "StatusPayload",
    "Stream",
    "TopicAddress",
    "TopicError",
    "UploadBatch",
    "data_topic",
    "parse_payload",
    "parse_status",
    "parse_topic",
    "status_topic",
]
