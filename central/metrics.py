"""Central's Prometheus metrics (`GET /metrics`): ingest by site, ingest latency, refused
requests, store errors and the lag of the KPI rollups. One registry per application (not the
library's global one), created by create_app and reaching routes through CentralResources."""

import math
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

if TYPE_CHECKING:
    from central.retention import SitePruned

PREFIX = "canteen_central"
# An ingest request, authentication to the 200 after the durable commit, seconds.
INGEST_BUCKETS_S = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def rollup_lag_s(as_of_s: float | None, now_s: float) -> float:
    """Seconds since the KPI rollups were last known complete (`as_of_s`, epoch s: everything
    written before it is rolled up); what was written after that is built on read by the first
    report that needs it. NaN while nothing keeps rollups (the store keeps none) or before the
    maintainer's first look."""
    return math.nan if as_of_s is None else max(0.0, now_s - as_of_s)


class CentralMetrics:
    """Counters and gauges of one central; `render` gives the exposition text."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.readings = Counter(
            f"{PREFIX}_readings",
            "readings of stored upload batches, by site and outcome: accepted (new), duplicate, "
            "rejected; rate(...{outcome='accepted'}) is the ingest rate",
            ["site", "outcome"],
            registry=self.registry,
        )
        self.batches = Counter(
            f"{PREFIX}_ingest_batches",
            "upload batches stored (answered 200), by site",
            ["site"],
            registry=self.registry,
        )
        self.ingest_seconds = Histogram(
            f"{PREFIX}_ingest_seconds",
            "time to store an upload batch: request to the 200 after the durable commit",
            buckets=INGEST_BUCKETS_S,
            registry=self.registry,
        )
        self.refused = Counter(
            f"{PREFIX}_requests_refused",
            "requests answered 4xx or 503 by central's error handlers, by route name and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.store_errors = Counter(
            f"{PREFIX}_store_errors",
            "requests answered 503 because the reading store failed or was unavailable",
            ["route"],
            registry=self.registry,
        )
        self.sealed_readings = Counter(
            f"{PREFIX}_sealed_readings",
            "readings rejected because their local date is sealed (its raw readings were pruned "
            "after rollup: CENTRAL_RAW_RETENTION_DAYS); also counted as rejected",
            ["site"],
            registry=self.registry,
        )
        self.pruned_rows = Counter(
            f"{PREFIX}_pruned_rows",
            "rows deleted by the retention of raw readings, by site and table (readings, "
            "duplicate_counts, edge_duplicates)",
            ["site", "table"],
            registry=self.registry,
        )
        self.sealed_through = Gauge(
            f"{PREFIX}_sealed_through_seconds",
            "epoch seconds of the UTC midnight after a site's last sealed date (its raw readings "
            "up to that date are pruned; time() minus it: how far back raw readings reach)",
            ["site"],
            registry=self.registry,
        )
        self._rollups_as_of: Callable[[], float | None] = lambda: None
        Gauge(
            f"{PREFIX}_rollup_lag_seconds",
            "seconds the oldest pending KPI rollup has waited (rollup_lag_s); NaN: no rollups",
            registry=self.registry,
        ).set_function(lambda: rollup_lag_s(self._rollups_as_of(), time.time()))

    def watch_rollups(self, as_of_s: Callable[[], float | None]) -> None:
        """Feed the lag gauge from `as_of_s` (the maintainer: the one that knows how far the
        rollups are, central/rollup_maintainer.py)."""
        self._rollups_as_of = as_of_s

    def site_pruned(self, done: "SitePruned") -> None:
        """Count what a site's pruning deleted, and where its horizon stands."""
        for table, rows in (
            ("readings", done.deleted.readings),
            ("duplicate_counts", done.deleted.duplicate_counts),
            ("edge_duplicates", done.deleted.edge_duplicates),
        ):
            self.pruned_rows.labels(done.site, table).inc(rows)
        if done.sealed_through is not None:
            after = done.sealed_through + timedelta(days=1)
            end = datetime(after.year, after.month, after.day, tzinfo=UTC)
            self.sealed_through.labels(done.site).set(end.timestamp())

    def batch_stored(
        self, site: str, *, accepted: int, duplicates: int, rejected: int, seconds: float
    ) -> None:
        self.batches.labels(site).inc()
        for outcome, count in (
            ("accepted", accepted),
            ("duplicate", duplicates),
            ("rejected", rejected),
        ):
            self.readings.labels(site, outcome).inc(count)
        self.ingest_seconds.observe(seconds)

    def request_refused(self, route: str, status: int) -> None:
        self.refused.labels(route, str(status)).inc()
        if status == 503:
            self.store_errors.labels(route).inc()
