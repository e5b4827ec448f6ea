"""The monthly report as one printable HTML page (A4, a print stylesheet), with the same tables
as the workbook; self-contained (no script, no external file), so it can be saved and printed."""

from html import escape

from central.monthly_report.content import MonthlyReport
from central.monthly_report.labels import Lang, formatted
from central.monthly_report.tables import Cell, Figure, Section, preamble, sections, title

_STYLE = """
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", "PingFang SC",
  system-ui, sans-serif; color: #1d2430; margin: 24px; font-size: 13px; }
h1 { font-size: 20px; margin: 0 0 8px; }
h2 { font-size: 15px; margin: 20px 0 6px; border-bottom: 1px solid #c8ced8; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dt { color: #5a6473; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { border: 1px solid #d7dce4; padding: 3px 6px; text-align: left; vertical-align: top; }
th { background: #eef1f6; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.total td { font-weight: 600; }
p.note { color: #5a6473; margin: 4px 0; }
@page { size: A4; margin: 14mm 12mm; }
@media print {
  body { margin: 0; font-size: 10px; }
  table { font-size: 9px; }
  section { break-inside: auto; }
  h2 { break-after: avoid; }
  tr { break-inside: avoid; }
  thead { display: table-header-group; }
}
"""


def _cell(cell: Cell, tag: str = "td") -> str:
    if isinstance(cell, Figure):
        return f'<{tag} class="num" data-value="{"" if cell.value is None else cell.value}">' + (
            f"{escape(formatted(cell.value, cell.unit))}</{tag}>"
        )
    return f"<{tag}>{escape(cell)}</{tag}>"


def _section(section: Section) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in section.header)
    first_total = len(section.rows) - section.total_rows
    body = "".join(
        ('<tr class="total">' if i >= first_total else "<tr>")
        + "".join(_cell(c) for c in cells)
        + "</tr>"
        for i, cells in enumerate(section.rows)
    )
    notes = "".join(f'<p class="note">{escape(n)}</p>' for n in section.notes)
    table = f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>" if body else ""
    return (
        f'<section data-section="{section.key}"><h2>{escape(section.title)}</h2>'
        f"{table}{notes}</section>"
    )


def page(report: MonthlyReport, lang: Lang) -> str:
    """The whole page as HTML text."""
    heading = escape(title(report, lang))
    lines = "".join(
        f"<dt>{escape(label)}</dt><dd>{escape(value)}</dd>"
        for label, value in preamble(report, lang)
    )
    body = "".join(_section(s) for s in sections(report, lang))
    html_lang = "zh-CN" if lang == "zh" else "en"
    return (
        f'<!doctype html><html lang="{html_lang}"><head><meta charset="utf-8">'
        f"<title>{heading}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{heading}</h1><dl>{lines}</dl>{body}</body></html>"
    )
