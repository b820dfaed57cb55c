"""xlsx output with xlsxwriter: the selection sheet and chart sheets (tables + native charts).

Every text cell is written with `write_string` (never `write`), so text that starts
with = + - @ stays text; numbers with `write_number`, dates as real Excel dates.
xlsxwriter stores each chart's cached values, so viewers that do not recalculate
(previews, mobile apps) still draw them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import xlsxwriter
from xlsxwriter.workbook import Workbook as XWorkbook
from xlsxwriter.worksheet import Worksheet

from .. import safe_text
from ..charts_data import ChartSpec, ChartTable, selection_tables
from ..schema import Field, Kind
from . import atomic_path

FONT = "Microsoft YaHei"  # on every Chinese Windows/Office install; WPS maps it too
PALETTE = ("#4472C4", "#ED7D31", "#A5A5A5", "#FFC000", "#5B9BD5", "#70AD47", "#264478",
           "#9E480E", "#636363", "#997300", "#255E91", "#43682B")
NUM_FORMATS = {"int": "#,##0", "num": "#,##0.00", "pct": "0.0%", "text": "@"}
CHART_W, CHART_H = 560, 320  # pixels
ROW_PX = 20


def new_workbook(path: Path) -> XWorkbook:
    """An xlsxwriter workbook that never turns strings into formulas, numbers or links."""
    return xlsxwriter.Workbook(str(path), {
        "strings_to_formulas": False, "strings_to_numbers": False, "strings_to_urls": False,
        "default_format_properties": {"font_name": FONT, "font_size": 10, "font_charset": 134},
    })


class Formats:
    """The cell formats one workbook needs, created once."""

    def __init__(self, book: XWorkbook) -> None:
        base = {"font_name": FONT, "font_size": 10, "font_charset": 134, "valign": "top"}
        self.header = book.add_format({**base, "bold": True, "bg_color": "#DDEBF7", "border": 1,
                                       "text_wrap": True, "valign": "vcenter"})
        self.text = book.add_format(base)
        self.wrap = book.add_format({**base, "text_wrap": True})
        self.code = book.add_format({**base, "num_format": "@"})
        self.date = book.add_format({**base, "num_format": "yyyy-mm-dd"})
        self.datetime = book.add_format({**base, "num_format": "yyyy-mm-dd hh:mm"})
        self.int = book.add_format({**base, "num_format": "#,##0"})
        self.num = book.add_format({**base, "num_format": "#,##0.00"})
        self.pct = book.add_format({**base, "num_format": "0.0%"})
        self.title = book.add_format({**base, "bold": True, "font_size": 14})
        self.subtitle = book.add_format({**base, "bold": True, "font_size": 11,
                                         "font_color": "#1F4E79"})
        self.note = book.add_format({**base, "italic": True, "font_color": "#595959"})
        self.kpi_label = book.add_format({**base, "bg_color": "#F2F2F2", "border": 1})
        self.kpi_value = book.add_format({**base, "bold": True, "font_size": 12, "border": 1,
                                          "num_format": "#,##0.##"})

    def for_column(self, kind: str) -> Any:
        return {"int": self.int, "num": self.num, "pct": self.pct}.get(kind, self.text)


def write_text(ws: Worksheet, row: int, col: int, value: Any, fmt: Any = None) -> None:
    """A text cell: prohibited numbers masked, always a string (never a formula)."""
    text = safe_text.display(value)
    if text:
        ws.write_string(row, col, text, fmt)
    elif fmt is not None:
        ws.write_blank(row, col, None, fmt)


def write_value(ws: Worksheet, row: int, col: int, value: Any, field: Field, fm: Formats) -> None:
    """One data cell typed by its Python value, formatted by its field's kind."""
    if value is None or value == "":
        return
    value = safe_text.redact(value)
    if isinstance(value, bool):
        ws.write_string(row, col, safe_text.display(value), fm.text)
    elif isinstance(value, dt.datetime):
        ws.write_datetime(row, col, value.replace(tzinfo=None),
                          fm.date if field.kind == Kind.DATE else fm.datetime)
    elif isinstance(value, dt.date):
        ws.write_datetime(row, col, dt.datetime.combine(value, dt.time()), fm.date)
    elif isinstance(value, (int, float)) and field.kind in (Kind.INT, Kind.NUMBER):
        ws.write_number(row, col, value, fm.int if field.kind == Kind.INT else fm.num)
    else:
        fmt = fm.code if field.kind == Kind.CODE else fm.text
        ws.write_string(row, col, safe_text.display(value), fmt)


