"""Fault injection: docs/domain.md's dirty data, applied to device messages, not the canteen.

Faults act when a planned day is rendered into messages: they change registers as the meters
display them, drop, delay, repeat and re-number messages, and restart devices. The canteen's
events and ground truth stay exactly what they are without faults, because every fault draw comes
from its own random stream, seeded by (seed, site, date, "faults", device, fault), apart from the
canteen's streams. Double swipes are the one fault drawn while planning (simulators.canteen),
from a draw the planner makes whatever the rate, so they leave every other event unchanged too.

Incidents of one device never overlap and keep `MARGIN_READINGS` normal readings between them, so
that each one looks on the wire exactly as documented (a reset is preceded by a normal reading,
the readings bracketing a gap are genuine, a spike is followed by a normal reading).
"""

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from enum import StrEnum

import numpy as np

from contract.units import Quantity
from simulators.canteen import DayPlan, seed_sequence
from simulators.devices import KITCHEN_BINS, DeviceState, OutgoingMessage, boot_id
from simulators.events import CardSwipe, Event, MeterReading, Weighing
from simulators.localtime import MS_PER_MINUTE
from simulators.rawbins import RawBins
from simulators.registry import Site
from simulators.truth import DAY_WINDOW, FaultTally

MARGIN_READINGS = 2  # normal readings of a device kept between two of its incidents
STEPS_PER_UNIT = 1000  # registers are published to 0.001 kWh or m3 (meters.REGISTER_RESOLUTION)
_PLACEMENT_TRIES = 50


class Fault(StrEnum):
    """The faults `--faults` can switch on (docs/domain.md, 'Dirty data')."""

    METER_RESET = "meter_reset"
    METER_WRAP = "meter_wrap"
    METER_SPIKE = "meter_spike"
    METER_DIP = "meter_dip"
    METER_GAP = "meter_gap"
    DUPLICATE = "duplicate"
    DEVICE_REBOOT = "device_reboot"
    LATE = "late"
    DOUBLE_SWIPE = "double_swipe"
    VISITOR = "visitor"  # a diner pays as a visitor, without a card (still one diner)
    CLOCK_SKEW = "clock_skew"
    SCALE_DRIFT = "scale_drift"  # zero drift of a raw kitchen bin's empty platform (--raw-bins)


# Every fault. clock_skew is only detectable when the edges stamp receive times with the
# simulator's clock (a shared simulated clock: --clock-topic or --clock-wall-origin-ms; see
# docs/simulator-faults.md); against edges on the wall clock it corrupts the ground truth.
ALL_FAULTS: tuple[Fault, ...] = tuple(Fault)


def parse_faults(value: object) -> tuple[Fault, ...]:
    """'meter_gap,late' or 'all' (or a list of names) to faults; unknown names are an error."""
    if isinstance(value, str):
        names = [part.strip() for part in value.split(",") if part.strip()]
    elif isinstance(value, Iterable):
        names = [part.strip() for item in value for part in str(item).split(",") if part.strip()]
    else:
        raise ValueError(f"faults must be a comma-separated list of names, not {value!r}")
    if "all" in names:
        return ALL_FAULTS
    known = {f.value for f in Fault}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ValueError(f"unknown faults {unknown}; known: all, {', '.join(sorted(known))}")
    return tuple(f for f in Fault if f.value in names)


