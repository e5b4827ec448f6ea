"""run_edge: enter buffer, HTTP client and MQTT intake, then run the loops in one TaskGroup."""

import asyncio
import logging
import signal
import ssl
from collections.abc import Callable
from contextlib import suppress

import httpx

from contract.topics import site_subscriptions
from edge.buffer import Buffer
from edge.committer import Committer
from edge.errors import BufferWriteError
from edge.failpoints import Failpoints
from edge.metrics import EdgeMetrics, metrics_listener
from edge.mqtt_intake import MqttIntake, wall_clock_ms
from edge.settings import EdgeSettings
from edge.simclock import TickClock
from edge.uploader import Uploader

logger = logging.getLogger(__name__)


class StopRequested(Exception):
    """Raised in the TaskGroup on SIGTERM or SIGINT, so that the group cancels its tasks."""


async def log_stats(buffer: Buffer, *, interval_s: float) -> None:
    """One INFO line with the counters and the buffer depth every `interval_s`."""
    while True:
        await asyncio.sleep(interval_s)
        stats = await buffer.stats()
        logger.info(
            "stats: pending %d, dead letters %d, %s",
            stats.pending,
            stats.dead_letters,
            ", ".join(f"{name} {value}" for name, value in stats.counters.items()),
        )


async def record_intake_events(intake: MqttIntake, buffer: Buffer, *, fresh: bool) -> None:
    """Persist the intake's read pauses and lost broker sessions as buffer counters (which
    `canteen-edge status` shows and central receives with each batch), with a WARNING per loss.

    `fresh`: the buffer had never received a message, so the first connection has no session to
    find (a new edge); any later connection without one means the broker lost it. While the disk
    refuses writes, the counts wait in memory for the next change.
    """
    pauses = absent = 0
    first_expected = 1 if fresh else 0
    unsaved_pauses = unsaved_lost = 0
    while True:
        await intake.wait_changed()
        new_pauses, pauses = intake.pauses - pauses, intake.pauses
        new_absent, absent = intake.sessions_absent - absent, intake.sessions_absent
        expected = min(first_expected, new_absent)
        first_expected -= expected
        lost = new_absent - expected
        if lost:
            logger.warning(
                "MQTT broker had lost this edge's session (%d time(s); it restarted without its"
                " persistence): the broker kept nothing for the edge meanwhile, so readings"
                " published between its restart and this re-subscription are lost, and devices"
                " that resend unacknowledged messages cover only their own in-flight ones",
                lost,
            )
        unsaved_pauses += new_pauses
        unsaved_lost += lost
        if not (unsaved_pauses or unsaved_lost):
            continue
        try:
            await buffer.add_counters(
                intake_pauses=unsaved_pauses, broker_sessions_lost=unsaved_lost
            )
        except BufferWriteError as exc:
            logger.warning("intake counters not persisted yet (%s); kept for the next change", exc)
            continue
        unsaved_pauses = unsaved_lost = 0


def central_tls(settings: EdgeSettings) -> ssl.SSLContext | bool:
    """How the HTTP client verifies central: the CA bundle of EDGE_CENTRAL_CA_FILE, else the
    system's CAs (True). Never unverified."""
    if settings.central_ca_file is None:
        return True
    return ssl.create_default_context(cafile=settings.central_ca_file)


async def _wait_for_signal(stop: asyncio.Event) -> None:
    await stop.wait()
    raise StopRequested


