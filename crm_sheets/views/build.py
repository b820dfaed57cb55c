"""Build per-role and per-person workbooks from the master (controlled mode, DESIGN §1).

Least privilege by construction: a view holds only the rows and columns its audience
may see (`permissions.visible_*`), contact details masked for marketing, prohibited
numbers redacted — what a role may not see is left out of the file, never hidden.
Editable columns are unlocked and the sheets protected (guidance only: the 16-bit
protection hash hides nothing); dropdowns come from the view's own Lists sheet; a
chart sheet shows the audience's own figures; a very-hidden, signed manifest records
the base of every row for the three-way merge (`merge.py`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import os
import re
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import xlsxwriter

from ..charts_data import Dashboard, build_dashboard, service_view
from ..errors import CrmError
from ..findings import Finding, make
from ..home import CrmHome
from ..model import Record, Table, Workbook
from ..permissions import (
    Actor,
    editable_fields,
    followup_row_editable,
    masked_fields,
    visible_customer,
    visible_fields,
    visible_followup,
)
from ..schema import CUSTOMERS, FOLLOWUPS, LIST_COLUMNS, Kind, SheetSchema
from ..template import LIST_ROWS, MAX_ROW, NUMBER_FORMATS, list_range_name
from .common import (
    CHART_SHEET,
    DEPARTMENT_NAMES,
    DEPARTMENTS,
    Audience,
    fingerprint,
    sheet_keys,
    signing_key,
    view_projector,
)
from .crypto import encrypt_bytes
from .manifest import Manifest, write_manifest

ALL_ROLES = ("sales", "service", "marketing", "management")
FONT = "等线"
EDIT_BG, LOCKED_BG = "#E2EFDA", "#EDEDED"


# --- who gets a view ----------------------------------------------------------------

def audiences(home: CrmHome, roles: Iterable[str] | None = None,
              users: Iterable[str] | None = None) -> list[Audience]:
    """One audience per sales account and per department, or the named accounts."""
    from .. import accounts

    if users:
        out = []
        for name in users:
            try:
                u = accounts.get_user(home, name)
            except CrmError:
                raise CrmError(f"没有账户 '{name}' / no account '{name}'") from None
            if u.disabled:
                raise CrmError(f"账户 '{name}' 已停用 / account '{name}' is disabled")
            out.append(Audience(role=u.role, account=u.name, display_name=u.display_name))
        return out
    wanted = []
    for r in roles or ALL_ROLES:
        r = r.strip().lower()
        r = {"manager": "management", "销售": "sales", "客服": "service", "市场": "marketing",
             "管理层": "management"}.get(r, r)
        if r not in ALL_ROLES:
            raise CrmError(f"未知的视图角色 '{r}'（可选：{', '.join(ALL_ROLES)}）/ unknown view role "
                           f"'{r}' (one of: {', '.join(ALL_ROLES)})")
        wanted.append(r)
    out = []
    if "sales" in wanted:
        out.extend(Audience(role="sales", account=u.name, display_name=u.display_name)
                   for u in accounts.list_users(home) if u.role == "sales" and not u.disabled)
    for dep in ("service", "marketing", "management"):
        if dep in wanted:
            out.append(Audience(role=DEPARTMENTS[dep], department=dep))
    return out


def mine_audience(actor: Actor) -> Audience:
    """A person's own view (`crm views mine`): their account and role."""
    return Audience(role=actor.role, account=actor.name, display_name=actor.display_name)


# --- rights per row -------------------------------------------------------------------------

# --- what goes in ------------------------------------------------------------------------------

@dataclasses.dataclass
class SheetPlan:
    schema: SheetSchema
    keys: list[str]
    editable: set[str]
    rows: list[list[Any]]
    row_editable: list[bool]
    ids: list[str]
    fingerprints: list[str]
    records: list[Record] = dataclasses.field(default_factory=list)  # the master rows shown
    notes: list[Finding] = dataclasses.field(default_factory=list)  # for the copy's Issues


