"""POST /api/v1/ingest: an edge's upload batch, stored durably and idempotently before the 200.

Order of checks: body size (413), edge key (401), the body's signature and timestamp (401,
before any parsing; contract/signing.py), the batch itself (422/413), the edge's site (403).
A batch whose envelope is sound but some readings are not is split: the good readings are
stored, the bad ones are reported in IngestResult.rejected and kept in `rejected_readings`. Bad
entries of the `statuses` and `duplicates` lists are handled the same way, one by one: reported
in IngestResult.rejected_statuses / rejected_duplicates and kept in `rejected_entries`, while the
batch's good readings and entries are stored. An entry the store fails on by itself (not a store
outage) is rejected the same way instead of failing the batch (central/api/isolation.py).
"""

import asyncio
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import Field, TypeAdapter, ValidationError

from central.api.deps import Resources
from central.api.errors import BatchTooLarge, BodyTooLarge, MalformedBatch
from central.api.isolation import IsolatedWrite, Unstorable, positions, write_isolating
from central.api.schemas import ErrorDetail
from central.auth import BadSignature
from central.kpi.clocks import DEFAULT_CLOCK_RULE
from central.store import BatchToStore, RejectedRow
from central.store.base import RejectedEntryRow
from contract import (
    MAX_BATCH_READINGS,
    MAX_BATCH_STATUSES,
    DeviceStatusRecord,
    DroppedDuplicate,
    EdgeHealth,
    IngestResult,
    ReadingRecord,
    RejectedEntry,
    RejectedReading,
    UploadBatch,
)
from contract.payloads import describe_validation_error
from contract.signing import SignatureError, verify_signature

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

router = APIRouter(tags=["ingest"])

_bearer = HTTPBearer(auto_error=False, description="the edge's API key")
_reading = TypeAdapter[ReadingRecord](ReadingRecord)
_status = TypeAdapter[DeviceStatusRecord](DeviceStatusRecord)
_duplicate = TypeAdapter[DroppedDuplicate](DroppedDuplicate)
# Rejected entries named one by one in the batch's warning line at most (all are in the answer).
_LOGGED_ENTRIES = 5


class _Envelope(UploadBatch):
    """UploadBatch with its lists' entries left unvalidated, to tell a bad envelope from bad
    readings, status changes or dropped duplicates (each validated on its own)."""

    # Any JSON values: each is validated on its own; the count is checked against the setting.
    readings: list[Any]
    # The contract's caps still hold: too many entries is the envelope's fault, not an entry's.
    duplicates: Annotated[list[Any], Field(max_length=MAX_BATCH_READINGS)] = Field(
        default_factory=list
    )
    statuses: Annotated[list[Any], Field(max_length=MAX_BATCH_STATUSES)] = Field(
        default_factory=list
    )
    # Validated on its own: a bad health report is dropped (logged), never the batch's readings.
    health: Any = None


