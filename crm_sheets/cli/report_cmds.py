"""`crm query`, `crm export`, `crm dashboard`: thin layers over query / export / dashboard."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import shutil
import sys
from collections.abc import Callable
from itertools import chain
from pathlib import Path
from typing import Any

import click

from .. import safe_text
from ..errors import CrmError
from ..home import home_for_workbook
from ..i18n import t
from ..query import Filters, QueryResult, run_query, session_actor
from .app import cli, echo_json, is_terminal, parse_today, today_option

TABLE_COLUMNS = ("customer_id", "name", "industry", "province", "city", "customer_type", "stage",
                 "owner", "last_followup", "expected_amount", "status")
TABLE_LIMIT = 200


def filter_options(f: Callable) -> Callable:
    """The filters shared by query and export (DESIGN §5)."""
    opts = [
        click.option("--industry", multiple=True, help="所属行业, e.g. 制造业 or manufacturing."),
        click.option("--stage", multiple=True, help="商机阶段: 线索/意向/谈判/成交/流失 or lead/intent/…"),
        click.option("--type", "ctype", multiple=True,
                     help="客户类型: 潜在客户/意向客户/成交客户 or prospect/intent/customer."),
        click.option("--source", multiple=True, help="客户来源, e.g. 展会推荐 or trade show."),
        click.option("--owner", multiple=True, help="负责人."),
        click.option("--province", multiple=True, help="省 (广东 = 广东省)."),
        click.option("--city", multiple=True, help="市 (深圳 = 深圳市)."),
        click.option("--followed-within", metavar="30d", default=None,
                     help="Last follow-up within this period (30d, 4w, 30)."),
        click.option("--not-followed-within", metavar="30d", default=None,
                     help="No follow-up within this period (includes never contacted)."),
        click.option("--dormant", is_flag=True, help="Only dormant (休眠) customers."),
        click.option("--status", multiple=True, help="状态: 正常/休眠/已合并 or normal/dormant/merged."),
        today_option,
    ]
    for opt in reversed(opts):
        f = opt(f)
    return f


def build_filters(kw: dict[str, Any]) -> Filters:
    return Filters.from_options(
        industry=kw.get("industry"), stage=kw.get("stage"), type=kw.get("ctype"),
        source=kw.get("source"), owner=kw.get("owner"), province=kw.get("province"),
        city=kw.get("city"), status=kw.get("status"), followed_within=kw.get("followed_within"),
        not_followed_within=kw.get("not_followed_within"), dormant=kw.get("dormant"))


def select(path: Path, filters: Filters, today: dt.date, actor: Any) -> QueryResult:
    """Read only what the filters need (report_load) and run the query."""
    from ..report_load import load_for_query

    wb, resolved, last = load_for_query(path, filters, today=today)
    return run_query(wb, resolved, today=today, actor=actor, last=last, resolved=True)


# ---------------------------------------------------------------- crm query


@cli.command("query")
@click.argument("workbook", type=click.Path(path_type=Path, dir_okay=False))
@filter_options
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Output format.")
@click.option("--columns", default=None, metavar="KEYS",
              help="Comma-separated column keys or headers for the table (default: a summary set).")
@click.option("--limit", type=int, default=None,
              help=f"Rows shown (table: default {TABLE_LIMIT}; JSON/CSV: default all; 0 = all).")
def query_cmd(workbook: Path, fmt: str, columns: str | None, limit: int | None,
              **kw: Any) -> None:
    """List the customers matching the filters (AND between filters, OR within one)."""
    filters = build_filters(kw)
    today = parse_today(kw.get("today"))
    actor = session_actor(home_for_workbook(workbook))
    result = select(workbook, filters, today, actor)
    if fmt == "json":
        echo_json(result_json(result, limit))
    elif fmt == "csv":
        from ..export.csv import write_csv

        buf = io.StringIO(newline="")
        if limit and limit > 0:  # --limit caps the rows written, as in JSON
            result = dataclasses.replace(result, records=result.records[:limit])
        write_csv(buf, result)
        stream = sys.stdout
        if hasattr(stream, "buffer"):  # bytes: UTF-8 with BOM whatever the console code page
            stream.flush()
            stream.buffer.write(buf.getvalue().encode("utf-8-sig"))
            stream.buffer.flush()
        else:
            stream.write("\ufeff" + buf.getvalue())
    else:
        print_table(result, pick_columns(result, columns),
                    TABLE_LIMIT if limit is None else limit)


def pick_columns(result: QueryResult, spec: str | None) -> list[Any]:
    """Fields for the table: the --columns list (keys or headers, either language) or defaults."""
    visible = {f.key: f for f in result.fields}
    if not spec:
        return [visible[k] for k in TABLE_COLUMNS if k in visible]
    by_name = {}
    for f in result.fields:
        for name in (f.key, f.zh, f.en):
            by_name[name.casefold()] = f
    out = []
    for part in safe_text.strip_controls(spec).replace("，", ",").split(","):
        p = part.strip()
        if not p:
            continue
        f = by_name.get(p.casefold())
        if f is None:
            raise CrmError(t(f"未知的列 {p!r}；可用的列：{'、'.join(visible)}", f"unknown column {p!r}; columns: {', '.join(visible)}"))
        out.append(f)
    return out


def _cell(value: Any) -> str:
    if isinstance(value, dt.datetime) and value.hour == value.minute == 0:
        value = value.date()
    return safe_text.strip_controls(safe_text.display(value)).replace("\n", " ").replace("\r", " ") \
        .replace("\t", " ")


def print_table(result: QueryResult, fields: list[Any], limit: int) -> None:
    """A rich table; wide (CJK) characters aligned; plain when piped."""
    from rich.cells import cell_len

    zh = result.lang == "zh"
    shown = result.records if limit <= 0 else result.records[:limit]
    keys = [f.key for f in fields]
    rows = [[_cell(result.value(r, k)) for k in keys] for r in shown]
    headers = [f.header(result.lang) for f in fields]
    terminal = is_terminal() and click.get_text_stream("stdout").isatty()
    widths = [max([cell_len(h)] + [cell_len(r[i]) for r in rows]) for i, h in enumerate(headers)]
    numeric = {"expected_amount", "annual_revenue", "employees"}
    right = [k in numeric for k in keys]
    plain = None if terminal else plain_table(headers, rows, widths, right)
    if plain is not None:
        sys.stdout.write(plain)
        sys.stdout.flush()
    else:
        rich_table(headers, rows, widths, right, terminal)
    total = len(result.records)
    if zh:
        tail = f"共 {total} 位客户（筛选：{result.filters.describe('zh')}）"
        if len(shown) < total:
            tail += f"；显示前 {len(shown)} 位，--limit 0 显示全部，或用 --format csv"
    else:
        tail = f"{total} customers (filter: {result.filters.describe('en')})"
        if len(shown) < total:
            tail += f"; first {len(shown)} shown, --limit 0 for all, or --format csv"
    click.echo(tail)


def rich_table(headers: list[str], rows: list[list[str]], widths: list[int], right: list[bool],
               terminal: bool) -> None:
    """The table drawn by rich (a terminal, or cells that need wrapping)."""
    from rich import box
    from rich.console import Console
    from rich.table import Table

    need = sum(min(w, 40) + 3 for w in widths) + 1
    width = shutil.get_terminal_size((need, 24)).columns if terminal else max(need, 80)
    console = Console(width=width, no_color=not terminal, highlight=False, soft_wrap=False,
                      force_terminal=terminal, emoji=False, markup=False)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    for h, r in zip(headers, right, strict=True):
        table.add_column(h, justify="right" if r else "left", overflow="fold",
                         max_width=40, no_wrap=False)
    for row in rows:
        table.add_row(*row)
    console.print(table)


def plain_table(headers: list[str], rows: list[list[str]], widths: list[int],
                right: list[bool]) -> str | None:
    """What `rich_table` prints when piped, without rich (issue 15: rich takes ~0.2 s for
    200 rows), or None when a cell needs rich: one longer than a column's 40 cells (rich
    folds it), or a cell with a character rich may measure or place otherwise (not
    printable, leading/trailing/double spaces). tests/test_imports.py compares both."""
    if any(w > 40 for w in widths):
        return None
    for cell in chain(headers, chain.from_iterable(rows)):
        if not cell.isprintable() or cell != cell.strip() or "  " in cell:
            return None
    from rich.cells import cell_len

    if any(cell_len(c) < len(c) for c in chain(headers, chain.from_iterable(rows))):
        return None  # a zero-width (combining) character

    last = len(widths) - 1

    def line(cells: list[str]) -> str:
        # a column: its cells justified to its width, one space of padding on each side
        # but the table's edges, one space of divider between columns
        return "   ".join(" " * (w - cell_len(c)) + c if r else c + " " * (w - cell_len(c))
                           for c, w, r in zip(cells, widths, right, strict=True))

    rule = "─" * (sum(widths) + 3 * last)
    return "".join(f"{text}\n" for text in (line(headers), rule, *map(line, rows)))


def result_json(result: QueryResult, limit: int | None = None) -> dict[str, Any]:
    """The selection as JSON-ready data: field keys, ISO dates, prohibited numbers masked.

    `limit` (from --limit; None or 0 = all) caps the customers listed; `count` stays the
    number matching, `shown` the number listed, so a script sees the list was cut."""
    keys = [f.key for f in result.fields]
    records = result.records if not limit or limit <= 0 else result.records[:limit]

    def val(v: Any) -> Any:
        v = safe_text.redact(v)
        if isinstance(v, (dt.date, dt.datetime)):
            return v.isoformat()
        return v

    f = result.filters
    return {
        "filters": {k: getattr(f, k) for k in ("industry", "stage", "type", "source", "owner",
                                               "province", "city", "status") if getattr(f, k)}
        | ({"followed_within_days": f.followed_within} if f.followed_within is not None else {})
        | ({"not_followed_within_days": f.not_followed_within}
           if f.not_followed_within is not None else {})
        | ({"dormant": True} if f.dormant else {}),
        "description": f.describe(result.lang),
        "today": result.today.isoformat(),
        "count": len(result.records),
        "shown": len(records),
        "customers": [{k: val(result.value(r, k)) for k in keys} | {"row": r.row}
                      for r in records],
    }


# ---------------------------------------------------------------- crm export


def _progress(label: str, total: int) -> tuple[Any, Callable[[int], None] | None]:
    if not is_terminal() or total < 2000:
        return None, None
    bar = click.progressbar(length=total, label=label, file=click.get_text_stream("stderr"))
    bar.__enter__()
    return bar, bar.update


@cli.command("export")
@click.argument("workbook", type=click.Path(path_type=Path, dir_okay=False))
@filter_options
@click.option("--to", "to", required=True, type=click.Path(path_type=Path, dir_okay=False),
              help="FILE.xlsx, FILE.pdf or FILE.csv.")
def export_cmd(workbook: Path, to: Path, **kw: Any) -> None:
    """Write the customers the filters select to Excel, PDF or CSV (managers and admins)."""
    from .. import permissions
    from ..export import export

    if to.suffix.lower() not in (".xlsx", ".pdf", ".csv"):
        raise CrmError(t(f"--to 的文件名须以 .xlsx、.pdf 或 .csv 结尾，收到的是 {to.name!r}", f"--to must end in .xlsx, .pdf or .csv, got {to.name!r}"))
    filters = build_filters(kw)
    today = parse_today(kw.get("today"))
    home = home_for_workbook(workbook)
    actor = permissions.authorize("export", home=home, lang=home.lang if home else None)
    result = select(workbook, filters, today, actor)
    zh = result.lang == "zh"
    bar, tick = _progress("导出" if zh else "exporting", len(result.records))
    try:
        path = export(result, to, progress=tick)
    finally:
        if bar is not None:
            bar.__exit__(None, None, None)
    _audit(home, actor, "export", path=str(path), rows=len(result.records),
           filters=result.filters.describe("en"))
    n = len(result.records)
    click.echo(f"已导出 {n} 位客户：{path}" if zh else f"exported {n} customers: {path}")


def _audit(home: Any, actor: Any, action: str, **details: Any) -> None:
    """Record who exported what (exports carry data out of the CRM)."""
    if home is None:
        return
    try:
        from .. import audit

        audit.record(home.state, getattr(actor, "name", "local"), action, **details)
    except (ImportError, AttributeError, TypeError, OSError):
        pass


# ---------------------------------------------------------------- crm dashboard


@cli.command("dashboard")
@click.argument("workbook", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--to", "to", default=None, type=click.Path(path_type=Path, dir_okay=False),
              help="Also write the dashboard as FILE.pdf.")
@today_option
def dashboard_cmd(workbook: Path, to: Path | None, today: str | None) -> None:
    """Write reports/dashboard.xlsx (native Excel charts) and, with --to, a PDF."""
    from .. import permissions
    from ..dashboard import make_dashboard
    from ..report_load import load_for_dashboard

    if to is not None and to.suffix.lower() != ".pdf":
        raise CrmError(t(f"--to 的文件名须以 .pdf 结尾，收到的是 {to.name!r}", f"--to must end in .pdf, got {to.name!r}"))
    if to is not None and not to.resolve().parent.is_dir():
        raise CrmError(f"folder {to.resolve().parent} does not exist")
    day = parse_today(today)
    home = home_for_workbook(workbook)
    actor = permissions.authorize("dashboard", home=home, lang=home.lang if home else None)
    wb = load_for_dashboard(workbook)
    files = make_dashboard(wb, pdf_path=to, today=day,
                           actor=None if actor is getattr(permissions, "LOCAL", None) else actor)
    _audit(home, actor, "dashboard", path=str(files.xlsx))
    zh = wb.lang == "zh"
    click.echo(("看板：" if zh else "dashboard: ") + str(files.xlsx))
    if files.pdf is not None:
        click.echo(("PDF：" if zh else "PDF: ") + str(files.pdf))
