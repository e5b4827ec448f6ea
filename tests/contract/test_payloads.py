import contextlib
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from contract import (
    CardPayload,
    DeviceKind,
    LossReason,
    MeterPayload,
    PayloadError,
    ScalePayload,
    ScaleRecord,
    parse_payload,
    parse_status,
)
from contract.payloads import MAX_EPOCH_MS, MAX_LOCAL_DATE, MAX_PAYLOAD_BYTES

BASE: dict[str, Any] = {"v": 1, "seq": 7, "boot": "a1b2c3d4", "ts": "2026-11-20T12:00:00.250+08:00"}


def raw(**fields: Any) -> bytes:
    return json.dumps({**BASE, **fields}).encode()


def test_scale_payload_in_kilograms_is_converted_to_grams() -> None:
    payload = parse_payload(DeviceKind.SCALE, raw(stream="prep", mass=1.25, unit="kg"))
    assert isinstance(payload, ScalePayload)
    assert payload.mass_g == 1250.0
    assert payload.ts == 1795147200250  # 04:00:00.250 UTC


def test_epoch_milliseconds_and_rfc3339_name_the_same_instant() -> None:
    a = parse_payload(DeviceKind.CARD, raw(card="0012345678"))
    b = parse_payload(DeviceKind.CARD, raw(card="0012345678", ts=1795147200250))
    assert isinstance(a, CardPayload)
    assert a.ts == b.ts


def test_meter_units_are_converted_to_canonical() -> None:
    payload = parse_payload(
        DeviceKind.METER,
        raw(quantity="electricity", total=1500.0, unit="Wh", power=2500, power_unit="W"),
    )
    assert isinstance(payload, MeterPayload)
    assert payload.total_canonical == pytest.approx(1.5)
    assert payload.power_kw == pytest.approx(2.5)
    water = parse_payload(DeviceKind.METER, raw(quantity="water", total=250.0, unit="L"))
    assert isinstance(water, MeterPayload)
    assert water.total_canonical == pytest.approx(0.25)


@pytest.mark.parametrize(
    ("kind", "payload", "reason"),
    [
        (DeviceKind.SCALE, b"not json", "invalid scale payload"),
        (DeviceKind.SCALE, b"\xff\xfe{}", "invalid scale payload"),
        (DeviceKind.SCALE, raw(stream="plate", mass=-3, unit="g"), "mass"),
        (DeviceKind.SCALE, raw(stream="soup", mass=3, unit="g"), "stream"),
        (DeviceKind.SCALE, raw(stream="plate", mass=3, unit="lb"), "unit"),
        (DeviceKind.SCALE, raw(stream="plate", mass="3", unit="g", v=2), "v"),
        (DeviceKind.CARD, raw(card=""), "card"),
        (DeviceKind.CARD, raw(card="1", ts="2026-11-20T12:00:00"), "no UTC offset"),
        (DeviceKind.CARD, raw(card="1", ts=True), "not a boolean"),
        (DeviceKind.CARD, raw(card="1", seq=-1), "seq"),
        (DeviceKind.CARD, raw(card="1", boot="a/b"), "boot"),
        (DeviceKind.METER, raw(quantity="gas", total=1, unit="kWh"), "cannot measure gas"),
        (DeviceKind.METER, raw(quantity="electricity", total=1, unit="kWh", power=3), "power_unit"),
        (
            DeviceKind.METER,
            b'{"v":1,"seq":1,"boot":"b","ts":0,"quantity":"gas","total":NaN,"unit":"m3"}',
            "total",
        ),
        (
            DeviceKind.METER,
            b'{"v":1,"seq":1,"boot":"b","ts":0,"quantity":"gas","total":1e999,"unit":"m3"}',
            "total",
        ),
    ],
)
def test_invalid_payloads_are_rejected_with_a_reason(
    kind: DeviceKind, payload: bytes, reason: str
) -> None:
    with pytest.raises(PayloadError, match=reason) as info:
        parse_payload(kind, payload)
    assert info.value.reason  # a person-readable text travels with the error


