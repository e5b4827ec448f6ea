"""Meter counter cleaning on small hand-computed arrays: one test per dirty-data case."""

import numpy as np
import pytest

from central.kpi import counters
from central.kpi.readings import MeterReadings, float_array, int_array
from central.site_kpi_config import MeterConfig, MeterExchange

MIN = 60_000  # one reading per minute, the default interval_s


def clean(
    totals: list[float],
    config: MeterConfig | None = None,
    times: list[int] | None = None,
    exchanges: tuple[MeterExchange, ...] = (),
) -> counters.MeterCurve:
    at = times if times is not None else [i * MIN for i in range(len(totals))]
    return counters.clean_meter(
        "m1",
        "electricity",
        int_array(at),
        float_array(totals),
        config or MeterConfig("m1"),
        exchanges,
    )


def events(curve: counters.MeterCurve) -> dict[str, int]:
    return {kind: int(times.size) for kind, times in curve.events.items() if times.size}


def test_clean_series_starts_at_zero_even_when_the_first_reading_is_not() -> None:
    curve = clean([500.0, 502.5, 502.5, 510.0])
    np.testing.assert_allclose(curve.consumption, [0.0, 2.5, 2.5, 10.0])
    np.testing.assert_allclose(curve.estimated, 0.0)
    assert events(curve) == {}


def test_reset_counts_from_zero() -> None:
    # 100 -> 105 (+5); 2 is below 0.9 x 105: reset, +2; 2 -> 6 (+4)
    curve = clean([100.0, 105.0, 2.0, 6.0])
    np.testing.assert_allclose(curve.consumption, [0.0, 5.0, 7.0, 11.0])
    assert events(curve) == {"reset": 1}


def test_wrap_at_the_modulus_is_accepted_when_the_rate_is_plausible() -> None:
    config = MeterConfig("m1", wrap_modulus=1000.0, max_rate_per_h=600.0)  # 10 per minute
    # 995 -> 3 in one minute: 3 + 1000 - 995 = 8 <= 10
    curve = clean([990.0, 995.0, 3.0, 7.0], config)
    np.testing.assert_allclose(curve.consumption, [0.0, 5.0, 13.0, 17.0])
    assert events(curve) == {"wrap": 1}


def test_implausible_wrap_is_a_reset() -> None:
    config = MeterConfig("m1", wrap_modulus=1000.0, max_rate_per_h=600.0)
    # 500 -> 3: a wrap would mean 503 in one minute (> 10): a reset, +3
    curve = clean([495.0, 500.0, 3.0, 5.0], config)
    np.testing.assert_allclose(curve.consumption, [0.0, 5.0, 8.0, 10.0])
    assert events(curve) == {"reset": 1}


def test_wrap_without_a_max_rate_needs_the_register_near_the_modulus() -> None:
    curve = clean([980.0, 995.0, 4.0], MeterConfig("m1", wrap_modulus=1000.0))
    np.testing.assert_allclose(curve.consumption, [0.0, 15.0, 24.0])
    assert events(curve) == {"wrap": 1}


def test_upward_spike_is_rejected_and_the_next_delta_taken_from_the_last_good() -> None:
    config = MeterConfig("m1", max_rate_per_h=600.0)
    curve = clean([100.0, 105.0, 9105.0, 110.0, 115.0], config)
    np.testing.assert_array_equal(curve.time_ms, [0, MIN, 3 * MIN, 4 * MIN])
    np.testing.assert_allclose(curve.consumption, [0.0, 5.0, 10.0, 15.0])
    np.testing.assert_array_equal(curve.readings_ms.size, 5)
    assert events(curve) == {"spike": 1}


def test_upward_spike_is_recognised_without_a_max_rate_when_the_register_falls_back() -> None:
    curve = clean([100.0, 105.0, 9105.0, 110.0, 115.0])
    np.testing.assert_allclose(curve.consumption, [0.0, 5.0, 10.0, 15.0])
    assert events(curve) == {"spike": 1}


def test_downward_spike_is_rejected_not_taken_for_a_reset() -> None:
    curve = clean([100.0, 105.0, 1.0, 110.0, 115.0])  # no max rate needed
    np.testing.assert_allclose(curve.consumption, [0.0, 5.0, 10.0, 15.0])
    assert events(curve) == {"spike": 1}


