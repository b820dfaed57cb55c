"""What `crm apply` changes (DESIGN §3 rules), as data: a list of `Change`.

`compute_changes(workbook, today, now, state)` assigns IDs, fills engine-owned columns,
applies stage/type/dormancy/pool rules and lists review items. It works on the loaded
`Workbook` it is given and leaves it in the "after" state (so validation of the result
runs on the same object without a copy of 400k records); it touches no file.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ..coerce import as_date
from ..findings import Finding, make
from ..model import Record, Table, Workbook
from ..prohibited import maybe, redact
from ..schema import (
    POOL_OWNER,
    STAGE_ORDER,
    STAGE_TYPE,
    STATUS_DORMANT,
    STATUS_MERGED,
    STATUS_NORMAL,
)
from .state import ApplyState

SUMMARY_CHARS = 40
_ID_RE = {"C": re.compile(r"^C(\d{8})(\d{3,})$"), "F": re.compile(r"^F(\d{8})(\d{4,})$")}
_ID_DIGITS = {"C": 3, "F": 4}

# reasons (stable keys; the CLI shows them in the workbook's language)
REASONS: dict[str, tuple[str, str]] = {
    "id.assigned": ("分配编号", "ID assigned"),
    "followup.customer_name": ("客户名称查找", "customer name looked up"),
    "followup.recorded_at": ("首次录入时间", "first seen by the engine"),
    "customer.last_followup": ("最近跟进", "latest follow-up"),
    "customer.next_followup": ("下次跟进计划", "next follow-up plan"),
    "customer.followup_summary": ("跟进摘要", "follow-up summary"),
    "customer.updated_at": ("资料已修改", "profile changed"),
    "customer.stage": ("跟进记录更新阶段", "stage set by a follow-up"),
    "customer.type": ("客户类型随阶段", "type follows the stage"),
    "customer.dormant": ("长期未跟进，休眠", "no follow-up: dormant"),
    "customer.awake": ("有新跟进，恢复正常", "new follow-up: active again"),
    "customer.status": ("状态初始化", "status initialised"),
    "customer.pooled": ("转入公海", "moved to the public pool"),
    "merge.followup": ("合并客户：转移跟进", "merge: follow-up moved"),
    "merge.fill": ("合并客户：补全空白字段", "merge: blank field filled"),
    "merge.dropped": ("合并客户：标记已合并", "merge: marked as merged"),
    "column.added": ("补充引擎列表头", "engine column header added"),
    "choice.synonym": ("改为列表中的写法", "written as in the list"),
}


def canonical_choices(wb: Workbook, log: ChangeLog) -> None:
    """Dropdown cells holding a synonym (零售业, 展会, 打电话…) get the list's value.

    Runs before the other rules, so a stage typed 已成交 moves the type like 成交 does.
    Owners are names, not synonyms: the owner rule reports those."""
    from ..choices import canonical

    for table in (wb.customers, wb.followups):
        for f in table.schema.fields:
            if not f.choices or f.engine or f.choices == "owners":
                continue
            listed = wb.lists.get(f.choices, [])
            seen: dict[Any, str | None] = {}
            # the column's distinct values first (in C): when each is already its own
            # canonical form (the usual case) no cell changes and the rows need no visit
            key = f.key
            if all(v is None or v == "" or (c := canonical(f.choices, v, listed)) is None
                   or c == v for v in dict.fromkeys([r.values.get(key)
                                                    for r in table.records])):
                continue
            for rec in table.records:
                v = rec.values.get(f.key)
                if v is None or v == "":
                    continue
                if v not in seen:
                    seen[v] = canonical(f.choices, v, listed)
                c = seen[v]
                if c is not None and c != v:
                    log.set(table, rec, f.key, c, "choice.synonym")


def reason_text(reason: str, lang: str) -> str:
    zh, en = REASONS.get(reason, (reason, reason))
    return zh if lang == "zh" else en


@dataclass(frozen=True, slots=True)
class Change:
    """One cell the engine changes. `sheet` is the canonical name (Customers/Followups)."""

    sheet: str
    row: int
    column_key: str
    old: Any
    new: Any
    reason: str
    customer_id: str | None = None


@dataclass
class Plan:
    changes: list[Change]
    findings: list[Finding]  # apply's own findings for Issues (review, backwards)
    notes: list[Finding]  # shown in the output only (dormant, pooled)
    state: ApplyState  # the state to save after a successful write
    review: list[Finding] = field(default_factory=list)


def _same(a: Any, b: Any) -> bool:
    if a is None or a == "":
        return b is None or b == ""
    if isinstance(a, dt.datetime) and isinstance(b, dt.datetime):
        return abs((a - b).total_seconds()) < 1
    if isinstance(a, dt.datetime) != isinstance(b, dt.datetime) and isinstance(a, dt.date) \
            and isinstance(b, dt.date):
        da = a.date() if isinstance(a, dt.datetime) else a
        db = b.date() if isinstance(b, dt.datetime) else b
        return da == db and not any(isinstance(x, dt.datetime) and (x.hour or x.minute or x.second)
                                    for x in (a, b))
    return a == b


class ChangeLog:
    """Records changes while mutating records to their new values (first old value wins)."""

    def __init__(self) -> None:
        self._by_cell: dict[tuple[str, int, str], Change] = {}

    def set(self, table: Table, rec: Record, key: str, new: Any, reason: str) -> bool:
        cur = rec.values.get(key)
        if (cur == new and type(cur) is type(new)) or _same(cur, new):
            return False
        cell = (table.schema.name, rec.row, key)
        first = self._by_cell.get(cell)
        old = first.old if first is not None else rec.shown(key)
        rec.values[key] = new
        rec.raw.pop(key, None)
        rec.problems.pop(key, None)
        cid = rec.values.get("customer_id")
        if first is not None and _same(old, new):
            del self._by_cell[cell]
        else:
            self._by_cell[cell] = Change(table.schema.name, rec.row, key, old, new,
                                         first.reason if first is not None else reason,
                                         cid if isinstance(cid, str) else None)
        return True

    @property
    def changes(self) -> list[Change]:
        return sorted(self._by_cell.values(), key=lambda c: (c.sheet != "Customers", c.row,
                                                             c.column_key))


# ---------------------------------------------------------------------------- IDs


def _high_water(prefix_kind: str, day: str, ids: Iterable[Any], state: ApplyState,
                meta: dict[str, str]) -> int:
    rx = _ID_RE[prefix_kind]
    hw = state.seq.get(f"{prefix_kind}{day}", 0)
    last = meta.get("last_customer_id" if prefix_kind == "C" else "last_followup_id", "")
    for v in (*ids, last):
        # an ID of `day` holds `day` itself: the regex runs only on those (same matches)
        if isinstance(v, str) and day in v:
            m = rx.match(v.strip())
            if m and m.group(1) == day:
                hw = max(hw, int(m.group(2)))
    return hw


def assign_ids(wb: Workbook, today: dt.date, state: ApplyState, log: ChangeLog) -> dict[str, str]:
    """Give every row without an ID the next one of today's sequence. Returns last IDs issued."""
    day = today.strftime("%Y%m%d")
    issued: dict[str, str] = {}
    for kind, table, key in (("C", wb.customers, "customer_id"), ("F", wb.followups, "followup_id")):
        blank = [r for r in table.records if not r.values.get(key) and key not in r.raw]
        if not blank:
            continue
        seq = _high_water(kind, day, (r.values.get(key) for r in table.records), state, wb.meta)
        width = _ID_DIGITS[kind]
        for rec in blank:
            seq += 1
            new = f"{kind}{day}{seq:0{width}d}"
            log.set(table, rec, key, new, "id.assigned")
            issued[kind] = new
        state.seq[f"{kind}{day}"] = seq
    return issued


