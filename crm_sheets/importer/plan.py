"""Decide, row by row, what an import does: pure data, no file is touched.

Each incoming row is imported (a new customer), updated (an existing customer's blank
fields filled), skipped (a duplicate) or rejected (with reasons, for the rejects
file). Duplicates are found with crm_sheets.dedupe's blocking and scoring (`dupes.BatchMatcher`)
against the master and against the rows imported before it from the same source.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..dedupe.api import resolve_threshold
from ..dedupe.normalize import normalize_phone
from ..findings import Finding, make
from ..model import Record, Table, Workbook, empty_table
from ..schema import CUSTOMERS, FOLLOWUPS
from . import codes  # noqa: F401  (registers the import.* codes)
from .cleaning import Incoming
from .dupes import BatchMatcher

ON_DUPLICATE = ("skip", "update", "create")
CHECK_RULES = ["parse", "required", "non_negative", "phone", "email", "choices", "region",
               "prohibited"]
FOLLOWUP_REQUIRED = ("start", "method", "content")
CUSTOMER_REQUIRED = tuple(f.key for f in CUSTOMERS.fields if f.required and f.key != "name")
UPDATABLE = tuple(f.key for f in CUSTOMERS.fields if not f.engine)

Progress = Callable[[str, int, int], None]


@dataclass
class RowResult:
    """What happened to one source row."""

    source_row: int
    action: str  # imported | updated | skipped | rejected | followup_only
    findings: list[Finding] = field(default_factory=list)
    master_row: int | None = None  # the Customers row written or matched
    matched: str | None = None  # matched customer (ID, or "row N" of the source)
    followup: str | None = None  # imported | skipped | rejected | None (no follow-up data)
    followup_row: int | None = None

    @property
    def rejected_part(self) -> bool:
        """Whether anything of this row goes to the rejects file."""
        return self.action == "rejected" or self.followup == "rejected"

    def reasons(self) -> list[str]:
        return [f.message for f in self.findings if f.severity == "error"]


@dataclass
class Fill:
    """A blank field of an existing customer filled from the source."""

    record: Record
    key: str
    new: Any
    source_row: int


@dataclass
class NewFollowup:
    record: Record  # values of the follow-up (customer_id set once the customer has an ID)
    customer: Record  # the customer it belongs to (existing or new)
    source_row: int


@dataclass
class ImportPlan:
    results: list[RowResult]
    new_customers: list[Record]
    fills: list[Fill]
    new_followups: list[NewFollowup]
    source_rows: dict[int, int]  # id(new customer record) -> source row
    threshold: int = 85

    def count(self, action: str) -> int:
        return sum(1 for r in self.results if r.action == action)

    def followups(self, status: str) -> int:
        return sum(1 for r in self.results if r.followup == status)

    def summary(self) -> dict[str, int]:
        return {"read": len(self.results), "imported": self.count("imported"),
                "updated": self.count("updated"), "skipped": self.count("skipped"),
                "rejected": self.count("rejected"),
                "followups_imported": self.followups("imported"),
                "followups_skipped": self.followups("skipped"),
                "followups_rejected": self.followups("rejected")}


def _check(master: Workbook, incoming: list[Incoming], sheet: str
           ) -> tuple[dict[int, list[Finding]], dict[int, list[Finding]]]:
    """Field checks (validate's per-row rules) on the incoming rows, by source row."""
    from ..validation import validate

    cust = empty_table(CUSTOMERS)
    fol = empty_table(FOLLOWUPS)
    for inc in incoming:
        cust.records.append(Record(row=inc.source_row, values=dict(inc.values), raw=dict(inc.raw),
                                   problems=dict(inc.problems)))
        if inc.has_followup:
            vals = dict(inc.fu_values)
            vals["customer_id"] = "-"
            fol.records.append(Record(row=inc.source_row, values=vals, raw=dict(inc.fu_raw),
                                      problems=dict(inc.fu_problems)))
    tmp = Workbook(path=None, lang=master.lang, customers=cust, followups=fol,
                   lists=master.lists, settings=master.settings)
    report = validate(tmp, rules=CHECK_RULES)
    by_c: dict[int, list[Finding]] = {}
    by_f: dict[int, list[Finding]] = {}
    for f in report.findings:
        if f.row is None:
            continue
        target = by_c if f.sheet == CUSTOMERS.name else by_f
        target.setdefault(f.row, []).append(dataclasses.replace(f, sheet=sheet, customer_id=None))
    return by_c, by_f


def _same_value(key: str, a: Any, b: Any) -> bool:
    if key == "phone":
        return normalize_phone(a) == normalize_phone(b)
    if isinstance(a, str) and isinstance(b, str):
        return a.strip().casefold() == b.strip().casefold()
    if isinstance(a, dt.datetime) != isinstance(b, dt.datetime) and isinstance(a, dt.date) \
            and isinstance(b, dt.date):
        da = a.date() if isinstance(a, dt.datetime) else a
        db = b.date() if isinstance(b, dt.datetime) else b
        return da == db
    return a == b


def _show(v: Any) -> str:
    from ..coerce import to_text

    return "" if v is None else to_text(v)


def _fu_key(customer_key: Any, values: dict[str, Any]) -> tuple[Any, str, str]:
    start = values.get("start")
    s = start.strftime("%Y-%m-%d %H:%M") if isinstance(start, dt.datetime) else _show(start)
    content = "".join(str(values.get("content") or "").split()).casefold()
    return customer_key, s, content


def plan_import(master: Workbook, incoming: list[Incoming], *, sheet: str = "",
                on_duplicate: str = "skip", allow_incomplete: bool = False,
                threshold: int | None = None, progress: Progress | None = None,
                last_rows: dict[str, int] | None = None) -> ImportPlan:
    """Decide each row's fate against `master` (which is not modified).

    `last_rows`: the last used Excel row of Customers/Followups (new rows go below);
    by default the last row holding a record.
    """
    if on_duplicate not in ON_DUPLICATE:
        raise ValueError(f"on_duplicate must be one of {ON_DUPLICATE}")
    lang = master.lang
    zh = lang == "zh"
    c_checks, f_checks = _check(master, incoming, sheet)
    by_id = master.customers_by_id()
    probes: list[dict[str, Any] | None] = []
    for inc in incoming:
        cid = inc.values.get("customer_id")
        if inc.values.get("name") is None or (isinstance(cid, str) and cid in by_id):
            probes.append(None)
        else:
            probes.append({k: v for k, v in inc.values.items() if k != "customer_id"})
    if progress is not None:
        progress("check", 0, len(incoming))
    th = resolve_threshold(master, threshold)
    matcher = BatchMatcher(master.customers.records, probes, threshold=th, lang=lang)
    n_master = len(master.customers.records)
    accepted: set[int] = set()
    new_of: dict[int, Record] = {}
    header = {f.key: f.header(lang) for f in CUSTOMERS.fields}
    fu_header = {f.key: f.header(lang) for f in FOLLOWUPS.fields}
    existing_fu: set[tuple[Any, str, str]] = {
        _fu_key(r.values.get("customer_id"), r.values) for r in master.followups.records}
    last_rows = last_rows or {}
    next_row = max([master.customers.header_row, last_rows.get("Customers", 0),
                    *(r.row for r in master.customers.records)]) + 1
    next_fu = max([master.followups.header_row, last_rows.get("Followups", 0),
                   *(r.row for r in master.followups.records)]) + 1
    results: list[RowResult] = []
    new_customers: list[Record] = []
    fills: list[Fill] = []
    new_fus: list[NewFollowup] = []
    source_of: dict[int, int] = {}
    filled: dict[tuple[int, str], int] = {}  # (id(record), key) -> source row that filled it
    total = len(incoming)
    sep = "、" if zh else ", "

    def mk(code: str, row: int, column: str | None = None, **params: Any) -> Finding:
        return make(code, lang, sheet=sheet, row=row, column=column, **params)

    for n, inc in enumerate(incoming):
        if progress is not None and n % 2000 == 0:
            progress("check", n, total)
        row = inc.source_row
        cf = c_checks.get(row, [])
        ff = f_checks.get(row, [])
        res = RowResult(row, "imported")
        results.append(res)
        note_findings = [mk(code, row, col, **params) for code, col, params in inc.notes]
        # prohibited data never enters the master
        if any(f.code.startswith("prohibited.") for f in (*cf, *ff)):
            res.action = "rejected"
            res.findings = [*[f for f in (*cf, *ff) if f.code.startswith("prohibited.")],
                            mk("import.prohibited", row)]
            res.followup = "rejected" if inc.has_followup else None
            continue
        name = inc.values.get("name")
        cid_in = inc.values.get("customer_id")
        target: Record | None = None
        match_params: dict[str, Any] | None = None
        if isinstance(cid_in, str) and cid_in in by_id:
            target = by_id[cid_in]
            match_params = {"other_id": cid_in, "other_name": _show(target.values.get("name")),
                            "reason": "客户编号相同" if zh else "same customer ID", "score": 100}
        if name is None and target is None:
            res.action = "rejected"
            if inc.has_followup and cid_in:
                res.findings = [mk("import.followup_no_customer", row, "customer_id", value=cid_in)]
            else:
                res.findings = [mk("import.name_missing", row, "name")]
            res.followup = "rejected" if inc.has_followup else None
            continue
        if name is None:  # a follow-up for an existing customer named by its ID
            res.action = "followup_only"
            res.matched = cid_in
            res.master_row = target.row
        else:
            if target is None:
                m = matcher.best(n, accepted)
                if m is not None:
                    match_params = matcher.describe(n, m)
                    if matcher.is_master(m.other):
                        target = master.customers.records[m.other]
                    else:
                        target = new_of[m.other - n_master]
                        src = source_of[id(target)]
                        match_params.update(other_id=f"row {src}", other_row=src)
            if target is not None and on_duplicate != "create":
                src = source_of.get(id(target))
                res.matched = match_params["other_id"]
                res.master_row = target.row
                if on_duplicate == "skip":
                    res.action = "skipped"
                    code = "import.duplicate_in_source" if src is not None else \
                        "import.duplicate_skipped"
                    res.findings.append(mk(code, row, "name", **match_params))
                else:  # update: fill blanks, never overwrite
                    got: list[str] = []
                    for key in UPDATABLE:
                        new = inc.values.get(key)
                        if new is None or key == "customer_id":
                            continue
                        old = target.values.get(key)
                        if old is None or old == "":
                            if (id(target), key) in filled:
                                continue
                            got.append(header[key])
                            filled[(id(target), key)] = row
                            if src is not None:  # a row still to be written: fill it in place
                                target.values[key] = new
                            else:
                                fills.append(Fill(target, key, new, row))
                        elif not _same_value(key, old, new):
                            res.findings.append(mk("import.conflict", row, key,
                                                   other_id=match_params["other_id"],
                                                   header=header[key], old=_show(old),
                                                   new=_show(new)))
                    if got:
                        res.action = "updated"
                        res.findings.insert(0, mk("import.duplicate_updated", row, "name",
                                                  fields=sep.join(got), **match_params))
                    else:
                        res.action = "skipped"
                        res.findings.insert(0, mk("import.duplicate_unchanged", row, "name",
                                                  **match_params))
            else:
                missing = [f for f in cf if f.code == "required.missing"
                           and f.column in CUSTOMER_REQUIRED]
                fields_txt = sep.join(header[f.column] for f in missing)
                if missing and not allow_incomplete:
                    res.action = "rejected"
                    res.findings = [mk("import.incomplete", row, missing[0].column,
                                       fields=fields_txt),
                                    *[f for f in cf if f.code != "required.missing"],
                                    *note_findings]
                    res.followup = "rejected" if inc.has_followup else None
                    continue
                res.action = "imported"
                if target is not None:  # --on-duplicate create
                    res.findings.append(mk("import.duplicate_created", row, "name",
                                           **match_params))
                if missing:
                    res.findings.append(mk("import.incomplete_imported", row, missing[0].column,
                                           fields=fields_txt))
                res.findings.extend(f for f in cf if f.code != "required.missing")
                values = {k: v for k, v in inc.values.items()}
                values["customer_id"] = None
                raw = {k: v for k, v in inc.raw.items() if k in inc.problems}
                rec = Record(row=next_row, values=values, raw=raw, problems=dict(inc.problems))
                next_row += 1
                new_customers.append(rec)
                source_of[id(rec)] = row
                accepted.add(n)
                new_of[n] = rec
                res.master_row = rec.row
                target = rec
        res.findings.extend(note_findings)
        # the follow-up part of the row
        if not inc.has_followup:
            continue
        fmissing = [k for k in FOLLOWUP_REQUIRED
                    if inc.fu_values.get(k) is None and k not in inc.fu_problems]
        if fmissing:
            txt = sep.join(fu_header[k] for k in fmissing)
            if not allow_incomplete:
                res.followup = "rejected"
                res.findings.append(mk("import.followup_incomplete", row, "fu." + fmissing[0],
                                       fields=txt))
                continue
            res.findings.append(mk("import.followup_incomplete_imported", row,
                                   "fu." + fmissing[0], fields=txt))
        ckey = target.values.get("customer_id") if source_of.get(id(target)) is None else \
            id(target)
        key = _fu_key(ckey, inc.fu_values)
        if key in existing_fu:
            res.followup = "skipped"
            res.findings.append(mk("import.followup_duplicate", row, "fu.start",
                                   other_id=res.matched or f"row {row}"))
            continue
        existing_fu.add(key)
        vals = dict(inc.fu_values)
        if vals.get("owner") is None:
            vals["owner"] = target.values.get("owner")
        fu_raw = {k: v for k, v in inc.fu_raw.items() if k in inc.fu_problems}
        fu_rec = Record(row=next_fu, values=vals, raw=fu_raw, problems=dict(inc.fu_problems))
        next_fu += 1
        new_fus.append(NewFollowup(fu_rec, target, row))
        res.followup = "imported"
        res.followup_row = fu_rec.row
        res.findings.extend(f for f in ff if f.code != "required.missing"
                            and f.column != "customer_id")
    if progress is not None:
        progress("check", total, total)
    return ImportPlan(results, new_customers, fills, new_fus, source_of, th)


def customers_table_for_ids(table: Table, extra: list[Record]) -> Table:
    """The Customers table as ID assignment should see it: rows with IDs plus `extra`."""
    keep = [r for r in table.records if r.values.get("customer_id") or "customer_id" in r.raw]
    return dataclasses.replace(table, records=[*keep, *extra])
