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
import uuid
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import xlsxwriter

from ..charts_data import Dashboard, build_dashboard
from ..errors import CrmError
from ..home import CrmHome
from ..model import Record, Table, Workbook
from ..permissions import (
    Actor,
    _same_owner,
    can_add_followup,
    editable_fields,
    masked_fields,
    visible_customer,
    visible_fields,
    visible_followup,
)
from ..schema import CUSTOMERS, FOLLOWUPS, LIST_COLUMNS, SheetSchema
from ..template import LIST_ROWS, MAX_ROW, NUMBER_FORMATS, list_range_name, write_value
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

def followup_row_editable(actor: Actor, rec: Record, customer_owner: str | None) -> bool:
    """May `actor` change an existing follow-up? Admin/manager: any. Sales: the ones they
    wrote on their own customers. Service: the ones they wrote. Others: none."""
    if actor.role in ("admin", "manager"):
        return True
    if not can_add_followup(actor, customer_owner):
        return False
    return actor.role in ("sales", "service") and _same_owner(rec.values.get("owner"), actor)


# --- what goes in ------------------------------------------------------------------------------

@dataclasses.dataclass
class SheetPlan:
    schema: SheetSchema
    keys: list[str]
    editable: set[str]
    rows: list[list[Any]]
    row_editable: list[bool]
    ids: list[str]


def plan_sheets(wb: Workbook, actor: Actor) -> tuple[SheetPlan, SheetPlan | None]:
    """The rows and columns `actor` sees, projected as the view shows them."""
    ckeys = sheet_keys(CUSTOMERS, visible_fields(actor, CUSTOMERS), wb.customers.columns)
    if "customer_id" not in ckeys:
        raise CrmError("主表没有客户编号列：请先运行 crm apply / the master has no customer ID "
                       "column: run crm apply first")
    masked = masked_fields(actor)
    c_edit = set(editable_fields(actor, CUSTOMERS)) - masked
    cproj = view_projector(actor, ckeys)
    crow, cids, cedit = [], [], []
    owners: dict[str, Any] = {}
    seen: set[str] = set()
    for rec in wb.customers.records:
        cid = rec.values.get("customer_id")
        if not cid or cid in seen or not visible_customer(actor, rec):
            continue
        seen.add(cid)
        owners[cid] = rec.values.get("owner")
        crow.append(cproj(rec))
        cids.append(cid)
        cedit.append(bool(c_edit))
    cust = SheetPlan(CUSTOMERS, ckeys, c_edit, crow, cedit, cids)
    fvis = visible_fields(actor, FOLLOWUPS)
    if not fvis:
        return cust, None
    fkeys = sheet_keys(FOLLOWUPS, fvis, wb.followups.columns)
    if "followup_id" not in fkeys:
        return cust, None
    f_edit = set(editable_fields(actor, FOLLOWUPS)) - masked
    fproj = view_projector(actor, fkeys)
    frows, fids, fedit = [], [], []
    fseen: set[str] = set()
    for rec in wb.followups.records:
        fid = rec.values.get("followup_id")
        cid = rec.values.get("customer_id")
        if not fid or fid in fseen or cid not in owners:
            continue
        owner = owners[cid]
        if not visible_followup(actor, rec, owner):
            continue
        fseen.add(fid)
        frows.append(fproj(rec))
        fids.append(fid)
        fedit.append(bool(f_edit) and followup_row_editable(actor, rec, owner))
    return cust, SheetPlan(FOLLOWUPS, fkeys, f_edit, frows, fedit, fids)


def _sub_workbook(wb: Workbook, cust_ids: set[str]) -> Workbook:
    """The master restricted to some customers (for a rep's own figures)."""
    def sub(table: Table, key: str) -> Table:
        return dataclasses.replace(table, records=[r for r in table.records
                                                   if r.values.get(key) in cust_ids])

    return dataclasses.replace(wb, customers=sub(wb.customers, "customer_id"),
                               followups=sub(wb.followups, "customer_id"))


