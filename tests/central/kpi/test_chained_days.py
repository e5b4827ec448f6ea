"""Per-date tables chained at the date bounds compose exactly into any period's table.

For random dirty readings over several days (meter resets, wraps, spikes, dips, gaps and a
declared exchange; double swipes; wrong device clocks; every waste stream), the table of each
local date is built on its own, resuming each meter's cleaning from the previous date's end state
(build_day_table's meter_starts), and the tables are composed as rollups are (encoded, then joined
by rollup.compose). Every base quantity, and every KPI of every sub-period derived from it, equals
the table built in one go from every reading.
"""

import math
from datetime import date, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from central.kpi.counters import WalkState
from central.kpi.daytable import DayTable, build_day_table
from central.kpi.periods import DateRange
from central.kpi.readings import CardReadings, MeterReadings, ScaleReadings, SiteReadings
from central.kpi.rollup import compose, encode
from central.kpi.totals import site_totals
from central.kpi.values import derive
from central.registry import Service, Site
from central.site_kpi_config import MeterConfig, MeterExchange, SiteKpiConfig
from contract import Stream
from tests.central.conftest import utc_ms

H = 3_600_000
MIN = 60_000
FIRST = date(2026, 11, 16)
MIDNIGHT = utc_ms(2026, 11, 15, 16)  # FIRST 00:00 in Shanghai
METERS = {"e1": ("electricity", 15), "e2": ("electricity", 15), "g1": ("gas", 15)}


# a breakfast prepared from 23:00 the evening before: its energy window crosses midnight
NIGHT_BREAKFAST = Service("breakfast", time(0, 20), time(1, 30), prep_lead_min=80)


def site(exchange_at_ms: int | None, night: bool = False) -> Site:
    return Site(
        id="s1",
        name="One",
        timezone=ZoneInfo("Asia/Shanghai"),
        registered_staff=30,
        services=((NIGHT_BREAKFAST,) if night else ())
        + (
            Service("lunch", time(11, 0), time(13, 30)),
            Service("dinner", time(17, 0), time(19, 30)),
        ),
        kpi=SiteKpiConfig(
            meters={
                "e1": MeterConfig("e1", wrap_modulus=100_000.0, interval_s=15 * 60),
                "e2": MeterConfig("e2", max_rate_per_h=400.0, interval_s=15 * 60),
                "g1": MeterConfig("g1", interval_s=15 * 60),
            },
            exchanges=()
            if exchange_at_ms is None
            else (MeterExchange("e2", exchange_at_ms, 9_000.0, 3.0),),
        ),
    )


