"""A paced ingest load on a running central, in the background (figure 6f: freshness under load).

`with IngestLoad(...) as load:` posts signed upload batches (as edges do) of the given sites in
turn, at `rate_per_s` readings per second on average, from a thread with its own event loop, until
the block ends. Batches are due on a fixed schedule; at most `concurrency` are in flight, so a
central that cannot keep up is offered less (the achieved rate says so) and the load's memory
stays bounded. Each site's batches go to its dates in turn (`day_starts_ms`, each date's first
reading time): a site-date stands for one canteen's today, so that a load of many canteens
touches as many site-dates as they would (each one rebuilt by central's rollup maintainer after
it is written). Each site-date's readings are one stream per device kind, with rising sequence
numbers and times under a boot of its own, new for every load, so that a reused store never
sees them as resends.
`load.count()` snapshots (accepted readings, monotonic s); any error stops the load and is raised
when the block ends.
"""

import asyncio
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from types import TracebackType

import httpx

from bench.payloads import batch_body, records, upload_headers
from contract.topics import DeviceKind
from harness.registry import EdgeCredentials


@dataclass(frozen=True, slots=True)
class LoadCount:
    readings: int  # accepted by central (200) so far
    at_s: float  # time.monotonic()


def achieved_per_s(start: LoadCount, end: LoadCount) -> float:
    """Readings/s central accepted between two counts."""
    return (end.readings - start.readings) / max(1e-9, end.at_s - start.at_s)


STEP_MS = 10  # between a site's readings of a date


class IngestLoad:
    def __init__(
        self,
        url: str,
        credentials: dict[str, EdgeCredentials],
        sites: Sequence[str],
        *,
        rate_per_s: float,
        batch_readings: int,
        day_starts_ms: Sequence[int],
        prefix: str,
        kinds: Sequence[DeviceKind],
        concurrency: int = 16,
    ) -> None:
        if rate_per_s <= 0 or batch_readings < 1 or not sites:
            raise ValueError("a load needs a positive rate, batch size and at least one site")
        if not day_starts_ms:
            raise ValueError("a load needs at least one date")
        self.url = url
        self.credentials = credentials
        self.sites = list(sites)
        self.rate_per_s = rate_per_s
        self.batch_readings = batch_readings
        self.day_starts_ms = list(day_starts_ms)
        self.prefix = prefix
        self.kinds = tuple(kinds)
        self.concurrency = concurrency
        self.boot = f"load-{uuid.uuid4().hex[:12]}"
        self._batches_of = dict.fromkeys(self.sites, 0)  # each site's batches so far
        self._sent: dict[tuple[str, int], int] = {}  # readings of each site-date's stream so far
        self._accepted = 0
        self._batches = 0
        self._stop = threading.Event()
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._main, name="ingest-load", daemon=True)

    def count(self) -> LoadCount:
        return LoadCount(self._accepted, time.monotonic())

    @property
    def batches(self) -> int:
        """Batches central accepted so far."""
        return self._batches

    def stopped(self) -> bool:
        """The load's thread ended (on an error, or after the block)."""
        return self._thread.ident is not None and not self._thread.is_alive()

    def check(self) -> None:
        """Raise the load's error, if it stopped on one."""
        if self._error is not None:
            raise RuntimeError(f"the ingest load failed: {self._error!r}") from self._error

    def __enter__(self) -> "IngestLoad":
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join()
        if kind is None:
            self.check()

    def _main(self) -> None:
        try:
            asyncio.run(self._run())
        except BaseException as exc:  # reported to the main thread by check()
            self._error = exc

    def _body(self, site: str) -> bytes:
        day = self._batches_of[site] % len(self.day_starts_ms)
        self._batches_of[site] += 1
        first = self._sent.get((site, day), 0)
        self._sent[site, day] = first + self.batch_readings
        batch = list(
            records(self.prefix, f"{self.boot}-d{day}", self.batch_readings,
                    self.day_starts_ms[day], STEP_MS, first, self.kinds)
        )  # fmt: skip
        edge = self.credentials[site].edge_id
        return batch_body(site, edge, uuid.uuid4().hex, batch)

    async def _post(
        self, client: httpx.AsyncClient, site: str, body: bytes, slots: asyncio.Semaphore
    ) -> None:
        try:
            headers = upload_headers(self.credentials[site].api_key, body)
            response = await client.post("/api/v1/ingest", content=body, headers=headers)
            if response.status_code != 200:
                raise RuntimeError(f"HTTP {response.status_code}: {response.text[:300]}")
            self._accepted += self.batch_readings
            self._batches += 1
        finally:
            slots.release()

    async def _run(self) -> None:
        interval_s = self.batch_readings / self.rate_per_s
        slots = asyncio.Semaphore(self.concurrency)
        limits = httpx.Limits(
            max_connections=self.concurrency, max_keepalive_connections=self.concurrency
        )
        loop = asyncio.get_running_loop()
        async with (
            httpx.AsyncClient(base_url=self.url, timeout=120, limits=limits) as client,
            asyncio.TaskGroup() as tasks,
        ):
            started = loop.time()
            due = 0
            while not self._stop.is_set():
                wait_s = started + due * interval_s - loop.time()
                if wait_s > 0:
                    await asyncio.sleep(min(wait_s, 0.1))  # and look at the stop flag
                    continue
                await slots.acquire()
                site = self.sites[due % len(self.sites)]
                tasks.create_task(self._post(client, site, self._body(site), slots))
                due += 1