@dataclass(frozen=True, slots=True)
class ParsedUpload:
    """An upload body split into the readings to store and the rejected ones."""

    site: str
    edge: str
    batch_id: str
    readings: Sequence[ReadingRecord]
    rejected: Sequence[tuple[RejectedReading, str]]  # with the reading's raw JSON
    duplicates: Sequence[DroppedDuplicate] = ()  # copies the edge dropped (Q4)
    statuses: Sequence[DeviceStatusRecord] = ()  # device status changes the edge saw
    # bad entries of `statuses` / `duplicates`, with the entry's raw JSON
    rejected_statuses: Sequence[tuple[RejectedEntry, str]] = ()
    rejected_duplicates: Sequence[tuple[RejectedEntry, str]] = ()
    health: EdgeHealth | None = None  # the edge's health when it built the batch

    def without(self, written: IsolatedWrite) -> "ParsedUpload":
        """This upload with the entries the store could not take moved to the rejected ones
        (central/api/isolation.py), each list in the order the edge sent it."""
        readings, duplicates, statuses = (
            {u.index: u for u in written.failed(field)}
            for field in ("readings", "duplicates", "statuses")
        )
        return replace(
            self,
            readings=_kept(self.readings, self.rejected, readings),
            duplicates=_kept(self.duplicates, self.rejected_duplicates, duplicates),
            statuses=_kept(self.statuses, self.rejected_statuses, statuses),
            rejected=sorted(
                [
                    *self.rejected,
                    *(
                        (
                            _rejection(u.index, u.entry.model_dump(), u.reason),
                            u.entry.model_dump_json(),
                        )
                        for u in readings.values()
                    ),
                ],
                key=lambda pair: pair[0].index,
            ),
            rejected_duplicates=_with_failed(self.rejected_duplicates, duplicates),
            rejected_statuses=_with_failed(self.rejected_statuses, statuses),
        )

    def rejected_entries(self) -> list[RejectedEntryRow]:
        """The bad entries of both lists, as the store keeps them."""
        return [
            RejectedEntryRow(field=field, index=entry.index, reason=entry.reason, raw_json=raw)
            for field, entries in (
                ("statuses", self.rejected_statuses),
                ("duplicates", self.rejected_duplicates),
            )
            for entry, raw in entries
        ]


def _kept(
    entries: Sequence[T],
    rejected: Sequence[tuple[RejectedEntry, str]] | Sequence[tuple[RejectedReading, str]],
    failed: dict[int, Unstorable],
) -> list[T]:
    """`entries` (what validated) without those the store failed on."""
    sent = positions(len(entries), [r.index for r, _ in rejected])
    return [entry for i, entry in zip(sent, entries, strict=True) if i not in failed]


def _with_failed(
    rejected: Sequence[tuple[RejectedEntry, str]], failed: dict[int, Unstorable]
) -> list[tuple[RejectedEntry, str]]:
    extra = [
        (_rejected_entry(u.index, u.entry.model_dump(), u.reason), u.entry.model_dump_json())
        for u in failed.values()
    ]
    return sorted([*rejected, *extra], key=lambda pair: pair[0].index)


def parse_upload(body: bytes, max_readings: int) -> ParsedUpload:
    """Validate an upload body; raise MalformedBatch (422) or BatchTooLarge (413)."""
    try:
        batch = UploadBatch.model_validate_json(body)
    except ValidationError:
        pass  # slow path below finds out whether the envelope or some readings are wrong
    else:
        _check_count(len(batch.readings), max_readings)
        return ParsedUpload(
            batch.site,
            batch.edge,
            batch.batch_id,
            batch.readings,
            (),
            batch.duplicates,
            batch.statuses,
            health=batch.health,
        )
    try:
        envelope = _Envelope.model_validate_json(body)
    except ValidationError as exc:
        raise MalformedBatch(f"malformed upload batch: {describe_validation_error(exc)}") from exc
    _check_count(len(envelope.readings), max_readings)
    good, rejected = _split(_reading, envelope.readings, _rejection)
    statuses, rejected_statuses = _split(_status, envelope.statuses, _rejected_entry)
    duplicates, rejected_duplicates = _split(_duplicate, envelope.duplicates, _rejected_entry)
    health = None
    if envelope.health is not None:
        try:
            health = EdgeHealth.model_validate(envelope.health)
        except ValidationError as exc:
            logger.warning(
                "edge %s: health report of batch %s not stored: %s",
                envelope.edge,
                envelope.batch_id,
                describe_validation_error(exc),
            )
    return ParsedUpload(
        envelope.site,
        envelope.edge,
        envelope.batch_id,
        good,
        rejected,
        duplicates,
        statuses,
        rejected_statuses,
        rejected_duplicates,
        health,
    )


