"""The management dashboard: `reports/dashboard.xlsx` with native Excel charts, and a PDF.

Figures are computed by `charts_data.build_dashboard` (pure); this module renders them
and decides where they go: the CRM home's `reports/` folder, or a `reports/` folder
beside a workbook that is not in a home.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from operator import itemgetter
from pathlib import Path
from typing import Any

from . import safe_text
from .charts_data import Dashboard, build_dashboard, format_value, service_view
from .export import atomic_path
from .export.xlsx import (
    ROW_PX,
    Formats,
    PageFlow,
    new_workbook,
    sheet_width_px,
    size_columns,
    table_page_setup,
    write_chart_tables,
    write_text,
)
from .gcpause import paused_gc
from .home import home_for_workbook
from .model import Workbook

DASHBOARD_NAME = "dashboard.xlsx"
# key-figure cards across the printed width: (first, last) column of each card
KPI_SLOTS = ((0, 1), (2, 3), (4, 5), (7, 10), (11, 15))


def reports_dir(workbook_path: Path) -> Path:
    """The CRM home's reports/ folder, else a reports/ folder beside the workbook (created)."""
    home = home_for_workbook(Path(workbook_path))
    folder = home.reports if home is not None else Path(workbook_path).resolve().parent / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def dashboard_file_name(actor: Any = None) -> str:
    """Each audience its own file, so a rep's run never replaces the team's dashboard:
    dashboard.xlsx (management, admin, marketing), dashboard-<account>.xlsx (a sales rep),
    dashboard-service.xlsx (customer service)."""
    if actor is None:
        return DASHBOARD_NAME
    from . import permissions

    scope = permissions.dashboard_scope(actor)
    if scope == "own":
        name = re.sub(r'[\\/:*?"<>|\s]+', "_", str(getattr(actor, "name", "") or "rep")).strip("._")
        return f"dashboard-{name or 'rep'}.xlsx"
    if scope == "service":
        return "dashboard-service.xlsx"
    return DASHBOARD_NAME


def _audit_events(wb: Workbook) -> list[dict[str, Any]]:
    """The home's audit log (stage changes feed the funnel); none outside a home."""
    if wb.path is None:
        return []
    home = home_for_workbook(Path(wb.path))
    if home is None:
        return []
    from . import audit

    try:
        return audit.read(home.state)
    except (OSError, ValueError):
        return []


def dashboard_for(wb: Workbook, *, today: dt.date | None = None, actor: Any = None,
                  audit_events: list[dict[str, Any]] | None = None) -> Dashboard:
    """The figures an actor may see: everything, a sales rep's own customers, or for customer
    service the follow-up figures only (DESIGN §7)."""
    from . import permissions

    events = _audit_events(wb) if audit_events is None else audit_events
    if actor is None:
        return build_dashboard(wb, today=today, audit_events=events)
    scope = permissions.dashboard_scope(actor)
    zh = wb.lang == "zh"
    who = getattr(actor, "owner_name", "") or getattr(actor, "name", "")
    if scope == "own":
        dash = build_dashboard(wb, today=today, audit_events=events,
                               customer_filter=lambda r: permissions.visible_customer(actor, r),
                               scope=(f"{who} 的客户" if zh else f"customers of {who}"))
        dash.audience = "own"
        return dash
    dash = build_dashboard(wb, today=today, audit_events=events)
    if permissions.masks_contacts(actor):  # a phone typed into a plan shows in the lists
        for table in dash.tables:
            table.rows = [[permissions.mask_contacts_in_text(c) for c in row] for row in table.rows]
    return service_view(dash) if scope == "service" else dash


def write_dashboard_xlsx(dash: Dashboard, path: Path, *, fast: bool = True) -> Path:
    """The dashboard sheet (key figures, then each figure's table with its native chart
    beside) and, when there are any, the overdue follow-ups as a sheet of their own
    (`fast=False`: through xlsxwriter's per-cell calls, the same file)."""
    zh = dash.lang == "zh"
    with atomic_path(Path(path)) as tmp:
        book = new_workbook(tmp, fast=fast)
        fm = Formats(book)
        ws = book.add_worksheet("看板" if zh else "Dashboard")
        write_dashboard_sheet(book, ws, fm, dash, zh)
        listing = dash.table("overdue_list")
        if listing is not None and listing.rows and dash.audience != "own":
            write_overdue_sheet(book, fm, listing, zh, fast=fast)
        book.set_properties({"title": dash.title, "comments": dash.today.isoformat()})
        book.close()
    return Path(path)


def _overdue_block(book: Any, ws: Any, fm: Formats, listing: Any) -> bool:
    """The listing's cells as the loop in `write_overdue_sheet` writes them, put as one
    block (export.xlsx.put_block); False, nothing written, when it does not qualify."""
    from . import prohibited
    from .export.xlsx import put_block

    rows = listing.rows
    ncols = len(listing.columns)
    if not rows or any(len(v) != ncols for v in rows):
        return False
    fmts = {"text": fm.text, "int": fm.int, "date": fm.day}
    kinds = {"text": "text", "int": "number", "date": "date"}
    if any(k not in kinds for k in listing.formats):
        return False
    by_col = [list(map(itemgetter(c), rows)) for c in range(ncols)]
    # texts nothing in prohibited.redact would change are written as they are (one cheap
    # check over all of them); otherwise each goes through safe_text.display
    texts = [v for vals in by_col for v in vals if type(v) is str]
    joined = "\x00".join(texts) + "\x00"
    clean = not prohibited.maybe(joined) and "…\x00" not in joined and "...\x00" not in joined
    columns = []
    for kind, vals in zip(listing.formats, by_col, strict=True):
        if kind == "int" and set(map(type, vals)) != {int}:  # bool, float, text: as cells
            return False
        if kind == "text" and not (clean and set(map(type, vals)) == {str}):
            vals = [v if clean and type(v) is str else safe_text.display(v) for v in vals]
        columns.append((fmts[kind], kinds[kind], vals))
    return put_block(book, ws, 1, columns)


