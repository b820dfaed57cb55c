"""apply's rules (`compute_changes`) against the code they replaced (kept below as the
reference, from commit 68d0256): the follow-ups grouped by customer in one pass, log.set's
first test made inline, a customer's user-column hash through `user_fields_hasher`,
customer names masked through `redact_text`. Same changes (cells, old and new values,
reasons, order), findings, notes, review items and state on random workbooks."""

from __future__ import annotations

import copy
import datetime as dt
import random
from typing import Any

from crm_sheets.apply.rules import (  # noqa: E402
    ChangeLog,
    Plan,
    as_date,
    assign_ids,
    canonical_choices,
    compute_changes,
    make,
    next_action_text,
    redact,
    summary_text,
    user_fields_hash,
    user_fields_hasher,
    user_keys,
)
from crm_sheets.apply.state import ApplyState
from crm_sheets.findings import Finding
from crm_sheets.model import Record, Workbook, new_workbook
from crm_sheets.schema import (
    POOL_OWNER,
    STAGE_ORDER,
    STAGE_TYPE,
    STATUS_DORMANT,
    STATUS_MERGED,
    STATUS_NORMAL,
)


def reference_compute_changes(
    wb: Workbook, today: dt.date, now: dt.datetime, state: ApplyState, log: ChangeLog | None = None
) -> Plan:
    """Every rule of `crm apply` (see docs/apply.md), as a list of changes.

    `log` continues an earlier change log (merge-customers runs first, then the rules).
    """
    log = log if log is not None else ChangeLog()
    lang = wb.lang
    cust_t, fu_t = wb.customers, wb.followups
    new_fu_rows = {
        r.row
        for r in fu_t.records
        if not r.values.get("followup_id") or not r.values.get("recorded_at")
    }
    new_cust_rows = {
        r.row
        for r in cust_t.records
        if not r.values.get("customer_id") and "customer_id" not in r.raw
    }
    assign_ids(wb, today, state, log)
    canonical_choices(wb, log)

    customers = wb.customers_by_id()
    # follow-ups: customer name, recorded-at; group by customer
    by_customer: dict[str, list[Record]] = {}  # dated follow-ups, oldest first
    masked: dict[str, Any] = {}  # a text name -> redact(name): one call per distinct name
    for fu in fu_t.records:
        cid = fu.values.get("customer_id")
        cust = customers.get(cid) if cid else None
        if cust is not None:
            name = cust.values.get("name")
            if name:
                if type(name) is str:
                    got = masked.get(name)
                    if got is None:
                        got = masked[name] = redact(name)
                    name = got
                else:
                    name = redact(name)
                log.set(fu_t, fu, "customer_name", name, "followup.customer_name")
        if fu.row in new_fu_rows and not fu.values.get("recorded_at"):
            log.set(fu_t, fu, "recorded_at", now, "followup.recorded_at")
    dated = [
        f
        for f in fu_t.records
        if type(f.values.get("start")) is dt.datetime and f.values.get("customer_id") in customers
    ]
    rows = [f.row for f in dated]
    if all(a < b for a, b in zip(rows, rows[1:], strict=False)):  # in row order: stable
        dated.sort(key=lambda f: f.values["start"])  # sort by start alone = (start, row)
    else:
        dated.sort(key=lambda f: (f.values["start"], f.row))
    for fu in dated:
        by_customer.setdefault(fu.values["customer_id"], []).append(fu)

    findings: list[Finding] = []
    notes: list[Finding] = []
    review: list[Finding] = []
    dormant_days = wb.settings.get("dormant_days", 180)
    pool_days = wb.settings.get("pool_days", 0)
    review_days = wb.settings.get("review_days", 30)
    backwards_seen: dict[str, list[str]] = {}
    ukeys = user_keys(wb)
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
            log.set(cust_t, rec, "last_followup", latest.values["start"], "customer.last_followup")
            nd = as_date(latest.values.get("next_date"))
            log.set(cust_t, rec, "next_followup_date", nd, "customer.next_followup")
            log.set(
                cust_t, rec, "next_followup", next_action_text(latest), "customer.next_followup"
            )
            log.set(
                cust_t,
                rec,
                "followup_summary",
                summary_text(latest, lang),
                "customer.followup_summary",
            )
        # stage: the latest contact that names a stage wins, when it is new in this run
        fu = None
        for f in reversed(fus):  # the latest contact that names a stage
            if f.values.get("stage_after"):
                fu = f
                break
        if fu is not None and fu.row in new_fu_rows:
            old, new = rec.values.get("stage"), fu.values["stage_after"]
            if old != new:
                if (
                    old in STAGE_ORDER
                    and new in STAGE_ORDER
                    and STAGE_ORDER[new] < STAGE_ORDER[old]
                ):
                    fid = fu.values.get("followup_id")
                    if fid:
                        backwards_seen[fid] = [old, new]
                log.set(cust_t, rec, "stage", new, "customer.stage")
        stage = rec.values.get("stage")
        expected = STAGE_TYPE.get(stage or "")
        if expected:
            log.set(cust_t, rec, "customer_type", expected, "customer.type")
        # dormancy and the public pool
        ref = (
            as_date(latest.values["start"])
            if latest is not None
            else as_date(rec.values.get("first_contact"))
        )
        status = rec.values.get("status")
        if ref is not None:
            idle = (today - ref).days
            dormant = idle >= dormant_days and stage != "成交"
            if dormant:
                if log.set(cust_t, rec, "status", STATUS_DORMANT, "customer.dormant"):
                    notes.append(
                        make(
                            "customer.dormant",
                            lang,
                            sheet=cust_t.schema.name,
                            row=rec.row,
                            column="status",
                            customer_id=cid,
                            days=idle,
                        )
                    )
                owner = rec.values.get("owner")
                if (
                    pool_days > 0
                    and idle >= dormant_days + pool_days
                    and owner
                    and owner != POOL_OWNER
                ):
                    log.set(cust_t, rec, "owner", POOL_OWNER, "customer.pooled")
                    state.pooled[cid] = {"old_owner": str(owner), "at": now.isoformat()}
                    notes.append(
                        make(
                            "customer.pooled",
                            lang,
                            sheet=cust_t.schema.name,
                            row=rec.row,
                            column="owner",
                            customer_id=cid,
                            days=idle - dormant_days,
                            old_owner=owner,
                        )
                    )
            else:
                log.set(
                    cust_t,
                    rec,
                    "status",
                    STATUS_NORMAL,
                    "customer.awake" if status == STATUS_DORMANT else "customer.status",
                )
        elif not status:
            log.set(cust_t, rec, "status", STATUS_NORMAL, "customer.status")
        # updated-at: a user column changed since the last apply (or a new profile)
        digest = user_fields_hash(rec, ukeys)
        before = state.snapshot.get(snap_key)
        if (before is not None and before != digest) or (
            (before is None or rec.row in new_cust_rows) and not rec.values.get("updated_at")
        ):
            log.set(cust_t, rec, "updated_at", now, "customer.updated_at")
        state.snapshot[snap_key] = digest
        upd = as_date(rec.values.get("updated_at"))
        if upd is not None and (today - upd).days >= review_days:
            review.append(
                make(
                    "customer.review_due",
                    lang,
                    sheet=cust_t.schema.name,
                    row=rec.row,
                    column="updated_at",
                    customer_id=cid,
                    days=(today - upd).days,
                )
            )

    # stage moves backwards: keep listing them while the follow-up still says so
    moves = {**state.backwards, **backwards_seen}
    fu_by_id = (
        {f.values.get("followup_id"): f for f in fu_t.records if f.values.get("followup_id")}
        if moves
        else {}
    )
    kept: dict[str, list[str]] = {}
    for fid, (old, new) in moves.items():
        fu = fu_by_id.get(fid)
        if fu is None or fu.values.get("stage_after") != new:
            continue
        kept[fid] = [old, new]
        findings.append(
            make(
                "stage.backwards",
                lang,
                sheet=fu_t.schema.name,
                row=fu.row,
                column="stage_after",
                customer_id=fu.values.get("customer_id"),
                old=old,
                new=new,
            )
        )
    state.backwards = kept
    known = {cid for cid in customers} | snap_keys
    state.snapshot = {k: v for k, v in state.snapshot.items() if k in known}
    return Plan(
        changes=log.changes, findings=findings + review, notes=notes, state=state, review=review
    )


