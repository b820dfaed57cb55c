"""What happens on a save of the master and on a copy dropped into the inbox.

Library functions that return data; the watcher loop (and tests) call them, the CLI
prints what they return.

- `revalidate`: load the saved master, run every rule except the duplicate scan,
  check duplicates incrementally (`DupTracker`: validate()'s findings, only the pairs of
  changed customers scored again from the last full scan's index), add shared-mode
  ownership findings, attribute the save.
- `write_findings`: `reports/latest-findings.json` (atomic).
- `apply_master`: `run_apply` as the engine through the safe write-back; a lock file
  or a concurrent save is a refusal reported as data, never an exception.
- `process_inbox`: merge a handed-back copy, move it to `inbox/done/` or
  `inbox/rejected/` with its findings beside it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CrmError, Refused, WorkbookLocked
from ..findings import Finding, Report, make, sort_key
from ..home import CrmHome
from ..model import Record, Workbook
from ..writeback.atomic import atomic_write_bytes
from ..writeback.safe import file_sha256
from .adapters import Hooks

FINDINGS_FILE = "latest-findings.json"
DUP_RULE = "possible_duplicate"


# ------------------------------------------------------------------ duplicates


class DupTracker:
    """The duplicate findings of each save, exactly `validate()`'s (rules/duplicates.py).

    The first workbook, and any whose scan settings changed (threshold, language,
    NotDuplicates), gets the full scan (`duplicate_matches`), which leaves an index in
    memory (dedupe/incremental.py, the one `crm validate`'s warm check keeps on disk).
    Later saves are answered from that index: only the pairs a changed, new or removed
    customer is in are scored again, clusters and best earlier matches are made as the
    full scan makes them. When the index cannot tell exactly (too many changes since the
    full scan, a contact or term crossing its cap, ...) the full scan runs again.
    """

    def __init__(self) -> None:
        self.index: Any = None  # incremental.build_index of the last full scan
        self.lang = "zh"
        self.last_full = False
        self.last_changed = 0
        self._contents: tuple[set, int] = (set(), 0)  # the last save's scanned contents, count

    def _payload(self, wb: Workbook) -> tuple[Any, list[Any], int]:
        from ..dedupe.api import resolve_threshold
        from ..dedupe.incremental import head_of
        from ..dedupe.worker import payload_of

        threshold = resolve_threshold(wb, None)
        payload = payload_of(wb.lang, threshold, wb.not_duplicates, wb.customers.records)
        return payload, head_of(*payload[:3]), threshold

    def _full(self, wb: Workbook, payload: Any, head: Any, threshold: int) -> list[Any]:
        from ..dedupe.api import duplicate_matches
        from ..dedupe.incremental import index_after_scan

        kept: list[Any] = []
        matches = duplicate_matches(wb, threshold, keep=kept)
        self.index = None
        try:
            self.index = index_after_scan(head, payload[3], kept[0])
        except Exception:  # noqa: BLE001 - only a shortcut for the next save
            self.index = None
        self.last_full = True
        self.last_changed = len(wb.customers.records)
        return matches

    def update(self, wb: Workbook) -> list[Finding]:
        """The duplicate findings of `wb` (those of `validate()`), incrementally when possible."""
        from ..dedupe import incremental
        from ..dedupe.api import findings_from_matches

        self.lang = wb.lang
        payload, head, threshold = self._payload(wb)
        entries = payload[3]
        contents = [tuple(e[1:7]) for e in entries]
        matches = None
        if self.index is not None:
            try:
                matches = incremental.update(self.index, head, contents,
                                             [e[0] for e in entries], [e[7] for e in entries],
                                             payload[2], threshold, wb.lang)
            except Exception:  # noqa: BLE001 - an optimisation: the full scan answers instead
                matches = None
        now = set(contents)
        if matches is None:
            matches = self._full(wb, payload, head, threshold)
        else:  # customers changed or added: contents new, or more copies of one than before
            self.last_full = False
            before, n_before = self._contents
            self.last_changed = len(now - before) + max(
                0, (len(contents) - len(now)) - (n_before - len(before)))
        self._contents = (now, len(contents))
        return findings_from_matches(wb, matches)


# ------------------------------------------------------------------ master saves


# Row rules (scope "row", rules/registry.py) find what they find from a row's own content
# (and Lists/Settings/meta/today): between two saves only the rows whose content changed
# need them again; every other row's findings are the last save's, at its row of now.
# The previous save's Workbook is in memory, so rows are compared with it directly (no
# fingerprints): position by position when the sheet kept its length (C-level compares of
# chunks), by content for the stretch between the common head and tail when rows were
# added or removed. Two rows match only when their values, raw cells, problems and extra
# columns are equal with the same keys in the same order and values of the same types
# (1 == 1.0 == True, yet a rule may tell them apart).
_CHUNK = 256
_TABLES = ("customers", "followups")
ENV_INCREMENTAL = "CRM_WATCH_INCREMENTAL"  # "0": every save runs every rule on every row


def incremental_enabled() -> bool:
    return os.environ.get(ENV_INCREMENTAL, "").strip().lower() not in ("0", "off", "no", "false")


@dataclass
class RowMemo:
    """The row rules' findings of the workbook last validated (`MasterTracker.workbook`)."""

    key: str  # checkcache.key_of: what besides a row a row rule reads
    rules: tuple[str, ...]  # the rules asked for
    rows: dict[str, list[tuple]]  # table -> per record: its findings as templates
    matched: dict[str, list[int]] = field(default_factory=dict)  # last diff: new -> old or -1
    sigs: dict[str, RowSig] = field(default_factory=dict, repr=False)  # of the workbook


class _TypeCodes(dict):
    """A byte per value type (the same for every table, so two tables' codes compare)."""

    def __missing__(self, t: type) -> int:
        code = self[t] = len(self)
        return code


_TYPE_CODES = _TypeCodes()
_KEY_CHECK = 4096  # rows whose field order is checked at a time (bounds a temporary list)


def _other(r: Record) -> tuple:
    return (tuple(r.raw.items()), tuple(map(type, r.raw.values())),
            tuple(r.problems.items()), tuple(map(type, r.problems.values())),
            tuple(r.extra.items()), tuple(map(type, r.extra.values())))


def _content_key(r: Record) -> Any:
    """Everything two rows are compared on, hashable (an unhashable value: a key equal to
    nothing, so the row counts as changed)."""
    try:
        key = (tuple(r.values.items()), tuple(map(type, r.values.values())), _other(r))
        hash(key)
        return key
    except TypeError:
        return object()


class RowSig:
    """What the rows of one table are compared on, gathered once for the whole table.

    When every row has the same fields in the same order (as the reader makes them), the
    table's values in one flat list (row after row, compared in C), a byte per value for
    its type, and each row's raw cells, problems and extra columns (nearly always empty);
    else each row's `_content_key`."""

    __slots__ = ("recs", "flat", "keys", "width", "types", "others")

    def __init__(self, recs: list[Record]) -> None:
        from itertools import chain
        from operator import attrgetter

        self.recs = recs
        vals = list(map(attrgetter("values"), recs))
        keys: tuple | None = tuple(vals[0]) if vals else ()
        kl = list(keys or ())
        for i in range(0, len(vals), _KEY_CHECK):
            part = vals[i:i + _KEY_CHECK]
            if list(chain.from_iterable(part)) != kl * len(part):
                keys = None
                break
        self.flat: list[Any] = []
        self.types = b""
        if keys is not None:
            self.flat = list(chain.from_iterable(map(dict.values, vals)))
            try:
                self.types = bytes(map(_TYPE_CODES.__getitem__, map(type, self.flat)))
            except ValueError:  # more than 256 types of value: compare rows whole
                keys, self.flat = None, []
        self.keys, self.width = keys, len(keys or ())
        self.others = [_other(r) if r.raw or r.problems or r.extra else () for r in recs] \
            if keys is not None else []

    def same(self, i: int, old: RowSig, j: int, m: int = 1) -> bool:
        """Rows i..i+m of this table equal rows j..j+m of `old`?"""
        if self.keys is not None and self.keys == old.keys:
            w = self.width
            a, b = i * w, j * w
            return (self.flat[a:a + m * w] == old.flat[b:b + m * w]
                    and self.types[a:a + m * w] == old.types[b:b + m * w]
                    and self.others[i:i + m] == old.others[j:j + m])
        x = [_content_key(r) for r in self.recs[i:i + m]]
        return x == [_content_key(r) for r in old.recs[j:j + m]]


def _differing(new: RowSig, old: RowSig, n0: int, o0: int, n: int,
               first: bool = False) -> list[int]:
    """Offsets k < n where new row n0 + k and old row o0 + k differ (`first`: the first)."""
    out: list[int] = []
    for k in range(0, n, _CHUNK):
        m = min(_CHUNK, n - k)
        if new.same(n0 + k, old, o0 + k, m):
            continue
        for j in range(k, k + m):
            if not new.same(n0 + j, old, o0 + j):
                out.append(j)
                if first:
                    return out
    return out


def match_rows(old: RowSig | list[Record], new: RowSig | list[Record]) -> list[int]:
    """For each row of `new`, the index of an equal row of `old` (each used once), or -1:
    a changed or added row. Equal rows at equal positions are paired with each other."""
    old = old if isinstance(old, RowSig) else RowSig(old)
    new = new if isinstance(new, RowSig) else RowSig(new)
    n_old, n_new = len(old.recs), len(new.recs)
    if n_old == n_new:
        todo = _differing(new, old, 0, 0, n_new)
        out = list(range(n_new))
        if not todo:
            return out
        pool_idx: list[int] | range = todo
    else:
        d = _differing(new, old, 0, 0, min(n_old, n_new), first=True)
        p = d[0] if d else min(n_old, n_new)
        limit, s = min(n_old, n_new) - p, 0
        while s < limit:  # equal rows at the end, a chunk at a time
            m = min(_CHUNK, limit - s)
            d = _differing(new, old, n_new - s - m, n_old - s - m, m)
            if d:
                s += m - 1 - d[-1]
                break
            s += m
        out = list(range(p)) + [-1] * (n_new - p - s) + list(range(n_old - s, n_old))
        todo = list(range(p, n_new - s))
        pool_idx = range(p, n_old - s)
    pool: dict[Any, list[int]] = {}
    for i in reversed(pool_idx):
        pool.setdefault(_content_key(old.recs[i]), []).append(i)
    for i in todo:
        lst = pool.get(_content_key(new.recs[i]))
        out[i] = lst.pop() if lst else -1
    return out


def _changed_from(before: Workbook, after: Workbook, table: str, matched: list[int]) -> int:
    """`_changed(before, after, table)` from a match of equal rows: rows equal in all are
    equal in values, and a multiset difference is the same without the elements both
    sides share."""
    old, new = getattr(before, table).records, getattr(after, table).records
    used = set(matched)
    rest_old = [r for i, r in enumerate(old) if i not in used]
    rest_new = [new[i] for i, m in enumerate(matched) if m < 0]
    return _multiset_changes(rest_old, rest_new)


def rule_findings(wb: Workbook, today: dt.date, rules: list[str], before: Workbook | None,
                  memo: RowMemo | None) -> tuple[list[Finding], RowMemo | None]:
    """`validate(wb, today, rules=rules).findings`, running the row rules only on rows that
    differ from `before` (whose row findings `memo` holds); with the memo for `wb`.

    Falls back to `validate` (and no memo) when it cannot place a row rule's finding on a
    row, or a row rule fails (the full check reports the failure as it always did)."""
    from ..checkcache import _order, key_of
    from ..gcpause import paused_gc
    from ..rules import RULES, Context
    from ..validation import validate

    with paused_gc():
        got = _rule_findings(wb, today, rules, before, memo, key_of, Context, RULES, _order)
    if got is None:
        return validate(wb, today, rules=rules).findings, None
    return got


def _rule_findings(wb, today, rules, before, memo, key_of, Context, RULES, order):  # noqa: ANN001, ANN202, PLR0913
    names = set(rules)
    ordered = [(pos, r) for pos, r in enumerate(sorted(RULES, key=lambda r: r.deferred))
               if r.name in names]
    key = key_of(wb, today)
    tables = {t: getattr(wb, t) for t in _TABLES}
    reuse = (memo is not None and before is not None and memo.key == key
             and memo.rules == tuple(rules))
    matched: dict[str, list[int]] = {}
    todo: dict[str, list[int]] = {}
    sigs = {name: RowSig(t.records) for name, t in tables.items()}
    for name, t in tables.items():
        if reuse:
            assert before is not None and memo is not None
            old = memo.sigs.get(name)
            if old is None or old.recs is not getattr(before, name).records:
                old = RowSig(getattr(before, name).records)
            matched[name] = m = match_rows(old, sigs[name])
            todo[name] = [i for i, j in enumerate(m) if j < 0]
        else:
            todo[name] = list(range(len(t.records)))
    sub = {name: dataclasses.replace(t, records=[t.records[i] for i in todo[name]])
           if len(todo[name]) != len(t.records) else t for name, t in tables.items()}
    sub_wb = dataclasses.replace(wb, customers=sub["customers"], followups=sub["followups"])
    from ..checkcache import COLUMNS_KEY

    ctx = Context(wb=wb, today=today)
    sub_ctx = Context(wb=sub_wb, today=today,
                      extra={COLUMNS_KEY: ctx.extra.setdefault(COLUMNS_KEY, {})})
    at: dict[tuple[str, int], tuple[str, int]] = {}
    for name, t in sub.items():
        for k, r in enumerate(t.records):
            at[(t.schema.name, r.row)] = (name, k)
    if len(at) != sum(len(t.records) for t in sub.values()):
        return None  # two rows of a sheet with one number: cannot place findings
    out: list[tuple[int, Finding]] = [(-1, f) for f in wb.problems]
    fresh: dict[tuple[str, int], list[tuple[int, Finding]]] = {}
    for pos, r in ordered:
        if r.scope != "row":
            continue
        try:
            found = list(r.fn(sub_wb, sub_ctx))
        except Exception:  # noqa: BLE001 - the full check reports it
            return None
        for f in found:
            where = at.get((f.sheet, f.row))  # type: ignore[arg-type]
            if where is None:
                return None
            fresh.setdefault(where, []).append((pos, f))
    rows: dict[str, list[tuple]] = {}
    for name, t in tables.items():
        sheet, recs = t.schema.name, t.records
        m = matched.get(name)
        if m is None:
            per: list[tuple] = [()] * len(recs)
        else:
            kept = memo.rows[name]  # type: ignore[union-attr]
            per = [kept[j] if j >= 0 else () for j in m]
            # the rows whose last findings come back (at their row of now)
            for i in [i for i, tpl in enumerate(per) if tpl]:
                row = recs[i].row
                out.extend((pos, Finding(sheet, row, column, code, severity, message, cid))
                           for pos, column, code, severity, message, cid in per[i])
        for k, i in enumerate(todo[name]):  # the rows the row rules ran on
            got = fresh.get((name, k), [])
            out.extend(got)
            per[i] = tuple((pos, f.column, f.code, f.severity, f.message, f.customer_id)
                           for pos, f in got)
        rows[name] = per
    for pos, r in ordered:
        if r.scope == "row":
            continue
        try:
            out.extend((pos, f) for f in r.fn(wb, ctx))
        except Exception as exc:  # noqa: BLE001 - as the full check: a finding
            out.append((pos, make("rule.crashed", wb.lang, sheet="Customers", rule=r.name,
                                  error=f"{type(exc).__name__}: {exc}")))
    findings = [f for _pos, f in sorted(out, key=order)]
    return findings, RowMemo(key=key, rules=tuple(rules), rows=rows, matched=matched, sigs=sigs)



def _row_key(rec: Record) -> Any:
    try:
        return tuple(rec.values.items())
    except TypeError:  # pragma: no cover - unhashable values
        return repr(sorted(rec.values.items()))


def _changed(before: Workbook | None, after: Workbook, table: str) -> int:
    new = getattr(after, table).records
    if before is None:
        return len(new)
    return _multiset_changes(getattr(before, table).records, new)


def _multiset_changes(old: list[Record], new: list[Record]) -> int:
    """Rows of `new` with no equal row left in `old`, or rows of `old` with none in
    `new` if more: rows added/changed, or removed."""
    counts: dict[Any, int] = {}
    for r in old:
        k = _row_key(r)
        counts[k] = counts.get(k, 0) + 1
    n = 0
    for r in new:
        k = _row_key(r)
        if counts.get(k):
            counts[k] -= 1
        else:
            n += 1
    return max(n, sum(counts.values()))


@dataclass
class MasterTracker:
    """What the watcher remembers between saves of the master."""

    workbook: Workbook | None = None
    sha256: str | None = None
    dup: DupTracker = field(default_factory=DupTracker)
    snapshot_sha: str | None = None  # the engine's last write known when `workbook` was read
    rows: RowMemo | None = None  # the row rules' findings of `workbook`


@dataclass
class SaveReport:
    """The outcome of revalidating one save of the master."""

    path: Path
    sha256: str
    author: str | None
    account: str | None
    report: Report
    changed_customers: int
    changed_followups: int
    ownership: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0
    incremental: bool = False
    at: str = ""
    before: Workbook | None = field(default=None, repr=False)
    after: Workbook | None = field(default=None, repr=False)
    check_ownership: bool = True
    base_path: Path | None = None  # the engine's last write: the shared-mode check's base
    engine_write: str | None = None  # this file is the engine's own write (its action)
    # rows changed since `counted_from` (the previous save), counted while validating
    counted: tuple[int, int] | None = field(default=None, repr=False)
    counted_from: Workbook | None = field(default=None, repr=False)

    @property
    def findings(self) -> list[Finding]:
        return self.report.findings

    def to_dict(self) -> dict[str, Any]:
        d = self.report.to_dict()
        d["summary"]["ownership"] = len(self.ownership)
        d.update({"workbook": str(self.path), "sha256": self.sha256, "saved_by": self.author,
                  "account": self.account, "at": self.at,
                  "changed": {"customers": self.changed_customers,
                              "followups": self.changed_followups},
                  "incremental": self.incremental, "errors": self.errors,
                  "seconds": round(self.seconds, 3)})
        return d


def _account_for(home: CrmHome, author: str | None) -> str | None:
    if not author:
        return None
    try:
        from ..accounts import account_for_owner

        acct = account_for_owner(home, author)
    except Exception:  # noqa: BLE001 - no accounts yet: attribution stays the raw name
        return None
    return getattr(acct, "name", None) if acct is not None else None


def revalidate(home: CrmHome, tracker: MasterTracker, *, today: dt.date, sha256: str | None = None,
               hooks: Hooks | None = None, path: Path | None = None,
               merged_by: str | None = None) -> SaveReport:
    """Validate the saved master (incremental duplicate check) and update `tracker`.

    Attribution: the shared-mode check compares this save with the master as it was
    just before it — the engine's last write (`apply.state.engine_snapshot`) when the
    engine wrote since the previous save, else the previous save. A file that *is* the
    engine's last write (a CLI apply, merge or import) is attributed to the engine and
    not checked. The first save after the watcher starts has no known base: not checked.

    `merged_by`: the file was just written by an inbox merge on behalf of this account,
    so it is attributed to it and the shared-mode ownership check is skipped (the merge
    already checked rights). The ownership check itself is `check_ownership`, run after
    the findings are written.

    Raises CrmError when the file cannot be read (the caller retries, then reports).
    """
    from ..gcpause import paused_gc

    with paused_gc():  # millions of new objects without cycles: no collections over them
        return _revalidate(home, tracker, today=today, sha256=sha256, hooks=hooks, path=path,
                           merged_by=merged_by)


def _revalidate(home: CrmHome, tracker: MasterTracker, *, today: dt.date, sha256: str | None,
                hooks: Hooks | None, path: Path | None, merged_by: str | None) -> SaveReport:
    from ..apply.state import engine_snapshot
    from ..reader import load
    from ..rules import RULES
    from ..validation import validate

    t0 = time.perf_counter()
    hooks = hooks or Hooks()
    path = Path(path or home.master)
    sha = sha256 or file_sha256(path)
    wb = load(path)
    rules = [r.name for r in RULES if r.name != DUP_RULE]
    memo = None
    if incremental_enabled():
        try:
            found, memo = rule_findings(wb, today, rules, tracker.workbook, tracker.rows)
        except Exception:  # noqa: BLE001 - only a shortcut: the full validation answers
            found, memo = validate(wb, today, rules=rules).findings, None
        report = Report(findings=found, customers=len(wb.customers.records),
                        followups=len(wb.followups.records))
    else:
        report = validate(wb, today, rules=rules)
    errors: list[str] = []
    try:
        dups = tracker.dup.update(wb)
    except Exception as exc:  # noqa: BLE001 - a matcher bug must not hide the other findings
        dups = []
        errors.append(f"duplicates: {type(exc).__name__}: {exc}")
    snap = engine_snapshot(home.state, path)
    engine_action = snap.action if snap is not None and snap.sha256 == sha else None
    if merged_by:
        author: str | None = merged_by
    elif engine_action is not None:  # a CLI apply/merge/import: it kept the last saver's name
        author = ("引擎（{}）" if home.lang == "zh" else "engine ({})").format(engine_action)
    else:
        author = hooks.author(path)
    findings = sorted([*report.findings, *dups], key=sort_key)
    full = Report(findings=findings, customers=report.customers, followups=report.followups)
    out = SaveReport(path=path, sha256=sha, author=author, account=_account_for(home, author),
                     report=full,
                     changed_customers=tracker.dup.last_changed, changed_followups=0,
                     errors=errors, incremental=not tracker.dup.last_full,
                     at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    out.before, out.after = tracker.workbook, wb
    if memo is not None and tracker.workbook is not None and len(memo.matched) == len(_TABLES):
        out.counted = (_changed_from(tracker.workbook, wb, "customers", memo.matched["customers"]),
                       _changed_from(tracker.workbook, wb, "followups", memo.matched["followups"]))
        out.counted_from = tracker.workbook
    out.check_ownership = merged_by is None and engine_action is None
    out.engine_write = engine_action
    if (out.check_ownership and snap is not None and tracker.workbook is not None
            and snap.sha256 != tracker.snapshot_sha):
        # The engine wrote after the save we last read: this save started from the engine's
        # write, so only the difference from that write is the saver's (issue 13.7).
        out.before, out.base_path = None, snap.path
    tracker.workbook = wb
    tracker.rows = memo
    tracker.sha256 = sha
    tracker.snapshot_sha = snap.sha256 if snap is not None else None
    out.seconds = time.perf_counter() - t0
    return out


def load_base(save: SaveReport) -> Workbook | None:
    """The workbook this save started from (`save.before`), reading the engine's snapshot
    once when that is the base. A damaged snapshot means no base (nothing is blamed)."""
    if save.before is None and save.base_path is not None:
        from ..reader import load

        path, save.base_path = save.base_path, None
        try:
            save.before = load(path)
        except (CrmError, OSError) as exc:
            save.errors.append(f"shared_mode_check: {exc}")
    return save.before


def count_changes(save: SaveReport) -> tuple[int, int]:
    """Rows of Customers and Followups added, changed or removed by this save (for the log;
    kept off the path to the findings file: it touches every cell). Counted from the same
    base as the shared-mode check, so the engine's changes are not counted as the saver's."""
    load_base(save)
    if save.before is None or save.after is None:
        return save.changed_customers, save.changed_followups
    if save.counted is not None and save.before is save.counted_from:
        save.changed_customers, save.changed_followups = save.counted
        return save.counted
    save.changed_customers = _changed(save.before, save.after, "customers")
    save.changed_followups = _changed(save.before, save.after, "followups")
    return save.changed_customers, save.changed_followups


def check_ownership(home: CrmHome, save: SaveReport, hooks: Hooks | None = None) -> list[Finding]:
    """Shared-mode check of one save (who changed what they may not); adds to `save`.

    Run after the findings are written: it compares the whole workbook with the one
    before and may take longer than the validation itself on a large master.
    """
    hooks = hooks or Hooks()
    check = hooks.shared_check() if save.check_ownership else None
    if check is not None:
        load_base(save)
    if check is None or save.before is None or save.after is None:
        return []
    try:
        found = list(check(save.before, save.after, save.author, home) or [])
    except Exception as exc:  # noqa: BLE001 - a guard bug must not stop the watcher
        save.errors.append(f"shared_mode_check: {type(exc).__name__}: {exc}")
        return []
    save.ownership = found
    if found:
        save.report.findings = sorted([*save.report.findings, *found], key=sort_key)
    return found


def audit_save(home: CrmHome, save: SaveReport) -> int:
    """Record in the audit log each cell this save changed, under its author (`watch.edit`),
    so `crm audit` shows who edited the master directly. Not for the engine's own writes
    or an inbox merge (both audited when they wrote) nor a save without a known base."""
    if not save.check_ownership:
        return 0
    before = load_base(save)
    if before is None or save.after is None:
        return 0
    from ..views.shared_guard import save_changes
    from ..writeback.safe import append_audit

    who = save.account or save.author or "?"
    events = [{**e, "saved_by": save.author} for e in save_changes(before, save.after)]
    return append_audit(home.state, who, "watch.edit", events) if events else 0


def write_findings(home: CrmHome, save: SaveReport) -> Path:
    """Write `reports/latest-findings.json` atomically; returns its path."""
    home.reports.mkdir(parents=True, exist_ok=True)
    data = json.dumps(save.to_dict(), ensure_ascii=False, indent=1, default=str).encode("utf-8")
    return atomic_write_bytes(home.reports / FINDINGS_FILE, data)


@dataclass
class ApplyReport:
    """What `apply_master` did: status is written | unchanged | locked | refused | error."""

    status: str
    changes: int = 0
    findings: int = 0
    backup: Path | None = None
    message: str = ""
    sha256_after: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "changes": self.changes, "findings": self.findings,
                "backup": str(self.backup) if self.backup else None, "message": self.message}


def apply_master(home: CrmHome, *, today: dt.date, author: str | None = None,
                 account: str | None = None) -> ApplyReport:
    """Run apply on the master as the engine; refusals come back as data."""
    from .. import audit
    from ..apply import run_apply

    try:
        out = run_apply(home.master, today=today, who="engine", home=home)
    except WorkbookLocked as exc:
        return ApplyReport(status="locked", message=str(exc))
    except Refused as exc:
        return ApplyReport(status="refused", message=str(exc))
    except CrmError as exc:
        return ApplyReport(status="error", message=str(exc))
    rep = ApplyReport(status="written" if out.written else "unchanged", changes=len(out.changes),
                      findings=len(out.findings), backup=out.backup)
    if out.written:
        try:
            rep.sha256_after = file_sha256(home.master)
        except OSError:
            rep.sha256_after = None
        audit.record(home.state, "engine", "watch.apply", changes=len(out.changes),
                     saved_by=author, account=account, sha256=rep.sha256_after)
    return rep


# ------------------------------------------------------------------ inbox


@dataclass
class InboxReport:
    """What happened to one inbox drop: done | rejected | needs_attention | deferred |
    unavailable."""

    path: Path
    status: str
    moved_to: Path | None = None
    findings_path: Path | None = None
    result: dict[str, Any] = field(default_factory=dict)
    message: str = ""

    @property
    def landed(self) -> int:
        return _count(self.result.get("landed"))

    @property
    def rejected(self) -> int:
        return _count(self.result.get("rejected"))

    @property
    def conflicts(self) -> int:
        return _count(self.result.get("conflicts"))


def _count(v: Any) -> int:
    if v is None or isinstance(v, bool):
        return int(bool(v))
    if isinstance(v, int):
        return v
    try:
        return len(v)
    except TypeError:
        return 0


def _result_dict(result: Any) -> dict[str, Any]:
    if hasattr(result, "to_dict"):
        try:
            d = result.to_dict()
            if isinstance(d, dict):
                return d
        except Exception:  # noqa: BLE001
            pass
    d = {}
    for k in ("landed", "rejected", "conflicts"):
        v = getattr(result, k, None)
        d[k] = v if isinstance(v, (int, list, dict, str, type(None))) else \
            [getattr(x, "to_dict", lambda x=x: str(x))() for x in v]
    return d


def _free_name(folder: Path, name: str) -> Path:
    target = folder / name
    if not target.exists():
        return target
    stem, suffix = os.path.splitext(name)
    stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    n = 1
    while True:
        target = folder / f"{stem}-{stamp}{'' if n == 1 else f'-{n}'}{suffix}"
        if not target.exists():
            return target
        n += 1


# Folders under inbox/: a copy being read, merged ones, refused ones, ones an admin must
# look at (an encrypted copy the engine cannot open, a saver it cannot confirm).
PROCESSING, DONE, REJECTED, ATTENTION = "processing", "done", "rejected", "needs-attention"
_SET_ASIDE_CODES = {"merge.saver_unknown"}

_TEXT: dict[str, tuple[str, str]] = {
    "encrypted": ("{name} 是加密的副本，引擎没有能打开它的密码（用个人账户密码加密，或生成后换过密码）："
                  "已移到 inbox/needs-attention/，未合并。请管理员运行 crm views merge 主表 该文件 并输入密码，"
                  "或请交回人提供未加密的副本",
                  "{name} is an encrypted copy the engine has no password for (encrypted with a "
                  "person's account password, or built with another password): moved to "
                  "inbox/needs-attention/, nothing merged. An admin runs crm views merge MASTER "
                  "FILE and types the password, or the person hands back an unencrypted copy"),
    "crashed": ("读取 {name} 时引擎中断（文件可能有问题）：已移到 inbox/rejected/，不会再次读取。"
                "请重新生成副本，或把文件交给管理员检查",
                "the engine stopped while reading {name} (the file may be faulty): moved to "
                "inbox/rejected/ and not read again. Build a new copy, or give the file to an "
                "admin to check"),
    "unreadable": ("{name} 无法读取（{reason}）：已移到 inbox/rejected/。请在编辑器中重新保存后再放入 inbox/",
                   "{name} cannot be read ({reason}): moved to inbox/rejected/. Save it again "
                   "from the editor and drop it into inbox/ again"),
    "failed": ("读取 {name} 时出错（{error}）：已移到 inbox/rejected/，不会再次读取。请重新生成副本，"
               "或把文件交给管理员检查",
               "reading {name} failed ({error}): moved to inbox/rejected/ and not read again. "
               "Build a new copy, or give the file to an admin to check"),
    "title": ("交回的副本：{name}（{at}）", "Handed-back copy: {name} ({at})"),
    "done": ("结果：已合并", "Result: merged"),
    "rejected": ("结果：未合并（已拒绝）", "Result: not merged (rejected)"),
    "needs_attention": ("结果：已放到一边，等待管理员处理", "Result: set aside for an admin"),
    "reason": ("原因：{message}", "Reason: {message}"),
    "next_copy": ("被拒绝的修改及原因也会列在你下一份副本的「问题」工作表中。",
                  "The rejected changes and why are also listed in the Issues sheet of your "
                  "next copy."),
    "row": ("主表第 {row} 行", "master row {row}"),
}
_GROUPS = (("rejected", "已拒绝", "Rejected"), ("conflicts", "冲突（主表保留原值）",
                                              "Conflicts (the master kept its value)"),
           ("landed", "已合并", "Landed"), ("notes", "备注", "Notes"))


def _t(lang: str, key: str, **params: Any) -> str:
    zh, en = _TEXT[key]
    return (zh if lang == "zh" else en).format(**params)


def findings_text(lang: str, name: str, status: str, data: dict[str, Any],
                  message: str = "") -> str:
    """The findings file a person reads beside their filed copy: which cells, and why."""
    from ..schema import sheet_title

    at = dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M")
    lines = [_t(lang, "title", name=name, at=at),
             _t(lang, status if status in ("done", "rejected", "needs_attention") else
                "rejected")]
    if message:
        lines.append(_t(lang, "reason", message=message))
    for key, zh, en in _GROUPS:
        items = data.get(key)
        if not isinstance(items, list) or not items:
            continue
        lines.append("")
        lines.append(f"{zh}（{len(items)}）：" if lang == "zh" else f"{en} ({len(items)}):")
        for f in items:
            if not isinstance(f, dict):
                lines.append(f"  {f}")
                continue
            where = []
            sheet = f.get("sheet")
            if sheet and sheet != "_view":
                try:
                    where.append(sheet_title(sheet, lang))
                except KeyError:
                    where.append(str(sheet))
            if f.get("row"):
                where.append(_t(lang, "row", row=f["row"]))
            if f.get("customer_id"):
                where.append(str(f["customer_id"]))
            head = " ".join(where)
            lines.append(f"  {head}：{f.get('message', '')}" if head and lang == "zh" else
                         f"  {head}: {f.get('message', '')}" if head else
                         f"  {f.get('message', '')}")
    if not data.get("refused") and (data.get("rejected") or data.get("conflicts")):
        lines.append("")
        lines.append(_t(lang, "next_copy"))
    return "\n".join(lines) + "\n"


def _file_away(path: Path, folder: Path, payload: dict[str, Any], *, lang: str = "zh",
               name: str | None = None) -> tuple[Path, Path]:
    """Move a handed-back copy into `folder` with its findings beside it (.json for tools,
    .txt in the home's language for the person); returns (filed copy, json path)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = _free_name(folder, name or path.name)
    os.replace(path, target)
    findings = target.with_name(target.name + ".findings.json")
    atomic_write_bytes(findings, json.dumps(payload, ensure_ascii=False, indent=1,
                                            default=str).encode("utf-8"))
    status = str(payload.get("status") or "rejected")
    text = findings_text(lang, target.name, status, payload, str(payload.get("error") or ""))
    atomic_write_bytes(target.with_name(target.name + ".findings.txt"), text.encode("utf-8"))
    return target, findings


def _inbox_status(data: dict[str, Any], landed: int, rejected: int, conflicts: int) -> str:
    refusals = data.get("rejected") if isinstance(data.get("rejected"), list) else []
    if data.get("refused") and any(isinstance(f, dict) and f.get("code") in _SET_ASIDE_CODES
                                   for f in refusals):
        return "needs_attention"
    if data.get("refused") or (landed == 0 and (rejected or conflicts)):
        return "rejected"
    return "done"


_FOLDER = {"done": DONE, "rejected": REJECTED, "needs_attention": ATTENTION}


def file_handback(home: CrmHome, path: Path, result: Any, *, name: str | None = None
                  ) -> InboxReport:
    """File a copy that was merged (by the watcher or by hand with `crm views merge`) out
    of inbox/, so one hand-back is merged once (issue 13.13)."""
    path = Path(path)
    data = _result_dict(result)
    rep = InboxReport(path=path, status="done", result=data)
    rep.status = _inbox_status(data, rep.landed, rep.rejected, rep.conflicts)
    if rep.status == "needs_attention":
        refusal = next((f for f in data.get("rejected") or [] if isinstance(f, dict)), {})
        rep.message = str(refusal.get("message") or "")
    payload: dict[str, Any] = {"file": name or path.name,
                               "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "status": rep.status, **data}
    rep.moved_to, rep.findings_path = _file_away(path, home.inbox / _FOLDER[rep.status], payload,
                                                 lang=home.lang, name=name)
    return rep


def in_inbox(home: CrmHome, path: Path) -> bool:
    """Is `path` a copy waiting in (or being read from) the home's inbox?"""
    try:
        parent = Path(path).resolve().parent
        inbox = Path(home.inbox).resolve()
    except OSError:
        return False
    return parent in (inbox, inbox / PROCESSING, inbox / ATTENTION)


def set_aside(home: CrmHome, path: Path, folder: str, message: str,
              status: str = "rejected", name: str | None = None) -> InboxReport:
    """Move a copy out of inbox/ with a findings file saying what happened and what to do.

    `name`: the name it was handed in under (when `path` is its copy in processing/)."""
    payload: dict[str, Any] = {"file": name or Path(path).name,
                               "at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
                               "status": status, "error": message}
    moved, fpath = _file_away(Path(path), home.inbox / folder, payload, lang=home.lang,
                              name=name)
    shown = Path(path).with_name(name) if name else Path(path)
    return InboxReport(path=shown, status=status, moved_to=moved, findings_path=fpath,
                       message=message)


def recover_processing(home: CrmHome) -> list[InboxReport]:
    """Copies left in inbox/processing/ by an engine that died reading them: set aside as
    failed, so the same file can never stop the watcher twice (issue 17.4)."""
    folder = home.inbox / PROCESSING
    try:
        left = sorted(p for p in folder.iterdir() if p.is_file())
    except OSError:
        return []
    out = []
    for p in left:
        try:
            out.append(set_aside(home, p, REJECTED, _t(home.lang, "crashed", name=p.name)))
        except OSError:
            continue
    return out


def _encrypted_without_password(home: CrmHome, path: Path) -> bool:
    from ..views.crypto import is_encrypted, stored_password

    try:
        with open(path, "rb") as fh:
            head = fh.read(8)
        if not is_encrypted(head):
            return False
        return stored_password(home.state, path.read_bytes()) is None
    except OSError:
        return False


def process_inbox(home: CrmHome, path: Path, *, hooks: Hooks | None = None) -> InboxReport:
    """Merge one handed-back copy into the master and file it away.

    The copy is moved into inbox/processing/ before it is read, so a file that kills
    the process is found there at the next start and set aside (`recover_processing`).
    Rejected: the merge refused it (not a view of this home, someone else's view,
    unreadable) or nothing landed while changes were rejected or in conflict. Needs
    attention: an encrypted copy the engine has no password for, or a saver that is not
    a known account (an admin confirms and merges by hand). Deferred (back in the inbox,
    retried later): the master is open in an editor. Unavailable: no merge yet.
    """
    hooks = hooks or Hooks()
    path = Path(path)
    merge = hooks.merge()
    if merge is None:
        msg = ("合并功能尚不可用（crm_sheets.views.merge_view）" if home.lang == "zh"
               else "merging is not available yet (crm_sheets.views.merge_view)")
        return InboxReport(path=path, status="unavailable", message=msg)
    folder = home.inbox / PROCESSING
    folder.mkdir(parents=True, exist_ok=True)
    work = _free_name(folder, path.name)
    os.replace(path, work)  # before anything parses it (even the encryption check)
    if _encrypted_without_password(home, work):
        return set_aside(home, work, ATTENTION, _t(home.lang, "encrypted", name=path.name),
                         status="needs_attention", name=path.name)
    try:
        result = merge(home.master, work, home=home)
    except WorkbookLocked as exc:
        os.replace(work, _free_name(path.parent, path.name))
        return InboxReport(path=path, status="deferred", message=str(exc))
    except Exception as exc:  # noqa: BLE001 - a refused or broken copy goes to rejected/
        from ..i18n import localize

        msg = (localize(str(exc), home.lang) if isinstance(exc, CrmError) else
               _t(home.lang, "failed", name=path.name, error=f"{type(exc).__name__}: {exc}"))
        return set_aside(home, work, REJECTED, msg, name=path.name)
    except BaseException:  # Ctrl-C / exit while merging: the copy is not to blame
        os.replace(work, _free_name(path.parent, path.name))
        raise
    rep = file_handback(home, work, result, name=path.name)
    rep.path = path
    return rep


_REASONS_ZH = (("empty file", "空文件"), ("empty zip", "压缩包是空的"),
               ("not a complete xlsx", "不是完整的 xlsx 文件"), ("unreadable", "无法打开"))


def unreadable_text(lang: str, name: str, reason: str) -> str:
    """What the watcher says of an inbox file that never reads as a complete xlsx
    (`stability.incomplete_reason` gives the reason in English: named in Chinese here)."""
    if lang == "zh":
        reason = next((zh for en, zh in _REASONS_ZH if reason.startswith(en)), reason)
    return _t(lang, "unreadable", name=name, reason=reason)
