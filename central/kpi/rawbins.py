"""Deposits of kitchen bins that send a raw gross-weight stream (docs/domain.md, "Scales").

A raw bin reports what its platform shows (`gross_g`) and whether it is still (`stable`). Per
device, in time order, only stable readings count; each step between two consecutive stable
readings (d = gross now - gross before) is read as:

- the platform is empty now (|gross| <= zero band, default 3 divisions) after a loaded platform,
  or d < 0 drops more than `emptying_drop_share` (default half) of the gross before: an
  **emptying**, not waste;
- the platform is empty now otherwise (it was empty before, or came back to zero): an
  **auto-zero**, counted when the reading moved (zero drift re-zeroed: the reference becomes
  this reading, nothing is counted as waste);
- d > 0 on a loaded platform: a **deposit** of d, at the time of the stable reading after the
  step, so it falls into its meal service and day; it then passes the same plausibility rules as
  a net reading (central.kpi.scales: below the division or above the maximum is rejected);
- any other d < 0 (creep, evaporation, an item taken back): a **negative step**, ignored.

Several deposits without a stable reading between them are one step (their sum). The first stable
reading of a device in the loaded range needs the one before it: the store loads each raw bin's
last stable reading before the range (`raw_scale_lookback_ms`), which is outside every window, so
every step is counted once, by the reading after it, whatever range is loaded.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import numpy as np

from central.kpi.readings import Int64Array, ScaleReadings, StrArray, int_array, str_array
from central.site_kpi_config import ScaleConfig

EMPTYING = "emptyings"
AUTO_ZERO = "auto_zeros"
UNSTABLE = "unstable_ignored"
NEGATIVE_STEP = "negative_steps"
RAW_EVENT_KINDS = (EMPTYING, AUTO_ZERO, UNSTABLE, NEGATIVE_STEP)

# Each raw kitchen bin's last stable reading before a loaded range, within this distance, is
# loaded too: the reference of its first step. A bin silent for longer loses the first deposit
# after its silence (the step has no reference).
RAW_SCALE_LOOKBACK_MS = 31 * 24 * 3_600_000


@dataclass(frozen=True, slots=True)
class RawEvents:
    """The times (sorted) and devices of one kind of raw-bin event."""

    time_ms: Int64Array
    device: StrArray

    @classmethod
    def empty(cls) -> "RawEvents":
        return cls(int_array(), str_array())


@dataclass(frozen=True, slots=True)
class Derived:
    """Scale readings in the net form (net readings as they were, then the derived deposits),
    and the raw-bin events by kind (RAW_EVENT_KINDS)."""

    readings: ScaleReadings
    events: Mapping[str, RawEvents]


def derive_deposits(scale: ScaleReadings, configs: Mapping[str, ScaleConfig]) -> Derived:
    """Replace the raw readings of `scale` by the deposits derived from them (module docstring)."""
    raw = scale.is_raw
    if not np.any(raw):
        return Derived(scale, MappingProxyType({k: RawEvents.empty() for k in RAW_EVENT_KINDS}))
    parts = [scale.where(~raw)]
    found: dict[str, list[tuple[Int64Array, str]]] = {k: [] for k in RAW_EVENT_KINDS}
    for device in np.unique(scale.device[raw]).tolist():
        mine = scale.where(raw & (scale.device == device))
        deposits, events = _one_bin(mine, configs.get(device) or ScaleConfig(device))
        parts.append(deposits)
        for kind, times in events.items():
            found[kind].append((times, device))
    return Derived(
        ScaleReadings.concat(parts),
        MappingProxyType({kind: _events(found[kind]) for kind in RAW_EVENT_KINDS}),
    )


def _events(parts: list[tuple[Int64Array, str]]) -> RawEvents:
    if not parts:
        return RawEvents.empty()
    times = np.concatenate([t for t, _ in parts])
    devices = np.concatenate([np.full(t.size, d) for t, d in parts]).astype(np.str_)
    order = np.argsort(times, kind="stable")
    return RawEvents(times[order].astype(np.int64), devices[order])


def _one_bin(
    readings: ScaleReadings, config: ScaleConfig
) -> tuple[ScaleReadings, dict[str, Int64Array]]:
    """Deposits (net form) and event times of one raw bin's readings."""
    order = np.argsort(readings.time_ms, kind="stable")
    readings = readings.where(order)
    unstable_ms = readings.time_ms[~readings.stable]
    still = readings.where(readings.stable)
    gross, times = still.gross_g, still.time_ms
    before, after = gross[:-1], gross[1:]
    step = after - before
    band = config.zero_band
    empty_after = np.abs(after) <= band
    loaded_before = before > band
    emptying = (
        (step < 0) & loaded_before & (empty_after | (-step > config.emptying_drop_share * before))
    )
    auto_zero = empty_after & ~emptying & (step != 0)
    deposit = ~empty_after & (step > 0)
    negative = ~empty_after & ~emptying & (step < 0)
    at = times[1:]
    picked = np.flatnonzero(deposit) + 1  # the stable reading after each deposit's step
    deposits = still.where(picked)
    deposits = ScaleReadings(
        time_ms=deposits.time_ms,
        stream=deposits.stream,
        mass_g=step[deposit],
        device=deposits.device,
        received_ms=deposits.received_ms,
        gross_g=np.full(picked.size, np.nan),
        stable=np.ones(picked.size, dtype=np.bool_),
        item=deposits.item,
        reason=deposits.reason,
    )
    return deposits, {
        EMPTYING: at[emptying],
        AUTO_ZERO: at[auto_zero],
        UNSTABLE: unstable_ms,
        NEGATIVE_STEP: at[negative],
    }
