"""Rollups: per (site, local date) the base quantities of the KPIs, built chained, composed exactly.

A rollup is the one-date DayTable of a site (central.kpi.daytable) in a compact, pickle-free
layout: a JSON header (devices, duplicate counts) and numpy buffers (float64 quantities; the
devices' counts as int32; each device's clock-skew histogram of the date as int16 bin keys and
uint32 counts: central.kpi.quantiles), plus the chain state it was built from (`starts`) and the
one it ends with (`ends`). A span's entries are decoded together (their buffers joined, one
numpy view each), each distinct header parsed once per process (most dates and sites list the
same devices).
Beside the entry, in its own blob, the date's waste by dish and reason per service
(central.kpi.dishes `dish_bytes`), built from the same readings.

**Chained, hence exact by construction.** Every base quantity of a date is a sum over the
readings attributed to that date's windows, except what carries over from date to date:

- a meter's cleaning (counters.WalkState: last good reading, high, C, E). A date's rollup is built
  with `meter_starts` = the `ends` of the previous date's rollup, so the cleaning resumes exactly
  where the previous date left it, and seeing the next reading after the date (the load's
  lookaround, METER_LOOKAROUND_MS) it decides its last reading as one walk would. Rollups of
  consecutive dates, each built from its predecessor's ends, concatenate to the table built in
  one go from every reading (tests/central/kpi/test_chained_days.py);
- a raw kitchen bin's step reference: the first step of a date steps from the bin's last stable
  reading before the date's load, however long ago (the load looks back without limit). The
  chain state records that reading, so that a late one changes the next date's `starts`;
- the energy of the next date's service windows that lies before its midnight (a breakfast
  prepared from the evening before: daytable.Carry), measured on this date's curves, which the
  next date adds to its first services; so a late reading of that evening changes the next
  date's `starts` too.

So a span composes when each rollup's `starts` equal the previous rollup's `ends` (compare the
encoded bytes: `chain_bytes` is deterministic); a rollup whose starts differ is pending, and is
rebuilt from its predecessor (central.reporting.settle). Composition itself concatenates the
per-date arrays; what still matters besides the chain:

- **peak grid**: a date's peak demand (E9) is the highest 15-minute average on the grid that
  starts at the date's local midnight; a span composes only when every date's start lies on the
  first date's grid (always, unless a time-zone offset changed by a non-multiple of 15 minutes;
  `compose` returns None then and the caller builds the span from one load);
- **clamped meters**: a date on which an electricity meter of the span had no curve (no reading
  near it) gets 0 kW where the span has one, as a one-go build's clamped curve would.

Composed tables carry each date's clock-skew histograms (whose counts add: Q3 is mergeable), but
their `time_ms`/`received_ms` are the start of each date with a reading (enough to tell a
device's first date, which is all reports need); alerts (which need receive times) judge meters
from their loaded readings (central.reporting).
"""

import functools
import hashlib
import json
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from types import MappingProxyType

import numpy as np

from central.kpi.clocks import correct_clocks
from central.kpi.counters import EVENT_KINDS, WalkState
from central.kpi.daytable import (
    PEAK_INTERVAL_MS,
    QUANTITIES,
    Carry,
    DayTable,
    DeviceQuality,
    QuantityTable,
    build_day_table,
    load_range,
)
from central.kpi.dishes import build_dish_table, dish_bytes
from central.kpi.periods import DateRange
from central.kpi.quantiles import SkewHistograms
from central.kpi.rawbins import RAW_EVENT_KINDS
from central.kpi.readings import (
    CardReadings,
    DuplicateCounts,
    Float64Array,
    Int64Array,
    MeterReadings,
    ScaleReadings,
    SiteReadings,
)
from central.kpi.windows import day_windows
from central.registry import Site
from contract import Stream

# Bump when DayTable, the KPI code or this layout changes: rollups of another version are rebuilt.
ROLLUP_CODE_VERSION = 10