def audience_dashboard(wb: Workbook, aud: Audience, cust_ids: set[str], today: dt.date,
                       cache: dict[str, Dashboard]) -> Dashboard:
    """The audience's own figures: a rep's customers, service figures, or everything."""
    zh = wb.lang == "zh"
    if aud.role == "sales":
        who = aud.display_name or aud.account or ""
        return build_dashboard(_sub_workbook(wb, cust_ids), today=today,
                               scope=f"{who} 的客户" if zh else f"customers of {who}")
    scope = "service" if aud.role == "service" else "all"
    if scope not in cache:
        dash = build_dashboard(wb, today=today)
        if scope == "service":
            dash.tables = [t for t in dash.tables if t.key in ("efficiency", "owners", "dormant")]
            dash.scope = "客服视图" if zh else "customer service"
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
    if aud.role == "sales":  # a rep sees their own name only
        lists["owners"] = [aud.display_name or aud.account or ""]
    for c, (key, (zh, en)) in enumerate(LIST_COLUMNS.items()):
        ws.set_column(c, c, 14)
        ws.write_string(0, c, zh if wb.lang == "zh" else en, fmts["header"])
        letter = column_letter(c)
        book.define_name(list_range_name(key), f"='Lists'!${letter}$2:${letter}${LIST_ROWS + 1}")
        for r, v in enumerate(lists.get(key, [])[:LIST_ROWS], start=1):
            ws.write_string(r, c, str(v))
    ws.protect()
    ws.hide()


def _data_sheet(book: Any, name: str, plan: SheetPlan, lang: str, fmts: dict[str, Any]) -> None:
    ws = book.add_worksheet(name)
    fields = [plan.schema.field(k) for k in plan.keys]
    kinds = [f.kind for f in fields]
    open_cols = [k in plan.editable for k in plan.keys]
    zh = lang == "zh"
    for c, f in enumerate(fields):
        fm = fmts["open" if open_cols[c] else "locked"]
        ws.set_column(c, c, f.width, fm.get(f.kind, fm["text"]))
        ws.write_string(0, c, f.header(lang), fm["header"])
        if f.choices and open_cols[c]:
            ws.data_validation(1, c, MAX_ROW - 1, c, {
                "validate": "list", "source": f"={list_range_name(f.choices)}",
                "ignore_blank": True, "error_type": "warning",
                "error_title": "不在列表中" if zh else "Not in the list",
                "error_message": "请从下拉列表中选择" if zh else "Pick a value from the list"})
    ws.set_row(0, 30)
    locked, opened = fmts["locked"], fmts["open"]
    for r, (row, editable) in enumerate(zip(plan.rows, plan.row_editable, strict=True), start=1):
        for c, v in enumerate(row):
            if v is None or v == "":
                if open_cols[c] and not editable:
                    ws.write_blank(r, c, None, locked.get(kinds[c], locked["text"]))
                continue
            write_value(ws, r, c, v, kinds[c], opened if open_cols[c] and editable else locked)
    ws.freeze_panes(1, 2 if plan.schema is CUSTOMERS else 1)
    ws.autofilter(0, 0, max(len(plan.rows), 1), len(fields) - 1)
    ws.protect("", {"autofilter": True, "sort": True, "format_columns": True,
                    "format_rows": True, "select_locked_cells": True,
                    "select_unlocked_cells": True})


def _chart_sheet(book: Any, dash: Dashboard, lang: str) -> None:
    from ..export.xlsx import Formats, write_chart_tables, write_text

    fm = Formats(book)
    ws = book.add_worksheet(CHART_SHEET["zh" if lang == "zh" else "en"])
    ws.write_string(0, 0, dash.title, fm.title)
    line = (f"日期：{dash.today.isoformat()}" if lang == "zh" else f"Date: {dash.today.isoformat()}")
    if dash.scope:
        line += ("　范围：" if lang == "zh" else "   Scope: ") + dash.scope
    write_text(ws, 1, 0, line, fm.note)
    for c, (label, value) in enumerate(dash.kpis):
        write_text(ws, 3, c, label, fm.kpi_label)
        if isinstance(value, (int, float)):
            ws.write_number(4, c, value, fm.kpi_value)
        else:
            write_text(ws, 4, c, value, fm.kpi_value)
    ws.set_row(3, 30)
    write_chart_tables(book, ws, fm, dash.tables, first_row=6)
    ws.protect()


