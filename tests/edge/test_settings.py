"""EdgeSettings: documented names and defaults, loud failure on unsafe secrets."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from contract import MAX_BATCH_READINGS
from edge.settings import EdgeSettings, OverflowPolicy
from tests.edge.conftest import API_KEY, PERSON_KEY

REQUIRED = {
    "EDGE_SITE": "s1",
    "EDGE_CENTRAL_URL": "http://127.0.0.1:8000/",
    "EDGE_API_KEY": API_KEY,
    "EDGE_PERSON_KEY": PERSON_KEY,
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    return monkeypatch


def test_defaults_from_environment(env: pytest.MonkeyPatch) -> None:
    settings = EdgeSettings()
    assert settings.id == "edge-s1"
    assert settings.mqtt_client_id == "edge-s1"
    assert (settings.mqtt_host, settings.mqtt_port, settings.mqtt_keepalive_s) == (
        "127.0.0.1",
        1883,
        30,
    )
    assert settings.central_url == "http://127.0.0.1:8000"
    assert settings.buffer_path == Path("/var/lib/canteen-edge/buffer.sqlite3")
    assert settings.buffer_max_readings == 1_000_000
    assert settings.overflow_policy is OverflowPolicy.DROP_OLDEST
    assert (settings.commit_max_readings, settings.commit_interval_ms) == (500, 20)
    assert (settings.batch_max_readings, settings.upload_interval_s) == (1000, 1.0)
    assert (settings.backoff_initial_s, settings.backoff_max_s) == (0.5, 60.0)
    assert settings.http_timeout_s == 10
    assert (settings.dead_letter_max_rows, settings.dead_letter_max_payload_bytes) == (10_000, 4096)
    assert (settings.stats_interval_s, settings.log_level) == (30, "INFO")
    assert settings.api_key.get_secret_value() == API_KEY
    assert API_KEY not in repr(settings)


def test_overrides(env: pytest.MonkeyPatch) -> None:
    env.setenv("EDGE_ID", "edge-north")
    env.setenv("EDGE_OVERFLOW_POLICY", "drop_newest")
    env.setenv("EDGE_LOG_LEVEL", "debug")
    settings = EdgeSettings()
    assert (settings.id, settings.mqtt_client_id) == ("edge-north", "edge-north")
    assert settings.overflow_policy is OverflowPolicy.DROP_NEWEST
    assert settings.log_level == "DEBUG"


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("EDGE_API_KEY", "", "at least 16"),
        ("EDGE_PERSON_KEY", "short", "at least 16"),
        ("EDGE_CENTRAL_URL", "central:8000", "http"),
        ("EDGE_SITE", "s/1", "pattern"),
        ("EDGE_BATCH_MAX_READINGS", str(MAX_BATCH_READINGS + 1), "less than or equal"),
        ("EDGE_OVERFLOW_POLICY", "drop_all", "drop_oldest"),
        ("EDGE_BACKOFF_MAX_S", "0.1", "backoff_max_s"),
    ],
)
def test_invalid_values_fail_loudly(
    env: pytest.MonkeyPatch, name: str, value: str, message: str
) -> None:
    env.setenv(name, value)
    with pytest.raises(ValidationError, match=message):
        EdgeSettings()


def test_missing_secret_fails(env: pytest.MonkeyPatch) -> None:
    env.delenv("EDGE_API_KEY")
    with pytest.raises(ValidationError, match="api_key"):
        EdgeSettings()


def test_dotenv_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in REQUIRED:
        monkeypatch.delenv(name, raising=False)
    env_file = tmp_path / "edge.env"
    env_file.write_text(
        "\n".join(f"{k}={v}" for k, v in REQUIRED.items()) + "\nEDGE_MQTT_PORT=1884\n"
    )
    settings = EdgeSettings(_env_file=env_file)
    assert (settings.site, settings.mqtt_port) == ("s1", 1884)
