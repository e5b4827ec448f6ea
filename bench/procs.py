"""The real processes a benchmark runs (central, edges, sink, publishers) and their memory.

Built on harness/: ManagedProcess for lifetime and logs, write_registry for central's registry
with fresh edge keys, Mosquitto for the broker.
"""

import hashlib
import json
import secrets
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from harness.ports import free_port, wait_for_port
from harness.processes import ManagedProcess, ProcessFailed, python_module
from harness.registry import EdgeCredentials, write_registry

HOST = "127.0.0.1"


@dataclass(frozen=True, slots=True)
class Memory:
    """Resident set size now and its high-water mark in MB (10^6 bytes), from /proc (Linux)."""

    rss_mb: float
    hwm_mb: float


def memory(pid: int) -> Memory:
    values: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            values[name] = int(rest.split()[0]) * 1024 / 1e6  # kB (KiB) -> MB
    return Memory(values["VmRSS"], values["VmHWM"])


@dataclass(frozen=True, slots=True)
class Central:
    url: str
    process: ManagedProcess
    registry_path: Path
    sqlite_path: Path
    credentials: dict[str, EdgeCredentials]
    admin_token: str

    @property
    def read_headers(self) -> dict[str, str]:
        """The bootstrap admin read token of this central (reads need a token)."""
        return {"Authorization": f"Bearer {self.admin_token}"}


@contextmanager
def central(
    workdir: Path,
    sites: Sequence[str],
    *,
    sqlite_path: Path | None = None,
    registry_path: Path | None = None,
    credentials: dict[str, EdgeCredentials] | None = None,
    log_level: str = "WARNING",
    settings: dict[str, str] | None = None,
) -> Iterator[Central]:
    """`python -m central serve` (uvicorn, one worker) on a free port, with a fresh registry;
    `settings`: more CENTRAL_* environment variables."""
    workdir.mkdir(parents=True, exist_ok=True)
    if registry_path is None:
        registry_path = workdir / "sites.toml"
        credentials = write_registry(registry_path, list(sites))
    sqlite = sqlite_path or workdir / "central.sqlite3"
    port = free_port(HOST)
    admin_token = secrets.token_urlsafe(24)
    env = {
        "CENTRAL_ADMIN_TOKEN_SHA256": hashlib.sha256(admin_token.encode()).hexdigest(),
        "CENTRAL_REGISTRY_PATH": str(registry_path),
        "CENTRAL_SQLITE_PATH": str(sqlite),
        "CENTRAL_HOST": HOST,
        "CENTRAL_PORT": str(port),
        # One log line per batch is central's normal behaviour; WARNING keeps the disk out of the
        # figure only when asked (figure 3 runs at INFO, like production).
        "CENTRAL_LOG_LEVEL": log_level,
        **(settings or {}),
    }
    process = ManagedProcess("central", python_module("central", "serve"), env, workdir / "logs")
    with process:
        try:
            wait_for_port(HOST, port, timeout_s=30)
        except TimeoutError:
            raise ProcessFailed(f"central did not listen; log:\n{process.log_tail()}") from None
        yield Central(
            f"http://{HOST}:{port}", process, registry_path, sqlite, credentials or {}, admin_token
        )


@contextmanager
def sink(workdir: Path, live_prefix: str = "live", *, paused: bool = False) -> Iterator[str]:
    """The fast ingest stand-in (bench.sink) on a free port; yields its base URL."""
    port = free_port(HOST)
    args = python_module("bench.sink", "--port", str(port), "--live-prefix", live_prefix)
    if paused:
        args.append("--paused")
    with ManagedProcess("sink", args, {}, workdir / "logs") as process:
        try:
            wait_for_port(HOST, port, timeout_s=30)
        except TimeoutError:
            raise ProcessFailed(f"sink did not listen; log:\n{process.log_tail()}") from None
        yield f"http://{HOST}:{port}"


def resume_sink(url: str) -> None:
    httpx.post(f"{url}/resume", timeout=30).raise_for_status()


def sink_stats(url: str) -> dict[str, Any]:
    response = httpx.get(f"{url}/stats", timeout=30)
    response.raise_for_status()
    stats: dict[str, Any] = response.json()
    return stats


def edge_env(
    *,
    site: str,
    credentials: EdgeCredentials | None,
    broker_port: int,
    central_url: str,
    buffer_path: Path,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """EDGE_* settings of a real edge; without credentials (a sink) any strong key will do."""
    return {
        "EDGE_SITE": site,
        "EDGE_MQTT_HOST": HOST,
        "EDGE_MQTT_PORT": str(broker_port),
        "EDGE_CENTRAL_URL": central_url,
        "EDGE_API_KEY": credentials.api_key if credentials else "bench-sink-key-0123456789",
        "EDGE_PERSON_KEY": credentials.person_key if credentials else "bench-person-key-0123456789",
        "EDGE_BUFFER_PATH": str(buffer_path),
        "EDGE_STATS_INTERVAL_S": "3600",
        "EDGE_LOG_LEVEL": "WARNING",
        **(extra or {}),
    }


def edge(workdir: Path, name: str, env: dict[str, str]) -> ManagedProcess:
    """`python -m edge run` with `env`; enter it with `with`."""
    return ManagedProcess(name, python_module("edge", "run"), env, workdir / "logs")


def publisher_args(
    *,
    broker_port: int,
    sites: Sequence[str],
    clients: int,
    prefix: str,
    start_at: float,
    messages: int = 0,
    rate_per_s: float = 0.0,
    duration_s: float = 0.0,
    boot: str = "b0",
) -> list[str]:
    args = [
        "--port", str(broker_port), "--sites", ",".join(sites), "--clients", str(clients),
        "--prefix", prefix, "--start-at", f"{start_at:.3f}", "--boot", boot,
    ]  # fmt: skip
    if messages:
        args += ["--messages", str(messages)]
    else:
        args += ["--rate-per-s", f"{rate_per_s:.6f}", "--duration-s", f"{duration_s:.3f}"]
    return python_module("bench.publisher", *args)


def publisher_summary(process: ManagedProcess) -> dict[str, Any]:
    """The JSON summary line a publisher printed last (its log holds stdout)."""
    for line in reversed(process.log_path.read_text().splitlines()):
        if line.startswith("{"):
            summary: dict[str, Any] = json.loads(line)
            if summary["errors"]:
                raise ProcessFailed(f"{process.name}: {summary['errors']}")
            return summary
    raise ProcessFailed(f"{process.name} printed no summary; log:\n{process.log_tail()}")


def wait_for(condition: Any, timeout_s: float, what: str, interval_s: float = 0.05) -> None:
    """Poll `condition()` until true; TimeoutError naming `what`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise TimeoutError(f"{what} not reached within {timeout_s} s")