STREAMS = tuple(s.value for s in Stream)
SERVICE_STREAMS = (Stream.PLATE.value, Stream.PREP.value, Stream.OVERPRODUCTION.value)
# received, expected, clock_corrected, has_events, events..., has_raw_events, raw events...,
# skew bins
_DEVICE_COLUMNS = 4 + len(EVENT_KINDS) + 1 + len(RAW_EVENT_KINDS) + 1
RAW_PREFIX = "raw:"  # chain-state keys of raw kitchen bins; meters are keyed by device id
CARRY_KEY = "next:"  # the chain-state key of the energy carried into the next date (Carry)


def config_key(site: Site) -> str:
    """Version of everything a site's rollups depend on besides readings: code and config.

    `repr` of the registry's frozen dataclasses is deterministic for a given registry file (no
    sets); any change of the site's entry (services, time zone, meters, scales, clock rule, factor
    set, ...) gives another key, so rollups built under an old configuration are rebuilt.
    """
    known = _CONFIG_KEYS.get(id(site))
    if known is not None and known[0] is site:
        return known[1]
    text = f"{ROLLUP_CODE_VERSION}\n{site!r}"
    key = hashlib.sha256(text.encode()).hexdigest()[:32]
    if len(_CONFIG_KEYS) >= MAX_CONFIG_KEYS:
        _CONFIG_KEYS.clear()
    _CONFIG_KEYS[id(site)] = (site, key)
    return key


# `config_key` of the Site objects seen lately (a registry's sites live as long as it does; a
# national ranking asks for 10,000 of them, and `repr` takes ~80 us each). Keyed by identity, the
# Site kept beside its key (so that its id is not reused while cached); cleared when full.
MAX_CONFIG_KEYS = 100_000
_CONFIG_KEYS: dict[int, tuple[Site, str]] = {}


@dataclass(frozen=True, slots=True)
class Chain:
    """What carries over a date boundary: each meter's cleaning state, each raw bin's
    reference (attributed time and gross weight of its last stable reading), and the next
    date's service energy before its midnight (None when no window reaches back)."""

    meters: Mapping[str, WalkState]
    raw_bins: Mapping[str, tuple[int, float]]
    carry: Carry | None = None

    @classmethod
    def empty(cls) -> "Chain":
        return cls(MappingProxyType({}), MappingProxyType({}))


def chain_bytes(chain: Chain) -> bytes:
    """The chain state as deterministic JSON bytes (floats round-trip exactly through repr).

    Of a meter's WalkState only where the walk stands is kept (its last good reading and the
    high): C and E restart from 0 at every date, since a date's figures are differences of C and
    E. So a late reading changes the chain only where it moves the walk, not every later date.
    The carried energy is kept as is (a NaN peak as null)."""
    state: dict[str, object] = {device: [s.last_ms, s.high] for device, s in chain.meters.items()}
    state.update({RAW_PREFIX + d: [t, g] for d, (t, g) in chain.raw_bins.items()})
    if chain.carry is not None:
        c = chain.carry
        state[CARRY_KEY] = {
            "used": {q: v.tolist() for q, v in c.used.items()},
            "estimated": {q: v.tolist() for q, v in c.estimated.items()},
            "peak_kw": [None if math.isnan(p) else p for p in c.peak_kw.tolist()],
        }
    return json.dumps(state, separators=(",", ":"), sort_keys=True).encode()


EMPTY_CHAIN = chain_bytes(Chain.empty())


