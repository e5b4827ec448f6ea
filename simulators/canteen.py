"""Pure planning of a canteen's days: diners, trays, waste and meter readings, with the truth.

No MQTT here. Every random draw comes from a numpy Generator seeded by (seed, site id, date, topic)
through a SeedSequence with a stable hash of the site id, so the same inputs give the same events.
Every event is generated inside the window docs/architecture.md attributes it to, so a correct
pipeline reproduces the truth: counts exactly, masses and energy up to display rounding.
"""

import hashlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, timedelta

import numpy as np
import numpy.typing as npt

from contract.units import LossReason, Quantity, Stream
from simulators import meters
from simulators.demand import DEFAULT_MENU, DISHES_PER_SERVICE, Demand
from simulators.devices import (
    BIN_PREP,
    BIN_SPOILAGE,
    CARD_READERS,
    DEVICE_BY_ID,
    DEVICES,
    METER_BY_QUANTITY,
    PLATE_SCALES,
    SCALE_OVER,
)
from simulators.errors import ConfigurationError
from simulators.events import CardSwipe, Event, MeterReading, Weighing
from simulators.localtime import MS_PER_MINUTE, DayFrame
from simulators.registry import Service, Site
from simulators.truth import DayTruth, ServiceTruth

FloatArray = npt.NDArray[np.float64]

CARD_NUMBER_MIN = 1_000_000_000  # 10-digit card numbers
CARD_NUMBER_SPAN = 9_000_000_000


@dataclass(frozen=True, slots=True)
class Behaviour:
    """Tunable behaviour of diners and kitchen; defaults in docs/domain.md's plausible ranges."""

    attendance: tuple[tuple[str, float], ...] = (
        ("breakfast", 0.35),
        ("lunch", 0.75),
        ("dinner", 0.25),
    )
    other_attendance: float = 0.5
    # calendar, weekday pattern, meetings, noise (simulators.demand)
    demand: Demand = field(default_factory=Demand)
    # food the kitchen plans per diner, g (the registry's services' portion_g in the demo)
    portion_g: tuple[tuple[str, float], ...] = (
        ("breakfast", 250.0),
        ("lunch", 450.0),
        ("dinner", 400.0),
    )
    other_portion_g: float = 400.0
    double_swipe_rate: float = 0.02
    visitor_rate: float = 0.0  # share of diners who eat as visitors, without a card
    tray_card_rate: float = 0.4  # trays whose plate payload carries the diner's card
    clean_plate_probability: tuple[float, float] = (0.3, 0.5)
    clean_plate_max_g: float = 8.0
    leftover_median_g: float = 70.0
    leftover_sigma: float = 0.7
    leftover_range_g: tuple[float, float] = (15.0, 600.0)
    dwell_min: tuple[float, float] = (12.0, 35.0)  # arrival to tray return
    prep_deposits: tuple[int, int] = (8, 20)
    prep_mass_g: tuple[float, float] = (200.0, 3000.0)
    prep_g_per_diner: tuple[float, float] = (15.0, 45.0)
    over_deposits: tuple[int, int] = (2, 6)
    over_g_per_diner: tuple[float, float] = (10.0, 35.0)  # left over however well one cooks
    # of the food cooked by habit for diners who did not come, the part that is thrown away
    # (the rest goes into larger portions or the next meal)
    surplus_waste_share: float = 0.5
    over_pan_g: float = 2500.0  # typical mass of one pan of leftover food
    over_after_end_min: int = 45
    spoilage_deposits: tuple[int, int] = (0, 3)
    spoilage_mass_g: tuple[float, float] = (300.0, 4000.0)
    spoilage_window_min: tuple[int, int] = (14 * 60, 16 * 60)

    def attendance_rate(self, service: str, day: date) -> float:
        """The expected share of the staff eating at `service` on `day`, meetings aside."""
        return self.usual_rate(service) * self.demand.factor(day)

    def usual_rate(self, service: str) -> float:
        return dict(self.attendance).get(service, self.other_attendance)

    def habit_diners(self, service: str, day: date, staff: int) -> int:
        """The fixed number the kitchen cooks for: a usual working day's (or off day's) diners."""
        off = 1.0 if self.demand.working(day) else self.demand.off_day_factor
        return round(staff * self.usual_rate(service) * off)

    def portion(self, service: str) -> float:
        return dict(self.portion_g).get(service, self.other_portion_g)


