"""Month summaries compose exactly: a period's totals summed from the summaries of its whole
months and of its partial months equal those of the table composed of every date.

The rollup entries are real ones: randomised readings of 100 dates (wrong clocks, late data,
meter resets and gaps, resends, a meter that starts reading in
the middle of a month, a week without any meter reading, raw kitchen bins) stored in a real
SQLite store and rolled up there (tests/central/test_rollup.py's generator).
"""

import asyncio
import functools
import tempfile
from dataclasses import fields, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

from hypothesis import example, given, settings
from hypothesis import strategies as st

from central import reporting
from central.kpi.months import month_parts, of_blobs, span_totals, summarise
from central.kpi.periods import DateRange, PeriodKind
from central.kpi.report import baseline_totals, period_totals
from central.kpi.rollup import compose
from central.kpi.totals import Totals, device_skew, skew_of
from central.kpi.values import derive, device_figures, quality
from central.registry import Site
from central.store.base import BatchToStore
from central.store.sqlite import SqliteStore
from contract import DroppedDuplicate
from tests.central.test_rollup import FIRST, SITE, START_MS, TZ, Data, close

H = 3_600_000
DAYS = 100  # 2026-03-02 .. 2026-06-09: April and May whole
WHOLE = DateRange(FIRST, FIRST + timedelta(days=DAYS - 1))
G1_FROM = 33  # the gas meter's first reading (its expected readings start there)
NO_METERS = range(40, 46)  # no meter reading at all on these dates: no electricity curve


async def _entries() -> list[bytes]:
    data = Data(7, wrong_raw_clocks=True)
    readings: list[Any] = []
    for day in range(DAYS):
        readings += data.food(day)
        if day not in NO_METERS:
            meters = data.meters(day, dirty=day in (10, 70))
            readings += [r for r in meters if day >= G1_FROM or r.device != "g1"]
    with tempfile.TemporaryDirectory() as directory:
        async with SqliteStore(Path(directory) / "central.sqlite") as store:
            await store.write_batch(
                BatchToStore(
                    site=SITE.id,
                    edge="edge1",
                    batch_id="b0",
                    received_ms=START_MS + (DAYS + 1) * 24 * H,
                    readings=readings,
                    timezone=TZ,
                )
            )
            resent = readings[::37]  # resends: duplicates counted per device and date
            dropped = (DroppedDuplicate(id=1, device="sc1", device_time_ms=START_MS + 60 * 24 * H),)
            await store.write_batch(
                BatchToStore(
                    site=SITE.id,
                    edge="edge1",
                    batch_id="b1",
                    received_ms=START_MS + (DAYS + 1) * 24 * H,
                    readings=resent,
                    timezone=TZ,
                    edge_duplicates=dropped,
                )
            )
            pending = await store.pending_rollups(SITE.id, WHOLE.last)
            now_ms = START_MS + (DAYS + 1) * 24 * H
            settled = await reporting.settle(store, SITE, WHOLE.first, WHOLE.last, pending, now_ms)
            assert settled is not None
            return settled.entries


@functools.cache
def entries() -> list[bytes]:
    return asyncio.run(_entries())


def of_dates(span: DateRange) -> list[bytes]:
    lo = (span.first - FIRST).days
    return entries()[lo : lo + span.days]


def summed(site: Site, span: DateRange, baseline: Totals | None, now_ms: int) -> Totals:
    """As a read does it: whole months from their stored form, partial ones summarised."""
    parts = []
    for part, whole in month_parts(span):
        summary = summarise(site, part, of_dates(part))
        assert summary is not None
        parts.append(of_blobs(summary.site, summary.devices) if whole else summary)
    return span_totals(site, span, parts, baseline, now_ms)


def assert_same(got: Totals, want: Totals) -> None:
    """Every KPI, quality figure and device figure; every total (floats up to rounding)."""
    close(derive(got), derive(want), "kpis")
    close(quality(got), quality(want), "quality")
    close(device_figures(got), device_figures(want), "devices")
    assert skew_of(got) == skew_of(want)
    skipped = {"devices", "skew"}
    for f in fields(Totals):
        if f.name not in skipped:
            close(getattr(got, f.name), getattr(want, f.name), f.name)
    assert [(d.kind, d.device) for d in got.devices] == [(d.kind, d.device) for d in want.devices]
    for mine, theirs in zip(got.devices, want.devices, strict=True):
        assert device_skew(mine) == device_skew(theirs), mine.device
        for name in ("received", "expected", "duplicates", "clock_corrected", "events"):
            assert getattr(mine, name) == getattr(theirs, name), (mine.device, name)
        assert mine.raw_events == theirs.raw_events, mine.device


@settings(max_examples=40, deadline=None)
@given(
    lo=st.integers(0, DAYS - 1),
    n=st.integers(1, DAYS),
    now_h=st.integers(-48, (DAYS + 2) * 24),
    installed=st.one_of(st.none(), st.integers(-5, DAYS)),
    with_baseline=st.booleans(),
)
@example(lo=0, n=DAYS, now_h=(DAYS + 1) * 24, installed=None, with_baseline=True)
@example(lo=25, n=50, now_h=70 * 24 + 7, installed=None, with_baseline=False)  # a current month
@example(lo=20, n=60, now_h=(DAYS + 1) * 24, installed=45, with_baseline=False)
def test_month_summaries_sum_to_the_composed_table_property(
    lo: int, n: int, now_h: int, installed: int | None, with_baseline: bool
) -> None:
    """For random spans, read times (before, within and after the span: a current month),
    meter installation dates (before, inside a month, after) and baselines, the totals summed
    from month summaries equal the composed table's, every KPI and device figure."""
    span = DateRange(FIRST + timedelta(days=lo), FIRST + timedelta(days=min(DAYS, lo + n) - 1))
    site = SITE
    if installed is not None:
        e1 = replace(SITE.kpi.meters["e1"], installed=FIRST + timedelta(days=installed))
        site = replace(SITE, kpi=replace(SITE.kpi, meters={**SITE.kpi.meters, "e1": e1}))
    now_ms = START_MS + now_h * H
    baseline = None
    if with_baseline:
        week = DateRange(FIRST, FIRST + timedelta(days=6))
        baseline = baseline_totals(compose(site, week, of_dates(week)))
    table = compose(site, span, of_dates(span))
    assert table is not None
    want = period_totals(table, baseline, PeriodKind.CUSTOM, span, now_ms)
    assert_same(summed(site, span, baseline, now_ms), want)


def test_month_parts_cut_a_span_at_month_boundaries() -> None:
    d = DateRange
    span = d(FIRST, FIRST + timedelta(days=DAYS - 1))
    assert [(p.first.isoformat(), p.last.isoformat(), w) for p, w in month_parts(span)] == [
        ("2026-03-02", "2026-03-31", False),
        ("2026-04-01", "2026-04-30", True),
        ("2026-05-01", "2026-05-31", True),
        ("2026-06-01", "2026-06-09", False),
    ]
