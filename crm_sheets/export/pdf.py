"""PDF output with fpdf2: A4 landscape, Chinese in an embedded Simplified-Chinese font.

The font is the SC face of a CJK collection (crm_sheets.fonts), embedded as a subset,
so readers need no Chinese font pack and never substitute Japanese glyph forms.
Charts are drawn by matplotlib in the same font and placed as images.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fpdf import FPDF

from .. import fonts, safe_text
from ..charts_data import ChartSpec, ChartTable, Dashboard, format_value, selection_tables
from ..schema import Kind
from . import atomic_path

FAMILY = "CJK"
# Columns shown in the PDF table (the xlsx/CSV carry every column), with relative widths.
PDF_COLUMNS = ("customer_id", "name", "industry", "province", "city", "contact_name", "phone",
               "customer_type", "source", "owner", "stage", "expected_amount", "status",
               "last_followup", "followup_summary")
_WIDTH_OVERRIDE = {"customer_id": 22, "name": 34, "phone": 22, "followup_summary": 46,
                   "last_followup": 18, "expected_amount": 15}
COLORS = ("#4472C4", "#ED7D31", "#A5A5A5", "#FFC000", "#5B9BD5", "#70AD47", "#264478",
          "#9E480E", "#636363", "#997300", "#255E91", "#43682B")


def _fallback_font() -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans.ttf"


class ReportPDF(FPDF):
    """A4 landscape with the CJK font registered, a running footer and page numbers."""

    def __init__(self, title: str, lang: str = "zh") -> None:
        super().__init__(orientation="L", unit="mm", format="A4")
        self.report_title = title
        self.report_lang = lang
        self.set_margins(10, 10, 10)
        self.set_auto_page_break(True, margin=12)
        font = fonts.cjk_font()
        if font is not None:
            self.add_font(FAMILY, "", str(font.path), collection_font_number=font.face)
        else:
            self.add_font(FAMILY, "", str(_fallback_font()))
        self.set_font(FAMILY, size=9)
        self.set_title(title)
        self.set_creator("crm-sheets")
        self.set_lang("zh-CN" if lang == "zh" else "en")

    def footer(self) -> None:
        self.set_y(-9)
        self.set_font(FAMILY, size=7.5)
        self.set_text_color(110)
        page = (f"第 {self.page_no()} / {{nb}} 页" if self.report_lang == "zh"
                else f"Page {self.page_no()} of {{nb}}")
        self.cell(0, 5, self.report_title, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, page, align="R")
        self.set_text_color(0)

    def heading(self, text: str, size: float = 16) -> None:
        self.set_font(FAMILY, size=size)
        self.multi_cell(0, size * 0.5, clean(text), new_x="LMARGIN", new_y="NEXT")
        self.set_font(FAMILY, size=9)

    def line_text(self, text: str, size: float = 9, color: int = 60) -> None:
        self.set_font(FAMILY, size=size)
        self.set_text_color(color)
        self.multi_cell(0, size * 0.5, clean(text), new_x="LMARGIN", new_y="NEXT")
        self.set_text_color(0)
        self.set_font(FAMILY, size=9)

    def grid(self, headers: Sequence[str], rows: Sequence[Sequence[str]],
             widths: Sequence[float], *, size: float = 7.5, width: float | None = None,
             align: Sequence[str] | None = None, max_lines: int = 12,
             marks: Sequence[tuple[int, int, int] | None] | None = None, mark_col: int = -1
             ) -> None:
        """A bordered table: header repeated on every page, long text wrapped; with
        `marks`, cell `mark_col` of row i is filled with marks[i] (overdue days).

        Drawn directly (text + rect) rather than with fpdf2's table(), which is ~10x
        slower; a cell longer than `max_lines` lines ends with an ellipsis.
        """
        self.set_font(FAMILY, size=size)
        total = width or self.epw
        pad = 0.9
        ws = self.fit_columns([clean(h) for h in headers], widths, total, pad)
        align = list(align) if align else ["LEFT"] * len(ws)
        line_h = size * 0.3528 * 1.22
        head = [self._wrap_header(clean(h), w - 2 * pad) for h, w in zip(headers, ws, strict=True)]
        head_h = max(len(x) for x in head) * line_h + 2 * pad
        x0 = self.get_x()
        bottom = self.h - self.b_margin

        def draw(cells: list[list[str]], h: float, fill: tuple[int, int, int] | None,
                 aligns: list[str], mark: tuple[int, int, int] | None = None) -> None:
            y = self.get_y()
            x = x0
            if fill is not None:
                self.set_fill_color(*fill)
                self.rect(x0, y, total, h, style="F")
            for c, (lines, w, al) in enumerate(zip(cells, ws, aligns, strict=True)):
                if mark is not None and c == mark_col:
                    self.set_fill_color(*mark)
                    self.rect(x, y, w, h, style="F")
                self.rect(x, y, w, h)
                for k, text in enumerate(lines):
                    base = y + pad + k * line_h + size * 0.3528 * 0.95
                    if al == "RIGHT":
                        tx = x + w - pad - self._text_w(text)
                    elif al == "CENTER":
                        tx = x + (w - self._text_w(text)) / 2
                    else:
                        tx = x + pad
                    if text:
                        self.text(tx, base, text)
                x += w
            self.set_xy(x0, y + h)

        self.set_draw_color(190)
        self.set_line_width(0.15)
        head_align = ["CENTER" if a == "CENTER" else "LEFT" for a in align]
        draw(head, head_h, (221, 235, 247), head_align)
        for i, row in enumerate(rows):
            cells = [self._wrap(v, w - 2 * pad, max_lines) for v, w in zip(row, ws, strict=True)]
            h = max(len(c) for c in cells) * line_h + 2 * pad
            if self.get_y() + h > bottom:
                self.add_page()
                self.set_x(x0)
                self.set_font(FAMILY, size=size)
                draw(head, head_h, (221, 235, 247), head_align)
            draw(cells, h, (246, 246, 246) if i % 2 else None, align,
                 marks[i] if marks is not None else None)
        self.set_draw_color(0)
        self.set_font(FAMILY, size=9)

    def header_words(self, header: str) -> list[str]:
        """A header's unbreakable pieces: a CJK header breaks only before a bracket
        (预计金额 / (万元)), a Latin one between words; never inside a word (商机阶/段)."""
        import re

        return [p for p in re.split(r"\s+|(?=[(（])", header) if p]

    def fit_columns(self, headers: Sequence[str], weights: Sequence[float], total: float,
                    pad: float) -> list[float]:
        """Column widths in proportion to `weights`, but each at least as wide as its
        header's longest unbreakable piece; the others give up the difference."""
        need = [max((self._text_w(w) for w in self.header_words(h)), default=0.0) + 2 * pad + 0.3
                for h in headers]
        ws = [w * total / float(sum(weights) or 1) for w in weights]
        for _ in range(len(ws)):
            short = [i for i, w in enumerate(ws) if w < need[i] - 1e-6]
            if not short:
                break
            fixed = set(short)
            for i in short:
                ws[i] = need[i]
            rest = [i for i in range(len(ws)) if i not in fixed and ws[i] > need[i]]
            over = sum(ws) - total
            room = sum(ws[i] - need[i] for i in rest)
            if over <= 0 or room <= 0:
                break
            for i in rest:
                ws[i] -= over * (ws[i] - need[i]) / room
        return ws

    def _text_w(self, text: str) -> float:
        cache = self._widths()
        total = 0.0
        for ch in text:
            w = cache.get(ch)
            if w is None:
                w = cache[ch] = self.get_string_width(ch)
            total += w
        return total

    def _widths(self) -> dict[str, float]:
        key = self.font_size_pt
        caches = self.__dict__.setdefault("_width_caches", {})
        cache = caches.get(key)
        if cache is None:
            cache = caches[key] = {}
        return cache

    def _wrap_header(self, text: str, avail: float) -> list[str]:
        """Header lines broken only between the header's pieces (see `header_words`)."""
        import re

        lines: list[str] = []
        cur = ""
        for piece in re.split(r"(?<=\s)|(?=[(（])", text):
            if not piece:
                continue
            if cur and self._text_w((cur + piece).rstrip()) > avail:
                lines.append(cur.rstrip())
                cur = piece.lstrip()
            else:
                cur += piece
        lines.append(cur.rstrip())
        return lines

    def _wrap(self, text: str, avail: float, max_lines: int) -> list[str]:
        """Greedy line breaking by character width (CJK has no spaces); Latin words kept
        whole when they fit on a line."""
        if not text:
            return [""]
        cache = self._widths()
        lines: list[str] = []
        for para in text.split("\n"):
            cur: list[str] = []
            cur_w = 0.0
            last_space = -1
            for ch in para:
                w = cache.get(ch)
                if w is None:
                    w = cache[ch] = self.get_string_width(ch)
                if cur and cur_w + w > avail:
                    if ch != " " and 0 < last_space < len(cur) - 1 and ord(ch) < 0x2E80:
                        tail = cur[last_space + 1:]
                        lines.append("".join(cur[:last_space]))
                        cur = tail
                        cur_w = sum(cache[c] for c in cur)
                    else:
                        lines.append("".join(cur))
                        cur, cur_w = [], 0.0
                    last_space = -1
                    if ch == " " and not cur:
                        continue
                if ch == " ":
                    last_space = len(cur)
                cur.append(ch)
                cur_w += w
            lines.append("".join(cur))
            if len(lines) >= max_lines:
                break
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            lines[-1] = lines[-1][:-1] + "…"
        return lines