def dirty_readings(seed: int, days: int) -> tuple[SiteReadings, int | None]:
    """Readings of every kind over `days`, with every kind of dirt, from one seed."""
    rng = np.random.default_rng(seed)
    end = MIDNIGHT + days * 24 * H
    m_dev, m_q, m_t, m_v = [], [], [], []
    exchange_at = None
    for device, (quantity, step_min) in METERS.items():
        t = MIDNIGHT + int(rng.integers(0, 3 * H))  # the first reading is not at midnight
        value = float(rng.uniform(0, 90_000))
        while t < end:
            kind = rng.choice(["up"] * 12 + ["reset", "wrap", "spike", "dip", "gap", "jump"])
            if kind == "gap":
                t += int(rng.integers(2, 30)) * H  # across date bounds, up to a day and more
            value += float(rng.uniform(0, 20))
            if kind == "reset":
                value = float(rng.uniform(0, 5))
            elif kind == "wrap" and device == "e1":
                value = (value + 60_000.0) % 100_000.0
            elif kind == "dip":
                value -= 0.5
            elif kind == "jump":
                value += 5_000.0
            shown = value * 5.0 if kind == "spike" else value
            m_dev.append(device)
            m_q.append(quantity)
            m_t.append(t)
            m_v.append(shown)
            t += step_min * MIN + int(rng.integers(-60_000, 60_000))
        if device == "e2" and rng.random() < 0.5:
            exchange_at = MIDNIGHT + int(rng.integers(0, days * 24)) * H + 7 * MIN
    # cards: lunch and dinner of each date, some persons twice
    c_t, c_p = [], []
    s_t, s_stream, s_mass = [], [], []
    for day in range(days):
        base = MIDNIGHT + day * 24 * H
        for opens_h in (11, 17):
            n = int(rng.integers(0, 40))
            persons = rng.integers(0, 60, size=n)
            times = base + opens_h * H + rng.integers(0, int(2.5 * H), size=n)
            c_t += times.tolist() + times[: n // 5].tolist()  # double swipes
            c_p += [f"p{p}" for p in persons] + [f"p{p}" for p in persons[: n // 5]]
            trays = base + opens_h * H + rng.integers(0, int(3.5 * H), size=n)
            s_t += trays.tolist()
            s_stream += ["plate"] * n
            s_mass += np.round(rng.exponential(40.0, size=n), 1).tolist()
        for stream in (Stream.PREP, Stream.OVERPRODUCTION, Stream.SPOILAGE):
            n = int(rng.integers(0, 6))
            s_t += (base + rng.integers(0, 24 * H, size=n)).tolist()
            s_stream += [stream.value] * n
            s_mass += rng.uniform(100, 3000, size=n).round(0).tolist()
    # wrong clocks: some readings carry a device time of 1970; central dates them by receive time
    c_received = np.array(c_t, dtype=np.int64) + 2_000
    c_sent = np.where(rng.random(len(c_t)) < 0.05, 1_000, c_t)
    s_received = np.array(s_t, dtype=np.int64) + 3_000
    s_sent = np.where(rng.random(len(s_t)) < 0.05, 5_000, s_t)
    readings = SiteReadings(
        scale=ScaleReadings.of(
            time_ms=s_sent, stream=s_stream, mass_g=s_mass, received_ms=s_received
        ),
        card=CardReadings.of(time_ms=c_sent, person=c_p, received_ms=c_received),
        meter=MeterReadings.of(m_dev, m_q, m_t, m_v),
    )
    return readings, exchange_at


def chained(the_site: Site, span: DateRange, readings: SiteReadings) -> DayTable:
    """Each date's table built on its own from the previous date's meter ends and carried
    energy, stored as a rollup entry, and the entries composed as reads compose them
    (rollup.compose)."""
    entries, state, carry = [], dict[str, WalkState](), None
    for on in span.dates():
        table = build_day_table(
            the_site, DateRange(on, on), readings, meter_starts=state, carry_in=carry
        )
        state, carry = dict(table.meter_ends), table.carry_out
        entries.append(encode(table))
    composed = compose(the_site, span, entries)
    assert composed is not None
    return composed


def assert_same_table(got: DayTable, want: DayTable) -> None:
    exact = ("diners", "trays", "clean_plates", "day_trays", "day_clean_plates", "repeat_swipes")
    for name in (*exact, "scale_below_division", "scale_above_max"):
        np.testing.assert_array_equal(getattr(got, name), getattr(want, name), err_msg=name)
    for name in ("service_waste_g", "day_waste_g", "meter_events", "raw_bin_events"):
        for key, values in getattr(want, name).items():
            np.testing.assert_allclose(getattr(got, name)[key], values, err_msg=f"{name}.{key}")
    for q, part in want.energy.items():
        mine = got.energy[q]
        assert mine.present == part.present, q
        for name in ("service_used", "service_estimated", "day_used", "day_estimated"):
            np.testing.assert_allclose(
                getattr(mine, name), getattr(part, name), rtol=1e-9, atol=1e-7, err_msg=name
            )
        np.testing.assert_allclose(mine.off_hours_used, part.off_hours_used, rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(got.peak_kw, want.peak_kw, rtol=1e-9, atol=1e-7)
    np.testing.assert_allclose(got.service_peak_kw, want.service_peak_kw, rtol=1e-9, atol=1e-7)
    mine_devices = {(d.kind, d.device): d for d in got.devices}
    for device in want.devices:
        other = mine_devices[device.kind, device.device]
        for name in ("received", "duplicates", "clock_corrected"):
            np.testing.assert_array_equal(getattr(other, name), getattr(device, name), name)
        if device.expected is not None:
            np.testing.assert_array_equal(other.expected, device.expected)
        for name in ("keys", "counts", "at"):  # the same histograms of the same dates
            np.testing.assert_array_equal(getattr(other.skew, name), getattr(device.skew, name))
        for name in ("events", "raw_events"):
            theirs = getattr(device, name)
            if theirs is not None:
                for key, values in theirs.items():
                    np.testing.assert_array_equal(getattr(other, name)[key], values)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    days=st.integers(2, 5),
    periods=st.lists(st.tuples(st.integers(0, 4), st.integers(1, 5)), min_size=1, max_size=4),
    night=st.booleans(),
)
def test_dates_chained_equal_one_build_for_every_kpi_of_every_period(
    seed: int, days: int, periods: list[tuple[int, int]], night: bool
) -> None:
    """`night`: a breakfast whose energy window starts the evening before (daytable.Carry)."""
    readings, exchange_at = dirty_readings(seed, days)
    the_site = site(exchange_at, night)
    span = DateRange(FIRST, FIRST + timedelta(days=days - 1))
    whole = build_day_table(the_site, span, readings)
    composed = chained(the_site, span, readings)
    assert_same_table(composed, whole)
    for lo, length in periods:
        lo = min(lo, days - 1)
        hi = min(days, lo + length)
        for service in (None, *range(len(the_site.services))):
            want = derive(site_totals(whole, lo, hi, service))
            got = derive(site_totals(composed, lo, hi, service))
            for name, value in want.items():
                mine = got[name].value
                if value.value is None or mine is None:
                    assert (mine, got[name].reason) == (value.value, value.reason), name
                else:
                    assert math.isclose(mine, value.value, rel_tol=1e-9, abs_tol=1e-7), name
