import pytest

from contract import DeviceKind, TopicError, data_topic, parse_topic, status_topic
from contract.topics import site_subscriptions


def test_data_topic_round_trips() -> None:
    topic = data_topic("site-1", DeviceKind.SCALE, "plate_2")
    assert topic == "canteen/site-1/scale/plate_2/data"
    address = parse_topic(topic)
    assert (address.site, address.kind, address.device, address.channel) == (
        "site-1",
        DeviceKind.SCALE,
        "plate_2",
        "data",
    )


def test_status_topic_round_trips() -> None:
    address = parse_topic(status_topic("s1", DeviceKind.METER, "meter-elec"))
    assert address.channel == "status"
    assert address.kind is DeviceKind.METER


@pytest.mark.parametrize(
    ("topic", "reason"),
    [
        ("canteen/s1/scale/plate-1", "is not of the form"),
        ("canteen/s1/scale/plate-1/data/extra", "is not of the form"),
        ("other/s1/scale/plate-1/data", "is not of the form"),
        ("canteen/s1/oven/plate-1/data", "unknown device kind 'oven'"),
        ("canteen/s1/scale/plate-1/config", "unknown channel 'config'"),
        ("canteen/$SYS/scale/plate-1/data", "site id '$SYS'"),
        ("canteen/s1/scale/../data", "device id '..'"),
        ("canteen//scale/plate-1/data", "site id ''"),
    ],
)
def test_parse_topic_rejects_with_reason(topic: str, reason: str) -> None:
    with pytest.raises(TopicError, match=reason.replace("$", r"\$").replace(".", r"\.")):
        parse_topic(topic)


@pytest.mark.parametrize("bad", ["a/b", "+", "#", "", "x" * 65, "-lead"])
def test_ids_with_separators_or_wildcards_are_refused(bad: str) -> None:
    with pytest.raises(TopicError):
        data_topic(bad, DeviceKind.CARD, "card-1")


def test_site_subscriptions_cover_data_and_status() -> None:
    assert site_subscriptions("s1") == ["canteen/s1/+/+/data", "canteen/s1/+/+/status"]