async def run_edge(
    settings: EdgeSettings,
    *,
    transport: httpx.AsyncBaseTransport | None = None,
    ready: asyncio.Event | None = None,
    handle_signals: bool = True,
    clock_ms: Callable[[], int] = wall_clock_ms,
    sim_ticks: TickClock | None = None,
) -> None:
    """Run until cancelled or signalled.

    `transport` replaces the HTTP network (tests); `ready` is set once the MQTT subscriptions hold;
    `clock_ms` is the edge clock stamped on readings as their receive time (tests make it jump);
    `sim_ticks` replaces it by a lockstep simulation's clock, fed from its MQTT topic.
    """
    # The edge clock of receive times, and of health reports (so their ages compare).
    edge_clock_ms = clock_ms if sim_ticks is None else sim_ticks.now_ms
    failpoints = Failpoints.from_spec(settings.failpoints)
    metrics = EdgeMetrics(buffer_max_readings=settings.buffer_max_readings)
    if failpoints.armed:
        logger.warning("TEST FACILITY: failpoints armed %s", failpoints.armed)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    signals = (signal.SIGTERM, signal.SIGINT) if handle_signals else ()
    for sig in signals:
        # SIGTERM and Ctrl-C take the same path: the TaskGroup is cancelled.
        loop.add_signal_handler(sig, stop.set)
    try:
        async with (
            Buffer(
                settings.buffer_path,
                max_readings=settings.buffer_max_readings,
                overflow_policy=settings.overflow_policy,
                dead_letter_max_rows=settings.dead_letter_max_rows,
                dead_letter_max_payload_bytes=settings.dead_letter_max_payload_bytes,
                status_outbox_max_rows=settings.status_outbox_max_rows,
            ) as buffer,
            httpx.AsyncClient(
                timeout=settings.http_timeout_s, transport=transport, verify=central_tls(settings)
            ) as client,
            MqttIntake(
                host=settings.mqtt_host,
                port=settings.mqtt_port,
                client_id=settings.mqtt_client_id,
                topics=site_subscriptions(settings.site),
                username=settings.mqtt_username,
                password=(
                    None
                    if settings.mqtt_password is None
                    else settings.mqtt_password.get_secret_value()
                ),
                keepalive_s=settings.mqtt_keepalive_s,
                tls_ca_file=settings.mqtt_ca_file,
                # The intake's backpressure bound (docs/faults.md): four commits' worth at least,
                # and at most ~40 MiB of payloads (4 KiB each).
                queue_max_messages=max(10_000, 4 * settings.commit_max_readings),
                # A broker that restarted without the edge's session drops what devices publish
                # until the edge subscribes again: retry the (local) broker every 2 s at most.
                reconnect_max_delay_s=2,
                clock_ms=edge_clock_ms,
                tick_topic=None if sim_ticks is None else sim_ticks.topic,
                on_tick=None if sim_ticks is None else sim_ticks.tick,
            ) as intake,
            metrics_listener(
                buffer, metrics, settings.metrics_host, settings.metrics_port
            ) as metrics_server,
        ):
            uploader = Uploader(
                buffer,
                client,
                site=settings.site,
                edge_id=settings.id,
                central_url=settings.central_url,
                api_key=settings.api_key.get_secret_value(),
                batch_max_readings=settings.batch_max_readings,
                upload_interval_s=settings.upload_interval_s,
                backoff_initial_s=settings.backoff_initial_s,
                backoff_max_s=settings.backoff_max_s,
                max_readings_per_s=settings.upload_max_readings_per_s,
                live_share=settings.upload_live_share,
                isolate_after_failures=settings.upload_isolate_after_failures,
                failpoints=failpoints,
                metrics=metrics,
                health=lambda: buffer.health(edge_clock_ms()),
            )
            committer = Committer(
                intake,
                buffer,
                site=settings.site,
                person_key=settings.person_key.get_secret_value().encode(),
                known_devices=settings.known_devices,
                commit_max_readings=settings.commit_max_readings,
                commit_interval_ms=settings.commit_interval_ms,
                on_persisted=uploader.notify,
                commit_retry_s=settings.commit_retry_s,
                failpoints=failpoints,
                metrics=metrics,
            )
            logger.info(
                "edge %s for site %s: central %s, buffer %s",
                settings.id,
                settings.site,
                settings.central_url,
                settings.buffer_path,
            )
            fresh = (await buffer.stats()).counters["received"] == 0
            try:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(committer.run(), name="committer")
                    tasks.create_task(uploader.run(), name="uploader")
                    tasks.create_task(
                        log_stats(buffer, interval_s=settings.stats_interval_s), name="stats"
                    )
                    tasks.create_task(intake.wait_failed(), name="mqtt-network")
                    tasks.create_task(
                        record_intake_events(intake, buffer, fresh=fresh), name="intake-events"
                    )
                    tasks.create_task(_wait_for_signal(stop), name="signals")
                    if metrics_server is not None:
                        tasks.create_task(metrics_server.serve_forever(), name="metrics")
                    if ready is not None:
                        await intake.wait_subscribed()
                        ready.set()
            except* StopRequested:
                logger.info("edge %s stopping on signal", settings.id)
    finally:
        for sig in signals:
            with suppress(Exception):
                loop.remove_signal_handler(sig)
