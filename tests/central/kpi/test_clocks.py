"""Wrong device clocks: the per-reading rule, and its effect on attribution and Q3."""

from dataclasses import replace

import pytest

from central.kpi.clocks import (
    ClockRule,
    Timed,
    attributed_ms,
    correct_clocks,
    judge_burst,
    judge_device,
    predecessor_matters,
    wrong_clock,
)
from central.kpi.daytable import build_day_table
from central.kpi.periods import Granularity, PeriodKind
from central.kpi.readings import CardReadings, int_array
from central.kpi.report import build_report
from central.site_kpi_config import BUILTIN_FACTOR_SET, KpiConfigError, parse_site_kpi_config
from tests.central.kpi.test_report import AFTER, NOV20, NOV21, SITE, TWO_DAYS, H, at, readings

MIN = 60_000
RULE = ClockRule(future_tolerance_ms=10 * MIN, max_delay_ms=90 * MIN)


def test_the_rule_flags_future_times_and_times_before_the_longest_buffering() -> None:
    received = int_array([1_000 * H] * 8)
    offsets = [0, 10 * MIN, 10 * MIN + 1, 3 * H, -90 * MIN, -90 * MIN - 1, -12 * H, 0]
    time = received + int_array(offsets)
    time[-1] = 5_000  # a clock at 1970
    assert wrong_clock(time, received, RULE).tolist() == [
        False, False, True, True, False, True, True, True,
    ]  # fmt: skip
    fixed = attributed_ms(time, received, RULE)
    assert fixed.tolist() == [
        time[0], time[1], received[2], received[3], time[4], received[5], received[6], received[7]
    ]  # fmt: skip


def test_late_data_within_the_buffering_limit_keeps_its_device_time() -> None:
    # an hour-long outage: readings taken every 10 minutes, all received at its end
    time = int_array([NOV20 + i * 10 * MIN for i in range(6)])
    received = int_array([NOV20 + 60 * MIN] * 6)
    assert not wrong_clock(time, received, RULE).any()


def test_thresholds_must_not_be_negative() -> None:
    with pytest.raises(ValueError, match="thresholds"):
        ClockRule(future_tolerance_ms=-1)


def test_correction_keeps_order_and_original_times() -> None:
    base = readings()
    cards = CardReadings.of(
        time_ms=[at(NOV20, 11), 12_345, at(NOV20, 12) + 5 * H],
        person=["a", "b", "c"],
        received_ms=[at(NOV20, 11), at(NOV20, 12), at(NOV20, 12)],
    )
    corrected = correct_clocks(replace(base, card=cards), RULE)
    assert corrected.readings.card.time_ms.tolist() == [
        at(NOV20, 11), at(NOV20, 12), at(NOV20, 12)
    ]  # fmt: skip
    assert corrected.original.card.time_ms.tolist() == cards.time_ms.tolist()


def test_wrong_clocks_are_attributed_by_receive_time_and_counted() -> None:
    base = readings()
    # lunch on the 21st: b's card reader sits at 1970, c's runs 5 h ahead; both received at 12:00
    cards = CardReadings.of(
        time_ms=[at(NOV20, 11), at(NOV20, 12), 86_400_000, at(NOV21, 12) + 5 * H],
        person=["a", "b", "b", "c"],
        received_ms=[at(NOV20, 11), at(NOV20, 12), at(NOV21, 12), at(NOV21, 12)],
    )
    table = build_day_table(SITE, TWO_DAYS, replace(base, card=cards), clock_rule=RULE)
    report = build_report([table], {}, PeriodKind.CUSTOM, TWO_DAYS, Granularity.DAY, AFTER)
    rows = report.rows
    assert [row.kpis["diners"].value for row in rows] == [2, 2]
    assert [row.quality.clock_corrected for row in rows] == [0, 2]
    assert report.total.quality.clock_corrected == 2
    card = next(d for d in report.total.devices if d.kind == "card")
    assert card.clock_corrected == 2
    # Q3 reports the skew as sent, so the wrong clocks show in its 95th percentile
    assert card.clock_skew_p95_abs_ms is not None
    assert card.clock_skew_p95_abs_ms > 5 * H


def test_without_correction_the_same_readings_fall_outside_the_day() -> None:
    base = readings()
    cards = CardReadings.of(
        time_ms=[86_400_000, at(NOV21, 12) + 3 * H],  # 15:00: between the services
        person=["b", "c"],
        received_ms=[at(NOV21, 12), at(NOV21, 12)],
    )
    trusting = ClockRule(future_tolerance_ms=100 * 365 * 24 * H, max_delay_ms=100 * 365 * 24 * H)
    table = build_day_table(SITE, TWO_DAYS, replace(base, card=cards), clock_rule=trusting)
    assert table.diners.sum() == 0
    table = build_day_table(SITE, TWO_DAYS, replace(base, card=cards), clock_rule=RULE)
    assert table.diners.sum() == 2


