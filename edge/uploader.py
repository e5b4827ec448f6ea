"""Uploader: forwards the oldest buffered readings to central; deletes only what it confirmed.

Defence against a poison batch (issue 13): a batch that central keeps answering with HTTP 500 (its
own failure, not "unavailable") is isolated after `isolate_after_failures` such answers in a row.
It is sent in halves, recursively, until the entries central fails on alone are found; each of
those goes to the dead letters with central's reason (`canteen-edge status` shows them) and every
other entry is delivered. Only when central stored some other part of the batch is a failing
entry taken for the culprit: when every part fails, central itself is broken, nothing is
dead-lettered, and the batch is retried with backoff as before.
"""

import asyncio
import json
import logging
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence

import httpx
from pydantic import TypeAdapter, ValidationError

from contract import (
    MAX_BATCH_STATUSES,
    DeviceKind,
    DeviceStatusRecord,
    DroppedDuplicate,
    EdgeHealth,
    IngestResult,
    ReadingRecord,
    UploadBatch,
    data_topic,
    status_topic,
)
from contract.payloads import describe_validation_error
from contract.signing import sign_headers, signing_key
from edge import failpoints as fp
from edge.buffer import Buffer, DeadLetter, PendingDuplicate, PendingRow, PendingStatus
from edge.errors import (
    BufferWriteError,
    PermanentUploadError,
    RetryableUploadError,
    UploadError,
)
from edge.failpoints import Failpoints
from edge.metrics import EdgeMetrics

logger = logging.getLogger(__name__)

INGEST_PATH = "/api/v1/ingest"
MAX_REASON_CHARS = 500
_RECORD = TypeAdapter[ReadingRecord](ReadingRecord)
# Central's own failure: the answer that may come from one entry it cannot handle. 502/503/504
# (unavailable, gateway) never isolate: they are about central, not about the batch.
ISOLATED_STATUS = httpx.codes.INTERNAL_SERVER_ERROR
Entry = PendingRow | PendingDuplicate | PendingStatus


def _reason(response: httpx.Response) -> str:
    """Central's explanation: FastAPI's `detail` if the body is JSON, else the start of the text."""
    try:
        body = response.json()
    except ValueError:
        return response.text[:MAX_REASON_CHARS] or response.reason_phrase
    if isinstance(body, dict) and "detail" in body:
        return str(body["detail"])[:MAX_REASON_CHARS]
    return str(body)[:MAX_REASON_CHARS]


