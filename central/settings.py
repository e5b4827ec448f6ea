"""Central's one settings class: CENTRAL_* environment variables, optionally from a dotenv file."""

from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from central.retention import MIN_RAW_RETENTION_DAYS
from central.store.sqlite import DEFAULT_GROUP_COMMIT_MAX_BATCHES
from contract import MAX_BATCH_READINGS

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class CentralSettings(BaseSettings):
    """Validated once at start and passed down explicitly; library code never reads os.environ."""

    model_config = SettingsConfigDict(
        env_prefix="CENTRAL_",
        frozen=True,
        extra="ignore",  # a shared dotenv file may carry other deployables' variables
    )

    registry_path: Path = Field(description="TOML site registry (docs/architecture.md)")
    store: Literal["sqlite", "influxdb"] = Field(
        default="sqlite", description="reading store backend: embedded 'sqlite' or 'influxdb'"
    )
    sqlite_path: Path = Field(
        default=Path("/var/lib/canteen-central/central.sqlite3"),
        description="SQLite database file of the 'sqlite' store",
    )
    influx_url: str = Field(
        default="http://127.0.0.1:8086",
        description="base URL of the InfluxDB 2.x server of the 'influxdb' store",
    )
    influx_org: str = Field(
        default="", description="InfluxDB organization (name or id); required with 'influxdb'"
    )
    influx_bucket: str = Field(default="canteen", description="InfluxDB bucket of the readings")
    influx_token: SecretStr = Field(
        default=SecretStr(""),
        description="InfluxDB API token with read and write on the bucket; required with"
        " 'influxdb'",
    )
    influx_derived_series: bool = Field(
        default=True,
        description="with the 'influxdb' store: after each batch, recompute the derived series "
        "(meals, waste, meter intervals) of the dates it touches and write them for dashboards",
    )
    influx_write_timeout_s: float = Field(
        default=10.0, gt=0, le=300, description="timeout of one InfluxDB write request, seconds"
    )
    influx_query_timeout_s: float = Field(
        default=30.0, gt=0, le=600, description="timeout of one InfluxDB Flux query, seconds"
    )
    sqlite_group_commit_max_batches: int = Field(
        default=DEFAULT_GROUP_COMMIT_MAX_BATCHES,
        ge=1,
        le=1000,
        description="upload batches waiting for the 'sqlite' store's writer are committed "
        "together, at most this many per transaction (one fsync); 1: one transaction each",
    )
    rollup_debounce_s: float = Field(
        default=0.5,
        ge=0,
        le=60,
        description="with the 'sqlite' store: the rollup maintainer starts its pass this long "
        "after a write woke it, so that a burst of batches is rolled up in one pass",
    )
    store_check_interval_s: float = Field(
        default=10.0,
        ge=0,
        le=3600,
        description="every this many seconds, check that the store's file is still the one"
        " opened and writable, and log at ERROR if not (central/store_monitor.py); 0: only on"
        " writes and GET /health",
    )
    rollup_sweep_interval_s: float = Field(
        default=300.0,
        gt=0,
        le=86_400,
        description="with the 'sqlite' store: the rollup maintainer also looks for pending "
        "dates (and changed site configurations) this often without a write",
    )
    raw_retention_days: int | None = Field(
        default=None,
        ge=MIN_RAW_RETENTION_DAYS,
        le=100 * 366,
        description="with the 'sqlite' store: delete the raw readings of local dates older than "
        "this many days once they are rolled up; those dates are sealed (their KPIs final, late "
        f"readings for them rejected; docs/operations.md). At least {MIN_RAW_RETENTION_DAYS}: "
        "alerts and the alert history read raw readings. Unset: keep every reading",
    )
    host: str = Field(default="127.0.0.1", description="address the HTTP server binds")
    port: int = Field(default=8000, ge=1, le=65535, description="TCP port the HTTP server binds")
    max_batch_readings: int = Field(
        default=MAX_BATCH_READINGS,
        ge=1,
        le=MAX_BATCH_READINGS,  # the wire contract caps a batch; central may only be stricter
        description="readings per upload batch; more is answered 413",
    )
    max_body_bytes: int = Field(
        default=8 * 1024 * 1024, ge=1024, description="upload body size limit in bytes; more is 413"
    )
    log_level: LogLevel = Field(default="INFO", description="root log level")
    signature_window_s: float = Field(
        default=300.0,
        gt=0,
        le=86400,
        description="an upload's X-Canteen-Timestamp may differ from central's clock by at most "
        "this many seconds; else 401",
    )
    admin_token_sha256: str | None = Field(
        default=None,
        pattern=r"^[0-9a-fA-F]{64}$",
        description="hex SHA-256 of a bootstrap admin read token (besides those in the "
        "credentials table); unset: none",
    )
    session_max_age_s: float = Field(
        default=14 * 86400,
        ge=300,
        le=90 * 86400,
        description="a dashboard sign-in session ends this many seconds after sign-in",
    )
    session_idle_timeout_s: float = Field(
        default=4 * 86400,
        ge=120,
        le=90 * 86400,
        description="a session not used for this many seconds ends (default: survives a weekend)",
    )
    sign_in_max_failures_per_user: int = Field(
        default=5,
        ge=1,
        le=1000,
        description="failed sign-ins of one user name allowed within sign_in_failure_window_s; "
        "one more locks the name out for sign_in_lockout_s",
    )
    sign_in_max_failures_per_address: int = Field(
        default=20,
        ge=1,
        le=100_000,
        description="failed sign-ins from one client address allowed within "
        "sign_in_failure_window_s; one more locks the address out for sign_in_lockout_s",
    )
    sign_in_failure_window_s: float = Field(
        default=900.0,
        gt=0,
        le=7 * 86400,
        description="failed sign-ins are counted over this many seconds",
    )
    sign_in_lockout_s: float = Field(
        default=900.0,
        gt=0,
        le=7 * 86400,
        description="a locked-out user name or client address may try again after this many "
        "seconds (or when `canteen-central users passwd` resets the user)",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate chain: serve HTTPS (with tls_key_file)"
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file")

    @model_validator(mode="after")
    def _tls_pair(self) -> "CentralSettings":
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("set both CENTRAL_TLS_CERT_FILE and CENTRAL_TLS_KEY_FILE, or neither")
        return self

    @model_validator(mode="after")
    def _influx_is_configured(self) -> "CentralSettings":
        # Unsafe or unusable defaults fail loudly at start, not at the first upload.
        if self.store == "influxdb":
            missing = [
                f"CENTRAL_INFLUX_{name.upper()}"
                for name, value in (
                    ("org", self.influx_org),
                    ("bucket", self.influx_bucket),
                    ("token", self.influx_token.get_secret_value()),
                )
                if not value.strip()
            ]
            if missing:
                raise ValueError(f"store 'influxdb' needs {', '.join(missing)}")
        return self

    @classmethod
    def load(cls, env_file: Path | None = None) -> "CentralSettings":
        """Read the environment, then `env_file` (dotenv) for unset names; raise ValidationError."""
        if env_file is not None and not env_file.is_file():
            raise FileNotFoundError(f"env file {env_file} does not exist")
        return cls(_env_file=env_file)
