"""Shared mode (DESIGN §1): everyone edits the master; each save is attributed and checked.

The watcher calls `shared_mode_check(before, after, author, home)` with the workbook as
it was and as it is after a save, and the saver from `last_modified_by(path)` (the
file's docProps/core.xml). The author is mapped to an account (display name or
account name); every change outside that account's rights becomes a finding. Nothing
is undone: in shared mode there is no read protection, only attribution and reports.

Limits: `lastModifiedBy` is whatever the editor wrote (Excel's user name), so it is
attribution, not authentication; the engine's own writes keep the previous saver's
name, so `before` must be the master as this save found it: the watcher passes the
engine's last write (`apply.state.engine_snapshot`) when the engine wrote since the
previous save, and treats a file that is that write as the engine's (not checked).
Whatever differs between `before` and `after` is this author's doing.
"""

from __future__ import annotations

import io
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as SafeET

from ..findings import Finding, make
from ..home import CrmHome
from ..model import Record, Table, Workbook
from ..permissions import (
    Actor,
    _same_owner,
    allowed,
    can_add_followup,
    customer_edit_refusal,
    followup_edit_refusal,
)
from ..schema import CUSTOMERS, FOLLOWUPS, SheetSchema
from .common import canon, show, why

_CP = "{http://schemas.openxmlformats.org/package/2006/metadata/core-properties}"
MAX_CORE_BYTES = 1 << 20


