"""`run_apply`: load → compute changes → validate the result → patch the master safely.

The CLI (`crm apply`, `crm merge-customers`) and tests call this one function.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import time

try:
    import resource
except ImportError:  # Windows
    resource = None  # type: ignore[assignment]
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CrmError
from ..findings import Finding
from ..gcpause import paused_gc
from ..home import CrmHome, home_for_workbook
from ..i18n import t
from ..issues_sheet import (
    ISSUES_HEADERS,
    PRINT_REPEAT,
    data_sheet_dress,
    issues_dress,
    master_issue_table,
    overdue_formula,
    pages_wide,
    print_titles,
)
from ..model import Table, Workbook
from ..prohibited import redact
from ..schema import (
    DATA_SHEETS,
    META_SHEET_PREFIX,
    SHEET_ISSUES,
    SHEET_META,
    SHEET_TITLES,
    identify_sheets,
    sheet_title,
)
from ..writeback.backups import default_backups_dir
from ..writeback.safe import file_sha256, safe_patch
from ..writeback.xlsxpatch import CellKey, SheetDress, SheetRows
from .rules import Change, ChangeLog, Plan, compute_changes, merge_customers, reason_text
from .state import load_state, save_state, state_dir_for

if TYPE_CHECKING:
    from ..checkcache import CheckCache

_SEVERITY_ORDER = {"error": 0, "warning": 1, "info": 2}
DRESS_VERSION = "1"  # bump when the engine's formats/print setup change: rewritten once


@dataclass
class ApplyOutcome:
    path: Path
    lang: str
    changes: list[Change]
    findings: list[Finding]  # what the Issues sheet lists
    notes: list[Finding]  # dormant / pooled notes (output only)
    review: list[Finding]
    issues_changed: bool
    written: bool = False
    dry_run: bool = False
    backup: Path | None = None
    skipped: list[str] = field(default_factory=list)  # things not written, one line each
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")


def engine_now(today: dt.date) -> dt.datetime:
    """The engine's clock: CRM_NOW (ISO datetime, for tests) else today at the current time."""
    env = os.environ.get("CRM_NOW")
    if env:
        try:
            return dt.datetime.fromisoformat(env.strip()).replace(tzinfo=None, microsecond=0)
        except ValueError as exc:
            raise CrmError(t(f"CRM_NOW 需要形如 2024-03-15T14:00 的时间，收到的是 {env!r}", f"CRM_NOW expects a datetime like 2024-03-15T14:00, got {env!r}")) from exc
    return dt.datetime.combine(today, dt.datetime.now().time()).replace(microsecond=0)


def _actual_sheet(wb: Workbook, canonical: str) -> str | None:
    from ..reader import canonical_sheets

    return canonical_sheets(wb.sheet_names, wb.meta).get(canonical)


def issues_rows(wb: Workbook, findings: list[Finding]) -> tuple[list[list[Any]], dict]:
    """The Issues sheet body (from row 2) and its internal hyperlinks."""
    table = master_issue_table(wb, findings)
    return table.rows, table.links


def _dedupe(findings: list[Finding]) -> list[Finding]:
    seen: set[tuple] = set()
    out = []
    for f in findings:
        key = (f.sheet, f.row, f.column, f.code)
        if key not in seen:
            seen.add(key)
            out.append(f)
    out.sort(key=lambda f: (_SEVERITY_ORDER.get(f.severity, 3), f.sheet, f.row or 0, f.column or "",
                            f.code))
    return out


def _cells(wb: Workbook, changes: list[Change], skipped: list[str],
           added: dict[tuple[str, str], int] | None = None) -> dict[CellKey, Any]:
    """The cells to write; `added` receives (tab, key) -> column of engine columns added."""
    cells: dict[CellKey, Any] = {}
    added = added if added is not None else {}
    for ch in changes:
        table: Table = wb.customers if ch.sheet == wb.customers.schema.name else wb.followups
        col = table.columns.get(ch.column_key)
        if col is None:
            f = table.schema.by_key.get(ch.column_key)
            if f is None or not f.engine:
                skipped.append(f"{table.sheet_name}: {ch.column_key}")
                continue
            key = (table.sheet_name, ch.column_key)
            if key not in added:
                used = [*table.columns.values(), *table.extra_columns.values(), *added.values()]
                added[key] = max(used, default=-1) + 1
                cells[(table.sheet_name, table.header_row, added[key])] = f.header(wb.lang)
            col = added[key]
        value = ch.new
        cells[(table.sheet_name, ch.row, col)] = value
    return cells


