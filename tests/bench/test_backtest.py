"""scripts/backtest's smoke test: a short simulated history, the forecast beside its baselines."""

import json

import pytest

from bench.backtest import main


def test_the_forecast_beats_both_baselines_on_a_short_simulated_history(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # 2026-01-01 + 12 weeks of warm-up: the scored weeks hold the Spring Festival and its 调休
    assert main(["--sites", "1", "--days", "130", "--start", "2026-01-01", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    services = result["services"]
    assert [s["service"] for s in services] == ["breakfast", "lunch", "dinner"]
    for s in services:
        assert s["dates"] == 130 - 84
        assert s["forecast"]["mape_pct"] < s["last_week"]["mape_pct"]
        assert s["forecast"]["mape_pct"] < s["four_week_mean"]["mape_pct"]
        assert 50.0 <= s["coverage_pct"] <= 100.0
    summary = result["summary"]
    assert summary["overproduction_avoided_kg"] > 0
    assert 0 < summary["overproduction_avoided_pct"] < 100


def test_too_short_a_history_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--days", "90"])
    assert "--days must be more than" in capsys.readouterr().err
