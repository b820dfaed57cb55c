"""The watcher's incremental revalidation finds exactly what a full validation finds.

Between two saves of the master the watcher runs the row rules only on rows that differ
from the previous save (crm_sheets/watch/cycle.py `rule_findings`). Each step below edits,
adds, deletes or reorders rows, or changes Lists/Settings, saves, and compares the
watcher's findings (in order, field by field) with `validate()` of the whole file --
every rule, the possible-duplicate warnings included (the watcher's `DupTracker` answers
from the last full scan's index) -- and its count of changed rows with the full count.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
import random
from pathlib import Path

import pytest
from helpers import Sheet, benchmark_workbook

from crm_sheets.dedupe import duplicate_findings
from crm_sheets.dedupe.api import duplicate_matches
from crm_sheets.home import create_home
from crm_sheets.model import Record
from crm_sheets.reader import load
from crm_sheets.rules import RULES
from crm_sheets.validation import validate
from crm_sheets.watch import cycle
from crm_sheets.watch.cycle import (
    DUP_RULE,
    MasterTracker,
    count_changes,
    match_rows,
    revalidate,
    rule_findings,
)

TODAY = dt.date(2026, 11, 26)
NO_DUP = [r.name for r in RULES if r.name != DUP_RULE]
DUP_CODE = "customer.possible_duplicate"


@pytest.fixture(scope="module")
def bench600(tmp_path_factory) -> Path:
    return benchmark_workbook(tmp_path_factory.mktemp("bench") / "bench_600.xlsx", 600, 1500)


def _dicts(findings) -> list[dict]:  # noqa: ANN001
    return [f.to_dict() for f in findings]




def _reference(home, ref: MasterTracker) -> cycle.SaveReport:  # noqa: ANN001
    """The same save through the full path (every rule on every row, rows counted whole)."""
    old = os.environ.pop(cycle.ENV_INCREMENTAL, None)
    os.environ[cycle.ENV_INCREMENTAL] = "0"
    try:
        save = revalidate(home, ref, today=TODAY)
        count_changes(save)
        return save
    finally:
        os.environ.pop(cycle.ENV_INCREMENTAL, None)
        if old is not None:
            os.environ[cycle.ENV_INCREMENTAL] = old


def _check(home, tracker: MasterTracker, ref: MasterTracker) -> cycle.SaveReport:  # noqa: ANN001
    """One save through the watcher's path, compared with the full path and `validate()`."""
    save = revalidate(home, tracker, today=TODAY)
    count_changes(save)
    full = _reference(home, ref)
    assert _dicts(save.findings) == _dicts(full.findings)
    assert (save.changed_customers, save.changed_followups) == (
        full.changed_customers,
        full.changed_followups,
    )
    assert save.to_dict() | {"seconds": 0, "at": ""} == full.to_dict() | {"seconds": 0, "at": ""}
    wb = load(home.master)
    assert _dicts(save.findings) == _dicts(validate(wb, TODAY).findings)
    dups = [f for f in save.findings if f.code == DUP_CODE]
    assert _dicts(dups) == _dicts(duplicate_findings(wb))
    return save


def _rechecked(tracker: MasterTracker, table: str, n: int) -> None:
    """The last save ran the row rules on `n` rows of `table` (none reused: skipped)."""
    if not cycle.incremental_enabled():
        return
    assert tracker.rows is not None
    assert sum(1 for j in tracker.rows.matched[table] if j < 0) == n