def write_records_sheet(book: XWorkbook, fm: Formats, name: str, fields: Sequence[Field],
                        rows: Sequence[Sequence[Any]], lang: str,
                        progress: Callable[[int], None] | None = None) -> Worksheet:
    """A data sheet like the template: frozen header, autofilter, schema widths, typed cells."""
    ws = book.add_worksheet(name)
    for c, f in enumerate(fields):
        col_fmt = fm.code if f.kind == Kind.CODE else None
        ws.set_column(c, c, f.width, col_fmt)
        ws.write_string(0, c, f.header(lang), fm.header)
    ws.set_row(0, 30)
    for r, row in enumerate(rows, start=1):
        for c, (f, v) in enumerate(zip(fields, row, strict=True)):
            write_value(ws, r, c, v, f, fm)
        if progress is not None and r % 1000 == 0:
            progress(1000)
    ws.freeze_panes(1, min(2, len(fields)))
    if fields:
        ws.autofilter(0, 0, max(len(rows), 1), len(fields) - 1)
    print_setup(ws)
    ws.repeat_rows(0)
    return ws


def print_setup(ws: Worksheet) -> None:
    """A4 landscape, one page wide, page numbers in the footer."""
    ws.set_landscape()
    ws.set_paper(9)
    ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    ws.set_footer("&C&P / &N")


def _axis_names(spec: ChartSpec) -> tuple[dict, dict]:
    return ({"name": spec.y_title} if spec.y_title else {},
            {"name": spec.y2_title} if spec.y2_title else {})


def _series(sheet: str, table: ChartTable, col: int, r0: int, r1: int, c0: int, i: int,
            hdr: int, kind: str) -> dict:
    s: dict[str, Any] = {
        "name": [sheet, hdr, c0 + col],
        "categories": [sheet, r0, c0, r1, c0],
        "values": [sheet, r0, c0 + col, r1, c0 + col],
    }
    if kind == "pie":
        s["data_labels"] = {"percentage": True, "category": True, "leader_lines": True,
                            "position": "best_fit"}
        s["points"] = [{"fill": {"color": PALETTE[k % len(PALETTE)]}} for k in range(r1 - r0 + 1)]
    elif kind == "line":
        s["marker"] = {"type": "circle", "size": 5}
        s["line"] = {"color": PALETTE[i % len(PALETTE)], "width": 2.25}
    else:
        s["fill"] = {"color": PALETTE[i % len(PALETTE)]}
        if r1 - r0 < 12:
            s["data_labels"] = {"value": True, "num_format": NUM_FORMATS[table.formats[col]]}
    return s


def chart_height(table: ChartTable, spec: ChartSpec) -> int:
    """Pixels: horizontal bar charts grow with their categories."""
    return max(CHART_H, 18 * len(table.rows) + 80) if spec.kind == "bar" else CHART_H