class ProjectionCache:
    """Projected rows and their fingerprints, computed once per record and masking and
    shared by every view built from the same master (most views show the same cells)."""

    def __init__(self, wb: Workbook) -> None:
        self.wb = wb
        self.full = {CUSTOMERS.name: sheet_keys(CUSTOMERS, CUSTOMERS.keys, wb.customers.columns),
                     FOLLOWUPS.name: sheet_keys(FOLLOWUPS, FOLLOWUPS.keys, wb.followups.columns)}
        self._rows: dict[tuple[str, frozenset[str]], dict[int, tuple[list[Any], list[str]]]] = {}
        self._proj: dict[tuple[str, frozenset[str]], Callable[[Record], list[Any]]] = {}
        self.by_owner: dict[str, list[Record]] = {}
        for rec in wb.customers.records:
            owner = rec.values.get("owner")
            if isinstance(owner, str):
                self.by_owner.setdefault(owner.strip().casefold(), []).append(rec)
        counts: dict[Any, int] = {}
        for rec in wb.customers.records:
            cid = rec.values.get("customer_id")
            if cid:
                counts[cid] = counts.get(cid, 0) + 1
        self.id_rows: dict[Any, list[Record]] = {}  # IDs on more than one customer row
        for rec in wb.customers.records:
            cid = rec.values.get("customer_id")
            if counts.get(cid, 0) > 1:
                self.id_rows.setdefault(cid, []).append(rec)
        self.fu_by_customer: dict[Any, list[tuple[int, Record]]] = {}
        for i, rec in enumerate(wb.followups.records):
            self.fu_by_customer.setdefault(rec.values.get("customer_id"), []).append((i, rec))

    def warm(self, actor: Actor) -> None:
        """Project every row for `actor`'s masking now (before worker processes fork)."""
        for schema, table in ((CUSTOMERS, self.wb.customers), (FOLLOWUPS, self.wb.followups)):
            for rec in table.records:
                self.row(schema, actor, rec)

    def row(self, schema: SheetSchema, actor: Actor, rec: Record) -> tuple[list[Any], list[str]]:
        key = (schema.name, masked_fields(actor))
        cache = self._rows.setdefault(key, {})
        hit = cache.get(id(rec))
        if hit is None:
            proj = self._proj.get(key)
            if proj is None:
                proj = self._proj[key] = view_projector(actor, self.full[schema.name])
            vals = proj(rec)
            hit = cache[id(rec)] = (vals, [fingerprint(v) for v in vals])
        return hit


def _select(cache: ProjectionCache, schema: SheetSchema, actor: Actor, keys: list[str]
            ) -> Callable[[Record], tuple[list[Any], str]]:
    full = cache.full[schema.name]
    idx = [full.index(k) for k in keys]

    def pick(rec: Record) -> tuple[list[Any], str]:
        vals, fps = cache.row(schema, actor, rec)
        return [vals[i] for i in idx], "".join([fps[i] for i in idx])

    return pick


