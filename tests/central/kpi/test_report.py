"""Period reports from arrays: every KPI of a hand-computed two-day site, regions and rankings."""

from dataclasses import replace
from datetime import date, time
from zoneinfo import ZoneInfo

import pytest

from central.kpi.daytable import build_day_table
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.kpi.quantiles import RELATIVE_ERROR
from central.kpi.readings import (
    CardReadings,
    DuplicateCounts,
    MeterReadings,
    ScaleReadings,
    SiteReadings,
    int_array,
    str_array,
)
from central.kpi.report import (
    baseline_totals,
    build_report,
    period_totals,
    quota_for,
    rank_totals,
)
from central.registry import Service, Site
from central.site_kpi_config import BUILTIN_FACTOR_SET, MeterConfig, SiteKpiConfig
from tests.central.conftest import utc_ms

H = 3_600_000
NOV20 = utc_ms(2026, 11, 19, 16)  # 2026-11-20 00:00 in Shanghai (UTC+8)
NOV21 = NOV20 + 24 * H
AFTER = NOV20 + 30 * 24 * H  # "now" when the report is made: the period is over

SITE = Site(
    id="s1",
    name="One",
    timezone=ZoneInfo("Asia/Shanghai"),
    registered_staff=10,
    services=(
        Service("lunch", time(11, 0), time(13, 30)),  # energy window 09:00-13:30
        Service("dinner", time(17, 0), time(19, 30)),  # energy window 15:00-19:30
    ),
    floor_area_m2=100.0,
    kpi=SiteKpiConfig(
        food_price_cny_per_kg=10.0,
        food_co2e_kg_per_kg=2.0,
        energy_quota_kgce_month=3000.0,
        meters={"e1": MeterConfig("e1", interval_s=3600)},
    ),
)
TWO_DAYS = DateRange(date(2026, 11, 20), date(2026, 11, 21))


def at(day_start: int, hour: float) -> int:
    return day_start + int(hour * H)


def readings() -> SiteReadings:
    cards = CardReadings.of(
        time_ms=[at(NOV20, 11), at(NOV20, 12), at(NOV20, 12.5), at(NOV20, 18), at(NOV21, 12)],
        person=["a", "b", "a", "a", "c"],  # a swipes twice at lunch on the 20th
    )
    scale = ScaleReadings.of(
        time_ms=[
            at(NOV20, 12), at(NOV20, 12.1), at(NOV20, 18), at(NOV21, 12),
            at(NOV21, 12.2), at(NOV21, 12.3),  # 0.5 g: below the 1 g division; 3 kg: above max
            at(NOV20, 9.5), at(NOV21, 22),
        ],
        stream=["plate"] * 6 + ["prep", "spoilage"],
        mass_g=[0.0, 50.0, 30.0, 20.0, 0.5, 3000.0, 200.0, 1000.0],
        device=["plate-1"] * 6 + ["bin-1", "bin-2"],
    )  # fmt: skip
    # electricity +10 kWh per hour from the 20th 00:00 to the 22nd 00:00, hourly
    meter = MeterReadings.of(
        device="e1",
        quantity="electricity",
        time_ms=[NOV20 + i * H for i in range(49)],
        total=[5000.0 + 10.0 * i for i in range(49)],
        received_ms=[NOV20 + i * H + 1000 for i in range(49)],  # the device clock is 1 s behind
    )
    return SiteReadings(scale=scale, card=cards, meter=meter)


def report(granularity: Granularity, site: Site = SITE) -> object:
    table = build_day_table(site, TWO_DAYS, readings())
    return build_report([table], {}, PeriodKind.CUSTOM, TWO_DAYS, granularity, AFTER)


def values(row: object) -> dict[str, float | None]:
    return {name: kpi.value for name, kpi in row.kpis.items()}  # type: ignore[attr-defined]


