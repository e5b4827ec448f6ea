"""Publishes planned canteen days over MQTT, paced by simulated time, and collects the ground truth.

One aiomqtt client per device, as on a real site: each announces a retained `online` status on
connect, registers the retained `offline` status as its last will (MQTT 3.1.1 §3.1.2.5) and
publishes `offline` itself on a clean shutdown. A device publishes its readings one at a time and
waits for the PUBACK, which keeps its sequence numbers in order on the wire (MQTT 3.1.1 §4.6).
All sites run concurrently in one TaskGroup.
"""

import asyncio
import logging
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from types import TracebackType

import aiomqtt

from simulators.canteen import DayPlan, plan_site_days
from simulators.devices import DEVICE_BY_ID, DeviceState, OutgoingMessage, fleet
from simulators.errors import BrokerError, ConfigurationError, SimulatorError
from simulators.faults import RenderedDay, SiteFaultInjector
from simulators.localtime import DayFrame
from simulators.lockstep import LockstepClock
from simulators.registry import Site, load_calendar, load_registry
from simulators.settings import SimulatorSettings
from simulators.truth import GroundTruth

logger = logging.getLogger(__name__)

_QUEUED_DAYS = 2  # days planned ahead of the slowest device of a site
_OFFLINE_TIMEOUT_S = 5.0

Batch = list[OutgoingMessage]


class SimClock:
    """Maps simulated instants to wall-clock deadlines: `speed` simulated seconds per second."""

    def __init__(self, origin_ms: int, speed: float, wall_origin_ms: int | None = None) -> None:
        self._origin_ms = origin_ms
        self._speed = speed
        self._loop = asyncio.get_running_loop()
        self._wall_origin_s = self._loop.time()
        if wall_origin_ms is not None:  # the loop's clock is monotonic: shift it to the wall's
            self._wall_origin_s += (wall_origin_ms - time.time_ns() // 1_000_000) / 1000.0

    async def wait_for(self, at_ms: int, timed_by_receipt: bool = False) -> None:
        """Sleep until simulated time `at_ms` is due; speed 0 never waits."""
        if self._speed <= 0:
            return
        due = self._wall_origin_s + (at_ms - self._origin_ms) / 1000.0 / self._speed
        delay = due - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)

    def leave(self) -> None:
        """A device task is done (nothing to do on a wall-paced clock)."""

    def pause(self) -> None:
        """A device task waits for its next batch (nothing to do on a wall-paced clock)."""

    def resume(self) -> None:
        """A device task has messages again (nothing to do on a wall-paced clock)."""


class DeviceLink:
    """`async with DeviceLink(...)`: one device's MQTT session, online on enter, offline on exit."""

    def __init__(self, settings: SimulatorSettings, state: DeviceState, online_ms: int) -> None:
        self.state = state
        self.qos = settings.qos
        self.stay_online = settings.stay_online
        self.last_ms = online_ms
        password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
        self._online_ms = online_ms
        self._client = aiomqtt.Client(
            settings.mqtt_host,
            settings.mqtt_port,
            username=settings.mqtt_username,
            password=password,
            identifier=f"canteen-sim-{state.site_id}-{state.spec.id}",
            will=aiomqtt.Will(state.status_topic, state.status("offline"), qos=1, retain=True),
            clean_session=True,
            timeout=settings.connect_timeout_s,
        )

    @property
    def name(self) -> str:
        return f"{self.state.site_id}/{self.state.spec.id}"

    async def __aenter__(self) -> "DeviceLink":
        try:
            await self._client.__aenter__()
        except aiomqtt.MqttError as exc:
            raise BrokerError(f"cannot connect: {exc}", device=self.name) from exc
        try:
            await self._client.publish(
                self.state.status_topic,
                self.state.status("online", self._online_ms),
                qos=1,
                retain=True,
            )
        except aiomqtt.MqttError as exc:
            await self._client.__aexit__(type(exc), exc, exc.__traceback__)
            raise BrokerError(f"cannot announce online: {exc}", device=self.name) from exc
        return self

    async def publish(self, message: OutgoingMessage) -> None:
        """Data at the configured QoS; status (a restart) retained at QoS 1 like the will."""
        qos, retain = (self.qos, False) if message.is_data else (1, True)
        try:
            await self._client.publish(message.topic, message.payload, qos=qos, retain=retain)
        except aiomqtt.MqttError as exc:
            raise BrokerError(f"publish not acknowledged: {exc}", device=self.name) from exc
        self.last_ms = message.due_ms
        raise_if_cancelled()

    async def _say_offline(self) -> None:
        try:
            async with asyncio.timeout(_OFFLINE_TIMEOUT_S):
                await self._client.publish(
                    self.state.status_topic,
                    self.state.status("offline", self.last_ms),
                    qos=1,
                    retain=True,
                )
        except (aiomqtt.MqttError, TimeoutError) as error:
            logger.warning("%s: could not publish offline status: %s", self.name, error)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # A clean DISCONNECT discards the will (MQTT 3.1.1 §3.14.4), so say 'offline' ourselves
        # (unless a complete run is to leave its devices online: the retained status stays).
        if not (self.stay_online and exc_type is None):
            await self._say_offline()
        try:
            await self._client.__aexit__(exc_type, exc, tb)
        except aiomqtt.MqttError as error:
            logger.warning("%s: unclean disconnect: %s", self.name, error)


