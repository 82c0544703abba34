"""Result tables as a workbook a planner reads at a glance (``whichwall search -o``, ``whichwall sweep -o``).

Each sheet: a title and a one-line note above the table, a bold header row, numbers stored as numbers with a format
per column (ms, USD, tokens/s, shares as %), yes/no for flags, columns wide enough for their formatted values (no
``###`` in LibreOffice or Excel), the header frozen, a highlighted row (the winner), landscape printing one page wide,
and optionally a scatter chart (the Pareto front). Text from a user is written as text, never as a formula (a plan
name starting with ``=`` stays that text). Written through ``planner.files.write_atomic``.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from planner import files

FORMULA_STARTS = ("=", "+", "-", "@")
"""What a spreadsheet would run as a formula at the start of text."""

TITLE_ROW, NOTE_ROW, HEADER_ROW = 1, 2, 4
FIRST_ROW = HEADER_ROW + 1

FORMATS: dict[str, str] = {
    "ms": "#,##0.0",
    "usd": "#,##0",
    "usd_small": "#,##0.00",
    "count": "#,##0",
    "rate": "#,##0",
    "share": "0%",
    "change": "+0%;-0%;0%",
    "number": "#,##0.###",
}
"""Number formats by kind of column."""


@dataclass
class Sheet:
    """One table: ``header`` and ``rows`` (values: numbers, text, booleans, None), ``kinds`` the format of each column
    by header (``FORMATS`` keys), ``highlight`` the indices of rows to mark, ``chart`` (x header, y header, title)
    for a scatter chart beside the table."""

    title: str
    note: str
    header: list[str]
    rows: list[list[Any]]
    kinds: dict[str, str] = field(default_factory=dict)
    highlight: set[int] = field(default_factory=set)
    chart: tuple[str, str, str] | None = None


def excel_value(v: Any) -> Any:
    """A value as a cell holds it: flags as yes/no, non-finite numbers empty, lists as JSON text."""
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, (list, tuple, dict)):
        return json.dumps(v)
    return v


def _shown(value: Any, fmt: str | None) -> str:
    """About how a cell shows ``value`` with ``fmt`` (for the column width)."""
    if value is None:
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if fmt == FORMATS["share"] or fmt == FORMATS["change"]:
            return f"{value:+.0%}"
        decimals = 2 if fmt == FORMATS["usd_small"] else 1 if fmt == FORMATS["ms"] else 3 if fmt == FORMATS[
            "number"] else 0
        return f"{value:,.{decimals}f}"
    return str(value)


def workbook_bytes(sheets: Sequence[Sheet]) -> bytes:
    """``sheets`` as .xlsx bytes."""
    from openpyxl import Workbook
    from openpyxl.chart import Reference, ScatterChart, Series
    from openpyxl.styles import Alignment, Font, PatternFill

    bold, title_font, note_font = Font(bold=True), Font(bold=True, size=14), Font(italic=True, color="666666")
    header_fill = PatternFill("solid", fgColor="D9E1F2")
    mark_fill, mark_font = PatternFill("solid", fgColor="FFF2CC"), Font(bold=True)
    wb = Workbook()
    wb.remove(wb.active)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.title[:31])
        ws.cell(TITLE_ROW, 1, sheet.title).font = title_font
        note = ws.cell(NOTE_ROW, 1, sheet.note)
        note.font = note_font
        note.data_type = "s"
        widths = [len(h) for h in sheet.header]
        fmts = [FORMATS.get(sheet.kinds.get(h, ""), None) for h in sheet.header]
        for j, h in enumerate(sheet.header, 1):
            cell = ws.cell(HEADER_ROW, j, h)
            cell.font, cell.fill = bold, header_fill
            cell.alignment = Alignment(wrap_text=True, vertical="bottom",
                                       horizontal="right" if fmts[j - 1] else "left")  # over its numbers
        for i, row in enumerate(sheet.rows):
            r = FIRST_ROW + i
            for j, raw in enumerate(row, 1):
                value = excel_value(raw)
                cell = ws.cell(r, j, value)
                if isinstance(value, str):  # text stays text, even "=..." from a plan name: no formula injection
                    cell.data_type = "s"
                    cell.quotePrefix = value[:1] in FORMULA_STARTS
                elif value is not None and fmts[j - 1]:
                    cell.number_format = fmts[j - 1]
                if i in sheet.highlight:
                    cell.fill, cell.font = mark_fill, mark_font
                widths[j - 1] = max(widths[j - 1], len(_shown(value, fmts[j - 1])))
        for j, width in enumerate(widths, 1):
            header_width = min(len(sheet.header[j - 1]), 14)  # long headers wrap instead of widening the column
            ws.column_dimensions[ws.cell(HEADER_ROW, j).column_letter].width = min(
                max(max(width if width > len(sheet.header[j - 1]) else header_width, 6) + 2, 8), 60)
        ws.row_dimensions[HEADER_ROW].height = 32
        ws.freeze_panes = ws.cell(FIRST_ROW, 1)
        ws.page_setup.orientation = "landscape"
        ws.page_setup.fitToWidth, ws.page_setup.fitToHeight = 1, 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
        ws.print_title_rows = f"{HEADER_ROW}:{HEADER_ROW}"
        if sheet.chart and sheet.rows:
            x_name, y_name, chart_title = sheet.chart
            x_col, y_col = sheet.header.index(x_name) + 1, sheet.header.index(y_name) + 1
            last = FIRST_ROW + len(sheet.rows) - 1
            chart = ScatterChart()
            chart.title, chart.style = chart_title, 13
            chart.x_axis.title, chart.y_axis.title = x_name, y_name
            chart.x_axis.delete = chart.y_axis.delete = False
            series = Series(Reference(ws, min_col=y_col, min_row=FIRST_ROW, max_row=last),
                            Reference(ws, min_col=x_col, min_row=FIRST_ROW, max_row=last), title="Pareto front")
            series.marker.symbol = "circle"
            series.graphicalProperties.line.noFill = False
            chart.series.append(series)
            chart.legend = None
            chart.height, chart.width = 9, 16
            ws.add_chart(chart, ws.cell(FIRST_ROW + len(sheet.rows) + 2, 2).coordinate)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def write_workbook(path: Path, sheets: Sequence[Sheet], force: bool = False) -> None:
    """``sheets`` to ``path`` (.xlsx) through the one atomic writer."""
    files.write_atomic(path, workbook_bytes(sheets), force=force)


def csv_value(v: Any) -> Any:
    """A CSV field: flags as yes/no, text a spreadsheet would run as a formula with a leading apostrophe, numbers
    untouched."""
    v = excel_value(v)
    if isinstance(v, str) and v[:1] in FORMULA_STARTS:
        return "'" + v
    return "" if v is None else v