def test_every_kpi_of_the_period_total() -> None:
    total = report(Granularity.DAY).total  # type: ignore[attr-defined]
    v = values(total)
    assert total.label == "2026-11-20..2026-11-21"
    assert total.factor_sets == (BUILTIN_FACTOR_SET.id,)
    assert v["diners"] == 4  # lunch a, b; dinner a; lunch c
    assert v["attendance_pct"] == pytest.approx(4 / 40 * 100)  # 10 staff x 2 services x 2 days
    assert (v["trays"], v["clean_plates"]) == (4, 1)
    assert v["clean_plate_rate_pct"] == pytest.approx(25.0)
    assert (v["plate_waste_g"], v["prep_waste_g"], v["spoilage_waste_g"]) == (100.0, 200.0, 1000.0)
    assert v["plate_waste_per_diner_g"] == pytest.approx(25.0)
    assert v["waste_per_diner_g"] == pytest.approx(75.0)  # F4: (100 + 200 + 0) / 4
    assert v["spoilage_per_diner_g"] == pytest.approx(250.0)
    assert v["waste_rate_pct"] is None
    assert "production" in (total.kpis["waste_rate_pct"].reason or "")
    assert v["waste_value_cny"] == pytest.approx(1.3 * 10.0)  # every stream, 1.3 kg
    assert v["waste_co2e_kg"] == pytest.approx(2.6)
    assert total.kpis["waste_change_vs_baseline_pct"].reason == "baseline is not configured"
    assert v["electricity_kwh"] == pytest.approx(480.0)
    assert v["gas_m3"] is None
    assert total.kpis["gas_m3"].reason == "no gas meter"
    assert v["electricity_kwh_per_meal"] == pytest.approx(120.0)
    assert v["energy_kgce"] == pytest.approx(480 * 0.1229)
    assert v["energy_kgce_per_meal"] == pytest.approx(480 * 0.1229 / 4)
    assert v["co2_kg_per_meal"] == pytest.approx(480 * 0.5366 / 4)
    assert v["energy_kgce_per_m2"] == pytest.approx(480 * 0.1229 / 100)
    assert v["energy_kgce_per_m2_year"] == pytest.approx(480 * 0.1229 / 100 * 365 / 2)
    assert v["energy_kgce_per_staff"] == pytest.approx(480 * 0.1229 / 10)
    # quota 3000 kgce for November's 30 days: 200 kgce for two days, all elapsed
    assert v["quota_use_pct"] == pytest.approx(480 * 0.1229 / 200 * 100)
    # off hours: 24 h - 4.5 h - 4.5 h per day = 150 kWh of 240
    assert v["off_hours_share_pct"] == pytest.approx(62.5)
    assert v["peak_demand_kw"] == pytest.approx(10.0)
    assert total.kpis["energy_kgce_per_meal"].unit == "kgce/meal"
    q = total.quality
    assert (q.meter_readings_received, q.meter_readings_expected) == (48, 48)
    assert q.completeness_pct == pytest.approx(100.0)
    assert (q.scale_rejected_below_division, q.scale_rejected_above_max) == (1, 1)
    assert q.estimated_share_pct == pytest.approx(0.0)
    assert q.resets == q.spikes == q.gaps == 0


def test_rows_per_day_and_per_service() -> None:
    days = report(Granularity.DAY).rows  # type: ignore[attr-defined]
    assert [(r.label, values(r)["diners"]) for r in days] == [("2026-11-20", 3), ("2026-11-21", 1)]
    assert values(days[0])["electricity_kwh"] == pytest.approx(240.0)
    services = report(Granularity.SERVICE).rows  # type: ignore[attr-defined]
    assert [(r.label, r.service, values(r)["diners"]) for r in services] == [
        ("2026-11-20", "lunch", 2),
        ("2026-11-20", "dinner", 1),
        ("2026-11-21", "lunch", 1),
        ("2026-11-21", "dinner", 0),
    ]
    lunch = values(services[0])
    assert (lunch["trays"], lunch["clean_plates"], lunch["plate_waste_g"]) == (2, 1, 50.0)
    assert lunch["prep_waste_g"] == 200.0
    assert lunch["electricity_kwh"] == pytest.approx(45.0)  # 09:00-13:30
    assert lunch["spoilage_waste_g"] is None
    assert services[0].kpis["off_hours_share_pct"].reason == "off-hours energy is a day figure"
    assert values(services[3])["waste_per_diner_g"] is None


