"""A real `canteen-central serve` on a free loopback port, for the tests that need the process."""

import hashlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from harness.ports import free_port, wait_for_port
from harness.processes import ManagedProcess, python_module


@contextmanager
def central_process(
    workdir: Path, registry: Path, admin_token: str, env: Mapping[str, str] | None = None
) -> Iterator[tuple[str, ManagedProcess]]:
    """Central on `registry`, its database and logs in `workdir`, `admin_token` its bootstrap admin
    read token; yields its base URL (https when `env` sets a certificate) and the process once it
    listens. `env` adds CENTRAL_* settings or overrides these."""
    port = free_port()
    settings = {
        "CENTRAL_REGISTRY_PATH": str(registry),
        "CENTRAL_SQLITE_PATH": str(workdir / "central.sqlite3"),
        "CENTRAL_HOST": "127.0.0.1",
        "CENTRAL_PORT": str(port),
        "CENTRAL_LOG_LEVEL": "WARNING",
        "CENTRAL_ADMIN_TOKEN_SHA256": hashlib.sha256(admin_token.encode()).hexdigest(),
        **(env or {}),
    }
    scheme = "https" if "CENTRAL_TLS_CERT_FILE" in settings else "http"
    args = python_module("central", "serve")
    with ManagedProcess("central", args, settings, workdir / "logs") as process:
        wait_for_port("127.0.0.1", port, timeout_s=30)
        yield f"{scheme}://127.0.0.1:{port}", process
