"""Cleaning of one meter's cumulative register (docs/domain.md, "Dirty data").

From the readings of one meter in device-time order this builds C(t), the meter's consumption
since its first reading, and E(t), the part of C(t) that rests on estimation (gaps), plus the
device time of every counter event (Q2). The rules, in the order they are tested per reading:

- declared exchange between the last good reading and this one: consumption is
  (old_final - last value) + (this value - new_initial), each never negative;
- a value below 90% of the highest value since the last reset ("drop"):
  - a wrap when the meter has a `wrap_modulus` M and value + M - high is plausible (at most
    `max_rate_per_h` over the elapsed time, or, without a maximum rate, the register was within
    10% of M); consumption value + M - high;
  - a downward spike when the next reading is back at the level before the drop: rejected;
  - otherwise a reset to zero: the value itself is the consumption since the reset (0 when that
    would be above the maximum rate: the new register's starting point is unknown);
- a value below the high but not below 90% of it: a backward dip (rounding); consumption 0 and the
  register is followed from its high, so the recovery is not counted twice;
- an increase implying more than `max_rate_per_h`, or one the next reading falls back from (below
  90% of it, but not below 90% of the level before it): a spike. When the next reading is plausible
  from the last good reading the spike reading is rejected (excluded; the next delta is computed
  from the last good reading). When the next reading continues from the spike instead, the
  register really moved (a level shift): that one delta is rejected and counting resumes from the
  new level, so one bad step cannot reject every later reading;
- a step longer than 3 x `interval_s` is a gap: its consumption is spread linearly over the
  gap (pro rata, by the interpolation of C) and counted as estimated.

The first reading is the zero of C (a first reading that is not zero is not consumption).
Consumption is never negative. Clean series take a vectorised path; a series with any anomaly is
walked once in Python (O(n)).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from central.kpi.readings import Float64Array, Int64Array, MeterReadings, int_array
from central.site_kpi_config import MeterConfig, MeterExchange

RESET_RATIO = 0.9  # docs/domain.md: a drop below 90% of the previous value is a reset
GAP_INTERVALS = 3  # a missing stretch longer than 3 x interval_s is a gap
WRAP_NEAR_MODULUS = 0.9  # without max_rate_per_h, a wrap needs the register above 90% of M
MS_PER_H = 3_600_000
EVENT_KINDS = ("reset", "wrap", "spike", "dip", "gap", "exchange")


@dataclass(frozen=True, slots=True)
class MeterCurve:
    """C(t) and its estimated part E(t) of one meter at its kept readings, and its events."""

    device: str
    quantity: str
    time_ms: Int64Array  # kept readings, sorted
    consumption: Float64Array  # C at each kept reading; 0 at the first
    estimated: Float64Array  # the part of C that came from gap steps
    readings_ms: Int64Array  # device times of every reading received, rejected ones included
    events: Mapping[str, Int64Array] = field(
        default_factory=lambda: MappingProxyType({}), hash=False
    )  # EVENT_KINDS -> device times of the readings where they happened
    end: "WalkState | None" = None  # where the walk stands after the last reading (to resume it)

    def at(self, times_ms: Int64Array) -> tuple[Float64Array, Float64Array]:
        """(C, E) interpolated at `times_ms`, clamped at the data's ends (nothing invented)."""
        if self.time_ms.size == 0:
            zeros = np.zeros(times_ms.shape, dtype=np.float64)
            return zeros, zeros.copy()
        x = times_ms.astype(np.float64)
        xp = self.time_ms.astype(np.float64)
        return np.interp(x, xp, self.consumption), np.interp(x, xp, self.estimated)

    def between(
        self, starts_ms: Int64Array, ends_ms: Int64Array
    ) -> tuple[Float64Array, Float64Array]:
        """(consumption, estimated part) over each window [start, end), never negative."""
        c_start, e_start = self.at(starts_ms)
        c_end, e_end = self.at(ends_ms)
        return np.maximum(c_end - c_start, 0.0), np.maximum(e_end - e_start, 0.0)

    def event_counts(self, starts_ms: Int64Array, ends_ms: Int64Array) -> dict[str, Int64Array]:
        """Counter events per window [start, end)."""
        return {
            kind: count_in(self.events.get(kind, int_array()), starts_ms, ends_ms)
            for kind in EVENT_KINDS
        }