def _words(value: int | str) -> list[int]:
    """32-bit words for SeedSequence; strings through BLAKE2b (stable across processes)."""
    if isinstance(value, str):
        digest = hashlib.blake2b(value.encode(), digest_size=8).digest()
        return [int.from_bytes(digest[:4], "little"), int.from_bytes(digest[4:], "little")]
    return [value & 0xFFFFFFFF, (value >> 32) & 0xFFFFFFFF]


def seed_sequence(seed: int, site_id: str, *topic: int | str) -> np.random.SeedSequence:
    entropy: list[int] = [*_words(seed), *_words(site_id)]
    for part in topic:
        entropy.extend(_words(part))
    return np.random.SeedSequence(entropy)


def staff_cards(seed: int, site: Site) -> list[str]:
    """Stable, distinct 10-digit card numbers of the site's registered staff."""
    rng = np.random.default_rng(seed_sequence(seed, site.id, "staff"))
    numbers = (
        rng.choice(CARD_NUMBER_SPAN, size=site.registered_staff, replace=False) + CARD_NUMBER_MIN
    )
    return [str(int(n)) for n in numbers]


def quantise_paired(true_g: FloatArray, division_g: float) -> tuple[FloatArray, FloatArray]:
    """Displays rounded to the division, and true masses whose rounding errors cancel in pairs.

    Each true mass stays within half a division of its display, as on a real scale; pairing the
    errors (+e, -e) makes the sum of displays equal the sum of true masses, so a pipeline's waste
    totals match the truth exactly however few deposits a service has.
    """
    shown = np.round(true_g / division_g) * division_g
    error = true_g - shown
    count = error.size
    error[1::2] = -error[0 : count - 1 : 2]
    if count % 2:
        error[-1] = 0.0
    return shown + error, shown


def check_meter_grid(site: Site, meter_interval_s: int) -> None:
    """Refuse a meter grid that misses an energy window boundary (the truth would be inexact).

    Also refuse an interval that contradicts the registry's `[[sites.meters]]` interval_s, which
    central uses to count the readings it expects.
    """
    for meter in site.meters:
        if meter.interval_s is not None and meter.interval_s != meter_interval_s:
            raise ConfigurationError(
                f"site {site.id}: the registry says {meter.device} reads every "
                f"{meter.interval_s} s but the simulator runs with --meter-interval-s "
                f"{meter_interval_s}"
            )
    for service in site.services:
        for boundary in (service.prep_start_min, service.end_min):
            if (boundary * 60) % meter_interval_s:
                raise ConfigurationError(
                    f"site {site.id}: {service.name} window boundary at minute {boundary} "
                    f"is not on the {meter_interval_s} s meter grid"
                )


@dataclass(frozen=True, slots=True)
class DayPlan:
    """Everything one site does on one local date, in time order, and its ground truth."""

    site_id: str
    frame: DayFrame
    events: tuple[Event, ...]
    truth: DayTruth
    traces: dict[Quantity, meters.RegisterTrace]

    def by_device(self) -> dict[str, list[Event]]:
        """Events per device id, in time order (the order their sequence numbers follow)."""
        grouped: dict[str, list[Event]] = {spec.id: [] for spec in DEVICES}
        for event in self.events:
            grouped[event.device].append(event)
        return grouped


@dataclass(slots=True)
class _ServiceDraw:
    events: list[Event]
    truth: ServiceTruth
    expected_diners: float


def _uniform_ms(rng: np.random.Generator, begin_ms: int, end_ms: int, size: int) -> list[int]:
    """`size` instants in `[begin_ms, end_ms)`, millisecond resolution."""
    if size == 0:
        return []
    return [int(x) for x in rng.integers(begin_ms, end_ms, size=size)]


