"""Kitchen bins in raw mode (`--raw-bins`): the planned deposits as a gross-weight stream.

A raw bin publishes what its platform shows: after each deposit a few unstable readings while the
food settles, then a stable reading of the new gross at the deposit's instant (so that the step
central derives falls into the same window as the deposit). The bin is emptied before a deposit
that would fill it beyond its capacity, and at the end of the day (21:00) when it holds food; an
emptying is a few unstable readings, then a stable reading of the empty platform. A bin's first
reading of the run is its empty platform at midnight (as a real bin publishes its gross at power
up). The first deposit of a day steps from the previous day's last stable reading, so central
needs that reading (its raw-scale lookback).

Fault `scale_drift` (docs/domain.md: zero drift and creep): right after an emptying, the empty
platform's reading drifts by one or two divisions (a stable reading of the new zero); deposits
after it sit on that zero. Central absorbs it by auto-zero (central/kpi/rawbins.py).

The deposits themselves (instants, true and shown masses) are the planner's, unchanged: the truth
is the same in net and raw mode. Every draw here comes from the injector's own random streams.
"""

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from simulators.devices import DEVICE_BY_ID
from simulators.events import GrossReading, Weighing
from simulators.localtime import MS_PER_MINUTE, DayFrame

CAPACITY_G = 20_000.0  # a bin holds this much food before it is emptied
END_OF_DAY_MIN = 21 * 60  # local time of the end-of-day emptying
UNSTABLE_READINGS = (1, 3)  # unstable readings before each stable one
UNSTABLE_SPACING_MS = 1_500
EMPTYING_BEFORE_MS = 60_000  # an emptying for capacity happens this long before the deposit
DRIFT_AFTER_EOD_MS = 30 * MS_PER_MINUTE
DRIFT_DIVISIONS = 2  # the empty platform drifts to within +-2 divisions of true zero


@dataclass(slots=True)
class _Bin:
    """What one bin shows and holds, carried from day to day."""

    zero_g: float = 0.0  # the empty platform's reading (drift)
    gross_g: float = 0.0  # the display now: zero + contents
    last_ms: int | None = None  # time of its last reading


@dataclass(frozen=True, slots=True)
class BinDay:
    """One bin's readings of one day and what they contain."""

    readings: tuple[GrossReading, ...]
    emptyings: int
    drifts: int
    unstable: int


class RawBins:
    """The raw bins of one site; call `play` for each bin, day after day, in order."""

    def __init__(self) -> None:
        self._bins: dict[str, _Bin] = {}

    def play(
        self,
        frame: DayFrame,
        device: str,
        weighings: Sequence[Weighing],
        rng: np.random.Generator,
        drift_rng: np.random.Generator,
        drift_p: float,
    ) -> BinDay:
        """The bin's gross-weight readings for `weighings` (its deposits of the day, in order);
        `drift_p` is the probability of a zero drift after each emptying (0: no fault)."""
        spec = DEVICE_BY_ID[device]
        if spec.stream is None:
            raise ValueError(f"{device} is not a scale")
        stream, division = spec.stream, spec.division_g
        state = self._bins.setdefault(device, _Bin())
        out: list[GrossReading] = []
        counts = {"emptyings": 0, "drifts": 0, "unstable": 0}
        last = frame.midnight_ms if state.last_ms is None else state.last_ms
        if state.last_ms is None:
            # the bin's first reading of the run: its empty platform, the reference of the first
            # deposit (a real bin publishes its gross when it powers up)
            out.append(GrossReading(last, device, stream, state.gross_g, stable=True))

        def settle(at_ms: int, target_g: float) -> None:
            """Unstable readings while the platform moves, then the stable one at `at_ms`."""
            nonlocal last
            before = state.gross_g
            n = int(rng.integers(UNSTABLE_READINGS[0], UNSTABLE_READINGS[1] + 1))
            for j in range(n, 0, -1):
                t = at_ms - j * UNSTABLE_SPACING_MS
                if t > last and t >= frame.midnight_ms:
                    swing = rng.uniform(-0.3, 0.3) * abs(target_g - before) + division
                    shown = round((target_g + swing) / division) * division
                    out.append(GrossReading(t, device, stream, shown, stable=False))
                    counts["unstable"] += 1
                    last = t
            out.append(GrossReading(at_ms, device, stream, target_g, stable=True))
            state.gross_g, last = target_g, at_ms

        def empty(at_ms: int, next_ms: int) -> None:
            """Emptied at `at_ms`; maybe a zero drift before the next reading at `next_ms`."""
            nonlocal last
            settle(at_ms, state.zero_g)
            counts["emptyings"] += 1
            if drift_p <= 0 or drift_rng.random() >= drift_p:
                return
            drift_ms = at_ms + (next_ms - at_ms) // 3
            if drift_ms <= at_ms:
                return
            choices = [
                k * division
                for k in range(-DRIFT_DIVISIONS, DRIFT_DIVISIONS + 1)
                if k * division != state.zero_g
            ]
            state.zero_g = state.gross_g = float(choices[int(drift_rng.integers(len(choices)))])
            out.append(GrossReading(drift_ms, device, stream, state.zero_g, stable=True))
            counts["drifts"] += 1
            last = drift_ms

        for weighing in weighings:
            if state.gross_g - state.zero_g + weighing.shown_g > CAPACITY_G:
                at_ms = weighing.at_ms - EMPTYING_BEFORE_MS
                if at_ms <= last + 10_000 or at_ms < frame.midnight_ms:
                    at_ms = max(last + (weighing.at_ms - last) // 2, last + 1)
                empty(at_ms, weighing.at_ms - UNSTABLE_READINGS[1] * UNSTABLE_SPACING_MS)
            # two deposits in one millisecond would be two stable readings central cannot order
            settle(max(weighing.at_ms, last + 1), state.gross_g + weighing.shown_g)
        end_of_day_ms = max(frame.at(END_OF_DAY_MIN), last + EMPTYING_BEFORE_MS)
        holds_food = state.gross_g - state.zero_g > 0
        if holds_food and end_of_day_ms + DRIFT_AFTER_EOD_MS < frame.end_ms:
            empty(end_of_day_ms, end_of_day_ms + 3 * DRIFT_AFTER_EOD_MS)
        state.last_ms = last
        return BinDay(tuple(out), counts["emptyings"], counts["drifts"], counts["unstable"])
