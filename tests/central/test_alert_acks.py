"""The alert_acks table: the first acknowledgement of an alert identity is kept, and it survives
closing and reopening central's SQLite file."""

from datetime import date
from pathlib import Path

import pytest

from central.alert_acks import AlertAckError, AlertAckStore, AlertKey

KEY = AlertKey("s1", date(2026, 11, 20), "device_silent", "elec-1")


def test_the_first_acknowledgement_is_kept_and_survives_a_reopen(tmp_path: Path) -> None:
    path = tmp_path / "central.sqlite3"
    with AlertAckStore(path) as acks:
        first = acks.acknowledge(KEY, "alice", 1_000, "meter replaced")
        again = acks.acknowledge(KEY, "bob", 2_000, "later")
        assert again == first
        assert (first.actor, first.acked_ms, first.note) == ("alice", 1_000, "meter replaced")
        other = AlertKey("s1", date(2026, 11, 20), "device_silent", "gas-1")
        acks.acknowledge(other, "bob", 3_000)
    with AlertAckStore(path) as reopened:
        found = reopened.acks(["s1"], date(2026, 11, 20), date(2026, 11, 20))
        assert found == {KEY: first, other: reopened.acknowledge(other, "carol", 4_000)}
        assert found[other].actor == "bob"
        assert reopened.acks(["s1"], date(2026, 11, 21), date(2026, 11, 30)) == {}
        assert reopened.acks(["s2"], date(2026, 11, 1), date(2026, 11, 30)) == {}
        assert reopened.acks([], date(2026, 11, 1), date(2026, 11, 30)) == {}


def test_the_key_names_the_alert_in_one_string() -> None:
    assert KEY.id == "s1/2026-11-20/device_silent/elec-1"


def test_a_closed_store_says_so(tmp_path: Path) -> None:
    acks = AlertAckStore(tmp_path / "central.sqlite3")
    with pytest.raises(AlertAckError, match="not open"):
        acks.acknowledge(KEY, "alice", 1)
