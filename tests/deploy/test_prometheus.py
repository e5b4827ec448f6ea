"""deploy/prometheus: the sample alerting rules parse (vmalert's dry run validates each
expression and template where it is installed) and name only metrics that central and the edge
export."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from central.metrics import CentralMetrics
from edge.buffer import BufferStats
from edge.metrics import EdgeMetrics

DEPLOY = Path(__file__).resolve().parents[2] / "deploy" / "prometheus"
RULES = DEPLOY / "alerts.yml"


def exported_names() -> set[str]:
    """Sample names of both exporters, every labelled series touched once."""
    central = CentralMetrics()
    central.batch_stored("s1", accepted=1, duplicates=0, rejected=0, seconds=0.01)
    central.request_refused("ingest", 503)
    central.sealed_readings.labels("s1").inc()
    edge = EdgeMetrics(buffer_max_readings=10)
    edge.uploaded(0.1)
    edge.buffer_write_errors.labels("commit").inc()
    texts = (
        generate_latest(central.registry).decode(),
        edge.render(BufferStats(counters={}, pending=0, dead_letters=0)).decode(),
    )
    return {
        sample.name
        for text in texts
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def rules() -> list[dict[str, object]]:
    document = yaml.safe_load(RULES.read_text(encoding="utf-8"))
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_every_rule_names_exported_metrics_and_says_what_to_do() -> None:
    exported = exported_names()
    found = rules()
    assert len(found) >= 10
    for rule in found:
        expr = str(rule["expr"])
        for name in re.findall(r"\bcanteen_[a-z_]+", expr):
            assert name in exported, f"{rule['alert']}: {name} is not exported"
        labels = rule["labels"]
        assert isinstance(labels, dict)
        assert labels["severity"] in {"critical", "warning", "info"}
        annotations = rule["annotations"]
        assert isinstance(annotations, dict)
        assert annotations["summary"]
    alerts = {str(rule["alert"]) for rule in found}
    # The conditions the operations guide promises an alert for.
    for metric in (
        "dropped_overflow",
        "buffer_write_errors",
        "dead_lettered",
        "upload_failures",
        "buffered_readings",
        "store_errors",
        "rollup_lag",
        "upload_seconds",
        "ingest_seconds",
    ):
        assert any(metric in str(rule["expr"]) for rule in found), metric
    assert {"CanteenEdgeDown", "CanteenCentralDown"} <= alerts


def test_vmalert_accepts_the_rules() -> None:
    vmalert = shutil.which("vmalert")
    if vmalert is None:
        pytest.skip("vmalert is not installed (Debian's victoria-metrics package ships it)")
    result = subprocess.run(
        [vmalert, f"-rule={RULES}", "-dryRun"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_scrape_config_loads_the_rules() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus.yml").read_text(encoding="utf-8"))
    assert config["rule_files"] == ["alerts.yml"]
    assert {job["job_name"] for job in config["scrape_configs"]} == {
        "canteen-central",
        "canteen-edge",
    }
