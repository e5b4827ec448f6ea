"""Device payloads: valid for contract.parse_payload, contiguous seq per boot, both time forms."""

import json
import re
from collections import defaultdict
from datetime import date

from contract.payloads import CardPayload, MeterPayload, ScalePayload, parse_payload, parse_status
from contract.topics import DeviceKind, parse_topic
from simulators.canteen import plan_site_days
from simulators.devices import DEVICES, boot_id, fleet
from simulators.events import CardSwipe, MeterReading, Weighing
from simulators.registry import Site

START = date(2026, 11, 20)
RFC3339_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+08:00$")


def test_every_payload_validates_and_sequences_are_contiguous(sites: tuple[Site, ...]) -> None:
    for site in sites:
        devices = fleet(site.id, site.tz, seed=42, start_date=START)
        seqs: dict[tuple[str, str], list[int]] = defaultdict(list)
        for plan in plan_site_days(site, seed=42, start_date=START, days=2):
            for device, events in plan.by_device().items():
                for event in events:
                    message = devices[device].render(event)
                    address = parse_topic(message.topic)
                    assert (address.site, address.device, address.channel) == (
                        site.id,
                        device,
                        "data",
                    )
                    parsed = parse_payload(address.kind, message.payload)
                    assert parsed.ts == event.at_ms
                    raw_ts = json.loads(message.payload)["ts"]
                    match event:
                        case CardSwipe():
                            assert isinstance(parsed, CardPayload)
                            assert isinstance(raw_ts, int)
                            assert parsed.card == event.card
                            assert parsed.card is not None
                            assert re.fullmatch(r"\d{10}", parsed.card)
                        case Weighing():
                            assert isinstance(parsed, ScalePayload)
                            assert RFC3339_MS.match(raw_ts), raw_ts
                            assert parsed.stream is event.stream
                            assert parsed.mass_g is not None
                            assert abs(parsed.mass_g - event.shown_g) < 1e-6
                            assert parsed.card == event.card
                        case MeterReading():
                            assert isinstance(parsed, MeterPayload)
                            assert RFC3339_MS.match(raw_ts), raw_ts
                            assert abs(parsed.total_canonical - event.register) <= 0.0005 + 1e-9
                    seqs[device, parsed.boot].append(parsed.seq)
        assert {device for device, _ in seqs} == {spec.id for spec in DEVICES}
        for (device, _), numbers in seqs.items():
            assert numbers == list(range(len(numbers))), device


def test_some_trays_carry_the_card_and_some_diners_swipe_twice(sites: tuple[Site, ...]) -> None:
    (plan,) = plan_site_days(sites[0], seed=42, start_date=START, days=1)
    trays = [e for e in plan.events if isinstance(e, Weighing) and e.device.startswith("plate")]
    with_card = sum(1 for t in trays if t.card is not None)
    assert 0.2 * len(trays) < with_card < 0.6 * len(trays)
    swipes = [e for e in plan.events if isinstance(e, CardSwipe)]
    assert len(swipes) > plan.truth.meals
    assert {e.device for e in swipes} == {"card-1", "card-2"}
    assert {t.device for t in trays} == {"plate-1", "plate-2"}


def test_boot_ids_are_stable_and_change_with_the_run() -> None:
    boot = boot_id(42, "s1", "card-1", START)
    assert re.fullmatch(r"[0-9a-f]{8}", boot)
    assert boot == boot_id(42, "s1", "card-1", START)
    others = {
        boot_id(43, "s1", "card-1", START),
        boot_id(42, "s2", "card-1", START),
        boot_id(42, "s1", "card-2", START),
        boot_id(42, "s1", "card-1", date(2026, 11, 21)),
    }
    assert boot not in others
    assert len(others) == 4


def test_status_payloads_follow_the_contract(sites: tuple[Site, ...]) -> None:
    devices = fleet("s1", sites[0].tz, seed=1, start_date=START)
    state = devices["meter-elec"]
    assert parse_topic(state.status_topic).channel == "status"
    assert parse_topic(state.status_topic).kind is DeviceKind.METER
    online = parse_status(state.status("online", 1_795_000_000_123))
    assert (online.state, online.boot, online.ts) == ("online", state.boot, 1_795_000_000_123)
    will = parse_status(state.status("offline"))
    assert (will.state, will.boot, will.ts) == ("offline", state.boot, None)
