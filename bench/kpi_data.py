"""Generates `sites` x `days` of canteen data straight into central's SQLite store.

Each site's days are the simulator's own plans (simulators.canteen.plan_site_days: diners, trays,
waste, meters on a `meter_interval_s` grid) for `template_days` consecutive days, repeated across
the year shifted by whole days (Asia/Shanghai has no DST, so a local day stays a local day), with
meter registers carried forward so that they keep rising. Written with the store's own API
(SqliteStore.write_batch), one batch per site-day, one boot id per day.
"""

import asyncio
import hashlib
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from central.store import BatchToStore
from central.store.sqlite import SqliteStore
from contract import CardRecord, MeterRecord, ReadingRecord, ScaleRecord
from simulators.canteen import plan_site_days
from simulators.events import CardSwipe, Event, GrossReading, MeterReading, Weighing
from simulators.registry import Site

MS_PER_DAY = 86_400_000
START_DATE = date(2025, 1, 1)


@dataclass(frozen=True, slots=True)
class Generated:
    readings: int
    seconds: float
    readings_per_site_day: float


def _person(site: str, card: str) -> str:
    # Stands in for the edge's keyed hash: same shape (32 hex), not a secret.
    return hashlib.blake2b(f"{site}:{card}".encode(), digest_size=16).hexdigest()


def _record(
    site: str, event: Event, boot: str, seq: int, shift_ms: int, offset: float
) -> ReadingRecord:
    at_ms = event.at_ms + shift_ms
    common: dict[str, Any] = {
        "device": event.device, "boot": boot, "seq": seq, "device_time_ms": at_ms,
        "received_ms": at_ms + 150,
    }  # fmt: skip
    # model_construct: the fields come from the simulator's validated events; skipping
    # re-validation keeps generation about 3x faster.
    if isinstance(event, CardSwipe):
        payer = event.card or f"visitor:{event.device}:{boot}:{seq}"  # as the edge does
        return CardRecord.model_construct(**common, kind="card", person=_person(site, payer))
    if isinstance(event, Weighing):
        person = None if event.card is None else _person(site, event.card)
        return ScaleRecord.model_construct(
            **common, kind="scale", stream=event.stream, mass_g=event.shown_g, tray=None,
            person=person,
        )  # fmt: skip
    if isinstance(event, GrossReading):
        return ScaleRecord.model_construct(
            **common, kind="scale", stream=event.stream, gross_g=event.gross_g,
            stable=event.stable, tray=None, person=None,
        )  # fmt: skip
    return MeterRecord.model_construct(
        **common, kind="meter", quantity=event.quantity, total=round(event.register + offset, 3),
        power_kw=event.power_kw,
    )  # fmt: skip


async def generate(
    path: Path,
    sites: list[str],
    *,
    days: int,
    template_days: int,
    meter_interval_s: int,
    staff: int = 600,
) -> Generated:
    started = time.perf_counter()
    total = 0
    async with SqliteStore(path) as store:
        for site_id in sites:
            site = Site(id=site_id, timezone="Asia/Shanghai", registered_staff=staff)
            plans = list(
                plan_site_days(site, seed=11, start_date=START_DATE, days=min(template_days, days),
                               meter_interval_s=meter_interval_s)
            )  # fmt: skip
            span: dict[str, float] = defaultdict(float)
            registers: dict[str, list[float]] = defaultdict(list)
            for plan in plans:
                for event in plan.events:
                    if isinstance(event, MeterReading):
                        registers[event.device].append(event.register)
            for device, values in registers.items():
                span[device] = max(values) - min(values)
            for day in range(days):
                cycle, index = divmod(day, len(plans))
                shift_ms = cycle * len(plans) * MS_PER_DAY
                seqs: dict[str, int] = defaultdict(int)
                readings = []
                for event in plans[index].events:
                    seq = seqs[event.device]
                    seqs[event.device] = seq + 1
                    offset = cycle * span[event.device] if isinstance(event, MeterReading) else 0.0
                    readings.append(_record(site_id, event, f"d{day:04d}", seq, shift_ms, offset))
                await store.write_batch(
                    BatchToStore(site=site_id, edge=f"edge-{site_id}", batch_id=f"{site_id}-{day}",
                                 received_ms=int(time.time() * 1000), readings=readings)
                )  # fmt: skip
                total += len(readings)
    return Generated(total, time.perf_counter() - started, total / (len(sites) * days))


def generate_sync(path: Path, sites: list[str], **kwargs: int) -> Generated:
    return asyncio.run(generate(path, sites, **kwargs))
