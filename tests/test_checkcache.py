"""The warm re-check (crm_sheets/checkcache.py) finds exactly what a full check finds.

Each step edits a workbook the way a team does between two checks, then compares the
full check (no cache) with the warm one (the cache the previous step left): the findings,
in order, field by field.
"""

from __future__ import annotations

import datetime as dt
import os
import stat
from pathlib import Path

import pytest
from helpers import TODAY, Sheet, benchmark_workbook

from crm_sheets import checkcache, load
from crm_sheets.checkcache import CheckCache
from crm_sheets.rules import RULES
from crm_sheets.validation import check_file, validate

BENCH_TODAY = dt.date(2026, 11, 26)


def _dicts(report) -> list[dict]:
    return [f.to_dict() for f in report.findings]


def _both(path: Path, today: dt.date) -> CheckCache:
    """Full check and warm check of `path` agree; returns the warm check's cache."""
    _wb, full = check_file(path, today, cache=False)
    cc = CheckCache.open(path)
    assert cc is not None
    warm = validate(load(path), today, cache=cc)
    assert _dicts(warm) == _dicts(full)
    assert (warm.customers, warm.followups) == (full.customers, full.followups)
    return cc




@pytest.fixture(scope="module")
def bench2000(tmp_path_factory) -> Path:
    return benchmark_workbook(tmp_path_factory.mktemp("bench") / "bench_2000.xlsx", 2000, 5000)


def test_every_rule_declares_its_scope() -> None:
    scopes = {r.name: r.scope for r in RULES}
    assert set(scopes.values()) <= {"row", "cross"}
    for name in (
        "customer_id",
        "followup_id",
        "followup_customer",
        "followup_owner",
        "possible_duplicate",
    ):
        assert scopes[name] == "cross"
    assert scopes["required"] == "row"


def test_warm_equals_full_on_the_benchmark_after_every_kind_of_edit(
    bench2000, tmp_path, crm_state_dir
) -> None:
    path = tmp_path / "master.xlsx"
    path.write_bytes(bench2000.read_bytes())
    today = BENCH_TODAY

    cc = _both(path, today)  # cold: nothing to reuse
    assert not cc.warm
    cache = checkcache.cache_file(path)
    assert cache.is_file()
    if os.name == "posix":
        assert stat.S_IMODE(cache.stat().st_mode) == 0o600

    cc = _both(path, today)  # unchanged: nothing is checked again
    assert cc.warm and cc.scan_reused and cc.rechecked == 0

    s = Sheet(path)  # changed cells: a name, an invalid phone, a stage, a follow-up date
    s.set("客户", 10, "客户名称", "杭州新世纪电子科技有限公司")
    s.set("客户", 20, "联系方式", "123")
    s.set("客户", 30, "商机阶段", "流失")
    s.set("跟进记录", 12, "沟通开始", dt.datetime(2027, 1, 1, 9, 0))
    s.set("跟进记录", 40, "客户编号", "C19990101001")
    s.save()
    cc = _both(path, today)
    assert cc.warm and not cc.scan_reused and cc.rechecked == 3
    assert cc.scan_incremental  # from the index the cold check's full scan left

    s = Sheet(path)  # a field the duplicate scan does not read: its result is kept
    s.set("客户", 31, "商机阶段", "流失")
    s.set("客户", 32, "负责人", "不认识的人")
    s.save()
    cc = _both(path, today)
    assert cc.warm and cc.scan_reused and cc.rechecked == 2

    s = Sheet(path)  # new rows: a copy of row 5 (a duplicate, and its ID twice), a blank-ID one
    ws = s.ws("客户")
    last = ws.max_row
    s.put_row("客户", last + 1, s.row_values("客户", 5))
    new = s.row_values("客户", 6)
    new[0] = None
    s.put_row("客户", last + 2, new)
    s.save()
    cc = _both(path, today)
    # the copy holds what row 5 holds: its row findings are reused (at its own row)
    assert cc.warm and not cc.scan_reused and cc.rechecked == 1

    s = Sheet(path)  # deleted rows: every row below moves up
    s.ws("客户").delete_rows(7, 2)
    s.ws("跟进记录").delete_rows(3, 1)
    s.save()
    cc = _both(path, today)
    assert cc.warm and not cc.scan_reused and cc.rechecked == 0

    s = Sheet(path)  # moved rows: two customers swap places
    a, b = s.row_values("客户", 50), s.row_values("客户", 51)
    s.put_row("客户", 50, b)
    s.put_row("客户", 51, a)
    s.save()
    cc = _both(path, today)
    assert cc.warm and cc.rechecked == 0

    s = Sheet(path)  # a duplicate introduced ...
    kept = s.get("客户", 101, "客户名称")
    s.set("客户", 101, "客户名称", s.get("客户", 100, "客户名称"))
    s.save()
    cc = _both(path, today)
    assert not cc.scan_reused
    s = Sheet(path)  # ... and removed again
    s.set("客户", 101, "客户名称", kept)
    s.save()
    cc = _both(path, today)
    assert cc.warm and not cc.scan_reused and cc.rechecked == 1

    s = Sheet(path)  # Settings changed: every row again
    s.set("设置", 5, "值", 70)
    s.save()
    cc = _both(path, today)
    assert cc.rechecked == len(load(path).customers.records) and not cc.scan_reused

    s = Sheet(path)  # Lists changed
    s.ws("列表").cell(2, 1).value = "高端制造"
    s.save()
    cc = _both(path, today)
    assert cc.rechecked == len(load(path).customers.records) and cc.scan_reused

    s = Sheet(path)  # NotDuplicates changed
    ids = [s.get("客户", r, "客户编号") for r in (100, 101)]
    s.ws("非重复").cell(2, 1).value = ids[0]
    s.ws("非重复").cell(2, 2).value = ids[1]
    s.save()
    _both(path, today)

    cc = _both(path, today - dt.timedelta(days=400))  # another day: future dates now
    assert cc.rechecked == len(load(path).customers.records)
    cc = _both(path, today - dt.timedelta(days=400))
    assert cc.warm and cc.rechecked == 0