def test_quality_counts_duplicates_and_skew_per_device() -> None:
    duplicates = DuplicateCounts(
        device=str_array(["e1", "e1", "plate-1"]),
        local_date=str_array(["2026-11-20", "2026-11-22", "2026-11-21"]),
        duplicates=int_array([3, 7, 1]),  # the 22nd is outside the report
    )
    table = build_day_table(SITE, TWO_DAYS, readings(), duplicates)
    total = build_report([table], {}, PeriodKind.CUSTOM, TWO_DAYS, Granularity.DAY, AFTER).total
    q = total.quality
    assert q.duplicates_dropped == 4
    stored = 5 + 8 + 48  # cards, scale readings (rejected ones too), meter readings in the days
    assert q.readings_stored == stored
    assert q.duplicate_share_pct == pytest.approx(4 / (stored + 4) * 100)
    # meters read 1 s behind the edge (48 samples); card and scale clocks agree with it (13)
    # Q3 from the skew histogram: within RELATIVE_ERROR (1000 ms is in the bin of 992-1007 ms)
    assert q.clock_skew_median_ms == pytest.approx(-1000.0, rel=RELATIVE_ERROR)
    assert q.clock_skew_p95_abs_ms == pytest.approx(1000.0, rel=RELATIVE_ERROR)


def test_region_sums_sites_and_needs_config_of_every_site() -> None:
    other = replace(SITE, id="s2", kpi=replace(SITE.kpi, food_price_cny_per_kg=None))
    tables = [build_day_table(s, TWO_DAYS, readings()) for s in (SITE, other)]
    region = build_report(tables, {}, PeriodKind.CUSTOM, TWO_DAYS, Granularity.PERIOD, AFTER)
    v = values(region.total)
    assert region.sites == ("s1", "s2")
    assert v["diners"] == 8
    assert v["waste_per_diner_g"] == pytest.approx(75.0)
    assert v["energy_kgce_per_m2"] == pytest.approx(2 * 480 * 0.1229 / 200)
    assert v["waste_value_cny"] is None
    assert region.total.kpis["waste_value_cny"].reason == (
        "food_price_cny_per_kg is not configured for every site"
    )

    assert region.total.kpis["waste_value_cny"].reason_params == {
        "key": "food_price_cny_per_kg", "scope": "region"
    }  # fmt: skip


def test_a_region_whose_sites_lack_a_quota_for_different_reasons_gives_every_reason() -> None:
    """s1 has a monthly quota only (no use over dates of two months), s2 none at all: the
    region's E7 is missing for both reasons, in English and as a code with the other's in `also`."""
    none = replace(SITE, id="s2", kpi=replace(SITE.kpi, energy_quota_kgce_month=None))
    span = DateRange(date(2026, 11, 20), date(2026, 12, 1))
    tables = [build_day_table(s, span, readings()) for s in (SITE, none)]
    region = build_report(tables, {}, PeriodKind.CUSTOM, span, Granularity.PERIOD, AFTER)
    quota = region.total.kpis["quota_use_pct"]
    assert quota.value is None
    assert quota.reason == (
        "no energy quota configured (energy_quota_kgce_month, energy_quota_kgce_year) for every"
        " site; quota use needs dates within one month (monthly quota) or one year"
    )
    assert (quota.reason_code, quota.reason_params) == (
        "no_quota", {"scope": "region", "also": "quota_span"}
    )  # fmt: skip
    assert quota.why is not None
    assert quota.why.in_lang("zh") == (
        "有食堂未配置能耗定额（energy_quota_kgce_month、energy_quota_kgce_year）；"
        "定额使用率要求统计期在同一个月内（月定额）或同一年内（年定额）"
    )
    one = build_report(tables[:1], {}, PeriodKind.CUSTOM, span, Granularity.PERIOD, AFTER)
    assert (
        one.total.kpis["quota_use_pct"].reason_code,
        one.total.kpis["quota_use_pct"].reason_params,
    ) == ("quota_span", {})


