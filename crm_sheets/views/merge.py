"""Merge a handed-back view into the master: signature, ownership, three-way compare.

For every cell of every row the view holds, three values meet: the *base* (the
fingerprint in the signed manifest: the cell as the view showed it when built), the
*view* (what came back) and the *master* now (projected the same way):

- view = base: nobody touched it in the view; nothing to do.
- view = master: already the same (e.g. a view merged twice); nothing to do.
- the change is outside the rights of the view's account and role (not their
  customer, a read-only or masked column, the owner field, an engine column, a row
  that was never in the view): rejected, with a finding that says why;
- master ≠ base: both sides changed it: a conflict, the master keeps its value;
- otherwise the change lands, through `writeback.safe.safe_patch` (backup, atomic
  replace, verification, audit).

The rights are always those of the view's audience, whoever runs the merge. New rows
are validated; new customers pass the duplicate check and get an ID and (for a rep)
the rep as owner; new follow-ups must name a customer the audience may add follow-ups
to — by ID, or by the name of a customer added in the same copy — and leave 录入时间
to apply, which then treats them like rows typed into the master (阶段更新 moves the
stage). An ID on several customer rows is rejected, never guessed. A row deleted in a
view is reported, never deleted in the master.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CrmError
from ..findings import Finding, make
from ..home import CrmHome
from ..model import Record, Table, Workbook, new_workbook
from ..permissions import (
    Actor,
    _same_owner,
    allowed,
    can_add_followup,
    customer_edit_refusal,
    editable_fields,
    followup_edit_refusal,
    masked_fields,
    visible_customer,
)
from ..schema import CUSTOMERS, FOLLOWUPS, SHEET_META, SheetSchema
from .common import (
    DEPARTMENT_NAMES,
    MANIFEST_SHEET,
    fingerprint,
    shown_value,
    signing_key,
    view_projector,
)
from .common import show as _show
from .crypto import is_encrypted, read_view_bytes, stored_password
from .handback import record_handback
from .manifest import Manifest, ManifestError, parse_manifest

MERGED_FILE = "views-merged.json"
VALIDATION_RULES = ["parse", "required", "non_negative", "phone", "email", "choices", "region",
                    "stage_type", "lost_reason", "prohibited", "followup_times", "future_dates"]
MAX_VIEW_BYTES = 256 * 1024**2



_MERGE_CODES = {"engine": "merge.rejected_engine_column", "owner": "merge.rejected_owner_field",
                "not_owner": "merge.rejected_not_owner", "locked": "merge.rejected_locked_column"}

@dataclass
class MergeResult:
    """What a merge did: findings in four lists, and whether the master was written."""

    view: Path
    master: Path
    lang: str
    account: str | None = None
    role: str | None = None
    department: str | None = None
    landed: list[Finding] = field(default_factory=list)
    rejected: list[Finding] = field(default_factory=list)
    conflicts: list[Finding] = field(default_factory=list)
    notes: list[Finding] = field(default_factory=list)
    added_customers: list[str] = field(default_factory=list)
    added_followups: list[str] = field(default_factory=list)
    refused: bool = False
    written: bool = False
    dry_run: bool = False
    backup: Path | None = None

    @property
    def ok(self) -> bool:
        """Nothing refused or rejected and no conflict."""
        return not (self.refused or self.rejected or self.conflicts)

    def to_dict(self) -> dict[str, Any]:
        return {"view": str(self.view), "master": str(self.master), "account": self.account,
                "role": self.role, "department": self.department, "refused": self.refused,
                "written": self.written, "dry_run": self.dry_run,
                "backup": str(self.backup) if self.backup else None,
                "added_customers": self.added_customers, "added_followups": self.added_followups,
                "landed": [f.to_dict() for f in self.landed],
                "rejected": [f.to_dict() for f in self.rejected],
                "conflicts": [f.to_dict() for f in self.conflicts],
                "notes": [f.to_dict() for f in self.notes],
                "summary": {"landed": len(self.landed), "rejected": len(self.rejected),
                            "conflicts": len(self.conflicts), "notes": len(self.notes)}}


# --- reading the view ---------------------------------------------------------------------

def _check_zip_bytes(data: bytes, name: str) -> None:
    from ..safezip import MAX_RATIO, MAX_UNCOMPRESSED_BYTES, RATIO_MIN_BYTES

    if len(data) > MAX_VIEW_BYTES:
        raise CrmError(f"文件过大 / {name} is too large")
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, ValueError) as exc:
        raise CrmError(f"文件已损坏 / {name} is damaged: {exc}") from None
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise CrmError(f"疑似压缩炸弹，已拒绝 / {name} refused (zip bomb?)")
    if total > MAX_UNCOMPRESSED_BYTES:
        raise CrmError(f"解压后过大，已拒绝 / {name} refused: too large when expanded")


@dataclass
class ViewData:
    data: bytes
    manifest_rows: list[list[Any]]
    tables: dict[str, Table]


def read_view(path: Path, password: str | None, lang: str) -> ViewData:
    """The view's manifest rows and data tables (decrypted in memory when encrypted)."""
    from ..reader import _date1904, canonical_sheets, open_calamine, read_sheet_rows, read_table
    from ..safezip import check_xlsx

    raw = Path(path).read_bytes()
    if is_encrypted(raw):
        data = read_view_bytes(path, password, lang)
    else:
        check_xlsx(Path(path))
        data = raw
    _check_zip_bytes(data, Path(path).name)
    cwb = open_calamine(Path(path), data)
    try:
        names = list(cwb.sheet_names)
        man = read_sheet_rows(cwb, MANIFEST_SHEET, path) if MANIFEST_SHEET in names else []
        sheets = canonical_sheets(names)
        d1904 = _date1904(Path(path), data)
        tables: dict[str, Table] = {}
        for schema in (CUSTOMERS, FOLLOWUPS):
            actual = sheets.get(schema.name)
            if actual is None:
                continue
            rows = read_sheet_rows(cwb, actual, path)
            tables[schema.name], _, _ = read_table(rows, schema, actual, d1904, Path(path),
                                                   required_columns=False)
    finally:
        cwb.close()
    return ViewData(data=data, manifest_rows=man, tables=tables)