def write_overdue_sheet(book: Any, fm: Formats, listing: Any, zh: bool, *,
                        fast: bool = True) -> Any:
    """The overdue next follow-ups, one row each, per rep, marked by days overdue.

    `fast=False` writes every cell through xlsxwriter's calls (the reference the fast path
    is tested against: the same file)."""
    ws = book.add_worksheet("逾期跟进" if zh else "Overdue")
    for c, name in enumerate(listing.columns):
        ws.write_string(0, c, name, fm.header)
    if not (fast and _overdue_block(book, ws, fm, listing)):
        for r, values in enumerate(listing.rows, start=1):
            for c, v in enumerate(values):
                kind = listing.formats[c]
                if kind == "date" and isinstance(v, dt.date):
                    ws.write_datetime(r, c, dt.datetime.combine(v, dt.time()), fm.day)
                elif kind == "int" and isinstance(v, (int, float)):
                    ws.write_number(r, c, v, fm.int)
                else:
                    write_text(ws, r, c, v, fm.text)
    last = len(listing.rows)
    if listing.mark is not None:
        for crit, val, f in ((">", 30, fm.mark_red), (">", 0, fm.mark_orange)):
            ws.conditional_format(1, listing.mark, last, listing.mark,
                                  {"type": "cell", "criteria": crit, "value": val, "format": f})
    from .widths import fit_width

    widths = [fit_width(h, (format_value(r[c], listing.formats[c]) for r in listing.rows),
                        maximum=36) for c, h in enumerate(listing.columns)]
    for c, w in enumerate(widths):
        ws.set_column(c, c, w)
    ws.set_row(0, 30)
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, max(last, 1), len(listing.columns) - 1)
    table_page_setup(ws, widths)
    return ws


@dataclass
class DashboardFiles:
    xlsx: Path
    pdf: Path | None
    dashboard: Dashboard


def write_dashboard_sheet(book: Any, ws: Any, fm: Any, dash: Any, zh: bool) -> int:
    """Title, date/scope line, key-figure cards, then each chart with its data table, with
    the page setup (A4 landscape, one page wide, no chart cut by a page break); the next
    free row. The views' chart sheets use it too."""
    from .export.xlsx import finish_chart_sheet

    # a rep's own overdue list is short: it goes on the sheet; the team's has its own sheet
    tables = [t for t in dash.tables
              if t.key != "overdue_list" or (getattr(dash, "audience", "") == "own" and t.rows)]
    kpis = list(dash.kpis)
    widths = size_columns(ws, tables)
    flow = PageFlow(ws, sheet_width_px(widths))
    ws.write_string(0, 0, dash.title, fm.title)
    line = f"日期：{dash.today.isoformat()}" if zh else f"Date: {dash.today.isoformat()}"
    if dash.scope:
        line += ("　范围：" if zh else "   Scope: ") + dash.scope
    write_text(ws, 1, 0, line, fm.note)
    ws.set_row(0, 24)
    row = 3
    per_row = len(KPI_SLOTS)
    for i in range(0, len(kpis), per_row):
        for (c0, c1), k in zip(KPI_SLOTS, kpis[i:i + per_row], strict=False):
            ws.merge_range(row, c0, row, c1, k.label, fm.kpi_label)
            value_fmt = fm.kpi_value.get(k.kind, fm.kpi_value["int"])
            if isinstance(k.value, (int, float)):
                ws.merge_range(row + 1, c0, row + 1, c1, None, value_fmt)
                ws.write_number(row + 1, c0, k.value, value_fmt)
            else:
                ws.merge_range(row + 1, c0, row + 1, c1, str(k.value), value_fmt)
            ws.merge_range(row + 2, c0, row + 2, c1, k.note or "", fm.kpi_note)
        ws.set_row(row + 1, 26)
        ws.set_row(row + 2, 24)
        row += 3
    rows_of_cards = -(-len(kpis) // per_row)
    flow.block(0, ROW_PX * (row + 1) + 24 * rows_of_cards)
    end = write_chart_tables(book, ws, fm, tables, first_row=row + 1, flow=flow, widths=widths)
    finish_chart_sheet(ws, widths, flow, end)
    return end


def make_dashboard(wb: Workbook, *, xlsx_path: Path | None = None, pdf_path: Path | None = None,
                   today: dt.date | None = None, actor: Any = None) -> DashboardFiles:
    """Compute and write the dashboard: xlsx (always) and PDF (when `pdf_path` is given).

    `xlsx_path` defaults to the audience's own file in reports/ (`dashboard_file_name`).
    """
    if xlsx_path is None:
        if wb.path is None:
            raise ValueError("xlsx_path is required for a workbook that was not read from a file")
        xlsx_path = reports_dir(wb.path) / dashboard_file_name(actor)
    with paused_gc():  # the figures and the overdue sheet: many small objects, no cycles
        dash = dashboard_for(wb, today=today, actor=actor)
        write_dashboard_xlsx(dash, Path(xlsx_path))
    pdf = None
    if pdf_path is not None:
        from .export.pdf import write_dashboard_pdf

        pdf = write_dashboard_pdf(dash, Path(pdf_path))
    return DashboardFiles(xlsx=Path(xlsx_path), pdf=pdf, dashboard=dash)