def plan_sheets(wb: Workbook, actor: Actor, cache: ProjectionCache | None = None
                ) -> tuple[SheetPlan, SheetPlan | None]:
    """The rows and columns `actor` sees, projected as the view shows them."""
    cache = cache or ProjectionCache(wb)
    ckeys = sheet_keys(CUSTOMERS, visible_fields(actor, CUSTOMERS), wb.customers.columns)
    if "customer_id" not in ckeys:
        raise CrmError("主表没有客户编号列：请先运行 crm apply / the master has no customer ID "
                       "column: run crm apply first")
    masked = masked_fields(actor)
    c_edit = set(editable_fields(actor, CUSTOMERS)) - masked
    cpick = _select(cache, CUSTOMERS, actor, ckeys)
    crow, cids, cedit, cfps, crecs = [], [], [], [], []
    owners: dict[str, Any] = {}
    seen: set[str] = set()
    records = (cache.by_owner.get(actor.owner_name.casefold(), []) if actor.role == "sales"
               else wb.customers.records)
    for rec in records:
        cid = rec.values.get("customer_id")
        if not cid or cid in seen or not visible_customer(actor, rec):
            continue
        seen.add(cid)
        owners[cid] = rec.values.get("owner")
        crecs.append(rec)
        vals, fps = cpick(rec)
        crow.append(vals)
        cfps.append(fps)
        cids.append(cid)
        cedit.append(bool(c_edit))
    cust = SheetPlan(CUSTOMERS, ckeys, c_edit, crow, cedit, cids, cfps, crecs)
    # An ID on several customer rows, one of which this audience may not see, says nothing
    # about whose a follow-up is: its follow-ups stay out (issue 17.5), and the copy says so.
    ambiguous = {cid for cid in owners if cid in cache.id_rows
                 and not all(visible_customer(actor, r) for r in cache.id_rows[cid])}
    for cid in sorted(ambiguous):
        cust.notes.append(make("view.ambiguous_id", wb.lang, sheet=CUSTOMERS.name,
                               column="customer_id", customer_id=cid, value=cid))
    fvis = visible_fields(actor, FOLLOWUPS)
    if not fvis:
        return cust, None
    fkeys = sheet_keys(FOLLOWUPS, fvis, wb.followups.columns)
    if "followup_id" not in fkeys:
        return cust, None
    f_edit = set(editable_fields(actor, FOLLOWUPS)) - masked
    fpick = _select(cache, FOLLOWUPS, actor, fkeys)
    frows, fids, fedit, ffps, frecs = [], [], [], [], []
    fseen: set[str] = set()
    if actor.role == "sales":
        pairs = sorted((p for cid in owners for p in cache.fu_by_customer.get(cid, ())),
                       key=lambda p: p[0])
        frecords: Iterable[Record] = [rec for _, rec in pairs]
    else:
        frecords = wb.followups.records
    for rec in frecords:
        fid = rec.values.get("followup_id")
        cid = rec.values.get("customer_id")
        if not fid or fid in fseen or cid not in owners or cid in ambiguous:
            continue
        owner = owners[cid]
        if not visible_followup(actor, rec, owner):
            continue
        fseen.add(fid)
        frecs.append(rec)
        vals, fps = fpick(rec)
        frows.append(vals)
        ffps.append(fps)
        fids.append(fid)
        fedit.append(bool(f_edit) and followup_row_editable(actor, rec, owner))
    return cust, SheetPlan(FOLLOWUPS, fkeys, f_edit, frows, fedit, fids, ffps, frecs)


def _sub_workbook(wb: Workbook, cust_ids: set[str], customers: list[Record] | None = None,
                  followups: list[Record] | None = None) -> Workbook:
    """The master restricted to some customers (for a rep's own figures): the rows the
    copy shows when given, never every row that merely shares an ID (issue 17.5)."""
    def sub(table: Table, key: str) -> Table:
        return dataclasses.replace(table, records=[r for r in table.records
                                                   if r.values.get(key) in cust_ids])

    return dataclasses.replace(
        wb,
        customers=(dataclasses.replace(wb.customers, records=list(customers))
                   if customers is not None else sub(wb.customers, "customer_id")),
        followups=(dataclasses.replace(wb.followups, records=list(followups))
                   if followups is not None else sub(wb.followups, "customer_id")))


def audience_dashboard(wb: Workbook, aud: Audience, cust_ids: set[str], today: dt.date,
                       cache: dict[str, Dashboard], *, customers: list[Record] | None = None,
                       followups: list[Record] | None = None) -> Dashboard:
    """The audience's own figures: a rep's customers, service figures, or everything."""
    zh = wb.lang == "zh"
    if aud.role == "sales":
        who = aud.display_name or aud.account or ""
        own = build_dashboard(_sub_workbook(wb, cust_ids, customers, followups), today=today,
                              scope=f"{who} 的客户" if zh else f"customers of {who}")
        own.audience = "own"  # the rep's overdue list goes on the chart sheet
        return own
    scope = "service" if aud.role == "service" else "all"
    if scope not in cache:
        dash = build_dashboard(wb, today=today)
        if scope == "service":
            dash = service_view(dash)
        cache[scope] = dash
    return cache[scope]


# --- writing ---------------------------------------------------------------------------------------

def _formats(book: Any) -> dict[str, dict[Any, Any]]:
    out: dict[str, dict[Any, Any]] = {}
    for name, locked in (("locked", True), ("open", False)):
        base = {"font_name": FONT, "locked": locked}
        fm: dict[Any, Any] = {k: book.add_format({**base, "num_format": v})
                              for k, v in NUMBER_FORMATS.items()}
        fm["text"] = book.add_format(base)
        fm["header"] = book.add_format({"bold": True, "border": 1, "valign": "vcenter",
                                        "text_wrap": True, "font_name": FONT, "locked": True,
                                        "bg_color": LOCKED_BG if locked else EDIT_BG})
        out[name] = fm
    return out


