"""Attribution windows of docs/architecture.md, computed independently of the simulator's code."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from simulators.registry import Site


@dataclass(frozen=True)
class Windows:
    """Windows of one service on one date (epoch ms), computed without the simulator's code."""

    diners: tuple[int, int]
    waste: tuple[int, int]  # plate, trays, clean plates, overproduction
    prep: tuple[int, int]  # prep waste and energy


def local_ms(day: date, minutes: int, tz: str) -> int:
    zone = ZoneInfo(tz)
    base_day = day + timedelta(days=minutes // 1440)
    minutes %= 1440
    moment = datetime.combine(base_day, time(minutes // 60, minutes % 60), tzinfo=zone)
    return int(moment.timestamp() * 1000)


def windows(site: Site, day: date) -> dict[str, Windows]:
    result = {}
    for s in site.services:
        result[s.name] = Windows(
            diners=(
                local_ms(day, s.start_min, site.timezone),
                local_ms(day, s.end_min, site.timezone),
            ),
            waste=(
                local_ms(day, s.start_min, site.timezone),
                local_ms(day, s.end_min + s.grace_min, site.timezone),
            ),
            prep=(
                local_ms(day, s.start_min - s.prep_lead_min, site.timezone),
                local_ms(day, s.end_min, site.timezone),
            ),
        )
    return result


def day_bounds(site: Site, day: date) -> tuple[int, int]:
    return local_ms(day, 0, site.timezone), local_ms(day + timedelta(days=1), 0, site.timezone)


def inside(at_ms: int, window: tuple[int, int]) -> bool:
    return window[0] <= at_ms < window[1]


def count_in(times: Iterable[int], window: tuple[int, int]) -> int:
    return sum(1 for t in times if inside(t, window))
