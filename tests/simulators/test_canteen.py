"""canteen.plan_site_days: determinism, attribution windows, truth recomputed from the events."""

import math
from collections import defaultdict
from datetime import date, timedelta

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from contract.units import Quantity, Stream
from contract.workcalendar import parse_calendar
from simulators.canteen import Behaviour, DayPlan, check_meter_grid, plan_site_days, quantise_paired
from simulators.demand import Demand
from simulators.devices import METER_BY_QUANTITY
from simulators.errors import ConfigurationError
from simulators.events import CardSwipe, Event, MeterReading, Weighing
from simulators.registry import Service, Site
from simulators.truth import ENERGY_KEYS
from tests.simulators.attribution import day_bounds, inside, windows

START = date(2026, 11, 20)  # a Friday: day 2 is a weekend day
DAYS = 2


def plan(site: Site, seed: int = 42, start: date = START, days: int = DAYS) -> list[DayPlan]:
    return list(plan_site_days(site, seed=seed, start_date=start, days=days))


def all_events(plans: list[DayPlan]) -> list[Event]:
    return [e for p in plans for e in p.events]


def test_same_inputs_give_the_same_events_and_truth(sites: tuple[Site, ...]) -> None:
    for site in sites:
        first, second = plan(site), plan(site)
        assert all_events(first) == all_events(second)
        assert [p.truth.to_json() for p in first] == [p.truth.to_json() for p in second]


