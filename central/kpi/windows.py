"""Attribution windows of a site's meal services on a local date, as UTC epoch-ms intervals.

All windows are half-open [start_ms, end_ms), per docs/architecture.md ("Attribution of readings
to a meal service"). Offsets (grace, prep lead) are added in absolute time, after converting the
local wall-clock times of the service to instants in the site's time zone.
"""

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from central.registry import Service, Site

MS_PER_MIN = 60_000


@dataclass(frozen=True, slots=True, order=True)
class Window:
    """Half-open interval [start_ms, end_ms) of UTC epoch milliseconds."""

    start_ms: int
    end_ms: int

    @property
    def duration_ms(self) -> int:
        return max(0, self.end_ms - self.start_ms)

    def intersect(self, other: "Window") -> "Window | None":
        start, end = max(self.start_ms, other.start_ms), min(self.end_ms, other.end_ms)
        return Window(start, end) if start < end else None


@dataclass(frozen=True, slots=True)
class ServiceWindows:
    """Where each kind of reading of one service on one date is attributed."""

    service: str
    diners: Window  # [start, end)
    plate: Window  # [start, end + grace): plate waste, trays, clean plates
    overproduction: Window  # [start, end + grace)
    prep: Window  # [start - prep_lead, end)
    energy: Window  # [start - prep_lead, end)


@dataclass(frozen=True, slots=True)
class DayWindows:
    """The local day, its services, and the off-hours parts of the day (for E8)."""

    date: date
    day: Window  # [00:00, 24:00) local
    services: tuple[ServiceWindows, ...]
    off_hours: tuple[Window, ...]  # the day minus the union of energy windows, in time order

    def span(self) -> Window:
        """The smallest window holding the day and every service window of this date."""
        starts = [self.day.start_ms] + [s.prep.start_ms for s in self.services]
        ends = [self.day.end_ms] + [max(s.plate.end_ms, s.energy.end_ms) for s in self.services]
        return Window(min(starts), max(ends))


def local_today(site: "Site") -> date:
    """Today's local date at the site."""
    return datetime.now(tz=site.timezone).date()


def local_instant_ms(local_date: date, local_time: time, zone: ZoneInfo) -> int:
    """UTC epoch ms of a wall-clock time on a local date in `zone`."""
    moment = datetime.combine(local_date, local_time, tzinfo=zone)
    return int(moment.timestamp() * 1000)


def service_windows(service: Service, local_date: date, zone: ZoneInfo) -> ServiceWindows:
    start = local_instant_ms(local_date, service.start, zone)
    end = local_instant_ms(local_date, service.end, zone)
    after_grace = end + service.grace_min * MS_PER_MIN
    prep_start = start - service.prep_lead_min * MS_PER_MIN
    return ServiceWindows(
        service=service.name,
        diners=Window(start, end),
        plate=Window(start, after_grace),
        overproduction=Window(start, after_grace),
        prep=Window(prep_start, end),
        energy=Window(prep_start, end),
    )


def day_window(local_date: date, zone: ZoneInfo) -> Window:
    """[00:00, 24:00) of a local date; 23 or 25 hours long on DST change days."""
    return Window(
        local_instant_ms(local_date, time(0, 0), zone),
        local_instant_ms(local_date + timedelta(days=1), time(0, 0), zone),
    )


def complement(outer: Window, holes: Iterable[Window]) -> tuple[Window, ...]:
    """`outer` minus the union of `holes`, as disjoint windows in time order."""
    parts: list[Window] = []
    cursor = outer.start_ms
    for hole in sorted(h for h in holes if h.end_ms > outer.start_ms and h.start_ms < outer.end_ms):
        if hole.start_ms > cursor:
            parts.append(Window(cursor, min(hole.start_ms, outer.end_ms)))
        cursor = max(cursor, hole.end_ms)
        if cursor >= outer.end_ms:
            break
    if cursor < outer.end_ms:
        parts.append(Window(cursor, outer.end_ms))
    return tuple(parts)


# Windows depend only on the time zone, the services and the date, and are immutable: they are
# kept for the dates recently asked (a site-year's dates are asked by several steps of a report).
DAY_WINDOWS_CACHED = 16_384


def day_windows(site: Site, local_date: date) -> DayWindows:
    """Every window of `site` on `local_date`.

    Off-hours also leave out the parts of the previous and next dates' energy windows that reach
    into this day (a breakfast whose preparation starts before midnight).
    """
    return _day_windows(site.timezone, site.services, local_date)


@functools.lru_cache(maxsize=DAY_WINDOWS_CACHED)
def _day_windows(zone: ZoneInfo, services: tuple[Service, ...], local_date: date) -> DayWindows:
    day = day_window(local_date, zone)
    windows = tuple(service_windows(s, local_date, zone) for s in services)
    energy = [
        service_windows(s, local_date + timedelta(days=offset), zone).energy
        for offset in (-1, 0, 1)
        for s in services
    ]
    return DayWindows(date=local_date, day=day, services=windows, off_hours=complement(day, energy))
