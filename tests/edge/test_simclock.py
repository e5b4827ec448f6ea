"""The simulated edge clock (a simulation facility) and its settings."""

import pytest
from pydantic import ValidationError

from edge.settings import EdgeSettings
from edge.simclock import TickClock, simulated_clock

KEY = "k" * 32


def test_maps_wall_time_to_simulated_time_at_speed() -> None:
    wall = [1_000_000]
    clock = simulated_clock(50_000, 1_000_000, 3600.0, wall_ms=lambda: wall[0])
    assert clock() == 50_000
    wall[0] += 1_000  # one wall second is an hour of simulated time
    assert clock() == 50_000 + 3_600_000


def test_needs_a_positive_speed() -> None:
    with pytest.raises(ValueError, match="speed > 0"):
        simulated_clock(0, 0, 0.0)


def _settings(**sim: object) -> EdgeSettings:
    return EdgeSettings(
        site="s1",
        central_url="http://c",
        api_key=KEY,
        person_key=KEY,
        **sim,  # type: ignore[arg-type]
    )


def test_settings_take_all_three_or_none() -> None:
    assert _settings().sim_clock_origin_ms is None
    ok = _settings(sim_clock_origin_ms=5, sim_clock_wall_origin_ms=7, sim_clock_speed=60.0)
    assert (ok.sim_clock_origin_ms, ok.sim_clock_wall_origin_ms, ok.sim_clock_speed) == (5, 7, 60.0)
    for partial in (
        {"sim_clock_origin_ms": 5},
        {"sim_clock_origin_ms": 5, "sim_clock_wall_origin_ms": 7},
    ):
        with pytest.raises(ValidationError, match="go together"):
            _settings(**partial)


def test_a_lockstep_clock_is_its_last_tick() -> None:
    ticks = TickClock("sim/clock", origin_ms=42)
    assert ticks.now_ms() == 42
    ticks.tick(b"1767225600000")
    assert ticks.now_ms() == 1_767_225_600_000
    ticks.tick(b"\xff")  # not a time: logged, the clock stays
    assert ticks.now_ms() == 1_767_225_600_000


def test_a_lockstep_clock_needs_its_origin_and_no_wall_origin() -> None:
    ok = _settings(sim_clock_topic="sim/clock", sim_clock_origin_ms=5)
    assert (ok.sim_clock_topic, ok.sim_clock_origin_ms) == ("sim/clock", 5)
    for wrong in (
        {"sim_clock_topic": "sim/clock"},
        {"sim_clock_topic": "sim/clock", "sim_clock_origin_ms": 5, "sim_clock_wall_origin_ms": 7},
    ):
        with pytest.raises(ValidationError, match="lockstep"):
            _settings(**wrong)
