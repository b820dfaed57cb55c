"""The Issues sheet and the marks on problem cells, for the master and every copy.

One place decides what a person sees about findings where they work:
- the Issues rows (sheet, row, column, code, severity, message, customer ID, customer
  name, owner, jump link), coloured by severity, with a filter and a print setup;
- conditional formats that mark every cell with a finding (error and warning in
  different colours) and every overdue next follow-up. The formats are the engine's
  own (each formula carries `ENGINE_CF_MARK`), replaced on every write; a cell's own
  style and the user's own conditional formats are never touched.

`master_issue_table`, `data_sheet_dress` and `issues_dress` serve `crm apply` (patched
XML); `copy_issue_table`, `write_issues_sheet` and `dress_copy` serve workbooks written
whole with xlsxwriter (the template and each person's copy).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .findings import Finding
from .model import Workbook, column_letter
from .schema import CUSTOMERS, FOLLOWUPS, STATUS_MERGED

ISSUES_HEADERS = {
    "zh": ("工作表", "行", "列", "代码", "级别", "说明", "客户编号", "客户名称", "负责人", "跳转"),
    "en": ("Sheet", "Row", "Column", "Code", "Severity", "Message", "Customer ID",
           "Customer Name", "Owner", "Go to"),
}
ISSUES_WIDTHS = (10, 6, 14, 24, 8, 60, 16, 28, 10, 10)
LINK_COL = 9
SEVERITY_COL = 4
LAST_COL = column_letter(len(ISSUES_WIDTHS) - 1)
MAX_ISSUE_ROWS = 50_000
MAX_MARKED_RANGES = 20_000  # per severity and sheet: beyond it Excel slows to a crawl
SEVERITY_TEXT = {"zh": {"error": "错误", "warning": "警告", "info": "提示"},
                 "en": {"error": "error", "warning": "warning", "info": "info"}}
_SEVERITY_ORDER = ("error", "warning")
# xlsxwriter formats for the same looks as `writeback.xlsxpatch.DXF`
XW_DXF = {
    "error": {"bg_color": "#FFC7CE", "font_color": "#9C0006"},
    "warning": {"bg_color": "#FFEB9C", "font_color": "#9C5700"},
    "info": {"bg_color": "#DDEBF7", "font_color": "#1F4E78"},
    "overdue": {"bg_color": "#FCE4D6", "font_color": "#C00000", "bold": True},
}


@dataclass
class IssueTable:
    """Issues rows (from Excel row 2), their jump links and the cells to mark."""

    rows: list[list[Any]] = field(default_factory=list)
    links: dict[tuple[int, int], str] = field(default_factory=dict)  # (row, col) -> location
    marks: dict[str, dict[str, set[tuple[int, int]]]] = field(default_factory=dict)
    # tab -> severity -> {(excel row, 0-based col)}


def quote_sheet(name: str) -> str:
    return "'" + name.replace("'", "''") + "'"


Locate = Callable[[Finding], tuple[str, int, int] | None]  # (tab, excel row, 0-based col or -1)
Who = Callable[[Finding], tuple[str, str, str]]  # (customer id, customer name, owner)


def build_issue_table(findings: Iterable[Finding], lang: str, locate: Locate, who: Who,
                      label: Callable[[Finding], str], tab_title: Callable[[str], str]
                      ) -> IssueTable:
    """Issues rows for `findings` (already sorted), with links and cell marks."""
    out = IssueTable()
    sev = SEVERITY_TEXT.get(lang, SEVERITY_TEXT["en"])
    findings = list(findings)
    for f in findings[:MAX_ISSUE_ROWS]:
        target = locate(f) if f.row else None
        go = ""
        if target is not None:
            tab, row, col = target  # col -1: the column is not in the sheet (link to A)
            go = f"{column_letter(max(col, 0))}{row}"
            out.links[(len(out.rows) + 2, LINK_COL)] = f"{quote_sheet(tab)}!{go}"
            if f.severity in _SEVERITY_ORDER and f.column and col >= 0:
                out.marks.setdefault(tab, {}).setdefault(f.severity, set()).add((row, col))
        cid, name, owner = who(f)
        out.rows.append([tab_title(f.sheet), f.row, label(f), f.code,
                         sev.get(f.severity, f.severity), f.message, cid, name, owner, go])
    if len(findings) > MAX_ISSUE_ROWS:
        more = len(findings) - MAX_ISSUE_ROWS
        out.rows.append(["", None, "", "", "", f"……另有 {more} 条，请运行 crm validate 查看"
                         if lang == "zh" else f"... {more} more: run crm validate",
                         "", "", "", ""])
    for sheet in out.marks.values():  # an error on a cell wins over a warning there
        if "error" in sheet and "warning" in sheet:
            sheet["warning"] -= sheet["error"]
    return out


def sqref(cells: Iterable[tuple[int, int]], limit: int = MAX_MARKED_RANGES) -> str:
    """Cells as a compact sqref ('K5 L9:L12'): vertical runs per column merged."""
    by_col: dict[int, list[int]] = {}
    for r, c in cells:
        by_col.setdefault(c, []).append(r)
    parts: list[str] = []
    for c in sorted(by_col):
        rows = sorted(set(by_col[c]))
        letter = column_letter(c)
        start = prev = rows[0]
        for r in [*rows[1:], None]:
            if r is not None and r == prev + 1:
                prev = r
                continue
            parts.append(f"{letter}{start}" if start == prev else f"{letter}{start}:{letter}{prev}")
            if r is not None:
                start = prev = r
        if len(parts) >= limit:
            break
    return " ".join(parts[:limit])


def overdue_formula(date_col: int, stage_col: int | None, status_col: int | None) -> str:
    """A live formula (recomputed daily by Excel) for an overdue next follow-up on row 2."""
    d = f"{column_letter(date_col)}2"
    parts = [f"ISNUMBER({d})", f"{d}<TODAY()"]
    if stage_col is not None:
        parts.append(f'${column_letter(stage_col)}2<>"流失"')
    if status_col is not None:
        parts.append(f'${column_letter(status_col)}2<>"{STATUS_MERGED}"')
    return "AND(" + ",".join(parts) + ")"


def severity_rules(lang: str, n_rows: int) -> list[tuple[str, str, str]]:
    """(kind, range, formula) colouring Issues rows by their severity column."""
    sev = SEVERITY_TEXT.get(lang, SEVERITY_TEXT["en"])
    last = max(n_rows + 1, 2)
    col = column_letter(SEVERITY_COL)
    return [(k, f"A2:{LAST_COL}{last}", f'${col}2="{sev[k]}"') for k in ("error", "warning", "info")]


# ---------------------------------------------------------------------------- the master


def master_lookup(wb: Workbook) -> tuple[Locate, Who, Callable[[Finding], str], Callable[[str], str]]:
    """How the master's findings map to its tabs, cells, customers and headers."""
    from .reader import canonical_sheets

    tabs = canonical_sheets(wb.sheet_names, wb.meta)
    tables = {CUSTOMERS.name: wb.customers, FOLLOWUPS.name: wb.followups}
    by_id: dict[str, Any] = {}
    by_row: dict[int, Any] = {}
    for rec in wb.customers.records:
        by_row[rec.row] = rec
        cid = rec.values.get("customer_id")
        if cid:
            by_id.setdefault(cid, rec)
    fu_rows = {rec.row: rec for rec in wb.followups.records}

    def locate(f: Finding) -> tuple[str, int, int] | None:
        table = tables.get(f.sheet)
        if table is None:
            for t in tables.values():
                if f.sheet == t.sheet_name:
                    table = t
        if table is not None:
            return table.sheet_name, f.row or 1, table.columns.get(f.column or "", -1)
        name = tabs.get(f.sheet) or (f.sheet if f.sheet in wb.sheet_names else None)
        if name is None:
            return None
        col = f.column or "A"
        if col.isalpha() and col.isascii() and len(col) <= 3:
            from .writeback.xlsxpatch import column_index

            return name, f.row or 1, column_index(col)
        return name, f.row or 1, -1

    def who(f: Finding) -> tuple[str, str, str]:
        rec = None
        if f.sheet == CUSTOMERS.name and f.row:
            rec = by_row.get(f.row)
        elif f.sheet == FOLLOWUPS.name and f.row:
            fu = fu_rows.get(f.row)
            if fu is not None:
                rec = by_id.get(fu.values.get("customer_id") or "")
        if rec is None and f.customer_id:
            rec = by_id.get(f.customer_id)
        cid = f.customer_id or (rec.values.get("customer_id") if rec is not None else "") or ""
        if rec is None:
            return cid, "", ""
        return cid, str(rec.values.get("name") or ""), str(rec.values.get("owner") or "")

    def label(f: Finding) -> str:
        table = tables.get(f.sheet)
        if table is not None and f.column in table.schema.by_key:
            return table.schema.field(f.column).header(wb.lang)
        return f.column or ""

    def tab_title(sheet: str) -> str:
        table = tables.get(sheet)
        return table.sheet_name if table is not None else tabs.get(sheet, sheet)

    return locate, who, label, tab_title


