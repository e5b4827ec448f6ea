"""Wrong device clocks (docs/domain.md Q3): detected from the edge's receive time, then corrected.

Every reading carries two instants: `time_ms`, the device's clock when it took the reading, and
`received_ms`, the edge's clock when the reading arrived. skew = time_ms - received_ms.

The rule (docs/kpis.md, "Wrong device clocks") judges each reading by itself and by a verdict
stored with it at ingest, so that the same reading is attributed the same way in a day, a week
or a year report. By itself, a reading's clock is wrong when

- skew > +future_tolerance_ms: the device claims a time after the reading reached the edge,
  which no correct clock can do (a reading cannot arrive before it was taken);
- skew < -max_delay_ms: the device claims a time before the longest time a device buffers a
  reading (store-and-forward after a network outage), including a clock at 1970.

Such a reading is attributed by its receive time instead (corrected) and counted as
`clock_corrected`. Every other reading keeps its device time, in particular late data after an
outage, whose receive time lags its device time by up to `max_delay_ms`.

Judged per device (`judge_device`, at ingest): a late reading (skew < -max_delay_ms) of a device
whose clock its neighbours show correct is "clock trusted" and keeps its device time however
late it arrived (a meter that uploads yesterday's readings at 08:00). The store keeps the verdict
with the reading (`clock_trusted`); `correct_clocks` honours it.
"""

import bisect
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from central.kpi.readings import (
    CardReadings,
    Int64Array,
    MeterReadings,
    ScaleReadings,
    SiteReadings,
)

BoolArray = npt.NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class ClockRule:
    """Thresholds of the rule; defaults documented in docs/kpis.md."""

    future_tolerance_ms: int = 10 * 60_000  # clocks may run this far ahead of the edge's
    max_delay_ms: int = 90 * 60_000  # the longest a device buffers a reading before publishing
    # False: trust every device time (a test stack whose edges stamp wall time while simulated
    # devices send simulated time has no meaningful skew)
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.future_tolerance_ms < 0 or self.max_delay_ms < 0:
            raise ValueError(f"clock rule thresholds must be >= 0, got {self}")


DEFAULT_CLOCK_RULE = ClockRule()


def wrong_clock(
    time_ms: Int64Array,
    received_ms: Int64Array,
    rule: ClockRule,
    trusted: BoolArray | None = None,
) -> BoolArray:
    """True for readings whose device time cannot be trusted (see the module docstring);
    `trusted`: the per-device verdicts stored at ingest (True keeps a late reading's time)."""
    if not rule.enabled:
        return np.zeros(time_ms.shape, dtype=np.bool_)
    skew = time_ms - received_ms
    late = skew < -rule.max_delay_ms
    if trusted is not None:
        late &= ~trusted
    return (skew > rule.future_tolerance_ms) | late


def attributed_instant_ms(time_ms: int, received_ms: int, rule: ClockRule) -> int:
    """`attributed_ms` of one reading."""
    return int(attributed_ms(np.array([time_ms]), np.array([received_ms]), rule)[0])


def attributed_ms(
    time_ms: Int64Array,
    received_ms: Int64Array,
    rule: ClockRule,
    trusted: BoolArray | None = None,
) -> Int64Array:
    """The instant each reading is attributed to: its receive time where its clock is wrong."""
    wrong = wrong_clock(time_ms, received_ms, rule, trusted)
    return np.where(wrong, received_ms, time_ms).astype(np.int64)


@dataclass(frozen=True, slots=True)
class Corrected:
    """Readings with wrong clocks moved to their receive times, and the original readings."""

    readings: SiteReadings  # time_ms = attributed time; same order and shape as `original`
    original: SiteReadings


def correct_clocks(readings: SiteReadings, rule: ClockRule = DEFAULT_CLOCK_RULE) -> Corrected:
    """Apply the rule to every kind of reading (received_ms is left as it is)."""
    scale, card, meter = readings.scale, readings.card, readings.meter
    fixed = SiteReadings(
        scale=replace(scale, time_ms=_attributed(scale, rule)),
        card=replace(card, time_ms=_attributed(card, rule)),
        meter=replace(meter, time_ms=_attributed(meter, rule)),
    )
    return Corrected(fixed, readings)


def _attributed(part: ScaleReadings | CardReadings | MeterReadings, rule: ClockRule) -> Int64Array:
    return attributed_ms(part.time_ms, part.received_ms, rule, part.clock_trusted)