def test_oversized_payload_is_rejected_before_parsing() -> None:
    huge = raw(card="1", padding="x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(PayloadError, match="exceeds the limit"):
        parse_payload(DeviceKind.CARD, huge)


def test_deeply_nested_payload_is_rejected() -> None:
    nested = b"[" * 2000 + b"]" * 2000
    with pytest.raises(PayloadError):
        parse_payload(DeviceKind.CARD, nested)


def test_unknown_fields_are_ignored() -> None:
    payload = parse_payload(DeviceKind.CARD, raw(card="42", rssi=-70, battery_pct=88))
    assert isinstance(payload, CardPayload)


def test_status_payload() -> None:
    status = parse_status(b'{"v":1,"state":"offline"}')
    assert status.state == "offline"
    with pytest.raises(PayloadError, match="state"):
        parse_status(b'{"v":1,"state":"sleeping"}')


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(st.binary(max_size=600))
def test_arbitrary_bytes_never_escape_as_another_error(data: bytes) -> None:
    for kind in DeviceKind:
        with contextlib.suppress(PayloadError):
            parse_payload(kind, data)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


# The machine is shared: input generation may be slow, which is not what these tests are about.
@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                *BASE,
                "card",
                "stream",
                "mass",
                "unit",
                "quantity",
                "total",
                "power",
                "power_unit",
                "tray",
            ]
        ),
        json_values,
    )
)
def test_arbitrary_json_objects_parse_or_fail_cleanly(fields: dict[str, Any]) -> None:
    data = json.dumps(fields).encode()
    for kind in DeviceKind:
        try:
            payload = parse_payload(kind, data)
        except PayloadError as exc:
            reason = exc.reason
            assert reason, "a rejection always carries a reason"
            continue
        # Whatever is accepted is of the canonical shape.
        assert payload.seq >= 0
        assert payload.ts >= 0


def test_upload_batch_carries_readings_or_dropped_duplicates_never_neither() -> None:
    from pydantic import ValidationError

    from contract import DroppedDuplicate, UploadBatch

    envelope = {"site": "s1", "edge": "edge-s1", "batch_id": "b"}
    only_duplicates = UploadBatch.model_validate(
        {**envelope, "readings": [],
         "duplicates": [{"id": 1, "device": "m1", "device_time_ms": 5}]}
    )  # fmt: skip
    assert only_duplicates.duplicates == [DroppedDuplicate(id=1, device="m1", device_time_ms=5)]
    with pytest.raises(ValidationError, match="needs at least one reading, one dropped"):
        UploadBatch.model_validate({**envelope, "readings": []})
    with pytest.raises(ValidationError):
        UploadBatch.model_validate(
            {**envelope, "readings": [], "duplicates": [{"id": 0, "device": "m1",
                                                         "device_time_ms": 5}]}
        )  # fmt: skip


def test_upload_batch_may_carry_only_device_status_changes() -> None:
    from pydantic import ValidationError

    from contract import MAX_BATCH_STATUSES, DeviceStatusRecord, UploadBatch

    envelope = {"site": "s1", "edge": "edge-s1", "batch_id": "b", "readings": []}
    will = {"kind": "meter", "device": "m1", "state": "offline", "received_ms": 7}
    batch = UploadBatch.model_validate({**envelope, "statuses": [will]})
    assert batch.statuses == [
        DeviceStatusRecord(kind=DeviceKind.METER, device="m1", state="offline", received_ms=7)
    ]
    assert (batch.statuses[0].boot, batch.statuses[0].device_time_ms) == (None, None)
    # an older edge's batch has no `statuses` at all
    assert UploadBatch.model_validate({**envelope, "duplicates": [
        {"id": 1, "device": "m1", "device_time_ms": 5}]}).statuses == []  # fmt: skip
    for wrong, field in (
        ({**will, "state": "asleep"}, "state"),
        ({**will, "kind": "printer"}, "kind"),
        ({**will, "boot": "a/b"}, "boot"),
        ({**will, "device_time_ms": "2026-01-01T00:00:00"}, "device_time_ms"),
    ):
        with pytest.raises(ValidationError, match=field):
            UploadBatch.model_validate({**envelope, "statuses": [wrong]})
    with pytest.raises(ValidationError, match="at most"):
        UploadBatch.model_validate({**envelope, "statuses": [will] * (MAX_BATCH_STATUSES + 1)})


