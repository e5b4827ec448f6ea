"""The benchmark instrument keeps working: every figure is produced, well-formed and consistent.

Timings are never asserted (the machine is shared and noisy): only structure and behaviour.
"""

import json
import math
from pathlib import Path

import pytest

from bench.payloads import KINDS, device_payload, line_protocol, records
from bench.results import Figure, Target, table
from bench.run import GROUPS, run
from bench.sizes import Sizes, override, quick, tiny
from bench.stats import percentile
from contract import parse_payload

EXPECTED_FIGURES = {
    *(
        "1",
        "2",
        "3",
        "4a",
        "4b",
        "4c",
        "5a",
        "5b",
        "5c",
        "6a",
        "6b",
        "6c",
        "6d",
        "6e",
        "6f",
        "6g",
        "7a",
        "7b",
    )
}


@pytest.mark.e2e
def test_tiny_run_produces_every_figure(tmp_path: Path) -> None:
    results, failures = run(tiny(), tmp_path / "work", GROUPS)
    assert failures == []
    figures = {f.figure for f in results.figures}
    assert figures == EXPECTED_FIGURES
    for figure in results.figures:
        assert math.isfinite(figure.value), figure
        assert figure.value >= 0, figure
    by_id = {f.figure: f for f in results.figures}
    # Figure 2 is compared with figure 1 of the same run, never with a remembered number.
    assert by_id["2"].reference == by_id["1"].value
    assert by_id["2"].ratio == pytest.approx(by_id["2"].value / by_id["1"].value)
    assert by_id["4b"].value <= by_id["4c"].value
    assert by_id["5b"].value <= by_id["5c"].value
    out = tmp_path / "results.json"
    results.write(out)
    document = json.loads(out.read_text())
    assert {"started", "machine", "sizes", "figures", "skipped"} <= set(document)
    assert document["sizes"]["label"] == "tiny"
    assert document["machine"]["sqlite"]
    for item in document["figures"]:
        assert {"name", "value", "unit", "reference", "ratio", "target", "target_met"} <= set(item)
    # References disabled in the tiny run: the skip is said, not silent.
    assert any("VictoriaMetrics" in s.name for s in results.skipped)
    text = table(results.figures, results.skipped)
    assert all(f.name in text for f in results.figures)


def test_target_against_a_value_and_against_the_reference() -> None:
    absolute = Figure("x", "latency", 6.0, "ms", target=Target("<", 5.0))
    assert absolute.target_met is False
    assert absolute.as_dict()["target"] == "< 5 ms"
    relative = Figure("y", "rate", 90.0, "r/s", reference=100.0, reference_name="ceiling",
                      target=Target(">=", 0.8, of_reference=True))  # fmt: skip
    assert relative.ratio == pytest.approx(0.9)
    assert relative.target_met is True
    missing = Figure("z", "rate", 90.0, "r/s", target=Target(">=", 0.8, of_reference=True))
    assert missing.target_met is None  # no reference measured: unknown, not met or failed


def test_percentile_is_nearest_rank() -> None:
    values = list(range(1, 101))
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([7.0], 99) == 7.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 50)


def test_generated_payloads_follow_the_contract() -> None:
    for kind in KINDS:
        for seq in (0, 1, 4999, 123_456):
            parse_payload(kind, device_payload(kind, "b0", seq, 1_795_118_471_250))


def test_line_protocol_has_one_line_per_reading() -> None:
    batch = list(records("dev", "b1", 30, 1_795_118_471_000))
    lines = line_protocol("site-1", batch).decode().splitlines()
    assert len(lines) == 30
    assert lines[0].startswith("card,site=site-1,device=dev-card-0,boot=b1 seq=0i")
    assert lines[0].endswith(str(1_795_118_471_000 * 1_000_000))


def test_overrides_change_one_size_and_refuse_unknown_names() -> None:
    changed = override(quick(), ["kpi_sites=20", "references=false"])
    assert changed.kpi_sites == 20
    assert changed.references is False
    assert changed.label == "quick+overrides"
    assert override(quick(), []) == quick()
    with pytest.raises(ValueError, match="kpi_sitez"):
        override(quick(), ["kpi_sitez=3"])
    with pytest.raises(ValueError, match="not a int"):
        override(quick(), ["kpi_sites=many"])
    assert isinstance(tiny(), Sizes)


def test_profile_summary_counts_self_and_total_samples() -> None:
    from bench.profile import top_entries

    raw = "main (a.py:1);work (a.py:5);json (j.py:2) 30\nmain (a.py:1);work (a.py:5) 10\nidle 5\n"
    samples, own, total = top_entries(raw, 3)
    assert samples == 45
    assert own[0] == ("json (j.py:2)", 30)
    assert dict(total)["work (a.py:5)"] == 40