def test_another_seed_gives_other_events(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    assert all_events(plan(site, seed=42)) != all_events(plan(site, seed=43))
    assert plan(site, seed=42)[0].truth.to_json() != plan(site, seed=43)[0].truth.to_json()


def test_a_day_does_not_depend_on_how_many_days_follow(sites: tuple[Site, ...]) -> None:
    one, two = plan(sites[0], days=1), plan(sites[0], days=2)
    closing = [e for e in one[0].events if e.at_ms >= two[1].frame.midnight_ms]
    assert [e for e in one[0].events if e not in closing] == list(two[0].events)
    # The closing readings of a 1-day run are the opening readings of day 2 of a longer run.
    assert closing == [e for e in two[1].events if e.at_ms == two[1].frame.midnight_ms]


def _attribute(site: Site, day: date, event: Event) -> list[str]:
    """Services whose window (docs/architecture.md) contains the event; 'day' for spoilage."""
    found = []
    for name, w in windows(site, day).items():
        match event:
            case CardSwipe() if inside(event.at_ms, w.diners):
                found.append(name)
            case Weighing(stream=Stream.PLATE | Stream.OVERPRODUCTION) if inside(
                event.at_ms, w.waste
            ):
                found.append(name)
            case Weighing(stream=Stream.PREP) if inside(event.at_ms, w.prep):
                found.append(name)
    return found


@pytest.mark.parametrize("site_index", [0, 1])
def test_every_event_lies_in_exactly_its_own_window(
    sites: tuple[Site, ...], site_index: int
) -> None:
    site = sites[site_index]
    for day_plan in plan(site):
        day = day_plan.frame.day
        first_ms, end_ms = day_bounds(site, day)
        for event in day_plan.events:
            if isinstance(event, MeterReading):
                assert first_ms <= event.at_ms <= end_ms
                continue
            assert inside(event.at_ms, (first_ms, end_ms)), event
            assert isinstance(event, CardSwipe | Weighing), event  # no raw bin in these plans
            if isinstance(event, Weighing) and event.stream is Stream.SPOILAGE:
                assert event.service is None
                continue
            assert _attribute(site, day, event) == [event.service], event


def _register_at(events: list[Event], device: str, at_ms: int) -> float:
    values = [
        e.register
        for e in events
        if isinstance(e, MeterReading) and e.device == device and e.at_ms == at_ms
    ]
    assert len(values) == 1, f"no single {device} reading at {at_ms}"
    return values[0]


@pytest.mark.parametrize("site_index", [0, 1])
def test_truth_equals_the_events_summed_by_window(sites: tuple[Site, ...], site_index: int) -> None:
    site = sites[site_index]
    plans = plan(site)
    events = all_events(plans)
    swipes = [e for e in events if isinstance(e, CardSwipe)]
    weighings = [e for e in events if isinstance(e, Weighing)]
    for day_plan in plans:
        day = day_plan.frame.day
        truth = day_plan.truth.to_json()
        day_totals: dict[str, float] = defaultdict(float)
        for name, w in windows(site, day).items():
            expected = truth["services"][name]
            diners = {e.card for e in swipes if inside(e.at_ms, w.diners)}
            trays = [e for e in weighings if e.stream is Stream.PLATE and inside(e.at_ms, w.waste)]
            assert expected["diners"] == len(diners)
            assert expected["trays"] == len(trays)
            clean = sum(1 for t in trays if t.true_g <= site.clean_plate_threshold_g)
            assert expected["clean_plates"] == clean
            for stream, window in (
                (Stream.PLATE, w.waste),
                (Stream.OVERPRODUCTION, w.waste),
                (Stream.PREP, w.prep),
            ):
                mass = sum(
                    e.true_g for e in weighings if e.stream is stream and inside(e.at_ms, window)
                )
                assert expected["waste_g"][stream.value] == pytest.approx(mass, abs=1e-3)
                day_totals[stream.value] += mass
            for quantity, key in ENERGY_KEYS.items():
                device = METER_BY_QUANTITY[quantity]
                used = _register_at(events, device, w.prep[1]) - _register_at(
                    events, device, w.prep[0]
                )
                assert expected["energy"][key] == pytest.approx(used, abs=1e-5)
            day_totals["meals"] += len(diners)
            day_totals["trays"] += len(trays)
        first_ms, end_ms = day_bounds(site, day)
        spoilage = sum(
            e.true_g
            for e in weighings
            if e.stream is Stream.SPOILAGE and inside(e.at_ms, (first_ms, end_ms))
        )
        assert truth["day"]["meals"] == day_totals["meals"]
        assert truth["day"]["trays"] == day_totals["trays"]
        assert truth["day"]["waste_g"]["spoilage"] == pytest.approx(spoilage, abs=1e-3)
        for stream in (Stream.PLATE, Stream.PREP, Stream.OVERPRODUCTION):
            assert truth["day"]["waste_g"][stream.value] == pytest.approx(
                day_totals[stream.value], abs=1e-3
            )
        for quantity, key in ENERGY_KEYS.items():
            device = METER_BY_QUANTITY[quantity]
            used = _register_at(events, device, end_ms) - _register_at(events, device, first_ms)
            assert truth["day"]["energy"][key] == pytest.approx(used, abs=1e-5)


def test_what_the_scales_show_reproduces_the_truth(sites: tuple[Site, ...]) -> None:
    """A pipeline sees displayed masses only: their sums and clean-plate counts match the truth."""
    for site in sites:
        for day_plan in plan(site):
            by_service: dict[tuple[str | None, Stream], float] = defaultdict(float)
            clean: dict[str | None, int] = defaultdict(int)
            for e in day_plan.events:
                if isinstance(e, Weighing):
                    by_service[e.service, e.stream] += e.shown_g
                    assert abs(e.shown_g - e.true_g) <= 2.5 + 1e-9
                    if e.stream is Stream.PLATE and e.shown_g <= site.clean_plate_threshold_g:
                        clean[e.service] += 1
            for name, service in day_plan.truth.services.items():
                assert clean[name] == service.clean_plates
                for stream, mass in service.waste_g.items():
                    assert by_service[name, stream] == pytest.approx(mass, rel=1e-9, abs=1e-6)
            spoilage = day_plan.truth.waste_g[Stream.SPOILAGE]
            assert by_service[None, Stream.SPOILAGE] == pytest.approx(spoilage, rel=1e-9, abs=1e-6)


def test_a_weekday_is_within_domain_ranges(sites: tuple[Site, ...]) -> None:
    """docs/domain.md plausible ranges (F1-F3, F6, E1-E3) on a weekday of a 400-person site."""
    weekday = plan(sites[0], days=1)[0].truth
    assert weekday.meals > 0.8 * sites[0].registered_staff
    for name, s in weekday.services.items():
        assert s.diners > 0, name
        assert 20 <= s.waste_g[Stream.PLATE] / s.diners <= 100, name
        assert 5 <= s.waste_g[Stream.PREP] / s.diners <= 80, name
        assert 0 <= s.waste_g[Stream.OVERPRODUCTION] / s.diners <= 100, name
        assert 20 <= 100 * s.clean_plates / s.trays <= 95, name
        assert 0.3 <= s.energy[Quantity.ELECTRICITY] / s.diners <= 2.5, name
        assert 0.05 <= s.energy[Quantity.GAS] / s.diners <= 0.3, name
        assert 10 <= 1000 * s.energy[Quantity.WATER] / s.diners <= 40, name
    weekend = plan(sites[0], start=START + timedelta(days=1), days=1)[0].truth
    assert weekend.meals < weekday.meals / 2


def test_a_dst_day_has_23_hours_and_exact_truth() -> None:
    site = Site(id="berlin", timezone="Europe/Berlin", registered_staff=200)
    (day_plan,) = plan(site, start=date(2026, 3, 29), days=1)
    assert day_plan.frame.minutes == 23 * 60
    meter = [
        e
        for e in day_plan.events
        if isinstance(e, MeterReading) and e.quantity is Quantity.ELECTRICITY
    ]
    assert len(meter) == 23 * 60 + 1
    used = meter[-1].register - meter[0].register
    assert day_plan.truth.energy[Quantity.ELECTRICITY] == pytest.approx(used, abs=1e-6)
    for e in day_plan.events:
        if not isinstance(e, MeterReading) and e.device != "bin-spoilage":
            assert _attribute(site, day_plan.frame.day, e) == [getattr(e, "service", None)]


def test_meter_grid_must_hit_every_energy_window_boundary() -> None:
    site = Site(
        id="x",
        timezone="Asia/Shanghai",
        registered_staff=10,
        services=(Service("lunch", 675, 780),),
    )
    with pytest.raises(ConfigurationError, match="minute 555 is not on the 1800 s"):
        check_meter_grid(site, 1800)
    check_meter_grid(site, 900)


def test_zero_grace_keeps_trays_and_overproduction_before_the_end() -> None:
    service = Service("lunch", 11 * 60, 13 * 60, grace_min=0, prep_lead_min=0)
    site = Site(id="tight", timezone="Asia/Shanghai", registered_staff=300, services=(service,))
    (day_plan,) = plan(site, days=1)
    w = windows(site, day_plan.frame.day)["lunch"]
    waste = [e for e in day_plan.events if isinstance(e, Weighing) and e.service == "lunch"]
    assert waste
    assert all(inside(e.at_ms, w.waste if e.stream is not Stream.PREP else w.prep) for e in waste)


@given(
    st.lists(st.floats(min_value=0.6, max_value=5000.0), min_size=0, max_size=40),
    st.sampled_from([1.0, 5.0]),
)
def test_paired_quantisation_keeps_sums_and_half_a_division(
    masses: list[float], division: float
) -> None:
    true, shown = quantise_paired(np.array(masses), division)
    assert math.isclose(float(true.sum()), float(shown.sum()), rel_tol=1e-12, abs_tol=1e-9)
    assert np.all(np.abs(true - shown) <= division / 2 + 1e-9)
    assert np.allclose(shown / division, np.round(shown / division))


def test_an_off_grid_meter_interval_is_refused_before_any_day_is_drawn() -> None:
    site = Site(
        id="x",
        timezone="Asia/Shanghai",
        registered_staff=10,
        services=(Service("lunch", 675, 780),),
    )
    with pytest.raises(ConfigurationError):
        plan_site_days(site, seed=1, start_date=START, days=1, meter_interval_s=1800)


def test_demand_follows_the_holiday_calendar_and_the_kitchen_tags_its_pans() -> None:
    """Spring Festival 2026: Friday 13 Feb worked, Saturday 14 Feb worked in lieu (调休),
    Sunday 15 and Monday 16 Feb public holidays."""
    site = Site(id="s1", timezone="Asia/Shanghai", registered_staff=600)
    days = plan(site, start=date(2026, 2, 13), days=4)
    lunch = [d.truth.services["lunch"] for d in days]
    friday, worked_saturday, sunday, holiday_monday = (t.diners for t in lunch)
    assert worked_saturday > 2 * sunday
    assert holiday_monday < worked_saturday / 2
    assert friday > 2 * holiday_monday
    # the kitchen cooks for its usual working-day number on a worked Saturday, less on holidays
    assert lunch[1].habit_diners == lunch[0].habit_diners > lunch[3].habit_diners
    for day_plan, truth in zip(days, lunch, strict=True):
        pans = [
            e
            for e in day_plan.events
            if isinstance(e, Weighing)
            and e.stream is Stream.OVERPRODUCTION
            and e.service == "lunch"
        ]
        assert pans
        assert all(p.item in truth.menu and p.reason == "overproduced" for p in pans)
        by_item: dict[str, float] = defaultdict(float)
        for p in pans:
            assert p.item is not None
            by_item[p.item] += p.shown_g
        # what the terminal shows per dish adds up to the true overproduction per dish
        assert by_item == pytest.approx(dict(truth.overproduction_by_item_g))


def test_demand_follows_a_calendar_year_of_the_registry() -> None:
    """A year the package does not know: the plain week without the registry's table, its
    holidays and worked Saturday with it (made-up dates, not the State Council's schedule)."""
    calendar = parse_calendar(
        {
            "calendar": {
                "2027": {
                    "holidays": [{"name": "Spring Festival", "start": date(2027, 2, 8)}],
                    "adjusted_workdays": [date(2027, 2, 13)],
                }
            }
        }
    )
    site = Site(id="s1", timezone="Asia/Shanghai", registered_staff=600)
    registry = Behaviour(demand=Demand(calendar=calendar))
    start, days = date(2027, 2, 8), 6
    with_registry = [
        d.truth.services["lunch"]
        for d in plan_site_days(site, seed=42, start_date=start, days=days, behaviour=registry)
    ]
    plain = [
        d.truth.services["lunch"]
        for d in plan_site_days(site, seed=42, start_date=start, days=days)
    ]
    monday, saturday = 0, 5
    assert with_registry[monday].diners < plain[monday].diners / 2
    assert with_registry[monday].habit_diners < plain[monday].habit_diners
    assert with_registry[saturday].diners > 2 * plain[saturday].diners
    assert with_registry[saturday].habit_diners > plain[saturday].habit_diners