def raise_if_cancelled() -> None:
    """Raise CancelledError in a task whose cancellation was requested but swallowed.

    aiomqtt awaits each acknowledgement with asyncio.wait_for, which on Python 3.11 loses a
    cancellation that races the PUBACK (CPython gh-86296, fixed in 3.12): the task would go on
    publishing the rest of its plan after Ctrl-C or SIGTERM. The request stays counted in
    `Task.cancelling()`, so a publishing loop that checks it after each publish stops as asked.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


@dataclass(frozen=True, slots=True)
class SiteRun:
    """What the tasks of one site share: its devices, their queues and the plan iterator."""

    site: Site
    devices: dict[str, DeviceState]
    queues: dict[str, asyncio.Queue[Batch | None]]
    plans: Iterator[DayPlan]
    injector: SiteFaultInjector


def select_sites(sites: tuple[Site, ...], wanted: tuple[str, ...]) -> tuple[Site, ...]:
    """The sites named by --sites (registry order), or all; unknown ids are an error."""
    if not wanted:
        return sites
    known = {site.id for site in sites}
    unknown = [s for s in wanted if s not in known]
    if unknown:
        raise ConfigurationError(
            f"sites {unknown} are not in the registry (known: {sorted(known)})"
        )
    return tuple(site for site in sites if site.id in wanted)


def resolve_start_date(settings: SimulatorSettings, sites: tuple[Site, ...]) -> date:
    """--start-date, or yesterday in the first site's time zone."""
    if settings.start_date is not None:
        return settings.start_date
    return datetime.now(sites[0].tz).date() - timedelta(days=1)


def _render_next_day(run: SiteRun) -> tuple[DayPlan, RenderedDay] | None:
    """Plan the site's next day and serialise it per device, with its faults (CPU work, run off
    the event loop)."""
    plan = next(run.plans, None)
    if plan is None:
        return None
    return plan, run.injector.render_day(plan)


async def _plan_site(run: SiteRun, truth: GroundTruth) -> None:
    while (rendered := await asyncio.to_thread(_render_next_day, run)) is not None:
        plan, day = rendered
        batches = day.batches
        truth.add_day(run.site.id, plan.frame.day, plan.truth, day.tally)
        logger.info(
            "site %s %s planned: %d meals, %d events",
            run.site.id,
            plan.frame.day,
            plan.truth.meals,
            len(plan.events),
        )
        for device, batch in batches.items():
            await run.queues[device].put(batch)
    for queue in run.queues.values():
        await queue.put(None)


async def _publish_device(
    link: DeviceLink,
    queue: asyncio.Queue[Batch | None],
    clock: SimClock | LockstepClock,
    truth: GroundTruth,
) -> None:
    site_id, kind = link.state.site_id, link.state.spec.kind
    try:
        while True:
            if queue.empty():
                # Waiting for the planner is not waiting for the clock: a device without
                # messages must not hold the clock back, or the planner (blocked on another
                # device's full queue, which waits for the clock) never feeds it.
                clock.pause()
                try:
                    batch = await queue.get()
                finally:
                    clock.resume()
            else:
                batch = queue.get_nowait()
            if batch is None:
                break
            for message in batch:
                await clock.wait_for(message.due_ms, message.timed_by_receipt)
                await link.publish(message)
                if message.is_data:
                    truth.count_published(site_id, kind)
    finally:
        clock.leave()


def _clock_client(settings: SimulatorSettings) -> aiomqtt.Client:
    """The MQTT session that publishes the lockstep clock's ticks."""
    password = settings.mqtt_password.get_secret_value() if settings.mqtt_password else None
    return aiomqtt.Client(
        settings.mqtt_host,
        settings.mqtt_port,
        username=settings.mqtt_username,
        password=password,
        identifier="canteen-sim-clock",
        clean_session=True,
        timeout=settings.connect_timeout_s,
    )