# --- who may hand it in ------------------------------------------------------------------------

def _audience_label(m: Manifest, lang: str) -> str:
    if m.account is None:
        zh, en = DEPARTMENT_NAMES.get(m.department or "", (m.role, m.role))
        return zh if lang == "zh" else en
    return m.display_name or m.account


def _saver(home: CrmHome, data: bytes) -> tuple[str | None, Actor | None]:
    """The saver named in the file (`cp:lastModifiedBy`) and the enabled account it names."""
    from .. import accounts
    from .shared_guard import last_modified_by_bytes

    author = last_modified_by_bytes(data)
    acc = accounts.account_for_owner(home, author) if author else None
    if acc is None or acc.disabled:
        return author, None
    return author, Actor(name=acc.name, role=acc.role, display_name=acc.display_name)


def _handed_in_by(m: Manifest, runner: Actor | None, home: CrmHome, data: bytes) -> Actor | None:
    """The person handing the view in when they may not (else None).

    The watcher (`runner` None) goes by the saver named in the file; a missing or
    unknown saver is not decided here (merge_view sets such a copy aside first).
    """
    if runner is None:
        runner = _saver(home, data)[1]
        if runner is None:
            return None
    if runner.role == "admin":
        return None
    if m.account is not None:
        return None if runner.name == m.account else runner
    return None if runner.role == m.role else runner


def _account_changed(m: Manifest, home: CrmHome) -> bool:
    from .. import accounts

    if m.account is None:
        return False
    try:
        u = accounts.get_user(home, m.account)
    except CrmError:
        return True
    return u.disabled or u.role != m.role


# --- merged-rows memory (a view merged twice adds its new rows once) ---------------------------

def _merged_path(home: CrmHome) -> Path:
    return Path(home.state) / MERGED_FILE


def _load_merged(home: CrmHome) -> dict[str, list[str]]:
    try:
        return dict(json.loads(_merged_path(home).read_text(encoding="utf-8")))
    except (OSError, ValueError):
        return {}


def _row_digest(sheet: str, values: dict[str, Any]) -> str:
    text = sheet + "\x00" + "\x00".join(f"{k}={fingerprint(v)}" for k, v in sorted(values.items()))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24]