def parse_chain(blob: bytes | None) -> Chain:
    """The chain state of `chain_bytes` (None: nothing before, the empty chain)."""
    if not blob:
        return Chain.empty()
    meters, raw_bins = {}, {}
    state = json.loads(blob)
    carried = state.pop(CARRY_KEY, None)
    for key, (at_ms, value) in state.items():
        if key.startswith(RAW_PREFIX):
            raw_bins[key[len(RAW_PREFIX) :]] = (int(at_ms), float(value))
        else:
            meters[key] = WalkState(int(at_ms), float(value), 0.0, 0.0)
    carry = None
    if carried is not None:
        carry = Carry(
            used=MappingProxyType({q: np.array(v, np.float64) for q, v in carried["used"].items()}),
            estimated=MappingProxyType(
                {q: np.array(v, np.float64) for q, v in carried["estimated"].items()}
            ),
            peak_kw=np.array([np.nan if p is None else p for p in carried["peak_kw"]], np.float64),
        )
    return Chain(MappingProxyType(meters), MappingProxyType(raw_bins), carry)


def carries(chain: bytes) -> bool:
    """Whether a chain state carries energy into the next date (`Chain.carry`): then that date
    does not end as it starts, even without readings of its own."""
    return parse_chain(chain).carry is not None


@dataclass(slots=True)
class Freshness:
    """How fresh the rollups behind an answer were at read time (`read_ms`): the dates that were
    pending (built on read: the answer is exact all the same) and when the oldest became
    pending."""

    read_ms: int
    pending_dates: int = 0
    oldest_pending_ms: int | None = None

    def add(self, count: int, oldest_ms: int | None) -> None:
        """Count `count` pending dates, the oldest marked at `oldest_ms`."""
        self.pending_dates += count
        if oldest_ms is not None:
            was = self.oldest_pending_ms
            self.oldest_pending_ms = oldest_ms if was is None else min(was, oldest_ms)

    @property
    def oldest_pending_s(self) -> float:
        """Seconds the oldest pending date had waited at read time; 0 when none was pending."""
        if self.oldest_pending_ms is None:
            return 0.0
        return max(0.0, (self.read_ms - self.oldest_pending_ms) / 1000)


@dataclass(frozen=True, slots=True)
class Built:
    """One date's rollup, encoded: the table (`entry`), the dish sums (`dishes`) and the chain
    states around it."""

    on: date
    starts: bytes
    ends: bytes
    entry: bytes
    dishes: bytes


def build_rollup(
    site: Site,
    on: date,
    readings: SiteReadings,
    duplicates: DuplicateCounts | None,
    starts: bytes | None,
) -> Built:
    """The rollup of `site` on `on` from the readings loaded for that date alone (its windows,
    each meter's nearest readings around them, each raw bin's last stable reading before them),
    chained from `starts` (the previous date's `ends`; None or empty at the site's first date)."""
    start_chain = parse_chain(starts)
    table = build_day_table(
        site,
        DateRange(on, on),
        readings,
        duplicates,
        meter_starts=start_chain.meters,
        carry_in=start_chain.carry,
    )
    raw_bins = _raw_references(site, on, readings, start_chain.raw_bins)
    ends = Chain(table.meter_ends, raw_bins, table.carry_out)
    scale_only = SiteReadings(readings.scale, CardReadings.empty(), MeterReadings.empty())
    dishes = dish_bytes(build_dish_table(site, DateRange(on, on), scale_only))
    return Built(on, chain_bytes(start_chain), chain_bytes(ends), encode(table), dishes)


@functools.lru_cache(maxsize=4096)  # a year of a new site's dates before its first reading
def empty_entry(site: Site, on: date) -> bytes:
    """The entry of a date without readings and with nothing carried into it (before a site's
    first reading, or a gap after which nothing carries over): no load, nothing stored, and
    built once per site configuration and date."""
    empty = SiteReadings(ScaleReadings.empty(), CardReadings.empty(), MeterReadings.empty())
    return encode(build_day_table(site, DateRange(on, on), empty))