def view_title(aud: Audience, lang: str) -> str:
    if aud.account is None:
        zh, en = DEPARTMENT_NAMES[aud.department or ""]
        who = zh if lang == "zh" else en
    else:
        who = aud.display_name or aud.account
    return f"CRM 视图 – {who}" if lang == "zh" else f"CRM view – {who}"


def render_view(wb: Workbook, aud: Audience, *, home_id: str, key: bytes, master_sha: str,
                today: dt.date, dash_cache: dict[str, Dashboard] | None = None,
                password: str | None = None) -> bytes:
    """One view as xlsx bytes (encrypted when `password` is given)."""
    actor = aud.actor
    cust, fol = plan_sheets(wb, actor)
    lang = wb.lang
    buf = io.BytesIO()
    book = xlsxwriter.Workbook(buf, {"in_memory": True, "strings_to_formulas": False,
                                     "strings_to_numbers": False, "strings_to_urls": False})
    title = view_title(aud, lang)
    book.set_properties({"title": title, "author": "crm-sheets", "created": dt.datetime.now(),
                         "comments": "crm-sheets view"})
    fmts = _formats(book)
    _data_sheet(book, CUSTOMERS.title(lang), cust, lang, fmts)
    if fol is not None:
        _data_sheet(book, FOLLOWUPS.title(lang), fol, lang, fmts)
    dash = audience_dashboard(wb, aud, set(cust.ids), today, dash_cache if dash_cache is not None
                              else {})
    _chart_sheet(book, dash, lang)
    _lists_sheet(book, wb, aud, fmts["locked"])
    keys = {CUSTOMERS.name: cust.keys}
    base = {CUSTOMERS.name: {i: "".join(map(fingerprint, row))
                             for i, row in zip(cust.ids, cust.rows, strict=True)}}
    if fol is not None:
        keys[FOLLOWUPS.name] = fol.keys
        base[FOLLOWUPS.name] = {i: "".join(map(fingerprint, row))
                                for i, row in zip(fol.ids, fol.rows, strict=True)}
    m = Manifest(home_id=home_id, view_id=uuid.uuid4().hex, account=aud.account, role=aud.role,
                 display_name=aud.display_name, department=aud.department,
                 revision=str(wb.meta.get("revision", "0")), master_sha256=master_sha,
                 built_at=dt.datetime.now().isoformat(timespec="seconds"), lang=lang, keys=keys,
                 base=base)
    write_manifest(book, m, key)
    book.worksheets()[0].activate()
    book.close()
    data = buf.getvalue()
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
                progress: Callable[[Path], None] | None = None) -> list[Path]:
    """Write one view per sales rep and per department (or per named account) into
    `out_dir` (default: the home's views/). Returns the paths written."""
    from ..reader import load
    from ..writeback.atomic import atomic_write_bytes
    from ..writeback.safe import file_sha256

    master_path = Path(master_path)
    auds = list(audience_list) if audience_list is not None else audiences(home, roles, users)
    out = Path(out_dir) if out_dir is not None else home.views
    out.mkdir(parents=True, exist_ok=True)
    sha = file_sha256(master_path)
    wb = load(master_path)
    key = signing_key(home)
    day = _today(today)
    cache: dict[str, Dashboard] = {}
    paths = []
    for aud in auds:
        data = render_view(wb, aud, home_id=home.home_id, key=key, master_sha=sha, today=day,
                           dash_cache=cache, password=encrypt_password)
        path = out / f"{aud.file_stem}.xlsx"
        atomic_write_bytes(path, data)
        paths.append(path)
        if progress is not None:
            progress(path)
    return paths
