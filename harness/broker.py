"""A real Mosquitto broker on a free loopback port, started and stopped by the caller."""

import logging
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from harness.ports import free_port, wait_for_port

logger = logging.getLogger(__name__)


class BrokerUnavailable(RuntimeError):
    """No mosquitto binary on this machine."""


@dataclass(frozen=True, slots=True)
class BrokerSettings:
    """Settings of a test or demo broker (production uses deploy/mosquitto/mosquitto.conf)."""

    host: str = "127.0.0.1"
    # Messages queued per persistent client while it is offline (edge restarting); beyond it
    # Mosquitto drops new QoS 1 messages for that client. See docs/faults.md, 'Broker queue bound'.
    max_queued_messages: int = 1_000_000
    # Unacknowledged QoS 1 messages in flight to one client; the edge commits this many at once.
    max_inflight_messages: int = 1000
    persistence: bool = True
    # Authentication (docs/security.md): with a password file anonymous clients are refused;
    # the ACL file limits each user's topics. None (default): anonymous, every topic.
    password_file: Path | None = None
    acl_file: Path | None = None
    # PEM certificate chain and key: a second listener speaking TLS on Mosquitto.tls_port.
    tls_cert_file: Path | None = None
    tls_key_file: Path | None = None


# Debian's Mosquitto 2.0.11 unpacked by scripts/_bootstrap.sh where the system has a newer one:
# the version whose in-flight window does not hold (fixed in 2.0.13), which users still run.
WINDOW_BUG_VERSION = "2.0.11"
WINDOW_BUG_DIR = Path(__file__).resolve().parent.parent / ".cache" / "mosquitto-2.0.11"
WINDOW_BUG_BINARY = WINDOW_BUG_DIR / "usr" / "sbin" / "mosquitto"


def mosquitto_binary() -> str:
    for candidate in ("mosquitto", "/usr/sbin/mosquitto"):
        found = shutil.which(candidate)
        if found:
            return found
    raise BrokerUnavailable("mosquitto is not installed (Debian: apt-get install mosquitto)")


def mosquitto_version(binary: str) -> str:
    """The version a mosquitto binary reports (`mosquitto -h`: "mosquitto version 2.0.11")."""
    done = subprocess.run([binary, "-h"], capture_output=True, text=True, timeout=10, check=False)
    match = re.search(r"mosquitto version (\S+)", done.stdout + done.stderr)
    if match is None:
        raise BrokerUnavailable(f"{binary} -h does not say its version")
    return match.group(1)


def mosquitto_with_window_bug() -> str:
    """A Mosquitto 2.0.11 binary: the system's when it is that version, else the unpacked copy."""
    system = mosquitto_binary()
    if mosquitto_version(system) == WINDOW_BUG_VERSION:
        return system
    if WINDOW_BUG_BINARY.is_file():
        return str(WINDOW_BUG_BINARY)
    raise BrokerUnavailable(
        f"no Mosquitto {WINDOW_BUG_VERSION} here (the system has {mosquitto_version(system)});"
        f" scripts/_bootstrap.sh unpacks Debian's package into {WINDOW_BUG_DIR}"
    )


class Mosquitto:
    """`with Mosquitto(workdir) as broker:` runs a broker on `broker.port` until the block ends."""

    def __init__(
        self,
        workdir: Path,
        settings: BrokerSettings | None = None,
        port: int | None = None,
        *,
        binary: str | None = None,
    ):
        self.settings = settings or BrokerSettings()
        self.binary = binary
        self.workdir = workdir
        self.host = self.settings.host
        self.port = port or free_port(self.host)
        self.tls_port = free_port(self.host) if self.settings.tls_cert_file else None
        self._process: subprocess.Popen[bytes] | None = None
        self.log_path = workdir / "mosquitto.log"

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        data_dir = self.workdir / "mosquitto-data"
        data_dir.mkdir(exist_ok=True)
        lines = [
            f"listener {self.port} {self.host}",
            f"allow_anonymous {'false' if self.settings.password_file else 'true'}",
            f"max_queued_messages {self.settings.max_queued_messages}",
            f"max_inflight_messages {self.settings.max_inflight_messages}",
            f"persistence {'true' if self.settings.persistence else 'false'}",
            f"persistence_location {data_dir}/",
            "autosave_interval 1",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
        ]
        if self.settings.password_file is not None:
            lines.append(f"password_file {self.settings.password_file}")
        if self.settings.acl_file is not None:
            lines.append(f"acl_file {self.settings.acl_file}")
        if self.tls_port is not None:
            lines += [
                f"listener {self.tls_port} {self.host}",
                f"certfile {self.settings.tls_cert_file}",
                f"keyfile {self.settings.tls_key_file}",
            ]
        if os.geteuid() == 0:
            # Mosquitto started as root drops to the 'mosquitto' user, which cannot write its
            # persistence file into a root-owned temporary folder; stay root in tests and the demo.
            lines.append("user root")
        path = self.workdir / "mosquitto.conf"
        path.write_text("\n".join(lines) + "\n")
        return path

    def start(self) -> None:
        config = self._write_config()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [self.binary or mosquitto_binary(), "-c", str(config)], stdout=log, stderr=log
            )
        try:
            for port in (self.port, self.tls_port):
                if port is not None:
                    wait_for_port(self.host, port, timeout_s=10)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"mosquitto did not start; see {self.log_path}") from None
        logger.info("mosquitto listening on %s:%d", self.host, self.port)

    def stop(self) -> None:
        if self._process is None:
            return
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def version(self) -> str:
        return mosquitto_version(self.binary or mosquitto_binary())

    def restart(self) -> None:
        """Stop and start again on the same port, keeping the persisted queues."""
        self.stop()
        self.start()

    def __enter__(self) -> "Mosquitto":
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


class AmqttBroker(Mosquitto):
    """Fallback for machines where Mosquitto cannot be installed: amqtt, a broker in pure Python.

    Used by the demo only; the tests always run against Mosquitto. amqtt keeps sessions in memory,
    so a restart loses queued messages, unlike the Mosquitto configuration above.
    """

    def _write_config(self) -> Path:
        self.workdir.mkdir(parents=True, exist_ok=True)
        path = self.workdir / "amqtt.yaml"
        path.write_text(
            "listeners:\n"
            "  default:\n"
            "    type: tcp\n"
            f"    bind: {self.host}:{self.port}\n"
            "plugins:\n"
            "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
            "    allow_anonymous: true\n"
        )
        return path

    def start(self) -> None:
        amqtt = shutil.which("amqtt", path=str(Path(sys.executable).parent))
        if amqtt is None:
            raise BrokerUnavailable("neither mosquitto nor amqtt is installed")
        config = self._write_config()
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen([amqtt, "-c", str(config)], stdout=log, stderr=log)
        try:
            wait_for_port(self.host, self.port, timeout_s=20)
        except TimeoutError:
            self.stop()
            raise RuntimeError(f"amqtt did not start; see {self.log_path}") from None


def local_broker(workdir: Path, settings: BrokerSettings | None = None) -> Mosquitto:
    """Mosquitto when installed, else amqtt with a note on stderr (the demo's fallback)."""
    try:
        mosquitto_binary()
    except BrokerUnavailable:
        print(
            "note: mosquitto is not installed and could not be installed (needs root and apt-get);"
            " using amqtt, an embedded Python broker, instead",
            file=sys.stderr,
        )
        return AmqttBroker(workdir, settings)
    return Mosquitto(workdir, settings)
