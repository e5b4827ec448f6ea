"""faults: each fault shows on the wire as often as the truth says; the canteen stays the same."""

import dataclasses
from collections import Counter, defaultdict
from itertools import pairwise

import pytest

from contract.topics import DeviceKind
from simulators.devices import METER_BY_QUANTITY, fleet
from simulators.events import CardSwipe, MeterReading, Weighing
from simulators.faults import ALL_FAULTS, Fault, parse_faults
from simulators.registry import Site
from simulators.truth import ENERGY_KEYS, FAULT_NAMES
from tests.simulators.attribution import day_bounds, inside, windows
from tests.simulators.faultlog import Run, Sent, render, without_fault_keys

METERS = set(METER_BY_QUANTITY.values())
RATE = 4.0  # high enough that one day of s1 carries every fault


def _meter_runs(run: Run) -> dict[str, list[Sent]]:
    return {d: msgs for d, msgs in run.data_by_device().items() if d in METERS}


def _counts(run: Run, site: Site) -> dict[str, int]:
    faults: dict[str, int] = run.site_json(site.id)["faults"]
    return faults


def _interval_max(site: Site, device: str, interval_s: int = 60) -> float:
    """The most a genuine reading may add over one interval, by the registry's max rate."""
    quantity = next(q for q, d in METER_BY_QUANTITY.items() if d == device)
    return site.meter(quantity).max_rate_per_h * interval_s / 3600


def _only(run: Run, site: Site, fault: Fault) -> int:
    """The truth's count of `fault`, checked > 0, with every other fault (but double swipes) 0."""
    counts = _counts(run, site)
    assert counts[fault.value] > 0, counts
    others = {k: v for k, v in counts.items() if k != fault.value}
    assert set(others.values()) == {0}, counts
    return counts[fault.value]


def test_names_parse_and_all_means_every_fault() -> None:
    assert parse_faults("all") == ALL_FAULTS
    assert tuple(f.value for f in Fault) == FAULT_NAMES  # the truth lists every fault
    assert tuple(Fault) == ALL_FAULTS  # clock_skew too: it needs edges on a simulated clock
    assert parse_faults("all,clock_skew") == ALL_FAULTS
    assert parse_faults(" late, meter_gap ") == (Fault.METER_GAP, Fault.LATE)
    assert parse_faults("") == ()
    with pytest.raises(ValueError, match="unknown faults \\['clock'\\]"):
        parse_faults("late,clock")