def _first_simulator_error(group: BaseExceptionGroup[BaseException]) -> SimulatorError | None:
    for error in group.exceptions:
        if isinstance(error, SimulatorError):
            return error
        if isinstance(error, BaseExceptionGroup):
            found = _first_simulator_error(error)
            if found is not None:
                return found
    return None


async def run_simulation(settings: SimulatorSettings) -> GroundTruth:
    """Simulate, publish every reading with acknowledgement, then write and return the truth."""
    sites = select_sites(load_registry(settings.registry), settings.sites)
    start_date = resolve_start_date(settings, sites)
    unknown = sorted(set(settings.raw_bins) - {"all"} - {s.id for s in sites})
    if unknown:
        raise ConfigurationError(
            f"--raw-bins names sites {unknown} that are not simulated"
            f" (simulated: {sorted(s.id for s in sites)})"
        )
    behaviour = settings.behaviour(load_calendar(settings.registry))
    faults = settings.fault_config()
    truth = GroundTruth(
        seed=settings.seed,
        start_date=start_date,
        days=settings.days,
        site_ids=tuple(s.id for s in sites),
    )
    runs = []
    for site in sites:
        devices = fleet(site.id, site.tz, seed=settings.seed, start_date=start_date)
        runs.append(
            SiteRun(
                site=site,
                devices=devices,
                queues={device: asyncio.Queue(maxsize=_QUEUED_DAYS) for device in DEVICE_BY_ID},
                plans=plan_site_days(
                    site,
                    seed=settings.seed,
                    start_date=start_date,
                    days=settings.days,
                    meter_interval_s=settings.meter_interval_s,
                    behaviour=behaviour,
                ),
                injector=SiteFaultInjector(
                    site,
                    devices,
                    faults,
                    seed=settings.seed,
                    start_date=start_date,
                    meter_interval_s=settings.meter_interval_s,
                    raw_bins=settings.raw_bins_at(site.id),
                ),
            )
        )
    origins = {run.site.id: DayFrame.of(start_date, run.site.tz).midnight_ms for run in runs}
    logger.info(
        "simulating %s from %s for %d day(s), seed %d, speed %s, faults %s x%s, broker %s:%d",
        ",".join(origins),
        start_date,
        settings.days,
        settings.seed,
        settings.speed,
        ",".join(settings.faults) or "none",
        settings.fault_rate,
        settings.mqtt_host,
        settings.mqtt_port,
    )
    try:
        async with AsyncExitStack() as stack:
            links: list[tuple[SiteRun, DeviceLink]] = []
            for run in runs:
                for state in run.devices.values():
                    link = DeviceLink(settings, state, origins[run.site.id])
                    links.append((run, await stack.enter_async_context(link)))
            clock: SimClock | LockstepClock
            if settings.clock_topic is not None:
                ticker = await stack.enter_async_context(_clock_client(settings))
                topic = settings.clock_topic

                async def publish_tick(now_ms: int) -> None:
                    try:
                        await ticker.publish(topic, str(now_ms).encode(), qos=1)
                    except aiomqtt.MqttError as exc:
                        raise BrokerError(f"clock tick not acknowledged: {exc}") from exc
                    raise_if_cancelled()

                step_ms = round(settings.clock_step_s * 1000)
                clock = LockstepClock(len(links), step_ms, publish_tick)
            else:
                clock = SimClock(
                    min(origins.values()), settings.speed, settings.clock_wall_origin_ms
                )
            async with asyncio.TaskGroup() as tasks:
                if isinstance(clock, LockstepClock):
                    tasks.create_task(clock.run(), name="lockstep-clock")
                for run in runs:
                    tasks.create_task(_plan_site(run, truth), name=f"plan-{run.site.id}")
                for run, link in links:
                    queue = run.queues[link.state.spec.id]
                    tasks.create_task(
                        _publish_device(link, queue, clock, truth), name=f"publish-{link.name}"
                    )
    except BaseExceptionGroup as group:
        error = _first_simulator_error(group)
        if error is not None:
            raise error from group
        raise
    for site_id, site_truth in truth.sites.items():
        document = site_truth.to_json()
        logger.info(
            "site %s: published %s, faults %s", site_id, document["published"], document["faults"]
        )
    if settings.truth_out is not None:
        truth.write(settings.truth_out)
        logger.info("ground truth written to %s", settings.truth_out)
    return truth