CUSTOM = PeriodKind.CUSTOM


def test_ranking_orders_sites_by_a_kpi_and_lists_missing_values_last() -> None:
    lean = replace(SITE, id="lean", registered_staff=5)
    none = replace(SITE, id="none", floor_area_m2=None)
    sites = (SITE, lean, none)
    ids = [(s.id, s.name) for s in sites]
    totals = [
        period_totals(build_day_table(s, TWO_DAYS, readings()), None, CUSTOM, TWO_DAYS, AFTER)
        for s in sites
    ]

    def rank(kpi: str, descending: bool = False) -> list[tuple[int | None, str]]:
        ranked, _ = rank_totals(ids, totals, kpi, descending, CUSTOM, TWO_DAYS)
        return [(r.rank, r.site) for r in ranked]

    assert rank("attendance_pct", descending=True)[:2] == [(1, "lean"), (2, "s1")]
    assert rank("energy_kgce_per_m2")[-1] == (None, "none")
    with pytest.raises(KeyError):
        rank("nonsense")


def test_baseline_change_is_per_diner_normalised() -> None:
    baseline = (date(2026, 11, 20), date(2026, 11, 20))
    site = replace(SITE, kpi=replace(SITE.kpi, baseline=baseline))
    base = baseline_totals(build_day_table(site, DateRange(*baseline), readings()))
    table = build_day_table(site, DateRange(date(2026, 11, 21), date(2026, 11, 21)), readings())
    span = DateRange(date(2026, 11, 21), date(2026, 11, 21))
    total = build_report([table], {"s1": base}, PeriodKind.DAY, span, Granularity.DAY, AFTER).total
    # baseline day: (50 + 30 + 200) g / 3 diners; the 21st: 20 g / 1 diner
    assert total.kpis["waste_change_vs_baseline_pct"].value == pytest.approx(
        (1 - 20.0 / (280.0 / 3)) * 100
    )


def test_quota_is_prorated_and_needs_configuration() -> None:
    config = SiteKpiConfig(energy_quota_kgce_month=3000.0, energy_quota_kgce_year=36500.0)
    assert quota_for(config, DateRange(date(2026, 11, 1), date(2026, 11, 30)))[0] == 3000.0
    assert quota_for(config, DateRange(date(2026, 1, 1), date(2026, 12, 31)))[0] == 36500.0
    assert quota_for(config, DateRange(date(2026, 11, 30), date(2026, 12, 1)))[0] == (
        pytest.approx(200.0)
    )
    assert quota_for(SiteKpiConfig(), DateRange(date(2026, 1, 1), date(2026, 1, 1)))[1]


def test_repeat_swipes_are_card_readings_beyond_one_per_diner_and_service() -> None:
    base = readings()
    cards = CardReadings.of(
        # the 20th: a twice at lunch, a again at dinner (a new meal, not a repeat), b three
        # times at dinner; a swipe at 15:00 is outside every service and not counted at all
        time_ms=[at(NOV20, 11), at(NOV20, 12), at(NOV20, 12.5), at(NOV20, 18), at(NOV20, 17.1),
                 at(NOV20, 17.2), at(NOV20, 19), at(NOV20, 15), at(NOV21, 12)],
        person=["a", "b", "a", "a", "b", "b", "b", "c", "c"],
    )  # fmt: skip
    table = build_day_table(SITE, TWO_DAYS, replace(base, card=cards))
    assert table.repeat_swipes.tolist() == [1 + 2, 0]
    rows = build_report([table], {}, PeriodKind.CUSTOM, TWO_DAYS, Granularity.DAY, AFTER).rows
    assert [row.quality.repeat_swipes for row in rows] == [3, 0]
    assert [values(row)["diners"] for row in rows] == [2 + 2, 1]