def count_in(sorted_ms: Int64Array, starts_ms: Int64Array, ends_ms: Int64Array) -> Int64Array:
    """How many of the sorted times fall in each window [start, end)."""
    left = np.searchsorted(sorted_ms, starts_ms, side="left")
    right = np.searchsorted(sorted_ms, ends_ms, side="left")
    return (right - left).astype(np.int64)


@dataclass(frozen=True, slots=True)
class WalkState:
    """Where the cleaning of a meter's readings stands after its last good reading: all that the
    rules above carry from reading to reading. A walk resumed from it (with the next reading as
    `lookahead` for the walk before) continues exactly as one walk over every reading would, so
    walks per local date chained at the date bounds add up to the walk of the whole period."""

    last_ms: int  # device time of the last good (kept) reading
    high: float  # the highest register value since the last reset: counting follows from here
    consumption: float  # C at that reading
    estimated: float  # E at that reading


def clean_meter(
    device: str,
    quantity: str,
    time_ms: Int64Array,
    total: Float64Array,
    config: MeterConfig,
    exchanges: Sequence[MeterExchange] = (),
    *,
    start: WalkState | None = None,
    lookahead: tuple[int, float] | None = None,
) -> MeterCurve:
    """C(t), E(t) and events of one meter from its readings (any order).

    Without `start` the first reading is the zero of C. With `start` (the `end` of the curve of
    the readings before these), the walk resumes from it and the curve begins at its point.
    `lookahead` is the next reading after these, if known: the rules look one reading ahead, so a
    walk cut before a reading must be shown it to decide its last reading as the whole walk would.
    """
    order = np.argsort(time_ms, kind="stable")
    times = time_ms[order]
    values = total[order]
    n = times.size
    if n == 0:
        if start is None:
            empty = np.zeros(0, dtype=np.float64)
            return MeterCurve(device, quantity, int_array(), empty, empty.copy(), int_array())
        return MeterCurve(
            device,
            quantity,
            int_array([start.last_ms]),
            np.array([start.consumption]),
            np.array([start.estimated]),
            int_array(),
            end=start,
        )
    gap_ms = GAP_INTERVALS * config.interval_s * 1000
    first_ms = times[0] if start is None else start.last_ms
    in_range = [e for e in exchanges if first_ms < e.at_ms <= times[-1]]
    fast = None if in_range else _clean_fast(times, values, config, gap_ms, start, lookahead)
    if fast is not None:
        increments, is_gap = fast
        kept = np.ones(n, dtype=np.bool_)
        first_gap = 0 if start is not None else 1
        events: dict[str, Int64Array] = {"gap": times[first_gap:][is_gap[first_gap:]]}
        high = float(values[-1])
    else:
        increments, is_gap, kept, events, high = _clean_walk(
            times, values, config, gap_ms, in_range, start, lookahead
        )
    estimated_steps = np.where(is_gap, increments, 0.0)
    kept_ms = times[kept]
    consumption = np.cumsum(increments[kept])
    estimated = np.cumsum(estimated_steps[kept])
    if start is not None:  # the curve begins at the last good reading before these
        kept_ms = np.concatenate(([start.last_ms], kept_ms))
        consumption = np.concatenate(([0.0], consumption)) + start.consumption
        estimated = np.concatenate(([0.0], estimated)) + start.estimated
    end = WalkState(int(kept_ms[-1]), high, float(consumption[-1]), float(estimated[-1]))
    return MeterCurve(
        device=device,
        quantity=quantity,
        time_ms=kept_ms,
        consumption=consumption,
        estimated=estimated,
        readings_ms=times,
        events=MappingProxyType(events),
        end=end,
    )


def is_clean_series(
    time_ms: Int64Array,
    total: Float64Array,
    config: MeterConfig,
    exchanges: Sequence[MeterExchange] = (),
) -> bool:
    """True when clean_meter takes the vectorised path: no anomaly, no exchange in range.

    Then every increment depends on two consecutive readings only, so C(t) over any window is
    the same whatever range of readings around it was loaded (central.kpi.daycache)."""
    order = np.argsort(time_ms, kind="stable")
    times = time_ms[order]
    if times.size < 2:
        return True
    if any(times[0] < e.at_ms <= times[-1] for e in exchanges):
        return False
    gap_ms = GAP_INTERVALS * config.interval_s * 1000
    return _clean_fast(times, total[order], config, gap_ms, None, None) is not None


