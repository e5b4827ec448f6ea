"""Raw kitchen bins: deposits from stable-to-stable steps, on small hand-computed arrays."""

from datetime import date, time
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from central.kpi.daytable import build_day_table
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.rawbins import (
    AUTO_ZERO,
    EMPTYING,
    NEGATIVE_STEP,
    UNSTABLE,
    Derived,
    derive_deposits,
)
from central.kpi.readings import CardReadings, MeterReadings, ScaleReadings, SiteReadings
from central.kpi.report import build_report
from central.kpi.scales import check_scales
from central.registry import Service, Site
from central.site_kpi_config import ScaleConfig, SiteKpiConfig
from tests.central.conftest import utc_ms

# division 5 g: the zero band is 15 g (3 divisions)
BIN = ScaleConfig("bin", division_g=5.0)
CONFIGS = {"bin": BIN}


def derive(gross: list[float], stable: list[bool] | bool = True, **config: float) -> Derived:
    times = np.arange(1, len(gross) + 1) * 1000
    scale = ScaleReadings.raw(times, "prep", gross, stable)
    return derive_deposits(scale, {"bin": ScaleConfig("bin", division_g=5.0, **config)})


def counts(derived: Derived) -> dict[str, int]:
    return {kind: int(events.time_ms.size) for kind, events in derived.events.items()}


def test_simple_deposits_are_the_steps_at_the_time_of_the_reading_after_them() -> None:
    derived = derive([0.0, 500.0, 1250.0, 1250.0, 3000.0])
    assert derived.readings.mass_g.tolist() == [500.0, 750.0, 1750.0]
    assert derived.readings.time_ms.tolist() == [2000, 3000, 5000]
    assert derived.readings.stream.tolist() == ["prep"] * 3
    assert not derived.readings.is_raw.any()
    assert counts(derived) == {EMPTYING: 0, AUTO_ZERO: 0, UNSTABLE: 0, NEGATIVE_STEP: 0}


def test_emptying_is_an_event_not_waste_and_the_next_deposit_counts_from_the_empty_bin() -> None:
    # 4 kg -> 5 g (within the 15 g zero band): emptied; 4 kg -> 1.5 kg: a drop of more than half
    derived = derive([0.0, 4000.0, 5.0, 605.0, 4000.0, 1500.0, 1700.0])
    assert derived.readings.mass_g.tolist() == [4000.0, 600.0, 3395.0, 200.0]
    assert derived.events[EMPTYING].time_ms.tolist() == [3000, 6000]
    # a drop of less than half the gross (4 kg -> 2.5 kg) is no emptying with the default share,
    # but is one with emptying_drop_share = 0.3
    assert counts(derive([0.0, 4000.0, 2500.0]))[NEGATIVE_STEP] == 1
    assert counts(derive([0.0, 4000.0, 2500.0], emptying_drop_share=0.3))[EMPTYING] == 1


def test_zero_drift_of_an_empty_platform_is_absorbed_by_auto_zero() -> None:
    # empty bin drifts 0 -> 10 -> -5 g (within 15 g), then 800 g go in: the deposit is 805 g,
    # measured from the re-zeroed reference; the same reading twice is no auto-zero
    derived = derive([0.0, 10.0, 10.0, -5.0, 800.0])
    assert derived.readings.mass_g.tolist() == [805.0]
    assert derived.events[AUTO_ZERO].time_ms.tolist() == [2000, 4000]
    # a band of its own: 10 g out of a 5 g band is a (tiny) deposit
    assert derive([0.0, 10.0], zero_band_g=5.0).readings.mass_g.tolist() == [10.0]


def test_unstable_readings_are_ignored_and_counted() -> None:
    derived = derive(
        [0.0, 350.0, 180.0, 220.0, 200.0, 900.0, 2000.0],
        [True, False, False, False, True, False, True],
    )
    # steps between stable readings only: 0 -> 200 -> 2000
    assert derived.readings.mass_g.tolist() == [200.0, 1800.0]
    assert derived.events[UNSTABLE].time_ms.tolist() == [2000, 3000, 4000, 6000]


def test_small_drops_on_a_loaded_bin_are_ignored_and_counted() -> None:
    derived = derive([0.0, 3000.0, 2990.0, 2985.0, 3485.0])
    assert derived.readings.mass_g.tolist() == [3000.0, 500.0]
    assert derived.events[NEGATIVE_STEP].time_ms.tolist() == [3000, 4000]


def test_steps_below_the_division_and_above_the_maximum_are_rejected_like_net_readings() -> None:
    scale = ScaleReadings.raw(
        [1, 2, 3, 4, 5], "prep", [0.0, 1000.0, 1003.0, 61003.0, 62003.0], True
    )
    configs = {"bin": ScaleConfig("bin", division_g=5.0, max_g=50000.0)}
    derived = derive_deposits(scale, configs)
    assert derived.readings.mass_g.tolist() == [1000.0, 3.0, 60000.0, 1000.0]
    checked = check_scales(derived.readings, configs)
    assert checked.kept.mass_g.tolist() == [1000.0, 1000.0]
    assert checked.below_division_ms.tolist() == [3]
    assert checked.above_max_ms.tolist() == [4]