def master_issue_table(wb: Workbook, findings: list[Finding]) -> IssueTable:
    """The master's Issues rows, links and marks."""
    return build_issue_table(findings, wb.lang, *master_lookup(wb))


def data_sheet_dress(marks: Mapping[str, set[tuple[int, int]]], overdue: str | None = None,
                     overdue_col: int | None = None, pages: int = 1) -> Any:
    """The engine's formats on a data sheet: problem cells, and overdue follow-ups."""
    from .writeback.xlsxpatch import CfRule, SheetDress

    rules = [CfRule(kind, sqref(marks[kind])) for kind in _SEVERITY_ORDER if marks.get(kind)]
    if overdue and overdue_col is not None:
        letter = column_letter(overdue_col)
        rules.append(CfRule("overdue", f"{letter}2:{letter}1048576", overdue))
    return SheetDress(rules=rules, print_setup=pages)


def issues_dress(lang: str, n_rows: int) -> Any:
    from .writeback.xlsxpatch import CfRule, SheetDress

    return SheetDress(rules=[CfRule(k, ref, fm) for k, ref, fm in severity_rules(lang, n_rows)],
                      autofilter=f"A1:{LAST_COL}{max(n_rows + 1, 1)}",
                      print_setup=pages_wide(ISSUES_WIDTHS))


