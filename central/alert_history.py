"""Alert history: the alerts of sites over a span of local dates, with their acknowledgements.

Each date's alerts come from central.reporting.alerts (the one KPI pipeline), evaluated at the
end of that date (or now for today); dates after a site's local today have none yet.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from central.alert_acks import AlertAck, AlertAckStore, AlertKey
from central.kpi.alerts import Alert
from central.kpi.periods import DateRange
from central.registry import Site
from central.reporting import alerts
from central.store import ReadingsStore

# Every date is one evaluation (a month-to-date load per site): a quarter at most per request.
MAX_HISTORY_DAYS = 92


@dataclass(frozen=True, slots=True)
class DatedAlert:
    on: date  # the local date the alert belongs to
    alert: Alert
    key: AlertKey
    ack: AlertAck | None


def local_today(site: Site, now_ms: int) -> date:
    return datetime.fromtimestamp(now_ms / 1000, site.timezone).date()


async def alert_history(
    store: ReadingsStore,
    acks: AlertAckStore,
    sites: Sequence[Site],
    span: DateRange,
    now_ms: int,
) -> list[DatedAlert]:
    """Alerts of `sites` on each date of `span` up to their local today, oldest date first,
    each with its acknowledgement (or None)."""
    found: list[tuple[date, Alert]] = []
    for on in span.dates():
        for site in sites:
            if on > local_today(site, now_ms):
                continue
            found.extend((on, alert) for alert in await alerts(store, site, on, now_ms))
    known = await asyncio.to_thread(acks.acks, [s.id for s in sites], span.first, span.last)
    out = []
    for on, alert in found:
        key = AlertKey.of(alert, on)
        out.append(DatedAlert(on, alert, key, known.get(key)))
    return out
