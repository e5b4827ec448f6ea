"""MqttIntake: paho-mqtt with manual acknowledgement, feeding asyncio for persist-then-ack.

paho runs its network loop (and automatic reconnect) in its own thread; each PUBLISH is handed to
the event loop with `call_soon_threadsafe` into a bounded queue. Nothing is acknowledged on
receipt: the committer calls `ack` once the message is on disk. The session is persistent
(clean_session=False, stable client id), so the broker keeps and redelivers every unacknowledged
QoS 1 message after a reconnect or restart (MQTT 3.1.1 §4.4) and queues new ones meanwhile.
"""

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from edge.errors import IntakeError

logger = logging.getLogger(__name__)

QOS_AT_LEAST_ONCE = 1
INVALID_TOPIC = "<topic is not valid UTF-8>"
SUBSCRIBED_LOG = "MQTT subscriptions granted"


def wall_clock_ms() -> int:
    """The edge's clock (UTC epoch ms): only ever stored as receive time, never an identity."""
    return time.time_ns() // 1_000_000


@dataclass(frozen=True, slots=True)
class IncomingMessage:
    """One PUBLISH as received, with the edge clock at receipt and the connection it came on."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    retain: bool
    dup: bool
    received_ms: int
    connection: int  # generation of the connection it arrived on; acks are only valid on it


class MqttIntake:
    """`async with MqttIntake(...) as intake:` subscribed to `topics`; `get()` then `ack()`."""

    def __init__(
        self,
        *,
        host: str,
        port: int,
        client_id: str,
        topics: Sequence[str],
        username: str | None = None,
        password: str | None = None,
        keepalive_s: int = 30,
        queue_max_messages: int = 10_000,
        reconnect_min_delay_s: int = 1,
        reconnect_max_delay_s: int = 30,
        clock_ms: Callable[[], int] = wall_clock_ms,
        tls_ca_file: Path | None = None,
        tick_topic: str | None = None,
        on_tick: Callable[[bytes], None] | None = None,
    ) -> None:
        if not client_id:
            raise ValueError("a persistent session needs a stable, non-empty client id")
        self.host = host
        self.port = port
        self.client_id = client_id
        self.topics = list(topics)
        self.keepalive_s = keepalive_s
        self._username = username
        self._tls_ca_file = tls_ca_file
        self._password = password
        self._queue_max_messages = queue_max_messages
        self._reconnect_delays_s = (reconnect_min_delay_s, reconnect_max_delay_s)
        self._clock_ms = clock_ms
        # simulation only (edge/simclock.py): a lockstep simulator's clock ticks, consumed here
        if (tick_topic is None) != (on_tick is None):
            raise ValueError("tick_topic and on_tick go together")
        self._tick_topic = tick_topic
        self._on_tick = on_tick
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[IncomingMessage] | None = None
        self._subscribed: asyncio.Event | None = None
        # Connection generation: incremented by on_connect, cleared by on_disconnect (paho thread);
        # read by `ack` (event-loop thread). The lock keeps an ack from racing a reconnect.
        self._state_lock = threading.Lock()
        self._generation = 0
        self._live_generation: int | None = None
        self._pending_subscribe_mid: int | None = None
        self.overflowed = 0

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        # The broker's in-flight window (max_inflight_messages) bounds how many unacknowledged
        # messages can be on their way to us; the queue must be at least that large.
        self._queue = asyncio.Queue(maxsize=self._queue_max_messages)
        self._subscribed = asyncio.Event()
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=self.client_id,
            protocol=mqtt.MQTTv311,
            clean_session=False,
            manual_ack=True,
        )
        if self._username is not None:
            client.username_pw_set(self._username, self._password)
        if self._tls_ca_file is not None:
            # TLS with the broker's certificate verified against this CA and its host name checked
            # (paho's defaults: CERT_REQUIRED, tls_insecure False).
            client.tls_set(ca_certs=str(self._tls_ca_file))
        client.reconnect_delay_set(*self._reconnect_delays_s)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        self._client = client
        # connect_async + loop_start: the first connection is retried like every later one, so an
        # edge that starts before its broker keeps uploading its buffer and connects when it can.
        client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        if client.loop_start() != MQTTErrorCode.MQTT_ERR_SUCCESS:
            raise IntakeError("paho network loop did not start")
        logger.info(
            "MQTT intake %s connecting to %s:%d for %s",
            self.client_id,
            self.host,
            self.port,
            ", ".join(self.topics),
        )
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        # Messages still queued here were never acknowledged: the broker keeps them in the
        # persistent session and redelivers them on the next connection.
        client.disconnect()
        # loop_stop joins paho's thread; run it off the event loop.
        await asyncio.shield(asyncio.to_thread(client.loop_stop))
        logger.info("MQTT intake %s disconnected", self.client_id)

    # -- API for the committer ---------------------------------------------------------------

    async def get(self) -> IncomingMessage:
        """The next message, in receipt order."""
        return await self._require_queue().get()

    def get_nowait(self) -> IncomingMessage | None:
        """The next message if one is already waiting."""
        try:
            return self._require_queue().get_nowait()
        except asyncio.QueueEmpty:
            return None

    def ack(self, message: IncomingMessage) -> bool:
        """Send PUBACK for a message that is already persisted. Returns False if it was not sent.

        An ack is only valid on the connection the message arrived on: after a reconnect the broker
        redelivers every unacknowledged message with its own packet id, which may by then belong to
        a different message; so a stale ack is skipped and the redelivered copy is acked instead.
        """
        client = self._client
        if client is None or message.qos == 0:
            return False
        with self._state_lock:
            if self._live_generation != message.connection:
                return False
            rc = client.ack(message.mid, message.qos)
        return rc == MQTTErrorCode.MQTT_ERR_SUCCESS

    async def wait_subscribed(self) -> None:
        """Return once the broker granted the subscriptions of the current connection."""
        if self._subscribed is None:
            raise IntakeError("intake is not entered")
        await self._subscribed.wait()

    def _require_queue(self) -> asyncio.Queue[IncomingMessage]:
        if self._queue is None:
            raise IntakeError("intake is not entered; use `async with MqttIntake(...)`")
        return self._queue

    # -- paho callbacks (paho's thread) ------------------------------------------------------

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        if reason_code.is_failure:
            logger.error("MQTT broker refused the connection: %s", reason_code)
            return
        with self._state_lock:
            self._generation += 1
            self._live_generation = self._generation
        logger.info(
            "MQTT connected as %s (session present: %s)", self.client_id, flags.session_present
        )
        # Subscribe on every connection, not once: a broker that lost its persistence would
        # otherwise leave a reconnected edge deaf.
        topics = self.topics if self._tick_topic is None else [*self.topics, self._tick_topic]
        result, mid = client.subscribe([(topic, QOS_AT_LEAST_ONCE) for topic in topics])
        if result != MQTTErrorCode.MQTT_ERR_SUCCESS:
            logger.error("MQTT subscribe failed: %s", mqtt.error_string(result))
        self._pending_subscribe_mid = mid

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: Any,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Any,
    ) -> None:
        with self._state_lock:
            self._live_generation = None
        if self._loop is not None and self._subscribed is not None:
            self._loop.call_soon_threadsafe(self._subscribed.clear)
        if self._client is not None:  # not our own disconnect() at exit
            logger.warning("MQTT connection lost (%s); paho reconnects", reason_code)

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: Any,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Any,
    ) -> None:
        failed = [str(code) for code in reason_codes if code.is_failure]
        if failed:
            logger.error("MQTT broker refused subscriptions %s: %s", self.topics, failed)
            return
        if mid == self._pending_subscribe_mid and self._loop is not None:
            # The harness waits for this line before devices publish (harness/stack.py).
            logger.info("%s: %s", SUBSCRIBED_LOG, ", ".join(self.topics))
            subscribed = self._subscribed
            if subscribed is not None:
                self._loop.call_soon_threadsafe(subscribed.set)

    def _on_message(self, client: mqtt.Client, userdata: Any, msg: mqtt.MQTTMessage) -> None:
        try:
            topic = msg.topic
        except UnicodeDecodeError:
            topic = INVALID_TOPIC  # dead-lettered by the committer with this marker
        if self._on_tick is not None and topic == self._tick_topic:
            # The clock moves before any later message is stamped: one subscription delivers
            # in the broker's order. Nothing to persist, so it is acknowledged at once.
            self._on_tick(bytes(msg.payload))
            if msg.qos > 0:
                client.ack(msg.mid, msg.qos)
            return
        message = IncomingMessage(
            topic=topic,
            payload=bytes(msg.payload),
            qos=msg.qos,
            mid=msg.mid,
            retain=bool(msg.retain),
            dup=bool(msg.dup),
            received_ms=self._clock_ms(),
            connection=self._generation,
        )
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._enqueue, message)

    # -- event-loop thread -------------------------------------------------------------------

    def _enqueue(self, message: IncomingMessage) -> None:
        try:
            self._require_queue().put_nowait(message)
        except asyncio.QueueFull:
            # Not acknowledged, so not lost: the broker redelivers it after the next reconnect.
            # Reaching this means queue_max_messages is below the broker's in-flight window.
            self.overflowed += 1
            logger.error(
                "intake queue full (%d messages): %s not taken; raise the queue bound above"
                " the broker's max_inflight_messages",
                self._queue_max_messages,
                message.topic,
            )