# --- the merge ------------------------------------------------------------------------------------

class _Merger:
    def __init__(self, wb: Workbook, m: Manifest, view: ViewData, result: MergeResult,
                 today: dt.date, now: dt.datetime, merged_before: set[str]) -> None:
        self.wb, self.m, self.view, self.r = wb, m, view, result
        self.lang = wb.lang
        self.actor = Actor(name=m.account or f"@{m.department}", role=m.role,
                           display_name=m.display_name)
        self.masked = masked_fields(self.actor)
        self.today, self.now = today, now
        self.cells: dict[tuple[str, int, int], Any] = {}
        self.events: list[dict[str, Any]] = []
        self.master_by_id = wb.customers_by_id()
        self.fu_by_id: dict[str, Record] = {}
        for rec in wb.followups.records:
            fid = rec.values.get("followup_id")
            if fid and fid not in self.fu_by_id:
                self.fu_by_id[fid] = rec
        self.merged_before = merged_before
        self.new_digests: list[str] = []
        self.last_ids: dict[str, str] = {}
        # an ID on more than one customer row cannot say whose row it is (issue 17.5)
        counts: dict[str, int] = {}
        for rec in wb.customers.records:
            cid = rec.values.get("customer_id")
            if isinstance(cid, str) and cid:
                counts[cid] = counts.get(cid, 0) + 1
        self.ambiguous = {cid for cid, n in counts.items() if n > 1}
        # new customers of this copy by name: a follow-up may name one in 客户编号 (13.2)
        self.copy_names: set[str] = set()
        self.new_names: dict[str, str] = {}
        self.handed_by: Actor | None = None  # who hands it in (runner, or the file's saver)

    # findings --------------------------------------------------------------------------
    def header(self, schema: SheetSchema, key: str) -> str:
        return schema.field(key).header(self.lang)

    def f(self, code: str, schema: SheetSchema, row: int | None, key: str | None,
          cid: Any = None, **params: Any) -> Finding:
        return make(code, self.lang, sheet=schema.name, row=row, column=key,
                    customer_id=cid if isinstance(cid, str) else None, **params)

    # rights --------------------------------------------------------------------------------
    def why_not_customer(self, key: str, mrec: Record) -> str | None:
        why = customer_edit_refusal(self.actor, key, mrec)
        return None if why is None else _MERGE_CODES[why]

    def why_not_followup(self, key: str, mrec: Record, new_value: Any) -> str | None:
        if key in self.masked and not FOLLOWUPS.field(key).engine:
            return "merge.rejected_locked_column"
        why = followup_edit_refusal(self.actor, key, mrec,
                                    self.customer_owner(mrec.values.get("customer_id")))
        if why is not None:
            return _MERGE_CODES[why]
        if key == "customer_id":
            target = self.master_by_id.get(str(new_value or ""))
            if target is None or not visible_customer(self.actor, target) or \
                    not can_add_followup(self.actor, target.values.get("owner")):
                return "merge.rejected_not_owner"
        return None

    def service_person(self, name: Any) -> bool:
        """Is `name` one of the service staff (Lists › 客服人员, or a service account)?"""
        from .. import accounts

        key = str(name).strip().casefold()
        if any(str(s).strip().casefold() == key for s in self.wb.lists.get("service", [])):
            return True
        if self.home is None:
            return False
        acc = accounts.account_for_owner(self.home, str(name))
        return acc is not None and not acc.disabled and acc.role == "service"

    def resolve_customer(self, value: Any) -> tuple[Any, str | None]:
        """A follow-up's 客户编号: an ID, or the name of a customer added in this copy.

        Returns (customer ID or the value as typed, refusal code or None).
        """
        if not isinstance(value, str) or not value.strip():
            return value, None
        text = value.strip()
        if text in self.ambiguous:
            return text, "merge.rejected_ambiguous_customer"
        if text in self.master_by_id:
            return text, None
        key = text.casefold()
        if key in self.new_names:
            return self.new_names[key], None
        if key in self.copy_names:
            return text, "merge.rejected_new_customer_not_added"
        return text, None

    def remember_merged_name(self, rec: Record) -> None:
        """A new customer merged by an earlier hand-back of this copy: its ID by name."""
        name = rec.values.get("name")
        if not isinstance(name, str) or not name.strip():
            return
        key = name.strip().casefold()
        found = [r for r in self.wb.customers.records
                 if isinstance(r.values.get("name"), str)
                 and r.values["name"].strip().casefold() == key
                 and visible_customer(self.actor, r) and r.values.get("customer_id")]
        if len(found) == 1:
            self.new_names[key] = found[0].values["customer_id"]

    def customer_owner(self, cid: Any) -> Any:
        rec = self.master_by_id.get(cid) if isinstance(cid, str) else None
        return rec.values.get("owner") if rec is not None else None

    # existing rows ------------------------------------------------------------------------------
    def existing(self, schema: SheetSchema, table: Table, id_key: str) -> list[Record]:
        """Three-way compare of rows that carry an ID; returns rows without one (new)."""
        keys = self.m.keys.get(schema.name, [])
        present = [k in table.columns for k in keys]
        for k, p in zip(keys, present, strict=True):
            if not p:
                self.r.notes.append(self.f("merge.column_missing", schema, None, k,
                                           header=self.header(schema, k)))
        proj = view_projector(self.actor, keys)
        master_index = self.master_by_id if schema is CUSTOMERS else self.fu_by_id
        base_rows = self.m.base.get(schema.name, {})
        seen: set[str] = set()
        new_rows: list[Record] = []
        edits: list[tuple[Record, Record, list[str]]] = []
        for vrec in table.records:
            rid = vrec.values.get(id_key)
            if not rid:
                new_rows.append(vrec)
                continue
            base = self.m.base_fingerprints(schema.name, rid)
            if base is None or rid in seen:
                self.r.rejected.append(self.f("merge.rejected_foreign_row", schema, None, id_key,
                                              view_row=vrec.row, value=rid))
                continue
            seen.add(rid)
            vvals = [shown_value(vrec, k) for k in keys]
            changed = [i for i, k in enumerate(keys)
                       if present[i] and fingerprint(vvals[i]) != base[i]]
            if not changed:
                continue
            mrec = master_index.get(rid)
            cid = rid if schema is CUSTOMERS else vrec.values.get("customer_id")
            if cid in self.ambiguous:
                self.r.rejected.append(self.f("merge.rejected_ambiguous_customer", schema, None,
                                              "customer_id", cid, value=cid))
                continue
            if mrec is None:
                self.r.conflicts.append(self.f("merge.conflict_row_gone", schema, None, id_key, cid))
                continue
            mvals = proj(mrec)
            ok_keys = []
            for i in changed:
                k, v, mv = keys[i], vvals[i], mvals[i]
                if fingerprint(mv) == fingerprint(v):
                    continue
                why = (self.why_not_customer(k, mrec) if schema is CUSTOMERS
                       else self.why_not_followup(k, mrec, v))
                hdr = self.header(schema, k)
                if why is not None:
                    self.r.rejected.append(self.f(why, schema, mrec.row, k, cid, header=hdr,
                                                  new=_show(v)))
                elif fingerprint(mv) != base[i]:
                    self.r.conflicts.append(self.f("merge.conflict", schema, mrec.row, k, cid,
                                                   header=hdr, master=_show(mv), view=_show(v)))
                else:
                    ok_keys.append(k)
            if ok_keys:
                edits.append((mrec, vrec, ok_keys))
        for rid in base_rows:
            if rid not in seen:
                mrec = master_index.get(rid)
                cid = rid if schema is CUSTOMERS else (mrec.values.get("customer_id") if mrec
                                                        else None)
                self.r.notes.append(self.f("merge.row_deleted", schema,
                                           mrec.row if mrec else None, id_key, cid or rid))
        self.apply_edits(schema, edits)
        return new_rows

    def apply_edits(self, schema: SheetSchema, edits: list[tuple[Record, Record, list[str]]]
                    ) -> None:
        if not edits:
            return
        table = self.wb.customers if schema is CUSTOMERS else self.wb.followups
        trial = []
        for mrec, vrec, ks in edits:
            rec = Record(row=mrec.row, values=dict(mrec.values), raw=dict(mrec.raw),
                         problems=dict(mrec.problems))
            for k in ks:
                rec.values[k] = vrec.values.get(k)
                rec.raw.pop(k, None)
                rec.problems.pop(k, None)
                if k in vrec.problems:
                    rec.raw[k] = vrec.raw.get(k)
                    rec.problems[k] = vrec.problems[k]
            trial.append(rec)
        errors = self.validate(schema, trial)
        for (mrec, vrec, ks), rec in zip(edits, trial, strict=True):
            cid = mrec.values.get("customer_id")
            for k in ks:
                msgs = errors.get((rec.row, k))
                hdr = self.header(schema, k)
                if msgs:
                    self.r.rejected.append(self.f("merge.rejected_invalid", schema, mrec.row, k,
                                                  cid, view_row=vrec.row, reason="；".join(msgs)))
                    continue
                col = table.columns.get(k)
                if col is None:
                    continue
                new = shown_value(vrec, k)
                old = shown_value(mrec, k)
                self.cells[(table.sheet_name, mrec.row, col)] = new
                self.r.landed.append(self.f("merge.landed", schema, mrec.row, k, cid, header=hdr,
                                            old=_show(old), new=_show(new)))
                self.events.append({"sheet": schema.name, "row": mrec.row, "column": k,
                                    "old": old, "new": new, "reason": "view.merge",
                                    "customer_id": cid, "view": self.m.view_id})

    # validation --------------------------------------------------------------------------------
    def validate(self, schema: SheetSchema, records: list[Record]) -> dict[tuple[int, str], list[str]]:
        """Error messages per (row, column) for these records, by the always-on rules."""
        from ..validation import validate

        mini = new_workbook(self.lang, self.wb.lists)
        mini.settings = dict(self.wb.settings)
        table = mini.customers if schema is CUSTOMERS else mini.followups
        table.records = records
        out: dict[tuple[int, str], list[str]] = {}
        for f in validate(mini, self.today, rules=VALIDATION_RULES).findings:
            if f.severity == "error" and f.sheet == schema.name and f.row is not None:
                out.setdefault((f.row, f.column or ""), []).append(f.message)
        return out

    # new rows ---------------------------------------------------------------------------------
    def next_id(self, kind: str) -> str:
        from ..apply.rules import _ID_DIGITS, _high_water

        day = self.today.strftime("%Y%m%d")
        if kind not in self.seq:
            table, key = ((self.wb.customers, "customer_id") if kind == "C"
                          else (self.wb.followups, "followup_id"))
            self.seq[kind] = _high_water(kind, day, (r.values.get(key) for r in table.records),
                                         self.state, self.wb.meta)
        self.seq[kind] += 1
        self.state.seq[f"{kind}{day}"] = self.seq[kind]
        new = f"{kind}{day}{self.seq[kind]:0{_ID_DIGITS[kind]}d}"
        self.last_ids[kind] = new
        return new

    def new_rows(self, schema: SheetSchema, rows: list[Record]) -> None:
        if not rows:
            return
        table = self.wb.customers if schema is CUSTOMERS else self.wb.followups
        vt = self.view.tables[schema.name]
        is_c = schema is CUSTOMERS
        if not allowed(self.actor.role, "customers_edit" if is_c else "followups_add"):
            for v in rows:
                self.r.rejected.append(self.f("merge.rejected_new_row", schema, None, None,
                                              view_row=v.row,
                                              sheet_label=schema.title(self.lang)))
            return
        editable = [k for k in editable_fields(self.actor, schema)
                    if k in vt.columns and k not in self.masked]
        own = self.actor.owner_name if self.actor.display_name or self.m.account else ""
        dept = self.m.account is None
        if dept and self.handed_by is not None and self.handed_by.role == self.actor.role:
            own = self.handed_by.owner_name  # a department copy: its saver, of that role
        if is_c:
            self.copy_names = {str(v.values.get("name")).strip().casefold() for v in rows
                               if isinstance(v.values.get("name"), str)}
        candidates: list[tuple[Record, Record, str]] = []
        for v in rows:
            values = {k: v.values.get(k) for k in editable}
            rec = Record(row=v.row, values=values,
                         raw={k: v.raw[k] for k in editable if k in v.raw},
                         problems={k: v.problems[k] for k in editable if k in v.problems})
            typed_owner = v.values.get("owner")
            if dept and self.actor.role == "service":  # the service department's copy (17.11)
                if typed_owner and not self.service_person(typed_owner):
                    self.r.rejected.append(self.f("merge.rejected_owner_field", schema, None,
                                                  "owner", header=self.header(schema, "owner"),
                                                  new=_show(typed_owner)))
                    continue
                if not typed_owner and not own:
                    self.r.rejected.append(self.f("merge.owner_needed", schema, None, "owner",
                                                  view_row=v.row,
                                                  header=self.header(schema, "owner")))
                    continue
                rec.values["owner"] = typed_owner or own
            elif self.actor.role in ("sales", "service") or (not typed_owner and own):
                if typed_owner and not _same_owner(typed_owner, self.actor):
                    self.r.rejected.append(self.f("merge.rejected_owner_field", schema, None,
                                                  "owner", header=self.header(schema, "owner"),
                                                  new=_show(typed_owner)))
                    continue
                rec.values["owner"] = own or typed_owner
            if not is_c:
                typed = rec.values.get("customer_id") or v.values.get("customer_name")
                cid, why = self.resolve_customer(typed)
                if why is not None:
                    self.r.rejected.append(self.f(why, schema, None, "customer_id",
                                                  view_row=v.row, value=_show(cid)))
                    continue
                rec.values["customer_id"] = cid
                crec = self.master_by_id.get(cid) if isinstance(cid, str) else None
                if crec is None or not visible_customer(self.actor, crec):
                    self.r.rejected.append(self.f("merge.rejected_unknown_customer", schema, None,
                                                  "customer_id", view_row=v.row,
                                                  value=_show(cid)))
                    continue
                if not can_add_followup(self.actor, crec.values.get("owner")):
                    self.r.rejected.append(self.f("merge.rejected_not_owner", schema, None,
                                                  "customer_id", cid,
                                                  header=self.header(schema, "customer_id")))
                    continue
            digest = _row_digest(schema.name, rec.values)
            if digest in self.merged_before:
                if is_c:
                    self.remember_merged_name(rec)
                self.r.notes.append(self.f("merge.already_merged", schema, None, None,
                                           view_row=v.row))
                continue
            candidates.append((v, rec, digest))
        if not candidates:
            return
        errors = self.validate(schema, [rec for _, rec, _ in candidates])
        index = None
        next_row = max((r.row for r in table.records), default=table.header_row) + 1
        for v, rec, digest in candidates:
            bad = [m for (row, _), msgs in errors.items() if row == v.row for m in msgs]
            if bad:
                self.r.rejected.append(self.f("merge.rejected_invalid", schema, None, None,
                                              view_row=v.row, reason="；".join(bad)))
                continue
            if is_c:
                if index is None:
                    from ..dedupe import DuplicateIndex

                    index = DuplicateIndex.from_workbook(self.wb)
                matches = index.check(rec.values)
                if matches:
                    best = matches[0]
                    self.r.rejected.append(self.f(
                        "merge.rejected_duplicate", schema, None, "name", view_row=v.row,
                        name=_show(rec.values.get("name")), other=best.other_id or best.other_name,
                        score=best.score, why=best.reason))
                    continue
            rid = self.next_id("C" if is_c else "F")
            rec.row = next_row
            next_row += 1
            if is_c:
                rec.values["customer_id"] = rid
            else:
                rec.values["followup_id"] = rid
                crec = self.master_by_id[rec.values["customer_id"]]
                rec.values["customer_name"] = crec.values.get("name")
                # 录入时间 stays blank: apply stamps it and, seeing a new row, moves the
                # customer's stage and type as for a row typed into the master (13.1)
            table.records.append(rec)
            if is_c:
                self.master_by_id[rid] = rec
                name = rec.values.get("name")
                if isinstance(name, str) and name.strip():
                    self.new_names[name.strip().casefold()] = rid
                if index is not None:
                    index.add(rec)
            self.new_digests.append(digest)
            for k, val in rec.values.items():
                col = table.columns.get(k)
                if col is not None and val is not None and val != "":
                    self.cells[(table.sheet_name, rec.row, col)] = shown_value(rec, k)
            cid = rid if is_c else rec.values.get("customer_id")
            if is_c:
                self.r.added_customers.append(rid)
                self.r.landed.append(self.f("merge.added_customer", schema, rec.row, None, rid,
                                            name=_show(rec.values.get("name")), new_id=rid,
                                            owner=_show(rec.values.get("owner"))))
            else:
                self.r.added_followups.append(rid)
                self.r.landed.append(self.f("merge.added_followup", schema, rec.row, None, cid,
                                            fid=rid, of=cid))
            self.events.append({"sheet": schema.name, "row": rec.row, "column": "*",
                                "old": None, "new": rid, "reason": "view.merge.new_row",
                                "customer_id": cid, "view": self.m.view_id})

    def run(self) -> None:
        from ..apply.state import load_state, state_dir_for

        self.state_dir = state_dir_for(self.wb.path, None) if self.home is None else \
            self.home.state
        self.state = load_state(self.state_dir)
        self.seq: dict[str, int] = {}
        new_c = self.existing(CUSTOMERS, self.view.tables[CUSTOMERS.name], "customer_id") \
            if CUSTOMERS.name in self.view.tables else []
        new_f: list[Record] = []
        if FOLLOWUPS.name in self.view.tables:
            if FOLLOWUPS.name in self.m.keys:
                new_f = self.existing(FOLLOWUPS, self.view.tables[FOLLOWUPS.name], "followup_id")
            else:  # a sheet the view never had: every row is foreign
                new_f = [r for r in self.view.tables[FOLLOWUPS.name].records]
        self.new_rows(CUSTOMERS, new_c)
        self.new_rows(FOLLOWUPS, new_f)

    home: CrmHome | None = None