@dataclass(frozen=True, slots=True)
class FaultRates:
    """Base frequency of each fault, multiplied by --fault-rate (expected incidents, Poisson)."""

    meter_reset_per_meter_day: float = 0.2
    meter_spike_per_meter_day: float = 0.5
    meter_dip_per_meter_day: float = 0.5
    meter_gap_per_meter_day: float = 0.3
    meter_gap_min: tuple[float, float] = (20.0, 180.0)
    device_reboot_per_device_day: float = 0.1
    late_per_device_day: float = 0.1
    late_outage_min: tuple[float, float] = (10.0, 60.0)
    duplicate_per_message: float = 0.002
    # Probability that a meter's register starts close below its modulus and wraps on day 1
    # (capped at 1: a register cannot wrap more often without consuming more).
    meter_wrap_per_meter_run: float = 1.0
    clock_skew_per_device_day: float = 0.2
    clock_skew_readings: tuple[int, int] = (1, 5)  # readings of one stretch
    # |shift| of a stretch: ahead 1-12 h, or behind 2-12 h (beyond the 90 min central allows a
    # device to buffer late data, docs/kpis.md); or, with clock_skew_1970_p, 1970 + 0-30 days
    clock_skew_ahead_h: tuple[float, float] = (1.0, 12.0)
    clock_skew_behind_h: tuple[float, float] = (2.0, 12.0)
    clock_skew_1970_p: float = 1 / 3
    scale_drift_per_emptying: float = 0.5  # probability (times rate, at most 1)
    dip_steps: tuple[int, int] = (1, 5)  # a dip shows the previous register minus 0.001-0.005
    spike_bits: tuple[int, int] = (16, 20)  # a bit error adds 2^16 .. 2^20 units


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Which faults are on, and the multiplier of their base frequencies."""

    faults: frozenset[Fault] = frozenset()
    rate: float = 1.0
    rates: FaultRates = field(default_factory=FaultRates)

    def on(self, fault: Fault) -> bool:
        return fault in self.faults and self.rate > 0


@dataclass(frozen=True, slots=True)
class Gap:
    """Readings a meter never sent: the consumption in `[last_before_ms, first_after_ms)` is known
    in total (the two bracketing readings) but not in time."""

    device: str
    quantity: Quantity
    last_before_ms: int
    first_after_ms: int
    missed: int


@dataclass(slots=True)
class RenderedDay:
    """A site-day as messages per device (in publishing order), with the faults it carries."""

    batches: dict[str, list[OutgoingMessage]]
    tally: FaultTally
    gaps: list[Gap]


class _Slots:
    """Indices of one device-day's readings claimed by incidents, with a margin between them."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._claimed: list[tuple[int, int]] = []

    def claim(self, low: int, high: int) -> bool:
        if low < 0 or high >= self.count or low > high:
            return False
        for a, b in self._claimed:
            if low <= b + MARGIN_READINGS and a <= high + MARGIN_READINGS:
                return False
        self._claimed.append((low, high))
        return True


@dataclass(slots=True)
class _Plan:
    """Incidents of one device-day, by reading index."""

    restarts: dict[int, int] = field(default_factory=dict)  # index -> instant of the restart
    resets: set[int] = field(default_factory=set)  # register is 0 at the previous reading
    spikes: dict[int, tuple[str, int]] = field(default_factory=dict)  # index -> ("x1000"|"bit", k)
    dips: dict[int, int] = field(default_factory=dict)  # index -> steps below the previous
    gaps: list[tuple[int, int]] = field(default_factory=list)  # [first missing, first after)
    late: dict[int, int] = field(default_factory=dict)  # index -> publish instant
    late_outages: int = 0
    skewed: dict[int, int] = field(default_factory=dict)  # index -> the device clock's time
    skews: int = 0


@dataclass(slots=True)
class _MeterDisplay:
    """What a meter shows: (true register + offset) modulo the modulus, in 0.001 steps."""

    modulus_steps: int
    offset_steps: int = 0
    last_steps: int | None = None  # true register + offset at the previous grid reading


