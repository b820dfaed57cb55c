"""The management dashboard: `reports/dashboard.xlsx` with native Excel charts, and a PDF.

Figures are computed by `charts_data.build_dashboard` (pure); this module renders them
and decides where they go: the CRM home's `reports/` folder, or a `reports/` folder
beside a workbook that is not in a home.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .charts_data import Dashboard, build_dashboard
from .export import atomic_path
from .export.xlsx import Formats, new_workbook, print_setup, write_chart_tables, write_text
from .home import home_for_workbook
from .model import Workbook

DASHBOARD_NAME = "dashboard.xlsx"


def reports_dir(workbook_path: Path) -> Path:
    """The CRM home's reports/ folder, else a reports/ folder beside the workbook (created)."""
    home = home_for_workbook(Path(workbook_path))
    folder = home.reports if home is not None else Path(workbook_path).resolve().parent / "reports"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def dashboard_for(wb: Workbook, *, today: dt.date | None = None, actor: Any = None) -> Dashboard:
    """The figures an actor may see: everything, a sales rep's own customers, or for customer
    service the follow-up figures only (DESIGN §7)."""
    from . import permissions

    if actor is None:
        return build_dashboard(wb, today=today)
    scope_fn = getattr(permissions, "dashboard_scope", None)
    scope = scope_fn(actor) if scope_fn is not None else "all"
    zh = wb.lang == "zh"
    who = getattr(actor, "owner_name", "") or getattr(actor, "name", "")
    if scope == "own":
        vis = getattr(permissions, "visible_customer", None)
        flt = (lambda r: vis(actor, r)) if vis is not None else None
        return build_dashboard(wb, today=today, customer_filter=flt,
                               scope=(f"{who} 的客户" if zh else f"customers of {who}"))
    dash = build_dashboard(wb, today=today)
    if scope == "service":
        dash.tables = [t for t in dash.tables if t.key in ("efficiency", "owners", "dormant")]
        dash.scope = "客服视图" if zh else "customer service"
    return dash


def write_dashboard_xlsx(dash: Dashboard, path: Path) -> Path:
    """One sheet: title, key figures, then each figure's table with its native chart beside."""
    zh = dash.lang == "zh"
    with atomic_path(Path(path)) as tmp:
        book = new_workbook(tmp)
        fm = Formats(book)
        ws = book.add_worksheet("看板" if zh else "Dashboard")
        end = write_dashboard_sheet(book, ws, fm, dash, zh)
        print_setup(ws)
        ws.print_area(0, 0, end, 22)
        ws.hide_gridlines(2)
        book.set_properties({"title": dash.title, "comments": dash.today.isoformat()})
        book.close()
    return Path(path)


@dataclass
class DashboardFiles:
    xlsx: Path
    pdf: Path | None
    dashboard: Dashboard


def write_dashboard_sheet(book: Any, ws: Any, fm: Any, dash: Any, zh: bool) -> int:
    """Title, date/scope line, KPI cells, then each chart with its data table; the next free row."""
    ws.write_string(0, 0, dash.title, fm.title)
    line = f"日期：{dash.today.isoformat()}" if zh else f"Date: {dash.today.isoformat()}"
    if dash.scope:
        line += ("　范围：" if zh else "   Scope: ") + dash.scope
    write_text(ws, 1, 0, line, fm.note)
    for c, (label, value) in enumerate(dash.kpis):
        write_text(ws, 3, c, label, fm.kpi_label)
        if isinstance(value, (int, float)):
            ws.write_number(4, c, value, fm.kpi_value)
        else:
            write_text(ws, 4, c, value, fm.kpi_value)
    ws.set_row(3, 30)
    return write_chart_tables(book, ws, fm, dash.tables, first_row=6)


def make_dashboard(wb: Workbook, *, xlsx_path: Path | None = None, pdf_path: Path | None = None,
                   today: dt.date | None = None, actor: Any = None) -> DashboardFiles:
    """Compute and write the dashboard: xlsx (always) and PDF (when `pdf_path` is given).

    `xlsx_path` defaults to reports/dashboard.xlsx for the workbook (see `reports_dir`).
    """
    if xlsx_path is None:
        if wb.path is None:
            raise ValueError("xlsx_path is required for a workbook that was not read from a file")
        xlsx_path = reports_dir(wb.path) / DASHBOARD_NAME
    dash = dashboard_for(wb, today=today, actor=actor)
    write_dashboard_xlsx(dash, Path(xlsx_path))
    pdf = None
    if pdf_path is not None:
        from .export.pdf import write_dashboard_pdf

        pdf = write_dashboard_pdf(dash, Path(pdf_path))
    return DashboardFiles(xlsx=Path(xlsx_path), pdf=pdf, dashboard=dash)
