"""GET /api/v1/reports/monthly: the monthly report of a site or region as XLSX or printable HTML."""

from typing import Annotated, Literal
from urllib.parse import quote

from fastapi import APIRouter, Query
from fastapi.responses import Response

from central.api.deps import AcksDep, RegistryDep, StoreDep
from central.api.kpis import InvalidQuery, RegionQuery, SiteQuery, resolve_sites
from central.api.schemas import ErrorDetail
from central.monthly_report.content import MonthError, build_monthly_report, parse_month
from central.monthly_report.html import page
from central.monthly_report.xlsx import XLSX_MEDIA_TYPE, workbook_bytes
from central.reporting import now_ms

router = APIRouter(tags=["reports"])

_FILES: dict[int | str, dict[str, object]] = {
    200: {
        "content": {
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
            "text/html": {"schema": {"type": "string"}},
        },
        "description": "format=xlsx: a workbook; format=html: a printable page (A4)",
    },
    **{code: {"model": ErrorDetail} for code in (404, 422, 503)},
}


@router.get("/reports/monthly", response_class=Response, responses=_FILES)
async def monthly(
    registry: RegistryDep,
    store: StoreDep,
    acks: AcksDep,
    month: Annotated[str, Query(description="YYYY-MM")],
    site: SiteQuery = None,
    region: RegionQuery = None,
    lang: Annotated[Literal["zh", "en"], Query(description="language of the report")] = "zh",
    output: Annotated[Literal["xlsx", "html"], Query(alias="format")] = "xlsx",
) -> Response:
    """The month's summary with 同比 (same month last year) and 环比 (previous month), waste by
    stream, energy, quota use, data quality and the month's alerts, all from the KPI pipeline;
    missing figures are shown as —, never 0."""
    sites = resolve_sites(registry, site, region)
    try:
        first = parse_month(month)
        scope = site if site is not None else str(region)
        title = sites[0].name if site is not None else str(region)
        content = await build_monthly_report(store, acks, sites, scope, title, first, now_ms())
    except MonthError as exc:
        raise InvalidQuery(str(exc)) from exc
    stem = f"report-{scope.replace(':', '-')}-{first:%Y-%m}-{lang}"
    if output == "html":
        return Response(
            page(content, lang),
            media_type="text/html; charset=utf-8",
            headers={
                "Content-Disposition": _disposition(f"{stem}.html", inline=True),
                # the page is self-contained: its own inline style, nothing else, no script
                "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
            },
        )
    return Response(
        workbook_bytes(content, lang),
        media_type=XLSX_MEDIA_TYPE,
        headers={"Content-Disposition": _disposition(f"{stem}.xlsx")},
    )


def _disposition(filename: str, inline: bool = False) -> str:
    """RFC 6266: an ASCII fallback name and the UTF-8 name (region tags may be Chinese)."""
    fallback = filename.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    kind = "inline" if inline else "attachment"
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"
