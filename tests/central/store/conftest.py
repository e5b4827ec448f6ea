"""Servers of the store tests: VictoriaMetrics (InfluxDB v2 write API) on a free loopback port,
and the live InfluxDB 2 named by CANTEEN_TEST_INFLUXDB_* when there is one."""

import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from harness.ports import free_port, wait_for_port
from harness.processes import ManagedProcess

VM_BINARY = "victoria-metrics"
INFLUX_ENV = ("URL", "TOKEN", "ORG", "BUCKET")


@dataclass(frozen=True, slots=True)
class VictoriaMetrics:
    url: str

    def export(self, match: str) -> list[dict[str, object]]:
        """Every sample of the series matching `match`, after flushing VictoriaMetrics' buffers."""
        import json

        httpx.get(f"{self.url}/internal/force_flush", timeout=10).raise_for_status()
        answer = httpx.post(f"{self.url}/api/v1/export", data={"match[]": match}, timeout=10)
        answer.raise_for_status()
        return [json.loads(line) for line in answer.text.splitlines() if line.strip()]


@pytest.fixture
def victoria_metrics(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    binary = shutil.which(VM_BINARY)
    if binary is None:
        pytest.skip(f"{VM_BINARY} is not installed; scripts/test installs it (apt-get, as root)")
    host = "127.0.0.1"
    port = free_port(host)
    args = [
        binary,
        f"-storageDataPath={tmp_path / 'vm-data'}",
        f"-httpListenAddr={host}:{port}",
        "-loggerLevel=ERROR",
        "-retentionPeriod=100y",  # the test's points carry device times of any year
        "-search.disableCache",  # export answers what was just written
    ]
    with ManagedProcess("victoria-metrics", args, {}, tmp_path / "logs") as process:
        wait_for_port(host, port, timeout_s=30)
        process.check_running()
        yield VictoriaMetrics(f"http://{host}:{port}")


@dataclass(frozen=True, slots=True)
class LiveInflux:
    url: str
    token: str
    org: str
    bucket: str


def live_influx() -> LiveInflux:
    """The InfluxDB 2 named by CANTEEN_TEST_INFLUXDB_{URL,TOKEN,ORG,BUCKET}, or skip the test."""
    values = {name: os.environ.get(f"CANTEEN_TEST_INFLUXDB_{name}", "") for name in INFLUX_ENV}
    missing = [f"CANTEEN_TEST_INFLUXDB_{n}" for n, v in values.items() if not v]
    if missing:
        pytest.skip(
            "no live InfluxDB 2 configured (set " + ", ".join(missing) + "; e.g. the influxdb "
            "service of docker-compose.yml); no InfluxDB server can run on this machine"
        )
    return LiveInflux(values["URL"], values["TOKEN"], values["ORG"], values["BUCKET"])


def unique_site(prefix: str) -> str:
    """A site id of its own per test run, so that runs sharing a live bucket do not meet."""
    return f"{prefix}-{int(time.time())}-{uuid.uuid4().hex[:8]}"