def test_several_deposits_in_one_stable_window_are_one_step() -> None:
    # two deposits (300 g, 450 g) without a stable reading between them
    derived = derive([100.0, 400.0, 850.0, 850.0], [True, False, False, True])
    assert derived.readings.mass_g.tolist() == [750.0]
    assert derived.readings.time_ms.tolist() == [4000]


def test_net_readings_pass_unchanged_and_devices_are_kept_apart() -> None:
    net = ScaleReadings.of([5, 6], ["plate", "spoilage"], [40.0, 900.0], device="p1")
    a = ScaleReadings.raw([1, 3], "prep", [0.0, 500.0], True, device="bin-a")
    b = ScaleReadings.raw([2, 4], "spoilage", [1000.0, 1700.0], True, device="bin-b")
    derived = derive_deposits(ScaleReadings.concat([net, a, b]), {})
    got = sorted(
        zip(
            derived.readings.device.tolist(),
            derived.readings.stream.tolist(),
            derived.readings.mass_g.tolist(),
            strict=True,
        )
    )
    assert got == [
        ("bin-a", "prep", 500.0),
        ("bin-b", "spoilage", 700.0),
        ("p1", "plate", 40.0),
        ("p1", "spoilage", 900.0),
    ]


# --- across days, through the day table and the daily report ---------------------------------

H = 3_600_000
NOV20 = utc_ms(2026, 11, 19, 16)  # 2026-11-20 00:00 in Shanghai
NOV21 = NOV20 + 24 * H
SITE = Site(
    id="s1",
    name="One",
    timezone=ZoneInfo("Asia/Shanghai"),
    registered_staff=10,
    services=(Service("lunch", time(11, 0), time(13, 30)),),  # prep window 09:00-13:30
    kpi=SiteKpiConfig(scales={"bin": BIN}),
)


def bin_readings() -> ScaleReadings:
    """Nov 20: 1 kg at 10:00, 0.5 kg at 23:30 (no service: the day only); Nov 21: 2 kg at 10:00
    (its reference is the 23:30 reading of the day before), emptied at 21:00."""
    times = [
        NOV20 + 8 * H,  # 08:00 empty platform
        NOV20 + 10 * H - 5000,  # unstable while the deposit goes in
        NOV20 + 10 * H,  # 1000 g, a prep deposit in lunch's prep window
        NOV20 + 23 * H + 30 * 60_000,  # 1500 g: 500 g late in the evening
        NOV21 + 10 * H,  # 3500 g: 2000 g on the next morning
        NOV21 + 21 * H,  # emptied
    ]
    gross = [0.0, 1400.0, 1000.0, 1500.0, 3500.0, 5.0]
    stable = [True, False, True, True, True, True]
    return ScaleReadings.raw(times, "prep", gross, stable)


def site_readings(scale: ScaleReadings) -> SiteReadings:
    return SiteReadings(scale, CardReadings.empty(), MeterReadings.empty())


def test_each_deposit_falls_into_its_day_once_whatever_range_is_loaded() -> None:
    raw = bin_readings()
    both = build_day_table(
        SITE, DateRange(date(2026, 11, 20), date(2026, 11, 21)), site_readings(raw)
    )
    assert both.day_waste_g["prep"].tolist() == [1500.0, 2000.0]
    assert both.service_waste_g["prep"][:, 0].tolist() == [1000.0, 2000.0]
    assert both.raw_bin_events[EMPTYING].tolist() == [0, 1]
    assert both.raw_bin_events[UNSTABLE].tolist() == [1, 0]
    # Nov 21 alone: the store adds the bin's last stable reading before the range (23:30 of
    # Nov 20, the lookback) and the 2 kg step is counted; without it the step would be lost
    nov21 = DateRange(date(2026, 11, 21), date(2026, 11, 21))
    lookback = raw.where(raw.time_ms >= NOV20 + 23 * H)
    alone = build_day_table(SITE, nov21, site_readings(lookback))
    assert alone.day_waste_g["prep"].tolist() == [2000.0]
    missing = build_day_table(SITE, nov21, site_readings(raw.where(raw.time_ms >= NOV21)))
    assert missing.day_waste_g["prep"].tolist() == [0.0]


def test_raw_bin_figures_are_reported_per_row_and_per_device() -> None:
    span = DateRange(date(2026, 11, 20), date(2026, 11, 21))
    table = build_day_table(SITE, span, site_readings(bin_readings()))
    report = build_report([table], {}, PeriodKind.CUSTOM, span, Granularity.DAY, NOV21 + 48 * H)
    first, second = (row.quality for row in report.rows)
    assert (first.raw_bin_unstable_ignored, first.raw_bin_emptyings) == (1, 0)
    assert (second.raw_bin_unstable_ignored, second.raw_bin_emptyings) == (0, 1)
    total = report.total
    assert total.quality.raw_bin_emptyings == 1
    assert total.quality.raw_bin_auto_zeros == total.quality.raw_bin_negative_steps == 0
    (device,) = [d for d in total.devices if d.device == "bin"]
    assert device.raw_bin_events == {
        EMPTYING: 1,
        AUTO_ZERO: 0,
        UNSTABLE: 1,
        NEGATIVE_STEP: 0,
    }
    assert device.readings == 6
    assert total.kpis["prep_waste_g"].value == pytest.approx(3500.0)