STAGES = [*STAGE_ORDER, "已成交", None, ""]
NAMES = [
    "北京华信科技有限公司",
    "上海甲乙贸易有限公司",
    "身份证110105194912310021的公司",
    12345,
    "",
    None,
    "Acme 3.5",
    "客户 4111111111111111 卡",
]
TODAY = dt.date(2024, 6, 1)
NOW = dt.datetime(2024, 6, 1, 10, 30)


def _value(rng: random.Random, pool: list[Any]) -> Any:
    return rng.choice(pool)


def _workbook(rng: random.Random) -> Workbook:
    wb = new_workbook()
    n_c = rng.randint(0, 40)
    cids = [f"C20240315{i:03d}" for i in range(1, n_c + 1)] + ["C20240601001", "C20240601xyz"]
    rows = list(range(2, n_c + 2))
    if rng.random() < 0.3:
        rng.shuffle(rows)  # records out of row order
    for i, row in enumerate(rows):
        values: dict[str, Any] = {
            "customer_id": rng.choice([cids[i], rng.choice(cids), None, "", "C-x"]),
            "name": _value(rng, NAMES),
            "industry": rng.choice(["信息技术", "零售", None]),
            "employees": rng.choice([120, 120.0, True, None]),
            "annual_revenue": rng.choice([3500.5, 1e21, float("nan"), None, "abc"]),
            "phone": rng.choice(["13800138000", None, 13800138000]),
            "first_contact": rng.choice(
                [dt.date(2023, 1, 2), dt.datetime(2023, 1, 2, 9, 0), None, dt.date(2024, 5, 30)]
            ),
            "owner": rng.choice(["张伟", "李娜", POOL_OWNER, None]),
            "stage": rng.choice(STAGES),
            "customer_type": rng.choice(["意向客户", "成交客户", None]),
            "status": rng.choice([STATUS_NORMAL, STATUS_DORMANT, STATUS_MERGED, None]),
            "updated_at": rng.choice([None, dt.datetime(2024, 1, 1, 8), dt.date(2024, 5, 31)]),
            "last_followup": rng.choice([None, dt.datetime(2024, 3, 20, 14, 0)]),
            "followup_summary": rng.choice([None, "2024-03-20 电话：介绍产品"]),
            "next_followup": rng.choice([None, "发送报价"]),
            "next_followup_date": rng.choice(
                [None, dt.date(2024, 3, 27), dt.datetime(2024, 3, 27)]
            ),
        }
        if rng.random() < 0.7:  # the reader's records hold every key; some here do not
            for f in wb.customers.schema.fields:
                values.setdefault(f.key, None)
        raw = {}
        if rng.random() < 0.15:
            raw = {rng.choice(["phone", "first_contact", "notes", "customer_id"]): "原样 13800"}
        wb.customers.records.append(Record(row, values, raw))
    n_f = rng.randint(0, 80)
    frows = list(range(2, n_f + 2))
    if rng.random() < 0.3:
        rng.shuffle(frows)
    starts = [dt.datetime(2024, 3, d, h) for d in (1, 5, 20) for h in (9, 14)]
    for i, row in enumerate(frows):
        values = {
            "followup_id": rng.choice([f"F20240320{i:04d}", None, ""]),
            "customer_id": rng.choice([*cids, None, "C-unknown"]),
            "customer_name": rng.choice([None, "北京华信科技有限公司", 12345]),
            "start": rng.choice([*starts, dt.date(2024, 3, 5), "2024-03-05", None]),
            "method": rng.choice(["电话", "拜访", None]),
            "content": rng.choice(["介绍产品", "  长文本 " * 9, None, "卡号 4111111111111111 ..."]),
            "next_action": rng.choice(["发送报价", None, "身份证 11010519491231002X"]),
            "next_date": rng.choice([dt.date(2024, 3, 27), None, dt.datetime(2024, 4, 1, 10)]),
            "stage_after": rng.choice(STAGES),
            "recorded_at": rng.choice([None, dt.datetime(2024, 3, 20, 16, 0)]),
        }
        wb.followups.records.append(Record(row, values))
    wb.settings["pool_days"] = rng.choice([0, 30])
    return wb