def test_a_visitor_meal_has_no_card() -> None:
    visitor = parse_payload(DeviceKind.CARD, raw(visitor=True))
    assert isinstance(visitor, CardPayload)
    assert visitor.visitor
    assert visitor.card is None
    with pytest.raises(PayloadError, match="visitor meal carries no card"):
        parse_payload(DeviceKind.CARD, raw(visitor=True, card="42"))
    with pytest.raises(PayloadError, match="card is required"):
        parse_payload(DeviceKind.CARD, raw())


def test_a_raw_kitchen_bin_reading_carries_gross_and_stable() -> None:
    payload = parse_payload(
        DeviceKind.SCALE, raw(stream="prep", gross=12.345, unit="kg", stable=True)
    )
    assert isinstance(payload, ScalePayload)
    assert (payload.gross_g, payload.stable, payload.mass_g) == (12345.0, True, None)
    # a gross may be negative: a drifting empty platform, or the bin lifted off a tared scale
    drifted = parse_payload(
        DeviceKind.SCALE, raw(stream="spoilage", gross=-5, unit="g", stable=True)
    )
    assert isinstance(drifted, ScalePayload)
    assert drifted.gross_g == -5.0


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"stream": "prep", "unit": "g"}, "send either mass .* or gross with stable"),
        ({"stream": "prep", "unit": "g", "mass": 3, "gross": 3, "stable": True}, "not both"),
        ({"stream": "prep", "unit": "g", "gross": 3}, "gross needs stable"),
        ({"stream": "prep", "unit": "g", "mass": 3, "stable": True}, "send it with gross"),
        ({"stream": "plate", "unit": "g", "gross": 3, "stable": True}, "net mass of each tray"),
        ({"stream": "prep", "unit": "g", "gross": 3, "stable": "maybe"}, "stable"),
        ({"stream": "prep", "unit": "g", "gross": 3, "stable": True, "item": "rice"}, "not with"),
        ({"stream": "prep", "unit": "g", "mass": 3, "reason": "burnt"}, "reason: Input should"),
        ({"stream": "prep", "unit": "g", "mass": 3, "item": "a b"}, "item: String should"),
        ({"stream": "prep", "unit": "g", "mass": 3, "item": 12}, "item: Input should"),
    ],
)
def test_net_or_raw_scale_forms_are_exclusive(fields: dict[str, Any], reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        parse_payload(DeviceKind.SCALE, raw(**fields))


def test_a_net_record_serialises_without_the_raw_fields_and_a_raw_one_without_mass() -> None:
    common: dict[str, Any] = {
        "device": "bin-1", "boot": "b1", "seq": 1, "device_time_ms": 1, "received_ms": 2,
        "stream": "prep",
    }  # fmt: skip
    net = json.loads(ScaleRecord(**common, mass_g=5.0).model_dump_json())
    assert "gross_g" not in net
    assert "stable" not in net
    assert net["mass_g"] == 5.0
    raw_record = ScaleRecord(**common, gross_g=-3.0, stable=False)
    document = json.loads(raw_record.model_dump_json())
    assert "mass_g" not in document
    assert (document["gross_g"], document["stable"]) == (-3.0, False)
    assert ScaleRecord.model_validate(document) == raw_record
    for bad in ({}, {"mass_g": 1.0, "gross_g": 1.0, "stable": True}, {"gross_g": 1.0}):
        with pytest.raises(ValidationError):
            ScaleRecord(**common, **bad)


# --- strict types (issue 13): a wrong JSON type is refused with a reason, never coerced --------

SCALE_NET: dict[str, Any] = {"stream": "plate", "mass": 46, "unit": "g"}
SCALE_RAW: dict[str, Any] = {"stream": "prep", "gross": 5.5, "unit": "kg", "stable": True}
METER: dict[str, Any] = {"quantity": "electricity", "total": 1.5, "unit": "kWh", "power": 2.0,
                         "power_unit": "kW"}  # fmt: skip
CARD: dict[str, Any] = {"card": "3300172845"}
# (kind, the valid fields of that kind, the numeric or flag fields in them)
FORMS = [
    (DeviceKind.SCALE, SCALE_NET, ("mass", "seq")),
    (DeviceKind.SCALE, SCALE_RAW, ("gross", "seq")),
    (DeviceKind.METER, METER, ("total", "power", "seq")),
    (DeviceKind.CARD, CARD, ("seq",)),
]
NUMBER_FIELDS = [(kind, fields, name) for kind, fields, names in FORMS for name in names]


@pytest.mark.parametrize(("kind", "fields", "name"), NUMBER_FIELDS)
@pytest.mark.parametrize("value", [True, False])
def test_a_boolean_is_never_a_number(
    kind: DeviceKind, fields: dict[str, Any], name: str, value: bool
) -> None:
    with pytest.raises(PayloadError, match=f"{name}: Input should be a valid (number|integer)"):
        parse_payload(kind, raw(**{**fields, name: value}))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    form=st.sampled_from(NUMBER_FIELDS),
    number=st.integers(min_value=0, max_value=10**9) | st.floats(min_value=0, max_value=1e9),
)
def test_a_number_in_a_string_is_never_a_number(
    form: tuple[DeviceKind, dict[str, Any], str], number: float
) -> None:
    kind, fields, name = form
    if name == "seq":
        number = int(number)  # a sequence number is an integer
    good = parse_payload(kind, raw(**{**fields, name: number}))  # the number itself is fine...
    assert getattr(good, name) == number
    with pytest.raises(PayloadError, match=f"{name}: Input should be a valid"):
        parse_payload(kind, raw(**{**fields, name: str(number)}))  # ...its text is not


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(seq=st.floats(allow_nan=False, allow_infinity=False) | st.booleans() | st.text(max_size=8))
def test_seq_is_a_json_integer_only(seq: float | bool | str) -> None:
    # `seq: true` used to become 1 (then dropped as a duplicate of seq 1), `7.0` became 7
    with pytest.raises(PayloadError, match="seq: Input should be a valid integer"):
        parse_payload(DeviceKind.CARD, raw(**CARD, seq=seq))