class SiteFaultInjector:
    """Renders a site's planned days, in order, into messages with the configured faults."""

    def __init__(
        self,
        site: Site,
        devices: dict[str, DeviceState],
        config: FaultConfig,
        *,
        seed: int,
        start_date: date,
        meter_interval_s: int,
        raw_bins: bool = False,
    ) -> None:
        self.site = site
        # kitchen bins publish their gross weight (simulators.rawbins) instead of net deposits
        self.raw_bins = RawBins() if raw_bins else None
        self.devices = devices
        self.config = config
        self.seed = seed
        self.start_date = start_date
        self.meter_interval_s = meter_interval_s
        self._displays: dict[str, _MeterDisplay] = {}
        self._first_day = True

    def _rng(self, day: date, device: str, fault: Fault) -> np.random.Generator:
        return np.random.default_rng(
            seed_sequence(self.seed, self.site.id, day.toordinal(), "faults", device, fault.value)
        )

    def _count(
        self, day: date, device: str, fault: Fault, base: float
    ) -> tuple[int, np.random.Generator]:
        rng = self._rng(day, device, fault)
        if not self.config.on(fault):
            return 0, rng
        return int(rng.poisson(base * self.config.rate)), rng

    def render_day(self, plan: DayPlan) -> RenderedDay:
        tally = FaultTally()
        gaps: list[Gap] = []
        batches: dict[str, list[OutgoingMessage]] = {}
        swipes = sum(1 for e in plan.events if isinstance(e, CardSwipe))
        tally.counts[Fault.DOUBLE_SWIPE.value] = swipes - plan.truth.meals
        tally.counts[Fault.VISITOR.value] = sum(
            1 for e in plan.events if isinstance(e, CardSwipe) and e.card is None
        )
        for device, events in plan.by_device().items():
            if self.raw_bins is not None and device in KITCHEN_BINS:
                events = self._raw_bin(plan, device, events, tally)
            batches[device] = self._render_device(plan, device, events, tally, gaps)
        self._first_day = False
        for gap in gaps:
            self._gap_energy(plan, gap, tally)
        return RenderedDay(batches, tally, gaps)

    def _raw_bin(
        self, plan: DayPlan, device: str, events: list[Event], tally: FaultTally
    ) -> list[Event]:
        """The bin's deposits as a gross-weight stream, with zero drift if scale_drift is on."""
        assert self.raw_bins is not None
        day = plan.frame.day
        drift_p = (
            min(1.0, self.config.rates.scale_drift_per_emptying * self.config.rate)
            if self.config.on(Fault.SCALE_DRIFT)
            else 0.0
        )
        played = self.raw_bins.play(
            plan.frame,
            device,
            [e for e in events if isinstance(e, Weighing)],
            np.random.default_rng(
                seed_sequence(self.seed, self.site.id, day.toordinal(), "rawbins", device)
            ),
            self._rng(day, device, Fault.SCALE_DRIFT),
            drift_p,
        )
        tally.counts[Fault.SCALE_DRIFT.value] += played.drifts
        tally.bins["emptyings"] += played.emptyings
        tally.bins["unstable_readings"] += played.unstable
        return list(played.readings)

    # --- placing incidents -------------------------------------------------------------------

    def _place(
        self, plan: DayPlan, device: str, events: Sequence[Event], wrap_index: int | None
    ) -> _Plan:
        rates, day, count = self.config.rates, plan.frame.day, len(events)
        slots = _Slots(count)
        incidents = _Plan()
        times = [e.at_ms for e in events]
        if wrap_index is not None:
            slots.claim(max(wrap_index - 1, 0), wrap_index)

        def place(
            fault: Fault, base: float, span: Callable[[np.random.Generator], int]
        ) -> Iterator[tuple[int, int, np.random.Generator]]:
            """(i, extent, rng) per incident placed: readings [i-1, i+extent] are its own."""
            wanted, rng = self._count(day, device, fault, base)
            for _ in range(wanted):
                extent = span(rng)
                for _ in range(_PLACEMENT_TRIES):
                    if count < 2:
                        break
                    i = int(rng.integers(1, count))
                    if slots.claim(i - 1, i + extent):
                        yield i, extent, rng
                        break

        if events and isinstance(events[0], MeterReading):
            interval_ms = self.meter_interval_s * 1000
            low, high = rates.meter_gap_min

            def gap_readings(rng: np.random.Generator) -> int:
                return max(1, round(rng.uniform(low, high) * MS_PER_MINUTE / interval_ms))

            for i, missed, _ in place(Fault.METER_GAP, rates.meter_gap_per_meter_day, gap_readings):
                incidents.gaps.append((i, i + missed))  # reading i + missed is the first after
            for i, _, _ in place(Fault.METER_RESET, rates.meter_reset_per_meter_day, _none):
                if wrap_index is None or i > wrap_index:  # a reset before it would undo the wrap
                    incidents.resets.add(i)
            bits, steps = rates.spike_bits, rates.dip_steps
            for i, _, rng in place(Fault.METER_SPIKE, rates.meter_spike_per_meter_day, _one):
                kind = "x1000" if rng.random() < 0.5 else "bit"
                incidents.spikes[i] = (kind, int(rng.integers(bits[0], bits[1] + 1)))
            for i, _, rng in place(Fault.METER_DIP, rates.meter_dip_per_meter_day, _one):
                incidents.dips[i] = int(rng.integers(steps[0], steps[1] + 1))
        for i, _, rng in place(Fault.DEVICE_REBOOT, rates.device_reboot_per_device_day, _none):
            previous = times[i - 1]
            incidents.restarts[i] = min(
                times[i], previous + 1 + int(rng.integers(0, max(1, times[i] - previous)))
            )
        low_n, high_n = rates.clock_skew_readings
        for i, extent, rng in place(
            Fault.CLOCK_SKEW,
            rates.clock_skew_per_device_day,
            lambda r: int(r.integers(low_n, high_n + 1)) - 1,
        ):
            # readings i .. i + extent carry the wrong clock; the clock is right again after it
            draw = rng.random()
            if draw < rates.clock_skew_1970_p:
                start = int(rng.integers(0, 30 * 24 * 60)) * MS_PER_MINUTE  # 1970 + 0-30 days
                offset = start - times[i]
            else:
                ahead = rng.random() < 0.5
                low_h, high_h = rates.clock_skew_ahead_h if ahead else rates.clock_skew_behind_h
                shift = round(rng.uniform(low_h, high_h) * 60 * MS_PER_MINUTE)
                offset = shift if ahead else -shift
            incidents.skews += 1
            incidents.skewed.update({j: times[j] + offset for j in range(i, i + extent + 1)})
        wanted, rng = self._count(day, device, Fault.LATE, rates.late_per_device_day)
        low, high = rates.late_outage_min
        for _ in range(wanted):
            for _ in range(_PLACEMENT_TRIES):
                if not count:
                    break
                # The outage starts at reading i: readings in [t_i, until) wait until it ends.
                i = int(rng.integers(0, count))
                until_ms = times[i] + round(rng.uniform(low, high) * MS_PER_MINUTE)
                after = next((j for j in range(i, count) if times[j] >= until_ms), count)
                if until_ms < plan.frame.end_ms and slots.claim(
                    max(i - 1, 0), min(after, count - 1)
                ):
                    incidents.late_outages += 1
                    incidents.late.update({j: until_ms for j in range(i, after)})
                    break
        return incidents

    # --- rendering -----------------------------------------------------------------------------

    def _display(
        self, plan: DayPlan, device: str, events: Sequence[Event]
    ) -> tuple[_MeterDisplay, int | None]:
        """The meter's display, set close below the modulus on day 1 if meter_wrap is on."""
        first = events[0]
        assert isinstance(first, MeterReading)
        modulus = self.site.meter(first.quantity).wrap_modulus
        display = self._displays.get(device)
        if display is None:
            display = _MeterDisplay(modulus_steps=round(modulus * STEPS_PER_UNIT))
            self._displays[device] = display
            rng = self._rng(plan.frame.day, device, Fault.METER_WRAP)
            chance = min(1.0, self.config.rates.meter_wrap_per_meter_run * self.config.rate)
            if self.config.on(Fault.METER_WRAP) and rng.random() < chance:
                start = _steps(first)
                used = _steps(events[-1]) - start
                if used > 0:
                    # The wrap falls 20-80% of the way through day 1's consumption.
                    before_wrap = max(1, round(rng.uniform(0.2, 0.8) * used))
                    display.offset_steps = display.modulus_steps - before_wrap - start
        wrap_index = None
        if self._first_day and display.offset_steps:
            for index, event in enumerate(events):
                if _steps(event) + display.offset_steps >= display.modulus_steps:
                    wrap_index = index
                    break
        return display, wrap_index

    def _render_device(
        self,
        plan: DayPlan,
        device: str,
        events: list[Event],
        tally: FaultTally,
        gaps: list[Gap],
    ) -> list[OutgoingMessage]:
        state = self.devices[device]
        display, wrap_index = (
            self._display(plan, device, events)
            if events and isinstance(events[0], MeterReading)
            else (None, None)
        )
        incidents = self._place(plan, device, events, wrap_index)
        missing = {j for first, end in incidents.gaps for j in range(first, end)}
        dup_rng = self._rng(plan.frame.day, device, Fault.DUPLICATE)
        duplicate_p = (
            min(1.0, self.config.rates.duplicate_per_message * self.config.rate)
            if self.config.on(Fault.DUPLICATE)
            else 0.0
        )
        counts = tally.counts
        out: list[OutgoingMessage] = []
        previous_shown: int | None = None
        for index, event in enumerate(events):
            if index in incidents.restarts:
                out.extend(self._restart(state, incidents.restarts[index]))
                counts[Fault.DEVICE_REBOOT.value] += 1
            shown_event = event
            if isinstance(event, MeterReading) and display is not None:
                if index in incidents.resets:
                    # Power-cycled right after the previous reading: from there the register
                    # counts from 0, so the first reading shows the consumption since then.
                    out.extend(self._restart(state, events[index - 1].at_ms + 1))
                    display.offset_steps = -_steps(events[index - 1])
                    display.last_steps = None
                    counts[Fault.METER_RESET.value] += 1
                value = _steps(event) + display.offset_steps
                if display.last_steps is not None:
                    counts[Fault.METER_WRAP.value] += (
                        value // display.modulus_steps - display.last_steps // display.modulus_steps
                    )
                display.last_steps = value
                shown = value % display.modulus_steps
                if index in missing:
                    continue
                genuine = shown
                if index in incidents.spikes:
                    kind, bit = incidents.spikes[index]
                    if kind == "x1000" and shown >= STEPS_PER_UNIT:
                        shown *= 1000
                    else:
                        shown += (1 << bit) * STEPS_PER_UNIT
                    counts[Fault.METER_SPIKE.value] += 1
                elif (
                    index in incidents.dips
                    and previous_shown is not None
                    and previous_shown >= STEPS_PER_UNIT
                ):
                    shown = previous_shown - incidents.dips[index]
                    counts[Fault.METER_DIP.value] += 1
                previous_shown = genuine
                shown_event = replace(event, register=shown / STEPS_PER_UNIT)
            if index in incidents.skewed:
                # the payload's ts is the wrong clock's; it is still published when it happens
                message = replace(
                    state.render(replace(shown_event, at_ms=incidents.skewed[index])),
                    at_ms=event.at_ms,
                    timed_by_receipt=True,
                )
                tally.readings[Fault.CLOCK_SKEW.value] += 1
            else:
                message = state.render(shown_event)
            if index in incidents.late:
                message = replace(message, publish_at_ms=incidents.late[index])
                tally.readings[Fault.LATE.value] += 1
            out.append(message)
            if duplicate_p and dup_rng.random() < duplicate_p:
                out.append(message)  # the same bytes, boot and seq: a redelivery
                counts[Fault.DUPLICATE.value] += 1
        counts[Fault.LATE.value] += incidents.late_outages
        counts[Fault.CLOCK_SKEW.value] += incidents.skews
        for first, end in incidents.gaps:
            reading = events[first]
            assert isinstance(reading, MeterReading)
            gaps.append(
                Gap(
                    device,
                    reading.quantity,
                    events[first - 1].at_ms,
                    events[end].at_ms,
                    end - first,
                )
            )
            counts[Fault.METER_GAP.value] += 1
            tally.readings[Fault.METER_GAP.value] += end - first
        return out

    def _restart(self, state: DeviceState, at_ms: int) -> list[OutgoingMessage]:
        new_boot = boot_id(
            self.seed, state.site_id, state.spec.id, self.start_date, state.generation + 1
        )
        return state.restart(at_ms, new_boot)

    def _gap_energy(self, plan: DayPlan, gap: Gap, tally: FaultTally) -> None:
        """Add the gap's consumption inside each energy window and the day to the tally."""
        frame, trace = plan.frame, plan.traces[gap.quantity]
        windows = [(DAY_WINDOW, frame.midnight_ms, frame.end_ms)]
        windows.extend(
            (s.name, frame.at(s.prep_start_min), frame.at(s.end_min)) for s in self.site.services
        )
        for name, begin_ms, end_ms in windows:
            low, high = max(begin_ms, gap.last_before_ms), min(end_ms, gap.first_after_ms)
            if high > low:
                used = trace.register_at(high - frame.midnight_ms) - trace.register_at(
                    low - frame.midnight_ms
                )
                tally.add_gap_energy(name, gap.quantity, used)


def _none(_rng: np.random.Generator) -> int:
    return 0


def _one(_rng: np.random.Generator) -> int:
    return 1


def _steps(event: Event) -> int:
    assert isinstance(event, MeterReading)
    return round(event.register * STEPS_PER_UNIT)