def test_the_rule_comes_from_the_site_configuration() -> None:
    def parse(raw: dict[str, object]) -> ClockRule:
        return parse_site_kpi_config(raw, "sites[0]", {}, BUILTIN_FACTOR_SET).clock

    assert parse({}) == ClockRule(future_tolerance_ms=10 * MIN, max_delay_ms=90 * MIN)
    custom: dict[str, object] = {"clock_future_tolerance_min": 5, "clock_max_delay_min": 240.0}
    assert parse(custom) == ClockRule(future_tolerance_ms=5 * MIN, max_delay_ms=240 * MIN)
    assert parse({"clock_correction": False}).enabled is False
    with pytest.raises(KpiConfigError, match="clock_correction"):
        parse({"clock_correction": "no"})
    with pytest.raises(KpiConfigError, match="clock_max_delay_min"):
        parse({"clock_max_delay_min": -1})


MIN_MS = 60_000
DAY_MS = 24 * 60 * MIN_MS


def buffered_meter(received_ms: int) -> list[Timed]:
    """A meter's live reading at 08:00 yesterday (seq 0), its day of readings every 15 minutes
    kept in its own memory (seq 1-95), sent at 08:00 today, then its live reading (seq 96)."""
    start = received_ms - DAY_MS
    out = [Timed(0, start, start + 200)]
    out += [Timed(n, start + n * 15 * MIN_MS, received_ms + n * 10) for n in range(1, 96)]
    out.append(Timed(96, received_ms + 2_000, received_ms + 2_100))
    return out


def test_a_device_whose_live_readings_are_right_keeps_the_times_of_its_buffered_ones() -> None:
    rule = ClockRule()
    meter = buffered_meter(1_800_000_000_000)
    verdicts = judge_device(meter, rule)
    late = [n for n, r in enumerate(meter) if r.time_ms - r.received_ms < -rule.max_delay_ms]
    assert late == list(range(1, 91))  # the last hour and a half is within the rule's limits
    assert [verdicts[n] for n in late] == [True] * len(late)
    assert all(verdicts[n] is None for n in range(len(meter)) if n not in late)
    # the same burst in any order, split over two uploads (the live reading stored already)
    shuffled = [meter[n] for n in (96, *range(95, 0, -1), 0)]
    assert judge_device(shuffled, rule)[6:96] == [True] * 90
    # without a reading within the limits after them (not arrived yet): not trusted yet
    assert set(judge_device(meter[:91], rule)[1:91]) == {False}
    # without a reading before them (the first readings of a boot): judged by themselves
    assert set(judge_device(meter[1:], rule)[:90]) == {False}
    assert judge_device(meter, ClockRule(enabled=False)) == [None] * len(meter)


def test_a_burst_split_over_uploads_is_judged_with_the_stored_part() -> None:
    """judge_burst, the decision both stores make with what they have stored: the stored part
    of a burst (not trusted yet) becomes trusted when the live reading arrives; the
    predecessor matters only where a live reading after the buffer can vouch for it."""
    rule = ClockRule()
    meter = buffered_meter(1_800_000_000_000)
    stored = [replace(r, trusted=False) for r in meter[1:46]]  # the first upload's verdicts
    new, retrusted = judge_burst(stored, meter[0], meter[46:], rule)
    assert retrusted == list(range(45))
    assert new[:45] == [True] * 45  # meter[46:91], late too
    assert new[-1] is None  # the live reading
    # without its predecessor the earliest cannot be trusted, nor (by the chain) the others
    assert judge_burst(stored, None, meter[46:], rule)[1] == []
    assert predecessor_matters(stored, meter[46:], rule)
    # no live reading yet: nothing to vouch for, the predecessor changes nothing
    assert not predecessor_matters(stored, meter[46:91], rule)
    assert not predecessor_matters(stored, meter[46:], ClockRule(enabled=False))
    # stored verdicts already true are not written again
    trusted = [replace(r, trusted=True) for r in stored]
    assert judge_burst(trusted, meter[0], meter[46:], rule)[1] == []


def test_a_wrong_clock_stays_wrong() -> None:
    rule = ClockRule()
    now = 1_800_000_000_000
    # 3 days behind, live readings included: nothing within the limits vouches for it
    behind = [Timed(n, now + n * MIN_MS - 3 * DAY_MS, now + n * MIN_MS) for n in range(10)]
    assert set(judge_device(behind, rule)) == {False}
    # a stretch hours behind between right readings (a bad time sync): the reading before it
    # was taken later than it, so no buffering explains it
    right = [Timed(n, now + n * MIN_MS, now + n * MIN_MS + 100) for n in range(6)]
    stretch = [replace(r, time_ms=r.time_ms - 5 * 60 * MIN_MS) for r in right[2:4]]
    assert judge_device([*right[:2], *stretch, *right[4:]], rule) == [
        None, None, False, False, None, None
    ]  # fmt: skip
    # at 1970 after a right reading, a right one after it: still wrong (taken before its
    # predecessor)
    assert judge_device([right[0], Timed(1, 5, now + MIN_MS), right[2]], rule)[1] is False
    # ahead of its receive time: never trusted, whatever follows
    ahead = Timed(1, now + 60 * MIN_MS, now + MIN_MS)
    assert judge_device([right[0], ahead, right[2]], rule)[1] is None
