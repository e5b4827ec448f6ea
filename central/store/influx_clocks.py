"""Per-device clock verdicts of a batch in the `influxdb` store (docs/influxdb.md, "Clocks").

The decision is the SQLite store's, in one place (central.kpi.clocks.judge_burst): each
(device, boot) of the batch with a late reading, or with a stored late reading not yet trusted
received within a burst of the batch, is judged with its stored readings received within
BURST_MS of the batch's readings (its burst) and the stored predecessor by seq of the earliest.
Stored readings the batch makes clock-trusted are written again with `clock_trusted` true.

Here the lookups are planned and their answers read, as pure functions of the batch and of the
query rows (flux.CLOCK_COLUMNS); the store runs the queries (central/store/influx.py): the burst
in the request of the identity lookup, and a second query only when a stored late reading shows
up for a device without a late reading in the batch (its live readings of the burst are then
fetched) or when a predecessor can change a verdict (central.kpi.clocks.predecessor_matters).

The predecessor is searched among the device's readings taken within PREDECESSOR_WINDOW_MS of
the earliest reading's device time (InfluxDB has no index by seq): a device silent for longer
before its buffer is judged as the first reading of a boot (its late readings corrected), where
the SQLite store would find the predecessor however old it is.
"""

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from central.kpi.clocks import (
    BURST_MS,
    ClockRule,
    Timed,
    judge_burst,
    predecessor_matters,
)
from central.store.base import ClockTrusted
from central.store.influx_schema import MAX_DEVICE_TIME_MS, NS_PER_MS
from contract import ReadingRecord

# How far from the earliest reading of a burst (device time) its predecessor is searched: a
# week-long holiday (Spring Festival, National Day) and the weekend next to it.
PREDECESSOR_WINDOW_MS = 10 * 86_400_000

Group = tuple[str, str]  # (device, boot)


@dataclass(frozen=True, slots=True)
class StoredReading:
    """A stored reading as a row of flux.CLOCK_COLUMNS: its series, point time and verdict."""

    device: str
    boot: str
    seq: int
    time_ns: int  # the `reading` point's timestamp: device time (ms) x 10^6 + slot
    received_ms: int
    trusted: bool | None
    kind: str
    stream: str | None = None
    quantity: str | None = None

    @property
    def time_ms(self) -> int:
        return self.time_ns // NS_PER_MS

    def timed(self) -> Timed:
        return Timed(self.seq, self.time_ms, self.received_ms, self.trusted)

    def clock_trusted(self) -> ClockTrusted:
        return ClockTrusted(self.device, self.boot, self.seq, self.kind, self.time_ms)


def stored_from_rows(rows: Iterable[Mapping[str, Any]]) -> list[StoredReading]:
    """The rows of flux.burst_query / flux.predecessor_query as StoredReadings."""
    out = []
    for row in rows:
        if row.get("boot") is None or row.get("seq") is None or row.get("time_ns") is None:
            continue
        trusted = row.get("clock_trusted")
        out.append(
            StoredReading(
                device=str(row["device"]),
                boot=str(row["boot"]),
                seq=int(row["seq"]),
                time_ns=int(row["time_ns"]),
                received_ms=int(row.get("received_ms") or 0),
                trusted=None if trusted is None else bool(trusted),
                kind=str(row.get("kind") or ""),
                stream=None if row.get("stream") in (None, "") else str(row["stream"]),
                quantity=None if row.get("quantity") in (None, "") else str(row["quantity"]),
            )
        )
    return out


@dataclass(frozen=True, slots=True)
class BurstLookup:
    """The first lookup of a batch (flux.burst_query): its devices, those with a late reading
    (whose live readings of the burst are fetched too), and the burst window (ms, inclusive)."""

    devices: tuple[str, ...]
    near_devices: tuple[str, ...]
    lo_ms: int
    hi_ms: int


def burst_lookup(records: Sequence[ReadingRecord], rule: ClockRule) -> BurstLookup | None:
    """What the batch needs looked up first; None when its clocks need no stored reading (the
    rule is off, or no reading)."""
    if not rule.enabled or not records:
        return None
    received = [r.received_ms for r in records]
    return BurstLookup(
        devices=tuple(sorted({r.device for r in records})),
        near_devices=tuple(sorted({r.device for r in records if _late(r, rule)})),
        lo_ms=min(received) - BURST_MS,
        hi_ms=max(received) + BURST_MS,
    )


def _late(record: ReadingRecord, rule: ClockRule) -> bool:
    return record.device_time_ms - record.received_ms < -rule.max_delay_ms


@dataclass(frozen=True, slots=True)
class _Context:
    """One judged (device, boot): its stored burst and the batch's readings not stored yet."""

    stored: tuple[StoredReading, ...]
    fresh: tuple[int, ...]  # positions in the batch (a reading repeated in it: the first)
    earliest: Timed  # the reading with the lowest seq among both

    def new(self, records: Sequence[ReadingRecord]) -> list[Timed]:
        return [
            Timed(records[n].seq, records[n].device_time_ms, records[n].received_ms)
            for n in self.fresh
        ]