def _lists_sheet(book: Any, wb: Workbook, aud: Audience, fmts: dict[str, Any]) -> None:
    from ..model import column_letter

    ws = book.add_worksheet("Lists")
    lists = {k: list(v) for k, v in wb.lists.items()}
    if aud.role == "sales":  # a rep sees their own name only, in every list of people
        lists["owners"] = [aud.display_name or aud.account or ""]
        lists["staff"] = [*lists["owners"], *lists.get("service", [])]
    for c, (key, (zh, en)) in enumerate(LIST_COLUMNS.items()):
        ws.set_column(c, c, 14)
        ws.write_string(0, c, zh if wb.lang == "zh" else en, fmts["header"])
        letter = column_letter(c)
        book.define_name(list_range_name(key), f"='Lists'!${letter}$2:${letter}${LIST_ROWS + 1}")
        for r, v in enumerate(lists.get(key, [])[:LIST_ROWS], start=1):
            ws.write_string(r, c, str(v))
    ws.protect()
    ws.hide()


@dataclasses.dataclass
class _Pending:
    """A data sheet whose rows are spliced into its XML after xlsxwriter closes the book."""

    index: int  # 1-based worksheet number (xl/worksheets/sheetN.xml)
    plan: SheetPlan
    open_cols: list[bool]
    styles: list[tuple[int, int, int, int]]  # per column: open, locked, open date, locked date
    dt_styles: list[tuple[int, int]]  # per column: open datetime, locked datetime


def _data_sheet(book: Any, name: str, plan: SheetPlan, lang: str, fmts: dict[str, Any]
                ) -> _Pending:
    ws = book.add_worksheet(name)
    fields = [plan.schema.field(k) for k in plan.keys]
    open_cols = [k in plan.editable for k in plan.keys]
    zh = lang == "zh"
    styles, dt_styles = [], []
    lk, op = fmts["locked"], fmts["open"]
    for c, f in enumerate(fields):
        fm = op if open_cols[c] else lk
        ws.set_column(c, c, f.width, fm.get(f.kind, fm["text"]))
        ws.write_string(0, c, f.header(lang), fm["header"])
        if f.choices and open_cols[c]:
            ws.data_validation(1, c, MAX_ROW - 1, c, {
                "validate": "list", "source": f"={list_range_name(f.dropdown or f.choices)}",
                "ignore_blank": True, "error_type": "warning",
                "error_title": "不在列表中" if zh else "Not in the list",
                "error_message": "请从下拉列表中选择" if zh else "Pick a value from the list"})
        o_fmt = (op if open_cols[c] else lk).get(f.kind, (op if open_cols[c] else lk)["text"])
        l_fmt = lk.get(f.kind, lk["text"])
        o_date = (op if open_cols[c] else lk)[Kind.DATE]
        o_dt = (op if open_cols[c] else lk)[Kind.DATETIME]
        styles.append((o_fmt._get_xf_index(), l_fmt._get_xf_index(), o_date._get_xf_index(),
                       lk[Kind.DATE]._get_xf_index()))
        dt_styles.append((o_dt._get_xf_index(), lk[Kind.DATETIME]._get_xf_index()))
    ws.set_row(0, 30)
    ws.freeze_panes(1, 2 if plan.schema is CUSTOMERS else 1)
    ws.autofilter(0, 0, max(len(plan.rows), 1), len(fields) - 1)
    ws.protect("", {"autofilter": True, "sort": True, "format_columns": True,
                    "format_rows": True, "select_locked_cells": True,
                    "select_unlocked_cells": True})
    return _Pending(len(book.worksheets()), plan, open_cols, styles, dt_styles)


_EPOCH = dt.datetime(1899, 12, 30)
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")


def _xml_text(text: str) -> str:
    if _XML_BAD.search(text):
        text = _XML_BAD.sub("", text)
    if "&" in text or "<" in text or ">" in text:
        text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return text


