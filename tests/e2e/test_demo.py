"""`scripts/demo --json` keeps working: the README's first command, run as a newcomer runs it."""

import json
import queue
import signal
import subprocess
import sys
import threading
import time
from datetime import date, timedelta
from pathlib import Path
from typing import IO
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from harness.demo import DEFAULT_DAYS, dashboard_url
from harness.ports import free_port

pytestmark = pytest.mark.e2e


def _pass_lines(stream: IO[str], lines: "queue.Queue[str]") -> None:
    for line in stream:
        lines.put(line)


def _demo_until_link(command: list[str], lines: "queue.Queue[str]", timeout_s: float) -> list[str]:
    """The demo's progress lines up to and including its last, the dashboard link."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    while not seen or not seen[-1].startswith("demo: dashboard: "):
        try:
            seen.append(lines.get(timeout=max(deadline - time.monotonic(), 0.1)).rstrip("\n"))
        except queue.Empty:
            pytest.fail(f"{command} printed no dashboard link in {timeout_s} s: {seen}")
    return seen


def test_a_newcomers_demo_shows_dishes_a_forecast_and_how_much_to_cook(tmp_path: Path) -> None:
    """`scripts/demo` with its default days, ending yesterday: while central keeps running, the
    dishes have names, a ¥ value and CO2e, tomorrow has a forecast with its interval and a
    recommended_kg per service; Ctrl-C ends it with the JSON summary of the truth comparison."""
    port = free_port()
    command = [
        sys.executable, "-m", "harness.demo", "--sites", "1", "--json",
        # Not the README's default 8000: suites running side by side would share it.
        "--port", str(port), "--workdir", str(tmp_path / "demo"),
    ]  # fmt: skip
    lines: queue.Queue[str] = queue.Queue()
    stdout = tmp_path / "stdout.txt"
    with (
        stdout.open("w") as out_file,
        subprocess.Popen(command, stdout=out_file, stderr=subprocess.PIPE, text=True) as demo,
    ):
        assert demo.stderr is not None
        reader = threading.Thread(target=_pass_lines, args=(demo.stderr, lines))
        reader.start()
        try:
            seen = _demo_until_link(command, lines, timeout_s=240)
            link = parse_qs(urlsplit(seen[-1].removeprefix("demo: dashboard: ")).fragment)
            token, first, last = link["token"][0], link["start"][0], link["end"][0]
            days = (date.fromisoformat(last) - date.fromisoformat(first)).days + 1
            assert days >= DEFAULT_DAYS
            with httpx.Client(
                base_url=f"http://127.0.0.1:{port}/api/v1",
                headers={"Authorization": f"Bearer {token}"},
                timeout=60,
            ) as api:
                site = {"site": "site-01"}
                dishes = api.get(
                    "/dishes", params={**site, "period": "custom", "start": first, "end": last}
                )
                forecast = api.get("/forecast", params=site)
                production = api.get("/production", params=site)
        finally:
            demo.send_signal(signal.SIGINT)  # Ctrl-C
            demo.wait(timeout=120)
            reader.join()
        assert demo.returncode == 0, "\n".join(seen)

    # every dish the kitchen terminal tagged is on the menu: named, with a value and CO2e
    body = dishes.raise_for_status().json()
    assert body["unknown_items"] == []
    tagged = [row for row in body["rows"] if row["key"]]
    assert tagged
    for row in tagged:
        assert row["known"] is True
        assert row["key"] not in (row["name_zh"], row["name_en"])
        assert row["value_cny"] > 0
        assert row["co2e_kg"] > 0
    # tomorrow's diners per service, from the simulated card swipes, with an interval
    plan = forecast.raise_for_status().json()
    services = [s["service"] for s in plan["services"]]
    assert services == ["breakfast", "lunch", "dinner"]
    for service in plan["services"]:
        point = service["points"][0]
        assert (point["date"], point["source"]) == (plan["start"], "model"), point
        assert point["low"] <= point["diners"] <= point["high"]
    # and how much to cook for each of them
    cook = production.raise_for_status().json()
    assert cook["date"] == plan["start"]
    for recommendation in cook["services"]:
        assert recommendation["reason"] == ""
        assert recommendation["portion_g"] > 0
        assert recommendation["recommended_kg"] is not None
        assert recommendation["recommended_kg"] >= 0

    # the ground-truth comparison of every simulated day, as before
    summary = json.loads(stdout.read_text().strip().splitlines()[-1])
    assert summary["ok"] is True
    assert sorted(summary["sites"]["site-01"]) == [
        (date.fromisoformat(first) + timedelta(days=i)).isoformat() for i in range(days)
    ]
    day = summary["sites"]["site-01"][last]["day"]
    assert day["meals"]["measured"] == day["meals"]["truth"] > 0
    assert any(line.startswith("demo:   site-01: ") for line in seen)  # the table on stderr


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