class Uploader:
    """One task: read the oldest pending rows, POST them as one UploadBatch, delete them on 2xx."""

    def __init__(
        self,
        buffer: Buffer,
        client: httpx.AsyncClient,
        *,
        site: str,
        edge_id: str,
        central_url: str,
        api_key: str,
        batch_max_readings: int = 1000,
        upload_interval_s: float = 1.0,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 60.0,
        max_readings_per_s: float = 0.0,
        live_share: float = 0.0,
        isolate_after_failures: int = 3,
        failpoints: Failpoints = fp.DISABLED,
        metrics: EdgeMetrics | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
        clock_s: Callable[[], float] = time.time,
        health: Callable[[], Awaitable[EdgeHealth]] | None = None,
    ) -> None:
        if batch_max_readings < 1:
            raise ValueError("batch_max_readings must be >= 1")
        if isolate_after_failures < 1:
            raise ValueError("isolate_after_failures must be >= 1")
        if max_readings_per_s < 0 or not 0 <= live_share <= 1:
            raise ValueError("max_readings_per_s must be >= 0 and live_share within [0, 1]")
        self._buffer = buffer
        self._client = client
        self.site = site
        self.edge_id = edge_id
        self.ingest_url = central_url.rstrip("/") + INGEST_PATH
        self._headers = {
            "Authorization": f"Bearer {api_key}",
            "Content-Type": "application/json",
        }
        # Each POST is signed (contract/signing.py) with the SHA-256 of the key; `clock_s` gives
        # the epoch seconds of the signature's timestamp.
        self._signing_key = signing_key(api_key)
        self._clock_s = clock_s
        # The edge's health (contract.EdgeHealth), measured anew for each batch it travels with.
        self._health = health
        self.batch_size = batch_max_readings
        self.upload_interval_s = upload_interval_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        # 0: unbounded. Bounds the drain of a backlog so that central and the edge's own disk
        # are not flooded after an outage; live readings keep being persisted meanwhile.
        self.max_readings_per_s = max_readings_per_s
        # While more than one batch is pending, this share of each batch is taken from the newest
        # readings, so that live data reaches central during a long drain instead of after it.
        self.live_share = live_share
        self.isolate_after_failures = isolate_after_failures
        self._failpoints = failpoints
        self._metrics = metrics or EdgeMetrics()
        self._sleep = sleep
        self._rng = rng or random.Random()  # jitter, not a secret
        self._wake = asyncio.Event()
        self.batches_confirmed = 0
        self.entries_dead_lettered = 0  # by isolation, since start

    def notify(self) -> None:
        """Called after a commit added rows: wake the uploader before its interval ends."""
        self._wake.set()

    def backoff_s(self, failures: int) -> float:
        """Capped exponential backoff with full jitter: uniform(0, min(max, initial * 2**(n-1)))."""
        ceiling_s = min(self.backoff_max_s, self.backoff_initial_s * 2 ** min(failures - 1, 62))
        return self._rng.uniform(0, ceiling_s)

    async def run(self) -> None:
        """Upload forever; failures keep the rows and back off, they never end the task."""
        failures = 0
        server_errors = 0  # HTTP 500 answers in a row
        while True:
            rows = await self.next_rows()
            if (
                not rows
                and not await self._buffer.pending_duplicates_count()
                and not await self._buffer.pending_statuses_count()
            ):
                continue
            started_s = time.monotonic()
            try:
                await self.upload(rows)
            except BufferWriteError as exc:
                # Central has the batch but the disk refused the delete (full): the rows stay and
                # are sent again later; central answers them as duplicates.
                self._metrics.buffer_write_errors.labels("delete").inc()
                failures += 1
                delay_s = self.backoff_s(failures)
                logger.error(
                    "%s; %d uploaded readings kept, retry in %.2f s", exc, len(rows), delay_s
                )
                await self._sleep(delay_s)
                await self._buffer.reclaim_space()
            except PermanentUploadError as exc:
                await self._count_failure()
                if exc.status_code == httpx.codes.REQUEST_ENTITY_TOO_LARGE and len(rows) > 1:
                    self.batch_size = max(1, len(rows) // 2)
                    logger.warning(
                        "central: batch of %d readings too large (%s); batch size now %d",
                        len(rows),
                        exc.reason,
                        self.batch_size,
                    )
                    continue
                failures += 1
                if exc.status_code in (httpx.codes.UNAUTHORIZED, httpx.codes.FORBIDDEN):
                    # A configuration error: keep every row and retry slowly until an operator
                    # fixes the key or the registry.
                    delay_s = self.backoff_max_s
                else:
                    delay_s = self.backoff_s(failures)
                logger.error(
                    "central refused batch (HTTP %s): %s; %d readings kept, retry in %.1f s",
                    exc.status_code,
                    exc.reason,
                    len(rows),
                    delay_s,
                )
                await self._sleep(delay_s)
            except RetryableUploadError as exc:
                await self._count_failure()
                server_errors = server_errors + 1 if exc.status_code == ISOLATED_STATUS else 0
                if server_errors >= self.isolate_after_failures:
                    server_errors = 0
                    if await self._try_isolate(rows):
                        failures = 0
                        continue
                failures += 1
                delay_s = self.backoff_s(failures)
                logger.warning(
                    "upload failed (%s); %d readings kept, retry %d in %.2f s",
                    exc.reason,
                    len(rows),
                    failures,
                    delay_s,
                )
                await self._sleep(delay_s)
            else:
                failures = server_errors = 0
                await self._pace(len(rows), started_s)

    async def _pace(self, uploaded: int, started_s: float) -> None:
        """Sleep so that the upload rate stays at or below `max_readings_per_s`."""
        if self.max_readings_per_s <= 0:
            return
        remaining_s = uploaded / self.max_readings_per_s - (time.monotonic() - started_s)
        if remaining_s > 0:
            await self._sleep(remaining_s)

    async def _count_failure(self) -> None:
        try:
            await self._buffer.add_counters(upload_failures=1)
        except BufferWriteError as exc:
            logger.warning("upload failure not counted: %s", exc)

    async def next_rows(self) -> list[PendingRow]:
        """The oldest pending rows: a full batch at once, or what is there after the interval."""
        deadline: float | None = None
        while True:
            # Clear before looking, so that a commit landing in between still wakes the wait.
            self._wake.clear()
            # Dropped duplicates (Q4) and device status changes are work too: central knows of
            # them only once told.
            pending = (
                await self._buffer.pending_count()
                + await self._buffer.pending_duplicates_count()
                + await self._buffer.pending_statuses_count()
            )
            if pending >= self.batch_size:
                break
            now = time.monotonic()
            if pending > 0:
                if deadline is None:
                    deadline = now + self.upload_interval_s
                if now >= deadline:
                    break
            try:
                async with asyncio.timeout(None if deadline is None else deadline - now):
                    await self._wake.wait()
            except TimeoutError:
                pass
        newest = int(self.batch_size * self.live_share)
        if newest == 0:
            return await self._buffer.oldest(self.batch_size)
        return await self._buffer.oldest_and_newest(self.batch_size - newest, newest)

    async def upload(
        self,
        rows: Sequence[PendingRow],
        *,
        dropped: Sequence[PendingDuplicate] | None = None,
        changes: Sequence[PendingStatus] | None = None,
    ) -> IngestResult:
        """POST one batch (these rows, the oldest dropped duplicates and the oldest device status
        changes, or those given); on 2xx delete exactly what it carried, else raise an
        UploadError subtype."""
        if dropped is None:
            dropped = await self._buffer.oldest_duplicates(self.batch_size)
        if changes is None:
            changes = await self._buffer.oldest_statuses(min(self.batch_size, MAX_BATCH_STATUSES))
        records, rows, dropped, changes = await self._sendable(rows, dropped, changes)
        if not rows and not dropped and not changes:
            return IngestResult(batch_id="", accepted=0, duplicates=0)
        batch = UploadBatch(
            site=self.site,
            edge=self.edge_id,
            batch_id=uuid.uuid4().hex,
            readings=records,
            duplicates=[_duplicate_record(d) for d in dropped],
            statuses=[_status_record(c) for c in changes],
            health=None if self._health is None else await self._health(),
        )
        posted_s = time.perf_counter()
        result = await self._post(batch)
        self._metrics.uploaded(time.perf_counter() - posted_s)
        self._failpoints.reach(fp.AFTER_UPLOAD_2XX_BEFORE_DELETE)
        # Delete only after central confirmed (2xx after its durable commit).
        await self._buffer.delete_confirmed(
            [row.id for row in rows],
            rejected=len(result.rejected),
            duplicate_ids=[d.id for d in dropped],
            status_ids=[c.id for c in changes],
        )
        self._failpoints.reach(fp.AFTER_DELETE)
        self.batches_confirmed += 1
        logger.info(
            "batch %s: %d readings (buffer ids %s), accepted %d, duplicates %d, rejected %d,"
            " dropped duplicates reported %d, status changes %d",
            batch.batch_id,
            len(rows),
            f"{rows[0].id}-{rows[-1].id}" if rows else "none",
            result.accepted,
            result.duplicates,
            len(result.rejected),
            len(dropped),
            len(changes),
        )
        for rejected in result.rejected:
            row = rows[rejected.index] if 0 <= rejected.index < len(rows) else None
            logger.warning(
                "batch %s: central rejected reading %d (%s): %s",
                batch.batch_id,
                rejected.index,
                "unknown" if row is None else f"{row.device}/{row.boot}/{row.seq}",
                rejected.reason,
            )
        for field, entries in (
            ("status change", result.rejected_statuses),
            ("dropped-duplicate report", result.rejected_duplicates),
        ):
            for entry in entries:
                logger.warning(
                    "batch %s: central rejected %s %d (device %s): %s",
                    batch.batch_id,
                    field,
                    entry.index,
                    entry.device or "unknown",
                    entry.reason,
                )
        answered = result.accepted + result.duplicates + len(result.rejected)
        if answered != len(rows):
            logger.warning(
                "batch %s: central answered for %d of %d readings",
                batch.batch_id,
                answered,
                len(rows),
            )
        return result

    async def _sendable(
        self,
        rows: Sequence[PendingRow],
        dropped: Sequence[PendingDuplicate],
        changes: Sequence[PendingStatus],
    ) -> tuple[list[ReadingRecord], list[PendingRow], list[PendingDuplicate], list[PendingStatus]]:
        """The entries the contract still accepts, with the records of the rows; the others are
        dead-lettered with the reason. Only a buffer written by an older edge holds such entries
        (e.g. a device time beyond today's MAX_EPOCH_MS): they must not stop the uploader."""
        records: list[ReadingRecord] = []
        good_rows: list[PendingRow] = []
        failing: list[tuple[Entry, str]] = []
        for row in rows:
            try:
                records.append(_RECORD.validate_json(row.record_json))
            except ValidationError as exc:
                failing.append((row, describe_validation_error(exc)))
            else:
                good_rows.append(row)
        good_dropped: list[PendingDuplicate] = []
        for d in dropped:
            try:
                _duplicate_record(d)
            except ValidationError as exc:
                failing.append((d, describe_validation_error(exc)))
            else:
                good_dropped.append(d)
        good_changes: list[PendingStatus] = []
        for c in changes:
            try:
                _status_record(c)
            except ValidationError as exc:
                failing.append((c, describe_validation_error(exc)))
            else:
                good_changes.append(c)
        if failing:
            await self._dead_letter_all(
                failing, "not valid under this edge's contract (buffered by an older version?)"
            )
        return records, good_rows, good_dropped, good_changes

    async def _dead_letter_all(self, failing: Sequence[tuple[Entry, str]], why: str) -> None:
        """Move `failing` entries from the buffer to the dead letters, `why` before each reason."""
        now_ms = int(self._clock_s() * 1000)
        await self._buffer.dead_letter_unsent(
            [self._dead_letter(entry, f"{why}: {reason}", now_ms) for entry, reason in failing],
            ids=[e.id for e, _ in failing if isinstance(e, PendingRow)],
            duplicate_ids=[e.id for e, _ in failing if isinstance(e, PendingDuplicate)],
            status_ids=[e.id for e, _ in failing if isinstance(e, PendingStatus)],
        )
        self.entries_dead_lettered += len(failing)
        for entry, reason in failing:
            logger.error("dead-lettered %s: %s: %s", _describe(entry), why, reason)

    async def _try_isolate(self, rows: Sequence[PendingRow]) -> int:
        """`isolate`, its failures logged (the run loop then backs off as for any failure)."""
        try:
            return await self.isolate(rows)
        except (UploadError, BufferWriteError) as exc:
            logger.warning("isolation of a failing batch interrupted: %s; retry later", exc)
            return 0

    async def isolate(self, rows: Sequence[PendingRow]) -> int:
        """Deliver the batch of `rows` in parts, dead-letter the entries central fails on alone
        (HTTP 500) and return how many; 0 when every part failed (central's fault: nothing is
        dead-lettered). Any other failure (timeout, 503...) ends the isolation: raised."""
        dropped = await self._buffer.oldest_duplicates(self.batch_size)
        changes = await self._buffer.oldest_statuses(min(self.batch_size, MAX_BATCH_STATUSES))
        entries: list[Entry] = [*rows, *dropped, *changes]
        logger.warning(
            "central answered HTTP 500 to the same batch %d times in a row: isolating the"
            " entries it fails on (%d readings, %d dropped-duplicate reports, %d status changes)",
            self.isolate_after_failures,
            len(rows),
            len(dropped),
            len(changes),
        )
        parts = _Isolation(self)
        await parts.deliver(entries)
        if not parts.failing:
            return 0
        if parts.delivered == 0:
            logger.error(
                "central failed on every part of the batch, down to single entries: central is"
                " broken, not an entry; %d entries kept, retried with backoff",
                len(entries),
            )
            return 0
        await self._dead_letter_all(
            parts.failing,
            f"central failed on this entry alone, after the batch failed repeatedly"
            f" ({parts.delivered} other entries delivered)",
        )
        return len(parts.failing)

    def _dead_letter(self, entry: Entry, why: str, now_ms: int) -> DeadLetter:
        """The dead letter of an entry: what would have been uploaded, and why it was not."""
        if isinstance(entry, PendingRow):
            kind = _kind_of(entry.record_json)
            topic = (
                f"(reading of {entry.device})"
                if kind is None
                else data_topic(self.site, kind, entry.device)
            )
            return DeadLetter(now_ms, topic, entry.record_json.encode(), why)
        if isinstance(entry, PendingDuplicate):
            fields = {
                "id": entry.id,
                "device": entry.device,
                "device_time_ms": entry.device_time_ms,
            }
            topic = f"(dropped-duplicate report of {entry.device})"  # it came from no topic
            return DeadLetter(now_ms, topic, json.dumps(fields).encode(), why)
        fields = {
            "kind": entry.kind, "device": entry.device, "state": entry.state, "boot": entry.boot,
            "device_time_ms": entry.device_time_ms, "received_ms": entry.received_ms,
        }  # fmt: skip
        try:
            topic = status_topic(self.site, DeviceKind(entry.kind), entry.device)
        except ValueError:
            topic = f"(status change of {entry.device})"
        return DeadLetter(now_ms, topic, json.dumps(fields).encode(), why)

    async def _post(self, batch: UploadBatch) -> IngestResult:
        # Empty optional lists are left out: a central that predates them still accepts the
        # batch (its envelope forbids unknown fields). The signature covers this body.
        empty = {name for name in ("duplicates", "statuses", "health") if not getattr(batch, name)}
        body = batch.model_dump_json(exclude=empty or None).encode()
        headers = {**self._headers, **sign_headers(self._signing_key, body, self._clock_s())}
        try:
            response = await self._client.post(self.ingest_url, content=body, headers=headers)
        except httpx.TimeoutException as exc:
            raise RetryableUploadError(f"timeout: {exc!r}") from exc
        except httpx.HTTPError as exc:
            raise RetryableUploadError(f"{type(exc).__name__}: {exc}") from exc
        status = response.status_code
        if response.is_success:
            try:
                result = IngestResult.model_validate_json(response.content)
            except ValidationError as exc:
                # Not central's answer (a proxy page?): keep the rows; resending is harmless
                # because central absorbs duplicates.
                raise RetryableUploadError(
                    f"HTTP {status} body is not an IngestResult", status_code=status
                ) from exc
            if result.batch_id != batch.batch_id:
                raise RetryableUploadError(
                    f"answer is for batch {result.batch_id!r}, not {batch.batch_id!r}",
                    status_code=status,
                )
            return result
        reason = _reason(response)
        if status == httpx.codes.TOO_MANY_REQUESTS or response.is_server_error:
            raise RetryableUploadError(f"HTTP {status}: {reason}", status_code=status)
        raise PermanentUploadError(reason, status_code=status)


def _kind_of(record_json: str) -> DeviceKind | None:
    """The kind a stored record names, if it can be read (the record may be invalid)."""
    try:
        kind = json.loads(record_json).get("kind")
        return DeviceKind(kind)
    except (ValueError, AttributeError, TypeError):
        return None


def _duplicate_record(dropped: PendingDuplicate) -> DroppedDuplicate:
    return DroppedDuplicate(
        id=dropped.id, device=dropped.device, device_time_ms=dropped.device_time_ms
    )


def _status_record(change: PendingStatus) -> DeviceStatusRecord:
    return DeviceStatusRecord(
        kind=DeviceKind(change.kind),
        device=change.device,
        state="online" if change.state == "online" else "offline",
        boot=change.boot,
        device_time_ms=change.device_time_ms,
        received_ms=change.received_ms,
    )


def _describe(entry: Entry) -> str:
    if isinstance(entry, PendingRow):
        return f"reading {entry.device}/{entry.boot}/{entry.seq} (buffer id {entry.id})"
    if isinstance(entry, PendingDuplicate):
        return f"dropped-duplicate report {entry.id} of {entry.device}"
    return f"status change {entry.id} of {entry.device} ({entry.state})"


class _Isolation:
    """One isolation round: the parts delivered, and the entries central failed on alone."""

    def __init__(self, uploader: Uploader) -> None:
        self._uploader = uploader
        self.delivered = 0
        self.failing: list[tuple[Entry, str]] = []

    async def deliver(self, entries: Sequence[Entry]) -> None:
        """Upload `entries` as one batch; on HTTP 500 split it in halves, down to single ones."""
        if not entries:
            return
        try:
            await self._uploader.upload(
                [e for e in entries if isinstance(e, PendingRow)],
                dropped=[e for e in entries if isinstance(e, PendingDuplicate)],
                changes=[e for e in entries if isinstance(e, PendingStatus)],
            )
        except RetryableUploadError as exc:
            if exc.status_code != ISOLATED_STATUS:
                raise
            if len(entries) == 1:
                self.failing.append((entries[0], exc.reason))
                return
            middle = len(entries) // 2
            await self.deliver(entries[:middle])
            await self.deliver(entries[middle:])
            return
        self.delivered += len(entries)