def _rows_xml(p: _Pending) -> tuple[str, int]:
    """The <row> elements of a data sheet (from row 2) and the last row number."""
    from ..model import column_letter

    kinds = [p.plan.schema.field(k).kind for k in p.plan.keys]
    n = len(kinds)
    letters = [f'<c r="{column_letter(c)}' for c in range(n)]
    numeric = [k in (Kind.INT, Kind.NUMBER) for k in kinds]
    date_kind = [k is Kind.DATE for k in kinds]
    code = [k is Kind.CODE for k in kinds]

    def spec(editable: bool) -> list[tuple[str, str, str, str, str, str]]:
        out = []
        for c in range(n):
            opened = p.open_cols[c] and editable
            st = p.styles[c]
            s_main = st[0] if opened else st[1]
            s_date = st[2] if opened else st[3]
            s_dt = s_date if date_kind[c] else (p.dt_styles[c][0] if opened else
                                                p.dt_styles[c][1])
            blank = f'" s="{st[1]}"/>' if (p.open_cols[c] and not editable) else ""
            out.append((f'" s="{s_main}" t="inlineStr"><is><t>', f'" s="{s_main}"><v>',
                        f'" s="{s_date}"><v>', f'" s="{s_dt}"><v>', blank,
                        f'" s="{s_main}" t="b"><v>'))
        return out

    specs = {True: spec(True), False: spec(False)}
    out: list[str] = []
    r = 1
    epoch = _EPOCH
    for r, (row, editable) in enumerate(zip(p.plan.rows, p.plan.row_editable, strict=True),
                                        start=2):
        rs = str(r)
        sp = specs[editable]
        cells = [f'<row r="{rs}">']
        add = cells.append
        for c, v in enumerate(row):
            if v is None or v == "":
                if sp[c][4]:
                    add(letters[c] + rs + sp[c][4])
                continue
            t = type(v)
            if t is str or code[c]:
                add(f"{letters[c]}{rs}{sp[c][0]}{_xml_text(str(v))}</t></is></c>")
            elif t is float or t is int:
                if numeric[c]:
                    add(f"{letters[c]}{rs}{sp[c][1]}{v!r}</v></c>")
                else:
                    add(f"{letters[c]}{rs}{sp[c][0]}{_xml_text(str(v))}</t></is></c>")
            elif t is dt.datetime:
                serial = (v.replace(tzinfo=None) - epoch).total_seconds() / 86400
                add(f"{letters[c]}{rs}{sp[c][3]}{serial!r}</v></c>")
            elif t is dt.date:
                add(f"{letters[c]}{rs}{sp[c][2]}"
                    f"{(dt.datetime(v.year, v.month, v.day) - epoch).days}</v></c>")
            elif t is bool:
                add(f"{letters[c]}{rs}{sp[c][5]}{int(v)}</v></c>")
            else:
                add(f"{letters[c]}{rs}{sp[c][0]}{_xml_text(str(v))}</t></is></c>")
        add("</row>")
        out.append("".join(cells))
    return "".join(out), r


def _splice_rows(data: bytes, pending: list[_Pending]) -> bytes:
    """Insert the data rows into the sheets xlsxwriter wrote (header only)."""
    import zipfile

    from ..model import column_letter

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    by_part = {f"xl/worksheets/sheet{p.index}.xml": p for p in pending}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as dst:
        for info in src.infolist():
            body = src.read(info.filename)
            p = by_part.get(info.filename)
            if p is not None and p.plan.rows:
                xml = body.decode("utf-8")
                rows, last = _rows_xml(p)
                xml = xml.replace("</sheetData>", rows + "</sheetData>", 1)
                last_col = column_letter(max(len(p.plan.keys) - 1, 0))
                xml = re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="A1:{last_col}{last}"/>',
                             xml, count=1)
                body = xml.encode("utf-8")
            zi = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            zi.compress_type = zipfile.ZIP_DEFLATED
            dst.writestr(zi, body)
    return out.getvalue()


def _chart_sheet(book: Any, dash: Dashboard, lang: str) -> None:
    from ..dashboard import write_dashboard_sheet
    from ..export.xlsx import Formats

    fm = Formats(book)
    ws = book.add_worksheet(CHART_SHEET["zh" if lang == "zh" else "en"])
    write_dashboard_sheet(book, ws, fm, dash, lang == "zh")
    ws.protect()


ISSUES_SHEET = {"zh": "问题", "en": "Issues"}


