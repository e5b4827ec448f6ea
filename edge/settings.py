"""EdgeSettings: the one configuration class of an edge, from EDGE_* variables or a dotenv file."""

import re
from enum import StrEnum
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from contract import MAX_BATCH_READINGS
from contract.topics import ID_PATTERN, DeviceKind
from edge.failpoints import FailpointSpecError, parse_spec

MIN_SECRET_CHARS = 16

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


def parse_device_list(value: str) -> frozenset[tuple[str, str]]:
    """'scale/plate-1, card/card-1' -> {('scale', 'plate-1'), ('card', 'card-1')}; ValueError."""
    pairs: set[tuple[str, str]] = set()
    for entry in (part.strip() for part in value.split(",")):
        if not entry:
            continue
        kind, _, device = entry.partition("/")
        if kind not in {k.value for k in DeviceKind} or not re.fullmatch(ID_PATTERN, device):
            kinds = ", ".join(k.value for k in DeviceKind)
            raise ValueError(f"device entry {entry[:80]!r} is not '<kind>/<device id>' ({kinds})")
        pairs.add((kind, device))
    return frozenset(pairs)


class OverflowPolicy(StrEnum):
    """What the buffer does when it is full (`buffer_max_readings`) and a new reading arrives."""

    DROP_OLDEST = "drop_oldest"  # make room by deleting the oldest pending readings
    DROP_NEWEST = "drop_newest"  # refuse the new reading


