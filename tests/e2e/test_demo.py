"""`scripts/demo --json` keeps working: the README's first command, run as a newcomer runs it."""

import json
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest

from harness.demo import dashboard_url
from harness.ports import free_port

pytestmark = pytest.mark.e2e


def test_demo_ends_by_itself_and_prints_a_json_summary(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "harness.demo",
            "--sites",
            "1",
            "--days",
            "1",
            "--duration",
            "120",
            "--speed",
            "0",
            "--start-date",
            "2026-11-16",
            "--json",
            # Not the README's default 8000: suites running side by side would share it.
            "--port",
            str(free_port()),
            "--workdir",
            str(tmp_path / "demo"),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-4000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["ok"] is True
    day = summary["sites"]["site-01"]["2026-11-16"]["day"]
    assert day["meals"]["measured"] == day["meals"]["truth"] > 0
    assert "site-01" in result.stderr  # the table went to stderr, the JSON alone to stdout
    # a ready link to the dashboard, showing the simulated dates
    assert "/dashboard/#view=region&period=custom&start=2026-11-16&end=2026-11-16" in result.stderr


def test_dashboard_link_carries_the_period_and_a_token_in_the_fragment() -> None:
    url = dashboard_url(
        "http://127.0.0.1:8000", date(2026, 11, 16), date(2026, 11, 17), "t0k", "city:Hangzhou"
    )
    assert url == (
        "http://127.0.0.1:8000/dashboard/#view=region&period=custom&start=2026-11-16"
        "&end=2026-11-17&date=2026-11-17&region=city%3AHangzhou&token=t0k"
    )


def test_demo_falls_back_to_amqtt_where_mosquitto_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A machine where Mosquitto cannot be installed still runs the demo, and says why."""
    import harness.broker
    from harness import demo

    def no_mosquitto() -> str:
        raise harness.broker.BrokerUnavailable("mosquitto hidden by the test")

    monkeypatch.setattr(harness.broker, "mosquitto_binary", no_mosquitto)
    code = demo.main(
        ["--sites", "1", "--days", "1", "--duration", "120", "--speed", "0",
         "--start-date", "2026-11-10", "--json", "--port", str(free_port()),
         "--workdir", str(tmp_path / "demo")]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert code == 0, err[-4000:]
    assert "using amqtt, an embedded Python broker" in err
    assert json.loads(out.strip().splitlines()[-1])["ok"] is True