def _raw_references(
    site: Site, on: date, readings: SiteReadings, before: Mapping[str, tuple[int, float]]
) -> Mapping[str, tuple[int, float]]:
    """Each raw bin's last stable reading (attributed time, gross) before the next date's load:
    the reference of the next date's first step. Bins without a reading keep the one before."""
    scale = correct_clocks(readings, site.kpi.clock).readings.scale
    cut_ms = load_range(site, DateRange(on + timedelta(days=1), on + timedelta(days=1))).start_ms
    mask = scale.is_raw & scale.stable & (scale.time_ms < cut_ms)
    out = dict(before)
    for device in np.unique(scale.device[mask]).tolist():
        mine = mask & (scale.device == device)
        times = scale.time_ms[mine]
        last = int(np.argmax(times == times.max()))  # the first of the latest: stable order
        out[device] = (int(times[last]), float(scale.gross_g[mine][last]))
    return MappingProxyType(out)


def _fixed_fields(n_s: int) -> list[tuple[str, tuple[int, ...]]]:
    """The float64 layout of a date's fixed quantities (per-date shape of each field)."""
    fields: list[tuple[str, tuple[int, ...]]] = [
        ("day_start_ms", (1,)),
        ("day_end_ms", (1,)),
        ("diners", (1, n_s)),
        ("trays", (1, n_s)),
        ("clean_plates", (1, n_s)),
    ]
    fields += [(f"service_waste_g.{s}", (1, n_s)) for s in SERVICE_STREAMS]
    fields += [("day_trays", (1,)), ("day_clean_plates", (1,))]
    fields += [(f"day_waste_g.{s}", (1,)) for s in STREAMS]
    for q in QUANTITIES:
        fields += [
            (f"energy.{q}.present", (1,)),
            (f"energy.{q}.service_used", (1, n_s)),
            (f"energy.{q}.service_estimated", (1, n_s)),
            (f"energy.{q}.day_used", (1,)),
            (f"energy.{q}.day_estimated", (1,)),
            (f"energy.{q}.off_hours_used", (1,)),
        ]
    fields += [("peak_kw", (1,)), ("service_peak_kw", (1, n_s)), ("flat_service_peak_kw", (1, n_s))]
    fields += [(f"meter_events.{k}", (1,)) for k in EVENT_KINDS]
    fields += [("scale_below_division", (1,)), ("scale_above_max", (1,))]
    fields += [(f"raw_bin_events.{k}", (1,)) for k in RAW_EVENT_KINDS]
    fields += [("repeat_swipes", (1,))]
    return fields


def _fixed_values(table: DayTable) -> dict[str, np.ndarray]:
    values: dict[str, np.ndarray] = {
        "day_start_ms": table.day_start_ms,
        "day_end_ms": table.day_end_ms,
        "diners": table.diners,
        "trays": table.trays,
        "clean_plates": table.clean_plates,
        "day_trays": table.day_trays,
        "day_clean_plates": table.day_clean_plates,
        "peak_kw": table.peak_kw,
        "service_peak_kw": table.service_peak_kw,
        "scale_below_division": table.scale_below_division,
        "scale_above_max": table.scale_above_max,
        "repeat_swipes": table.repeat_swipes,
    }
    for s in SERVICE_STREAMS:
        values[f"service_waste_g.{s}"] = table.service_waste_g[s]
    for s in STREAMS:
        values[f"day_waste_g.{s}"] = table.day_waste_g[s]
    for q in QUANTITIES:
        part = table.energy[q]
        values[f"energy.{q}.present"] = np.array([1.0 if part.present else 0.0])
        values[f"energy.{q}.service_used"] = part.service_used
        values[f"energy.{q}.service_estimated"] = part.service_estimated
        values[f"energy.{q}.day_used"] = part.day_used
        values[f"energy.{q}.day_estimated"] = part.day_estimated
        values[f"energy.{q}.off_hours_used"] = part.off_hours_used
    for k in EVENT_KINDS:
        values[f"meter_events.{k}"] = table.meter_events[k]
    for k in RAW_EVENT_KINDS:
        values[f"raw_bin_events.{k}"] = table.raw_bin_events[k]
    values["flat_service_peak_kw"] = _flat_service_peaks(table)
    return values


