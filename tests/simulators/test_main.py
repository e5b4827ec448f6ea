"""`python -m simulators`: exit codes, the truth file, SIGTERM taking the clean-shutdown path."""

import asyncio
import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import aiomqtt
import pytest

from contract.payloads import parse_status
from contract.topics import parse_topic
from harness.broker import Mosquitto
from harness.ports import free_port
from simulators.__main__ import EXIT_BROKER, EXIT_CONFIG, EXIT_INTERRUPTED, EXIT_OK, main
from simulators.devices import DEVICES

ROOT = Path(__file__).resolve().parents[2]


def _command(registry_path: Path, broker: Mosquitto, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "simulators",
        "--registry",
        str(registry_path),
        "--mqtt-host",
        broker.host,
        "--mqtt-port",
        str(broker.port),
        "--sites",
        "s2",
        "--start-date",
        "2026-11-21",
        *extra,
    ]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIM_")}
    env["PYTHONPATH"] = str(ROOT)
    return env


def test_a_complete_run_exits_0_and_writes_the_truth(
    mosquitto: Mosquitto, registry_path: Path, tmp_path: Path
) -> None:
    truth_path = tmp_path / "truth.json"
    done = subprocess.run(
        _command(
            registry_path,
            mosquitto,
            "--speed",
            "0",
            "--meter-interval-s",
            "300",
            "--truth-out",
            str(truth_path),
        ),
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == EXIT_OK, done.stderr.decode()
    truth = json.loads(truth_path.read_text())
    assert truth["start_date"] == "2026-11-21"
    published = truth["sites"]["s2"]["published"]
    assert published["meter"] == 3 * (24 * 12 + 1)
    assert published["readings"] == published["meter"] + published["card"] + published["scale"]


async def _statuses(broker: Mosquitto) -> dict[str, str]:
    states: dict[str, str] = {}
    async with aiomqtt.Client(broker.host, broker.port) as client:
        await client.subscribe("canteen/+/+/+/status", qos=1)
        async with asyncio.timeout(10):
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                states[parse_topic(message.topic.value).device] = parse_status(
                    message.payload
                ).state
                if len(states) == len(DEVICES):
                    return states
    return states


def test_sigterm_stops_cleanly_without_truth(
    mosquitto: Mosquitto, registry_path: Path, tmp_path: Path
) -> None:
    truth_path = tmp_path / "truth.json"
    with subprocess.Popen(
        _command(registry_path, mosquitto, "--speed", "600", "--truth-out", str(truth_path)),
        cwd=ROOT,
        env=_env(),
        stderr=subprocess.PIPE,
    ) as process:
        try:
            assert process.stderr is not None
            # Wait for the run to be under way (the planner logs each planned day).
            for line in process.stderr:
                if b"planned" in line:
                    break
            process.send_signal(signal.SIGTERM)
            assert process.wait(timeout=20) == EXIT_INTERRUPTED
        finally:
            if process.poll() is None:
                process.kill()
    assert not truth_path.exists()
    assert asyncio.run(_statuses(mosquitto)) == {spec.id: "offline" for spec in DEVICES}


def test_bad_settings_exit_2(registry_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--registry", str(registry_path), "--meter-interval-s", "7"]) == EXIT_CONFIG
    assert "meter interval" in capsys.readouterr().err
    assert (
        main(["--registry", str(registry_path), "--sites", "nope", "--mqtt-port", "1"])
        == EXIT_CONFIG
    )


def test_a_bad_option_is_one_line_naming_the_option_and_its_variable(
    registry_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--registry", str(registry_path), "--days", "0"]) == EXIT_CONFIG
    assert capsys.readouterr().err.splitlines() == [
        "canteen-sim: --days / SIM_DAYS: Input should be greater than or equal to 1"
    ]


def test_help_shows_plain_value_names_and_no_password_option(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert "--sites LIST" in out
    assert "--start-date YYYY-MM-DD" in out
    assert "[3600.0; SIM_SPEED]" in out
    for internal in ("null", "tuple[", "str,", "SecretStr", "--mqtt-password "):
        assert internal not in out


def test_a_password_on_the_command_line_still_works_with_a_warning(
    registry_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["--registry", str(registry_path), "--mqtt-password", "pw", "--days", "0"]
    assert main(args) == EXIT_CONFIG
    err = capsys.readouterr().err
    assert "warning: --mqtt-password is visible to every user" in err
    assert "pw" not in err.replace("password", "")


def test_unreachable_broker_exits_1(registry_path: Path) -> None:
    args = ["--registry", str(registry_path), "--mqtt-port", str(free_port()), "--speed", "0"]
    assert main(args) == EXIT_BROKER


def test_a_wrong_calendar_table_exits_2_naming_the_entry(
    registry_path: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = tmp_path / "sites.toml"
    wrong.write_text(
        registry_path.read_text(encoding="utf-8")
        + '\n[calendar.2027]\nholidays = [{ name = "Spring Festival", start = 2027-02-06 }]\n'
        + "adjusted_workdays = [2027-02-15]\n",
        encoding="utf-8",
    )
    assert main(["--registry", str(wrong), "--mqtt-port", "1"]) == EXIT_CONFIG
    assert "calendar.2027 adjusted_workdays[1]: 2027-02-15 is a Monday" in caplog.text
