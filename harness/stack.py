"""The whole system as real processes: Mosquitto, central, one edge per site, and the simulator."""

import hashlib
import json
import logging
import secrets
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from types import TracebackType
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from edge.buffer import read_status
from edge.errors import EdgeBufferError
from edge.mqtt_intake import SUBSCRIBED_LOG
from harness.broker import BrokerSettings, local_broker
from harness.ports import free_port, wait_for_port
from harness.processes import ManagedProcess, python_module, wait_until
from harness.registry import EdgeCredentials, write_registry

logger = logging.getLogger(__name__)


SIM_CLOCK_TOPIC = "sim/clock"  # the lockstep simulator's ticks (simulators/lockstep.py)


@dataclass(frozen=True, slots=True)
class SimClockPlan:
    """One simulated clock for the simulator and every edge (edge/simclock.py).

    Paced (`lockstep` False): the simulated time `start_date` 00:00 (Asia/Shanghai, the harness
    registry's zone) is due `lead_s` after the stack starts; from then on both advance `speed`
    times faster than the wall clock. Lockstep (`speed` 0): the simulator runs as fast as it can
    and publishes its clock on SIM_CLOCK_TOPIC, which the edges stamp receive times with. Either
    way central can compare device times with receive times and correct wrong clocks.
    """

    start_date: str
    speed: float
    lead_s: float = 10.0
    lockstep: bool = False
    step_s: float = 60.0  # lockstep: simulated seconds of messages released per tick

    def __post_init__(self) -> None:
        if self.lockstep and self.speed != 0:
            raise ValueError("a lockstep simulated clock runs at speed 0")
        if not self.lockstep and self.speed <= 0:
            raise ValueError("a paced simulated clock needs speed > 0")

    def origin_ms(self) -> int:
        midnight = datetime.combine(
            date.fromisoformat(self.start_date), datetime.min.time(), ZoneInfo("Asia/Shanghai")
        )
        return int(midnight.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class StackSettings:
    workdir: Path
    sites: tuple[str, ...]
    central_host: str = "127.0.0.1"
    central_port: int | None = None  # None: a free port
    registered_staff: int = 400
    edge_env: dict[str, str] = field(default_factory=dict)  # extra EDGE_* settings for every edge
    central_env: dict[str, str] = field(default_factory=dict)
    # KPI baseline periods (inclusive YYYY-MM-DD dates) of some sites, written to the registry.
    baselines: dict[str, tuple[str, str]] = field(default_factory=dict)
    # One simulated clock for simulator and edges; with it central corrects wrong device clocks.
    sim_clock: SimClockPlan | None = None
    # Central corrects wrong device clocks (registry `clock_correction`); None: with sim_clock
    # only (edges stamping wall time while the simulator sends simulated time have no meaningful
    # skew). True for tests whose devices send wall-clock times.
    clock_correction: bool | None = None
    # Prices, waste target, energy quotas and off-hours threshold per site (harness.registry).
    targets: bool = False
    # The simulated kitchen's planned portions and menu per site (harness.registry).
    kitchen: bool = False


class Stack:
    """`with Stack(settings) as stack:` runs broker, central and edges until the block ends."""

    def __init__(self, settings: StackSettings) -> None:
        self.settings = settings
        self.workdir = settings.workdir
        self.log_dir = self.workdir / "logs"
        self.registry_path = self.workdir / "sites.toml"
        self.central_port = settings.central_port or free_port(settings.central_host)
        self.central_url = f"http://{settings.central_host}:{self.central_port}"
        self.credentials: dict[str, EdgeCredentials] = {}
        # Reads need a token (docs/security.md): the stack's own admin token, given to central
        # as its bootstrap CENTRAL_ADMIN_TOKEN_SHA256 and sent with every read below.
        self.admin_token = secrets.token_urlsafe(32)
        self.broker = local_broker(self.workdir / "broker", BrokerSettings())
        self.central: ManagedProcess | None = None
        self.edges: dict[str, ManagedProcess] = {}
        self._exit = ExitStack()
        self.sim_clock_wall_origin_ms: int | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def __enter__(self) -> "Stack":
        try:
            self.workdir.mkdir(parents=True, exist_ok=True)
            self.credentials = write_registry(
                self.registry_path,
                list(self.settings.sites),
                self.settings.registered_staff,
                baselines=self.settings.baselines,
                clock_correction=(
                    self.settings.sim_clock is not None
                    if self.settings.clock_correction is None
                    else self.settings.clock_correction
                ),
                targets=self.settings.targets,
                kitchen=self.settings.kitchen,
            )
            if self.settings.sim_clock is not None and not self.settings.sim_clock.lockstep:
                lead_ms = round(self.settings.sim_clock.lead_s * 1000)
                self.sim_clock_wall_origin_ms = time.time_ns() // 1_000_000 + lead_ms
            self._exit.enter_context(self.broker)
            self.central = self._exit.enter_context(self._central_process())
            wait_for_port(self.settings.central_host, self.central_port, timeout_s=30)
            for site in self.settings.sites:
                self.edges[site] = self._exit.enter_context(self.edge_process(site))
            for site in self.settings.sites:
                # Until an edge's first subscription holds, the broker has no session to queue
                # readings for it: devices publishing earlier would be lost (not a fault case).
                self.wait_edge_subscribed(site, since=0, timeout_s=60)
        except BaseException:
            self._exit.close()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._exit.close()

    def _central_process(self) -> ManagedProcess:
        env = {
            "CENTRAL_REGISTRY_PATH": str(self.registry_path),
            "CENTRAL_SQLITE_PATH": str(self.workdir / "central" / "central.sqlite3"),
            "CENTRAL_HOST": self.settings.central_host,
            "CENTRAL_PORT": str(self.central_port),
            "CENTRAL_ADMIN_TOKEN_SHA256": hashlib.sha256(self.admin_token.encode()).hexdigest(),
            **self.settings.central_env,
        }
        (self.workdir / "central").mkdir(parents=True, exist_ok=True)
        return ManagedProcess("central", python_module("central", "serve"), env, self.log_dir)

    def edge_env(self, site: str) -> dict[str, str]:
        creds = self.credentials[site]
        return {
            "EDGE_SITE": site,
            "EDGE_ID": creds.edge_id,
            "EDGE_MQTT_HOST": self.broker.host,
            "EDGE_MQTT_PORT": str(self.broker.port),
            "EDGE_CENTRAL_URL": self.central_url,
            "EDGE_API_KEY": creds.api_key,
            "EDGE_PERSON_KEY": creds.person_key,
            "EDGE_BUFFER_PATH": str(self.edge_buffer_path(site)),
            "EDGE_UPLOAD_INTERVAL_S": "0.5",
            "EDGE_STATS_INTERVAL_S": "10",
            **self._sim_clock_env(),
            **self.settings.edge_env,
        }

    def _sim_clock_env(self) -> dict[str, str]:
        plan = self.settings.sim_clock
        if plan is not None and plan.lockstep:
            return {
                "EDGE_SIM_CLOCK_ORIGIN_MS": str(plan.origin_ms()),
                "EDGE_SIM_CLOCK_TOPIC": SIM_CLOCK_TOPIC,
            }
        if plan is None or self.sim_clock_wall_origin_ms is None:
            return {}
        return {
            "EDGE_SIM_CLOCK_ORIGIN_MS": str(plan.origin_ms()),
            "EDGE_SIM_CLOCK_WALL_ORIGIN_MS": str(self.sim_clock_wall_origin_ms),
            "EDGE_SIM_CLOCK_SPEED": str(plan.speed / 1.0),
        }

    def edge_buffer_path(self, site: str) -> Path:
        return self.workdir / "edges" / site / "buffer.sqlite3"

    def edges_drained(self) -> bool:
        """Every edge has uploaded its readings and reported its dropped duplicates and device
        status changes."""
        for site in self.settings.sites:
            path = self.edge_buffer_path(site)
            if path.exists():
                try:
                    status = read_status(path)
                except EdgeBufferError:  # the edge is still creating its tables
                    return False
                if status.pending or status.pending_duplicates or status.pending_statuses:
                    return False
        return True

    def edge_process(self, site: str) -> ManagedProcess:
        (self.workdir / "edges" / site).mkdir(parents=True, exist_ok=True)
        return ManagedProcess(
            f"edge-{site}", python_module("edge", "run"), self.edge_env(site), self.log_dir
        )

    def edge_subscriptions(self, site: str) -> int:
        """How many times the site's edge has logged a granted subscription (one per connect)."""
        try:
            text = self.edges[site].log_path.read_text(errors="replace")
        except FileNotFoundError:
            return 0
        return text.count(SUBSCRIBED_LOG)

    def wait_edge_subscribed(self, site: str, *, since: int, timeout_s: float) -> None:
        """Wait until the edge logs more granted subscriptions than `since`."""

        def subscribed() -> bool:
            self.edges[site].check_running()
            return self.edge_subscriptions(site) > since

        wait_until(subscribed, timeout_s, interval_s=0.1)

    # --- driving the stack -----------------------------------------------------------------

    def simulator_args(
        self,
        *,
        start_date: str,
        days: int,
        seed: int,
        speed: float,
        truth_path: Path,
        faults: str = "",
        fault_rate: float = 1.0,
        raw_bins: str = "",
        stay_online: bool = False,
    ) -> list[str]:
        """The simulator's command line; `faults` ("" = none, "all", or names) as --faults,
        `raw_bins` (site ids or "all") as --raw-bins, `stay_online` as --stay-online."""
        fault_args = ["--faults", faults, "--fault-rate", str(fault_rate)] if faults else []
        if stay_online:
            fault_args += ["--stay-online", "true"]
        if raw_bins:
            fault_args += ["--raw-bins", raw_bins]
        plan = self.settings.sim_clock
        if plan is not None:
            if (plan.start_date, plan.speed) != (start_date, speed):
                raise ValueError("the simulator must run the stack's sim_clock date and speed")
            if plan.lockstep:
                fault_args += ["--clock-topic", SIM_CLOCK_TOPIC, "--clock-step-s", str(plan.step_s)]
            else:
                fault_args += ["--clock-wall-origin-ms", str(self.sim_clock_wall_origin_ms)]
        return python_module(
            "simulators",
            "--registry",
            str(self.registry_path),
            "--mqtt-host",
            self.broker.host,
            "--mqtt-port",
            str(self.broker.port),
            "--sites",
            ",".join(self.settings.sites),
            "--start-date",
            start_date,
            "--days",
            str(days),
            "--seed",
            str(seed),
            "--speed",
            str(speed),
            "--truth-out",
            str(truth_path),
            *fault_args,
        )

    def run_simulator(
        self,
        *,
        start_date: str,
        days: int,
        seed: int,
        speed: float,
        timeout_s: float,
        faults: str = "",
        fault_rate: float = 1.0,
        raw_bins: str = "",
        stay_online: bool = False,
    ) -> dict[str, Any]:
        """Run the simulator to its end and return its ground truth (no faults and net kitchen
        bins by default; devices say offline at the end unless `stay_online`)."""
        truth_path = self.workdir / "truth.json"
        args = self.simulator_args(
            start_date=start_date,
            days=days,
            seed=seed,
            speed=speed,
            truth_path=truth_path,
            faults=faults,
            fault_rate=fault_rate,
            raw_bins=raw_bins,
            stay_online=stay_online,
        )
        with ManagedProcess("simulator", args, {}, self.log_dir) as sim:
            code = sim.wait(timeout_s)
            if code != 0:
                raise RuntimeError(f"simulator exited with {code}:\n{sim.log_tail()}")
        truth: dict[str, Any] = json.loads(truth_path.read_text())
        return truth

    def check_alive(self) -> None:
        if self.central:
            self.central.check_running()
        for edge in self.edges.values():
            edge.check_running()

    @property
    def read_headers(self) -> dict[str, str]:
        """Authorization of the stack's admin read token, for reads from central."""
        return {"Authorization": f"Bearer {self.admin_token}"}

    def stored_readings(self, client: httpx.Client, site: str) -> int:
        response = client.get(
            f"{self.central_url}/api/v1/sites/{site}/stats", headers=self.read_headers
        )
        response.raise_for_status()
        count: int = response.json()["readings"]
        return count

    def wait_delivered(self, truth: dict[str, Any], timeout_s: float) -> None:
        """Wait until central stores every reading the simulator published, but duplicate copies,
        and every edge has reported the copies it dropped."""
        expected = {
            site: data["published"]["readings"] - data.get("faults", {}).get("duplicate", 0)
            for site, data in truth["sites"].items()
        }
        with httpx.Client(timeout=10) as client:

            def delivered() -> bool:
                self.check_alive()
                stored = all(self.stored_readings(client, s) >= n for s, n in expected.items())
                return stored and self.edges_drained()

            wait_until(delivered, timeout_s, interval_s=0.3)

    def daily_kpis(self, site: str, date: str) -> dict[str, Any]:
        response = httpx.get(
            f"{self.central_url}/api/v1/sites/{site}/kpis/daily",
            params={"date": date},
            headers=self.read_headers,
            timeout=30,
        )
        response.raise_for_status()
        kpis: dict[str, Any] = response.json()
        return kpis