# Readings of one device received this close to each other form a burst: a device uploading its
# buffer sends it, and its live reading, within a burst.
BURST_MS = 60_000


@dataclass(frozen=True, slots=True)
class Timed:
    """One reading of one (site, device, boot), as `judge_device` sees it."""

    seq: int
    time_ms: int
    received_ms: int
    trusted: bool | None = None  # the verdict stored with it, if any (see judge_device)


def judge_device(readings: Sequence[Timed], rule: ClockRule) -> list[bool | None]:
    """The per-device verdict of each reading of one (site, device, boot), in input order.

    None: judged by itself (its skew within the rule's limits, or ahead of its receive time,
    which no buffering explains). For a late reading (skew < -max_delay_ms): True, "clock
    trusted", when the device's clock is shown correct on both sides of it:

    - after it: a reading of the same boot with a higher seq, within the limits, received in the
      same burst (within BURST_MS of its receive time) and not taken before it: the device's live
      reading after it sent its buffer;
    - before it: its predecessor (the reading with the next lower seq among `readings`) kept its
      device time (within the limits, or trusted) and was not taken after it.

    Otherwise False: late and not trusted (yet: a live reading in a later upload may still
    vouch for it). A clock that is wrong for every reading (3 days behind) has no reading within
    the limits and stays corrected; a stretch of readings hours behind between correct ones fails
    the "before" test; the first reading of a boot has no predecessor and is judged by itself.
    `readings` should hold the predecessor of the earliest late one where the store has it.
    """
    if not rule.enabled:
        return [None] * len(readings)
    skews = [r.time_ms - r.received_ms for r in readings]
    late = [k < -rule.max_delay_ms for k in skews]
    fresh = [-rule.max_delay_ms <= k <= rule.future_tolerance_ms for k in skews]
    verdict: list[bool | None] = [
        (r.trusted is True) if late[n] else None for n, r in enumerate(readings)
    ]
    order = sorted(range(len(readings)), key=lambda n: readings[n].seq)
    live = [m for m in order if fresh[m]]  # by seq: those after a reading are a suffix
    live_seqs = [readings[m].seq for m in live]
    for position, n in enumerate(order[1:], start=1):
        if verdict[n] is not False:
            continue
        r, previous = readings[n], order[position - 1]
        kept_before = (fresh[previous] or verdict[previous] is True) and (
            readings[previous].time_ms <= r.time_ms
        )
        verdict[n] = kept_before and any(
            abs(readings[m].received_ms - r.received_ms) <= BURST_MS
            and readings[m].time_ms >= r.time_ms
            for m in live[bisect.bisect_right(live_seqs, r.seq) :]
        )
    return verdict


def judge_burst(
    stored: Sequence[Timed], before: Timed | None, new: Sequence[Timed], rule: ClockRule
) -> tuple[list[bool | None], list[int]]:
    """`judge_device` of a batch's readings of one (site, device, boot) that are not stored yet
    (`new`), with the stored readings of their burst (`stored`: received within BURST_MS of
    them, with their stored verdicts) and `before`, the stored predecessor by seq of the
    earliest of the two. Returns the verdicts of `new`, and the positions in `stored` of the
    stored readings that this batch makes clock-trusted (a live reading after them arrived).
    Both stores decide with it; each looks the stored readings up its own way."""
    context = [*stored, *([before] if before is not None else [])]
    verdicts = judge_device([*context, *new], rule)
    retrusted = [
        n
        for n, (s, verdict) in enumerate(zip(stored, verdicts, strict=False))
        if verdict is True and s.trusted is not True
    ]
    return verdicts[len(context) :], retrusted


def predecessor_matters(stored: Sequence[Timed], new: Sequence[Timed], rule: ClockRule) -> bool:
    """Whether `judge_burst` of these readings can depend on the predecessor of the earliest
    (a store that pays for looking it up asks first): it does when a predecessor that kept its
    device time would change a verdict."""
    readings = [*stored, *new]
    if not rule.enabled or not readings:
        return False
    first = min(readings, key=lambda r: r.seq)
    # a stand-in predecessor that kept its device time, taken just before the earliest
    vouching = Timed(first.seq - 1, first.time_ms, first.time_ms)
    return judge_burst(stored, vouching, new, rule) != judge_burst(stored, None, new, rule)