def test_each_save_equals_a_full_validation(bench600, tmp_path, crm_state_dir) -> None:
    home = create_home(tmp_path / "home")
    home.master.write_bytes(bench600.read_bytes())
    path = home.master
    tracker, ref = MasterTracker(), MasterTracker()
    _check(home, tracker, ref)  # the first save: every row
    assert tracker.dup.last_full
    _check(home, tracker, ref)  # unchanged
    _rechecked(tracker, "customers", 0)
    assert not tracker.dup.last_full and tracker.dup.last_changed == 0

    s = Sheet(path)  # edited cells: a name, an invalid phone, a stage, follow-up dates/IDs
    s.set("客户", 10, "客户名称", "杭州新世纪电子科技有限公司")
    s.set("客户", 20, "联系方式", "123")
    s.set("客户", 30, "商机阶段", "流失")
    s.set("客户", 40, "员工人数", -5)
    s.set("跟进记录", 12, "沟通开始", dt.datetime(2027, 1, 1, 9, 0))
    s.set("跟进记录", 40, "客户编号", "C19990101001")
    s.save()
    _check(home, tracker, ref)
    _rechecked(tracker, "customers", 4)

    s = Sheet(path)  # new rows: a copy of row 5 and a blank-ID one; a new follow-up
    last = s.ws("客户").max_row
    s.put_row("客户", last + 1, s.row_values("客户", 5))
    new = s.row_values("客户", 6)
    new[0] = None
    s.put_row("客户", last + 2, new)
    s.put_row("跟进记录", s.ws("跟进记录").max_row + 1, s.row_values("跟进记录", 3))
    s.save()
    save = _check(home, tracker, ref)
    assert not tracker.dup.last_full
    # the exact copy (same customer ID) at the end is reported, as validate() reports it
    assert any(f.code == DUP_CODE and f.row == last + 1 for f in save.findings)

    s = Sheet(path)  # exact copies, ID and all, at the end and in the middle
    last = s.ws("客户").max_row
    s.put_row("客户", last + 1, s.row_values("客户", 9))
    s.ws("客户").insert_rows(250, 1)
    s.put_row("客户", 250, s.row_values("客户", 120))
    s.save()
    save = _check(home, tracker, ref)
    assert not tracker.dup.last_full
    assert any(f.code == DUP_CODE and f.row == last + 2 for f in save.findings)

    s = Sheet(path)  # a copy under another ID, and a copy with the same ID renamed a little
    last = s.ws("客户").max_row
    new = s.row_values("客户", 11)
    new[0] = "C20991231999"
    s.put_row("客户", last + 1, new)
    new = s.row_values("客户", 12)
    new[1] = f"{new[1]}有限公司"
    s.put_row("客户", last + 2, new)
    s.save()
    save = _check(home, tracker, ref)
    assert not tracker.dup.last_full
    assert any(f.code == DUP_CODE and f.row == last + 1 for f in save.findings)

    s = Sheet(path)  # deleted rows: every row below moves up
    s.ws("客户").delete_rows(7, 2)
    s.ws("跟进记录").delete_rows(3, 1)
    s.save()
    _check(home, tracker, ref)
    _rechecked(tracker, "customers", 0)

    s = Sheet(path)  # a row inserted at the top and an edit further down
    ws = s.ws("客户")
    ws.insert_rows(2, 1)
    s.put_row("客户", 2, s.row_values("客户", 300))
    s.set("客户", 400, "邮箱", "not-an-email")
    s.save()
    _check(home, tracker, ref)

    s = Sheet(path)  # moved rows: two customers swap places, two follow-ups too
    a, b = s.row_values("客户", 50), s.row_values("客户", 51)
    s.put_row("客户", 50, b)
    s.put_row("客户", 51, a)
    a, b = s.row_values("跟进记录", 60), s.row_values("跟进记录", 90)
    s.put_row("跟进记录", 60, b)
    s.put_row("跟进记录", 90, a)
    s.save()
    _check(home, tracker, ref)

    s = Sheet(path)  # a number becomes the same number as text, and a number as 1.0
    s.set("客户", 60, "员工人数", str(s.get("客户", 60, "员工人数")))
    s.set("客户", 61, "员工人数", float(s.get("客户", 61, "员工人数") or 0))
    s.save()
    _check(home, tracker, ref)

    s = Sheet(path)  # NotDuplicates: a reported pair marked as not duplicates
    pairs = [
        (s.get("客户", m.row, "客户编号"), s.get("客户", m.other_row, "客户编号"))
        for m in duplicate_matches(load(path))
    ]
    a, b = next((a, b) for a, b in pairs if a and b and a != b)
    s.put_row("非重复", 2, [a, b, "不同公司"])
    s.save()
    _check(home, tracker, ref)
    assert tracker.dup.last_full  # the scan's settings changed: scanned in full
    _check(home, tracker, ref)
    assert not tracker.dup.last_full

    s = Sheet(path)  # ... and unmarked again
    s.put_row("非重复", 2, [None, None, None])
    s.save()
    _check(home, tracker, ref)

    s = Sheet(path)  # Settings changed (the duplicate threshold): every row again
    s.set("设置", 5, "值", 70)
    s.save()
    _check(home, tracker, ref)
    assert tracker.dup.last_full

    s = Sheet(path)  # a copy at the lower threshold
    s.put_row("客户", s.ws("客户").max_row + 1, s.row_values("客户", 33))
    s.save()
    _check(home, tracker, ref)
    assert not tracker.dup.last_full

    s = Sheet(path)  # the threshold up
    s.set("设置", 5, "值", 95)
    s.save()
    _check(home, tracker, ref)
    assert tracker.dup.last_full

    s = Sheet(path)  # Lists changed
    s.ws("列表").cell(2, 1).value = "高端制造"
    s.save()
    _check(home, tracker, ref)

    s = Sheet(path)  # a row removed and another added at the end: lengths equal
    s.ws("客户").delete_rows(100, 1)
    s.put_row("客户", s.ws("客户").max_row + 1, s.row_values("客户", 200))
    s.save()
    _check(home, tracker, ref)