def last_modified_by_bytes(data: bytes) -> str | None:
    """`lastModifiedBy` from an xlsx held in memory (None when absent or unreadable)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            return _core_author(z)
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def last_modified_by(path: str | Path) -> str | None:
    """Who saved the workbook last, from docProps/core.xml (parsed with defusedxml)."""
    try:
        with zipfile.ZipFile(Path(path)) as z:
            return _core_author(z)
    except (zipfile.BadZipFile, OSError, ValueError):
        return None


def _core_author(z: zipfile.ZipFile) -> str | None:
    name = next((n for n in z.namelist() if n.replace("\\", "/").lower() == "docprops/core.xml"),
                None)
    if name is None or z.getinfo(name).file_size > MAX_CORE_BYTES:
        return None
    try:
        root = SafeET.fromstring(z.read(name))
    except Exception:  # noqa: BLE001 - malformed or hostile XML: no author
        return None
    el = root.find(f"{_CP}lastModifiedBy")
    text = (el.text or "").strip() if el is not None else ""
    return text or None


def _actor_for(author: str, home: CrmHome | None) -> Actor | None:
    if home is None or not author:
        return None
    from .. import accounts

    acc = accounts.account_for_owner(home, author)
    if acc is None or acc.disabled:
        return None
    return Actor(name=acc.name, role=acc.role, display_name=acc.display_name)


def _by_id(table: Table, key: str) -> tuple[dict[str, Record], list[Record]]:
    out: dict[str, Record] = {}
    blank: list[Record] = []
    for r in table.records:
        rid = r.values.get(key)
        if rid and rid not in out:
            out[rid] = r
        elif not rid:
            blank.append(r)
    return out, blank


def _cell(rec: Record, key: str) -> Any:
    return rec.raw.get(key) if key in rec.problems else rec.values.get(key)


def _signature(rec: Record, keys: list[str]) -> tuple[str, ...]:
    return tuple(canon(_cell(rec, k)) for k in keys)


def _pair_tables(before: Workbook, after: Workbook, schema: SheetSchema, key_id: str) -> tuple[
        dict[str, Record], list[Record], dict[str, Record], list[Record], list[str], set[str]]:
    """One sheet of two versions keyed by ID (plus ID-less rows), the columns either has, and
    the engine-owned columns: what both the rights check and the audit of a save compare."""
    tb = before.customers if schema is CUSTOMERS else before.followups
    ta = after.customers if schema is CUSTOMERS else after.followups
    old, old_blank = _by_id(tb, key_id)
    new, new_blank = _by_id(ta, key_id)
    keys = [k for k in schema.keys if k in ta.columns or k in tb.columns]
    engine = {f.key for f in schema.fields if f.engine}
    return old, old_blank, new, new_blank, keys, engine


def _same_row(a: Record, b: Record) -> bool:
    """Fast path: every cell reads the same (most rows of a save)."""
    return a.values == b.values and a.problems == b.problems and a.raw == b.raw


class _Check:
    def __init__(self, before: Workbook, after: Workbook, author: str, actor: Actor) -> None:
        self.before, self.after, self.author, self.actor = before, after, author, actor
        self.lang = after.lang
        self.out: list[Finding] = []
        self.owner_before = {cid: r.values.get("owner")
                             for cid, r in before.customers_by_id().items()}
        self.owner_after = {cid: r.values.get("owner")
                            for cid, r in after.customers_by_id().items()}

    def finding(self, code: str, schema: SheetSchema, rec: Record | None, key: str | None,
                **params: Any) -> None:
        cid = rec.values.get("customer_id") if rec is not None else None
        self.out.append(make(code, self.lang, sheet=schema.name, row=rec.row if rec else None,
                             column=key, customer_id=cid if isinstance(cid, str) else None,
                             author=self.author, **params))

    def why_customer(self, key: str, old_rec: Record) -> str | None:
        return customer_edit_refusal(self.actor, key, old_rec)

    def why_followup(self, key: str, old_rec: Record, new_rec: Record) -> str | None:
        why = followup_edit_refusal(self.actor, key, old_rec,
                                    self.owner_before.get(old_rec.values.get("customer_id")))
        if why is not None:
            return "followup" if why == "not_owner" else why
        if key == "customer_id" and not can_add_followup(
                self.actor, self.owner_after.get(new_rec.values.get("customer_id"))):
            return "followup"
        return None

    def compare(self, schema: SheetSchema, key_id: str) -> None:
        old, old_blank, new, new_blank, keys, engine = _pair_tables(
            self.before, self.after, schema, key_id)
        for rid, nrec in new.items():
            orec = old.get(rid)
            if orec is None:
                self.new_row(schema, nrec)
                continue
            if _same_row(orec, nrec):
                continue
            for k in keys:
                a, b = _cell(orec, k), _cell(nrec, k)
                if canon(a) == canon(b):
                    continue
                reason = (self.why_customer(k, orec) if schema is CUSTOMERS
                          else self.why_followup(k, orec, nrec))
                if reason is not None:
                    self.finding("shared.edit_outside_rights", schema, nrec, k,
                                 header=schema.field(k).header(self.lang), old=show(a),
                                 new=show(b), why=why(reason, self.lang))
        for rid, orec in old.items():
            if rid not in new:
                self.finding("shared.row_deleted", schema, orec, key_id, value=rid,
                             sheet_label=schema.title(self.lang))
        before_sigs = Counter(_signature(r, [k for k in keys if k not in engine])
                              for r in old_blank)
        for nrec in new_blank:
            sig = _signature(nrec, [k for k in keys if k not in engine])
            if before_sigs[sig] > 0:
                before_sigs[sig] -= 1
                continue
            self.new_row(schema, nrec)

    def new_row(self, schema: SheetSchema, rec: Record) -> None:
        if schema is CUSTOMERS:
            ok = allowed(self.actor.role, "customers_edit") and (
                self.actor.role != "sales" or _same_owner(rec.values.get("owner"), self.actor))
            reason = "no_add" if not allowed(self.actor.role, "customers_edit") else "not_owner"
        else:
            ok = can_add_followup(self.actor, self.owner_after.get(rec.values.get("customer_id")))
            reason = "followup"
        if not ok:
            self.finding("shared.row_added_outside_rights", schema, rec, None,
                         why=why(reason, self.lang))


def shared_mode_check(before: Workbook, after: Workbook, author: str | None,
                      home: CrmHome | None) -> list[Finding]:
    """Findings for the changes of one save that lie outside the saver's rights.

    `author` is the file's `lastModifiedBy`; it is mapped to an account by display
    name or account name. An unknown author gets one `shared.unknown_author` warning
    (with the number of changed rows) instead of per-cell findings.
    """
    author = (author or "").strip()
    actor = _actor_for(author, home)
    if actor is None:
        n = _count_changes(before, after)
        if n == 0:
            return []
        return [make("shared.unknown_author", after.lang, sheet=CUSTOMERS.name,
                     author=author or "?", count=n)]
    if actor.role in ("admin",):
        return []
    check = _Check(before, after, author, actor)
    check.compare(CUSTOMERS, "customer_id")
    check.compare(FOLLOWUPS, "followup_id")
    return check.out


def _count_changes(before: Workbook, after: Workbook) -> int:
    n = 0
    for tb, ta in ((before.customers, after.customers), (before.followups, after.followups)):
        keys = [k for k in ta.schema.keys]
        old = Counter(_signature(r, keys) for r in tb.records)
        for r in ta.records:
            sig = _signature(r, keys)
            if old[sig] > 0:
                old[sig] -= 1
            else:
                n += 1
        n += sum(v for v in old.values() if v > 0)
    return n


AUDIT_CAP = 5000  # cell events recorded per save; the rest are counted in one event


def _cid(rec: Record) -> str | None:
    v = rec.values.get("customer_id")
    return v if isinstance(v, str) and v else None


def _added(schema: SheetSchema, key_id: str, rec: Record) -> dict[str, Any]:
    return {"sheet": schema.name, "row": rec.row, "column": "*", "old": None,
            "new": rec.values.get(key_id) or rec.values.get("name") or None,
            "customer_id": _cid(rec)}


def save_changes(before: Workbook, after: Workbook, *, cap: int = AUDIT_CAP) -> list[dict[str, Any]]:
    """What one save changed in Customers and Followups, as audit events: one per changed
    cell (`sheet`, `row`, `column`, `old`, `new`, `customer_id`), one per added row
    (`column` "*", `new` = its ID or name) and per deleted row (`old` = its ID).

    The watcher records them under the saver's name, so `crm audit` answers who changed a
    cell that was edited directly in the master (shared mode). Rows are matched by ID,
    rows without an ID by their content. After `cap` events, one event counts the rest.
    """
    out: list[dict[str, Any]] = []
    more = 0

    def add(event: dict[str, Any]) -> None:
        nonlocal more
        if len(out) < cap:
            out.append({**event, "reason": "shared.save"})
        else:
            more += 1

    for schema, key_id in ((CUSTOMERS, "customer_id"), (FOLLOWUPS, "followup_id")):
        old, old_blank, new, new_blank, keys, engine = _pair_tables(before, after, schema, key_id)
        for rid, nrec in new.items():
            orec = old.get(rid)
            if orec is None:
                add(_added(schema, key_id, nrec))
                continue
            if _same_row(orec, nrec):
                continue
            for k in keys:
                a, b = _cell(orec, k), _cell(nrec, k)
                if canon(a) != canon(b):
                    add({"sheet": schema.name, "row": nrec.row, "column": k, "old": a, "new": b,
                         "customer_id": _cid(nrec)})
        for rid, orec in old.items():
            if rid not in new:
                add({"sheet": schema.name, "row": orec.row, "column": "*", "old": rid,
                     "new": None, "customer_id": _cid(orec)})
        user_keys = [k for k in keys if k not in engine]
        before_sigs = Counter(_signature(r, user_keys) for r in old_blank)
        for nrec in new_blank:
            sig = _signature(nrec, user_keys)
            if before_sigs[sig] > 0:
                before_sigs[sig] -= 1
            else:
                add(_added(schema, key_id, nrec))
    if more:
        out.append({"sheet": "*", "summary": True, "reason": "shared.save", "more": more})
    return out
