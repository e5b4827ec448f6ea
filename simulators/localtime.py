"""Local days of a site as UTC instants: midnight, length, wall-clock times, RFC 3339 rendering.

The simulator works in epoch milliseconds (UTC) and converts local wall-clock times with zoneinfo,
so that a day with a DST change is 23 or 25 hours long and every instant is unambiguous.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MS_PER_MINUTE = 60_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_epoch_ms(moment: datetime) -> int:
    """Epoch milliseconds of an aware datetime, exactly (no float round trip)."""
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def rfc3339(epoch_ms: int, tz: ZoneInfo) -> str:
    """'2026-11-20T06:31:12.345+08:00': the device clock as scales and meters send it."""
    return (
        (_EPOCH + timedelta(milliseconds=epoch_ms))
        .astimezone(tz)
        .isoformat(timespec="milliseconds")
    )


@dataclass(frozen=True, slots=True)
class DayFrame:
    """One local date of one site: `[midnight_ms, midnight_ms + length_ms)` in UTC epoch ms."""

    day: date
    tz: ZoneInfo
    midnight_ms: int
    length_ms: int

    @classmethod
    def of(cls, day: date, tz: ZoneInfo) -> "DayFrame":
        start = to_epoch_ms(datetime.combine(day, time(0), tzinfo=tz))
        end = to_epoch_ms(datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz))
        return cls(day=day, tz=tz, midnight_ms=start, length_ms=end - start)

    @property
    def end_ms(self) -> int:
        return self.midnight_ms + self.length_ms

    @property
    def minutes(self) -> int:
        """Length of the day in minutes (1440, or 1380/1500 on a DST change)."""
        return self.length_ms // MS_PER_MINUTE

    def at(self, wall_min: int) -> int:
        """Epoch ms of local wall-clock time `wall_min` minutes after midnight (24:00 allowed)."""
        if wall_min >= 24 * 60:
            return self.end_ms + (wall_min - 24 * 60) * MS_PER_MINUTE
        wall = datetime.combine(self.day, time(wall_min // 60, wall_min % 60), tzinfo=self.tz)
        return to_epoch_ms(wall)

    def minute_index(self, wall_min: int) -> int:
        """Elapsed minutes from midnight to wall time `wall_min` (differs from it on DST days)."""
        return (self.at(wall_min) - self.midnight_ms) // MS_PER_MINUTE
