"""xlsx output with xlsxwriter: the selection sheet and chart sheets (tables + native charts).

Every text cell is written with `write_string` (never `write`), so text that starts
with = + - @ stays text; numbers with `write_number`, dates as real Excel dates.
xlsxwriter stores each chart's cached values, so viewers that do not recalculate
(previews, mobile apps) still draw them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from types import MethodType
from typing import Any

import xlsxwriter
from xlsxwriter.workbook import Workbook as XWorkbook
from xlsxwriter.worksheet import Worksheet

from .. import safe_text
from ..charts_data import NUMBER_FORMATS, ChartSpec, ChartTable, selection_tables
from ..schema import Field, Kind
from ..widths import column_pixels, fit_width, text_width
from . import atomic_path

FONT = "Microsoft YaHei"  # on every Chinese Windows/Office install; WPS maps it too
PALETTE = ("#4472C4", "#ED7D31", "#A5A5A5", "#FFC000", "#5B9BD5", "#70AD47", "#264478",
           "#9E480E", "#636363", "#997300", "#255E91", "#43682B")
NUM_FORMATS = NUMBER_FORMATS  # one format per kind of figure (charts_data)
CHART_W, CHART_H = 560, 300  # pixels
ROW_PX = 20
HEADER_PX = 40  # a table's header row (two lines)
CHART_COL = 7  # dashboard/chart sheets: tables in columns A-F, charts from column H
# A4 printable area in pixels (96 dpi) with the margins `print_setup` sets
PAGE_W_PX = {True: int((11.69 - 0.8) * 96), False: int((8.27 - 0.8) * 96)}  # landscape?
PAGE_H_PX = {True: int((8.27 - 1.3) * 96), False: int((11.69 - 1.3) * 96)}


def new_workbook(path: Path, *, fast: bool = False) -> XWorkbook:
    """An xlsxwriter workbook that never turns strings into formulas, numbers or links
    (`fast`: its shared strings written by a lean loop, the same XML; see `FastBook`)."""
    cls = FastBook if fast and fast_ok() else xlsxwriter.Workbook
    return cls(str(path), {
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
        self.int = book.add_format({**base, "num_format": NUM_FORMATS["int"]})
        self.num = book.add_format({**base, "num_format": NUM_FORMATS["num"]})
        self.wan = book.add_format({**base, "num_format": NUM_FORMATS["wan"]})
        self.pct = book.add_format({**base, "num_format": NUM_FORMATS["pct"]})
        self.day = book.add_format({**base, "num_format": NUM_FORMATS["date"]})
        self.title = book.add_format({**base, "bold": True, "font_size": 14})
        self.subtitle = book.add_format({**base, "bold": True, "font_size": 11,
                                         "font_color": "#1F4E79"})
        self.note = book.add_format({**base, "italic": True, "font_color": "#595959"})
        self.note_wrap = book.add_format({**base, "italic": True, "font_color": "#595959",
                                          "text_wrap": True, "font_size": 9})
        card = {**base, "bg_color": "#F3F7FB", "left": 1, "right": 1, "border_color": "#BDD7EE",
                "valign": "vcenter"}
        self.kpi_label = book.add_format({**card, "top": 1, "font_color": "#404040"})
        self.kpi_note = book.add_format({**card, "bottom": 1, "font_size": 9,
                                         "font_color": "#595959", "text_wrap": True})
        self.kpi_value = {k: book.add_format({**card, "bold": True, "font_size": 16,
                                              "font_color": "#1F4E79", "align": "left",
                                              "num_format": NUM_FORMATS[k]})
                          for k in ("int", "wan", "num", "pct")}
        self.mark_red = book.add_format({"bg_color": "#F8CBAD", "font_color": "#9C0006"})
        self.mark_orange = book.add_format({"bg_color": "#FFE699", "font_color": "#7F6000"})

    def for_column(self, kind: str) -> Any:
        return {"int": self.int, "num": self.num, "wan": self.wan, "pct": self.pct,
                "date": self.day}.get(kind, self.text)


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
    widths = []
    for c, f in enumerate(fields):
        col_fmt = fm.code if f.kind == Kind.CODE else None
        width = max(float(f.width), fit_width(f.header(lang), (safe_text.display(r[c])
                                                                for r in rows[:2000])))
        widths.append(width)
        ws.set_column(c, c, width, col_fmt)
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
    table_page_setup(ws, widths, frozen_cols=min(2, len(fields)))
    return ws


def print_setup(ws: Worksheet, *, landscape: bool = True, fit: bool = True) -> None:
    """A4, landscape (or portrait for a narrow sheet), one page wide, page numbers."""
    if landscape:
        ws.set_landscape()
    else:
        ws.set_portrait()
    ws.set_paper(9)
    if fit:
        ws.fit_to_pages(1, 0)
    ws.set_margins(left=0.4, right=0.4, top=0.5, bottom=0.5)
    ws.set_footer("&C&P / &N")


def table_page_setup(ws: Worksheet, widths: Sequence[float], *, frozen_cols: int = 0) -> None:
    """Page setup for a data sheet (one header row): A4, portrait when the columns fit a
    portrait page, header row repeated on every page. Up to 1.6 landscape pages wide it
    fits to one page wide; a wider sheet fits to as many pages across as it needs at about
    70 % (one fewer when the last would be nearly empty and the text stays >= 60 %), with
    the first `frozen_cols` columns repeated (never 25 columns at 5 pt)."""
    px = sum(column_pixels(w) for w in widths)
    ws.repeat_rows(0)
    if px <= PAGE_W_PX[False]:
        print_setup(ws, landscape=False)
    elif px <= PAGE_W_PX[True] * 1.6:
        print_setup(ws)
    else:  # across pages at about 70 %, the first columns repeated; no near-empty last page
        page = PAGE_W_PX[True]
        rep = sum(column_pixels(w) for w in widths[:frozen_cols])
        need = (px - rep) * 0.7 / (page - rep * 0.7)
        pages = max(1, -(-int(need * 100) // 100))
        if pages > 1 and need - (pages - 1) < 0.35:
            fewer = pages - 1
            if fewer * page / (px - rep + fewer * rep) >= 0.6:
                pages = fewer
        print_setup(ws, fit=False)
        ws.fit_to_pages(pages, 0)
        if frozen_cols:
            ws.repeat_columns(0, frozen_cols - 1)


def _axis_names(spec: ChartSpec) -> tuple[dict, dict]:
    return ({"name": spec.y_title} if spec.y_title else {},
            {"name": spec.y2_title} if spec.y2_title else {})


def nice_step(top: float) -> int:
    """A whole-number tick step giving at most 8 ticks up to `top` (1, 2, 5, 10, 20, 50…)."""
    mag = 1
    while True:
        for m in (1, 2, 5):
            if top / (m * mag) <= 8:
                return m * mag
        mag *= 10


def axis_scale(table: ChartTable, cols: Sequence[int]) -> dict[str, Any]:
    """Value-axis settings for one kind of figure: counts from 0 in whole-number ticks,
    shares from 0 % to at most 100 %, 万元 from 0 in the one 万元 format."""
    kind = table.formats[cols[0]] if cols else "int"
    top = max((float(r[c]) for r in table.rows for c in cols
               if isinstance(r[c], (int, float)) and not isinstance(r[c], bool)), default=0.0)
    out: dict[str, Any] = {"min": 0, "num_format": NUM_FORMATS.get(kind, "General")}
    if kind == "int":
        step = nice_step(top)
        out["major_unit"] = step
        out["max"] = (int(top) // step + 1) * step
    elif kind == "pct":
        top_pct = 1.0 if top > 0.5 else 0.5 if top > 0.2 else 0.2
        out.update({"max": top_pct, "major_unit": top_pct / 5, "num_format": "0%"})
    return out


def _series(sheet: str, table: ChartTable, col: int, r0: int, r1: int, c0: int, i: int,
            hdr: int, kind: str, inside: bool = False) -> dict:
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
        if r1 - r0 < 8:
            s["data_labels"] = {"value": True, "position": "above",
                                "num_format": NUM_FORMATS[table.formats[col]]}
    else:
        s["fill"] = {"color": PALETTE[i % len(PALETTE)]}
        s["gap"] = 60
        if r1 - r0 < 12:
            s["data_labels"] = {"value": True, "num_format": NUM_FORMATS[table.formats[col]]}
            if inside:  # a line on the secondary axis labels above the bars' tops
                s["data_labels"].update({"position": "inside_end",
                                         "font": {"color": "#FFFFFF", "bold": True}})
    return s


def chart_height(table: ChartTable, spec: ChartSpec) -> int:
    """Pixels: horizontal bar charts grow with their categories."""
    return max(CHART_H, 18 * len(table.rows) + 80) if spec.kind == "bar" else CHART_H


def add_chart(book: XWorkbook, sheet: str, table: ChartTable, spec: ChartSpec, *, hdr: int,
              c0: int) -> Any:
    """A native chart over a table written at header row `hdr`, first column `c0`."""
    r0, r1 = hdr + 1, hdr + max(len(table.rows), 1)
    chart = book.add_chart({"type": spec.kind})
    for i, col in enumerate(spec.values):
        chart.add_series(_series(sheet, table, col, r0, r1, c0, i, hdr, spec.kind,
                                 inside=bool(spec.secondary)))
    font = {"name": FONT, "size": 9}
    if spec.secondary:
        line = book.add_chart({"type": "line"})
        for j, col in enumerate(spec.secondary):
            s = _series(sheet, table, col, r0, r1, c0, len(spec.values) + j, hdr, "line")
            s["y2_axis"] = True
            if len(spec.values) > 1:  # labels of two bar series already crowd the plot
                s.pop("data_labels", None)
            line.add_series(s)
        chart.combine(line)
        y2 = {**axis_scale(table, spec.secondary), "major_gridlines": {"visible": False},
              "num_font": font}
        y2.update(_axis_names(spec)[1])
        line.set_y2_axis(y2)
    chart.set_title({"name": spec.title or table.title,
                     "name_font": {"name": FONT, "size": 12, "bold": True}})
    chart.set_size({"width": CHART_W, "height": chart_height(table, spec)})
    chart.set_legend({"position": "bottom" if spec.kind != "pie" else "right", "font": font})
    if spec.kind != "pie":
        y, _ = _axis_names(spec)
        value_axis = {"num_font": font, "major_gridlines": {"visible": True,
                      "line": {"color": "#E0E0E0"}}, **axis_scale(table, spec.values), **y}
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


def write_table(ws: Worksheet, fm: Formats, table: ChartTable, row: int) -> int:
    """A figure's title, header and rows from `row`; the header row's index."""
    ws.write_string(row, 0, table.title, fm.subtitle)
    hdr = row + 1
    for c, name in enumerate(table.columns):
        ws.write_string(hdr, c, name, fm.header)
    ws.set_row(hdr, HEADER_PX * 3 // 4)
    for r, values in enumerate(table.rows, start=hdr + 1):
        for c, v in enumerate(values):
            kind = table.formats[c]
            if kind == "date" and isinstance(v, dt.date):
                ws.write_datetime(r, c, dt.datetime.combine(v, dt.time()), fm.day)
            elif kind != "text" and isinstance(v, (int, float)) and not isinstance(v, bool):
                ws.write_number(r, c, v, fm.for_column(kind))
            else:
                write_text(ws, r, c, v, fm.text)
    if table.mark is not None and table.rows:
        last = hdr + len(table.rows)
        ws.conditional_format(hdr + 1, table.mark, last, table.mark,
                              {"type": "cell", "criteria": ">", "value": 30,
                               "format": fm.mark_red})
        ws.conditional_format(hdr + 1, table.mark, last, table.mark,
                              {"type": "cell", "criteria": ">", "value": 0,
                               "format": fm.mark_orange})
    return hdr


def size_columns(ws: Worksheet, tables: Sequence[ChartTable], extra: Sequence[Sequence[Any]] = (),
                 ncols: int = CHART_COL - 1) -> list[float]:
    """Widths for the table columns of a chart sheet, fitted to every table's headers and
    values (CJK as double width); headers longer than the cap wrap."""
    widths = []
    for c in range(ncols):
        values: list[Any] = [v[c] for v in extra if c < len(v)]
        for t in tables:
            if c < len(t.columns):
                values.append(t.columns[c] if c else "")
                values.extend(r[c] if t.formats[c] != "date" else "yyyy-mm-dd" for r in t.rows)
        cap = 20.0 if c == 0 else 16.0
        widths.append(fit_width("", values, minimum=9.0, maximum=cap))
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    ws.set_column(ncols, ncols, 2)
    return widths


class PageFlow:
    """Tracks the printed height of a sheet so whole blocks (a table with its charts) never
    break across a page: a manual page break goes before a block that would not fit."""

    def __init__(self, ws: Worksheet, width_px: int, landscape: bool = True) -> None:
        self.ws = ws
        scale = min(1.0, PAGE_W_PX[landscape] / max(width_px, 1))
        self.page_h = PAGE_H_PX[landscape] / scale
        self.used = 0.0
        self.breaks: list[int] = []

    def block(self, row: int, height_px: float) -> None:
        """A block starting at `row`, `height_px` tall (sheet pixels)."""
        if self.used and self.used + height_px > self.page_h:
            self.breaks.append(row)
            self.used = 0.0
        self.used += height_px

    def finish(self) -> None:
        if self.breaks:
            self.ws.set_h_pagebreaks(self.breaks)


def _note_lines(note: str, widths: Sequence[float]) -> int:
    room = max(sum(widths[: CHART_COL - 1]) * 0.95, 10.0)
    return max(1, -(-int(text_width(note)) // int(room)))


def write_chart_tables(book: XWorkbook, ws: Worksheet, fm: Formats, tables: Sequence[ChartTable],
                       first_row: int = 0, flow: PageFlow | None = None,
                       widths: Sequence[float] = ()) -> int:
    """Each table with its chart(s) to the right (a second chart below the first); returns
    the next free row. With `flow`, a page break goes before a block that would be cut."""
    row = first_row
    sheet = ws.get_name()
    open_block: tuple[int, int] | None = None  # (block start row, row after its table)
    for i, table in enumerate(tables):
        note_lines = _note_lines(table.note, widths) if table.note else 0
        if table.beside and open_block is not None:
            # under the previous figure's table, level with its chart (no chart of its own)
            start, below = open_block
            hdr = write_table(ws, fm, table, below + 1)
            end = hdr + len(table.rows)
            if table.note:
                ws.merge_range(end + 1, 0, end + 1, CHART_COL - 2, table.note, fm.note_wrap)
                ws.set_row(end + 1, 13.5 * note_lines)
            row = max(row, end + (2 + note_lines if table.note else 2))
            open_block = None
            continue
        heights = [chart_height(table, s) for s in table.charts]
        chart_px = sum(heights) + 10 * max(len(heights) - 1, 0)
        table_px = ROW_PX * (len(table.rows) + 2 + note_lines) + HEADER_PX
        nxt = tables[i + 1] if i + 1 < len(tables) else None
        if nxt is not None and nxt.beside:
            extra = _note_lines(nxt.note, widths) if nxt.note else 0
            table_px += ROW_PX * (len(nxt.rows) + 2 + extra) + HEADER_PX
        block_px = max(chart_px + ROW_PX, table_px) + ROW_PX
        if flow is not None:
            flow.block(row, block_px)
        hdr = write_table(ws, fm, table, row)
        end = hdr + len(table.rows)
        if table.note:  # wrapped across the table columns, never hidden under the chart
            ws.merge_range(end + 1, 0, end + 1, CHART_COL - 2, table.note, fm.note_wrap)
            ws.set_row(end + 1, 13.5 * note_lines)
        y = 2
        for spec, h in zip(table.charts, heights, strict=True):
            chart = add_chart(book, sheet, table, spec, hdr=hdr, c0=0)
            ws.insert_chart(row, CHART_COL, chart, {"x_offset": 0, "y_offset": y,
                                                    "object_position": 1})
            y += h + 10
        # rows the block takes: the table (header row is taller) or its charts, and a gap
        table_rows = end - row + (2 + note_lines if table.note else 2)
        chart_rows = (-(-(chart_px + 4 - (HEADER_PX - ROW_PX)) // ROW_PX) + 1) if heights else 0
        open_block = (row, end + (1 + note_lines if table.note else 0))
        row = row + max(table_rows, chart_rows)
    return row


def sheet_width_px(widths: Sequence[float], charts: bool = True) -> int:
    """Printed width of a chart sheet: the table columns, the gap and a chart."""
    return sum(column_pixels(w) for w in widths) + column_pixels(2) + (CHART_W + 10 if charts else 0)


def finish_chart_sheet(ws: Worksheet, widths: Sequence[float], flow: PageFlow, end: int,
                       charts: bool = True) -> None:
    """Page setup of a chart sheet: A4 landscape, one page wide, blocks never cut, print
    area up to the last row used (no near-blank page at the end)."""
    flow.finish()
    print_setup(ws)
    last_col = CHART_COL + (-(-CHART_W // 64) - 1 if charts else 0)
    ws.set_column(CHART_COL, last_col, 8.43)
    ws.print_area(0, 0, max(end - 1, 0), last_col)
    ws.hide_gridlines(2)


def write_selection_xlsx(result: Any, path: Path,
                         progress: Callable[[int], None] | None = None) -> Path:
    """A QueryResult as a formatted workbook: the customers sheet plus a chart sheet
    whose figures are computed on the selection."""
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
        tables = selection_tables(result.records, lang)
        widths = size_columns(ws, tables)
        flow = PageFlow(ws, sheet_width_px(widths))
        flow.block(0, 3 * ROW_PX)
        end = write_chart_tables(book, ws, fm, tables, first_row=3, flow=flow, widths=widths)
        finish_chart_sheet(ws, widths, flow, end)
        book.set_properties({"title": "客户导出" if zh else "Customer export",
                             "comments": result.filters.describe(lang)})
        book.close()
    return path


# ---------------------------------------------------------------- long sheets, fast
# A listing of tens of thousands of rows (the dashboard's overdue follow-ups) spends most
# of its time in xlsxwriter's per-cell Python. `put_block` takes a block of rows given
# column by column and `fast_rows` renders it in bulk when the workbook closes: the same
# shared strings, dimensions and sheet XML, byte for byte, as write_string / write_number
# / write_datetime / write_blank cell by cell and xlsxwriter's own row writer (a test
# compares both). The other rows of the sheet go through xlsxwriter's code.

_FAST_VERSIONS = ("3.3.1",)  # the xlsxwriter versions whose sheet XML the fast loop mirrors


def fast_ok() -> bool:
    return xlsxwriter.__version__ in _FAST_VERSIONS


class Block:
    """Rows `first`..`first + n - 1` and columns 0..len(columns) - 1 of a sheet, every
    cell present: per column (format, kind, values) with kind "s" (values: shared-string
    index, or None for a formatted blank cell) or "n" (a number, or a date's serial)."""

    def __init__(self, first: int, n: int, columns: list[tuple[Any, str, list[Any]]]) -> None:
        self.first, self.n, self.columns = first, n, columns

    @property
    def last(self) -> int:
        return self.first + self.n - 1

    def cells(self, row: int) -> dict[int, Any]:
        """One row as xlsxwriter's cell tuples (when the block cannot be written in bulk)."""
        from xlsxwriter.worksheet import CellBlankTuple, CellNumberTuple, CellStringTuple

        i = row - self.first
        out: dict[int, Any] = {}
        for c, (fmt, kind, values) in enumerate(self.columns):
            v = values[i]
            out[c] = (CellBlankTuple(fmt) if v is None else CellStringTuple(v, fmt)) \
                if kind == "s" else CellNumberTuple(v, fmt)
        return out


def put_block(book: XWorkbook, ws: Worksheet, first: int,
              columns: Sequence[tuple[Any, str, Sequence[Any]]]) -> bool:
    """Put a block of rows from `first` down, given by column: (format, kind, values) with
    kind "text" (str, or "" / None for a blank cell with the format: texts as
    write_string takes them, already masked), "number" (int or float) or "date"
    (dt.date: written as write_datetime writes its midnight). False, with nothing
    written, when the block does not qualify (xlsxwriter, format or values not plain, a
    string that may need truncating, outside the sheet): write cell by cell then."""
    if not fast_ok() or ws.constant_memory or not columns or getattr(ws, "_crm_block", None):
        return False
    n = len(columns[0][2])
    if n == 0 or any(len(vals) != n for _f, _k, vals in columns) \
            or first < 0 or first + n - 1 >= ws.xls_rowmax or len(columns) > ws.xls_colmax:
        return False
    limit = ws.xls_strmax // 2
    D, DT = dt.date, dt.datetime  # noqa: N806
    for fmt, kind, vals in columns:
        if fmt is None:
            return False
        types = set(map(type, vals))
        if kind == "text":
            if not types <= {str, type(None)} or max(map(len, filter(None, vals)),
                                                     default=0) > limit:
                return False
        elif kind == "number":
            if not types <= {int, float} or (float in types and any(
                    v != v or v in (math.inf, -math.inf) for v in vals)):
                return False
        elif kind != "date" or types != {D}:
            return False
    # shared strings in the order write_string would have added them, row by row (what
    # SharedStringTable._get_shared_string_index does, inline)
    strings = book.str_table
    table = strings.string_table
    texts = [c for c, (_f, kind, _v) in enumerate(columns) if kind == "text"]
    index: dict[int, list[Any]] = {c: [] for c in texts}
    if texts:
        cols = [columns[c][2] for c in texts]
        outs = [index[c] for c in texts]
        used = 0
        for vals in zip(*cols, strict=True):
            for v, out in zip(vals, outs, strict=True):
                if not v:
                    out.append(None)
                    continue
                i = table.get(v)
                if i is None:
                    i = table[v] = strings.unique_count
                    strings.unique_count += 1
                out.append(i)
                used += 1
        strings.count += used
    block_cols: list[tuple[Any, str, list[Any]]] = []
    for c, (fmt, kind, vals) in enumerate(columns):
        if kind == "text":
            block_cols.append((fmt, "s", index[c]))
        elif kind == "number":
            block_cols.append((fmt, "n", list(vals)))
        else:
            serial = {d: ws._convert_date_time(DT.combine(d, dt.time())) for d in set(vals)}
            block_cols.append((fmt, "n", [serial[d] for d in vals]))
    block = Block(first, n, block_cols)
    ws._check_dimensions(first, 0)
    ws._check_dimensions(block.last, len(columns) - 1)
    ws._crm_block = block
    ws._write_rows = MethodType(_write_rows_fast, ws)
    return True


def _spans(self: Worksheet, block: Block | None) -> dict[int, str]:
    """Worksheet._calculate_spans over the rows there are (and the block's, every one
    from column 0 to its last): the same "first:last" column per block of 16 rows."""
    rmin, rmax, cmin, cmax = self.dim_rowmin, self.dim_rowmax, self.dim_colmin, self.dim_colmax
    lo: dict[int, int] = {}
    hi: dict[int, int] = {}

    def see(row_num: int, a: int, b: int) -> None:
        k = int(row_num / 16)
        if k not in lo or a < lo[k]:
            lo[k] = a
        if k not in hi or b > hi[k]:
            hi[k] = b

    for source in (self.table, self.comments):
        for row_num, cells in source.items():
            if not cells or row_num < rmin or row_num > rmax:
                continue
            cols = [c for c in cells if cmin <= c <= cmax]
            if cols:
                see(row_num, min(cols), max(cols))
    if block is not None:
        last_col = min(len(block.columns) - 1, cmax)
        for row_num in range(block.first, block.last + 1, 16):
            see(row_num, max(0, cmin), last_col)
        see(block.last, max(0, cmin), last_col)
    return {k: f"{lo[k] + 1}:{hi[k] + 1}" for k in sorted(lo)}


def _write_block(self: Worksheet, block: Block, spans: dict[int, str]) -> None:
    """The block's rows in bulk: each cell's XML after its reference made once per
    distinct value, each row one string."""
    from xlsxwriter.utility import xl_col_to_name

    tails: list[list[str]] = []
    for fmt, kind, values in block.columns:
        xf = fmt._get_xf_index()  # first use in sheet order, as _write_cell does
        made: dict[Any, str] = {}
        if kind == "s":
            made[None] = f'" s="{xf}"/>'
            for v in set(values):
                if v is not None:
                    made[v] = f'" s="{xf}" t="s"><v>{v}</v></c>'
        else:
            for v in set(values):
                made[v] = f'" s="{xf}"><v>{v:.16G}</v></c>'
        tails.append([made[v] for v in values])
    cells = "".join(f'<c r="{xl_col_to_name(c)}{{0}}{{{c + 1}}}'
                    for c in range(len(block.columns)))
    templates: dict[str | None, str] = {}
    out: list[str] = []
    first = block.first
    for i, row in enumerate(zip(*tails, strict=True)):
        r = first + i
        span = spans.get(int(r / 16))
        tpl = templates.get(span)
        if tpl is None:
            tpl = templates[span] = ((f'<row r="{{0}}" spans="{span}">' if span else
                                      '<row r="{0}">') + cells + "</row>")
        out.append(tpl.format(r + 1, *row))
        if len(out) >= 4096:
            self.fh.write("".join(out))
            out = []
    self.fh.write("".join(out))


def _write_rows_fast(self: Worksheet) -> None:  # noqa: C901 - mirrors Worksheet._write_rows
    block: Block | None = getattr(self, "_crm_block", None)
    table, row_info, comments = self.table, self.row_info, self.comments
    if block is not None and (self.default_row_height != self.original_row_height or any(
            r in row_info or r in comments or table.get(r)
            for r in range(block.first, block.last + 1))):
        for r in range(block.first, block.last + 1):  # not in bulk: as cells, the same XML
            table[r].update(block.cells(r))
        block = None
    if block is None:
        Worksheet._write_rows(self)
        return
    self.row_spans = spans = _spans(self, block)
    row_num = self.dim_rowmin
    while row_num <= self.dim_rowmax:
        if row_num == block.first:
            _write_block(self, block, spans)
            row_num = block.last + 1
            continue
        cells = table[row_num]
        if row_num in row_info or row_num in comments or cells:
            span = spans.get(int(row_num / 16))
            if cells:
                self._write_row(row_num, span, row_info.get(row_num))
                for col_num in range(self.dim_colmin, self.dim_colmax + 1):
                    if col_num in cells:
                        self._write_cell(row_num, col_num, cells[col_num])
                self._xml_end_tag("row")
            else:
                self._write_empty_row(row_num, span, row_info.get(row_num))
        row_num += 1


# a string of a "\ue000"-joined list starting or ending with whitespace (xlsxwriter's
# _preserve_whitespace): such a string gets xml:space="preserve"
_EDGE_SPACE = re.compile("(?:^|\ue000)\\s|\\s(?:\ue000|$)")


class FastBook(XWorkbook):
    """An xlsxwriter Workbook whose shared-strings part is written by a lean loop (the
    same XML: strings that need more than escaping take xlsxwriter's own path). A long
    listing has a hundred thousand distinct strings (customer IDs, names)."""

    def _get_packager(self) -> Any:  # xlsxwriter's documented override point
        from xlsxwriter.packager import Packager
        from xlsxwriter.sharedstrings import SharedStrings
        from xlsxwriter.xmlwriter import re_control_chars_1, re_control_chars_2

        class Strings(SharedStrings):
            def _write_sst_strings(self) -> None:
                strings = self.string_table.string_array
                joined = "\ue000".join(strings)  # a separator that cannot join a pattern
                if re_control_chars_1.search(joined) or re_control_chars_2.search(joined):
                    super()._write_sst_strings()
                    return
                escape = "&" in joined or "<" in joined or ">" in joined
                write = self.fh.write
                if strings and joined.count("\ue000") == len(strings) - 1 \
                        and "<r>" not in joined and not _EDGE_SPACE.search(joined):
                    # no string needs more than escaping: all of them in one piece
                    if escape:
                        joined = joined.replace("&", "&amp;").replace("<", "&lt;") \
                            .replace(">", "&gt;")
                    write("<si><t>" + joined.replace("\ue000", "</t></si><si><t>")
                          + "</t></si>")
                    return
                out: list[str] = []
                for s in strings:
                    if s[:1].isspace() or s[-1:].isspace() or (
                            s.startswith("<r>") and s.endswith("</r>")):
                        write("".join(out))
                        out = []
                        self._write_si(s)
                        continue
                    if escape:
                        s = s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
                    out.append("<si><t>" + s + "</t></si>")
                write("".join(out))

        class FastPackager(Packager):
            def _write_shared_strings_file(self) -> None:
                sst = Strings()
                sst.string_table = self.workbook.str_table
                if not self.workbook.str_table.count:
                    return
                sst._set_xml_writer(self._filename("xl/sharedStrings.xml"))
                sst._assemble_xml_file()

        return FastPackager()
