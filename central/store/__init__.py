"""Reading stores behind one Protocol (base.py): embedded SQLite, InfluxDB (influx.py)."""

from central.store.base import (
    BatchToStore,
    DayCacheStore,
    DayInputs,
    DevicePresence,
    DuplicateCounts,
    ReadingsStore,
    RejectedEntryRow,
    RejectedRow,
    SiteStats,
    StoreError,
    StoreHealth,
    StoreUnavailable,
    WriteOutcome,
)

__all__ = [
    "BatchToStore",
    "DayCacheStore",
    "DayInputs",
    "DevicePresence",
    "DuplicateCounts",
    "ReadingsStore",
    "RejectedEntryRow",
    "RejectedRow",
    "SiteStats",
    "StoreError",
    "StoreHealth",
    "StoreUnavailable",
    "WriteOutcome",
]