def _copy_issues_sheet(book: Any, wb: Workbook, actor: Actor, cust: SheetPlan,
                       fol: SheetPlan | None, today: dt.date, notes: list[Finding],
                       handback: tuple[str, str, list[Finding]] | None) -> None:
    """The copy's Issues sheet (issue 16.7): the master's findings on the rows this copy
    shows, with the copy's own row numbers and jump links, and those cells marked as in
    the master; then what the last hand-back left undone and what this copy left out
    (issue 13.15). Same columns, colours and filter as the master's Issues."""
    from ..issues_sheet import (
        add_note_rows,
        copy_issue_table,
        dress_copy,
        master_findings,
        write_issues_sheet,
    )
    from ..schema import sheet_title

    lang = wb.lang
    zh = lang == "zh"
    sheets = {CUSTOMERS.name: (CUSTOMERS.title(lang), cust.keys, cust.records)}
    if fol is not None:
        sheets[FOLLOWUPS.name] = (FOLLOWUPS.title(lang), fol.keys, fol.records)
    table = copy_issue_table(wb, master_findings(wb, today), lang, sheets, masked_fields(actor))
    dress_copy(book, table, {tab: keys for tab, keys, _ in sheets.values()}, CUSTOMERS.title(lang))
    when, name, found = handback or ("", "", [])
    src = (f"上次交回 {name}（{when[:16].replace('T', ' ')}）" if zh else
           f"last hand-back {name} ({when[:16].replace('T', ' ')})")

    def title(sheet: str) -> str:
        try:
            return sheet_title(sheet, lang)
        except KeyError:
            return "" if sheet == "_view" else sheet

    add_note_rows(table, lang, [*((src, f) for f in found),
                                *(("本副本" if zh else "this copy", f) for f in notes)], title)
    if not table.rows:
        return
    head = book.add_format({"bold": True, "border": 1, "font_name": FONT, "bg_color": LOCKED_BG})
    ws = write_issues_sheet(book, ISSUES_SHEET["zh" if zh else "en"], lang, table, head)
    ws.protect("", {"autofilter": True, "sort": True, "select_locked_cells": True,
                    "select_unlocked_cells": True})


def view_title(aud: Audience, lang: str) -> str:
    if aud.account is None:
        zh, en = DEPARTMENT_NAMES[aud.department or ""]
        who = zh if lang == "zh" else en
    else:
        who = aud.display_name or aud.account
    return f"CRM 视图 – {who}" if lang == "zh" else f"CRM view – {who}"


def render_view(wb: Workbook, aud: Audience, *, home_id: str, key: bytes, master_sha: str,
                today: dt.date, dash_cache: dict[str, Dashboard] | None = None,
                password: str | None = None, cache: ProjectionCache | None = None,
                handback: tuple[str, str, list[Finding]] | None = None) -> bytes:
    """One view as xlsx bytes (encrypted when `password` is given).

    `handback`: (when, file, findings) of the audience's last hand-back that left
    something undone (`handback.handback_findings`), listed in the copy's Issues sheet.
    """
    actor = aud.actor
    cust, fol = plan_sheets(wb, actor, cache)
    lang = wb.lang
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False,
                                     "strings_to_numbers": False, "strings_to_urls": False})
    title = view_title(aud, lang)
    book.set_properties({"title": title, "author": "crm-sheets", "created": dt.datetime.now(),
                         "comments": "crm-sheets view"})
    fmts = _formats(book)
    pending = [_data_sheet(book, CUSTOMERS.title(lang), cust, lang, fmts)]
    if fol is not None:
        pending.append(_data_sheet(book, FOLLOWUPS.title(lang), fol, lang, fmts))
    dash = audience_dashboard(wb, aud, set(cust.ids), today, dash_cache if dash_cache is not None
                              else {}, customers=cust.records,
                              followups=fol.records if fol is not None else [])
    _chart_sheet(book, dash, lang)
    _lists_sheet(book, wb, aud, fmts["locked"])
    notes = [*cust.notes, *(fol.notes if fol is not None else [])]
    _copy_issues_sheet(book, wb, actor, cust, fol, today, notes, handback)
    keys = {CUSTOMERS.name: cust.keys}
    base = {CUSTOMERS.name: dict(zip(cust.ids, cust.fingerprints, strict=True))}
    if fol is not None:
        keys[FOLLOWUPS.name] = fol.keys
        base[FOLLOWUPS.name] = dict(zip(fol.ids, fol.fingerprints, strict=True))
    m = Manifest(home_id=home_id, view_id=uuid.uuid4().hex, account=aud.account, role=aud.role,
                 display_name=aud.display_name, department=aud.department,
                 revision=str(wb.meta.get("revision", "0")), master_sha256=master_sha,
                 built_at=dt.datetime.now().isoformat(timespec="seconds"), lang=lang, keys=keys,
                 base=base)
    write_manifest(book, m, key)
    book.worksheets()[0].activate()
    book.close()
    data = _splice_rows(buf.getvalue(), pending)
    return encrypt_bytes(data, password) if password else data


