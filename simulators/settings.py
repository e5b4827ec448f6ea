"""SimulatorSettings: the settings of `canteen-sim`, from SIM_* variables and the command line."""

import argparse
from collections.abc import Sequence
from datetime import date
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BeforeValidator, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from contract.settings_cli import add_setting_options, given_options
from contract.workcalendar import WorkCalendar
from simulators.canteen import Behaviour
from simulators.demand import Demand
from simulators.faults import Fault, FaultConfig, parse_faults

# Meter readings must land on every 30-minute boundary so that service windows (HH:00 / HH:30
# boundaries at the coarsest) are bracketed exactly (docs/architecture.md, attribution of meters).
GRID_BASE_S = 1800


def _split_sites(value: object) -> object:
    """Accept 's1,s2' (command line, environment) as well as a list."""
    if isinstance(value, str):
        return tuple(part.strip() for part in value.split(",") if part.strip())
    if isinstance(value, list | tuple):
        parts: list[str] = []
        for item in value:
            parts.extend(p.strip() for p in str(item).split(",") if p.strip())
        return tuple(parts)
    return value


class SimulatorSettings(BaseSettings):
    """Everything one simulator run needs; validated at start and passed down explicitly."""

    model_config = SettingsConfigDict(
        env_prefix="SIM_",
        extra="forbid",
        frozen=True,
    )

    mqtt_host: str = Field(default="127.0.0.1", description="MQTT broker host")
    mqtt_port: int = Field(default=1883, ge=1, le=65535, description="MQTT broker port")
    mqtt_username: str | None = Field(
        default=None, description="MQTT user name, if the broker wants one"
    )
    mqtt_password: SecretStr | None = Field(
        default=None,
        description="MQTT password; prefer SIM_MQTT_PASSWORD or --mqtt-password-file to the"
        " command line, where every user of the machine can read it",
    )
    mqtt_password_file: Path | None = Field(
        default=None,
        description="file whose first line is the MQTT password (or set SIM_MQTT_PASSWORD)",
    )
    registry: Path = Field(
        description="site registry TOML (docs/architecture.md); [[sites]] (sites, time zones,"
        " services, staff size) and the [calendar.YYYY] holiday schedules are read"
    )
    sites: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_sites)] = Field(
        default=(),
        description="comma-separated site ids to simulate; default: every site of the registry",
    )
    start_date: date | None = Field(
        default=None,
        description="first simulated local date; default: yesterday in the first site's time zone",
    )
    days: int = Field(default=1, ge=1, le=3660, description="number of simulated days")
    seed: int = Field(
        default=42,
        ge=0,
        le=2**63 - 1,
        description="random seed; the same registry, seed and dates give the same run (also the"
        " same boot ids, so a rerun is all duplicates at central)",
    )
    speed: float = Field(
        default=3600.0,
        ge=0,
        description="simulated seconds per wall-clock second; 0: as fast as the broker acks",
    )
    clock_wall_origin_ms: int | None = Field(
        default=None,
        ge=0,
        description="wall-clock epoch ms at which the first simulated midnight is due (speed > 0;"
        " default: when the run starts); give edges the same mapping (EDGE_SIM_CLOCK_*)",
    )
    clock_topic: str | None = Field(
        default=None,
        min_length=1,
        description="lockstep clock (speed 0 only): publish simulated time on this MQTT topic and"
        " advance it only when every device is waiting, so edges stamping receive times with it"
        " (EDGE_SIM_CLOCK_TOPIC) see simulated time however fast the run goes",
    )
    clock_step_s: float = Field(
        default=60.0,
        gt=0,
        le=600,
        description="lockstep clock: messages due within this many simulated seconds of a tick go"
        " out together; a correct device clock then looks at most this much ahead of the edge's",
    )
    stay_online: bool = Field(
        default=False,
        description="at the end of a complete run, leave every device's retained status online"
        " (a demo whose devices should look as they did while running) instead of saying"
        " offline; an interrupted run still says offline",
    )
    meter_interval_s: int = Field(
        default=60,
        ge=1,
        description="meter reading interval, s; must divide 1800 and equal the registry's"
        " interval_s",
    )
    truth_out: Path | None = Field(
        default=None,
        description="write the ground truth JSON here (atomically) after a complete run",
    )
    qos: int = Field(default=1, ge=0, le=2, description="MQTT QoS of data messages (0, 1 or 2)")
    faults: Annotated[tuple[Fault, ...], NoDecode, BeforeValidator(parse_faults)] = Field(
        default=(),
        description=(
            "comma-separated faults to inject, or 'all': meter_reset, meter_wrap, meter_spike, "
            "meter_dip, meter_gap, duplicate, device_reboot, late, double_swipe, visitor, "
            "scale_drift (raw bins only), clock_skew (by name only; needs edges on the simulator's"
            " clock, docs/kpis.md); default none (docs/simulator-faults.md)"
        ),
    )
    raw_bins: Annotated[tuple[str, ...], NoDecode, BeforeValidator(_split_sites)] = Field(
        default=(),
        description=(
            "comma-separated site ids, or 'all', whose kitchen bins (bin-prep, bin-spoilage) send"
            " a raw gross-weight stream (gross, stable) instead of net deposits, emptied when"
            " full and each evening; default none"
        ),
    )
    fault_rate: float = Field(
        default=1.0,
        ge=0,
        le=1000,
        description="multiplier of every enabled fault's base frequency (0: faults off)",
    )
    double_swipe_rate: float = Field(
        default=0.02,
        ge=0,
        le=1,
        description=(
            "base share of diners whose card is read twice, when the double_swipe fault is on "
            "(times --fault-rate, at most 1)"
        ),
    )
    visitor_rate: float = Field(
        default=0.03,
        ge=0,
        le=1,
        description=(
            "base share of diners who eat as visitors without a card, when the visitor fault is"
            " on (times --fault-rate, at most 1); each visitor is still one diner"
        ),
    )
    connect_timeout_s: float = Field(
        default=10.0, gt=0, description="MQTT connect and acknowledge timeout, s"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        default="INFO", description="log level"
    )

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        """`canteen-sim`'s command line: one option per setting (`--mqtt-port` for mqtt_port)."""
        parser = argparse.ArgumentParser(
            prog="canteen-sim",
            description="Run virtual scales, card readers and meters of one or more canteens "
            "against an MQTT broker. Every option can also be set as SIM_<OPTION> (e.g. "
            "SIM_MQTT_PORT); the command line wins.",
            allow_abbrev=False,  # --mqtt-password must never be taken for --mqtt-password-file
        )
        # The password is read from SIM_MQTT_PASSWORD or --mqtt-password-file; the option is
        # still accepted (older scripts) but not shown, since `ps` shows it to every user.
        add_setting_options(parser, cls, hidden=frozenset({"mqtt_password"}))
        return parser

    @classmethod
    def from_args(cls, argv: Sequence[str]) -> "SimulatorSettings":
        """Settings from the command line over SIM_* variables; ValidationError when invalid."""
        return cls(**given_options(cls.parser().parse_args(argv)))

    def raw_bins_at(self, site_id: str) -> bool:
        """Whether the kitchen bins of `site_id` run in raw mode."""
        return "all" in self.raw_bins or site_id in self.raw_bins

    def fault_config(self) -> FaultConfig:
        return FaultConfig(faults=frozenset(self.faults), rate=self.fault_rate)

    def effective_double_swipe_rate(self) -> float:
        """Share of diners who swipe twice: 0 unless the double_swipe fault is on."""
        if not self.fault_config().on(Fault.DOUBLE_SWIPE):
            return 0.0
        return min(1.0, self.double_swipe_rate * self.fault_rate)

    def behaviour(self, calendar: WorkCalendar | None = None) -> Behaviour:
        """How diners behave in this run: the faults that change their transactions applied, on
        the registry's calendar (`calendar`; None: the chinesecalendar package alone)."""
        return Behaviour(
            demand=Demand(calendar=calendar if calendar is not None else WorkCalendar()),
            double_swipe_rate=self.effective_double_swipe_rate(),
            visitor_rate=self.effective_visitor_rate(),
        )

    def effective_visitor_rate(self) -> float:
        """Share of diners who pay as visitors, without a card: 0 unless the visitor fault is on."""
        if not self.fault_config().on(Fault.VISITOR):
            return 0.0
        return min(1.0, self.visitor_rate * self.fault_rate)

    @field_validator("meter_interval_s")
    @classmethod
    def _interval_divides_grid(cls, value: int) -> int:
        if GRID_BASE_S % value:
            raise ValueError(
                f"meter interval {value} s must divide {GRID_BASE_S} s so that readings fall on "
                "every service window boundary"
            )
        return value

    @model_validator(mode="after")
    def _password_from_file(self) -> "SimulatorSettings":
        if self.mqtt_password_file is None:
            return self
        if self.mqtt_password is not None:
            raise ValueError("set mqtt_password or mqtt_password_file, not both")
        try:
            lines = self.mqtt_password_file.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read mqtt_password_file: {exc}") from None
        if not lines or not lines[0]:
            raise ValueError(
                f"mqtt_password_file {self.mqtt_password_file} has an empty first line"
            )
        object.__setattr__(self, "mqtt_password", SecretStr(lines[0]))  # frozen: set once here
        return self

    @model_validator(mode="after")
    def _one_clock(self) -> "SimulatorSettings":
        if self.clock_topic is not None and (self.speed != 0 or self.clock_wall_origin_ms):
            raise ValueError(
                "clock_topic (a lockstep clock) runs at speed 0 and without clock_wall_origin_ms"
            )
        return self