def _refused(result: MergeResult, code: str, lang: str, **params: Any) -> MergeResult:
    result.refused = True
    result.rejected.append(make(code, lang, sheet=MANIFEST_SHEET, **params))
    return result


def merge_view(master_path: str | Path, view_path: str | Path, *, home: CrmHome,
               runner: Actor | None = None, dry_run: bool = False, password: str | None = None,
               today: dt.date | None = None, now: dt.datetime | None = None) -> MergeResult:
    """Merge a handed-back view into the master (see the module docstring).

    `runner` is who hands it in (None: the watcher, which goes by the file's saver).
    Refusals (bad signature, another home, someone else's view) write nothing and set
    `refused`; unreadable files raise CrmError.
    """
    from ..apply.run import engine_now
    from ..reader import load
    from ..writeback.safe import file_sha256, safe_patch
    from .build import _today

    master_path, view_path = Path(master_path), Path(view_path)
    lang = home.lang
    result = MergeResult(view=view_path, master=master_path, lang=lang, dry_run=dry_run)
    if password is None:  # a copy encrypted by `crm views build --encrypt`: its password
        raw = view_path.read_bytes() if view_path.is_file() else b""
        if is_encrypted(raw):
            password = stored_password(home.state, raw)
    view = read_view(view_path, password, lang)
    try:
        m = parse_manifest(view.manifest_rows, signing_key(home))
    except ManifestError as exc:
        return _refused(result, exc.code, lang)
    result.account, result.role, result.department = m.account, m.role, m.department
    if m.home_id != home.home_id:
        return _refused(result, "merge.wrong_home", lang)
    handed_by = runner
    if runner is None:  # the watcher: the copy must name a known saver (issue 17.10)
        author, handed_by = _saver(home, view.data)
        if handed_by is None:
            return _refused(result, "merge.saver_unknown", lang,
                            author=author or ("（未记录）" if lang == "zh" else "(none recorded)"),
                            owner=_audience_label(m, lang))
    intruder = _handed_in_by(m, runner, home, view.data)
    if intruder is not None:
        return _refused(result, "merge.wrong_account", lang, owner=_audience_label(m, lang),
                        runner=intruder.owner_name)
    if _account_changed(m, home):
        return _refused(result, "merge.account_changed", lang, owner=_audience_label(m, lang),
                        role=m.role)
    sha_before = file_sha256(master_path)
    wb = load(master_path)
    result.lang = wb.lang
    day = _today(today)
    now = now or engine_now(day)
    merged = _load_merged(home)
    merger = _Merger(wb, m, view, result, day, now, set(merged.get(m.view_id, [])))
    merger.home = home
    merger.handed_by = handed_by
    merger.run()
    if dry_run:
        return result
    if not merger.cells:
        record_handback(home, result)
        return result
    replace = {}
    from ..reader import canonical_sheets
    from ..writeback.xlsxpatch import SheetRows

    meta_name = canonical_sheets(wb.sheet_names, wb.meta).get(SHEET_META)
    if meta_name is not None:
        meta = dict(wb.meta)
        rev = str(meta.get("revision", "0"))
        meta["revision"] = str(int(rev) + 1) if rev.isdigit() else "1"
        meta["last_engine_write"] = now.isoformat(sep=" ")
        if "C" in merger.last_ids and merger.last_ids["C"] > meta.get("last_customer_id", ""):
            meta["last_customer_id"] = merger.last_ids["C"]
        if "F" in merger.last_ids and merger.last_ids["F"] > meta.get("last_followup_id", ""):
            meta["last_followup_id"] = merger.last_ids["F"]
        replace[meta_name] = SheetRows(rows=[[k, v] for k, v in meta.items()], first_row=1)
    who = runner.name if runner is not None else "watcher"
    events = [*merger.events, {"sheet": "*", "summary": True, "view": m.view_id,
                               "account": m.account or f"@{m.department}", "role": m.role,
                               "landed": len(result.landed), "rejected": len(result.rejected),
                               "conflicts": len(result.conflicts)}]
    written = safe_patch(master_path, merger.cells, replace, backups_dir=home.backups,
                         state_dir=home.state, who=who, action="views.merge",
                         audit_events=events, expected_sha256=sha_before, lang=wb.lang)
    result.written = True
    result.backup = written.backup
    if merger.last_ids:
        from ..apply.state import save_state

        save_state(merger.state_dir, merger.state)
    if merger.new_digests:
        from ..writeback.atomic import atomic_write_bytes

        merged.setdefault(m.view_id, []).extend(merger.new_digests)
        atomic_write_bytes(_merged_path(home), json.dumps(merged).encode("utf-8"))
    record_handback(home, result)  # the reasons, for the Issues sheet of the next copy
    return result


