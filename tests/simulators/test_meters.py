"""Meter readings: on the grid, bracketing each day, never decreasing, truth = register deltas."""

from datetime import date

import numpy as np
import pytest

from contract.payloads import MeterPayload, parse_payload
from contract.topics import DeviceKind
from contract.units import Quantity
from simulators import meters
from simulators.canteen import plan_site_days
from simulators.devices import METER_BY_QUANTITY, fleet
from simulators.events import MeterReading
from simulators.registry import Site
from simulators.truth import ENERGY_KEYS
from tests.simulators.attribution import day_bounds, windows

START = date(2026, 11, 20)


@pytest.mark.parametrize("interval_s", [60, 300, 1800, 30])
def test_readings_are_on_the_grid_and_bracket_each_day(
    sites: tuple[Site, ...], interval_s: int
) -> None:
    site = sites[0]
    plans = list(
        plan_site_days(site, seed=7, start_date=START, days=2, meter_interval_s=interval_s)
    )
    for quantity, device in METER_BY_QUANTITY.items():
        times = [
            e.at_ms
            for p in plans
            for e in p.events
            if isinstance(e, MeterReading) and e.device == device
        ]
        first, _ = day_bounds(site, START)
        _, last = day_bounds(site, plans[-1].frame.day)
        assert times[0] == first
        assert times[-1] == last
        assert times == list(range(first, last + 1, interval_s * 1000)), quantity
        for p in plans:
            for w in windows(site, p.frame.day).values():
                assert w.prep[0] in times
                assert w.prep[1] in times


def test_registers_start_non_zero_never_decrease_and_match_the_truth(
    sites: tuple[Site, ...],
) -> None:
    """Through the payloads (rounded to 0.001), as a pipeline sees them."""
    site = sites[1]
    devices = fleet(site.id, site.tz, seed=3, start_date=START)
    plans = list(plan_site_days(site, seed=3, start_date=START, days=2))
    for quantity, device in METER_BY_QUANTITY.items():
        payloads = []
        for p in plans:
            for e in p.by_device()[device]:
                parsed = parse_payload(DeviceKind.METER, devices[device].render(e).payload)
                assert isinstance(parsed, MeterPayload)
                payloads.append(parsed)
        totals = np.array([pl.total_canonical for pl in payloads])
        assert totals[0] > 0
        assert np.all(np.diff(totals) >= 0)
        per_day = 1440
        for index, p in enumerate(plans):
            used = totals[(index + 1) * per_day] - totals[index * per_day]
            # Registers step in 0.001 units, so the payloads carry them without rounding.
            assert p.truth.energy[quantity] == pytest.approx(used, abs=1e-6)
            assert p.truth.to_json()["day"]["energy"][ENERGY_KEYS[quantity]] == pytest.approx(
                used, abs=1e-6
            )
        if quantity is Quantity.ELECTRICITY:
            assert all(pl.power_kw is not None and pl.power_kw > 0 for pl in payloads)
        else:
            assert all(pl.power is None for pl in payloads)


def test_cooking_and_base_load_shape_the_day(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    (p,) = plan_site_days(site, seed=11, start_date=START, days=1)
    electricity = p.traces[Quantity.ELECTRICITY].rate
    gas = p.traces[Quantity.GAS].rate
    night = slice(0, 4 * 60)  # 00:00-04:00: refrigeration only
    assert 5.0 <= electricity[night].mean() <= 11.0
    assert gas[night].max() == 0.0
    lunch = site.services[1]
    assert electricity[lunch.start_min : lunch.end_min].mean() > 3 * electricity[night].mean()
    assert gas[lunch.start_min : lunch.end_min].min() > 0


def test_register_between_grid_points_is_linear_within_a_minute() -> None:
    rate = np.array([60.0, 120.0])  # kW: 1 kWh then 2 kWh
    trace = meters.RegisterTrace.integrate(Quantity.ELECTRICITY, 100.0, rate)
    assert trace.register_at(0) == 100.0
    assert trace.register_at(30_000) == pytest.approx(100.5)
    assert trace.register_at(60_000) == pytest.approx(101.0)
    assert trace.register_at(120_000) == pytest.approx(103.0)
    assert trace.consumption(0, 2) == pytest.approx(3.0)
    assert trace.demand_at(60_000) == 60.0
    assert trace.demand_at(90_000) == 120.0


def test_registers_step_in_thousandths_like_a_pulse_meter() -> None:
    rate = np.full(120, 0.03)  # m3/h: half a litre per minute
    trace = meters.RegisterTrace.integrate(Quantity.WATER, 12.3456, rate)
    assert trace.start == pytest.approx(12.346, abs=1e-12)
    steps = trace.cumulative / meters.REGISTER_RESOLUTION
    assert np.allclose(steps, np.round(steps), atol=1e-6)
    assert np.all(trace.rate >= 0)
    assert trace.consumption(0, 120) == pytest.approx(0.06, abs=1e-9)
    assert trace.end == pytest.approx(12.406, abs=1e-9)
