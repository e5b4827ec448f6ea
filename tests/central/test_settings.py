"""CentralSettings: CENTRAL_ environment variables, a dotenv file, defaults and limits."""

from pathlib import Path

import pytest
from pydantic import ValidationError

from central.settings import CentralSettings
from contract import MAX_BATCH_READINGS


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("REGISTRY_PATH", "STORE", "SQLITE_PATH", "HOST", "PORT", "MAX_BATCH_READINGS",
                 "MAX_BODY_BYTES", "LOG_LEVEL", "INFLUX_URL", "INFLUX_ORG", "INFLUX_BUCKET",
                 "INFLUX_TOKEN", "INFLUX_WRITE_TIMEOUT_S", "INFLUX_QUERY_TIMEOUT_S"):  # fmt: skip
        monkeypatch.delenv(f"CENTRAL_{name}", raising=False)


def test_defaults_with_only_the_registry(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENTRAL_REGISTRY_PATH", "/etc/canteen/registry.toml")
    settings = CentralSettings.load()
    assert settings.registry_path == Path("/etc/canteen/registry.toml")
    assert settings.store == "sqlite"
    assert settings.sqlite_path == Path("/var/lib/canteen-central/central.sqlite3")
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.max_batch_readings == MAX_BATCH_READINGS
    assert settings.max_body_bytes == 8 * 1024 * 1024
    assert settings.log_level == "INFO"


def test_env_file_fills_what_the_environment_leaves_unset(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    env_file = tmp_path / "central.env"
    env_file.write_text(
        "CENTRAL_REGISTRY_PATH=/srv/r.toml\nCENTRAL_PORT=9001\nOTHER_THING=1\n", encoding="utf-8"
    )
    monkeypatch.setenv("CENTRAL_PORT", "9002")
    settings = CentralSettings.load(env_file)
    assert settings.registry_path == Path("/srv/r.toml")
    assert settings.port == 9002


def test_registry_is_required_and_limits_are_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ValidationError, match="registry_path"):
        CentralSettings.load()
    monkeypatch.setenv("CENTRAL_REGISTRY_PATH", "r.toml")
    monkeypatch.setenv("CENTRAL_MAX_BATCH_READINGS", str(MAX_BATCH_READINGS + 1))
    with pytest.raises(ValidationError, match="max_batch_readings"):
        CentralSettings.load()
    monkeypatch.setenv("CENTRAL_MAX_BATCH_READINGS", "10")
    monkeypatch.setenv("CENTRAL_STORE", "postgres")
    with pytest.raises(ValidationError, match="store"):
        CentralSettings.load()
    with pytest.raises(FileNotFoundError, match=r"nope\.env"):
        CentralSettings.load(tmp_path / "nope.env")


def test_influxdb_store_needs_org_and_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CENTRAL_REGISTRY_PATH", "r.toml")
    monkeypatch.setenv("CENTRAL_STORE", "influxdb")
    with pytest.raises(ValidationError, match="CENTRAL_INFLUX_ORG, CENTRAL_INFLUX_TOKEN"):
        CentralSettings.load()
    monkeypatch.setenv("CENTRAL_INFLUX_ORG", "canteen")
    monkeypatch.setenv("CENTRAL_INFLUX_TOKEN", "s3cret-token")
    monkeypatch.setenv("CENTRAL_INFLUX_URL", "http://influxdb:8086")
    monkeypatch.setenv("CENTRAL_INFLUX_WRITE_TIMEOUT_S", "2.5")
    settings = CentralSettings.load()
    assert (settings.store, settings.influx_url, settings.influx_bucket) == (
        "influxdb",
        "http://influxdb:8086",
        "canteen",
    )
    assert settings.influx_write_timeout_s == 2.5
    assert settings.influx_query_timeout_s == 30.0
    assert "s3cret" not in repr(settings)  # the token is a SecretStr
    assert settings.influx_token.get_secret_value() == "s3cret-token"