def test_a_new_day_checks_every_row_again(bench600, tmp_path, crm_state_dir) -> None:
    home = create_home(tmp_path / "home")
    home.master.write_bytes(bench600.read_bytes())
    tracker = MasterTracker()
    revalidate(home, tracker, today=TODAY)
    later = TODAY + dt.timedelta(days=400)
    save = revalidate(home, tracker, today=later)
    wb = load(home.master)
    mine = [f for f in save.findings if f.code != "customer.possible_duplicate"]
    assert _dicts(mine) == _dicts(validate(wb, later, rules=NO_DUP).findings)
    assert tracker.rows is not None and not tracker.rows.matched  # nothing reused


def test_off_switch_uses_the_full_validation(
    bench600, tmp_path, crm_state_dir, monkeypatch
) -> None:
    monkeypatch.setenv(cycle.ENV_INCREMENTAL, "0")
    home = create_home(tmp_path / "home")
    home.master.write_bytes(bench600.read_bytes())
    tracker = MasterTracker()
    revalidate(home, tracker, today=TODAY)
    assert tracker.rows is None


def _renumber(wb) -> None:  # noqa: ANN001
    for t in (wb.customers, wb.followups):
        for row, r in enumerate(t.records, start=t.header_row + 1):
            r.row = row


def test_random_edits_in_memory(bench600) -> None:
    """Many sequences of edits on the loaded workbook: the incremental findings equal the
    full validation's after each, including values equal across types (1, 1.0, True)."""
    base = load(bench600)
    rnd = random.Random(15)
    prev = base
    found, memo = rule_findings(prev, TODAY, NO_DUP, None, None)
    assert memo is not None
    for step in range(60):
        wb = copy.deepcopy(prev)
        for _ in range(rnd.randint(1, 5)):
            t = rnd.choice([wb.customers, wb.followups])
            recs = t.records
            k = rnd.randrange(len(recs))
            kind = rnd.choice(["edit", "type", "new", "delete", "move", "swap", "blank"])
            if kind == "edit":
                key = rnd.choice(list(recs[k].values))
                recs[k].values[key] = recs[rnd.randrange(len(recs))].values.get(key)
            elif kind == "type":
                key = "employees" if t is wb.customers else "content"
                v = recs[k].values.get(key)
                recs[k].values[key] = rnd.choice(
                    [1, 1.0, True, -1, -1.0, v if v is None else str(v)]
                )
            elif kind == "new":
                recs.insert(k, copy.deepcopy(recs[rnd.randrange(len(recs))]))
            elif kind == "delete":
                del recs[k]
            elif kind == "move":
                recs.insert(rnd.randrange(len(recs)), recs.pop(k))
            elif kind == "swap":
                j = rnd.randrange(len(recs))
                recs[k], recs[j] = recs[j], recs[k]
            else:
                recs[k].values = {key: None for key in recs[k].values}
        _renumber(wb)
        found, memo2 = rule_findings(wb, TODAY, NO_DUP, prev, memo)
        assert _dicts(found) == _dicts(validate(wb, TODAY, rules=NO_DUP).findings), step
        assert memo2 is not None
        prev, memo = wb, memo2


def test_match_rows_pairs_equal_rows_only() -> None:
    def recs(vals: list) -> list[Record]:
        return [Record(i + 2, {"a": v}) for i, v in enumerate(vals)]

    old = recs([1, 2, 3, 4, 5] * 200)
    new = recs([1, 2, 3, 4, 5] * 200)
    assert match_rows(old, new) == list(range(1000))
    new[500].values["a"] = 1.0  # equal to 1, another type
    new[501].values["a"] = True
    m = match_rows(old, new)
    assert m[500] == -1 and m[501] == -1 and m[502] == 502
    new = recs([9] + [1, 2, 3, 4, 5] * 200)  # inserted at the top
    m = match_rows(old, new)
    assert m[0] == -1 and m[1:] == list(range(1000))
    new = recs([1, 2, 3, 4, 5] * 200)[1:]  # removed at the top
    assert match_rows(old, new) == list(range(1, 1000))
    new = recs([2, 1] + [3, 4, 5] + [1, 2, 3, 4, 5] * 199)  # swapped
    assert sorted(match_rows(old, new)) == list(range(1000))
    old = [Record(2, {"a": 1, "b": 2})]  # same values, keys in another order
    new = [Record(2, {"b": 2, "a": 1})]
    assert match_rows(old, new) == [-1]


