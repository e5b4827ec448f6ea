"""Payload-to-record conversion: canonical units, both clocks, and pseudonymous person ids."""

import hashlib
import hmac
from datetime import UTC, datetime

import pytest

from contract import (
    CardRecord,
    DeviceKind,
    MeterRecord,
    PayloadError,
    ScaleRecord,
    Stream,
    parse_payload,
    parse_topic,
)
from edge.records import pseudonymise, to_record
from tests.edge.conftest import card_payload, meter_payload, scale_payload

KEY = b"per-site-secret-0123456789"


def test_pseudonym_is_hmac_sha256_of_site_and_card() -> None:
    expected = hmac.new(KEY, b"s1:CARD-0042", hashlib.sha256).hexdigest()[:32]
    assert pseudonymise(KEY, "s1", "CARD-0042") == expected
    assert len(expected) == 32
    # Different site or key: unrelated ids.
    assert pseudonymise(KEY, "s2", "CARD-0042") != expected
    assert pseudonymise(b"another-key-0123456789", "s1", "CARD-0042") != expected


def test_scale_payload_in_kg_becomes_grams_with_pseudonym() -> None:
    address = parse_topic("canteen/s1/scale/plate-1/data")
    payload = parse_payload(DeviceKind.SCALE, scale_payload(7, card="CARD-0042", tray="T9"))
    record = to_record(address, payload, received_ms=1_800_000_000_123, person_key=KEY)
    assert isinstance(record, ScaleRecord)
    assert record.mass_g == pytest.approx(125.0)
    assert (record.device, record.boot, record.seq) == ("plate-1", "b1", 7)
    assert record.device_time_ms == 1_795_000_000_007
    assert record.received_ms == 1_800_000_000_123
    assert record.tray == "T9"
    assert record.person == pseudonymise(KEY, "s1", "CARD-0042")
    assert "CARD-0042" not in record.model_dump_json()


def test_scale_without_card_has_no_person() -> None:
    address = parse_topic("canteen/s1/scale/bin-1/data")
    payload = parse_payload(DeviceKind.SCALE, scale_payload(0))
    record = to_record(address, payload, received_ms=1, person_key=KEY)
    assert isinstance(record, ScaleRecord)
    assert record.person is None


def test_card_payload_rfc3339_time_and_pseudonym() -> None:
    address = parse_topic("canteen/s1/card/reader-1/data")
    payload = parse_payload(DeviceKind.CARD, card_payload(3, "6222021234567890"))
    record = to_record(address, payload, received_ms=5, person_key=KEY)
    assert isinstance(record, CardRecord)
    # 2026-11-20T12:00:00+08:00 is 04:00 UTC
    assert record.device_time_ms == datetime(2026, 11, 20, 4, tzinfo=UTC).timestamp() * 1000
    assert record.person == pseudonymise(KEY, "s1", "6222021234567890")
    assert "6222021234567890" not in record.model_dump_json()


def test_meter_payload_wh_and_w_become_kwh_and_kw() -> None:
    address = parse_topic("canteen/s1/meter/main/data")
    payload = parse_payload(DeviceKind.METER, meter_payload(1, total_wh=1_500.0))
    record = to_record(address, payload, received_ms=5, person_key=KEY)
    assert isinstance(record, MeterRecord)
    assert record.total == pytest.approx(1.5)
    assert record.power_kw == pytest.approx(2.5)


def test_a_register_too_large_to_convert_is_refused_with_its_bound() -> None:
    # 1e308 MWh would be infinite in kWh: the payload's bound refuses it before any conversion
    with pytest.raises(PayloadError, match="total: Input should be less than or equal to"):
        parse_payload(
            DeviceKind.METER,
            b'{"v":1,"seq":0,"boot":"b","ts":0,"quantity":"electricity","total":1e308,'
            b'"unit":"MWh"}',
        )
    address = parse_topic("canteen/s1/meter/main/data")
    largest = parse_payload(
        DeviceKind.METER,
        b'{"v":1,"seq":0,"boot":"b","ts":0,"quantity":"electricity","total":1e12,"unit":"MWh"}',
    )
    record = to_record(address, largest, received_ms=5, person_key=KEY)
    assert isinstance(record, MeterRecord)
    assert record.total == 1e15


def test_each_visitor_meal_gets_a_pseudonym_of_its_own() -> None:
    address = parse_topic("canteen/s1/card/reader-1/data")

    def visitor(seq: int, boot: str = "b1") -> CardRecord:
        body = f'{{"v":1,"seq":{seq},"boot":"{boot}","ts":0,"visitor":true}}'.encode()
        record = to_record(
            address, parse_payload(DeviceKind.CARD, body), received_ms=5, person_key=KEY
        )
        assert isinstance(record, CardRecord)
        return record

    first, again, second, rebooted = visitor(1), visitor(1), visitor(2), visitor(1, boot="b2")
    # One diner per visitor meal; a redelivered copy keeps its pseudonym (and its identity).
    assert first.person == again.person
    assert len({first.person, second.person, rebooted.person}) == 3
    assert first.person == pseudonymise(KEY, "s1", "visitor:reader-1:b1:1")


def test_a_raw_bin_reading_keeps_gross_and_stable_in_grams() -> None:
    address = parse_topic("canteen/s1/scale/bin-prep/data")
    body = b'{"v":1,"seq":3,"boot":"b1","ts":5,"stream":"prep","gross":2.35,"unit":"kg",'
    body += b'"stable":false}'
    payload = parse_payload(DeviceKind.SCALE, body)
    record = to_record(address, payload, received_ms=5, person_key=KEY)
    assert isinstance(record, ScaleRecord)
    assert record.gross_g == pytest.approx(2350.0)
    assert (record.stable, record.mass_g) == (False, None)
    assert record.stream is Stream.PREP