@pytest.mark.parametrize("damage", [b"", b"not a cache", b"\xe3\x00\x00", "truncate"])
def test_a_damaged_cache_is_ignored(bench2000, tmp_path, crm_state_dir, damage) -> None:
    path = tmp_path / "master.xlsx"
    path.write_bytes(bench2000.read_bytes())
    _both(path, BENCH_TODAY)
    cache = checkcache.cache_file(path)
    blob = cache.read_bytes()
    cache.write_bytes(blob[: len(blob) // 2] if damage == "truncate" else damage)
    cc = _both(path, BENCH_TODAY)
    assert not cc.warm


def test_a_cache_of_other_code_is_ignored(bench2000, tmp_path, crm_state_dir, monkeypatch) -> None:
    path = tmp_path / "master.xlsx"
    path.write_bytes(bench2000.read_bytes())
    _both(path, BENCH_TODAY)
    monkeypatch.setattr(checkcache, "code_digest", lambda: "another engine")
    cc = _both(path, BENCH_TODAY)
    assert not cc.warm


@pytest.mark.parametrize("cached", [("customers",), ("customers", "followups")])
def test_warm_equals_full_on_the_demo(tmp_path, crm_state_dir, monkeypatch, cached) -> None:
    from crm_sheets.demo import build_demo

    monkeypatch.setattr(checkcache, "CACHED_TABLES", cached)
    master = build_demo(tmp_path / "demo", today=TODAY).master
    cc = _both(master, TODAY)
    assert not cc.warm
    cc = _both(master, TODAY)
    assert cc.warm and cc.rechecked == 0
    s = Sheet(master)
    s.set("客户", 3, "联系方式", "12")
    s.set("客户", 4, "省", "火星")
    s.ws("客户").delete_rows(5, 1)
    s.set("跟进记录", 7, "沟通开始", dt.datetime(2030, 1, 1, 9, 0))
    s.ws("跟进记录").delete_rows(9, 1)
    s.save()
    cc = _both(master, TODAY)
    assert cc.warm and cc.rechecked == 2 + (len(cached) - 1)


def test_check_file_warm_starts_no_worker(bench2000, tmp_path, crm_state_dir, monkeypatch) -> None:
    from crm_sheets import validation

    path = tmp_path / "master.xlsx"
    path.write_bytes(bench2000.read_bytes())
    started: list[object] = []
    real = validation.start_scan

    def counting(*a, **kw):  # noqa: ANN002, ANN003, ANN202
        started.append(a)
        return real(*a, **kw)

    monkeypatch.setattr(validation, "start_scan", counting)
    _wb, cold = check_file(path, BENCH_TODAY, cache=True)
    assert len(started) == 1
    _wb, warm = check_file(path, BENCH_TODAY, cache=True)
    assert len(started) == 1 and _dicts(warm) == _dicts(cold)
    s = Sheet(path)  # a changed name: the incremental scan answers, still no worker
    s.set("客户", 10, "客户名称", "杭州新世纪电子科技有限公司")
    s.save()
    _wb, warm = check_file(path, BENCH_TODAY, cache=True)
    assert len(started) == 1
    assert _dicts(warm) == _dicts(check_file(path, BENCH_TODAY, cache=False)[1])
    s = Sheet(path)  # a phone on 7 customers: only a full scan can tell; it starts after the read
    phone = s.get("客户", 2, "联系方式")
    for r in range(3, 9):
        s.set("客户", r, "联系方式", phone)
    s.save()
    before = len(started)
    _wb, warm = check_file(path, BENCH_TODAY, cache=True)
    assert len(started) == before + 1
    assert _dicts(warm) == _dicts(check_file(path, BENCH_TODAY, cache=False)[1])


def _scan_both(wb, index, threshold: int = 85):  # noqa: ANN001, ANN202
    """The full scan of `wb` and the incremental one from `index`; None when it declined."""
    from crm_sheets.dedupe import incremental
    from crm_sheets.dedupe.api import duplicate_matches
    from crm_sheets.dedupe.worker import payload_of

    full = duplicate_matches(wb, threshold)
    lang, th, nd, entries = payload_of(wb.lang, threshold, wb.not_duplicates, wb.customers.records)
    quick = incremental.update(
        index,
        incremental.head_of(lang, th, nd),
        [tuple(e[1:7]) for e in entries],
        [e[0] for e in entries],
        [e[7] for e in entries],
        nd,
        th,
        wb.lang,
    )
    return full, quick


def _index_of(wb, threshold: int = 85):  # noqa: ANN001, ANN202
    from crm_sheets.dedupe import incremental
    from crm_sheets.dedupe.api import duplicate_matches
    from crm_sheets.dedupe.worker import payload_of

    kept: list = []
    duplicate_matches(wb, threshold, keep=kept)
    lang, th, nd, entries = payload_of(wb.lang, threshold, wb.not_duplicates, wb.customers.records)
    return incremental.index_after_scan(incremental.head_of(lang, th, nd), entries, kept[0])


def test_incremental_scan_equals_full_scan_after_random_edits(bench2000) -> None:
    import copy
    import random

    from crm_sheets.model import Record

    base = load(bench2000)
    base.not_duplicates = [
        (
            base.customers.records[3].values["customer_id"],
            base.customers.records[4].values["customer_id"],
        )
    ]
    index = _index_of(base)
    recs = base.customers.records
    names = [r.values["name"] for r in recs]
    rnd = random.Random(15)
    answered = 0
    for trial in range(40):
        wb = copy.deepcopy(base)
        cr = wb.customers.records
        for _ in range(rnd.randint(1, 6)):
            kind = rnd.choice(
                ["copy", "variant", "phone", "new", "delete", "blank", "move", "city", "merged"]
            )
            k = rnd.randrange(len(cr))
            other = rnd.choice(names)
            if kind == "copy":  # a duplicate introduced
                cr[k].values["name"] = other
            elif kind == "variant":
                cr[k].values["name"] = other.replace("有限公司", "") + rnd.choice(
                    ["", "集团", "（北京）"]
                )
            elif kind == "phone":
                cr[k].values["phone"] = cr[rnd.randrange(len(cr))].values["phone"]
            elif kind == "new":
                vals = dict(cr[rnd.randrange(len(cr))].values)
                vals["customer_id"] = None if rnd.random() < 0.5 else vals["customer_id"]
                cr.insert(k, Record(0, vals))
            elif kind == "delete":
                del cr[k]
            elif kind == "blank":
                cr[k].values["name"] = None if rnd.random() < 0.5 else "  "
            elif kind == "move":
                cr.insert(rnd.randrange(len(cr)), cr.pop(k))
            elif kind == "city":
                cr[k].values["city"] = rnd.choice(["上海市", "广州市", None])
            else:
                cr[k].values["status"] = "已合并"
        for row, r in enumerate(cr, start=2):
            r.row = row
        full, quick = _scan_both(wb, index)
        if quick is not None:
            answered += 1
            assert quick == full, f"trial {trial}"
    assert answered >= 20


def test_incremental_scan_declines_when_a_contact_becomes_common(bench2000) -> None:
    import copy

    base = load(bench2000)
    index = _index_of(base)
    wb = copy.deepcopy(base)
    phone = wb.customers.records[0].values["phone"]
    for r in wb.customers.records[1:7]:
        r.values["phone"] = phone  # now on 7 customers: no longer evidence for anyone
    full, quick = _scan_both(wb, index)
    assert quick is None
    wb = copy.deepcopy(base)
    full, quick = _scan_both(wb, index)
    assert quick == full


def test_incremental_scan_rechecks_pairs_of_a_term_crossing_its_cap(bench2000) -> None:
    """121 names share the bigram 鑫淼 (one past CAP_GRAM: no evidence); one of them changes
    and 鑫淼 is evidence again for the 120 left, which the incremental scan must see."""
    import copy

    from crm_sheets.dedupe.blocking import CAP_GRAM

    base = load(bench2000)
    chars = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"
    recs = base.customers.records
    for k in range(CAP_GRAM + 1):
        recs[k].values["name"] = f"鑫淼{chars[k % 22]}{chars[k // 22]}"
        recs[k].values["phone"] = f"1390000{k:04d}"
        recs[k].values["province"] = recs[k].values["city"] = None
    index = _index_of(base, 40)  # a low threshold: many pairs count
    wb = copy.deepcopy(base)
    wb.customers.records[5].values["name"] = "杭州新世纪电子科技有限公司"
    full, quick = _scan_both(wb, index, 40)
    assert quick is not None and quick == full
    assert sum(m.other_name.startswith("鑫淼") for m in full) > 50
    wb = copy.deepcopy(wb)  # and back over the cap
    wb.customers.records[5].values["name"] = "鑫淼乙甲"
    full2, quick2 = _scan_both(wb, index, 40)
    assert quick2 == full2


def test_index_keeps_one_member_postings_as_ints_with_the_same_answers(bench2000) -> None:
    """FORMAT 2 keeps a posting list of one customer as -1 - its position (memory): the
    incremental scan answers as it did from plain lists (FORMAT 1's postings)."""
    import copy

    from crm_sheets.dedupe import incremental

    base = load(bench2000)
    index = _index_of(base)
    post = index[3]
    singles = [v for d in post.values() for v in d.values() if isinstance(v, int) and v < 0]
    assert len(singles) > 1000  # names and contacts are mostly one customer's
    plain = {
        kind: {t: [-1 - v] if isinstance(v, int) and v < 0 else v for t, v in d.items()}
        for kind, d in post.items()
    }
    old_style = (*index[:3], plain, *index[4:])
    wb = copy.deepcopy(base)
    cr = wb.customers.records
    cr[5].values["name"] = cr[40].values["name"]  # a duplicate made
    cr[7].values["phone"] = cr[90].values["phone"]  # a shared phone
    cr[9].values["name"] = "完全不同的名字有限公司"
    full, quick = _scan_both(wb, index)
    _full, quick_plain = _scan_both(wb, old_style)
    assert quick is not None and quick == quick_plain == full
    assert incremental.FORMAT == 2 and index[0] == 2


def test_an_index_of_the_old_format_is_ignored(bench2000, tmp_path) -> None:
    from crm_sheets.dedupe import incremental

    index = _index_of(load(bench2000))
    path = tmp_path / "dupindex-x.bin"
    incremental.save_index(path, (1, *index[1:]), "d")
    assert incremental.load_index(path, "d") is None
    incremental.save_index(path, index, "d")
    assert incremental.load_index(path, "d") == index