# ---------------------------------------------------------------------------- derived


def redact_text(text: str) -> str:
    """`redact(text)` for a str, answered at once when the text cannot hold a prohibited
    number: shorter than 13 characters or no 13-digit run (`maybe`, what `find` tests
    first) and no cut-off tail ('…'/'...', what `find_truncated` needs)."""
    if (len(text) < 13 or not maybe(text)) and not (text.endswith("…") or text.endswith("...")):
        return text
    return redact(text)


def shorten(text: str, limit: int = SUMMARY_CHARS) -> str:
    """One line of at most `limit` characters; prohibited numbers are masked *before* the
    cut, so an ID straddling it cannot survive as 17 of its 18 digits."""
    text = redact_text(" ".join(str(text).split()))
    return text if len(text) <= limit else text[:limit - 1] + "…"


def _date_text(v: Any) -> str:
    if isinstance(v, dt.datetime):
        return v.date().isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return str(v) if v else ""


def next_followup_text(fu: Record) -> str | None:
    parts = [_date_text(fu.values.get("next_date")), str(fu.values.get("next_action") or "").strip()]
    text = redact_text(" ".join(p for p in parts if p))
    return text or None


def next_action_text(fu: Record) -> str | None:
    """下次跟进 holds the plan's action (prohibited numbers masked: the engine writes it);
    its date has a column of its own (sortable)."""
    text = redact_text(str(fu.values.get("next_action") or "").strip())
    return text or None