def _staff_lists(path: Path, wb: Workbook, home: CrmHome | None
                 ) -> tuple[dict[CellKey, Any], list[dict[str, Any]]]:
    """Lists › 负责人/客服人员 in step with the home's accounts, for the master only."""
    if home is None or path.resolve() != Path(home.master).resolve():
        return {}, []
    from ..staff_lists import lists_cells

    return lists_cells(path, wb, home)


def _sheet_records(wb: Workbook) -> dict[str, str]:
    """`_meta` rows naming the tabs the engine works on (`sheet.Customers = 客户`), so a
    user's look-alike sheet never takes over; only tabs identified without doubt."""
    found, ambiguous = identify_sheets(wb.sheet_names, wb.meta)
    doubtful = {canon for canon, _, _ in ambiguous}
    return {META_SHEET_PREFIX + k: v for k, v in found.items()
            if k in SHEET_TITLES and k != SHEET_META and k not in doubtful}


def _dress(wb: Workbook, marks: dict[str, dict[str, set[tuple[int, int]]]],
           added: dict[tuple[str, str], int], issues_name: str, n_rows: int
           ) -> dict[str, SheetDress]:
    """The engine's formats for this write: marked problem cells and overdue follow-ups on
    the data sheets, severity colours and a filter on Issues, page setup where missing."""
    cust = wb.customers

    def col(key: str) -> int | None:
        got = cust.columns.get(key)
        return got if got is not None else added.get((cust.sheet_name, key))

    date_col = col("next_followup_date")
    overdue = overdue_formula(date_col, col("stage"), col("status")) \
        if date_col is not None and cust.header_row == 1 else None
    def pages(table: Table) -> int:
        widths = [f.width for f in table.schema.fields]
        return pages_wide(widths, PRINT_REPEAT[table.schema.name])

    return {cust.sheet_name: data_sheet_dress(marks.get(cust.sheet_name, {}), overdue, date_col,
                                              pages(cust)),
            wb.followups.sheet_name: data_sheet_dress(marks.get(wb.followups.sheet_name, {}),
                                                      pages=pages(wb.followups)),
            issues_name: issues_dress(wb.lang, n_rows)}


def _meta_rows(wb: Workbook, updates: dict[str, str]) -> list[list[Any]]:
    meta = dict(wb.meta)
    meta.update(updates)
    return [[k, v] for k, v in meta.items()]


def _check_cache(path: Path) -> CheckCache | None:
    """The workbook's check cache (None when CRM_CHECK_CACHE=0 or there is no file)."""
    from .. import checkcache

    if not path.is_file() or not checkcache.enabled():
        return None
    cc = checkcache.CheckCache.open(path)
    if cc is not None:
        # apply's write changes `_meta` (revision, last write), part of the row findings'
        # key: no later check could use this check's, so their fingerprints (1.4 s at
        # 100k) are not taken; the duplicate scan's part is kept
        cc.tables = ()
    return cc