def test_without_faults_the_messages_are_the_plain_rendering(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    run = render(site, days=2)
    devices = fleet(site.id, site.tz, seed=3, start_date=run.plans[0].frame.day)
    for plan, day in zip(run.plans, run.days, strict=True):
        plain = {
            d: [devices[d].render(e) for e in events] for d, events in plan.by_device().items()
        }
        assert day.batches == plain
    assert set(_counts(run, site).values()) == {0}


def test_meter_reset_restarts_boot_and_register(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    run = render(site, "meter_reset", RATE)
    resets = 0
    for device, messages in _meter_runs(run).items():
        for before, after in pairwise(messages):
            if after.boot != before.boot:
                resets += 1
                assert after.seq == 0
                assert after.total <= _interval_max(site, device)  # counts from 0 again
                assert after.ts_ms - before.ts_ms == 60_000  # no reading lost
    assert resets == _only(run, site, Fault.METER_RESET)
    statuses = [s.document["state"] for s in run.sent() if s.channel == "status"]
    assert statuses == ["offline", "online"] * resets


def test_meter_wrap_drops_by_the_modulus(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    run = render(site, "meter_wrap")
    wraps = 0
    for device, messages in _meter_runs(run).items():
        modulus = site.meter(next(q for q, d in METER_BY_QUANTITY.items() if d == device))
        for before, after in pairwise(messages):
            assert after.total < modulus.wrap_modulus
            if after.total < before.total:
                wraps += 1
                used = after.total + modulus.wrap_modulus - before.total
                assert 0 <= used <= _interval_max(site, device) + 1e-6
    assert wraps == _only(run, site, Fault.METER_WRAP) == len(METERS)  # rate 1: each meter once


def test_meter_spike_is_one_implausible_reading(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    run = render(site, "meter_spike", RATE)
    spikes = 0
    for device, messages in _meter_runs(run).items():
        limit = _interval_max(site, device)
        for before, spike, after in zip(messages, messages[1:], messages[2:], strict=False):
            if spike.total - before.total > limit:
                spikes += 1
                assert 0 <= after.total - before.total <= 2 * limit  # the next one is normal
    assert spikes == _only(run, site, Fault.METER_SPIKE)


def test_meter_dip_is_one_small_step_back(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    run = render(site, "meter_dip", RATE)
    dips = 0
    for messages in _meter_runs(run).values():
        for before, dip, after in zip(messages, messages[1:], messages[2:], strict=False):
            if dip.total < before.total:
                dips += 1
                assert before.total - dip.total <= 0.005 + 1e-9
                assert after.total >= before.total
    assert dips == _only(run, site, Fault.METER_DIP)


def test_meter_gap_misses_grid_points_and_truth_has_the_unplaceable_energy(
    sites: tuple[Site, ...],
) -> None:
    site = sites[0]
    run = render(site, "meter_gap", RATE, days=2)
    site_json = run.site_json(site.id)
    gaps = missed = 0
    expected: dict[tuple[str, str, str], float] = defaultdict(float)
    registers = {
        (e.device, e.at_ms): e.register
        for plan in run.plans
        for e in plan.events
        if isinstance(e, MeterReading)
    }
    for device, messages in _meter_runs(run).items():
        key = next(ENERGY_KEYS[q] for q, d in METER_BY_QUANTITY.items() if d == device)
        for before, after in pairwise(messages):
            step = after.ts_ms - before.ts_ms
            assert step > 0  # in order
            assert step % 60_000 == 0  # on the grid
            if step == 60_000:
                continue
            gaps += 1
            missed += step // 60_000 - 1
            # Independently of the simulator: the true registers at the window edges.
            for plan in run.plans:
                day = plan.frame.day
                spans = {name: w.prep for name, w in windows(site, day).items()}
                spans["day"] = day_bounds(site, day)
                for name, (begin, end) in spans.items():
                    low, high = max(begin, before.ts_ms), min(end, after.ts_ms)
                    if high > low:
                        used = registers[(device, high)] - registers[(device, low)]
                        expected[(day.isoformat(), name, key)] += used
    assert gaps == _only(run, site, Fault.METER_GAP)
    assert missed == site_json["fault_readings"]["meter_gap"]
    assert sum(expected.values()) > 0
    for day, entry in site_json["days"].items():
        scopes = {**entry["services"], "day": entry["day"]}
        for name, scope in scopes.items():
            for key in ENERGY_KEYS.values():
                assert scope["gap_energy"][key] == pytest.approx(
                    expected.get((day, name, key), 0.0), abs=1e-5
                ), (day, name, key)


def test_duplicates_are_byte_identical_repeats(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    run = render(site, "duplicate", RATE)
    repeats = 0
    for messages in run.data_by_device().values():
        seen: dict[tuple[str, int], bytes] = {}
        for sent in messages:
            key = (sent.boot, sent.seq)
            if key in seen:
                repeats += 1
                assert seen[key] == sent.payload
            seen[key] = sent.payload
    assert repeats == _only(run, site, Fault.DUPLICATE)


def test_device_reboot_new_boot_seq_from_0_status_offline_then_online(
    sites: tuple[Site, ...],
) -> None:
    site = sites[0]
    run = render(site, "device_reboot", RATE)
    reboots = 0
    by_device: dict[str, list[Sent]] = defaultdict(list)
    for sent in run.sent():
        by_device[sent.device].append(sent)
    for device, messages in by_device.items():
        for index, sent in enumerate(messages):
            if sent.channel != "status":
                continue
            if sent.document["state"] == "offline":
                reboots += 1
                online, reading = messages[index + 1], messages[index + 2]
                assert online.document["state"] == "online"
                assert sent.document["boot"] != online.document["boot"] == reading.boot
                assert reading.seq == 0
                previous = [m for m in messages[:index] if m.channel == "data"][-1]
                assert previous.boot == sent.document["boot"]
                if device in METERS:  # a reboot is not a reset: the register carries on
                    assert reading.total >= previous.total
    assert reboots == _only(run, site, Fault.DEVICE_REBOOT)


def test_late_readings_follow_later_readings_of_other_devices(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    run = render(site, "late", RATE)
    sent = run.sent()
    late = [s for s in sent if s.channel == "data" and s.due_ms > s.ts_ms]
    assert len(late) == run.site_json(site.id)["fault_readings"]["late"] > 0
    assert len({(s.device, s.due_ms) for s in late}) == _only(run, site, Fault.LATE)
    for message in late:
        # What other devices read on time between this reading and its publication went first.
        newer = [
            other.order
            for other in sent
            if other.channel == "data"
            and other.due_ms == other.ts_ms
            and other.device != message.device
            and message.ts_ms < other.ts_ms < message.due_ms
        ]
        assert max(newer, default=-1) < message.order
        first_of_outage = not any(
            m.device == message.device and m.due_ms == message.due_ms and m.order < message.order
            for m in late
        )
        if first_of_outage:  # outages last 10 min or more: the meters read meanwhile
            assert newer, message
    for messages in run.data_by_device().values():  # still in sequence on each device
        assert [m.seq for m in messages] == list(range(len(messages)))


def test_double_swipes_are_counted(sites: tuple[Site, ...]) -> None:
    site = sites[0]
    run = render(site, "double_swipe", RATE)
    swipes = [(s.document["card"], s.ts_ms) for s in run.sent() if s.kind is DeviceKind.CARD]
    distinct = 0
    for plan in run.plans:
        for window in windows(site, plan.frame.day).values():
            distinct += len({card for card, at in swipes if inside(at, window.diners)})
    assert len(swipes) - distinct == _only(run, site, Fault.DOUBLE_SWIPE)


@pytest.mark.parametrize("site_index", [0, 1])
def test_all_faults_leave_the_canteen_truth_unchanged(
    sites: tuple[Site, ...], site_index: int
) -> None:
    site = sites[site_index]
    clean = render(site, days=2)
    dirty = render(site, "all", RATE, days=2, raw_bins=True)  # scale_drift needs raw bins
    assert [p.truth for p in clean.plans] == [p.truth for p in dirty.plans]
    assert without_fault_keys(clean.site_json(site.id)) == without_fault_keys(
        dirty.site_json(site.id)
    )
    counts = _counts(dirty, site)
    assert all(counts[f.value] > 0 for f in ALL_FAULTS), counts

    # Non-swipe events are the same; faults only change how they are published, except that a
    # visitor pays without a card, so neither the swipe nor the tray names one.
    def anonymous(event: object) -> object:
        return dataclasses.replace(event, card=None) if isinstance(event, Weighing) else event

    visitor_swipes = 0
    for a, b in zip(clean.plans, dirty.plans, strict=True):
        clean_other = [e for e in a.events if not isinstance(e, CardSwipe)]
        dirty_other = [e for e in b.events if not isinstance(e, CardSwipe)]
        assert [anonymous(e) for e in clean_other] == [anonymous(e) for e in dirty_other]
        for before, after in zip(clean_other, dirty_other, strict=True):
            assert after in (before, anonymous(before))

        def when(e: CardSwipe) -> tuple[int, str, str]:
            return (e.at_ms, e.device, e.service)

        dirty_swipes = Counter(when(e) for e in b.events if isinstance(e, CardSwipe))
        assert not Counter(when(e) for e in a.events if isinstance(e, CardSwipe)) - dirty_swipes
        visitor_swipes += sum(1 for e in b.events if isinstance(e, CardSwipe) and e.card is None)
    assert visitor_swipes == counts[Fault.VISITOR.value] > 0
    # Per device: published in due order, seq contiguous from 0 within each boot.
    for messages in dirty.data_by_device().values():
        boots: dict[str, list[int]] = defaultdict(list)
        for sent in messages:
            if boots[sent.boot] and boots[sent.boot][-1] == sent.seq:
                continue  # a duplicate
            boots[sent.boot].append(sent.seq)
        for seqs in boots.values():
            assert seqs == list(range(len(seqs)))


def test_clock_skew_shifts_ts_of_short_stretches_but_not_when_they_are_sent(
    sites: tuple[Site, ...],
) -> None:
    site = sites[0]
    run = render(site, "clock_skew", RATE)
    stretches = _only(run, site, Fault.CLOCK_SKEW)
    clean = render(site)
    # the same messages in the same order at the same instants; only some device clocks differ
    dirty_sent, clean_sent = run.sent(), clean.sent()
    assert [(s.due_ms, s.device, s.channel) for s in dirty_sent] == [
        (s.due_ms, s.device, s.channel) for s in clean_sent
    ]
    shifted = [
        (d, d.ts_ms - c.ts_ms) for d, c in zip(dirty_sent, clean_sent, strict=True) if d != c
    ]
    assert len(shifted) == run.site_json(site.id)["fault_readings"]["clock_skew"]
    assert len(shifted) >= stretches
    hour = 3_600_000
    for sent, offset in shifted:
        at_1970 = sent.ts_ms < 31 * 24 * hour
        assert at_1970 or hour <= offset <= 12 * hour or -12 * hour <= offset <= -2 * hour, offset
        assert abs(offset) >= 1 * hour  # beyond central's limits (10 min ahead, 90 min behind)
    # a stretch shifts its readings alike: per device, runs of equal offsets
    runs = 0
    previous: tuple[str, int] | None = None
    by_order = {s.order: (s.device, o) for s, o in shifted}
    for order in sorted(by_order):
        device, offset = by_order[order]
        if previous is None or previous[0] != device or previous[1] != offset:
            runs += 1
        previous = (device, offset)
    assert runs >= stretches


def test_same_seed_same_faults(sites: tuple[Site, ...]) -> None:
    first, second = render(sites[0], "all", 2.0), render(sites[0], "all", 2.0)
    assert [d.batches for d in first.days] == [d.batches for d in second.days]
    assert first.truth.to_json() == second.truth.to_json()
    other = render(sites[0], "all", 2.0, seed=4)
    assert [d.batches for d in first.days] != [d.batches for d in other.days]