def summary_text(fu: Record, lang: str) -> str:
    start = fu.values.get("start")
    method = fu.values.get("method") or ""
    content = shorten(fu.values.get("content") or "")
    head = " ".join(p for p in (_date_text(start), str(method)) if p)
    sep = "：" if lang == "zh" else ": "
    return f"{head}{sep}{content}" if content else head


def user_keys(wb: Workbook) -> tuple[str, ...]:
    """The customer columns a person edits (not engine-owned)."""
    return tuple(f.key for f in wb.customers.schema.fields if not f.engine)


def user_fields_hash(rec: Record, keys: tuple[str, ...]) -> str:
    """A short hash of a customer's user-owned columns (what a person edits)."""
    vals = list(map(rec.values.get, keys))
    raw = rec.raw
    if raw:
        for i, v in enumerate(vals):
            if v is None:
                vals[i] = raw.get(keys[i])
    data = repr(vals).encode("utf-8")
    return f"{zlib.crc32(data):08x}{zlib.adler32(data):08x}"


def user_fields_hasher(keys: tuple[str, ...]) -> Callable[[Record], str]:
    """`user_fields_hash(rec, keys)` for many records: a record whose values hold every
    key and whose raw values are empty (the usual case) is read with one itemgetter call
    and its list's repr taken from the tuple's (`(a, b)` -> `[a, b]`: the same text for
    two keys or more); any other record goes through `user_fields_hash`."""
    if len(keys) < 2:
        return lambda rec: user_fields_hash(rec, keys)
    get = operator.itemgetter(*keys)
    crc32, adler32 = zlib.crc32, zlib.adler32

    def digest(rec: Record) -> str:
        if rec.raw:
            return user_fields_hash(rec, keys)
        try:
            vals = get(rec.values)
        except KeyError:
            return user_fields_hash(rec, keys)
        data = f"[{repr(vals)[1:-1]}]".encode()
        return f"{crc32(data):08x}{adler32(data):08x}"

    return digest