def _state(rng: random.Random, wb: Workbook) -> ApplyState:
    st = ApplyState()
    for rec in wb.customers.records:
        cid = rec.values.get("customer_id")
        if isinstance(cid, str) and cid and rng.random() < 0.6:
            st.snapshot[cid] = rng.choice(["0", user_fields_hash(rec, user_keys(wb))])
    if wb.followups.records and rng.random() < 0.3:
        fid = wb.followups.records[0].values.get("followup_id")
        if fid:
            st.backwards[fid] = ["成交", "意向"]
    return st


def _plan(plan: Plan, wb: Workbook) -> tuple:
    recs = [
        (r.row, r.values, r.raw, r.problems)
        for t in (wb.customers, wb.followups)
        for r in t.records
    ]
    return (
        plan.changes,
        [f.to_dict() for f in plan.findings],
        [f.to_dict() for f in plan.notes],
        [f.to_dict() for f in plan.review],
        plan.state.to_json(),
        repr(recs),
    )


def test_compute_changes_is_the_reference_on_random_workbooks():
    rng = random.Random(15)
    for _ in range(300):
        wb = _workbook(rng)
        st = _state(rng, wb)
        wb2, st2 = copy.deepcopy(wb), copy.deepcopy(st)
        got = compute_changes(wb, TODAY, NOW, st, ChangeLog())
        want = reference_compute_changes(wb2, TODAY, NOW, st2, ChangeLog())
        assert _plan(got, wb) == _plan(want, wb2)


def test_user_fields_hasher_is_user_fields_hash():
    rng = random.Random(7)
    wb = _workbook(rng)
    keys = user_keys(wb)
    digest = user_fields_hasher(keys)
    pool = [
        None,
        "",
        "北京",
        "a'b\"c",
        1,
        1.0,
        True,
        0,
        -0.0,
        float("nan"),
        1e300,
        dt.date(2024, 1, 2),
        dt.datetime(2024, 1, 2, 3, 4, 5, 6),
        "x" * 50,
        "\n\t",
    ]
    for i in range(3000):
        values = {k: rng.choice(pool) for k in keys if rng.random() < 0.95}
        raw = {rng.choice(keys): rng.choice(pool)} if rng.random() < 0.2 else {}
        rec = Record(i + 2, values, raw)
        assert digest(rec) == user_fields_hash(rec, keys)
    for few in ((), ("name",)):
        rec = Record(2, {"name": "甲"})
        assert user_fields_hasher(few)(rec) == user_fields_hash(rec, few)
