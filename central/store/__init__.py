"""Reading stores behind one Protocol (base.py): embedded SQLite, InfluxDB (influx.py)."""

from central.store.base import (
    BatchToStore,
    DayInputs,
    DevicePresence,
    DuplicateCounts,
    PendingRollups,
    ReadingsStore,
    RejectedEntryRow,
    RejectedRow,
    RollupRow,
    RollupStore,
    RollupToSave,
    SiteStats,
    StoreError,
    StoreHealth,
    StoreUnavailable,
    WriteOutcome,
)

__all__ = [
    "BatchToStore",
    "DayInputs",
    "DevicePresence",
    "DuplicateCounts",
    "PendingRollups",
    "ReadingsStore",
    "RejectedEntryRow",
    "RejectedRow",
    "RollupRow",
    "RollupStore",
    "RollupToSave",
    "SiteStats",
    "StoreError",
    "StoreHealth",
    "StoreUnavailable",
    "WriteOutcome",
]