def clean(value: Any) -> str:
    """Cell text for the PDF: redacted, one string, no control characters."""
    text = safe_text.strip_controls(safe_text.display(value))
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")


# ---------------------------------------------------------------- matplotlib charts


def chart_png(table: ChartTable, spec: ChartSpec, *, width_in: float = 6.4,
              height_in: float = 3.4, dpi: int = 150) -> bytes:
    """One chart as PNG bytes, drawn in the Simplified-Chinese font."""
    import matplotlib
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    rc = {"font.family": fonts.matplotlib_family(), "axes.unicode_minus": False,
          "font.size": 8, "axes.spines.top": False, "axes.spines.right": False}
    with matplotlib.rc_context(rc):
        fig = Figure(figsize=(width_in, height_in), dpi=dpi)
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        cats = [clean(r[0]) for r in table.rows]
        x = list(range(len(cats)))
        if spec.kind == "pie":
            vals = [float(r[spec.values[0]] or 0) for r in table.rows]
            if sum(vals) > 0:
                wedges, _t, _a = ax.pie(vals, colors=COLORS[: len(vals)] * 2, startangle=90,
                                        counterclock=False, autopct=_pct_label,
                                        pctdistance=0.75, wedgeprops={"linewidth": 0.5,
                                                                       "edgecolor": "white"})
                ax.legend(wedges, cats, loc="center left", bbox_to_anchor=(1.0, 0.5),
                          frameon=False)
            ax.set_aspect("equal")
        elif spec.kind == "bar":
            col = spec.values[0]
            n = len(spec.values)
            h = 0.8 / max(n, 1)
            for i, col in enumerate(spec.values):
                ax.barh([k + (i - (n - 1) / 2) * h for k in x], [r[col] or 0 for r in table.rows],
                        height=h, color=COLORS[i], label=table.columns[col])
            ax.set_yticks(x, cats)
            ax.invert_yaxis()
            ax.set_xlabel(spec.y_title or table.columns[spec.values[0]])
            _value_axis(ax.xaxis, ax.set_xlim, table, spec.values)
            if n > 1:
                ax.legend(loc="lower right", frameon=False, fontsize=7)
        else:
            n = len(spec.values)
            width = 0.8 / max(n, 1)
            for i, col in enumerate(spec.values):
                ys = [r[col] or 0 for r in table.rows]
                if spec.kind == "line":
                    ax.plot(x, ys, marker="o", color=COLORS[i], label=table.columns[col])
                else:
                    ax.bar([k + (i - (n - 1) / 2) * width for k in x], ys, width=width,
                           color=COLORS[i], label=table.columns[col])
            if spec.y_title:
                ax.set_ylabel(spec.y_title)
            handles, labels = ax.get_legend_handles_labels()
            if spec.secondary:
                ax2 = ax.twinx()
                for j, col in enumerate(spec.secondary):
                    ax2.plot(x, [float("nan") if r[col] is None else r[col] for r in table.rows],
                             marker="o",
                             color=COLORS[n + j], label=table.columns[col])
                _value_axis(ax2.yaxis, ax2.set_ylim, table, spec.secondary)
                ax2.spines["right"].set_visible(True)
                h2, l2 = ax2.get_legend_handles_labels()
                handles, labels = handles + h2, labels + l2
            _value_axis(ax.yaxis, ax.set_ylim, table, spec.values)
            ax.set_xticks(x, cats, rotation=30 if len(cats) > 6 else 0,
                          ha="right" if len(cats) > 6 else "center")
            if len(labels) > 1:
                ax.legend(handles, labels, loc="lower right", bbox_to_anchor=(1.0, 1.0),
                          ncol=len(labels), frameon=False, fontsize=7, borderaxespad=0.2)
        ax.set_title(spec.title or table.title, fontsize=10, loc="left")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def _value_axis(axis: Any, set_lim: Any, table: ChartTable, cols: Sequence[int]) -> None:
    """The xlsx axis rules (`xlsx.axis_scale`): counts from 0 in whole numbers, shares from
    0 % to at most 100 %, 万元 in the one 万元 format."""
    from matplotlib.ticker import FuncFormatter, MultipleLocator, PercentFormatter

    from .xlsx import axis_scale

    sc = axis_scale(table, cols)
    set_lim(0, sc.get("max"))
    kind = table.formats[cols[0]] if cols else "int"
    if "major_unit" in sc:
        axis.set_major_locator(MultipleLocator(sc["major_unit"]))
    if kind == "pct":
        axis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    elif kind == "int":
        axis.set_major_formatter(FuncFormatter(lambda v, _p: f"{int(round(v)):,}"))
    else:
        axis.set_major_formatter(FuncFormatter(lambda v, _p: format_value(v, kind)))


