"""The routes' JSON answers (central.api.kpi_json) equal the pydantic models' JSON, field by field.

Reports of the rollup tests' randomised site (meters with gaps and resets, raw kitchen bins,
wrong clocks, duplicates), per date, per service, per week, for a region of two sites, and a
ranking, are serialised both ways and compared after parsing: same keys in the same order, same
values (floats exactly).
"""

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest

from central import reporting
from central.api import kpi_json
from central.api.kpi_schemas import KpiReportOut, RankedSiteOut, ranked_out, report_out
from central.kpi.periods import DateRange, Granularity, PeriodKind
from central.store.sqlite import SqliteStore
from tests.central.test_rollup import DAYS, FIRST, NOW_MS, SITE, Data, batch


def ordered(value: Any) -> Any:
    """Dicts as lists of (key, value), so that == also compares the order of the keys."""
    if isinstance(value, dict):
        return [(k, ordered(v)) for k, v in value.items()]
    if isinstance(value, list):
        return [ordered(v) for v in value]
    return value


def same_json(fast: dict[str, Any], model: Any) -> None:
    got = orjson.loads(kpi_json.response(fast).body)
    want = orjson.loads(model.model_dump_json())
    assert ordered(got) == ordered(want)


@pytest.fixture
async def store(tmp_path: Path) -> Any:
    data = Data(21, wrong_raw_clocks=True)
    async with SqliteStore(tmp_path / "central.sqlite") as opened:
        for day in range(DAYS):
            await opened.write_batch(batch(data.food(day) + data.meters(day, day == 4), day))
        yield opened


@pytest.mark.parametrize("granularity", [Granularity.DAY, Granularity.SERVICE, Granularity.WEEK])
async def test_report_answers_equal_the_models(
    store: SqliteStore, granularity: Granularity
) -> None:
    span = DateRange(FIRST, FIRST.replace(day=FIRST.day + DAYS - 1))
    other = replace(SITE, id="s2", name="Two", floor_area_m2=None)
    for sites, site, region in (([SITE], SITE.id, None), ([SITE, other], None, "city:X")):
        result = await reporting.report(store, sites, PeriodKind.CUSTOM, span, granularity, NOW_MS)
        factors = [SITE.kpi.factor_set]
        fast = kpi_json.report(result, factors, site, region)
        assert len(fast["rows"]) > 1
        model = report_out(result, factors, site, region)
        same_json(fast, model)
        assert KpiReportOut.model_validate_json(bytes(kpi_json.response(fast).body)) == model


async def test_ranking_answers_equal_the_models(store: SqliteStore) -> None:
    span = DateRange(FIRST, FIRST.replace(day=FIRST.day + DAYS - 1))
    other = replace(SITE, id="s2", name="Two")
    result = await reporting.ranking(
        store, [SITE, other], "waste_per_diner_g", PeriodKind.CUSTOM, span, NOW_MS
    )
    for ranked in result.sites:
        same_json(kpi_json.ranked(ranked), ranked_out(ranked))
        assert isinstance(RankedSiteOut.model_validate(kpi_json.ranked(ranked)), RankedSiteOut)