def add_chart(book: XWorkbook, sheet: str, table: ChartTable, spec: ChartSpec, *, hdr: int,
              c0: int) -> Any:
    """A native chart over a table written at header row `hdr`, first column `c0`."""
    r0, r1 = hdr + 1, hdr + max(len(table.rows), 1)
    chart = book.add_chart({"type": spec.kind} if spec.kind != "column" else {"type": "column"})
    for i, col in enumerate(spec.values):
        chart.add_series(_series(sheet, table, col, r0, r1, c0, i, hdr, spec.kind))
    if spec.secondary:
        line = book.add_chart({"type": "line"})
        for j, col in enumerate(spec.secondary):
            s = _series(sheet, table, col, r0, r1, c0, len(spec.values) + j, hdr, "line")
            s["y2_axis"] = True
            line.add_series(s)
        chart.combine(line)
        y2 = {"num_format": NUM_FORMATS.get(table.formats[spec.secondary[0]], "General"),
              "major_gridlines": {"visible": False}}
        y2.update(_axis_names(spec)[1])
        line.set_y2_axis(y2)
    font = {"name": FONT, "size": 9}
    chart.set_title({"name": spec.title or table.title,
                     "name_font": {"name": FONT, "size": 12, "bold": True}})
    chart.set_size({"width": CHART_W, "height": chart_height(table, spec)})
    chart.set_legend({"position": "bottom" if spec.kind != "pie" else "right", "font": font})
    if spec.kind != "pie":
        y, _ = _axis_names(spec)
        value_axis = {"num_font": font, "major_gridlines": {"visible": True,
                      "line": {"color": "#E0E0E0"}}, **y}
        cat_axis: dict[str, Any] = {"num_font": font}
        if spec.kind == "bar":
            cat_axis["reverse"] = True  # largest first, at the top
            chart.set_y_axis(cat_axis)
            chart.set_x_axis(value_axis)
        else:
            chart.set_x_axis(cat_axis)
            chart.set_y_axis(value_axis)
        if len(spec.values) == 1 and not spec.secondary:
            chart.set_legend({"none": True})
    return chart


def write_chart_tables(book: XWorkbook, ws: Worksheet, fm: Formats, tables: Sequence[ChartTable],
                       first_row: int = 0) -> int:
    """Each table with its chart(s) to the right; returns the next free row."""
    row = first_row
    sheet = ws.get_name()
    ws.set_column(0, 0, 16)
    ws.set_column(1, 5, 13)
    for table in tables:
        ncols = len(table.columns)
        ws.write_string(row, 0, table.title, fm.subtitle)
        hdr = row + 1
        for c, name in enumerate(table.columns):
            ws.write_string(hdr, c, name, fm.header)
        for r, values in enumerate(table.rows, start=hdr + 1):
            for c, v in enumerate(values):
                kind = table.formats[c]
                if kind != "text" and isinstance(v, (int, float)) and not isinstance(v, bool):
                    ws.write_number(r, c, v, fm.for_column(kind))
                else:
                    write_text(ws, r, c, v, fm.text)
        end = hdr + len(table.rows)
        if table.note:
            ws.write_string(end + 1, 0, table.note, fm.note)
        chart_col = max(ncols, 4) + 1
        for k, spec in enumerate(table.charts):
            chart = add_chart(book, sheet, table, spec, hdr=hdr, c0=0)
            ws.insert_chart(row, chart_col + k * 9, chart, {"x_offset": 5, "y_offset": 2})
        tallest = max((chart_height(table, s) for s in table.charts), default=0)
        chart_rows = tallest // ROW_PX + 2 if table.charts else 0
        row = max(end + 3, row + chart_rows + 1)
    return row


def write_selection_xlsx(result: Any, path: Path,
                         progress: Callable[[int], None] | None = None) -> Path:
    """A QueryResult as a formatted workbook: the customers sheet plus a chart sheet."""
    lang = result.lang
    zh = lang == "zh"
    with atomic_path(path) as tmp:
        book = new_workbook(tmp)
        fm = Formats(book)
        write_records_sheet(book, fm, "客户" if zh else "Customers", result.fields,
                            result.rows(), lang, progress)
        ws = book.add_worksheet("图表" if zh else "Charts")
        ws.write_string(0, 0, ("客户导出" if zh else "Customer export"), fm.title)
        info = (f"筛选：{result.filters.describe(lang)}　日期：{result.today.isoformat()}　"
                f"共 {len(result.records)} 位客户" if zh else
                f"Filter: {result.filters.describe(lang)}   Date: {result.today.isoformat()}   "
                f"{len(result.records)} customers")
        write_text(ws, 1, 0, info, fm.text)
        end = write_chart_tables(book, ws, fm, selection_tables(result.records, lang), first_row=3)
        print_setup(ws)
        ws.print_area(0, 0, end, 22)
        book.set_properties({"title": "客户导出" if zh else "Customer export",
                             "comments": result.filters.describe(lang)})
        book.close()
    return path