def describe(result: MergeResult) -> list[str]:
    """The lines `crm views merge` prints."""
    zh = result.lang == "zh"
    lines = []
    groups = (("已合并" if zh else "landed", result.landed),
              ("已拒绝" if zh else "rejected", result.rejected),
              ("冲突" if zh else "conflicts", result.conflicts),
              ("备注" if zh else "notes", result.notes))
    for title, items in groups:
        if not items:
            continue
        lines.append(f"{title}（{len(items)}）：" if zh else f"{title} ({len(items)}):")
        for f in items:
            where = ""
            if f.row:
                where = f"{f.sheet} {'第' if zh else 'row '}{f.row}{'行' if zh else ''} "
            elif f.sheet:
                where = f"{f.sheet} "
            lines.append(f"  {where}{f.customer_id + ' ' if f.customer_id else ''}{f.message}")
    if result.refused:
        tail = "未合并" if zh else "nothing merged"
    elif result.dry_run:
        tail = "试运行，未写入" if zh else "dry run: nothing written"
    elif result.written:
        tail = (f"已写入（备份 {result.backup.name}）" if zh else
                f"written (backup {result.backup.name})") if result.backup else ""
    else:
        tail = "无需写入" if zh else "nothing to write"
    if zh:
        lines.append(f"合并 {len(result.landed)} 项，拒绝 {len(result.rejected)} 项，"
                     f"冲突 {len(result.conflicts)} 项：{tail}")
    else:
        lines.append(f"{len(result.landed)} landed, {len(result.rejected)} rejected, "
                     f"{len(result.conflicts)} conflicts: {tail}")
    return lines


__all__ = ["MergeResult", "describe", "merge_view", "read_view"]