def _split(
    adapter: TypeAdapter[T], entries: Sequence[Any], reject: Callable[[int, Any, str], R]
) -> tuple[list[T], list[tuple[R, str]]]:
    """The entries that validate, and each one that does not as `reject(index, raw, reason)`
    with its raw JSON."""
    good: list[T] = []
    bad: list[tuple[R, str]] = []
    for index, raw in enumerate(entries):
        try:
            good.append(adapter.validate_python(raw))
        except ValidationError as exc:
            bad.append((reject(index, raw, describe_validation_error(exc)), _dump(raw)))
    return good, bad


def _rejected_entry(index: int, raw: Any, reason: str) -> RejectedEntry:
    """A bad status or duplicate entry: the reason, and its device where it can be read."""
    device = raw.get("device") if isinstance(raw, dict) else None
    return RejectedEntry(
        index=index, reason=reason, device=device[:64] if isinstance(device, str) else None
    )


def _check_count(count: int, max_readings: int) -> None:
    if count > max_readings:
        raise BatchTooLarge(
            f"batch of {count} readings exceeds the limit of {max_readings} readings per batch"
        )


def _rejection(index: int, raw: Any, reason: str) -> RejectedReading:
    """The reason, plus the reading's identity where it can be read, so the edge can trace it."""
    fields = raw if isinstance(raw, dict) else {}
    device, boot, seq = fields.get("device"), fields.get("boot"), fields.get("seq")
    return RejectedReading(
        index=index,
        reason=reason,
        device=device[:64] if isinstance(device, str) else None,
        boot=boot[:64] if isinstance(boot, str) else None,
        seq=seq if isinstance(seq, int) and not isinstance(seq, bool) else None,
    )


def _dump(raw: Any) -> str:
    return json.dumps(raw, ensure_ascii=False, separators=(",", ":"))


def check_content_length(request: Request, limit_bytes: int) -> None:
    """Refuse a declared body larger than the limit before reading any of it."""
    declared = request.headers.get("content-length")
    if declared is None:
        return
    try:
        size = int(declared)
    except ValueError:
        raise MalformedBatch(f"Content-Length {declared[:32]!r} is not a number") from None
    if size > limit_bytes:
        raise BodyTooLarge(f"body of {size} bytes exceeds the limit of {limit_bytes} bytes")


