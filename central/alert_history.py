"""Alert history: the alerts of sites over a span of local dates, with their acknowledgements.

Each date's alerts are those central.reporting.alerts gives (the one KPI pipeline), evaluated at
the end of that date (or now for today), from a few reads per site for the whole span
(central.reporting.alerts_over); dates after a site's local today have none yet.
"""

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime

from central.alert_acks import AlertAck, AlertAckStore, AlertKey
from central.kpi.alerts import Alert
from central.kpi.periods import DateRange
from central.kpi.rollup import Freshness
from central.registry import Site
from central.reporting import alerts_over
from central.store import ReadingsStore

# A quarter at most per request (each date is evaluated on its own from the span's reads).
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
    freshness: Freshness | None = None,
) -> list[DatedAlert]:
    """Alerts of `sites` on each date of `span` up to their local today, oldest date first
    (then in the order of `sites`), each with its acknowledgement (or None)."""
    per_site: list[dict[date, list[Alert]]] = []
    for site in sites:
        last = min(span.last, local_today(site, now_ms))
        if last < span.first:
            per_site.append({})
            continue
        dates = DateRange(span.first, last)
        per_site.append(await alerts_over(store, site, dates, now_ms, freshness))
    found = [
        (on, alert) for on in span.dates() for by_date in per_site for alert in by_date.get(on, ())
    ]
    known = await asyncio.to_thread(acks.acks, [s.id for s in sites], span.first, span.last)
    out = []
    for on, alert in found:
        key = AlertKey.of(alert, on)
        out.append(DatedAlert(on, alert, key, known.get(key)))
    return out
