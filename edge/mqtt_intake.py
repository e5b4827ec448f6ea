"""MqttIntake: paho-mqtt with manual acknowledgement, feeding asyncio for persist-then-ack.

paho's protocol engine runs in a network thread of our own (paho's `loop_read`, `loop_write` and
`loop_misc` around one `select`), which hands each PUBLISH to the event loop with
`call_soon_threadsafe`. Nothing is acknowledged on receipt: the committer calls `ack` once the
message is on disk, and the network thread sends the PUBACK. The session is persistent
(clean_session=False, stable client id), so the broker keeps and redelivers every unacknowledged
QoS 1 message after a reconnect or restart (MQTT 3.1.1 §4.4) and queues new ones meanwhile.

Backpressure: while `queue_max_messages` messages wait for the committer, the network thread stops
reading the socket (it still writes acks and pings), so TCP flow control holds the broker back.
The edge therefore never depends on the broker honouring its in-flight window, which Mosquitto
2.0.11 does not (docs/faults.md, "A broker that overruns its in-flight window").
"""

import asyncio
import contextlib
import logging
import select
import socket
import threading
import time
from collections import deque
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
SELECT_TIMEOUT_S = 1.0  # the network thread wakes at least this often (keep-alive, stop)
STOP_FLUSH_S = 2.0  # at exit, longest wait for the DISCONNECT (and last acks) to be written
PAUSE_LOG_INTERVAL_S = 60.0  # at most one summary line of read pauses per interval


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