class EdgeSettings(BaseSettings):
    """Validated once at start and passed down; libraries never read os.environ."""

    model_config = SettingsConfigDict(env_prefix="EDGE_", extra="ignore", frozen=True)

    site: str = Field(pattern=f"^{ID_PATTERN}$", description="the one site this edge serves")
    id: str = Field(default="", description="edge id known to central; default edge-<site>")

    mqtt_host: str = Field(default="127.0.0.1", description="host of the site's MQTT broker")
    mqtt_port: int = Field(default=1883, ge=1, le=65535, description="port of the MQTT broker")
    mqtt_username: str | None = Field(default=None, description="MQTT user name of the edge")
    mqtt_password: SecretStr | None = Field(default=None, description="MQTT password of the edge")
    mqtt_client_id: str = Field(
        default="",
        description="MQTT client id of the persistent session; keep it stable, the broker queues"
        " for it while the edge is down; default: the edge id",
    )
    mqtt_keepalive_s: int = Field(default=30, ge=5, le=65535, description="MQTT keep-alive, s")
    mqtt_ca_file: Path | None = Field(
        default=None, description="PEM CA bundle: connect to the broker over TLS, verifying it"
    )

    central_url: str = Field(description="base URL of central, e.g. http://127.0.0.1:8000")
    api_key: SecretStr = Field(
        description="bearer key of this edge at central, at least 16 characters"
    )
    central_ca_file: Path | None = Field(
        default=None,
        description="PEM CA bundle that verifies central's HTTPS certificate; unset: system CAs",
    )
    person_key: SecretStr = Field(
        description="per-site HMAC key that pseudonymises card numbers, at least 16"
        " characters; changing it changes every person id",
    )

    buffer_path: Path = Field(
        default=Path("/var/lib/canteen-edge/buffer.sqlite3"),
        description="SQLite buffer file of the readings not yet confirmed by central",
    )
    buffer_max_readings: int = Field(
        default=1_000_000,
        ge=1,
        description="buffer bound, readings (about 100 days of one canteen); see overflow_policy",
    )
    overflow_policy: OverflowPolicy = Field(
        default=OverflowPolicy.DROP_OLDEST,
        description="when the buffer is full: 'drop_oldest' deletes the oldest pending readings,"
        " 'drop_newest' refuses new ones; either way counted in dropped_overflow and logged",
    )
    commit_max_readings: int = Field(
        default=500, ge=1, description="group commit: at most this many messages per transaction"
    )
    commit_interval_ms: int = Field(
        default=20, ge=0, description="group commit: what arrived within this time, ms"
    )
    batch_max_readings: int = Field(
        default=1000,
        ge=1,
        le=MAX_BATCH_READINGS,
        description=f"readings per upload batch (at most {MAX_BATCH_READINGS})",
    )
    upload_interval_s: float = Field(
        default=1.0, ge=0, description="longest wait for a full batch before uploading, s"
    )
    upload_max_readings_per_s: float = Field(
        default=0.0,
        ge=0,
        description="bound on the upload rate (readings/s), e.g. while a backlog drains; 0: none",
    )
    upload_live_share: float = Field(
        default=0.25,
        ge=0,
        le=1,
        description="while a backlog drains, this share of each batch is the newest readings, so"
        " live data reaches central during a long drain",
    )
    upload_isolate_after_failures: int = Field(
        default=3,
        ge=1,
        le=1000,
        description="HTTP 500 answers in a row to the same batch before it is sent in halves to"
        " find and dead-letter the entries central fails on (edge/uploader.py)",
    )
    commit_retry_s: float = Field(
        default=1.0,
        gt=0,
        description="wait between attempts to commit after a disk error (disk full); nothing is"
        " acknowledged meanwhile",
    )
    http_timeout_s: float = Field(default=10.0, gt=0, description="timeout of one upload, s")
    backoff_initial_s: float = Field(
        default=0.5, gt=0, description="first retry wait after a failed upload, s"
    )
    backoff_max_s: float = Field(
        default=60.0, gt=0, description="longest retry wait (exponential backoff, full jitter), s"
    )
    dead_letter_max_rows: int = Field(
        default=10_000, ge=1, description="dead-letter bound, rows; the oldest are removed"
    )
    dead_letter_max_payload_bytes: int = Field(
        default=4096, ge=0, description="stored prefix of a dead-lettered payload, bytes"
    )
    status_outbox_max_rows: int = Field(
        default=10_000,
        ge=1,
        description="device status changes waiting for central's 2xx; beyond it the newest change"
        " per device is kept, then the oldest are dropped (counted in status_changes_dropped)",
    )
    stats_interval_s: float = Field(
        default=30.0, gt=0, description="period of the counters log line, s"
    )
    log_level: LogLevel = Field(default="INFO", description="root log level")
    devices: str = Field(
        default="",
        description="comma-separated 'kind/device' list of this site's devices (e.g."
        " 'scale/plate-1,card/card-1'); messages of any other device are dead-lettered."
        " Empty: every device under the site's topics is accepted",
    )
    # Simulation only (edge/simclock.py): stamp receive times with the simulator's clock.
    sim_clock_origin_ms: int | None = Field(
        default=None,
        ge=0,
        description="simulation only (edge/simclock.py): stamp receive times with the"
        " simulator's clock, origin + (now - wall origin) x speed; this is the simulated epoch ms"
        " at the wall origin; all three sim_clock_* or none",
    )
    sim_clock_wall_origin_ms: int | None = Field(
        default=None, ge=0, description="simulation only: wall-clock epoch ms of the origin"
    )
    sim_clock_speed: float = Field(
        default=0.0, ge=0, description="simulation only: simulated ms per wall ms (> 0 to use)"
    )
    sim_clock_topic: str | None = Field(
        default=None,
        min_length=1,
        description="simulation only: the clock is the last simulated time published on this"
        " MQTT topic by a lockstep simulator (with sim_clock_origin_ms as the start)",
    )
    metrics_port: int = Field(
        default=0,
        ge=0,
        le=65535,
        description="TCP port of the Prometheus /metrics listener (edge/metrics.py); 0: off",
    )
    metrics_host: str = Field(
        default="127.0.0.1",
        description="address the /metrics listener binds; keep it on loopback or an admin network",
    )
    failpoints: str = Field(
        default="",
        description="TEST FACILITY (edge/failpoints.py): 'point:n,...' exits hard the n-th time"
        " the daemon reaches after_receive_before_commit, after_commit_before_ack,"
        " after_upload_2xx_before_delete or after_delete; leave empty in production",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("devices")
    @classmethod
    def _device_list(cls, value: str) -> str:
        parse_device_list(value)
        return value

    @property
    def known_devices(self) -> frozenset[tuple[str, str]] | None:
        """(kind, device) pairs of EDGE_DEVICES; None when every device is accepted."""
        return parse_device_list(self.devices) or None

    @field_validator("failpoints")
    @classmethod
    def _known_failpoints(cls, value: str) -> str:
        try:
            parse_spec(value)
        except FailpointSpecError as exc:
            raise ValueError(str(exc)) from None
        return value

    @field_validator("central_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("api_key", "person_key")
    @classmethod
    def _strong_secret(cls, value: SecretStr) -> SecretStr:
        # An empty or short secret is an unsafe default: refuse to start.
        if len(value.get_secret_value().strip()) < MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters")
        return value

    @model_validator(mode="after")
    def _defaults_and_bounds(self) -> "EdgeSettings":
        if not self.id:
            object.__setattr__(self, "id", f"edge-{self.site}")
        if not self.mqtt_client_id:
            object.__setattr__(self, "mqtt_client_id", self.id)
        if not re.fullmatch(ID_PATTERN, self.id):
            raise ValueError(f"edge id {self.id!r} must be 1-64 letters, digits, '-' or '_'")
        sim = (self.sim_clock_origin_ms, self.sim_clock_wall_origin_ms)
        if self.sim_clock_topic is not None:
            if sim[0] is None or sim[1] is not None:
                raise ValueError(
                    "sim_clock_topic needs sim_clock_origin_ms and no sim_clock_wall_origin_ms"
                    " (a lockstep simulated clock)"
                )
        elif (sim[0] is None) != (sim[1] is None) or (
            sim[0] is not None and self.sim_clock_speed <= 0
        ):
            raise ValueError(
                "sim_clock_origin_ms, sim_clock_wall_origin_ms and sim_clock_speed > 0 "
                "go together (a simulated edge clock)"
            )
        if self.backoff_max_s < self.backoff_initial_s:
            raise ValueError("backoff_max_s must be >= backoff_initial_s")
        return self