def _today(today: dt.date | None) -> dt.date:
    if today is not None:
        return today
    env = os.environ.get("CRM_TODAY")
    return dt.date.fromisoformat(env.strip()) if env else dt.date.today()


def build_views(master_path: str | Path, home: CrmHome, *, roles: Sequence[str] | None = None,
                users: Sequence[str] | None = None, encrypt_password: str | None = None,
                out_dir: str | Path | None = None, today: dt.date | None = None,
                audience_list: Sequence[Audience] | None = None,
                progress: Callable[[Path], None] | None = None,
                keep_password: bool = False,
                skipped: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Write one view per sales rep and per department (or per named account) into
    `out_dir` (default: the home's views/). Returns the paths written.

    `keep_password`: remember `encrypt_password` in the private state folder so the
    watcher can open these copies when they come back to the inbox (an admin's build
    password; never a person's account password). A copy open in an editor (its lock
    file present, the master's rule) is not overwritten: it is left out of the result
    and, when `skipped` is given, listed there as (path, who has it open).
    """
    from ..reader import load
    from ..writeback.atomic import atomic_write_bytes
    from ..writeback.locks import lock_holder
    from ..writeback.safe import file_sha256

    master_path = Path(master_path)
    auds = list(audience_list) if audience_list is not None else audiences(home, roles, users)
    out = Path(out_dir) if out_dir is not None else home.views
    out.mkdir(parents=True, exist_ok=True)
    sha = file_sha256(master_path)
    wb = load(master_path)
    key = signing_key(home)
    day = _today(today)
    global _FORK_JOB
    cache: dict[str, Dashboard] = {}
    projections = ProjectionCache(wb)
    from ..issues_sheet import master_findings

    master_findings(wb, day)  # once, before any fork: every copy's Issues draws on it
    paths: list[Path] = []

    if encrypt_password and keep_password:
        from .crypto import remember_password

        remember_password(home.state, encrypt_password)
    held: dict[Path, str] = {}
    for aud in list(auds):
        target = out / f"{aud.file_stem}.xlsx"
        holder = lock_holder(target)
        if holder is not None:  # open in Excel/WPS/LibreOffice: leave it alone (13.14)
            held[target] = holder
            auds.remove(aud)
    if skipped is not None:
        skipped.extend(held.items())

    from .handback import handback_findings

    def render(aud: Audience) -> Path:
        data = render_view(wb, aud, home_id=home.home_id, key=key, master_sha=sha, today=day,
                           dash_cache=cache, password=encrypt_password, cache=projections,
                           handback=handback_findings(home, aud))
        path = out / f"{aud.file_stem}.xlsx"
        atomic_write_bytes(path, data)
        return path

    workers = min(2, os.cpu_count() or 1)
    if len(auds) > 3 and workers > 1 and _can_fork():
        import multiprocessing

        projections.warm(Actor(name="@warm", role="manager"))  # shared by the forked workers
        order = sorted(range(len(auds)), key=lambda i: auds[i].role == "sales")
        _FORK_JOB = (render, [auds[i] for i in order])
        try:
            ctx = multiprocessing.get_context("fork")
            with ctx.Pool(workers) as pool:
                done: dict[int, Path] = {}
                for k, path in pool.imap_unordered(_fork_render, range(len(order)), chunksize=1):
                    done[order[k]] = path
                    if progress is not None:
                        progress(path)
            paths = [done[i] for i in range(len(auds))]
        finally:
            _FORK_JOB = None
        return paths
    for aud in auds:
        path = render(aud)
        paths.append(path)
        if progress is not None:
            progress(path)
    return paths


_FORK_JOB: tuple[Callable[[Audience], Path], list[Audience]] | None = None


def _fork_render(k: int) -> tuple[int, Path]:
    """Worker side of the parallel build (the job was inherited through fork)."""
    assert _FORK_JOB is not None
    render, auds = _FORK_JOB
    return k, render(auds[k])


def _can_fork() -> bool:
    import multiprocessing
    import sys

    return sys.platform.startswith("linux") and "fork" in multiprocessing.get_all_start_methods()
