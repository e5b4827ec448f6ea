"""A batch that central cannot store because of one of its entries is stored without it.

Every value central derives from a reading (dates, sums, conversions) is bounded by the contract
(contract.payloads.MAX_EPOCH_MS, MAX_DEVICE_VALUE), so no valid reading should make a store
fail. Should one still do it (a bug, a store's own limit), the batch is not answered 500 (the edge
would resend it forever and its canteen would stall behind it, issue 13): it is split in halves
until the entries that fail are found; those are rejected on their own, with the error as their
reason and kept in `rejected_readings` / `rejected_entries` like any rejected reading, and every
other entry is stored. Store errors (StoreError: unavailable, misconfigured) are not an entry's
fault and still fail the whole batch (503). Writes are idempotent, so storing a batch in parts
changes nothing that storing it whole would not.

Readings the store refuses because their local date is sealed (central/retention.py: its raw
readings were pruned after it was rolled up, its KPIs are final) are rejected the same way, with
a reason that says so.
"""

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from central.store import (
    BatchToStore,
    ClockTrusted,
    ReadingsStore,
    RejectedEntryRow,
    RejectedRow,
    StoreError,
    WriteOutcome,
)
from contract import (
    CardRecord,
    DeviceStatusRecord,
    DroppedDuplicate,
    MeterRecord,
    ReadingRecord,
    ScaleRecord,
)

logger = logging.getLogger(__name__)

EntryList = Literal["readings", "duplicates", "statuses"]
Entry = ReadingRecord | DroppedDuplicate | DeviceStatusRecord
# How much of a store's error text goes into a rejection's reason.
MAX_ERROR_CHARS = 300


@dataclass(frozen=True, slots=True)
class Unstorable:
    """An entry the store did not take (it failed on it by itself, or its date is sealed): its
    list, its index in the batch's list, why."""

    field: EntryList
    index: int
    entry: Entry
    reason: str
    sealed: bool = False  # a reading refused for its sealed date (not a store failure)


@dataclass(frozen=True, slots=True)
class IsolatedWrite:
    """What was stored of a batch, and the entries that could not be."""

    accepted: int
    duplicates: int
    unstorable: tuple[Unstorable, ...] = ()
    clock_trusted: tuple[ClockTrusted, ...] = ()  # WriteOutcome.clock_trusted of every part

    def failed(self, field: EntryList) -> list[Unstorable]:
        return [u for u in self.unstorable if u.field == field]


@dataclass(frozen=True, slots=True)
class _Item:
    field: EntryList
    index: int  # in the batch's list as the edge sent it
    entry: Entry


def positions(kept: int, rejected: Sequence[int]) -> list[int]:
    """The indices in the sent list of the `kept` entries that remain after `rejected` left it."""
    gone = set(rejected)
    return [i for i in range(kept + len(gone)) if i not in gone]


async def write_isolating(
    store: ReadingsStore,
    batch: BatchToStore,
    *,
    reading_indices: Sequence[int],
    duplicate_indices: Sequence[int],
    status_indices: Sequence[int],
) -> IsolatedWrite:
    """Store `batch`; if it fails for a reason other than the store's (StoreError), store it in
    halves and reject each entry that fails alone. `*_indices`: each entry's index as sent."""
    try:
        outcome = await store.write_batch(batch)
    except StoreError:
        raise
    except Exception:
        logger.exception(
            "batch site=%s edge=%s batch_id=%s: the store failed on the batch; isolating the"
            " entries it cannot store",
            batch.site,
            batch.edge,
            batch.batch_id,
        )
    else:
        sealed = sealed_readings(outcome, batch.readings, reading_indices)
        if sealed:
            await _keep_rejections(store, batch, sealed)
        return IsolatedWrite(outcome.accepted, outcome.duplicates, sealed, outcome.clock_trusted)
    items = [
        *(_Item("readings", i, r) for i, r in zip(reading_indices, batch.readings, strict=True)),
        *(
            _Item("duplicates", i, d)
            for i, d in zip(duplicate_indices, batch.edge_duplicates, strict=True)
        ),
        *(_Item("statuses", i, s) for i, s in zip(status_indices, batch.statuses, strict=True)),
    ]
    part = _Parts(store, batch)
    await part.store(items)
    failed = tuple(part.failed)
    await _keep_rejections(store, batch, failed)
    for u in failed:
        if u.sealed:
            continue  # counted and logged by the caller, like the sealed readings of a whole write
        logger.error(
            "batch site=%s edge=%s batch_id=%s: %s[%d] rejected: %s",
            batch.site,
            batch.edge,
            batch.batch_id,
            u.field,
            u.index,
            u.reason,
        )
    return IsolatedWrite(part.accepted, part.duplicates, failed, tuple(part.clock_trusted))


