"""Reading stores behind one Protocol (base.py): SQLite now, InfluxDB later."""

from central.store.base import (
    BatchToStore,
    DuplicateCounts,
    ReadingsStore,
    RejectedRow,
    SiteStats,
    StoreError,
    StoreUnavailable,
    WriteOutcome,
)

__all__ = [
    "BatchToStore",
    "DuplicateCounts",
    "ReadingsStore",
    "RejectedRow",
    "SiteStats",
    "StoreError",
    "StoreUnavailable",
    "WriteOutcome",
]