def test_dup_tracker_equals_validate_after_random_edits(bench600) -> None:
    """Random rounds of customer edits (copies with and without the ID, contacts, blank
    names, moves, NotDuplicates and threshold changes): after each, the tracker's findings
    are validate()'s possible-duplicate warnings, in order, field by field."""
    base = load(bench600)
    names = [r.values["name"] for r in base.customers.records]
    rnd = random.Random(7)
    new = cycle.DupTracker()

    def want(wb) -> list[dict]:  # noqa: ANN001
        return _dicts(validate(wb, TODAY, rules=[DUP_RULE]).findings)

    assert _dicts(new.update(base)) == want(base)
    prev = base
    kinds = ["copy", "phone", "new", "delete", "blank", "move", "same", "same_end", "nd", "th"]
    paths = set()
    for step in range(60):
        wb = copy.deepcopy(prev)
        cr = wb.customers.records
        for _ in range(rnd.randint(1, 6)):
            kind = rnd.choice(kinds)
            k = rnd.randrange(len(cr))
            if kind == "copy":  # a duplicate introduced
                cr[k].values["name"] = rnd.choice(names)
            elif kind == "phone":
                cr[k].values["phone"] = cr[rnd.randrange(len(cr))].values["phone"]
            elif kind == "new":  # a copy without an ID or under another one
                vals = dict(cr[rnd.randrange(len(cr))].values)
                vals["customer_id"] = None if rnd.random() < 0.5 else f"C2099{step:04d}{k:04d}"
                cr.insert(k, Record(0, vals))
            elif kind == "delete":
                del cr[k]
            elif kind == "blank":
                cr[k].values["name"] = None if rnd.random() < 0.5 else "  "
            elif kind == "move":
                cr.insert(rnd.randrange(len(cr)), cr.pop(k))
            elif kind == "same":  # an exact copy of another row, ID and all
                cr.insert(k, copy.deepcopy(cr[rnd.randrange(len(cr))]))
            elif kind == "same_end":  # ... appended at the end
                cr.append(copy.deepcopy(cr[k]))
            elif kind == "nd" and rnd.random() < 0.3:  # NotDuplicates edited
                if wb.not_duplicates and rnd.random() < 0.4:
                    wb.not_duplicates.pop(rnd.randrange(len(wb.not_duplicates)))
                else:
                    ms = duplicate_matches(wb)
                    by_row = {r.row: r for r in cr}
                    if ms:
                        m = rnd.choice(ms)
                        a, b = by_row[m.row].values, by_row[m.other_row].values
                        wb.not_duplicates.append((a["customer_id"], b["customer_id"]))
            elif kind == "th" and rnd.random() < 0.3:  # the threshold in Settings
                wb.settings["duplicate_threshold"] = rnd.choice([60, 75, 85, 90])
            _renumber(wb)
        got = new.update(wb)
        assert _dicts(got) == want(wb), step
        paths.add(new.last_full)
        prev = wb
    assert paths == {True, False}  # both the index and the full scan answered


@pytest.mark.parametrize("trouble", ["crash", "sheet_level"])
def test_a_row_rule_it_cannot_follow_falls_back_to_validate(bench600, trouble) -> None:
    """A row rule that fails, or finds something it does not place on a row: the findings
    are validate()'s (the failure reported as it always was) and nothing is kept."""
    import dataclasses

    from crm_sheets.findings import make
    from crm_sheets.rules import registry

    wb = load(bench600)
    at = next(k for k, r in enumerate(registry.RULES) if r.name == "phone")
    real = registry.RULES[at]

    def odd(workbook, ctx):  # noqa: ANN001, ANN202
        if trouble == "crash":
            raise RuntimeError("boom")
        yield from real.fn(workbook, ctx)
        yield make("rule.crashed", workbook.lang, sheet="Customers", rule="x", error="y")

    registry.RULES[at] = dataclasses.replace(real, fn=odd)
    try:
        found, memo = rule_findings(wb, TODAY, NO_DUP, None, None)
        assert memo is None
        assert _dicts(found) == _dicts(validate(wb, TODAY, rules=NO_DUP).findings)
    finally:
        registry.RULES[at] = real
    if trouble == "crash":
        assert any(f.code == "rule.crashed" for f in found)