def _clean_fast(
    times: Int64Array,
    values: Float64Array,
    config: MeterConfig,
    gap_ms: int,
    start: WalkState | None,
    lookahead: tuple[int, float] | None,
) -> tuple[Float64Array, np.ndarray] | None:
    """Increments of a series without any anomaly, or None when the walk is needed: a series
    that never goes down (from `start`'s high, and on to `lookahead`) at a plausible rate."""
    if lookahead is not None and lookahead[1] < values[-1]:
        return None  # the walk decides the last reading by the one after it
    if start is not None:
        values = np.concatenate(([start.high], values))
        times = np.concatenate(([start.last_ms], times))
    delta = np.diff(values)
    if np.any(delta < 0):
        return None
    dt_ms = np.diff(times)
    if config.max_rate_per_h is not None:
        limit = config.max_rate_per_h * dt_ms / MS_PER_H
        if np.any(delta > limit):
            return None
    if start is not None:
        return delta, dt_ms > gap_ms
    increments = np.concatenate(([0.0], delta))
    is_gap = np.concatenate(([False], dt_ms > gap_ms))
    return increments, is_gap


def _clean_walk(
    times: Int64Array,
    values: Float64Array,
    config: MeterConfig,
    gap_ms: int,
    exchanges: Sequence[MeterExchange],
    start: WalkState | None,
    lookahead: tuple[int, float] | None,
) -> tuple[Float64Array, np.ndarray, np.ndarray, dict[str, Int64Array], float]:
    """One pass over the readings applying the module's rules; plain floats for speed. Returns
    per reading its increment, gap flag and whether it is kept; the events; the final high."""
    t = times.tolist()
    v = values.tolist()
    n = len(t)
    if lookahead is not None:  # seen by the rules as the next reading, never walked itself
        t.append(lookahead[0])
        v.append(lookahead[1])
    max_rate = config.max_rate_per_h
    modulus = config.wrap_modulus
    increments = [0.0] * n
    is_gap = [False] * n
    kept = [True] * n
    found: dict[str, list[int]] = {kind: [] for kind in EVENT_KINDS}
    pending = sorted(exchanges, key=lambda e: e.at_ms)

    def plausible(amount: float, dt_ms: int) -> bool:
        return max_rate is None or amount <= max_rate * max(dt_ms, 1) / MS_PER_H

    # the last good reading's time, and the highest value since the last reset (the register is
    # followed from here); without a start, the first reading is the zero of C
    last_t, high = (t[0], v[0]) if start is None else (start.last_ms, start.high)
    for k in range(1 if start is None else 0, n):
        value, now = v[k], t[k]
        dt = now - last_t
        nxt = k + 1 if k + 1 < len(t) else None
        exchange = None
        while pending and pending[0].at_ms <= now:
            candidate = pending.pop(0)
            if candidate.at_ms > last_t:
                exchange = candidate if exchange is None else exchange
        if exchange is not None:
            increments[k] = max(0.0, exchange.old_final - high) + max(
                0.0, value - exchange.new_initial
            )
            found["exchange"].append(now)
            high = value
        elif value < RESET_RATIO * high:
            wrapped = value + modulus - high if modulus is not None else -1.0
            wrap_ok = wrapped >= 0 and (
                plausible(wrapped, dt)
                if max_rate is not None
                else high >= WRAP_NEAR_MODULUS * (modulus or 0.0)
            )
            if wrap_ok:
                increments[k] = wrapped
                found["wrap"].append(now)
            elif (
                nxt is not None
                and v[nxt] >= RESET_RATIO * high
                and plausible(v[nxt] - high, t[nxt] - last_t)
            ):
                kept[k] = False  # a downward spike: the next reading is back at the level
                found["spike"].append(now)
                continue
            else:
                increments[k] = value if plausible(value, dt) else 0.0
                found["reset"].append(now)
            high = value
        elif value <= high:
            if value < high:
                found["dip"].append(now)
        elif plausible(value - high, dt) and not (
            # the next reading falls back below 90% of this one but not of the level before:
            # this reading is a spike even when the rate looks plausible (or is not configured)
            nxt is not None and RESET_RATIO * high <= v[nxt] < RESET_RATIO * value
        ):
            increments[k] = value - high
            high = value
        else:
            found["spike"].append(now)
            returns = nxt is not None and plausible(v[nxt] - high, t[nxt] - last_t)
            continues = (
                nxt is not None and v[nxt] >= value and plausible(v[nxt] - value, t[nxt] - now)
            )
            if returns or not continues:
                kept[k] = False  # rejected; the next delta is computed from the last good reading
                continue
            high = value  # a level shift: this one delta is rejected, counting resumes from here
        if dt > gap_ms:
            is_gap[k] = True
            found["gap"].append(now)
        last_t = now
    return (
        np.asarray(increments, dtype=np.float64),
        np.asarray(is_gap, dtype=np.bool_),
        np.asarray(kept, dtype=np.bool_),
        {kind: int_array(found[kind]) for kind in EVENT_KINDS},
        high,
    )