def _scale_deposits(
    *,
    device: str,
    stream: Stream,
    service: str | None,
    times_ms: list[int],
    true_g: FloatArray,
) -> list[Weighing]:
    true, shown = quantise_paired(true_g, DEVICE_BY_ID[device].division_g)
    return [
        Weighing(
            at_ms=t,
            device=device,
            stream=stream,
            true_g=float(m),
            shown_g=float(s),
            service=service,
        )
        for t, m, s in zip(times_ms, true, shown, strict=True)
    ]


class _DayPlanner:
    """Draws one site-day; split out of plan_site_days so that each concern has its own RNG."""

    def __init__(
        self, site: Site, cards: Sequence[str], behaviour: Behaviour, seed: int, frame: DayFrame
    ):
        self.site = site
        self.cards = cards
        self.behaviour = behaviour
        self.frame = frame
        self.seed = seed
        diners_ss, waste_ss, meters_ss = seed_sequence(seed, site.id, frame.day.toordinal()).spawn(
            3
        )
        self.diners_rng = np.random.default_rng(diners_ss)
        self.waste_rng = np.random.default_rng(waste_ss)
        self.meters_rng = np.random.default_rng(meters_ss)

    def service(self, service: Service) -> _ServiceDraw:
        b, rng, frame = self.behaviour, self.diners_rng, self.frame
        start_ms, end_ms = frame.at(service.start_min), frame.at(service.end_min)
        waste_end_ms = frame.at(service.waste_end_min)
        meeting = self.meeting_share(service)
        expected_rate = b.attendance_rate(service.name, frame.day) + meeting
        noise = b.demand.noise
        rate = min(1.0, expected_rate * rng.uniform(1.0 - noise, 1.0 + noise))
        staff = self.site.registered_staff
        habit = b.habit_diners(service.name, frame.day, staff)
        diners = int(rng.binomial(staff, rate))
        persons = rng.choice(staff, size=diners, replace=False)
        # Arrivals peak early in the service: Beta(2, 3) over [start, end), strictly before end.
        arrivals = start_ms + np.floor(rng.beta(2.0, 3.0, diners) * (end_ms - start_ms)).astype(
            np.int64
        )
        arrivals = np.minimum(arrivals, end_ms - 1)
        readers = rng.integers(0, len(CARD_READERS), diners)
        doubles = rng.random(diners) < b.double_swipe_rate
        double_gap_ms = rng.integers(3_000, 90_000, diners)
        dwell_ms = (rng.uniform(*b.dwell_min, diners) * MS_PER_MINUTE).astype(np.int64)
        # Trays come back strictly before end + grace, the end of the plate window.
        returns = np.minimum(arrivals + dwell_ms, waste_end_ms - 1)
        plates = rng.integers(0, len(PLATE_SCALES), diners)
        tray_cards = rng.random(diners) < b.tray_card_rate

        true_plate, shown_plate = self._leftovers(diners)

        # Visitors are drawn from their own stream, so that switching them on changes nothing
        # else: the same people eat, some of them pay as visitors without a card.
        visitor_rng = np.random.default_rng(
            seed_sequence(self.seed, self.site.id, self.frame.day.toordinal(), "visitors",
                          service.name)
        )  # fmt: skip
        visitors = visitor_rng.random(diners) < b.visitor_rate
        events: list[Event] = []
        for i in range(diners):
            card = None if visitors[i] else self.cards[int(persons[i])]
            reader = CARD_READERS[int(readers[i])]
            events.append(CardSwipe(int(arrivals[i]), reader, card, service.name))
            second = int(arrivals[i] + double_gap_ms[i])
            # A visitor has no card to read twice.
            if doubles[i] and second < end_ms and card is not None:
                events.append(CardSwipe(second, reader, card, service.name))
        for i in range(diners):
            events.append(
                Weighing(
                    at_ms=int(returns[i]),
                    device=PLATE_SCALES[int(plates[i])],
                    stream=Stream.PLATE,
                    true_g=float(true_plate[i]),
                    shown_g=float(shown_plate[i]),
                    service=service.name,
                    card=self.cards[int(persons[i])] if tray_cards[i] and not visitors[i] else None,
                )
            )
        prep = self._prep(service, float(habit))
        menu = self.menu(service)
        over = self._overproduction(service, diners, habit, menu)
        events.extend(prep)
        events.extend(over)
        by_item: dict[str, float] = {}
        for pan in over:
            if pan.item is not None:
                by_item[pan.item] = by_item.get(pan.item, 0.0) + pan.true_g
        truth = ServiceTruth(
            diners=diners,
            trays=diners,
            clean_plates=int(np.count_nonzero(true_plate <= self.site.clean_plate_threshold_g)),
            waste_g={
                Stream.PLATE: float(np.sum(true_plate)),
                Stream.PREP: sum(w.true_g for w in prep),
                Stream.OVERPRODUCTION: sum(w.true_g for w in over),
            },
            energy={},
            menu=menu,
            habit_diners=habit,
            cooked_g=habit * b.portion(service.name),
            overproduction_by_item_g=by_item,
            meeting=meeting > 0,
        )
        return _ServiceDraw(events, truth, expected_diners=staff * expected_rate)

    def meeting_share(self, service: Service) -> float:
        """Extra share of the staff a meeting brings to this service today (0 without one)."""
        demand = self.behaviour.demand
        if service.name != demand.meeting_service or not demand.working(self.frame.day):
            return 0.0
        rng = np.random.default_rng(
            seed_sequence(self.seed, self.site.id, self.frame.day.toordinal(), "meeting")
        )
        if rng.random() >= demand.meeting_probability:
            return 0.0
        return float(rng.uniform(*demand.meeting_extra_share))

    def menu(self, service: Service) -> tuple[str, ...]:
        """The dishes of `service` today, drawn from the site's menu."""
        rng = np.random.default_rng(
            seed_sequence(self.seed, self.site.id, self.frame.day.toordinal(), "menu", service.name)
        )
        menu = self.site.menu or DEFAULT_MENU
        picks = rng.choice(len(menu), size=min(DISHES_PER_SERVICE, len(menu)), replace=False)
        return tuple(menu[int(i)] for i in picks)

    def _leftovers(self, trays: int) -> tuple[FloatArray, FloatArray]:
        """True and shown plate leftovers; clean and non-clean stay clear of the threshold."""
        b, rng = self.behaviour, self.diners_rng
        threshold = self.site.clean_plate_threshold_g
        p_clean = rng.uniform(*b.clean_plate_probability)
        is_clean = rng.random(trays) < p_clean
        # Clean plates at most threshold - 1 g and dirty ones at least threshold + 5 g, so that
        # neither the true mass nor the 1 g display can fall on the other side of the threshold.
        clean_hi = max(0.0, min(b.clean_plate_max_g, threshold - 1.0))
        clean_lo = min(1.0, clean_hi)
        dirty_lo = max(b.leftover_range_g[0], threshold + 5.0)
        dirty_hi = max(b.leftover_range_g[1], dirty_lo)
        clean_g = rng.uniform(clean_lo, clean_hi, trays)
        dirty_g = np.clip(
            rng.lognormal(np.log(b.leftover_median_g), b.leftover_sigma, trays), dirty_lo, dirty_hi
        )
        division = DEVICE_BY_ID[PLATE_SCALES[0]].division_g
        true = np.empty(trays)
        shown = np.empty(trays)
        for mask, values in ((is_clean, clean_g), (~is_clean, dirty_g)):
            true[mask], shown[mask] = quantise_paired(values[mask], division)
        true = np.maximum(true, 0.0)
        return true, shown

    def _prep(self, service: Service, expected_diners: float) -> list[Weighing]:
        """Prep waste scales with the diners cooked for (F2: 5-80 g/diner) in 8-20 deposits."""
        b, rng, frame = self.behaviour, self.waste_rng, self.frame
        total_g = expected_diners * rng.uniform(*b.prep_g_per_diner)
        low, high = b.prep_deposits
        count = int(np.clip(round(total_g / np.mean(b.prep_mass_g)), low, high))
        shares = rng.dirichlet(np.full(count, 4.0))
        masses = np.clip(shares * total_g, *b.prep_mass_g)
        times = _uniform_ms(rng, frame.at(service.prep_start_min), frame.at(service.end_min), count)
        return _scale_deposits(
            device=BIN_PREP,
            stream=Stream.PREP,
            service=service.name,
            times_ms=times,
            true_g=masses,
        )

    def _overproduction(
        self, service: Service, diners: int, habit: int, menu: tuple[str, ...]
    ) -> list[Weighing]:
        """Unserved food weighed after the service (F3), in 2-6 pans of a few kg each: the
        portions cooked by habit for diners who did not come, and the unavoidable remainder.
        The kitchen terminal (scale-over) tags each pan with a dish of the menu."""
        b, rng, frame = self.behaviour, self.waste_rng, self.frame
        surplus_g = max(0, habit - diners) * b.portion(service.name) * b.surplus_waste_share
        total_g = surplus_g + diners * rng.uniform(*b.over_g_per_diner)
        pans = round(total_g / b.over_pan_g) + int(rng.integers(-1, 2))
        count = int(np.clip(pans, *b.over_deposits)) if total_g > 0 else 0
        shares = rng.dirichlet(np.full(max(count, 1), 4.0))[:count]
        # Weighed after the service, within 45 min and the grace: window [start, end + grace).
        begin_min = service.end_min
        end_min = min(service.end_min + b.over_after_end_min, service.waste_end_min)
        if end_min <= begin_min:
            begin_min, end_min = max(service.start_min, service.end_min - 30), service.end_min
        times = _uniform_ms(rng, frame.at(begin_min), frame.at(end_min), count)
        true_g = np.maximum(shares * total_g, 50.0)
        tag_rng = np.random.default_rng(
            seed_sequence(self.seed, self.site.id, frame.day.toordinal(), "tags", service.name)
        )
        dishes = tag_rng.integers(0, len(menu), count) if menu else np.zeros(count, np.int64)
        weighed: list[Weighing] = []
        # Each dish's pans are quantised together, so that a dish's displays add up to its truth.
        for dish in np.unique(dishes).tolist():
            mine = np.flatnonzero(dishes == dish)
            for pan in _scale_deposits(
                device=SCALE_OVER,
                stream=Stream.OVERPRODUCTION,
                service=service.name,
                times_ms=[times[k] for k in mine],
                true_g=true_g[mine],
            ):
                if menu:
                    pan = replace(pan, item=menu[dish], reason=LossReason.OVERPRODUCED.value)
                weighed.append(pan)
        weighed.sort(key=lambda w: w.at_ms)
        return weighed

    def spoilage(self) -> list[Weighing]:
        b, rng, frame = self.behaviour, self.waste_rng, self.frame
        count = int(rng.integers(b.spoilage_deposits[0], b.spoilage_deposits[1] + 1))
        times = _uniform_ms(
            rng, frame.at(b.spoilage_window_min[0]), frame.at(b.spoilage_window_min[1]), count
        )
        masses = rng.uniform(*b.spoilage_mass_g, count)
        return _scale_deposits(
            device=BIN_SPOILAGE,
            stream=Stream.SPOILAGE,
            service=None,
            times_ms=times,
            true_g=masses,
        )

    def meter_traces(
        self,
        profile: meters.SiteLoadProfile,
        registers: dict[Quantity, float],
        rates_before: dict[Quantity, float] | None,
        expected: Sequence[float],
    ) -> dict[Quantity, meters.RegisterTrace]:
        frame = self.frame
        loads = tuple(
            meters.ServiceLoad(
                prep_start=frame.minute_index(s.prep_start_min),
                start=frame.minute_index(s.start_min),
                end=frame.minute_index(s.end_min),
                expected_diners=e,
            )
            for s, e in zip(self.site.services, expected, strict=True)
        )
        rates = meters.day_rates(profile, loads, frame.minutes, self.meters_rng)
        return meters.day_traces(registers, rates, rates_before)