def _pct_label(p: float) -> str:
    return f"{p:.0f}%" if p >= 4 else ""


def _table_cells(table: ChartTable) -> list[list[str]]:
    return [[clean(format_value(v, kind)) for v, kind in zip(row, table.formats, strict=True)]
            for row in table.rows]


def chart_block(pdf: ReportPDF, table: ChartTable) -> None:
    """A figure's title, its data table on the left and its chart(s) on the right."""
    needed = 88 if all(s.kind != "bar" for s in table.charts) else 60 + 4.5 * len(table.rows)
    if pdf.get_y() + min(needed, 185) > pdf.h - pdf.b_margin:
        pdf.add_page()
    pdf.heading(table.title, size=12)
    top = pdf.get_y() + 1
    left_w = 100.0
    images = [chart_png(table, spec, height_in=max(3.4, 0.17 * len(table.rows) + 0.9)
                        if spec.kind == "bar" else 3.4) for spec in table.charts]
    img_w = min(135.0, (pdf.epw - left_w - 6) / max(len(images), 1)) if images else 0
    img_h = 0.0
    for k, png in enumerate(images):
        x = pdf.l_margin + left_w + 6 + k * img_w
        info = pdf.image(io.BytesIO(png), x=x, y=top, w=img_w)
        img_h = max(img_h, float(info.rendered_height))
    pdf.set_xy(pdf.l_margin, top)
    ncols = len(table.columns)
    widths = [left_w * (0.34 if i == 0 else 0.66 / max(ncols - 1, 1)) for i in range(ncols)]
    align = ["LEFT"] + ["RIGHT"] * (ncols - 1)
    pdf.grid(table.columns, _table_cells(table), widths, size=7, width=left_w, align=align)
    if table.note:
        pdf.set_x(pdf.l_margin)
        pdf.set_font(FAMILY, size=6.5)
        pdf.set_text_color(90)
        pdf.multi_cell(left_w, 3.2, clean(table.note), new_x="LMARGIN", new_y="NEXT", align="L")
        pdf.set_text_color(0)
        pdf.set_font(FAMILY, size=9)
    pdf.set_y(max(pdf.get_y(), top + img_h) + 5)


