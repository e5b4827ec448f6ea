"""Figure 3: central ingest over real HTTP into the embedded SQLite store, beside VictoriaMetrics.

`python -m central serve` (uvicorn, one worker) with a fresh store; `ingest_clients` concurrent
HTTP clients (httpx, one event loop in the benchmark process), one site each, POST pre-built valid
batches of `ingest_batch_readings` readings; each client's batches follow each other in time (one
boot, rising sequence numbers), as an edge's uploads do; each 200 comes after central's durable
commit (WAL, synchronous=FULL). The reference: the same readings as InfluxDB line protocol POSTed to
VictoriaMetrics' /write with the same concurrency, in the same run.

Central runs with its rollup maintainer as deployed (every batch marks its date pending; a pass
rolls it up 0.5 s after a write woke it), so figure 3 is ingest with rollup maintenance on: the
mean of two runs into fresh centrals, before and after one with the maintainer held off (the
longest debounce and sweep its settings allow; there is no switch); a second figure gives the
ratio on / off.
"""

import asyncio
import shutil
import subprocess
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench import procs
from bench.payloads import batch_body, line_protocol, records
from bench.results import Figure, Results, Target
from bench.sizes import Sizes
from bench.stats import rate_per_s
from contract import IngestResult
from contract.signing import sign_headers, signing_key
from harness.ports import free_port, wait_for_port
from harness.processes import ManagedProcess

TARGET_READINGS_PER_S = 100_000.0
# central has no switch for its rollup maintainer: the longest debounce and sweep its settings
# allow hold it off for a run shorter than the debounce (central/settings.py bounds)
MAX_DEBOUNCE_S = 60.0
MAX_SWEEP_S = 86_400.0
MAINTENANCE_HELD_OFF = {
    "CENTRAL_ROLLUP_DEBOUNCE_S": f"{MAX_DEBOUNCE_S:g}",
    "CENTRAL_ROLLUP_SWEEP_INTERVAL_S": f"{MAX_SWEEP_S:g}",
}
FIRST_PASS_WAIT_S = 60.0  # after figure 3's first run: when its maintainer's pass completed
MAINTAINER_BUILT_LINE = "rollup maintainer: built"  # central.rollup_maintainer's INFO line per pass
VM_BINARY = "victoria-metrics"


@dataclass(frozen=True, slots=True)
class Batches:
    """Per client: its site, its edge, and the request bodies (central's and line protocol)."""

    site: str
    edge: str
    bodies: list[bytes]
    lines: list[bytes]
    readings: int