def _set_failed(future: "asyncio.Future[None]", error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


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
        if queue_max_messages < 1:
            raise ValueError("queue_max_messages must be >= 1")
        self._client: mqtt.Client | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[IncomingMessage] | None = None
        self._subscribed: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        # Wakes the network thread's select (an ack to send, room in the queue, stop).
        self._wake_r: socket.socket | None = None
        self._wake_w: socket.socket | None = None
        # Connection generation: incremented by on_connect, cleared by on_disconnect, both in the
        # network thread, which also sends every PUBACK: so an ack never races a reconnect.
        self._generation = 0
        self._live_generation: int | None = None
        self._pending_subscribe_mid: int | None = None
        self._acks: deque[IncomingMessage] = deque()  # persisted, PUBACK not yet sent (FIFO)
        # Messages handed to the event loop and not yet taken by the committer: the backpressure
        # bound. Written by both threads, under the lock.
        self._held_lock = threading.Lock()
        self._held_messages = 0
        self.held_peak_messages = 0
        self.pauses = 0  # times reading paused because the committer was behind
        # connections on which the broker had no session for us (the first ever, or one it lost)
        self.sessions_absent = 0
        self._changed: asyncio.Event | None = None  # set when pauses or sessions_absent grow
        self._failed: asyncio.Future[None] | None = None  # the network thread's failure
        self._paused = False
        self._pauses_logged = 0
        self._pause_logged_at = -PAUSE_LOG_INTERVAL_S

    # -- lifecycle ---------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self._loop = asyncio.get_running_loop()
        # Bounded by the network thread, which stops reading at queue_max_messages held (see the
        # module docstring), not by the queue: a put can then never fail.
        self._queue = asyncio.Queue()
        self._subscribed = asyncio.Event()
        self._changed = asyncio.Event()
        self._failed = self._loop.create_future()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
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
        # paho's external-loop hook: it wants to write (a PUBACK, a ping); wake our select.
        client.on_socket_register_write = lambda _client, _userdata, _sock: self._wake()
        self._client = client
        # connect_async: the network thread retries the first connection like every later one, so
        # an edge that starts before its broker keeps uploading its buffer and connects when it can.
        client.connect_async(self.host, self.port, keepalive=self.keepalive_s)
        self._thread = threading.Thread(
            target=self._run_network, args=(client,), name=f"mqtt-intake-{self.client_id}"
        )
        self._thread.start()
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
        thread, self._thread = self._thread, None
        if client is None or thread is None:
            return
        # Messages still queued here were never acknowledged: the broker keeps them in the
        # persistent session and redelivers them on the next connection.
        self._stopping.set()
        self._wake()
        # join off the event loop: the thread writes the last acks and the DISCONNECT first
        # (STOP_FLUSH_S at most).
        await asyncio.shield(asyncio.to_thread(thread.join))
        for end in (self._wake_r, self._wake_w):
            if end is not None:
                end.close()
        logger.info("MQTT intake %s disconnected", self.client_id)

    # -- API for the committer ---------------------------------------------------------------

    async def get(self) -> IncomingMessage:
        """The next message, in receipt order."""
        message = await self._require_queue().get()
        self._taken()
        return message

    def get_nowait(self) -> IncomingMessage | None:
        """The next message if one is already waiting."""
        try:
            message = self._require_queue().get_nowait()
        except asyncio.QueueEmpty:
            return None
        self._taken()
        return message

    def ack(self, message: IncomingMessage) -> bool:
        """Have PUBACK sent for a message that is already persisted; False if it will not be.

        An ack is only valid on the connection the message arrived on: after a reconnect the broker
        redelivers every unacknowledged message with its own packet id, which may by then belong to
        a different message; so a stale ack is skipped and the redelivered copy is acked instead.
        The network thread sends the acks in the order of these calls and checks the connection
        again just before sending.
        """
        if self._client is None or message.qos == 0:
            return False
        if self._live_generation != message.connection:
            return False
        self._acks.append(message)
        self._wake()
        return True

    async def wait_failed(self) -> None:
        """Wait forever, or raise IntakeError if the network thread failed."""
        if self._failed is None:
            raise IntakeError("intake is not entered")
        await asyncio.shield(self._failed)

    async def wait_changed(self) -> None:
        """Return once `pauses` or `sessions_absent` grew since the last return."""
        if self._changed is None:
            raise IntakeError("intake is not entered")
        await self._changed.wait()
        self._changed.clear()

    @property
    def held_messages(self) -> int:
        """Messages received and not yet taken by the committer (at most queue_max_messages)."""
        return self._held_messages

    @property
    def connections(self) -> int:
        """Connections made so far (1 until the first reconnect)."""
        return self._generation

    async def wait_subscribed(self) -> None:
        """Return once the broker granted the subscriptions of the current connection."""
        if self._subscribed is None:
            raise IntakeError("intake is not entered")
        await self._subscribed.wait()

    def _require_queue(self) -> asyncio.Queue[IncomingMessage]:
        if self._queue is None:
            raise IntakeError("intake is not entered; use `async with MqttIntake(...)`")
        return self._queue

    # -- paho callbacks (the network thread) -------------------------------------------------

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
        self._generation += 1
        self._live_generation = self._generation
        logger.info(
            "MQTT connected as %s (session present: %s)", self.client_id, flags.session_present
        )
        if not flags.session_present:
            self.sessions_absent += 1
            self._signal_change()
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
            with self._held_lock:
                self._held_messages += 1
                self.held_peak_messages = max(self.held_peak_messages, self._held_messages)
            loop.call_soon_threadsafe(self._require_queue().put_nowait, message)

    # -- network thread ---------------------------------------------------------------------

    def _run_network(self, client: mqtt.Client) -> None:
        """The network thread: a failure in it ends `wait_failed` (and so the daemon), never
        leaves the edge deaf with its process still running."""
        try:
            self._network(client)
        except Exception as exc:
            logger.exception("MQTT network thread failed")
            loop, failed = self._loop, self._failed
            if loop is not None and failed is not None and not loop.is_closed():
                error = IntakeError(f"MQTT network thread failed: {exc!r}")
                loop.call_soon_threadsafe(_set_failed, failed, error)

    def _network(self, client: mqtt.Client) -> None:
        """Connect, then serve the socket until stopped; reconnect with backoff when it drops."""
        min_delay_s, max_delay_s = self._reconnect_delays_s
        delay_s = float(min_delay_s)
        while not self._stopping.is_set():
            if client.socket() is None:
                try:
                    client.reconnect()
                except OSError as exc:
                    logger.warning(
                        "MQTT connection to %s:%d failed (%s); retry in %.0f s",
                        self.host,
                        self.port,
                        exc,
                        delay_s,
                    )
                    self._stopping.wait(delay_s)
                    delay_s = min(2 * delay_s, max_delay_s)
                    continue
                delay_s = float(min_delay_s)
            self._serve(client)
            if client.socket() is None and not self._stopping.is_set():
                self._stopping.wait(min_delay_s)  # lost: let the broker notice before we return
        # Stopping: the acks asked for so far go out before the DISCONNECT.
        self._send_acks(client)
        client.disconnect()
        self._flush(client)

    def _serve(self, client: mqtt.Client) -> None:
        """Serve one connection until it drops or the intake stops."""
        while not self._stopping.is_set():
            sock = client.socket()
            if sock is None:
                return
            self._send_acks(client)
            room = self._has_room()
            pending_bytes = getattr(sock, "pending", lambda: 0)() if room else 0  # TLS buffer
            readers: list[Any] = [self._wake_r, sock] if room else [self._wake_r]
            writers: list[Any] = [sock] if client.want_write() else []
            try:
                readable, _, _ = select.select(
                    readers, writers, [], 0.0 if pending_bytes else SELECT_TIMEOUT_S
                )
            except (OSError, ValueError):  # the socket closed under us
                return
            if self._wake_r in readable:
                self._drain_wake()
            # One packet per loop_read (QoS 1 keeps no in-flight state in paho), so the room is
            # checked again before every message: the queue bound holds exactly.
            if (
                room
                and (sock in readable or pending_bytes)
                and client.loop_read() != MQTTErrorCode.MQTT_ERR_SUCCESS
            ):
                return
            self._send_acks(client)
            if client.want_write() and client.loop_write() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return
            if client.loop_misc() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                return

    def _send_acks(self, client: mqtt.Client) -> None:
        """PUBACK every persisted message still valid on this connection, in order (§4.6)."""
        while self._acks:
            message = self._acks.popleft()
            if message.connection == self._live_generation:
                client.ack(message.mid, message.qos)

    def _flush(self, client: mqtt.Client) -> None:
        """At exit: write what is queued (the DISCONNECT) for at most STOP_FLUSH_S."""
        deadline = time.monotonic() + STOP_FLUSH_S
        while (sock := client.socket()) is not None and client.want_write():
            remaining_s = deadline - time.monotonic()
            if remaining_s <= 0:
                break
            try:
                select.select([], [sock], [], remaining_s)
            except (OSError, ValueError):
                break
            if client.loop_write() != MQTTErrorCode.MQTT_ERR_SUCCESS:
                break

    def _has_room(self) -> bool:
        with self._held_lock:
            room = self._held_messages < self._queue_max_messages
        if room or self._paused:
            self._paused = not room
            return room
        # Backpressure (see the module docstring): stop reading until the committer takes one.
        self._paused = True
        self.pauses += 1
        self._signal_change()
        now_s = time.monotonic()
        if now_s - self._pause_logged_at >= PAUSE_LOG_INTERVAL_S:
            logger.warning(
                "intake queue full (%d messages): reading from the broker paused %d times since"
                " the last report, until the committer catches up (nothing lost; a slow disk,"
                " a backlog, or a broker that overruns its in-flight window)",
                self._queue_max_messages,
                self.pauses - self._pauses_logged,
            )
            self._pauses_logged = self.pauses
            self._pause_logged_at = now_s
        return False

    def _signal_change(self) -> None:
        loop, changed = self._loop, self._changed
        if loop is not None and changed is not None and not loop.is_closed():
            loop.call_soon_threadsafe(changed.set)

    def _wake(self) -> None:
        if self._wake_w is None:
            return
        with contextlib.suppress(OSError):  # already woken (buffer full), or closed at exit
            self._wake_w.send(b"\0")

    def _drain_wake(self) -> None:
        if self._wake_r is None:
            return
        with contextlib.suppress(OSError):  # BlockingIOError: drained
            while self._wake_r.recv(4096):
                pass

    # -- event-loop thread -------------------------------------------------------------------

    def _taken(self) -> None:
        """The committer took a message: there is room again; wake a paused network thread."""
        with self._held_lock:
            was_full = self._held_messages >= self._queue_max_messages
            self._held_messages -= 1
        if was_full:
            self._wake()