def _contexts(
    records: Sequence[ReadingRecord], rule: ClockRule, burst: Sequence[StoredReading]
) -> dict[Group, _Context]:
    """The (device, boot) groups to judge, as the SQLite store chooses them (_judge_clocks):
    those with a late reading in the batch, or a stored late reading not trusted yet received
    in the batch's burst window; each with its stored readings received within BURST_MS of the
    group's own readings."""
    groups: dict[Group, list[int]] = {}
    for n, record in enumerate(records):
        groups.setdefault((record.device, record.boot), []).append(n)
    lookup = burst_lookup(records, rule)
    if lookup is None:
        return {}
    judged = {g for g, of in groups.items() if any(_late(records[n], rule) for n in of)}
    judged |= {
        (s.device, s.boot)
        for s in burst
        if s.trusted is False and lookup.lo_ms <= s.received_ms <= lookup.hi_ms
    } & groups.keys()
    out = {}
    for group in sorted(judged):
        of = groups[group]
        lo_ms = min(records[n].received_ms for n in of) - BURST_MS
        hi_ms = max(records[n].received_ms for n in of) + BURST_MS
        stored: dict[int, StoredReading] = {}
        for s in burst:
            if (s.device, s.boot) == group and lo_ms <= s.received_ms <= hi_ms:
                stored.setdefault(s.seq, s)
        fresh = []
        seen = set(stored)
        for n in of:
            if records[n].seq not in seen:
                seen.add(records[n].seq)
                fresh.append(n)
        timed = [s.timed() for s in stored.values()]
        timed += [Timed(records[n].seq, records[n].device_time_ms, records[n].received_ms)
                  for n in fresh]  # fmt: skip
        out[group] = _Context(tuple(stored.values()), tuple(fresh), min(timed, key=_seq))
    return out


def _seq(timed: Timed) -> int:
    return timed.seq


@dataclass(frozen=True, slots=True)
class SecondLookup:
    """The second lookup of a batch (flux.predecessor_query), when it needs one."""

    near_devices: tuple[str, ...]  # devices whose live readings of the burst were not fetched
    lo_ms: int
    hi_ms: int
    # (device, boot, below_seq, lo_ms, hi_ms): the predecessors that can change a verdict
    predecessors: tuple[tuple[str, str, int, int, int], ...]

    def near(self) -> list[tuple[tuple[str, ...], int, int]]:
        return [(self.near_devices, self.lo_ms, self.hi_ms)] if self.near_devices else []


def second_lookup(
    records: Sequence[ReadingRecord], rule: ClockRule, burst: Sequence[StoredReading]
) -> SecondLookup | None:
    """What the batch still needs after the first lookup's `burst`; None: nothing."""
    lookup = burst_lookup(records, rule)
    contexts = _contexts(records, rule, burst)
    if lookup is None or not contexts:
        return None
    near = tuple(sorted({d for d, _ in contexts} - set(lookup.near_devices)))
    wanted = []
    for (device, boot), context in contexts.items():
        # a device whose live readings are not fetched yet: its predecessor is fetched with them
        if device in near or predecessor_matters(
            [s.timed() for s in context.stored], context.new(records), rule
        ):
            at_ms = context.earliest.time_ms
            wanted.append((
                device, boot, context.earliest.seq,
                max(at_ms - PREDECESSOR_WINDOW_MS, 0),
                min(at_ms + PREDECESSOR_WINDOW_MS, MAX_DEVICE_TIME_MS + 1),
            ))  # fmt: skip
    if not near and not wanted:
        return None
    return SecondLookup(near, lookup.lo_ms, lookup.hi_ms, tuple(wanted))


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict of each new reading of the batch, by identity, the stored readings the
    batch makes clock-trusted, and the batch's readings stored already as clock-trusted (a
    resent batch)."""

    verdicts: dict[tuple[str, str, int], bool | None]
    retrusted: tuple[StoredReading, ...]
    resent_trusted: tuple[StoredReading, ...] = ()

    def of(self, record: ReadingRecord) -> bool | None:
        return self.verdicts.get((record.device, record.boot, record.seq))

    def clock_trusted(self, records: Sequence[ReadingRecord]) -> tuple[ClockTrusted, ...]:
        """WriteOutcome.clock_trusted: every reading of the batch held as clock-trusted, and
        the stored readings the batch made so."""
        new = [
            ClockTrusted(r.device, r.boot, r.seq, r.kind, r.device_time_ms)
            for r in records
            if self.of(r) is True
        ]
        stored = [s.clock_trusted() for s in (*self.retrusted, *self.resent_trusted)]
        return tuple(dict.fromkeys([*new, *stored]))


NO_JUDGEMENT = Judgement({}, ())


def judge(
    records: Sequence[ReadingRecord],
    rule: ClockRule,
    burst: Sequence[StoredReading],
    predecessors: Sequence[StoredReading] = (),
) -> Judgement:
    """The batch's verdicts given the stored readings of its burst and the predecessor
    candidates (rows of flux.predecessor_query: per (device, boot), the one with the highest
    seq below the earliest reading of its burst is the predecessor)."""
    verdicts: dict[tuple[str, str, int], bool | None] = {}
    retrusted: list[StoredReading] = []
    sent = {(r.device, r.boot, r.seq) for r in records}
    resent = [s for s in burst if s.trusted is True and (s.device, s.boot, s.seq) in sent]
    for (device, boot), context in _contexts(records, rule, burst).items():
        below = [
            p for p in predecessors
            if (p.device, p.boot) == (device, boot) and p.seq < context.earliest.seq
        ]  # fmt: skip
        before = max(below, key=lambda p: p.seq).timed() if below else None
        judged, trusted_now = judge_burst(
            [s.timed() for s in context.stored], before, context.new(records), rule
        )
        for n, verdict in zip(context.fresh, judged, strict=True):
            verdicts[device, boot, records[n].seq] = verdict
        retrusted += [context.stored[k] for k in trusted_now]
    return Judgement(verdicts, tuple(retrusted), tuple(dict.fromkeys(resent)))
