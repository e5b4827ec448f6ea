"""CSV export of KPI reports and rankings: a header row with the unit in every column name."""

import csv
import io
from collections.abc import Iterable, Sequence
from dataclasses import fields

from fastapi.responses import Response

from central.kpi.report import RankedSite, Row
from central.kpi.values import CATALOGUE, Quality

# unit of each quality figure, for the column names
_QUALITY_UNITS = {
    "completeness_pct": "%",
    "meter_readings_received": "readings",
    "meter_readings_expected": "readings",
    "estimated_share_pct": "%",
    "estimated_kgce": "kgce",
    "estimated_electricity_kwh": "kWh",
    "estimated_gas_m3": "m3",
    "estimated_water_m3": "m3",
    "readings_stored": "readings",
    "duplicates_dropped": "readings",
    "duplicate_share_pct": "%",
    "clock_skew_median_ms": "ms",
    "clock_skew_p95_abs_ms": "ms",
    "clock_corrected": "readings",
}
QUALITY_COLUMNS = tuple(f.name for f in fields(Quality))


def _unit_of_quality(name: str) -> str:
    return _QUALITY_UNITS.get(name, "count")


def kpi_header() -> list[str]:
    return [f"{name} [{unit}]" for name, (_, unit) in CATALOGUE.items()] + [
        f"quality.{name} [{_unit_of_quality(name)}]" for name in QUALITY_COLUMNS
    ]


def _cell(value: object) -> object:
    return "" if value is None else value


def kpi_cells(row: Row) -> list[object]:
    return [_cell(row.kpis[name].value) for name in CATALOGUE] + [
        _cell(getattr(row.quality, name)) for name in QUALITY_COLUMNS
    ]


def report_csv(scope: str, rows: Sequence[Row], total: Row) -> str:
    """One line per row and a last line for the period's total (service column 'total')."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["scope", "label", "start", "end", "service", "factor_sets", *kpi_header()])
    lines: Iterable[tuple[Row, str]] = [(r, r.service or "") for r in rows]
    for row, service in [*lines, (total, "total")]:
        writer.writerow(
            [scope, row.label, row.first.isoformat(), row.last.isoformat(), service,
             " ".join(row.factor_sets), *kpi_cells(row)]
        )  # fmt: skip
    return out.getvalue()


def ranking_csv(kpi: str, ranked: Sequence[RankedSite]) -> str:
    _, unit = CATALOGUE[kpi]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(
        ["rank", "site", "name", f"{kpi} [{unit}]", "reason"]
        + [f"quality.{name} [{_unit_of_quality(name)}]" for name in QUALITY_COLUMNS]
    )
    for r in ranked:
        writer.writerow(
            [_cell(r.rank), r.site, r.name, _cell(r.value.value), _cell(r.value.reason)]
            + [_cell(getattr(r.quality, name)) for name in QUALITY_COLUMNS]
        )
    return out.getvalue()


def csv_response(text: str, filename: str) -> Response:
    return Response(
        content=text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