@pytest.mark.parametrize("flag", ["stable", "visitor"])
@pytest.mark.parametrize("value", [1, 0, "true", "yes"])
def test_a_flag_is_a_json_boolean_only(flag: str, value: object) -> None:
    kind, fields = (DeviceKind.SCALE, SCALE_RAW) if flag == "stable" else (DeviceKind.CARD, {})
    with pytest.raises(PayloadError, match=f"{flag}: Input should be a valid boolean"):
        parse_payload(kind, raw(**{**fields, flag: value}))


def test_the_schema_version_is_not_a_boolean() -> None:
    with pytest.raises(PayloadError, match="v: Value error, must be a number, not a boolean"):
        parse_payload(DeviceKind.CARD, raw(**CARD, v=True))


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(blank=st.text(alphabet=" \t\n\r\u3000\u00a0", min_size=1, max_size=64))
def test_a_blank_card_or_tray_is_refused(blank: str) -> None:
    with pytest.raises(PayloadError, match="card: Value error, must not be blank"):
        parse_payload(DeviceKind.CARD, raw(card=blank))
    with pytest.raises(PayloadError, match="tray: Value error, must not be blank"):
        parse_payload(DeviceKind.SCALE, raw(**SCALE_NET, tray=blank))
    # a card with spaces around a number is a card (the reader's own format), kept as sent
    card = parse_payload(DeviceKind.CARD, raw(card=f"{blank}42"))
    assert isinstance(card, CardPayload)
    assert card.card == f"{blank}42"


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    form=st.sampled_from(FORMS),
    seq=st.integers(min_value=0, max_value=2**53 - 1),
    ts=st.integers(min_value=0, max_value=MAX_EPOCH_MS),
)
def test_every_well_typed_payload_parses_to_what_was_sent(
    form: tuple[DeviceKind, dict[str, Any], tuple[str, ...]], seq: int, ts: int
) -> None:
    kind, fields, _ = form
    payload = parse_payload(kind, raw(**fields, seq=seq, ts=ts))
    assert (payload.seq, payload.ts) == (seq, ts)


