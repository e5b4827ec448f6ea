"""The monthly report as an XLSX workbook (openpyxl): one sheet per section.

Cells hold the pipeline's full values, formatted to the unit's decimals; a missing figure is the
text — (never 0), so that a sum in a spreadsheet cannot mistake it for a measured zero.
"""

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from central.monthly_report.content import MonthlyReport
from central.monthly_report.labels import MISSING, Lang
from central.monthly_report.tables import Cell, Figure, Section, preamble, sections, title
from central.unit_decimals import decimals

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
_BOLD = Font(bold=True)
_MAX_SHEET_TITLE = 31  # Excel's limit


def _number_format(unit: str) -> str:
    places = decimals(unit)
    return "#,##0" if places == 0 else "#,##0." + "0" * places


def _write(sheet: Worksheet, row: int, cells: tuple[Cell, ...], bold: bool = False) -> None:
    for column, cell in enumerate(cells, start=1):
        target = sheet.cell(row=row, column=column)
        if isinstance(cell, Figure):
            if cell.value is None:
                target.value = MISSING
                target.alignment = Alignment(horizontal="right")
            else:
                target.value = cell.value
                target.number_format = _number_format(cell.unit)
        else:
            target.value = cell
        if bold:
            target.font = _BOLD


def _sheet(sheet: Worksheet, section: Section, heading: str, lines: list[tuple[str, str]]) -> None:
    sheet.title = section.title[:_MAX_SHEET_TITLE]
    sheet.cell(row=1, column=1, value=heading).font = Font(bold=True, size=13)
    row = 2
    for label, value in lines:
        sheet.cell(row=row, column=1, value=label)
        sheet.cell(row=row, column=2, value=value)
        row += 1
    row += 1
    _write(sheet, row, section.header, bold=True)
    header_row = row
    first_total = len(section.rows) - section.total_rows
    for i, cells in enumerate(section.rows):
        row += 1
        _write(sheet, row, cells, bold=i >= first_total)
    for note in section.notes:
        row += 2
        sheet.cell(row=row, column=1, value=note)
    sheet.freeze_panes = f"B{header_row + 1}"
    for column, name in enumerate(section.header, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = max(12, min(40, len(name) + 4))


def workbook_bytes(report: MonthlyReport, lang: Lang) -> bytes:
    """The workbook as an .xlsx file's bytes."""
    book = Workbook()
    heading = title(report, lang)
    lines = list(preamble(report, lang))
    for i, section in enumerate(sections(report, lang)):
        sheet = book.active if i == 0 else book.create_sheet()
        assert isinstance(sheet, Worksheet)
        _sheet(sheet, section, heading, lines if i == 0 else [])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
