"""A meter's cleaning cut into runs and resumed from each run's end state equals one walk.

This is what makes per-date figures of a meter add up exactly to any period's: each date walks
its own readings from the previous date's `end` (counters.WalkState), seeing the next date's first
reading as `lookahead`, and gets the same kept readings, increments, gaps and events as a walk
over the whole series would, whatever the dirt in it (resets, wraps, spikes, dips, gaps,
declared exchanges) and wherever the cuts fall.
"""

import itertools

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from central.kpi import counters
from central.kpi.readings import float_array, int_array
from central.site_kpi_config import MeterConfig, MeterExchange

MIN = 60_000


@st.composite
def dirty_series(
    draw: st.DrawFn,
) -> tuple[list[int], list[float], MeterConfig, list[MeterExchange]]:
    """A register with every kind of dirt a real meter sends, and a config to clean it with."""
    modulus = draw(st.sampled_from([None, 10_000.0]))
    config = MeterConfig(
        "m",
        wrap_modulus=modulus,
        max_rate_per_h=draw(st.sampled_from([None, 600.0])),
        interval_s=60,
    )
    n = draw(st.integers(min_value=1, max_value=60))
    times, values = [], []
    t, value = 0, draw(st.floats(min_value=0.0, max_value=9_000.0))
    for _ in range(n):
        t += draw(st.sampled_from([MIN, MIN, MIN, 2 * MIN, 5 * MIN, 4 * 60 * MIN]))  # gaps
        step = draw(
            st.sampled_from(["up", "up", "up", "flat", "reset", "wrap", "spike", "dip", "jump"])
        )
        if step == "up":
            value += draw(st.floats(min_value=0.0, max_value=8.0))
        elif step == "reset":
            value = draw(st.floats(min_value=0.0, max_value=5.0))
        elif step == "wrap" and modulus is not None:
            value = (value + draw(st.floats(min_value=0.0, max_value=50.0))) % modulus
        elif step == "dip":
            value = max(0.0, value - draw(st.floats(min_value=0.0, max_value=1.0)))
        elif step == "jump":  # a level shift far above the rate
            value += draw(st.floats(min_value=500.0, max_value=5_000.0))
        times.append(t)
        if step == "spike":  # one bad reading, the register itself unchanged
            values.append(value * draw(st.sampled_from([0.0, 0.5, 3.0, 10.0])))
        else:
            values.append(value)
    exchanges = [
        MeterExchange("m", at, draw(st.floats(0.0, 20_000.0)), draw(st.floats(0.0, 100.0)))
        for at in draw(st.lists(st.integers(0, t), max_size=2, unique=True))
    ]
    return times, values, config, exchanges


def walk(
    times: list[int],
    values: list[float],
    config: MeterConfig,
    exchanges: list[MeterExchange],
    start: counters.WalkState | None = None,
    lookahead: tuple[int, float] | None = None,
) -> counters.MeterCurve:
    return counters.clean_meter(
        "m",
        "electricity",
        int_array(times),
        float_array(values),
        config,
        exchanges,
        start=start,
        lookahead=lookahead,
    )


@settings(max_examples=300, deadline=None)
@given(series=dirty_series(), data=st.data())
def test_runs_resumed_from_their_end_states_equal_one_walk(
    series: tuple[list[int], list[float], MeterConfig, list[MeterExchange]], data: st.DataObject
) -> None:
    times, values, config, exchanges = series
    whole = walk(times, values, config, exchanges)
    cuts = sorted(data.draw(st.sets(st.integers(1, len(times)), max_size=6)))
    bounds = [0, *[c for c in cuts if c < len(times)], len(times)]
    kept_ms: list[int] = []
    consumption: list[float] = []
    estimated: list[float] = []
    events: dict[str, list[int]] = {kind: [] for kind in counters.EVENT_KINDS}
    state = None
    for lo, hi in itertools.pairwise(bounds):
        nxt = (times[hi], values[hi]) if hi < len(times) else None
        run = walk(times[lo:hi], values[lo:hi], config, exchanges, start=state, lookahead=nxt)
        skip = 0 if state is None else 1  # a resumed run begins at the previous run's last point
        kept_ms += run.time_ms[skip:].tolist()
        consumption += run.consumption[skip:].tolist()
        estimated += run.estimated[skip:].tolist()
        for kind, at in run.events.items():
            events[kind] += at.tolist()
        state = run.end
    assert kept_ms == whole.time_ms.tolist()
    np.testing.assert_allclose(consumption, whole.consumption, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(estimated, whole.estimated, rtol=1e-12, atol=1e-9)
    assert {k: v for k, v in events.items() if v} == {
        k: v.tolist() for k, v in whole.events.items() if v.size
    }
    assert state is not None
    assert whole.end is not None
    assert (state.last_ms, state.high) == (whole.end.last_ms, whole.end.high)
    np.testing.assert_allclose(
        [state.consumption, state.estimated], [whole.end.consumption, whole.end.estimated]
    )


def test_a_run_without_readings_keeps_the_state() -> None:
    state = counters.WalkState(last_ms=5 * MIN, high=120.0, consumption=20.0, estimated=1.5)
    run = walk([], [], MeterConfig("m"), [], start=state)
    assert run.end == state
    assert run.time_ms.tolist() == [5 * MIN]
    # interpolation over the cut reaches back to the last good reading before it
    resumed = walk([7 * MIN], [124.0], MeterConfig("m"), [], start=state)
    c, _ = resumed.at(int_array([6 * MIN]))
    assert c.tolist() == [22.0]
