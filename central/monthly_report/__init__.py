"""The monthly report of a canteen or a region: content from the KPI pipeline, rendered as an
XLSX workbook or a printable HTML page, in Chinese or English."""