async def read_body(request: Request, limit_bytes: int) -> bytes:
    """The body, read in chunks and refused as soon as it exceeds the limit (chunked uploads)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit_bytes:
            raise BodyTooLarge(f"body exceeds the limit of {limit_bytes} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@router.post(
    "/ingest",
    response_model=IngestResult,
    responses={
        401: {
            "model": ErrorDetail,
            "description": "unknown or revoked edge key; missing, stale or wrong signature",
        },
        403: {"model": ErrorDetail, "description": "batch for a site other than the edge's"},
        413: {"model": ErrorDetail, "description": "too many readings or body too large"},
        422: {"model": ErrorDetail, "description": "malformed envelope, with field and reason"},
        503: {"model": ErrorDetail, "description": "store unavailable; retry after Retry-After"},
    },
)
async def ingest(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    resources: Resources,
) -> IngestResult:
    """Store an edge's upload batch; 200 only once every accepted reading is on disk."""
    started_s = time.perf_counter()
    settings = resources.settings
    check_content_length(request, settings.max_body_bytes)
    edge = await asyncio.to_thread(
        resources.authenticator.authenticate, credentials.credentials if credentials else None
    )
    received_ms = time.time_ns() // 1_000_000
    body = await read_body(request, settings.max_body_bytes)
    try:
        # Verified before parsing: the HMAC key is the SHA-256 of the edge's key, which is what
        # central stores (contract/signing.py explains the choice).
        verify_signature(
            bytes.fromhex(edge.key_sha256),
            request.headers,
            body,
            now_s=received_ms / 1000,
            window_s=settings.signature_window_s,
        )
    except SignatureError as exc:
        raise BadSignature(f"edge {edge.id!r}: {exc.reason}") from exc
    upload = parse_upload(body, settings.max_batch_readings)
    resources.authenticator.authorize(edge, upload.site)
    site = resources.registry.site(upload.site)
    if upload.edge != edge.id:
        logger.warning("edge %s uploads batches naming edge %r", edge.id, upload.edge)
    written = await write_isolating(
        resources.store,
        BatchToStore(
            site=upload.site,
            edge=edge.id,
            batch_id=upload.batch_id,
            received_ms=received_ms,
            readings=upload.readings,
            rejected=[
                RejectedRow(index=r.index, reason=r.reason, raw_json=raw)
                for r, raw in upload.rejected
            ],
            timezone=site.timezone if site is not None else UTC,
            edge_duplicates=upload.duplicates,
            statuses=upload.statuses,
            clock=site.kpi.clock if site is not None else DEFAULT_CLOCK_RULE,
            rejected_entries=upload.rejected_entries(),
            health=upload.health,
            config=site,
        ),
        reading_indices=positions(len(upload.readings), [r.index for r, _ in upload.rejected]),
        duplicate_indices=positions(
            len(upload.duplicates), [r.index for r, _ in upload.rejected_duplicates]
        ),
        status_indices=positions(
            len(upload.statuses), [r.index for r, _ in upload.rejected_statuses]
        ),
    )
    if written.unstorable:
        upload = upload.without(written)
    sealed = sum(1 for u in written.unstorable if u.sealed)
    if sealed:
        logger.warning(
            "batch site=%s edge=%s batch_id=%s: %d readings rejected, their dates are sealed"
            " (raw readings pruned after rollup, central/retention.py)",
            upload.site,
            edge.id,
            upload.batch_id,
            sealed,
        )
        resources.metrics.sealed_readings.labels(upload.site).inc(sealed)
    if resources.rollups is not None:
        resources.rollups.poke()  # the dates this batch touched are pending: roll them up soon
    logger.info(
        "batch site=%s edge=%s batch_id=%s accepted=%d duplicates=%d rejected=%d"
        " edge_duplicates=%d statuses=%d rejected_duplicates=%d rejected_statuses=%d",
        upload.site,
        edge.id,
        upload.batch_id,
        written.accepted,
        written.duplicates,
        len(upload.rejected),
        len(upload.duplicates),
        len(upload.statuses),
        len(upload.rejected_duplicates),
        len(upload.rejected_statuses),
    )
    if upload.rejected_statuses or upload.rejected_duplicates:
        _log_rejected_entries(upload, edge.id)
    resources.metrics.batch_stored(
        upload.site,
        accepted=written.accepted,
        duplicates=written.duplicates,
        rejected=len(upload.rejected),
        seconds=time.perf_counter() - started_s,
    )
    return IngestResult(
        batch_id=upload.batch_id,
        accepted=written.accepted,
        duplicates=written.duplicates,
        rejected=[r for r, _ in upload.rejected],
        rejected_statuses=[r for r, _ in upload.rejected_statuses],
        rejected_duplicates=[r for r, _ in upload.rejected_duplicates],
    )


def _log_rejected_entries(upload: ParsedUpload, edge: str) -> None:
    """One warning per batch naming its bad entries (the first few; all are in the answer)."""
    named = [
        f"{field}[{entry.index}]: {entry.reason}"
        for field, entries in (
            ("statuses", upload.rejected_statuses),
            ("duplicates", upload.rejected_duplicates),
        )
        for entry, _ in entries
    ]
    more = f" and {len(named) - _LOGGED_ENTRIES} more" if len(named) > _LOGGED_ENTRIES else ""
    logger.warning(
        "batch site=%s edge=%s batch_id=%s: %d status and %d duplicate entries rejected"
        " (kept in rejected_entries): %s%s",
        upload.site,
        edge,
        upload.batch_id,
        len(upload.rejected_statuses),
        len(upload.rejected_duplicates),
        "; ".join(named[:_LOGGED_ENTRIES]),
        more,
    )
