"""The canteen-edge command line: `run` stops cleanly on SIGTERM, `status` reads the buffer file."""

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from edge.mqtt_intake import SUBSCRIBED_LOG
from edge.settings import EdgeSettings
from harness.broker import Mosquitto
from harness.ports import free_port
from tests.edge.conftest import API_KEY, PERSON_KEY, Publisher, scale_payload

ROOT = Path(__file__).resolve().parents[2]


def write_env(tmp_path: Path, broker: Mosquitto) -> Path:
    env_file = tmp_path / "edge.env"
    env_file.write_text(
        "\n".join(
            [
                "EDGE_SITE=s1",
                f"EDGE_MQTT_HOST={broker.host}",
                f"EDGE_MQTT_PORT={broker.port}",
                # Nothing listens here: uploads fail and the reading stays pending.
                f"EDGE_CENTRAL_URL=http://127.0.0.1:{free_port()}",
                f"EDGE_API_KEY={API_KEY}",
                f"EDGE_PERSON_KEY={PERSON_KEY}",
                f"EDGE_BUFFER_PATH={tmp_path / 'buffer.sqlite3'}",
                "EDGE_COMMIT_INTERVAL_MS=1",
                "EDGE_UPLOAD_INTERVAL_S=0.05",
                "EDGE_BACKOFF_MAX_S=0.5",
                "EDGE_LOG_LEVEL=INFO",
            ]
        )
        + "\n"
    )
    return env_file


def clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("EDGE_")}


def edge_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "edge", *args]


def test_run_until_sigterm_then_status(tmp_path: Path, mosquitto: Mosquitto) -> None:
    env_file = write_env(tmp_path, mosquitto)
    process = subprocess.Popen(
        edge_command("run", "--env-file", str(env_file)),
        cwd=ROOT,
        env=clean_env(),
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    log: list[str] = []
    try:
        for line in process.stderr:
            log.append(line)
            if SUBSCRIBED_LOG in line:  # not "MQTT connected": what comes before SUBACK is lost
                break
        publisher = Publisher(mosquitto.host, mosquitto.port)
        try:
            # In order: once the reading is committed, the nonsense before it is too.
            publisher.publish_all([("canteen/s1/scale/p1/data", b"nonsense")])
            publisher.publish_all([("canteen/s1/scale/p1/data", scale_payload(0))])
        finally:
            publisher.close()
        for line in process.stderr:
            log.append(line)
            if "upload failed" in line:  # the reading is committed before any upload attempt
                break
        process.send_signal(signal.SIGTERM)
        log.extend(process.stderr)
        assert process.wait(timeout=15) == 0, "".join(log)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stderr.close()
    assert any("stopping on signal" in line for line in log), "".join(log)

    status = subprocess.run(
        edge_command("status", "--env-file", str(env_file)),
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=True,
    )
    report = json.loads(status.stdout)
    assert report["pending"] == 1
    assert report["dead_letters"] == 1
    assert report["counters"]["persisted"] == 1
    assert report["counters"]["upload_failures"] >= 1
    assert "invalid scale payload" in report["last_dead_letters"][0]["reason"]


def test_bad_settings_exit_2_without_echoing_secrets(tmp_path: Path) -> None:
    env = clean_env() | {
        "EDGE_SITE": "s1",
        "EDGE_CENTRAL_URL": "http://x",
        "EDGE_API_KEY": "tiny-key",
    }
    result = subprocess.run(
        edge_command("run"), cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "EDGE_API_KEY" in result.stderr
    assert "EDGE_PERSON_KEY" in result.stderr
    assert "tiny-key" not in result.stderr


def test_status_of_missing_buffer_fails(tmp_path: Path) -> None:
    result = subprocess.run(
        edge_command("status", "--buffer", str(tmp_path / "none.sqlite3")),
        cwd=ROOT,
        env=clean_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1
    assert "no buffer file" in result.stderr


def test_missing_settings_are_one_line_each_naming_the_variable() -> None:
    result = subprocess.run(
        edge_command("run"), cwd=ROOT, env=clean_env(), capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"canteen-edge: EDGE_{name}: required, but not set"
        for name in ("SITE", "CENTRAL_URL", "API_KEY", "PERSON_KEY")
    ]


def test_run_help_lists_every_setting_with_its_variable_and_default() -> None:
    result = subprocess.run(
        edge_command("run", "--help"), cwd=ROOT, capture_output=True, text=True, check=True
    )
    for name in EdgeSettings.model_fields:
        assert f"  EDGE_{name.upper()} [" in result.stdout
    assert "EDGE_BUFFER_PATH [/var/lib/canteen-edge/buffer.sqlite3]" in result.stdout
    assert "EDGE_OVERFLOW_POLICY [drop_oldest]" in result.stdout