def sealed_readings(
    outcome: WriteOutcome, readings: Sequence[ReadingRecord], indices: Sequence[int]
) -> tuple[Unstorable, ...]:
    """The readings of a write the store refused for a sealed date, as rejections."""
    if not outcome.sealed:
        return ()
    reason = (
        f"its local date is sealed: the raw readings up to {outcome.sealed_through} were pruned"
        " after they were rolled up (CENTRAL_RAW_RETENTION_DAYS); the KPIs of those dates are"
        " final"
    )
    return tuple(
        Unstorable("readings", indices[n], readings[n], reason, sealed=True) for n in outcome.sealed
    )


async def _keep_rejections(
    store: ReadingsStore, batch: BatchToStore, failed: Sequence[Unstorable]
) -> None:
    """The rejections (the batch's own and the new ones), kept like every rejected entry."""
    await store.write_batch(
        replace(
            batch,
            readings=(),
            edge_duplicates=(),
            statuses=(),
            rejected=[
                *batch.rejected,
                *(
                    RejectedRow(index=u.index, reason=u.reason, raw_json=_json(u.entry))
                    for u in failed
                    if u.field == "readings"
                ),
            ],
            rejected_entries=[
                *batch.rejected_entries,
                *(
                    RejectedEntryRow(
                        field=u.field, index=u.index, reason=u.reason, raw_json=_json(u.entry)
                    )
                    for u in failed
                    if u.field != "readings"
                ),
            ],
        )
    )


class _Parts:
    """Bisection state: what the parts stored, and the entries that failed alone."""

    def __init__(self, store: ReadingsStore, batch: BatchToStore) -> None:
        self._store = store
        self._batch = batch
        self.accepted = 0
        self.duplicates = 0
        self.failed: list[Unstorable] = []
        self.clock_trusted: list[ClockTrusted] = []

    async def store(self, items: Sequence[_Item]) -> None:
        if not items:
            return
        entries = [i.entry for i in items]
        part = replace(
            self._batch,
            readings=[e for e in entries if isinstance(e, ScaleRecord | CardRecord | MeterRecord)],
            edge_duplicates=[e for e in entries if isinstance(e, DroppedDuplicate)],
            statuses=[e for e in entries if isinstance(e, DeviceStatusRecord)],
            rejected=(),
            rejected_entries=(),
        )
        try:
            outcome = await self._store.write_batch(part)
        except StoreError:
            raise
        except Exception as exc:
            if len(items) == 1:
                item = items[0]
                text = f"{type(exc).__name__}: {exc}"[:MAX_ERROR_CHARS]
                self.failed.append(
                    Unstorable(
                        item.field,
                        item.index,
                        item.entry,
                        f"central cannot store this entry ({text}); it was kept for inspection",
                    )
                )
                return
            middle = len(items) // 2
            await self.store(items[:middle])
            await self.store(items[middle:])
            return
        self.accepted += outcome.accepted
        self.duplicates += outcome.duplicates
        self.clock_trusted += outcome.clock_trusted
        readings = [
            (i.index, i.entry)
            for i in items
            if isinstance(i.entry, ScaleRecord | CardRecord | MeterRecord)
        ]
        self.failed += sealed_readings(
            outcome, [entry for _, entry in readings], [index for index, _ in readings]
        )


def _json(entry: Entry) -> str:
    return entry.model_dump_json()