def compute_changes(wb: Workbook, today: dt.date, now: dt.datetime, state: ApplyState,
                    log: ChangeLog | None = None) -> Plan:
    """Every rule of `crm apply` (see docs/apply.md), as a list of changes.

    `log` continues an earlier change log (merge-customers runs first, then the rules).
    """
    log = log if log is not None else ChangeLog()
    lang = wb.lang
    cust_t, fu_t = wb.customers, wb.followups
    new_fu_rows = {r.row for r in fu_t.records
                   if not r.values.get("followup_id") or not r.values.get("recorded_at")}
    new_cust_rows = {r.row for r in cust_t.records if not r.values.get("customer_id")
                     and "customer_id" not in r.raw}
    assign_ids(wb, today, state, log)
    canonical_choices(wb, log)

    customers = wb.customers_by_id()
    # follow-ups: customer name, recorded-at; group by customer
    by_customer: dict[str, list[Record]] = {}  # dated follow-ups, oldest first
    masked: dict[str, Any] = {}  # a text name -> redact(name): one call per distinct name
    # dated follow-ups of known customers, with their start and customer ID taken in
    # this pass (row order: the sort and the grouping below touch no record again)
    dated: list[Record] = []
    starts: list[dt.datetime] = []
    dated_cids: list[Any] = []
    datetime = dt.datetime
    for fu in fu_t.records:
        vals = fu.values
        cid = vals.get("customer_id")
        cust = customers.get(cid) if cid else None
        if cust is not None:
            name = cust.values.get("name")
            if name:
                if type(name) is str:
                    got = masked.get(name)
                    if got is None:
                        got = masked[name] = redact_text(name)  # = redact(name) for a str
                    name = got
                else:
                    name = redact(name)
                cur = vals.get("customer_name")
                if not (cur == name and type(cur) is type(name)):  # log.set's own first test
                    log.set(fu_t, fu, "customer_name", name, "followup.customer_name")
        if fu.row in new_fu_rows and not vals.get("recorded_at"):
            log.set(fu_t, fu, "recorded_at", now, "followup.recorded_at")
        start = vals.get("start")
        if type(start) is datetime and cid in customers:
            dated.append(fu)
            starts.append(start)
            dated_cids.append(cid)
    rows = [f.row for f in dated]
    idx = range(len(dated))
    if all(a < b for a, b in zip(rows, rows[1:], strict=False)):  # in row order: stable
        order = sorted(idx, key=starts.__getitem__)  # sort by start alone = (start, row)
    else:
        order = sorted(idx, key=lambda i: (starts[i], rows[i]))
    for i in order:
        got_list = by_customer.get(dated_cids[i])
        if got_list is None:
            by_customer[dated_cids[i]] = [dated[i]]
        else:
            got_list.append(dated[i])

    findings: list[Finding] = []
    notes: list[Finding] = []
    review: list[Finding] = []
    dormant_days = wb.settings.get("dormant_days", 180)
    pool_days = wb.settings.get("pool_days", 0)
    review_days = wb.settings.get("review_days", 30)
    backwards_seen: dict[str, list[str]] = {}
    digest_of = user_fields_hasher(user_keys(wb))
    seen_ids: dict[str, int] = {}  # a customer ID typed twice: each row keeps its own snapshot
    snap_keys: set[str] = set()

    for rec in cust_t.records:
        cid = rec.values.get("customer_id")
        if not cid or rec.values.get("status") == STATUS_MERGED:
            continue
        nth = seen_ids[cid] = seen_ids.get(cid, 0) + 1
        snap_key = cid if nth == 1 else f"{cid}#{nth}"
        snap_keys.add(snap_key)
        fus = by_customer.get(cid, ())
        latest = fus[-1] if fus else None
        if latest is not None:
            vals = rec.values
            # each value tested as log.set tests it first (equal and of one type: no call)
            new = latest.values["start"]
            cur = vals.get("last_followup")
            if not (cur == new and type(cur) is type(new)):
                log.set(cust_t, rec, "last_followup", new, "customer.last_followup")
            new = as_date(latest.values.get("next_date"))
            cur = vals.get("next_followup_date")
            if not (cur == new and type(cur) is type(new)):
                log.set(cust_t, rec, "next_followup_date", new, "customer.next_followup")
            new = next_action_text(latest)
            cur = vals.get("next_followup")
            if not (cur == new and type(cur) is type(new)):
                log.set(cust_t, rec, "next_followup", new, "customer.next_followup")
            new = summary_text(latest, lang)
            cur = vals.get("followup_summary")
            if not (cur == new and type(cur) is type(new)):
                log.set(cust_t, rec, "followup_summary", new, "customer.followup_summary")
        # stage: the latest contact that names a stage wins, when it is new in this run
        fu = None
        for f in reversed(fus):  # the latest contact that names a stage
            if f.values.get("stage_after"):
                fu = f
                break
        if fu is not None and fu.row in new_fu_rows:
            old, new = rec.values.get("stage"), fu.values["stage_after"]
            if old != new:
                if old in STAGE_ORDER and new in STAGE_ORDER and STAGE_ORDER[new] < STAGE_ORDER[old]:
                    fid = fu.values.get("followup_id")
                    if fid:
                        backwards_seen[fid] = [old, new]
                log.set(cust_t, rec, "stage", new, "customer.stage")
        stage = rec.values.get("stage")
        expected = STAGE_TYPE.get(stage or "")
        if expected:
            log.set(cust_t, rec, "customer_type", expected, "customer.type")
        # dormancy and the public pool
        ref = as_date(latest.values["start"]) if latest is not None else as_date(
            rec.values.get("first_contact"))
        status = rec.values.get("status")
        if ref is not None:
            idle = (today - ref).days
            dormant = idle >= dormant_days and stage != "成交"
            if dormant:
                if log.set(cust_t, rec, "status", STATUS_DORMANT, "customer.dormant"):
                    notes.append(make("customer.dormant", lang, sheet=cust_t.schema.name,
                                      row=rec.row, column="status", customer_id=cid, days=idle))
                owner = rec.values.get("owner")
                if pool_days > 0 and idle >= dormant_days + pool_days and owner \
                        and owner != POOL_OWNER:
                    log.set(cust_t, rec, "owner", POOL_OWNER, "customer.pooled")
                    state.pooled[cid] = {"old_owner": str(owner), "at": now.isoformat()}
                    notes.append(make("customer.pooled", lang, sheet=cust_t.schema.name,
                                      row=rec.row, column="owner", customer_id=cid,
                                      days=idle - dormant_days, old_owner=owner))
            else:
                log.set(cust_t, rec, "status", STATUS_NORMAL,
                        "customer.awake" if status == STATUS_DORMANT else "customer.status")
        elif not status:
            log.set(cust_t, rec, "status", STATUS_NORMAL, "customer.status")
        # updated-at: a user column changed since the last apply (or a new profile)
        digest = digest_of(rec)
        before = state.snapshot.get(snap_key)
        if (before is not None and before != digest) or (
                (before is None or rec.row in new_cust_rows) and not rec.values.get("updated_at")):
            log.set(cust_t, rec, "updated_at", now, "customer.updated_at")
        state.snapshot[snap_key] = digest
        upd = as_date(rec.values.get("updated_at"))
        if upd is not None and (today - upd).days >= review_days:
            review.append(make("customer.review_due", lang, sheet=cust_t.schema.name, row=rec.row,
                               column="updated_at", customer_id=cid, days=(today - upd).days))

    # stage moves backwards: keep listing them while the follow-up still says so
    moves = {**state.backwards, **backwards_seen}
    fu_by_id = {f.values.get("followup_id"): f for f in fu_t.records
                if f.values.get("followup_id")} if moves else {}
    kept: dict[str, list[str]] = {}
    for fid, (old, new) in moves.items():
        fu = fu_by_id.get(fid)
        if fu is None or fu.values.get("stage_after") != new:
            continue
        kept[fid] = [old, new]
        findings.append(make("stage.backwards", lang, sheet=fu_t.schema.name, row=fu.row,
                             column="stage_after", customer_id=fu.values.get("customer_id"),
                             old=old, new=new))
    state.backwards = kept
    known = {cid for cid in customers} | snap_keys
    state.snapshot = {k: v for k, v in state.snapshot.items() if k in known}
    return Plan(changes=log.changes, findings=findings + review, notes=notes, state=state,
                review=review)