def build_batches(sizes: Sizes, sites: Sequence[str]) -> list[Batches]:
    per_client = max(1, sizes.ingest_batches // sizes.ingest_clients)
    start_ms = int(time.time() * 1000) - 86_400_000
    built = []
    for index, site in enumerate(sites):
        bodies, lines = [], []
        for b in range(per_client):
            # each batch continues the last one (time and sequence numbers), as an edge's do
            n = sizes.ingest_batch_readings
            batch = list(records(f"dev{index}", "b0", n, start_ms, first=b * n))
            bodies.append(batch_body(site, f"edge-{site}", uuid.uuid4().hex, batch))
            lines.append(line_protocol(site, batch))
        built.append(Batches(site, f"edge-{site}", bodies, lines, per_client * len(batch)))
    return built


async def _post_all(
    url: str, batches: list[Batches], headers: list[dict[str, str]], central: bool
) -> float:
    """POST every body, one task per client; return the elapsed seconds."""
    limits = httpx.Limits(max_connections=len(batches), max_keepalive_connections=len(batches))
    async with httpx.AsyncClient(timeout=120, limits=limits) as client:

        async def worker(work: Batches, header: dict[str, str]) -> None:
            for body in work.bodies if central else work.lines:
                signed = header
                if key := header.get("Authorization", "").removeprefix("Bearer "):
                    # Sign each upload as the edge does (contract/signing.py), at send time.
                    signed = {**header, **sign_headers(signing_key(key), body, time.time())}
                response = await client.post(url, content=body, headers=signed)
                if response.status_code // 100 != 2:
                    raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
                if central:
                    result = IngestResult.model_validate_json(response.content)
                    if result.accepted * len(work.bodies) != work.readings:
                        raise RuntimeError(f"central accepted {result.accepted}: {result}")

        started = time.perf_counter()
        async with asyncio.TaskGroup() as tasks:
            for work, header in zip(batches, headers, strict=True):
                tasks.create_task(worker(work, header))
        return time.perf_counter() - started


@dataclass(frozen=True, slots=True)
class Ingested:
    readings_per_s: float
    seconds: float
    passes: int  # the rollup maintainer's passes that built rollups (central's log)
    # with `first_pass_wait_s`: seconds from the start until central's log showed the first
    # completed pass (None: not within the wait after the last batch)
    first_pass_s: float | None = None


def central_ingest(
    workdir: Path,
    batches: list[Batches],
    settings: dict[str, str] | None = None,
    first_pass_wait_s: float = 0.0,
) -> Ingested:
    """Post every batch to a fresh central; with `first_pass_wait_s`, then wait that long at most
    for the maintainer's first completed pass (untimed: the rate is the posts')."""
    sites = [b.site for b in batches]
    with procs.central(workdir, sites, log_level="INFO", settings=settings) as central:
        headers = [
            {"Authorization": f"Bearer {central.credentials[s].api_key}",
             "Content-Type": "application/json"}
            for s in sites
        ]  # fmt: skip
        started = time.monotonic()
        elapsed_s = asyncio.run(_post_all(f"{central.url}/api/v1/ingest", batches, headers, True))
        central.process.check_running()
        log = central.process.log_path.read_text(errors="replace")
        first_pass_s = None
        if first_pass_wait_s > 0:
            try:
                procs.wait_for(
                    lambda: (
                        MAINTAINER_BUILT_LINE
                        in central.process.log_path.read_text(errors="replace")
                    ),
                    first_pass_wait_s,
                    "the maintainer's first pass",
                )
                first_pass_s = time.monotonic() - started
            except TimeoutError:
                pass
    total = sum(b.readings for b in batches)
    passes = log.count(MAINTAINER_BUILT_LINE)
    return Ingested(rate_per_s(total, elapsed_s), elapsed_s, passes, first_pass_s)


def maintenance_figures(workdir: Path, sizes: Sizes, batches: list[Batches]) -> list[Figure]:
    """Figure 3 as central runs (its rollup maintainer rolls the batches' date up shortly after
    writes), the mean of two runs around one of the same batches into a fresh central whose
    maintainer is held off (so that neither side has the machine's warm-up to itself), and the
    ratio of the two."""
    first = central_ingest(workdir / "central", batches, first_pass_wait_s=FIRST_PASS_WAIT_S)
    off = central_ingest(workdir / "central-off", batches, MAINTENANCE_HELD_OFF)
    second = central_ingest(workdir / "central-again", batches)
    on_per_s = (first.readings_per_s + second.readings_per_s) / 2
    first_pass = (
        f"the first run's first pass completed {first.first_pass_s:.1f} s after its start"
        if first.first_pass_s is not None
        else f"no pass of the first run completed within {FIRST_PASS_WAIT_S:g} s after it"
    )
    total = sum(b.readings for b in batches)
    held = (
        f"maintainer held off: CENTRAL_ROLLUP_DEBOUNCE_S={MAX_DEBOUNCE_S:g} (its maximum; the "
        "first pass after a write starts that long after it), "
        f"CENTRAL_ROLLUP_SWEEP_INTERVAL_S={MAX_SWEEP_S:g}; central has no off switch"
    )
    if off.passes:
        held += f"; it still built rollups in {off.passes} passes: the run took {off.seconds:.0f} s"
    return [
        Figure(
            "3",
            "Central ingest: HTTP + SQLite (one uvicorn worker), batches of "
            f"{sizes.ingest_batch_readings}, rollup maintenance on",
            on_per_s,
            "readings/s",
            target=Target(">=", TARGET_READINGS_PER_S),
            notes=f"{total} readings, {sizes.ingest_clients} concurrent clients, each 200 after a "
            "durable commit (WAL, synchronous=FULL), log level INFO; central's rollup maintainer "
            "runs as configured by default: its first pass starts 0.5 s (the debounce) after the "
            "first batch and rebuilds the batches' date while they arrive; the mean of two runs "
            f"({first.readings_per_s:,.0f} and {second.readings_per_s:,.0f} readings/s, "
            f"{first.seconds:.1f} and {second.seconds:.1f} s) before and after the held-off run "
            f"below; central's logs show {first.passes} and {second.passes} completed passes by "
            f"the end of each; {first_pass}",
        ),
        Figure(
            "3",
            "Central ingest with rollup maintenance on, relative to held off (same batches, "
            "fresh central)",
            on_per_s,
            "readings/s",
            reference=off.readings_per_s,
            reference_name="maintenance held off",
            notes=f"{held}; off run {off.seconds:.1f} s",
        ),
    ]


def victoria_metrics(workdir: Path, sizes: Sizes, batches: list[Batches]) -> float:
    """Readings/s VictoriaMetrics accepts (HTTP 204) for the same readings as line protocol."""
    binary = shutil.which(VM_BINARY)
    if binary is None:
        raise FileNotFoundError(
            f"{VM_BINARY} is not installed (Debian: apt-get install {VM_BINARY})"
        )
    port = free_port(procs.HOST)
    args = [
        binary,
        f"-storageDataPath={workdir / 'vm-data'}",
        f"-httpListenAddr={procs.HOST}:{port}",
        "-loggerLevel=ERROR",
        "-retentionPeriod=100y",
    ]
    with ManagedProcess("victoria-metrics", args, {}, workdir / "logs") as vm:
        wait_for_port(procs.HOST, port, timeout_s=30)
        headers = [{"Content-Type": "text/plain"} for _ in batches]
        elapsed_s = asyncio.run(
            _post_all(f"http://{procs.HOST}:{port}/write", batches, headers, False)
        )
        vm.check_running()
    return rate_per_s(sum(b.readings for b in batches), elapsed_s)


def figures(workdir: Path, sizes: Sizes, results: Results) -> list[Figure]:
    workdir.mkdir(parents=True, exist_ok=True)
    sites = [f"ingest-{n:02d}" for n in range(sizes.ingest_clients)]
    batches = build_batches(sizes, sites)
    figure, relative = maintenance_figures(workdir, sizes, batches)
    if not sizes.references:
        results.skip("3", "VictoriaMetrics reference", "references disabled for this run")
        return [figure, relative]
    try:
        vm_rate = victoria_metrics(workdir / "vm", sizes, batches)
    except (FileNotFoundError, subprocess.SubprocessError) as exc:
        results.skip("3", "VictoriaMetrics reference", str(exc))
        return [figure, relative]
    return [
        Figure(
            figure.figure,
            figure.name,
            figure.value,
            figure.unit,
            reference=vm_rate,
            reference_name="VictoriaMetrics /write",
            target=figure.target,
            notes=figure.notes + "; reference: VictoriaMetrics (Debian package) ingesting the "
            "same readings as InfluxDB line protocol; it answers 204 once buffered in memory "
            "(flushed to disk about every second), not after an fsync",
        ),
        relative,
    ]
