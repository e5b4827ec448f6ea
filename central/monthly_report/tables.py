"""The monthly report as tables in one language: the workbook's sheets and the printable page's
sections are both drawn from these, so the two always hold the same figures."""

from dataclasses import dataclass
from datetime import UTC, datetime

from central.kpi.report import Row
from central.kpi.values import CATALOGUE
from central.monthly_report.content import (
    ENERGY_KPIS,
    QUALITY_FIGURES,
    SUMMARY_KPIS,
    WASTE_KPIS,
    MonthlyReport,
    change,
)
from central.monthly_report.labels import (
    Lang,
    alert_kind,
    kpi_name,
    text,
    unit_name,
)

QUALITY_UNITS = {"completeness_pct": "%", "estimated_share_pct": "%", "duplicate_share_pct": "%"}


@dataclass(frozen=True, slots=True)
class Figure:
    """A number with the unit that decides its decimals; None is shown as missing (—)."""

    value: float | None
    unit: str


Cell = str | Figure


@dataclass(frozen=True, slots=True)
class Section:
    key: str  # summary, waste, energy, quota, quality, devices, alerts, sites
    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]
    notes: tuple[str, ...] = ()
    total_rows: int = 0  # the last this many rows are totals (shown bold)


def unit_of(name: str) -> str:
    return CATALOGUE[name][1] if name in CATALOGUE else QUALITY_UNITS.get(name, "count")


def headed(name: str, lang: Lang) -> str:
    """A column heading: the KPI's name and its unit."""
    return f"{kpi_name(name, lang)} [{unit_name(unit_of(name), lang)}]"


def month_label(report: MonthlyReport) -> str:
    return f"{report.span.first:%Y-%m}"


def _kpi(row: Row, name: str) -> Figure:
    return Figure(row.kpis[name].value, unit_of(name))


def summary(report: MonthlyReport, lang: Lang) -> Section:
    prev, last = report.previous, report.last_year
    targets = {
        "waste_per_diner_g": report.targets.waste_target_g_per_diner,
        "clean_plate_rate_pct": report.targets.clean_plate_goal_pct,
    }
    rows = []
    for name in SUMMARY_KPIS:
        unit = unit_of(name)
        now = report.month.total.kpis[name].value
        rows.append(
            (
                kpi_name(name, lang),
                unit_name(unit, lang),
                Figure(now, unit),
                Figure(targets.get(name), unit),
                Figure(prev.value(name), unit),
                Figure(change(now, prev.value(name), unit), "%"),
                Figure(last.value(name), unit),
                Figure(change(now, last.value(name), unit), "%"),
            )
        )
    notes = [text("missing_note", lang)]
    for comparison in (prev, last):
        if comparison.row is None:
            notes.append(text("no_data", lang, month=f"{comparison.span.first:%Y-%m}"))
    header = (
        text("kpi", lang),
        text("unit", lang),
        text("this_month", lang),
        text("target", lang),
        text("previous_month", lang, month=f"{prev.span.first:%Y-%m}"),
        f"{text('mom', lang)} [%]",
        text("last_year", lang, month=f"{last.span.first:%Y-%m}"),
        f"{text('yoy', lang)} [%]",
    )
    return Section("summary", text("summary", lang), header, tuple(rows), tuple(notes))


def days(report: MonthlyReport) -> tuple[Row, ...]:
    """The month's rows up to today: dates still to come have no figures yet, not zeros."""
    return tuple(row for row in report.month.rows if row.first <= report.through)


def _daily(report: MonthlyReport, key: str, names: tuple[str, ...], lang: Lang) -> Section:
    header = (text("date", lang), *(headed(n, lang) for n in names))
    rows: list[tuple[Cell, ...]] = [
        (row.label, *(_kpi(row, n) for n in names)) for row in days(report)
    ]
    total = report.month.total
    rows.append((text("total", lang), *(_kpi(total, n) for n in names)))
    return Section(key, text(key, lang), header, tuple(rows), total_rows=1)


def energy(report: MonthlyReport, lang: Lang) -> Section:
    base = _daily(report, "energy", ENERGY_KPIS, lang)
    header = (*base.header, headed("estimated_share_pct", lang))
    all_rows = (*days(report), report.month.total)
    rows = tuple(
        (*cells, Figure(row.quality.estimated_share_pct, "%"))
        for cells, row in zip(base.rows, all_rows, strict=True)
    )
    return Section("energy", base.title, header, rows, total_rows=1)


