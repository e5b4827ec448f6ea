"""All rows of a report at once (site_totals_many) equal the row-by-row path, bit for bit.

Randomised readings of the rollup tests (late data, wrong clocks, meter gaps and resets, raw
kitchen bins, duplicates) go into a real SQLite store; fresh and rollup-composed tables are cut
into rows of one date, of one service, of weeks, of arbitrary spans and of the whole span, and
every Totals field and every derived figure is compared with exact equality (NaN equal NaN).
"""

import math
import random
from dataclasses import fields, is_dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from central import reporting
from central.kpi.daytable import DayTable
from central.kpi.periods import DateRange
from central.kpi.reasons import Reason
from central.kpi.totals import combine, site_totals, site_totals_many
from central.kpi.values import derive, device_figures, quality
from central.store.sqlite import SqliteStore
from tests.central.test_rollup import DAYS, FIRST, SITE, Data, batch


def same(a: Any, b: Any, where: str) -> None:
    """Exact recursive equality; NaN equals NaN, and -0.0 is told from 0.0."""
    if is_dataclass(a) and not isinstance(a, type):
        assert type(a) is type(b), where
        for f in fields(a):
            if f.name != "skew":  # precomputed by one path only: compared through values.py
                same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray):
        assert isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype, where
        assert np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), where
    elif isinstance(a, dict) or hasattr(a, "items"):
        assert list(a) == list(b), where
        for k in a:
            same(a[k], b[k], f"{where}[{k}]")
    elif isinstance(a, list | tuple | frozenset):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(sorted(a) if isinstance(a, frozenset) else a,
                                       sorted(b) if isinstance(b, frozenset) else b,
                                       strict=True)):  # fmt: skip
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert (math.isnan(a) and math.isnan(b)) or (
            a == b and math.copysign(1, a) == math.copysign(1, b)
        ), f"{where}: {a!r} != {b!r}"
    else:
        assert type(a) is type(b), where
        assert a == b, f"{where}: {a!r} != {b!r}"


def layouts(rng: random.Random, n_days: int) -> list[list[tuple[int, int]]]:
    """Rows of one date, weeks, random consecutive spans, random overlapping spans, the whole."""
    days = [(i, i + 1) for i in range(n_days)]
    weeks = [(i, min(i + 7, n_days)) for i in range(0, n_days, 7)]
    cuts = sorted(rng.sample(range(1, n_days), rng.randint(1, n_days - 1)))
    runs = list(zip([0, *cuts], [*cuts, n_days], strict=True))
    spans = []
    for _ in range(6):
        lo = rng.randrange(n_days)
        spans.append((lo, rng.randint(lo + 1, n_days)))
    return [days, weeks, runs, spans, [(0, n_days)]]


SPAN = Reason("quota_span")


def check_table(table: DayTable, rng: random.Random) -> None:
    n_days = table.span.days
    for bounds in layouts(rng, n_days):
        for service in (None, *range(len(table.services))):
            quotas = [(rng.choice([math.nan, rng.random() * 100]), rng.choice([None, SPAN]))
                      for _ in bounds]  # fmt: skip
            baseline = site_totals(table, 0, n_days) if rng.random() < 0.5 else None
            (other,) = site_totals_many(table, [(0, n_days)])  # a second "site" for combine()
            other_want = site_totals(table, 0, n_days)
            many = site_totals_many(table, bounds, service, quotas=quotas, baseline=baseline)
            assert len(many) == len(bounds)
            lean = site_totals_many(table, bounds, service, quotas=quotas, device_skews=False)
            for (lo, hi), (q, r), got, no_devices in zip(bounds, quotas, many, lean, strict=True):
                want = site_totals(
                    table, lo, hi, service, quota_kgce=q, quota_reason=r, baseline=baseline
                )
                where = f"rows {lo}..{hi} service {service}"
                same(got, want, where)
                same(derive(got), derive(want), f"{where} derive")
                same(quality(got), quality(want), f"{where} quality")
                same(device_figures(got), device_figures(want), f"{where} devices")
                assert want.skew is None
                # without the devices' figures (rankings): the same row figures
                same(quality(no_devices), quality(want), f"{where} without device skews")
                assert all(d.skew is None for d in no_devices.devices)
                # a region's row: the figures of every site's samples, not the first site's
                both, both_want = combine([got, other]), combine([want, other_want])
                assert both.skew is None
                same(quality(both), quality(both_want), f"{where} combined")
                # the fast path was taken (service rows longer than a date go row by row)
                fast = service is None or all(b - a == 1 for a, b in bounds)
                assert (got.skew is not None) is fast


@pytest.mark.parametrize(("seed", "dirty"), [(11, False), (12, True)])
async def test_rows_at_once_equal_rows_one_by_one(tmp_path: Path, seed: int, dirty: bool) -> None:
    data = Data(seed, wrong_raw_clocks=dirty)
    rng = random.Random(seed)
    async with SqliteStore(tmp_path / "central.sqlite") as store:
        for day in range(DAYS):
            readings = data.food(day) + data.meters(day, dirty and day == 5)
            data.rng.shuffle(readings)
            await store.write_batch(batch(readings, day))
        resent = data.rng.sample(readings, len(readings) // 4)  # duplicates of the last day
        await store.write_batch(batch(resent, DAYS))
        span = DateRange(FIRST, FIRST.replace(day=FIRST.day + DAYS - 1))
        fresh = await reporting.fresh_site_table(store, SITE, span)
        check_table(fresh, rng)
        composed = await reporting.site_table(store, SITE, span)  # composed of rollups
        check_table(composed, rng)
        no_meters = replace(SITE, kpi=replace(SITE.kpi, meters={}))
        check_table(await reporting.fresh_site_table(store, no_meters, span), rng)