def test_level_shift_rejects_one_delta_and_resumes_counting() -> None:
    config = MeterConfig("m1", max_rate_per_h=600.0)
    # 105 -> 5105 and the register stays there: the jump is not consumption
    curve = clean([100.0, 105.0, 5105.0, 5110.0, 5112.0], config)
    np.testing.assert_allclose(curve.consumption, [0.0, 5.0, 5.0, 10.0, 12.0])
    assert events(curve) == {"spike": 1}


def test_small_backward_dip_is_zero_and_not_counted_twice() -> None:
    curve = clean([100.0, 99.9, 100.4, 101.0])
    np.testing.assert_allclose(curve.consumption, [0.0, 0.0, 0.4, 1.0])
    assert events(curve) == {"dip": 1}


def test_gap_is_spread_pro_rata_and_flagged_estimated() -> None:
    # readings at 0, 1 min, then nothing until 11 min (10 min > 3 x 60 s): +20 estimated
    curve = clean([0.0, 2.0, 22.0, 24.0], times=[0, MIN, 11 * MIN, 12 * MIN])
    np.testing.assert_allclose(curve.consumption, [0.0, 2.0, 22.0, 24.0])
    np.testing.assert_allclose(curve.estimated, [0.0, 0.0, 20.0, 20.0])
    assert events(curve) == {"gap": 1}
    # the window [1, 6) min holds half of the gap, all of it estimated
    used, estimated = curve.between(int_array([MIN, 0]), int_array([6 * MIN, 12 * MIN]))
    np.testing.assert_allclose(used, [10.0, 24.0])
    np.testing.assert_allclose(estimated, [10.0, 20.0])


def test_declared_exchange_adds_both_registers_parts() -> None:
    exchange = MeterExchange("m1", at_ms=2 * MIN + 30_000, old_final=1003.0, new_initial=0.5)
    # old meter 1000 -> 1002 (+2), then until the exchange +1 (1003), new meter 0.5 -> 2.5 (+2)
    curve = clean([1000.0, 1001.0, 1002.0, 2.5, 3.5], exchanges=(exchange,))
    np.testing.assert_allclose(curve.consumption, [0.0, 1.0, 2.0, 5.0, 6.0])
    assert events(curve) == {"exchange": 1}


def test_readings_in_any_order_and_event_counts_per_window() -> None:
    curve = clean([105.0, 2.0, 100.0, 6.0], times=[MIN, 2 * MIN, 0, 3 * MIN])
    np.testing.assert_allclose(curve.consumption, [0.0, 5.0, 7.0, 11.0])
    counts = curve.event_counts(int_array([0, 3 * MIN]), int_array([3 * MIN, 4 * MIN]))
    assert counts["reset"].tolist() == [1, 0]


def test_meter_curves_split_meters_and_apply_their_configs() -> None:
    readings = MeterReadings.of(
        device=["a", "a", "a", "b", "b", "w"],
        quantity=["electricity"] * 5 + ["water"],
        time_ms=[0, MIN, 2 * MIN, 0, MIN, 0],
        total=[10.0, 9999.0, 12.0, 5.0, 6.0, 1.0],
    )
    configs = {"a": MeterConfig("a", max_rate_per_h=600.0)}
    curves = counters.meter_curves(readings, "electricity", configs)
    assert [c.device for c in curves] == ["a", "b"]
    assert curves[0].consumption[-1] == pytest.approx(2.0)  # 9999 was a spike
    assert curves[1].consumption[-1] == pytest.approx(1.0)
    assert counters.meter_curves(readings, "gas") == []


def test_window_consumption_interpolates_and_is_clamped_at_the_data_ends() -> None:
    # 0 at t=0, +6 by t=600, +14 by t=1200 (ms)
    curve = clean([100.0, 106.0, 120.0], times=[0, 600, 1200])
    used, _ = curve.between(
        int_array([0, 300, 450, -500, 1100]), int_array([600, 900, 600, 300, 9000])
    )
    # nothing is invented before the first reading or after the last
    np.testing.assert_allclose(used, [6.0, 3.0 + 7.0, 1.5, 3.0, 14.0 / 6])
    empty = counters.clean_meter("m", "gas", int_array(), float_array([]), MeterConfig("m"))
    assert empty.between(int_array([0]), int_array([1]))[0].tolist() == [0.0]