def quota(report: MonthlyReport, lang: Lang) -> Section:
    header = (
        text("scope_of", lang),
        f"{text('quota_kgce', lang)} [{unit_name('kgce', lang)}]",
        f"{text('used', lang)} [{unit_name('kgce', lang)}]",
        headed("quota_use_pct", lang),
    )
    month, ytd = report.month.total, report.year_to_date
    rows = (
        (
            f"{text('month_row', lang)} ({month.label})",
            Figure(report.targets.energy_quota_kgce_month, "kgce"),
            _kpi(month, "energy_kgce"),
            _kpi(month, "quota_use_pct"),
        ),
        (
            f"{text('ytd_row', lang)} ({ytd.first}..{ytd.last})",
            Figure(report.targets.energy_quota_kgce_year, "kgce"),
            _kpi(ytd, "energy_kgce"),
            _kpi(ytd, "quota_use_pct"),
        ),
    )
    why = month.kpis["quota_use_pct"].why
    notes = (why.in_lang(lang),) if why else ()
    return Section("quota", text("quota", lang), header, rows, notes)


def quality(report: MonthlyReport, lang: Lang) -> Section:
    figures = report.month.total.quality
    header = (text("figure", lang), text("unit", lang), text("this_month", lang))
    rows = tuple(
        (
            kpi_name(name, lang),
            unit_name(unit_of(name), lang),
            Figure(getattr(figures, name), unit_of(name)),
        )
        for name in QUALITY_FIGURES
    )
    return Section("quality", text("quality", lang), header, rows)


def devices(report: MonthlyReport, lang: Lang) -> Section:
    header = (
        text("device", lang),
        text("kind", lang),
        text("readings", lang),
        text("expected", lang),
        f"{text('completeness', lang)} [%]",
    )
    rows = tuple(
        (
            d.device,
            d.kind,
            Figure(d.readings, "count"),
            Figure(d.expected, "count"),
            Figure(d.completeness_pct, "%"),
        )
        for d in report.month.total.devices
    )
    return Section("devices", text("device", lang), header, rows)


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M")


def alerts(report: MonthlyReport, lang: Lang) -> Section:
    header = (
        text("date", lang),
        text("site", lang),
        text("kind", lang),
        text("device", lang),
        text("value", lang),
        text("threshold", lang),
        text("unit", lang),
        text("message", lang),
        text("acked_by", lang),
        text("acked_at", lang),
    )
    rows = tuple(
        (
            entry.on.isoformat(),
            entry.alert.site,
            alert_kind(entry.alert.kind.value, lang),
            entry.key.device,
            Figure(entry.alert.value, entry.alert.unit),
            Figure(entry.alert.threshold, entry.alert.unit),
            unit_name(entry.alert.unit, lang),
            entry.alert.message,  # the pipeline's own words (English)
            entry.ack.actor if entry.ack else text("open", lang),
            _utc(entry.ack.acked_ms) if entry.ack else "",
        )
        for entry in report.alerts
    )
    notes = () if rows else (text("no_alerts", lang),)
    return Section("alerts", text("alerts", lang), header, rows, notes)


def by_site(report: MonthlyReport, lang: Lang) -> Section:
    header = (text("site", lang), *(headed(n, lang) for n in SUMMARY_KPIS))
    names = {s.id: s.name for s in report.sites}
    rows: list[tuple[Cell, ...]] = []
    for row in report.per_site:
        label: Cell = f"{names[row.sites[0]]} ({row.sites[0]})"
        rows.append((label, *(_kpi(row, n) for n in SUMMARY_KPIS)))
    return Section("sites", text("by_site", lang), header, tuple(rows))


def title(report: MonthlyReport, lang: Lang) -> str:
    scope = (
        report.title
        if len(report.sites) == 1 and report.scope == report.sites[0].id
        else text("region_scope", lang, tag=report.scope)
    )
    return text("title", lang, scope=scope, month=month_label(report))


def preamble(report: MonthlyReport, lang: Lang) -> tuple[tuple[str, str], ...]:
    """Label and value lines above the tables."""
    return (
        (text("period", lang), f"{report.span.first} .. {report.span.last}"),
        (text("sites", lang), ", ".join(f"{s.name} ({s.id})" for s in report.sites)),
        ("", text("generated", lang, at=_utc(report.generated_ms))),
    )


def sections(report: MonthlyReport, lang: Lang) -> list[Section]:
    out = [
        summary(report, lang),
        _daily(report, "waste", WASTE_KPIS, lang),
        energy(report, lang),
        quota(report, lang),
        quality(report, lang),
        devices(report, lang),
        alerts(report, lang),
    ]
    if report.per_site:
        out.insert(1, by_site(report, lang))
    return out