def _pdf_fields(result: Any) -> list[Any]:
    by_key = {f.key: f for f in result.fields}
    return [by_key[k] for k in PDF_COLUMNS if k in by_key]


def write_selection_pdf(result: Any, path: Path,
                        progress: Callable[[int], None] | None = None,
                        columns: Sequence[str] | None = None) -> Path:
    """A QueryResult as an A4-landscape PDF: title, filter, date, the table, the charts."""
    zh = result.lang == "zh"
    title = "客户导出" if zh else "Customer export"
    pdf = ReportPDF(title, result.lang)
    pdf.add_page()
    pdf.heading(title)
    desc = result.filters.describe(result.lang)
    pdf.line_text((f"筛选：{desc}　　日期：{result.today.isoformat()}　　共 {len(result.records)} 位客户"
                   if zh else f"Filter: {desc}    Date: {result.today.isoformat()}    "
                   f"{len(result.records)} customers"), size=10)
    pdf.ln(2)
    fields = _pdf_fields(result)
    if columns:
        by_key = {f.key: f for f in result.fields}
        fields = [by_key[k] for k in columns if k in by_key]
    weights = [_WIDTH_OVERRIDE.get(f.key, f.width) for f in fields]
    rows = []
    keys = [f.key for f in fields]
    for i, rec in enumerate(result.records, start=1):
        rows.append([clean(_short_date(result.value(rec, k))) for k in keys])
        if progress is not None and i % 100 == 0:
            progress(100)
    right = {Kind.INT, Kind.NUMBER}
    pdf.grid([f.header(result.lang) for f in fields], rows, weights, size=7,
             align=["RIGHT" if f.kind in right else "LEFT" for f in fields])
    pdf.add_page()
    pdf.heading("图表" if zh else "Charts", size=14)
    for table in selection_tables(result.records, result.lang):
        chart_block(pdf, table)
    with atomic_path(path) as tmp:
        pdf.output(str(tmp))
    return path