def _meter_events(
    frame: DayFrame, traces: dict[Quantity, meters.RegisterTrace], interval_s: int, *, closing: bool
) -> list[MeterReading]:
    """Readings on the grid aligned to local midnight; `closing` adds next midnight's reading."""
    step_ms = interval_s * 1000
    offsets = list(range(0, frame.length_ms, step_ms))
    if closing:
        offsets.append(frame.length_ms)
    readings: list[MeterReading] = []
    for quantity, trace in traces.items():
        device = METER_BY_QUANTITY[quantity]
        with_power = quantity is Quantity.ELECTRICITY
        for offset in offsets:
            readings.append(
                MeterReading(
                    at_ms=frame.midnight_ms + offset,
                    device=device,
                    quantity=quantity,
                    register=trace.register_at(offset),
                    power_kw=trace.demand_at(offset) if with_power else None,
                )
            )
    return readings


def plan_site_days(
    site: Site,
    *,
    seed: int,
    start_date: date,
    days: int,
    meter_interval_s: int = 60,
    behaviour: Behaviour | None = None,
) -> Iterator[DayPlan]:
    """The site's days in order, lazily (meter registers carry over from one day to the next).

    Settings that cannot give an exact truth raise ConfigurationError here, before any day is drawn.
    """
    check_meter_grid(site, meter_interval_s)
    return _days(site, seed, start_date, days, meter_interval_s, behaviour or Behaviour())


