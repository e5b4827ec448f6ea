"""The JSON answers of /kpis and /ranking, built as plain dicts and serialised with orjson.

A site-year report has 366 rows of 36 KPIs, 30 quality figures and a dozen devices each: about
20,000 small objects. Building them as pydantic models and letting FastAPI validate and serialise
the answer again cost more than computing the report (docs/performance.md, round 4). Here every
object is a dict with exactly the fields of its pydantic model in central.api.kpi_schemas (the
field names are taken from the models, so the two cannot drift apart), and the routes return
the bytes. The models still describe the answers in the OpenAPI document; tests check that both
give the same JSON (tests/central/test_kpi_json.py) and schemathesis checks the answers against
the document.
"""

from collections.abc import Mapping
from typing import Any

import orjson
from fastapi.responses import Response

from central.api.kpi_schemas import (
    LATE_DATA_NOTE,
    DeviceQualityOut,
    FactorSetOut,
    KpiValueOut,
    QualityOut,
)
from central.kpi.report import RankedSite, Report, Row
from central.kpi.rollup import Freshness
from central.kpi.values import DeviceFigures, KpiValue, Quality
from central.site_kpi_config import FactorSet

Json = dict[str, Any]

_KPI_FIELDS = tuple(KpiValueOut.model_fields)
_QUALITY_FIELDS = tuple(QualityOut.model_fields)
_DEVICE_FIELDS = tuple(DeviceQualityOut.model_fields)
_FACTOR_FIELDS = tuple(FactorSetOut.model_fields)
_MAPPINGS = ("counter_events", "raw_bin_events")  # device fields that are mappings


def kpi_value(value: KpiValue) -> Json:
    # the most frequent object (a site-year's day rows hold ~13,000): a literal is 2.5x faster
    # than reading _KPI_FIELDS one by one; the check below keeps it to the model's fields
    return {
        "id": value.id, "value": value.value, "unit": value.unit, "reason": value.reason,
        "reason_code": value.reason_code, "reason_params": value.reason_params,
    }  # fmt: skip


if tuple(kpi_value(KpiValue("", None, ""))) != _KPI_FIELDS:
    raise AssertionError("kpi_json.kpi_value must give exactly the fields of KpiValueOut")


def quality(figures: Quality) -> Json:
    return {name: getattr(figures, name) for name in _QUALITY_FIELDS}


def device(figures: DeviceFigures) -> Json:
    out = {name: getattr(figures, name) for name in _DEVICE_FIELDS}
    for name in _MAPPINGS:
        if out[name] is not None:
            out[name] = dict(out[name])
    return out


def factor_set(factors: FactorSet) -> Json:
    return {name: getattr(factors, name) for name in _FACTOR_FIELDS}


def row(r: Row) -> Json:
    return {
        "label": r.label,
        "start": r.first.isoformat(),
        "end": r.last.isoformat(),
        "service": r.service,
        "kpis": {name: kpi_value(v) for name, v in r.kpis.items()},
        "quality": quality(r.quality),
        "factor_sets": list(r.factor_sets),
        "devices": [device(d) for d in r.devices],
    }


def report(
    result: Report, factor_sets: list[FactorSet], site: str | None, region: str | None
) -> Json:
    """The KpiReportOut of a report."""
    return {
        "scope": "site" if site is not None else "region",
        "site": site,
        "region": region,
        "sites": list(result.sites),
        "period": result.period.value,
        "start": result.span.first.isoformat(),
        "end": result.span.last.isoformat(),
        "granularity": result.granularity.value,
        "factor_sets": [factor_set(f) for f in factor_sets],
        "note": LATE_DATA_NOTE,
        "rows": [row(r) for r in result.rows],
        "total": row(result.total),
        "rollups": rollups(result.rollups),
    }


def rollups(freshness: Freshness | None) -> Json | None:
    """The RollupsOut of an answer's freshness (None: the store keeps no rollups)."""
    if freshness is None:
        return None
    return {
        "pending_dates": freshness.pending_dates,
        "oldest_pending_s": freshness.oldest_pending_s,
    }


def ranked(site: RankedSite) -> Json:
    """The RankedSiteOut of a ranked site."""
    return {
        "rank": site.rank,
        "site": site.site,
        "name": site.name,
        "value": kpi_value(site.value),
        "quality": quality(site.quality),
    }


def response(content: Mapping[str, Any]) -> Response:
    """`content` as an application/json answer (NaN never occurs: values are None instead)."""
    return Response(orjson.dumps(content), media_type="application/json")