def _short_date(v: Any) -> Any:
    """Datetimes to the minute; midnight datetimes as dates (less wrapping in narrow columns)."""
    import datetime as dt

    if isinstance(v, dt.datetime) and v.hour == v.minute == v.second == 0:
        return v.date()
    return v


def write_dashboard_pdf(dash: Dashboard, path: Path) -> Path:
    """The dashboard as a PDF: key figures, every figure with its table and chart, then
    the overdue follow-ups."""
    zh = dash.lang == "zh"
    pdf = ReportPDF(dash.title, dash.lang)
    pdf.add_page()
    pdf.heading(dash.title)
    line = f"日期：{dash.today.isoformat()}" if zh else f"Date: {dash.today.isoformat()}"
    if dash.scope:
        line += ("　　范围：" if zh else "    Scope: ") + dash.scope
    pdf.line_text(line, size=10)
    pdf.ln(2)
    per_row = 5
    for i in range(0, len(dash.kpis), per_row):
        part = dash.kpis[i:i + per_row]
        cells = [clean(format_value(k.value, k.kind) + (("\n" + k.note) if k.note else ""))
                 for k in part]
        pdf.grid([k.label for k in part], [cells], [1] * len(part), size=9,
                 width=pdf.epw * len(part) / per_row, align=["CENTER"] * len(part))
        pdf.ln(2)
    pdf.ln(2)
    for table in dash.tables:
        if table.key == "overdue_list":
            if table.rows:
                pdf.add_page()
                pdf.heading(table.title, size=12)
                if table.note:
                    pdf.line_text(table.note, size=8)
                align = ["RIGHT" if k in ("int", "wan", "pct") else "LEFT" for k in table.formats]
                marks = [(248, 203, 173) if r[table.mark] > 30 else (255, 230, 153)
                         for r in table.rows] if table.mark is not None else None
                pdf.grid(table.columns, _table_cells(table), [10, 8, 11, 24, 15, 32], size=7.5,
                         align=align, marks=marks, mark_col=table.mark if marks else -1)
            continue
        chart_block(pdf, table)
    with atomic_path(path) as tmp:
        pdf.output(str(tmp))
    return path