def test_a_timestamp_beyond_the_shared_maximum_is_refused() -> None:
    assert parse_payload(DeviceKind.CARD, raw(**CARD, ts=MAX_EPOCH_MS)).ts == MAX_EPOCH_MS
    # the end of year 9999, which the contract used to allow, made central fail whole batches
    for late in (MAX_EPOCH_MS + 1, "9999-12-31T23:59:59.999Z", "9998-12-31T00:00:00Z"):
        with pytest.raises(PayloadError, match="ts: Input should be less than or equal to"):
            parse_payload(DeviceKind.CARD, raw(**CARD, ts=late))


def test_every_local_date_of_the_maximum_is_a_readable_date() -> None:
    from datetime import UTC, date, datetime, timedelta, timezone

    latest = datetime.fromtimestamp(MAX_EPOCH_MS / 1000, UTC)
    for hours in (-23, -12, 0, 14, 23):
        local = latest.astimezone(timezone(timedelta(hours=hours, minutes=59)))
        assert local.date() <= MAX_LOCAL_DATE
    # and the dates a KPI load reaches beyond it still exist
    assert MAX_LOCAL_DATE + timedelta(days=40) < date.max


@settings(suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(value=st.floats(min_value=1e12, exclude_min=True))
def test_a_measured_value_beyond_the_bound_is_refused(value: float) -> None:
    with pytest.raises(PayloadError, match="mass: Input should be"):
        parse_payload(DeviceKind.SCALE, raw(**{**SCALE_NET, "mass": value}))


def test_a_kitchen_weighing_may_name_its_dish_and_reason_and_old_payloads_stay_valid() -> None:
    tagged = parse_payload(
        DeviceKind.SCALE,
        raw(
            stream="overproduction", mass=2.4, unit="kg", item="hongshao-rou", reason="overproduced"
        ),
    )
    assert isinstance(tagged, ScalePayload)
    assert (tagged.item, tagged.reason) == ("hongshao-rou", LossReason.OVERPRODUCED)
    untagged = parse_payload(DeviceKind.SCALE, raw(stream="prep", mass=2.4, unit="kg"))
    assert isinstance(untagged, ScalePayload)
    assert (untagged.item, untagged.reason) == (None, None)
    common: dict[str, Any] = {
        "device": "term-1", "boot": "b1", "seq": 1, "device_time_ms": 1, "received_ms": 2,
        "stream": "prep", "mass_g": 5.0,
    }  # fmt: skip
    # an untagged record is byte for byte what it was before the tags existed
    assert "item" not in json.loads(ScaleRecord(**common).model_dump_json())
    record = ScaleRecord(**common, item="rice", reason=LossReason.TRIM)
    document = json.loads(record.model_dump_json())
    assert (document["item"], document["reason"]) == ("rice", "trim")
    assert ScaleRecord.model_validate(document) == record
