"""settings: command line over SIM_* environment, validated at start."""

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from simulators.faults import ALL_FAULTS, Fault, FaultConfig
from simulators.settings import SimulatorSettings


def test_defaults_and_command_line(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("SIM_SPEED", "SIM_SITES", "SIM_REGISTRY", "SIM_QOS"):
        monkeypatch.delenv(name, raising=False)
    settings = SimulatorSettings.from_args(["--registry", "r.toml"])
    assert (settings.mqtt_host, settings.mqtt_port, settings.qos) == ("127.0.0.1", 1883, 1)
    assert (settings.days, settings.seed, settings.speed, settings.meter_interval_s) == (
        1,
        42,
        3600.0,
        60,
    )
    assert settings.sites == ()
    assert settings.start_date is None
    assert settings.truth_out is None
    parsed = SimulatorSettings.from_args(
        [
            "--registry=r.toml",
            "--sites",
            "s1, s2",
            "--start-date",
            "2026-11-20",
            "--days",
            "3",
            "--speed",
            "0",
            "--mqtt-password",
            "pw",
            "--truth-out",
            "t.json",
            "--qos",
            "0",
        ]
    )
    assert parsed.sites == ("s1", "s2")
    assert parsed.start_date == date(2026, 11, 20)
    assert (parsed.days, parsed.speed, parsed.qos) == (3, 0.0, 0)
    assert parsed.mqtt_password is not None
    assert parsed.mqtt_password.get_secret_value() == "pw"
    assert parsed.truth_out == Path("t.json")


def test_environment_with_sim_prefix(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIM_REGISTRY", "env.toml")
    monkeypatch.setenv("SIM_SITES", "a,b")
    monkeypatch.setenv("SIM_SPEED", "0")
    settings = SimulatorSettings.from_args(["--speed", "10"])
    assert settings.registry == Path("env.toml")
    assert settings.sites == ("a", "b")
    assert settings.speed == 10.0  # the command line wins


@pytest.mark.parametrize(
    "args",
    [
        ["--meter-interval-s", "7"],
        ["--meter-interval-s", "3600"],
        ["--speed", "-1"],
        ["--days", "0"],
        ["--qos", "3"],
        ["--clock-topic", "sim/clock"],  # a lockstep clock runs at speed 0
        ["--clock-topic", "sim/clock", "--speed", "0", "--clock-wall-origin-ms", "5"],
        ["--clock-topic", "sim/clock", "--speed", "0", "--clock-step-s", "0"],
    ],
)
def test_invalid_values_fail_at_start(args: list[str]) -> None:
    with pytest.raises((ValidationError, SystemExit)):
        SimulatorSettings.from_args(["--registry", "r.toml", *args])


def test_a_lockstep_clock_from_the_command_line() -> None:
    args = ["--registry", "r.toml", "--speed", "0", "--clock-topic", "sim/clock"]
    settings = SimulatorSettings.from_args([*args, "--clock-step-s", "300"])
    assert (settings.clock_topic, settings.clock_step_s) == ("sim/clock", 300.0)


def test_registry_is_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIM_REGISTRY", raising=False)
    with pytest.raises(ValidationError, match="registry"):
        SimulatorSettings.from_args([])


def test_faults_from_command_line_and_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SIM_FAULTS", raising=False)
    monkeypatch.delenv("SIM_FAULT_RATE", raising=False)
    default = SimulatorSettings.from_args(["--registry", "r.toml"])
    assert (default.faults, default.fault_rate) == ((), 1.0)
    assert default.effective_double_swipe_rate() == 0.0  # double swipes are a fault now
    parsed = SimulatorSettings.from_args(
        ["--registry", "r.toml", "--faults", "late,meter_gap", "--fault-rate", "2"]
    )
    assert parsed.faults == (Fault.METER_GAP, Fault.LATE)
    assert parsed.fault_config() == FaultConfig(frozenset({Fault.METER_GAP, Fault.LATE}), 2.0)
    monkeypatch.setenv("SIM_FAULTS", "all")
    monkeypatch.setenv("SIM_FAULT_RATE", "30")
    everything = SimulatorSettings.from_args(["--registry", "r.toml"])
    assert everything.faults == ALL_FAULTS
    assert everything.effective_double_swipe_rate() == 0.6  # 0.02 x 30


def test_unknown_fault_fails_at_start() -> None:
    with pytest.raises(ValidationError, match="unknown faults \\['clock_drift'\\]"):
        SimulatorSettings.from_args(["--registry", "r.toml", "--faults", "clock_drift"])


def test_the_password_comes_from_a_file_and_not_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIM_MQTT_PASSWORD", raising=False)
    secret = tmp_path / "mqtt-password"
    secret.write_text("s3cret pass\n", encoding="utf-8")
    args = ["--registry", "r.toml", "--mqtt-password-file", str(secret)]
    settings = SimulatorSettings.from_args(args)
    assert settings.mqtt_password is not None
    assert settings.mqtt_password.get_secret_value() == "s3cret pass"
    monkeypatch.setenv("SIM_MQTT_PASSWORD", "other")
    with pytest.raises(ValidationError, match="not both"):
        SimulatorSettings.from_args(args)
