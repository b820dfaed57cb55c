"""`run_import`: read the source, map, clean, plan, then write through the safe write-back.

Two steps so the CLI can show the column mapping before anything is written:
`prepare_import(...) -> Prepared` (reads, maps, cleans, plans; touches no file) and
`execute_import(prepared, ...) -> ImportOutcome` (rejects file, one safe patch of the
master with IDs assigned by apply's own `assign_ids`, audit; optionally `run_apply`
right after so derived fields and the Issues sheet are current).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..apply.rules import ChangeLog, assign_ids
from ..apply.run import engine_now
from ..apply.state import load_state, save_state, state_dir_for
from ..errors import CrmError
from ..findings import Finding, make
from ..home import CrmHome, home_for_workbook
from ..model import Table, Workbook
from ..schema import CUSTOMERS, FOLLOWUPS, SHEET_META
from ..writeback.backups import default_backups_dir
from ..writeback.safe import file_sha256, safe_patch
from ..writeback.xlsxpatch import CellKey, SheetRows
from .cleaning import Incoming, clean_rows
from .mapping import FU, ColumnMap, Mapping_, find_mapping, load_mapping_file, target_label
from .master import MATCH_FIELDS, load_master
from .plan import ImportPlan, Progress, customers_table_for_ids, plan_import
from .rejects import write_rejects
from .sources import Source, read_source


@dataclass
class Prepared:
    source: Source
    sheet: str
    master_path: Path
    master: Workbook
    mapping: Mapping_
    incoming: list[Incoming]
    plan: ImportPlan
    column_findings: list[Finding]
    sha_before: str
    today: dt.date
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class ImportOutcome:
    source: Path
    sheet: str
    master: Path
    lang: str
    header_row: int  # 1-based
    mapping: list[ColumnMap]
    summary: dict[str, int]
    findings: list[Finding]
    rejects_path: Path | None = None
    dry_run: bool = False
    written: bool = False
    backup: Path | None = None
    columns_added: list[str] = field(default_factory=list)
    apply_lines: list[str] = field(default_factory=list)
    encoding: str | None = None
    delimiter: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"source": str(self.source), "sheet": self.sheet, "workbook": str(self.master),
                "header_row": self.header_row,
                "mapping": [c.to_dict(self.lang) for c in self.mapping],
                "summary": self.summary, "findings": [f.to_dict() for f in self.findings],
                "rejects": str(self.rejects_path) if self.rejects_path else None,
                "dry_run": self.dry_run, "written": self.written,
                "backup": str(self.backup) if self.backup else None,
                "columns_added": self.columns_added}


def _no_name_error(source: Source, sheet: str, rows: list[list[Any]], mapping: Mapping_ | None
                   ) -> CrmError:
    if mapping is not None:
        heads = [c.header for c in mapping.columns][:12]
    else:
        first = next((r for r in rows if any(str(c).strip() for c in r if c is not None)), [])
        heads = [" ".join(str(c).split())[:30] for c in first if c not in (None, "")][:12]
    shown = "、".join(heads) if heads else "（空表）"
    return CrmError(f"没有一列对应到 客户名称（工作表 '{sheet}' 的列：{shown}）；可用 --mapping 指定 / "
                    f"no column maps to 客户名称 (Customer Name) in {source.path.name} sheet "
                    f"'{sheet}'; use --mapping to name it")


def _choose_sheet(source: Source, sheet: str | None, overrides: dict[str, str | None],
                  header_row: int | None) -> tuple[str, Mapping_]:
    candidates = [source.sheet(sheet)] if sheet else source.sheets
    best: tuple[int, str, Mapping_] | None = None
    for s in candidates:
        m = find_mapping(s.rows, overrides, header_row)
        if m is None or "name" not in m.targets() and "customer_id" not in m.targets():
            continue
        score = len(m.targets()) + (10 if "name" in m.targets() else 0)
        if best is None or score > best[0]:
            best = (score, s.name, m)
    if best is None:
        s = candidates[0]
        raise _no_name_error(source, s.name, s.rows, find_mapping(s.rows, overrides, header_row))
    return best[1], best[2]


def _column_findings(mapping: Mapping_, sheet: str, lang: str, keep_unknown: bool
                     ) -> list[Finding]:
    out: list[Finding] = []
    row = mapping.header_row + 1
    zh = lang == "zh"
    for c in mapping.columns:
        col = c.header
        if c.how == "fuzzy":
            out.append(make("import.column_fuzzy", lang, sheet=sheet, row=row, column=col,
                            header=c.header, field=target_label(c.target, lang), score=c.score))
        elif c.how == "duplicate":
            out.append(make("import.column_duplicate", lang, sheet=sheet, row=row, column=col,
                            header=c.header, other=c.other,
                            field=target_label(match_target(mapping, c.other), lang)))
        if c.how in ("unknown", "duplicate"):
            if keep_unknown:
                what = "已写入备注" if zh else "kept in the notes"
            else:
                what = "未导入（用 --keep-unknown 可保存到备注）" if zh else \
                    "not imported (use --keep-unknown to keep it in the notes)"
            out.append(make("import.column_unknown", lang, sheet=sheet, row=row, column=col,
                            header=c.header, what=what))
    return out


def match_target(mapping: Mapping_, header: str | None) -> str | None:
    for c in mapping.columns:
        if c.header == header:
            return c.target
    return None


def prepare_import(source_path: str | Path, workbook: str | Path, *, sheet: str | None = None,
                   mapping_file: str | Path | None = None, on_duplicate: str = "skip",
                   allow_incomplete: bool = False, keep_unknown: bool = False,
                   owner: str | None = None, today: dt.date | None = None,
                   password: str | None = None, threshold: int | None = None,
                   progress: Progress | None = None) -> Prepared:
    """Read, map, clean and plan an import; nothing is written."""
    master_path = Path(workbook)
    src_path = Path(source_path)
    if src_path.exists() and master_path.exists() and \
            src_path.resolve() == master_path.resolve():
        raise CrmError("源文件就是主表本身 / the source is the master workbook itself")
    overrides: dict[str, str | None] = {}
    defaults: dict[str, Any] = {}
    header_row = None
    if mapping_file is not None:
        overrides, defaults, header_row = load_mapping_file(mapping_file)
    if owner:
        defaults["owner"] = owner
    sha_before = file_sha256(master_path) if master_path.is_file() else ""
    if progress is not None:
        progress("read", 0, 1)
    source = read_source(src_path, sheet, password)
    sheet_name, mapping = _choose_sheet(source, sheet, overrides, header_row)
    has_followups = any(t.startswith(FU) for t in mapping.targets())
    master, last_rows = load_master(
        master_path, followups=has_followups,
        fields=None if on_duplicate == "update" else MATCH_FIELDS)
    rows = source.sheet(sheet_name).rows
    incoming = clean_rows(rows, mapping, date1904=source.date1904, keep_unknown=keep_unknown,
                          defaults=defaults, lang=master.lang)
    if progress is not None:
        progress("read", 1, 1)
    plan = plan_import(master, incoming, sheet=sheet_name, on_duplicate=on_duplicate,
                       allow_incomplete=allow_incomplete, threshold=threshold, progress=progress,
                       last_rows=last_rows)
    return Prepared(source=source, sheet=sheet_name, master_path=master_path, master=master,
                    mapping=mapping, incoming=incoming, plan=plan,
                    column_findings=_column_findings(mapping, sheet_name, master.lang,
                                                     keep_unknown),
                    sha_before=sha_before, today=today or dt.date.today(),
                    options={"on_duplicate": on_duplicate, "allow_incomplete": allow_incomplete,
                             "keep_unknown": keep_unknown})


# ---- writing ---------------------------------------------------------------------------


def _column(table: Table, key: str, added: dict[str, int], cells: dict[CellKey, Any],
            lang: str) -> int:
    """The sheet column of a field; a missing user column is added after the last header."""
    col = table.columns.get(key)
    if col is not None:
        return col
    if key not in added:
        used = [*table.columns.values(), *table.extra_columns.values(), *added.values()]
        added[key] = max(used, default=-1) + 1
        cells[(table.sheet_name, table.header_row, added[key])] = \
            table.schema.field(key).header(lang)
    return added[key]


def _audit_value(v: Any) -> Any:
    if type(v) is str:
        return v
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def build_cells(prep: Prepared, now: dt.datetime) -> tuple[dict[CellKey, Any], list[dict],
                                                              list[str], dict[str, str], Any]:
    """Assign IDs (apply's logic) and build the patch: cells, audit events, added columns."""
    wb = prep.master
    plan = prep.plan
    lang = wb.lang
    log = ChangeLog()
    home = home_for_workbook(prep.master_path)
    state = load_state(state_dir_for(prep.master_path, home))
    # customers that follow-ups will point at but still lack an ID get one too
    extra = [nf.customer for nf in plan.new_followups
             if id(nf.customer) not in plan.source_rows and not nf.customer.values.get("customer_id")]
    extra = list({id(r): r for r in extra}.values())
    cust_view = customers_table_for_ids(wb.customers, [*extra, *plan.new_customers])
    fol_view = dataclasses.replace(wb.followups, records=[nf.record for nf in plan.new_followups])
    issued = assign_ids(dataclasses.replace(wb, customers=cust_view, followups=fol_view),
                        prep.today, state, log)
    for nf in plan.new_followups:
        nf.record.values["customer_id"] = nf.customer.values.get("customer_id")
        nf.record.values["customer_name"] = nf.customer.values.get("name")
        # imported history counts as recorded when it happened (no late-entry warnings)
        when = nf.record.values.get("end") or nf.record.values.get("start")
        nf.record.values["recorded_at"] = when if isinstance(when, dt.datetime) else now
    cells: dict[CellKey, Any] = {}
    events: list[dict] = []
    added_c: dict[str, int] = {}
    added_f: dict[str, int] = {}
    ct, ft = wb.customers, wb.followups
    for rec in extra:
        col = _column(ct, "customer_id", added_c, cells, lang)
        cells[(ct.sheet_name, rec.row, col)] = rec.values["customer_id"]
        events.append({"sheet": CUSTOMERS.name, "row": rec.row, "column": "customer_id",
                       "old": None, "new": rec.values["customer_id"], "reason": "id.assigned",
                       "customer_id": rec.values["customer_id"]})
    sheet = ct.sheet_name
    for rec in plan.new_customers:
        written = {}
        row = rec.row
        for key, v in rec.values.items():
            if key in rec.problems and key in rec.raw:
                v = rec.raw[key]
            if v is None or v == "":
                continue
            col = ct.columns.get(key)
            if col is None:
                col = _column(ct, key, added_c, cells, lang)
            cells[(sheet, row, col)] = v
            written[key] = _audit_value(v)
        events.append({"sheet": CUSTOMERS.name, "row": rec.row, "reason": "import.new",
                       "customer_id": rec.values.get("customer_id"),
                       "source_row": plan.source_rows.get(id(rec)), "new": written})
    for fill in plan.fills:
        rec = fill.record
        cells[(ct.sheet_name, rec.row, _column(ct, fill.key, added_c, cells, lang))] = fill.new
        events.append({"sheet": CUSTOMERS.name, "row": rec.row, "column": fill.key,
                       "old": None, "new": _audit_value(fill.new), "reason": "import.fill",
                       "customer_id": rec.values.get("customer_id"),
                       "source_row": fill.source_row})
    fu_keys = set(FOLLOWUPS.keys)
    for nf in plan.new_followups:
        rec = nf.record
        written = {}
        for key, v in rec.values.items():
            if key in rec.problems and key in rec.raw:
                v = rec.raw[key]
            if v is None or v == "" or key not in fu_keys:
                continue
            cells[(ft.sheet_name, rec.row, _column(ft, key, added_f, cells, lang))] = v
            written[key] = _audit_value(v)
        events.append({"sheet": FOLLOWUPS.name, "row": rec.row, "reason": "import.new",
                       "customer_id": rec.values.get("customer_id"),
                       "source_row": nf.source_row, "new": written})
    added = [CUSTOMERS.field(k).header(lang) for k in added_c] + \
        [FOLLOWUPS.field(k).header(lang) for k in added_f]
    return cells, events, added, issued, state


def _meta_rows(wb: Workbook, now: dt.datetime, issued: dict[str, str]) -> list[list[Any]]:
    meta = dict(wb.meta)
    rev = str(meta.get("revision", "0") or "0")
    meta["revision"] = str(int(rev) + 1) if rev.isdigit() else "1"
    meta["last_engine_write"] = now.isoformat(sep=" ")
    for kind, key in (("C", "last_customer_id"), ("F", "last_followup_id")):
        if kind in issued and issued[kind] > meta.get(key, ""):
            meta[key] = issued[kind]
    return [[k, v] for k, v in meta.items()]


def execute_import(prep: Prepared, *, dry_run: bool = False, who: str = "engine",
                   home: CrmHome | None = None, apply_after: bool = False,
                   now: dt.datetime | None = None, backups_dir: Path | None = None,
                   progress: Progress | None = None) -> ImportOutcome:
    """Write the rejects file and patch the master (unless `dry_run`); `apply_after` runs
    `run_apply` on the result (derived columns, Issues)."""
    from ..apply.run import describe, run_apply
    from ..reader import canonical_sheets

    plan = prep.plan
    wb = prep.master
    findings = [*prep.column_findings, *(f for r in plan.results for f in r.findings)]
    out = ImportOutcome(source=prep.source.path, sheet=prep.sheet, master=prep.master_path,
                        lang=wb.lang, header_row=prep.mapping.header_row + 1,
                        mapping=prep.mapping.columns, summary=plan.summary(), findings=findings,
                        dry_run=dry_run, encoding=prep.source.encoding,
                        delimiter=prep.source.delimiter)
    if dry_run:
        return out
    if any(r.rejected_part for r in plan.results):
        out.rejects_path = write_rejects(prep, now=now)
    if not (plan.new_customers or plan.fills or plan.new_followups):
        return out
    home = home if home is not None else home_for_workbook(prep.master_path)
    now = now or engine_now(prep.today)
    if progress is not None:
        progress("write", 0, 1)
    cells, events, added, issued, state = build_cells(prep, now)
    out.columns_added = added
    for h in added:
        out.findings.append(make("import.column_added", wb.lang, sheet=wb.customers.schema.name,
                                 row=1, field=h))
    replace: dict[str, SheetRows] = {}
    meta_name = canonical_sheets(wb.sheet_names, wb.meta).get(SHEET_META)
    if meta_name is not None:
        replace[meta_name] = SheetRows(rows=_meta_rows(wb, now, issued), first_row=1)
    events.append({"sheet": "import", "summary": True, "source": str(prep.source.path),
                   "source_sheet": prep.sheet, **plan.summary(),
                   "workbook": str(prep.master_path.resolve())})
    state_dir = state_dir_for(prep.master_path, home)
    result = safe_patch(prep.master_path, cells, replace,
                        backups_dir=backups_dir or (home.backups if home is not None
                                                    else default_backups_dir(prep.master_path)),
                        state_dir=state_dir, who=who, action="import", audit_events=events,
                        expected_sha256=prep.sha_before or None, lang=wb.lang)
    save_state(state_dir, state)
    out.written = True
    out.backup = result.backup
    if progress is not None:
        progress("write", 1, 1)
    if apply_after:
        if progress is not None:
            progress("apply", 0, 1)
        applied = run_apply(prep.master_path, today=prep.today, who=who, home=home,
                            backups_dir=backups_dir)
        out.apply_lines = describe(applied)[-1:]
        if progress is not None:
            progress("apply", 1, 1)
    return out


def run_import(source: str | Path, workbook: str | Path, *, dry_run: bool = False,
               who: str = "engine", home: CrmHome | None = None, apply_after: bool = False,
               now: dt.datetime | None = None, backups_dir: Path | None = None,
               progress: Progress | None = None, **options: Any) -> ImportOutcome:
    """Import SOURCE into the master WORKBOOK (see prepare_import for the options)."""
    prep = prepare_import(source, workbook, progress=progress, **options)
    return execute_import(prep, dry_run=dry_run, who=who, home=home, apply_after=apply_after,
                          now=now, backups_dir=backups_dir, progress=progress)


def rejects_name(now: dt.datetime | None = None) -> str:
    now = now or dt.datetime.now()
    return f"import-rejects-{now:%Y%m%d-%H%M%S}.xlsx"


__all__ = ["ImportOutcome", "Prepared", "execute_import", "prepare_import", "rejects_name",
           "run_import"]