def meter_curves(
    meters: MeterReadings,
    quantity: str,
    configs: Mapping[str, MeterConfig] | None = None,
    exchanges: Sequence[MeterExchange] = (),
) -> list[MeterCurve]:
    """One cleaned curve per meter device measuring `quantity`, sorted by device id."""
    of_quantity = meters.quantity == quantity
    curves = []
    for device in np.unique(meters.device[of_quantity]).tolist():
        mask = of_quantity & (meters.device == device)
        config = (configs or {}).get(device) or MeterConfig(device)
        curves.append(
            clean_meter(
                device,
                quantity,
                meters.time_ms[mask],
                meters.total[mask],
                config,
                [e for e in exchanges if e.device == device],
            )
        )
    return curves


def chained_curves(
    meters: MeterReadings,
    quantity: str,
    configs: Mapping[str, MeterConfig] | None,
    exchanges: Sequence[MeterExchange],
    starts: Mapping[str, WalkState],
    from_ms: int,
    cut_ms: int,
) -> tuple[list[MeterCurve], dict[str, WalkState]]:
    """The curves of `meter_curves` for a span [from_ms, cut_ms) resumed from `starts` (each
    meter's state at from_ms; a meter without one starts at its first reading), and each
    meter's state at cut_ms, from which the next span resumes.

    Readings before from_ms were walked by the span before and are left out. Each walk is cut at
    cut_ms and the readings after it (the loaded lookaround) continue the curve from the cut's
    state, so that C can be interpolated up to cut_ms exactly as one walk would.
    """
    of_quantity = (meters.quantity == quantity) & (meters.time_ms >= from_ms)
    curves, ends = [], {}
    for device in np.unique(meters.device[of_quantity]).tolist():
        mask = of_quantity & (meters.device == device)
        order = np.argsort(meters.time_ms[mask], kind="stable")
        times, totals = meters.time_ms[mask][order], meters.total[mask][order]
        config = (configs or {}).get(device) or MeterConfig(device)
        own = [e for e in exchanges if e.device == device]
        inside = int(np.searchsorted(times, cut_ms, side="left"))
        lookahead = (int(times[inside]), float(totals[inside])) if inside < times.size else None
        start = starts.get(device)
        if inside == 0 and start is None:  # nothing to resume from, nothing inside: after only
            curves.append(clean_meter(device, quantity, times, totals, config, own))
            continue
        before = clean_meter(
            device,
            quantity,
            times[:inside],
            totals[:inside],
            config,
            own,
            start=start,
            lookahead=lookahead,
        )
        if before.end is None:
            raise ValueError(f"meter {device}: a walk with readings has an end state")
        ends[device] = before.end
        after = clean_meter(
            device, quantity, times[inside:], totals[inside:], config, own, start=before.end
        )
        curves.append(_joined(before, after))
    return curves, ends


def _joined(before: MeterCurve, after: MeterCurve) -> MeterCurve:
    """One curve of a walk and its continuation (which begins at the first one's last point)."""
    return MeterCurve(
        device=before.device,
        quantity=before.quantity,
        time_ms=np.concatenate((before.time_ms, after.time_ms[1:])),
        consumption=np.concatenate((before.consumption, after.consumption[1:])),
        estimated=np.concatenate((before.estimated, after.estimated[1:])),
        readings_ms=np.concatenate((before.readings_ms, after.readings_ms)),
        events=MappingProxyType(
            {
                kind: np.concatenate(
                    (before.events.get(kind, int_array()), after.events.get(kind, int_array()))
                )
                for kind in EVENT_KINDS
            }
        ),
        end=after.end,
    )
