"""Committer: validates MQTT messages, persists them in one transaction, then acknowledges them.

This is where the edge's delivery guarantee is made: nothing is acknowledged to the broker before it
is on disk, so a crash at any instant loses nothing that was acknowledged, and whatever was not
acknowledged is redelivered by the broker (persistent session) and absorbed by the reading identity.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from contract import PayloadError, TopicError, parse_payload, parse_status, parse_topic
from edge import failpoints as fp
from edge.buffer import Buffer, CommitOutcome, DeadLetter, DeviceStatus, NewReading
from edge.errors import BufferWriteError
from edge.failpoints import Failpoints
from edge.metrics import EdgeMetrics
from edge.mqtt_intake import INVALID_TOPIC, IncomingMessage
from edge.records import to_record

logger = logging.getLogger(__name__)


class MessageSource(Protocol):
    """What the committer needs from the MQTT intake (MqttIntake implements it)."""

    async def get(self) -> IncomingMessage: ...

    def get_nowait(self) -> IncomingMessage | None: ...

    def ack(self, message: IncomingMessage) -> bool: ...


@dataclass(frozen=True, slots=True)
class Sorted:
    """One batch of messages split by what the buffer does with them."""

    readings: list[NewReading]
    dead_letters: list[DeadLetter]
    statuses: list[DeviceStatus]


def classify(
    messages: Sequence[IncomingMessage],
    *,
    site: str,
    person_key: bytes,
    known_devices: frozenset[tuple[str, str]] | None = None,
) -> Sorted:
    """Validate each message: a reading record, a device status, or a dead letter with a reason.

    With `known_devices` (EDGE_DEVICES), a message of any other (kind, device) is dead-lettered.
    """
    readings: list[NewReading] = []
    dead: list[DeadLetter] = []
    statuses: list[DeviceStatus] = []
    for message in messages:

        def dead_letter(reason: str, message: IncomingMessage = message) -> None:
            dead.append(DeadLetter(message.received_ms, message.topic, message.payload, reason))

        if message.topic == INVALID_TOPIC:
            dead_letter("topic is not valid UTF-8")
            continue
        try:
            address = parse_topic(message.topic)
        except TopicError as exc:
            dead_letter(f"topic: {exc.reason}")
            continue
        if address.site != site:
            dead_letter(f"topic of site {address.site!r}; this edge serves site {site!r}")
            continue
        if known_devices is not None and (address.kind.value, address.device) not in known_devices:
            dead_letter(
                f"unknown device {address.kind.value}/{address.device}: not in this edge's"
                " device list (EDGE_DEVICES)"
            )
            continue
        try:
            if address.channel == "status":
                status = parse_status(message.payload)
                statuses.append(
                    DeviceStatus(
                        site=address.site,
                        kind=address.kind.value,
                        device=address.device,
                        state=status.state,
                        boot=status.boot,
                        received_ms=message.received_ms,
                        device_time_ms=status.ts,
                    )
                )
                continue
            payload = parse_payload(address.kind, message.payload)
            record = to_record(
                address, payload, received_ms=message.received_ms, person_key=person_key
            )
        except PayloadError as exc:
            dead_letter(exc.reason)
            continue
        readings.append(
            NewReading(
                record.device,
                record.boot,
                record.seq,
                record.model_dump_json(),
                record.device_time_ms,
            )
        )
    return Sorted(readings, dead, statuses)


class Committer:
    """Commits up to `commit_max_readings` messages, or what arrived in `commit_interval_ms`."""

    def __init__(
        self,
        source: MessageSource,
        buffer: Buffer,
        *,
        site: str,
        person_key: bytes,
        known_devices: frozenset[tuple[str, str]] | None = None,
        commit_max_readings: int = 500,
        commit_interval_ms: int = 20,
        on_persisted: Callable[[], None] | None = None,
        commit_retry_s: float = 1.0,
        failpoints: Failpoints = fp.DISABLED,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        metrics: EdgeMetrics | None = None,
    ) -> None:
        if commit_max_readings < 1:
            raise ValueError("commit_max_readings must be >= 1")
        self._source = source
        self._buffer = buffer
        self._site = site
        self._person_key = person_key
        self._known_devices = known_devices
        self.commit_max_readings = commit_max_readings
        self.commit_interval_ms = commit_interval_ms
        self._on_persisted = on_persisted
        self.commit_retry_s = commit_retry_s
        self._failpoints = failpoints
        self._sleep = sleep
        self._metrics = metrics or EdgeMetrics()
        self.commits = 0
        self.refused_writes = 0  # commit attempts the disk refused (full), retried

    async def run(self) -> None:
        """Commit forever; a buffer error ends the task (and the daemon), nothing acknowledged."""
        while True:
            await self.commit_next()

    async def _collect(self) -> list[IncomingMessage]:
        messages = [await self._source.get()]
        deadline = time.monotonic() + self.commit_interval_ms / 1000
        while len(messages) < self.commit_max_readings:
            message = self._source.get_nowait()
            if message is None:
                remaining_s = deadline - time.monotonic()
                if remaining_s <= 0:
                    break
                try:
                    async with asyncio.timeout(remaining_s):
                        message = await self._source.get()
                except TimeoutError:
                    break
            messages.append(message)
        return messages

    async def _commit_until_written(self, batch: Sorted, received: int) -> CommitOutcome:
        """Commit; while the disk refuses (full), keep the messages unacknowledged and retry.

        Nothing is acknowledged meanwhile, and the intake stops reading once its queue is full, so
        the broker queues the rest for this persistent session; nothing is lost, and the daemon
        keeps running (and uploading) instead of crash-looping. Writing resumes as soon as space
        is freed.
        """
        failures = 0
        while True:
            try:
                outcome = await self._buffer.commit(
                    batch.readings, batch.dead_letters, batch.statuses, received=received
                )
            except BufferWriteError as exc:
                failures += 1
                self.refused_writes += 1
                self._metrics.buffer_write_errors.labels("commit").inc()
                if failures == 1 or failures % 60 == 0:
                    logger.error(
                        "cannot persist %d messages (%s); not acknowledged, retry every %.1f s",
                        received,
                        exc,
                        self.commit_retry_s,
                    )
                await self._sleep(self.commit_retry_s)
                await self._buffer.reclaim_space()
                continue
            if failures:
                logger.warning(
                    "buffer writable again after %d refused commits; %d messages persisted",
                    failures,
                    received,
                )
            return outcome

    async def commit_next(self) -> CommitOutcome:
        """Wait for at least one message, commit a batch of them, acknowledge them."""
        messages = await self._collect()
        batch = classify(
            messages,
            site=self._site,
            person_key=self._person_key,
            known_devices=self._known_devices,
        )
        self._failpoints.reach(fp.AFTER_RECEIVE_BEFORE_COMMIT)
        outcome = await self._commit_until_written(batch, len(messages))
        self._failpoints.reach(fp.AFTER_COMMIT_BEFORE_ACK)
        # Persist before acknowledge: the transaction above is on disk
        # (WAL, synchronous=FULL), so only now do we send PUBACK, one per message, in the order
        # the messages were received (MQTT 3.1.1 §4.6 message ordering). Duplicates, refused
        # overflow and dead letters are acked too, so the broker does not redeliver them forever.
        for message in messages:
            self._source.ack(message)
        self.commits += 1
        if batch.dead_letters:
            # One line per commit, not per message: a broken device must not flood the log.
            first = batch.dead_letters[0]
            logger.warning(
                "%d dead letters (first on %s: %s)",
                len(batch.dead_letters),
                first.topic[:200],
                first.reason,
            )
        if (outcome.persisted or outcome.status_changes) and self._on_persisted is not None:
            self._on_persisted()
        logger.debug(
            "commit: %d messages, %d new readings, %d duplicates, %d dead letters",
            outcome.received,
            outcome.persisted,
            outcome.duplicates,
            outcome.dead_lettered,
        )
        return outcome