# ---------------------------------------------------------------------------- xlsxwriter


def _cf_formula(kind: str, formula: str) -> str:
    from .writeback.xlsxpatch import ENGINE_CF_MARK

    return f'=AND("{ENGINE_CF_MARK}{kind}"<>"",{formula})'


PRINT_REPEAT = {"Customers": 2, "Followups": 3}  # columns repeated on every printed page
PAGE_CHARS = 190  # column-width units on an A4 landscape page at about 80 % scale


def pages_wide(widths: Iterable[float], repeat: int = 0) -> int:
    """How many A4 landscape pages wide a sheet prints so its text stays readable (about
    80 % scale or more), the first `repeat` columns printed again on every page."""
    widths = list(widths)
    rep = sum(widths[:repeat])
    rest = sum(widths) - rep
    room = max(PAGE_CHARS - rep, PAGE_CHARS // 2)
    return max(1, -(-int(rest) // int(room)))


def print_titles(repeat: int = 0, header_rows: int = 1) -> str:
    """The print-titles reference: header rows, and the first `repeat` columns."""
    rows = f"$1:${header_rows}"
    return f"$A:${column_letter(repeat - 1)},{rows}" if repeat else rows


def print_setup(ws: Any, header_rows: int = 1, pages: int = 1, repeat: int = 0) -> None:
    """A4 landscape, `pages` wide (readable, not 25 columns at 5 pt), header row (and the
    first `repeat` columns) repeated on every page."""
    ws.set_paper(9)
    ws.set_landscape()
    ws.fit_to_pages(pages, 0)
    ws.repeat_rows(0, header_rows - 1)
    if repeat:
        ws.repeat_columns(0, repeat - 1)
    ws.set_margins(left=0.4, right=0.4, top=0.6, bottom=0.6)


def mark_sheet(book: Any, ws: Any, marks: Mapping[str, set[tuple[int, int]]],
               formats: dict[str, Any] | None = None, overdue: str | None = None,
               overdue_col: int | None = None) -> None:
    """Mark problem cells (and overdue follow-ups) on a sheet written with xlsxwriter."""
    formats = formats if formats is not None else {}
    for kind in (*_SEVERITY_ORDER, "overdue"):
        if kind == "overdue":
            if not overdue or overdue_col is None:
                continue
            letter = column_letter(overdue_col)
            ref, formula = f"{letter}2:{letter}1048576", overdue
        else:
            cells = marks.get(kind)
            if not cells:
                continue
            ref, formula = sqref(cells), "TRUE"
        if kind not in formats:
            formats[kind] = book.add_format(XW_DXF[kind])
        first = ref.split(" ")[0]
        ws.conditional_format(first, {"type": "formula", "criteria": _cf_formula(kind, formula),
                                      "format": formats[kind], "multi_range": ref})


def write_issues_sheet(book: Any, name: str, lang: str, table: IssueTable,
                       header_format: Any = None, formats: dict[str, Any] | None = None) -> Any:
    """An Issues sheet written whole (a copy's own): header, rows, coloured by severity,
    filter, frozen header, jump links in the hyperlink style, page setup."""
    formats = formats if formats is not None else {}
    ws = book.add_worksheet(name)
    for c, (h, w) in enumerate(zip(ISSUES_HEADERS.get(lang, ISSUES_HEADERS["en"]), ISSUES_WIDTHS,
                                   strict=True)):
        ws.set_column(c, c, w)
        ws.write_string(0, c, h, header_format)
    if "link" not in formats:
        formats["link"] = book.add_format({"font_color": "#0563C1", "underline": 1})
    for r, row in enumerate(table.rows, start=1):
        for c, v in enumerate(row):
            if v is None or v == "":
                continue
            loc = table.links.get((r + 1, c))
            if loc is not None:
                ws.write_url(r, c, f"internal:{loc}", formats["link"], str(v))
            elif isinstance(v, int | float):
                ws.write_number(r, c, v)
            else:
                ws.write_string(r, c, str(v))
    n = len(table.rows)
    for kind, ref, formula in severity_rules(lang, n):
        if kind not in formats:
            formats[kind] = book.add_format(XW_DXF[kind])
        ws.conditional_format(ref, {"type": "formula", "criteria": _cf_formula(kind, formula),
                                    "format": formats[kind]})
    ws.autofilter(0, 0, max(n, 0), len(ISSUES_WIDTHS) - 1)
    ws.freeze_panes(1, 0)
    print_setup(ws, pages=pages_wide(ISSUES_WIDTHS))
    return ws


# ---------------------------------------------------------------------------- copies


_CUSTOMER_ID = re.compile(r"(?<![0-9A-Za-z])C\d{11,}(?!\d)")
_FINDINGS_CACHE: dict[int, tuple[Workbook, Any, list[Finding]]] = {}  # the last master only


def master_findings(wb: Workbook, today: Any) -> list[Finding]:
    """The master's findings (validated once per loaded workbook and day, shared by every
    copy built from it), sorted as the master's Issues sheet lists them. Only the last
    master is remembered (a new one replaces it)."""
    hit = _FINDINGS_CACHE.get(id(wb))
    if hit is not None and hit[0] is wb and hit[1] == today:
        return hit[2]
    from .validation import validate

    order = {"error": 0, "warning": 1, "info": 2}
    found = sorted(validate(wb, today).findings, key=lambda f: (
        order.get(f.severity, 3), f.sheet, f.row or 0, f.column or "", f.code))
    _FINDINGS_CACHE.clear()
    _FINDINGS_CACHE[id(wb)] = (wb, today, found)
    return found


def copy_issue_table(wb: Workbook, findings: list[Finding], lang: str,
                     sheets: Mapping[str, tuple[str, list[str], list[Any]]],
                     hidden: Iterable[str] = ()) -> IssueTable:
    """Issues rows for one person's (or department's) copy: only findings on the rows the
    copy shows, pointing at the copy's own cells.

    `sheets`: stable key -> (tab in the copy, column keys shown, master records shown in
    order, first at row 2). `hidden`: column keys the audience must not read (masked):
    findings on them are left out, since a message quotes the value."""
    _, who, label, _ = master_lookup(wb)
    hidden = set(hidden)
    where: dict[str, tuple[str, dict[int, int], dict[str, int]]] = {}
    for key, (tab, keys, records) in sheets.items():
        where[key] = (tab, {rec.row: i + 2 for i, rec in enumerate(records)},
                      {k: i for i, k in enumerate(keys)})
    visible = {str(rec.values.get("customer_id")) for rec in
               sheets.get(CUSTOMERS.name, ("", [], []))[2]}
    mine: list[Finding] = []
    for f in findings:
        w = where.get(f.sheet)
        if w is None or not f.row or f.row not in w[1] or (f.column or "") in hidden:
            continue
        named = _CUSTOMER_ID.findall(f.message)
        if any(cid not in visible for cid in named) or (
                f.code == "customer.possible_duplicate" and not named):
            continue  # it names a customer this copy does not show (a possible duplicate)
        if hidden:  # an audience with masked contacts: a phone quoted in a message too
            from dataclasses import replace

            from .permissions import mask_contacts_in_text

            f = replace(f, message=mask_contacts_in_text(f.message))
        mine.append(f)

    def locate(f: Finding) -> tuple[str, int, int] | None:
        tab, rows, cols = where[f.sheet]
        return tab, rows[f.row or 0], cols.get(f.column or "", -1)

    return build_issue_table(mine, lang, locate, who, label,
                             lambda sheet: where[sheet][0] if sheet in where else sheet)


def add_note_rows(table: IssueTable, lang: str, rows: Iterable[tuple[str, Finding]],
                  tab_title: Callable[[str], str]) -> None:
    """Append findings that have no cell in the copy (a hand-back's leftovers, rows the
    copy left out), the source named before the message."""
    sev = SEVERITY_TEXT.get(lang, SEVERITY_TEXT["en"])
    for source, f in rows:
        sep = "：" if lang == "zh" else ": "
        table.rows.append([tab_title(f.sheet), f.row, f.column or "", f.code,
                           sev.get(f.severity, f.severity), f"{source}{sep}{f.message}",
                           f.customer_id or "", "", "", ""])


def dress_copy(book: Any, table: IssueTable, keys_by_tab: Mapping[str, list[str]],
               customers_tab: str) -> None:
    """Mark the copy's problem cells and overdue follow-ups (the master's look)."""
    formats: dict[str, Any] = {}
    for tab, keys in keys_by_tab.items():
        ws = book.get_worksheet_by_name(tab)
        if ws is None:
            continue
        overdue = col = None
        if tab == customers_tab and "next_followup_date" in keys:
            col = keys.index("next_followup_date")
            overdue = overdue_formula(col, keys.index("stage") if "stage" in keys else None,
                                      keys.index("status") if "status" in keys else None)
        mark_sheet(book, ws, table.marks.get(tab, {}), formats, overdue, col)
