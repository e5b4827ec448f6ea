"""Child processes of the stack (central, edge agents, simulator), each with its own log file."""

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from types import TracebackType


class ProcessFailed(RuntimeError):
    """A child process exited when it should still run, or with a non-zero code."""


class ManagedProcess:
    """`with ManagedProcess(...)`: runs a child process, ends it (SIGTERM, then SIGKILL) on exit."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        env: Mapping[str, str],
        log_dir: Path,
        cwd: Path | None = None,
    ) -> None:
        self.name = name
        self.args = list(args)
        self.env = dict(env)
        self.cwd = cwd
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        environment = {**os.environ, **self.env, "PYTHONUNBUFFERED": "1"}
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                self.args,
                env=environment,
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C in the demo's terminal reaches the demo only
            )

    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def check_running(self) -> None:
        if self._process is None:
            raise ProcessFailed(f"{self.name} was never started")
        code = self._process.poll()
        if code is not None:
            raise ProcessFailed(f"{self.name} exited with code {code}; log:\n{self.log_tail()}")

    def wait(self, timeout_s: float) -> int:
        """Wait for the child to exit by itself; return its exit code."""
        if self._process is None:
            raise ProcessFailed(f"{self.name} was never started")
        try:
            return self._process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            raise ProcessFailed(
                f"{self.name} still runs after {timeout_s} s; log:\n{self.log_tail()}"
            ) from None

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` (default SIGKILL, as a power cut would) and reap the child."""
        if self._process is None or self._process.poll() is not None:
            return
        self._process.send_signal(sig)
        self._process.wait(timeout=30)

    def stop(self, timeout_s: float = 15) -> None:
        """SIGTERM, the daemons' clean shutdown path; SIGKILL if it does not end in time."""
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> "ManagedProcess":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def python_module(module: str, *args: str) -> list[str]:
    """Command line running `python -m module args` with this interpreter."""
    return [sys.executable, "-m", module, *args]


def wait_until(condition: Callable[[], bool], timeout_s: float, interval_s: float = 0.2) -> None:
    """Poll `condition` until it holds; raise TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval_s)
    raise TimeoutError(f"condition not met within {timeout_s} s")