def _days(
    site: Site,
    seed: int,
    start_date: date,
    days: int,
    meter_interval_s: int,
    behaviour: Behaviour,
) -> Iterator[DayPlan]:
    cards = staff_cards(seed, site)
    profile = meters.SiteLoadProfile.draw(
        np.random.default_rng(seed_sequence(seed, site.id, "profile"))
    )
    registers = meters.initial_registers(
        np.random.default_rng(seed_sequence(seed, site.id, "registers", start_date.toordinal())),
        {quantity: site.meter(quantity).wrap_modulus for quantity in METER_BY_QUANTITY},
    )
    rates_before: dict[Quantity, float] | None = None
    tz = site.tz
    for index in range(days):
        frame = DayFrame.of(start_date + timedelta(days=index), tz)
        planner = _DayPlanner(site, cards, behaviour, seed, frame)
        draws = [planner.service(service) for service in site.services]
        spoilage = planner.spoilage()
        expected = [d.expected_diners for d in draws]
        traces = planner.meter_traces(profile, registers, rates_before, expected)
        registers = {q: trace.end for q, trace in traces.items()}
        rates_before = {q: float(trace.rate[-1]) for q, trace in traces.items()}
        services: dict[str, ServiceTruth] = {}
        for service, draw in zip(site.services, draws, strict=True):
            begin, end = (
                frame.minute_index(service.prep_start_min),
                frame.minute_index(service.end_min),
            )
            energy = {q: trace.consumption(begin, end) for q, trace in traces.items()}
            t = draw.truth
            services[service.name] = replace(t, energy=energy)
        waste = {
            s: sum(t.waste_g[s] for t in services.values())
            for s in (Stream.PLATE, Stream.PREP, Stream.OVERPRODUCTION)
        }
        waste[Stream.SPOILAGE] = sum(w.true_g for w in spoilage)
        truth = DayTruth(
            services=services,
            meals=sum(t.diners for t in services.values()),
            trays=sum(t.trays for t in services.values()),
            clean_plates=sum(t.clean_plates for t in services.values()),
            waste_g=waste,
            energy={q: trace.consumption(0, frame.minutes) for q, trace in traces.items()},
        )
        events: list[Event] = [e for draw in draws for e in draw.events]
        events.extend(spoilage)
        events.extend(_meter_events(frame, traces, meter_interval_s, closing=index == days - 1))
        # Stable sort: same-instant events of one device keep the order they were drawn in.
        events.sort(key=lambda e: e.at_ms)
        yield DayPlan(
            site_id=site.id, frame=frame, events=tuple(events), truth=truth, traces=traces
        )
