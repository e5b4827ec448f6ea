"""Fixtures shared by the whole suite: a real Mosquitto on a free loopback port."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.broker import Mosquitto


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[Mosquitto]:
    """A fresh broker per test, so no retained message or session leaks between tests."""
    with Mosquitto(tmp_path / "broker") as broker:
        yield broker