def _flat_service_peaks(table: DayTable) -> Float64Array:
    """Service peaks of the date if an electricity meter of the span was flat on it (no reading
    near the date: its curve is clamped): 0 kW where the window holds a 15-minute interval."""
    start, end = int(table.day_start_ms[0]), int(table.day_end_ms[0])
    starts = np.arange(start, end + 1, PEAK_INTERVAL_MS, dtype=np.int64)[:-1]
    windows = day_windows(table.site, table.span.first).services
    lo = np.searchsorted(starts, [w.energy.start_ms for w in windows], side="left")
    hi = np.searchsorted(starts, [w.energy.end_ms for w in windows], side="left")
    flat: Float64Array = np.where(hi > lo, 0.0, np.nan).reshape(1, len(windows))
    return flat


def encode(table: DayTable) -> bytes:
    """One date's table as bytes: layout, header length, float count and bin count (ENTRY_HEAD),
    JSON header, float64 block (the fixed quantities), the devices' counts (int32,
    _DEVICE_COLUMNS per device of the header), skew bin keys (int16), skew bin counts (uint32)."""
    n_s = len(table.services)
    values = _fixed_values(table)
    fixed = [np.asarray(values[name], dtype=np.float64).ravel() for name, _ in _fixed_fields(n_s)]
    devices = []
    numbers: list[int] = []
    keys: list[Int64Array] = []
    counts: list[Int64Array] = []
    dups: dict[str, int] = {}
    for d in table.devices:
        lo, hi = int(d.skew.at[0]), int(d.skew.at[1])
        devices.append([d.kind, d.device])
        numbers += [
            int(d.received[0]),
            -1 if d.expected is None else int(d.expected[0]),
            int(d.clock_corrected[0]),
            0 if d.events is None else 1,
        ]
        numbers += [0 if d.events is None else int(d.events[k][0]) for k in EVENT_KINDS]
        numbers.append(0 if d.raw_events is None else 1)
        numbers += [0 if d.raw_events is None else int(d.raw_events[k][0]) for k in RAW_EVENT_KINDS]
        numbers.append(hi - lo)
        keys.append(d.skew.keys[lo:hi])
        counts.append(d.skew.counts[lo:hi])
        if int(d.duplicates[0]):
            dups[d.device] = int(d.duplicates[0])
    header = json.dumps(
        {
            "devices": devices,
            "dups": dups,
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    floats = np.concatenate(fixed)
    bins = np.concatenate(keys) if keys else _empty()
    sizes = np.concatenate(counts) if counts else _empty()
    return b"".join(
        [
            ENTRY_HEAD.pack(ENTRY_LAYOUT, len(header), floats.size, bins.size),
            header,
            floats.astype("<f8").tobytes(),
            np.asarray(numbers, dtype="<i4").tobytes(),  # counts of one date: < 2^31
            bins.astype("<i2").tobytes(),
            sizes.astype("<u4").tobytes(),  # a device's readings of one date: < 2^32
        ]
    )


# Every entry starts with its layout number. A date sealed by retention (central/retention.py)
# keeps the entry it was built with for good (no raw readings are left to rebuild it), so a
# change of this layout must bump ENTRY_LAYOUT and teach `_decode` to read the entries of the
# layouts before it; an entry of a layout it cannot read is refused by name, never misread.
ENTRY_LAYOUT = 1
ENTRY_HEAD = struct.Struct("<4i")  # layout, header bytes, float count, skew bin count


class EntryLayoutError(ValueError):
    """A rollup entry of a layout this code cannot read."""


@dataclass(frozen=True, slots=True)
class _Header:
    devices: tuple[tuple[str, str], ...]
    dups: tuple[tuple[str, int], ...]


@functools.lru_cache(maxsize=4096)
def _parse_header(text: bytes) -> _Header:
    """A header of `encode` (of this code version: the config key says so), parsed once."""
    raw = json.loads(text)
    return _Header(
        devices=tuple((kind, device) for kind, device in raw["devices"]),
        dups=tuple(raw["dups"].items()),
    )


@dataclass(frozen=True, slots=True)
class _Entries:
    """A span's entries decoded together, their blocks joined in date order: the fixed floats
    (one row per date), the devices' counts (one row per date and device) and skew bins."""

    headers: list[_Header]
    floats: Float64Array  # (dates, fixed fields)
    numbers: Int64Array  # (date-devices, _DEVICE_COLUMNS)
    keys: Int64Array
    counts: Int64Array


def _decode(blobs: Sequence[bytes]) -> _Entries:
    unpack = ENTRY_HEAD.unpack_from
    head = ENTRY_HEAD.size
    headers, floats, numbers, keys, counts = [], [], [], [], []
    row_bytes = 4 * _DEVICE_COLUMNS
    for blob in blobs:
        layout, n_header, n_f, n_b = unpack(blob)
        if layout != ENTRY_LAYOUT:
            raise EntryLayoutError(
                f"rollup entry of layout {layout}; this version reads layout {ENTRY_LAYOUT}"
            )
        at = head + n_header
        header = _parse_header(blob[head:at])
        headers.append(header)
        end = at + 8 * n_f
        floats.append(blob[at:end])
        at, end = end, end + row_bytes * len(header.devices)
        numbers.append(blob[at:end])
        keys.append(blob[end : end + 2 * n_b])
        counts.append(blob[end + 2 * n_b : end + 6 * n_b])
    return _Entries(
        headers,
        np.frombuffer(b"".join(floats), dtype="<f8").reshape(len(blobs), -1),
        np.frombuffer(b"".join(numbers), dtype="<i4").astype(np.int64).reshape(-1, _DEVICE_COLUMNS),
        np.frombuffer(b"".join(keys), dtype="<i2").astype(np.int64),
        np.frombuffer(b"".join(counts), dtype="<u4").astype(np.int64),
    )


def entry_services(blob: bytes) -> int:
    """The number of meal services a rollup entry was encoded with (its layout depends on it:
    a sealed entry keeps the configuration it was built under, central/retention.py)."""
    layout, _, n_floats, _ = ENTRY_HEAD.unpack_from(blob)
    if layout != ENTRY_LAYOUT:
        raise EntryLayoutError(
            f"rollup entry of layout {layout}; this version reads {ENTRY_LAYOUT}"
        )
    base = sum(math.prod(shape) for _, shape in _fixed_fields(0))
    per_service = sum(math.prod(shape) for _, shape in _fixed_fields(1)) - base
    return int((n_floats - base) // per_service)


def compose(site: Site, span: DateRange, blobs: Sequence[bytes]) -> DayTable | None:
    """The DayTable of `span` from one rollup entry per date (in date order, each chained from
    the one before), or None when the dates' peak grids do not line up (module docstring).

    The one join of per-date tables: tables built date by date (build_day_table with
    meter_starts) are joined by encoding each and composing the entries, which the property
    test of chained dates (tests/central/kpi/test_chained_days.py) holds equal to the table
    built in one go."""
    if len(blobs) != span.days or not blobs:
        raise ValueError(f"{len(blobs)} entries for a span of {span.days} dates")
    entries = _decode(blobs)
    n_d, n_s = span.days, len(site.services)
    fields = _fixed_fields(n_s)
    width = sum(math.prod(shape) for _, shape in fields)
    matrix = entries.floats
    if matrix.shape[1] != width:
        raise ValueError(f"rollup entries of {matrix.shape[1]} fixed fields, expected {width}")
    columns: dict[str, np.ndarray] = {}
    at = 0
    for name, shape in fields:
        size = math.prod(shape)
        part = matrix[:, at : at + size]
        columns[name] = part.reshape((n_d, *shape[1:])) if len(shape) > 1 else part[:, 0]
        at += size
    day_start = columns["day_start_ms"].astype(np.int64)
    day_end = columns["day_end_ms"].astype(np.int64)
    if n_d > 1 and np.any((day_start - day_start[0]) % PEAK_INTERVAL_MS):
        return None  # the peak grid of the span would not hit every date's start

    def ints(name: str) -> Int64Array:
        out: Int64Array = np.rint(columns[name]).astype(np.int64)
        return out

    peak_kw, service_peak_kw = columns["peak_kw"], columns["service_peak_kw"]
    elec = QUANTITIES[0]
    flat = columns[f"energy.{elec}.present"] == 0
    if n_d > 1 and np.any(~flat) and np.any(flat):
        # the span has an electricity curve; on these dates it is clamped (flat), not absent
        peak_kw = np.where(flat, 0.0, peak_kw)
        # (a service peak carried from the evening before stays: daytable.Carry)
        flat_peaks = np.fmax(columns["flat_service_peak_kw"], service_peak_kw)
        service_peak_kw = np.where(flat[:, None], flat_peaks, service_peak_kw)
    energy = {
        q: QuantityTable(
            present=bool(np.any(columns[f"energy.{q}.present"] > 0)),
            service_used=columns[f"energy.{q}.service_used"],
            service_estimated=columns[f"energy.{q}.service_estimated"],
            day_used=columns[f"energy.{q}.day_used"],
            day_estimated=columns[f"energy.{q}.day_estimated"],
            off_hours_used=columns[f"energy.{q}.off_hours_used"],
        )
        for q in QUANTITIES
    }
    return DayTable(
        site=site,
        span=span,
        services=tuple(s.name for s in site.services),
        day_start_ms=day_start,
        day_end_ms=day_end,
        diners=ints("diners"),
        trays=ints("trays"),
        clean_plates=ints("clean_plates"),
        service_waste_g=MappingProxyType(
            {s: columns[f"service_waste_g.{s}"] for s in SERVICE_STREAMS}
        ),
        day_trays=ints("day_trays"),
        day_clean_plates=ints("day_clean_plates"),
        day_waste_g=MappingProxyType({s: columns[f"day_waste_g.{s}"] for s in STREAMS}),
        energy=MappingProxyType(energy),
        peak_kw=peak_kw,
        service_peak_kw=service_peak_kw,
        meter_events=MappingProxyType({k: ints(f"meter_events.{k}") for k in EVENT_KINDS}),
        scale_below_division=ints("scale_below_division"),
        scale_above_max=ints("scale_above_max"),
        raw_bin_events=MappingProxyType({k: ints(f"raw_bin_events.{k}") for k in RAW_EVENT_KINDS}),
        devices=_devices(site, entries, day_start, day_end),
        repeat_swipes=ints("repeat_swipes"),
    )


def stored_peaks(site: Site, blobs: Sequence[bytes]) -> tuple[Float64Array, np.ndarray]:
    """Per date of the entries, its peak demand as stored (before a span's clamp, `compose`)
    and whether its electricity curve was flat (absent): what a summary of dates needs to give
    the clamped span's peak (central.kpi.months)."""
    matrix = _decode(blobs).floats
    at: dict[str, int] = {}
    offset = 0
    for name, shape in _fixed_fields(len(site.services)):
        at[name] = offset
        offset += math.prod(shape)
    peaks: Float64Array = matrix[:, at["peak_kw"]].copy()
    flat: np.ndarray = matrix[:, at[f"energy.{QUANTITIES[0]}.present"]] == 0
    return peaks, flat


def _devices(
    site: Site, entries: _Entries, day_start: Int64Array, day_end: Int64Array
) -> tuple[DeviceQuality, ...]:
    """Every device's per-date figures and clock-skew histograms of the span, vectorised: the
    device rows of all dates are scattered into one (devices, dates, columns) array, and the
    histograms' bins (stored per date, device after device) are gathered device after device,
    each device's in date order."""
    n_d = len(entries.headers)
    day_s = (day_end - day_start) // 1000
    ids: dict[tuple[str, str], int] = {}  # (kind, device) -> index, in order of appearance
    # device indexes of a date's device list (most dates of a span list the same devices)
    of_devices: dict[tuple[tuple[str, str], ...], Int64Array] = {}
    seg_dev: list[Int64Array] = []
    dup_at: dict[str, Int64Array] = {}
    for i, header in enumerate(entries.headers):
        dev = of_devices.get(header.devices)
        if dev is None:
            dev = np.array([ids.setdefault(kd, len(ids)) for kd in header.devices], np.int64)
            of_devices[header.devices] = dev
        seg_dev.append(dev)
        for device, count in header.dups:
            dup_at.setdefault(device, np.zeros(n_d, dtype=np.int64))[i] += count
    listed = np.array([d.size for d in seg_dev], dtype=np.int64)  # devices per date
    n_k = len(ids)
    per = np.zeros((n_k, n_d, _DEVICE_COLUMNS), dtype=np.int64)
    per[:, :, 1] = -1
    starts = np.zeros(n_k + 1, dtype=np.int64)
    by_device, size_by_device = _empty(), _empty()
    if listed.any():
        dev_of = np.concatenate(seg_dev)
        date_of = np.repeat(np.arange(n_d, dtype=np.int64), listed)
        numbers = entries.numbers
        per[dev_of, date_of] = numbers
        lengths = numbers[:, -1]
        # segments (one per date and device, stored date after date) in device order, each
        # device's in date order; then one gather of every sample into that order
        order = np.argsort(dev_of, kind="stable")
        moved = lengths[order]
        source_start = np.cumsum(lengths) - lengths
        target_start = np.cumsum(moved) - moved
        index = np.repeat(source_start[order] - target_start, moved) + np.arange(int(moved.sum()))
        by_device = entries.keys[index]
        size_by_device = entries.counts[index]
        starts[1:] = np.cumsum(np.bincount(dev_of, weights=lengths, minlength=n_k)).astype(np.int64)
    counts = per[:, :, -1]  # skew bins per device and date
    names = {device for kind, device in ids if kind != "unknown"}
    out = []
    for kind, device in sorted(ids):
        if kind == "unknown" and device in names:
            continue  # the span knows this device by its readings on other dates
        at = ids[kind, device]
        table = per[at]
        expected = None
        if kind == "meter":
            expected = (day_s // site.kpi.meter(device).interval_s).astype(np.int64)
        events = None
        if bool(np.any(table[:, 3] > 0)):
            events = MappingProxyType(
                {k: table[:, 4 + j].copy() for j, k in enumerate(EVENT_KINDS)}
            )
        raw_at = 4 + len(EVENT_KINDS)
        raw_events = None
        if bool(np.any(table[:, raw_at] > 0)):
            raw_events = MappingProxyType(
                {k: table[:, raw_at + 1 + j].copy() for j, k in enumerate(RAW_EVENT_KINDS)}
            )
        times = day_start[table[:, 0] > 0]
        bins_at = np.zeros(n_d + 1, dtype=np.int64)
        np.cumsum(counts[at], out=bins_at[1:])
        lo, hi = starts[at], starts[at + 1]
        out.append(
            DeviceQuality(
                kind=kind,
                device=device,
                received=table[:, 0].copy(),
                expected=expected,
                duplicates=dup_at.get(device, np.zeros(n_d, dtype=np.int64)),
                time_ms=times,
                skew=SkewHistograms(by_device[lo:hi], size_by_device[lo:hi], bins_at),
                received_ms=times,
                clock_corrected=table[:, 2].copy(),
                events=events,
                raw_events=raw_events,
            )
        )
    return tuple(out)


def _empty() -> Int64Array:
    empty: Int64Array = np.zeros(0, dtype=np.int64)
    return empty