def merge_customers(wb: Workbook, keep_id: str, drop_id: str, lang: str | None = None,
                    log: ChangeLog | None = None) -> list[Change]:
    """Move DROP's follow-ups to KEEP, fill KEEP's blanks from DROP, mark DROP merged.

    Raises ValueError with a one-line reason when the IDs cannot be merged. Mutates `wb`
    to the merged state; run `compute_changes` after it for derived fields.
    """
    lang = lang or wb.lang
    if keep_id == drop_id:
        raise ValueError("不能把客户合并到自己" if lang == "zh" else "cannot merge a customer into itself")
    customers = wb.customers_by_id()
    keep, drop = customers.get(keep_id), customers.get(drop_id)
    for cid, rec in ((keep_id, keep), (drop_id, drop)):
        if rec is None:
            raise ValueError(f"客户编号 {cid} 不存在" if lang == "zh" else f"no customer {cid}")
    assert keep is not None and drop is not None
    if drop.values.get("status") == STATUS_MERGED:
        raise ValueError(f"{drop_id} 已经合并过" if lang == "zh" else f"{drop_id} is already merged")
    if keep.values.get("status") == STATUS_MERGED:
        raise ValueError(f"{keep_id} 已被合并，不能作为保留客户" if lang == "zh"
                         else f"{keep_id} is itself merged; keep another customer")
    log = log if log is not None else ChangeLog()
    cust_t, fu_t = wb.customers, wb.followups
    for fu in fu_t.records:
        if fu.values.get("customer_id") == drop_id:
            log.set(fu_t, fu, "customer_id", keep_id, "merge.followup")
    for f in cust_t.schema.fields:
        if f.engine or f.key in ("customer_id",):
            continue
        if keep.values.get(f.key) in (None, "") and f.key not in keep.raw \
                and drop.values.get(f.key) not in (None, ""):
            log.set(cust_t, keep, f.key, drop.values[f.key], "merge.fill")
    log.set(cust_t, drop, "status", STATUS_MERGED, "merge.dropped")
    note = f"已合并到 {keep_id}" if lang == "zh" else f"merged into {keep_id}"
    old_note = drop.values.get("notes")
    if not old_note or note not in str(old_note):
        log.set(cust_t, drop, "notes", f"{old_note}；{note}" if old_note else note, "merge.dropped")
    return log.changes
