"""Meter consumption from cumulative registers: interpolation, resets, dips, several meters."""

import numpy as np
import pytest

from central.kpi import energy
from central.kpi.readings import MeterReadings, float_array, int_array, str_array
from central.kpi.windows import Window


def curve(times: list[int], totals: list[float], device: str = "m1") -> energy.MeterCurve:
    return energy.MeterCurve(
        device, int_array(times), energy.cumulative_consumption(float_array(totals))
    )


def test_cumulative_consumption_starts_at_zero_and_follows_the_register() -> None:
    c = energy.cumulative_consumption(float_array([500.0, 502.5, 502.5, 510.0]))
    np.testing.assert_allclose(c, [0.0, 2.5, 2.5, 10.0])
    assert energy.cumulative_consumption(float_array([])).size == 0


def test_drop_below_90_percent_is_a_reset_counted_from_zero() -> None:
    # 100 -> 105 (+5), reset to 2 (+2 since the reset), 2 -> 6 (+4)
    c = energy.cumulative_consumption(float_array([100.0, 105.0, 2.0, 6.0]))
    np.testing.assert_allclose(c, [0.0, 5.0, 7.0, 11.0])
    # 85 is just below 0.9 x 95 = 85.5: a reset, not a dip
    c = energy.cumulative_consumption(float_array([95.0, 85.0, 86.0]))
    np.testing.assert_allclose(c, [0.0, 85.0, 86.0])


def test_small_backward_dip_counts_as_zero_and_is_not_recounted() -> None:
    # 100.0 -> 99.9 is rounding (>= 90%): 0; back to 100.4 is +0.4 from the high of 100.0
    c = energy.cumulative_consumption(float_array([100.0, 99.9, 100.4, 101.0]))
    np.testing.assert_allclose(c, [0.0, 0.0, 0.4, 1.0])
    assert np.all(np.diff(c) >= 0)


def test_window_consumption_interpolates_at_boundaries() -> None:
    # 0 at t=0, +6 by t=600, +14 by t=1200: 0.01/ms then ~0.0233/ms
    meter = curve([0, 600, 1200], [100.0, 106.0, 120.0])
    assert meter.between(Window(0, 600)) == pytest.approx(6.0)
    assert meter.between(Window(300, 900)) == pytest.approx(3.0 + 7.0)
    assert meter.between(Window(450, 600)) == pytest.approx(1.5)


def test_window_consumption_is_clamped_at_the_data_ends() -> None:
    meter = curve([1000, 2000], [10.0, 20.0])
    assert meter.between(Window(0, 1500)) == pytest.approx(5.0)  # nothing before the first reading
    assert meter.between(Window(1500, 9000)) == pytest.approx(5.0)  # nor after the last
    assert meter.between(Window(3000, 4000)) == 0.0


def test_meter_curves_sort_by_time_and_sum_meters_of_one_quantity() -> None:
    readings = MeterReadings.of(
        device=str_array(["e1", "e2", "e1", "w1", "e2", "e1"]),
        quantity=str_array(["electricity", "electricity", "electricity", "water", "electricity",
                            "electricity"]),
        time_ms=int_array([2000, 0, 0, 0, 2000, 1000]),
        total=float_array([30.0, 500.0, 10.0, 7.0, 540.0, 20.0]),
    )  # fmt: skip
    curves = energy.meter_curves(readings, "electricity")
    assert [c.device for c in curves] == ["e1", "e2"]
    np.testing.assert_array_equal(curves[0].time_ms, [0, 1000, 2000])
    # e1: 10 per 1000 ms -> 10 over [500, 1500); e2: 40 per 2000 ms -> 20 over it
    assert energy.consumption(curves, Window(500, 1500)) == pytest.approx(30.0)
    assert energy.consumption_over(curves, [Window(0, 500), Window(1500, 2000)]) == pytest.approx(
        5.0 + 5.0 + 10.0 + 10.0
    )
    assert energy.consumption(energy.meter_curves(readings, "gas"), Window(0, 1)) is None


def test_per_meal_in_litres() -> None:
    assert energy.per_meal(0.5, 4, factor=energy.LITRES_PER_M3) == pytest.approx(125.0)
    assert energy.per_meal(0.5, 0) is None
    assert energy.per_meal(None, 3) is None
