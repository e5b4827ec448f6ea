"""Edge health as central keeps it: each edge's latest report, and what its counters added in a
period (contract.EdgeHealth, sent with the edges' upload batches).

The edge's counters are cumulative since its buffer file was created. A period's increase is the
latest report before the period's end minus the latest report before its start; a counter that
went down belongs to a new buffer file (it started from 0 again), so its whole value counts.
"""

from collections.abc import Mapping
from dataclasses import dataclass

from contract import EdgeHealth

# Counters whose increase means readings that did not reach the KPIs: alerted on.
LOSS_COUNTERS = ("dropped_overflow", "dead_lettered", "broker_sessions_lost")
COUNTERS = (*LOSS_COUNTERS, "intake_pauses")


@dataclass(frozen=True, slots=True)
class EdgeHealthReport:
    """One edge's health report as stored (the edge's clock in `measured_ms`)."""

    edge: str
    measured_ms: int
    dropped_overflow: int
    dead_lettered: int
    intake_pauses: int
    broker_sessions_lost: int
    pending_readings: int
    oldest_pending_age_ms: int | None

    @classmethod
    def of(cls, edge: str, health: EdgeHealth) -> "EdgeHealthReport":
        return cls(
            edge=edge,
            measured_ms=health.measured_ms,
            dropped_overflow=health.dropped_overflow,
            dead_lettered=health.dead_lettered,
            intake_pauses=health.intake_pauses,
            broker_sessions_lost=health.broker_sessions_lost,
            pending_readings=health.pending_readings,
            oldest_pending_age_ms=health.oldest_pending_age_ms,
        )

    def counter(self, name: str) -> int:
        value: int = getattr(self, name)
        return value


@dataclass(frozen=True, slots=True)
class EdgeHealthPeriod:
    """One edge over a period: its latest report up to the period's end, and the increase of each
    counter (COUNTERS) within the period."""

    latest: EdgeHealthReport
    increase: Mapping[str, int]

    @property
    def edge(self) -> str:
        return self.latest.edge

    @property
    def lost_readings(self) -> bool:
        """The edge dropped, dead-lettered or lost (broker session) readings in the period."""
        return any(self.increase[name] > 0 for name in LOSS_COUNTERS)


def health_period(
    latest: EdgeHealthReport, before: EdgeHealthReport | None, start_ms: int
) -> EdgeHealthPeriod:
    """`latest`: the edge's last report before the period's end; `before`: its last report before
    the period's start (None: there is none)."""
    increase = {}
    for name in COUNTERS:
        now = latest.counter(name)
        if latest.measured_ms < start_ms:
            increase[name] = 0  # no report in the period
        elif before is None or now < before.counter(name):
            increase[name] = now  # first report ever, or a new buffer file
        else:
            increase[name] = now - before.counter(name)
    return EdgeHealthPeriod(latest, increase)