def run_apply(path: str | Path, *, today: dt.date, now: dt.datetime | None = None,
              dry_run: bool = False, who: str = "engine", home: CrmHome | None = None,
              merge: tuple[str, str] | None = None, backups_dir: Path | None = None,
              state_dir: Path | None = None) -> ApplyOutcome:
    """Bring the master up to date (and optionally merge two customers first)."""
    from ..validation import _late_scan, start_scan

    path = Path(path)
    now = now or engine_now(today)
    timings: dict[str, float] = {}
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        t = time.perf_counter()
        timings[name] = round(t - clock, 3)
        if resource is not None:  # peak RSS so far, MiB (Linux reports KiB)
            timings[f"rss_after_{name}"] = round(
                resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        clock = t

    sha_before = file_sha256(path) if path.is_file() else None
    # The check cache (checkcache.py) as `crm validate` keeps it: when the last check's
    # duplicate scan can be reused or brought up to date from its index, no second
    # process is started; else the duplicate scan starts in a second process during the
    # read, and validate uses it only if the customers it saw are still what the rules
    # below leave. The findings are the full check's either way.
    cc = _check_cache(path)
    scan = start_scan(path) if path.is_file() and not (cc is not None and cc.promising) \
        else None
    if scan is None and cc is not None:
        cc.start_scan = lambda payload: _late_scan(path, None, None, payload)
    try:
        # the rules and the write allocate a change, a string or a cell per edit on top
        # of the loaded workbook's millions of containers: the cyclic collector would
        # re-walk all of them at each burst (reference counting still frees memory)
        with paused_gc(), ExitStack() as cleanup:
            return _apply(path, scan, today=today, now=now, dry_run=dry_run, who=who,
                          home=home, merge=merge, backups_dir=backups_dir,
                          state_dir=state_dir, sha_before=sha_before, timings=timings,
                          lap=lap, cache=cc, cleanup=cleanup)
    finally:
        if scan is not None:
            scan.close()


def _apply(path: Path, scan: Any, *, today: dt.date, now: dt.datetime, dry_run: bool, who: str,
           home: CrmHome | None, merge: tuple[str, str] | None, backups_dir: Path | None,
           state_dir: Path | None, sha_before: str | None, timings: dict[str, float],
           lap: Callable[[str], None], cache: CheckCache | None = None,
           cleanup: ExitStack | None = None) -> ApplyOutcome:
    from ..validation import load_scanning, validate

    wb = load_scanning(path, scan)
    lap("load")
    prefetch = None
    if not dry_run and sha_before is not None:
        # the write's sheets: the file read again and the customer sheet inflated while
        # the rules below run (a core idles); the cells follow (`give`) if any change
        from ..writeback.prefetch import SheetPrefetch

        prefetch = SheetPrefetch.early(path, sha_before, wb.customers.sheet_name)
        if cleanup is not None:
            cleanup.callback(prefetch.close)
    home = home if home is not None else home_for_workbook(path)
    state_dir = state_dir or state_dir_for(path, home)
    state = load_state(state_dir)
    log = ChangeLog()
    action = "apply"
    if merge is not None:
        action = "merge-customers"
        try:
            merge_customers(wb, merge[0], merge[1], log=log)
        except ValueError as exc:
            raise CrmError(str(exc)) from None
    plan: Plan = compute_changes(wb, today, now, state, log)
    lap("rules")
    if "baseline_at" not in wb.meta:
        # The first apply stamps recorded-at on every existing follow-up; those were not
        # entered late, so the timeliness rule only judges follow-ups seen after this.
        wb.meta["baseline_at"] = now.isoformat(sep=" ")
    staff_cells, staff_events = _staff_lists(path, wb, home)  # before validate: owner rule
    skipped: list[str] = []
    added: dict[tuple[str, str], int] = {}
    cells = _cells(wb, plan.changes, skipped, added)
    cells.update(staff_cells)
    backups_dir = backups_dir or (home.backups if home is not None
                                  else default_backups_dir(path))
    if prefetch is not None and plan.changes:
        # inflate the sheets the write will patch, and patch and deflate them with these
        # cells, while validation runs (a spare core); the write takes them unless it
        # puts new formats on them. The bytes read are also written as the write's
        # backup meanwhile (taken by safe_patch, removed if no write takes it).
        touched = {wb.customers.sheet_name if ch.sheet == wb.customers.schema.name
                   else wb.followups.sheet_name for ch in plan.changes}
        prefetch.give(sorted(touched), cells, backup=(backups_dir, action))
    elif prefetch is not None:
        prefetch.close()  # nothing changes: no cells to patch ahead
        prefetch = None
    report = validate(wb, today, duplicate_scan=scan, cache=cache)
    lap("validate")
    if scan is not None and scan.peak_rss_mib:
        timings["rss_scan_worker"] = round(scan.peak_rss_mib, 1)
    findings = _dedupe([*report.findings, *plan.findings])
    issues_name = _actual_sheet(wb, SHEET_ISSUES)
    meta_name = _actual_sheet(wb, SHEET_META)
    issue_table = master_issue_table(wb, findings)
    rows, links = issue_table.rows, issue_table.links
    issues_sha = hashlib.sha256(json.dumps([rows, sorted(links.items())], ensure_ascii=False,
                                           default=str).encode("utf-8")).hexdigest()[:32]
    sheet_records = _sheet_records(wb)
    stale = wb.meta.get("dress") != DRESS_VERSION or any(
        wb.meta.get(k) != v for k, v in sheet_records.items())
    if meta_name is not None:
        issues_changed = issues_name is not None and (
            wb.meta.get("issues_sha256") != issues_sha or stale)
    else:  # nowhere to remember what Issues holds: refresh it only along with other changes
        issues_changed = issues_name is not None and bool(cells)
    if issues_name is None:
        skipped.append("没有「问题」工作表，问题未写入" if wb.lang == "zh" else
                       "Issues sheet missing: findings not written")
    out = ApplyOutcome(path=path, lang=wb.lang, changes=plan.changes, findings=findings,
                       notes=plan.notes, review=plan.review, issues_changed=issues_changed,
                       dry_run=dry_run, skipped=skipped, timings=timings)
    lap("issues")
    if dry_run or (not cells and not issues_changed):
        return out
    replace: dict[str, SheetRows] = {}
    dress: dict[str, SheetDress] = {}
    mark_signs: dict[str, str] = {}
    titles: dict[str, str] = {}
    if issues_name is not None and issues_changed:
        header = list(ISSUES_HEADERS.get(wb.lang, ISSUES_HEADERS["en"]))
        replace[issues_name] = SheetRows(rows=[header, *rows], first_row=1, links=links,
                                         link_font=True, header_row=1)
        dress = _dress(wb, issue_table.marks, added, issues_name, len(rows))
        for tab, key in ((wb.customers.sheet_name, "marks.Customers"),
                         (wb.followups.sheet_name, "marks.Followups")):
            rules = [(r.kind, r.sqref, r.formula) for r in dress[tab].rules]
            mark_signs[key] = hashlib.sha256(repr(rules).encode("utf-8")).hexdigest()[:16]
            if meta_name is not None and not stale and wb.meta.get(key) == mark_signs[key]:
                del dress[tab]  # its marks are already there: do not rewrite a big sheet
        titles = {issues_name: "$1:$1"}
        for table in (wb.customers, wb.followups):
            if table.header_row == 1:
                titles[table.sheet_name] = print_titles(PRINT_REPEAT[table.schema.name])
    if meta_name is not None:
        updates = {"revision": str(int(wb.meta.get("revision", "0") or 0) + 1
                                   if str(wb.meta.get("revision", "0")).isdigit() else 1),
                   "last_engine_write": now.isoformat(sep=" "),
                   "issues_sha256": issues_sha, "dress": DRESS_VERSION, **sheet_records,
                   **mark_signs}
        for ch in plan.changes:
            if ch.reason == "id.assigned":
                key = "last_customer_id" if ch.column_key == "customer_id" else "last_followup_id"
                if str(ch.new) > updates.get(key, wb.meta.get(key, "")):
                    updates[key] = str(ch.new)
        replace[meta_name] = SheetRows(rows=_meta_rows(wb, updates), first_row=1)
    def events() -> Iterator[dict[str, Any]]:
        for ch in plan.changes:
            yield {"sheet": ch.sheet, "row": ch.row, "column": ch.column_key, "old": ch.old,
                   "new": ch.new, "reason": ch.reason, "customer_id": ch.customer_id}
        yield from staff_events
        yield {"sheet": SHEET_ISSUES, "summary": True, "changes": len(plan.changes),
               "findings": len(findings), "workbook": str(path.resolve())}

    lang = wb.lang
    # the write needs nothing more of the loaded workbook: its records (~1 GB at 100k
    # customers) go before the write's own memory comes (most of it while the write
    # waits for the last sheet patched ahead)
    del wb, report
    result = safe_patch(path, cells, replace, backups_dir=backups_dir, state_dir=state_dir,
                        who=who, action=action, audit_events=events(),
                        expected_sha256=sha_before, lang=lang, prefetch=prefetch,
                        dress=dress, print_titles=titles)
    save_state(state_dir, plan.state)
    lap("write")
    out.written = True
    out.backup = result.backup
    return out


def format_value(v: Any) -> str:
    if v is None or v == "":
        return "''"
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M")
    if isinstance(v, dt.date):
        return v.isoformat()
    v = redact(v)  # an old value an older version wrote may hold an ID: printed masked
    return repr(v) if isinstance(v, str) else str(v)


EXAMPLES = 3  # changes shown per rule in the summary


def _where(sheet: str, row: int | None, lang: str) -> str:
    zh = lang == "zh"
    tab = sheet_title(sheet, lang) if sheet in SHEET_TITLES else sheet
    return f"{tab} {'第' if zh else 'row '}{row}{'行' if zh else ''}"


def _change_line(ch: Change, lang: str) -> str:
    schemas = {s.name: s for s in DATA_SHEETS}
    schema = schemas.get(ch.sheet)
    col = schema.field(ch.column_key).header(lang) if schema and \
        ch.column_key in schema.by_key else ch.column_key
    return f"{_where(ch.sheet, ch.row, lang)} {col}: {format_value(ch.old)} → {format_value(ch.new)}"


def describe(out: ApplyOutcome, wb_columns: dict[str, dict[str, int]] | None = None, *,
             verbose: bool = False) -> list[str]:
    """The lines `crm apply` prints: per rule a count and a few examples (every change
    with `verbose`), notes and review items the same way, then one summary line.

    A first apply of 20,000 customers changes some 235,000 cells: a person reads the
    summary; the full list is in the audit log, `--verbose` and `--format json`."""
    zh = out.lang == "zh"
    lines: list[str] = []
    if verbose:
        for ch in out.changes:
            lines.append(f"{_change_line(ch, out.lang)}  ({reason_text(ch.reason, out.lang)})")
        for f in out.notes:
            lines.append(f"{_where(f.sheet, f.row, out.lang)} {f.customer_id or ''}: {f.message}")
        if out.review:
            lines.append("月度复核：" if zh else "Monthly review:")
            for f in out.review:
                lines.append(f"  {f.customer_id}  {zh and '第' or 'row '}{f.row}"
                             f"{zh and '行' or ''}  {f.message}")
    else:
        by_reason: dict[str, list[Change]] = {}
        for ch in out.changes:
            by_reason.setdefault(ch.reason, []).append(ch)
        if by_reason:
            lines.append("按规则汇总：" if zh else "Changes by rule:")
        for reason, chs in by_reason.items():
            unit = f"{len(chs)} 处" if zh else f"{len(chs)} cells"
            lines.append(f"  {reason_text(reason, out.lang)}：{unit}" if zh else
                         f"  {reason_text(reason, out.lang)}: {unit}")
            for ch in chs[:EXAMPLES]:
                lines.append(f"    {_change_line(ch, out.lang)}")
            if len(chs) > EXAMPLES:
                more = len(chs) - EXAMPLES
                lines.append(f"    ……另有 {more} 处" if zh else f"    ... {more} more")
        by_code: dict[str, list[Finding]] = {}
        for f in out.notes:
            by_code.setdefault(f.code, []).append(f)
        for code, fs in by_code.items():
            if code in by_reason:  # the rule's own group above already counts them
                continue
            head = fs[0].message
            lines.append(f"  {reason_text(code, out.lang)}：{len(fs)} 个客户，例如 {head}" if zh else
                         f"  {reason_text(code, out.lang)}: {len(fs)} customers, e.g. {head}")
        if out.review:
            ids = "、".join(str(f.customer_id) for f in out.review[:EXAMPLES]) if zh else \
                ", ".join(str(f.customer_id) for f in out.review[:EXAMPLES])
            more = len(out.review) - EXAMPLES
            tail = (" 等" if zh else ", ...") if more > 0 else ""
            lines.append(f"月度复核：{len(out.review)} 个客户（{ids}{tail}）" if zh else
                         f"Monthly review: {len(out.review)} customers ({ids}{tail})")
        if len(out.changes) > EXAMPLES or len(out.review) > EXAMPLES:
            lines.append("完整清单：审计日志，或 crm apply --verbose / --format json" if zh else
                         "Full list: the audit log, or crm apply --verbose / --format json")
    for s in out.skipped:
        lines.append(("未写入：" if zh else "not written: ") + s)
    n_err = out.errors
    n_warn = sum(1 for f in out.findings if f.severity == "warning")
    if out.dry_run:
        tail = "（试运行，未写入）" if zh else " (dry run: nothing written)"
    elif out.written:
        tail = (f"，已写入（备份 {out.backup.name}）" if zh else
                f"; written (backup {out.backup.name})") if out.backup else ""
    else:
        tail = "，无需写入" if zh else "; nothing to write"
    if zh:
        lines.append(f"共 {len(out.changes)} 处修改，复核 {len(out.review)} 个客户，"
                     f"问题表 {len(out.findings)} 条（{n_err} 个错误，{n_warn} 个警告）{tail}")
    else:
        lines.append(f"{len(out.changes)} changes, {len(out.review)} customers due for review, "
                     f"{len(out.findings)} issues ({n_err} errors, {n_warn} warnings){tail}")
    return lines


def _json_value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    return redact(v)


def outcome_json(out: ApplyOutcome) -> dict[str, Any]:
    """What `crm apply --format json` prints: every change, per-rule counts, notes, review
    items, the Issues counts and whether (and with which backup) the master was written."""
    by_rule: dict[str, int] = {}
    for ch in out.changes:
        by_rule[ch.reason] = by_rule.get(ch.reason, 0) + 1
    return {
        "workbook": str(out.path), "written": out.written, "dry_run": out.dry_run,
        "backup": str(out.backup) if out.backup else None,
        "summary": {"changes": len(out.changes), "by_rule": by_rule, "review": len(out.review),
                    "issues": len(out.findings), "errors": out.errors,
                    "warnings": sum(1 for f in out.findings if f.severity == "warning")},
        "changes": [{"sheet": ch.sheet, "row": ch.row, "column": ch.column_key,
                     "old": _json_value(ch.old), "new": _json_value(ch.new), "reason": ch.reason,
                     "customer_id": ch.customer_id} for ch in out.changes],
        "notes": [f.to_dict() for f in out.notes],
        "review": [f.to_dict() for f in out.review],
        "skipped": list(out.skipped),
    }
