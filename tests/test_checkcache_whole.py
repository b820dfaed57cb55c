"""A data sheet read from the same bytes as at the last check is not checked again row by
row (crm_sheets/checkcache.py: `CheckCache.watch_source`, the zip members' digests): its
row rules' findings are the last check's. Each step edits the workbook as the engine's
patcher does (every other zip member copied byte for byte) or as a full save does, then
compares the full check with the warm one, field by field, and says which sheets were
reused whole.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from helpers import Sheet, benchmark_workbook

from crm_sheets import checkcache, load
from crm_sheets.checkcache import CheckCache
from crm_sheets.schema import CUSTOMERS, FOLLOWUPS
from crm_sheets.validation import check_file, validate
from crm_sheets.writeback.xlsxpatch import patch_workbook

BENCH_TODAY = dt.date(2026, 11, 26)
BOTH = ("customers", "followups")
CROSS = ("customer_id", "followup_id", "followup_customer", "followup_owner")


def _dicts(report) -> list[dict]:
    return [f.to_dict() for f in report.findings]


def _warm(path: Path, today: dt.date = BENCH_TODAY, *, watch: bool = True) -> tuple:
    """(full report, warm report, the warm check's cache)."""
    _wb, full = check_file(path, today, cache=False)
    cc = CheckCache.open(path)
    assert cc is not None
    if watch:
        cc.watch_source(path)
    warm = validate(load(path), today, cache=cc)
    return full, warm, cc


def _both(path: Path, today: dt.date = BENCH_TODAY, *, watch: bool = True) -> CheckCache:
    full, warm, cc = _warm(path, today, watch=watch)
    assert _dicts(warm) == _dicts(full)
    assert (warm.customers, warm.followups) == (full.customers, full.followups)
    return cc


def _patch(path: Path, cells: dict[tuple[str, int, str], object]) -> None:
    """Set cells (sheet key, Excel row, field key) through the engine's patcher."""
    schema = {"Customers": CUSTOMERS, "Followups": FOLLOWUPS}
    keyed = {(s, row, schema[s].keys.index(k)): v for (s, row, k), v in cells.items()}
    tmp = path.with_name("patched.xlsx")
    patch_workbook(path, tmp, keyed)
    os.replace(tmp, path)


def _members(path: Path) -> dict[str, int]:
    with zipfile.ZipFile(path) as z:
        return {i.filename: i.CRC for i in z.infolist()}


@pytest.fixture(scope="module")
def bench1500(tmp_path_factory) -> Path:
    return benchmark_workbook(tmp_path_factory.mktemp("bench") / "bench_1500.xlsx", 1500, 4000)


@pytest.fixture
def master(bench1500, tmp_path, crm_state_dir) -> Path:
    path = tmp_path / "master.xlsx"
    shutil.copyfile(bench1500, path)
    _patch(path, {})  # the patcher's own form of every member, once
    return path


def test_unchanged_sheets_are_reused_whole_and_find_the_same(master) -> None:
    cc = _both(master)  # cold
    assert not cc.warm and cc.reused_whole == ()
    cc = _both(master)  # nothing changed: both sheets whole, every cross rule that says
    assert cc.reused_whole == BOTH and cc.rechecked == 0  # what it reads is reused
    assert set(cc.cross_reused) == set(CROSS)

    before = _members(master)  # customers edited: an invalid phone, a lost stage, a new ID
    _patch(
        master,
        {
            ("Customers", 5, "phone"): "123",
            ("Customers", 6, "stage"): "流失",
            ("Customers", 7, "customer_id"): "C19990101001",  # its follow-ups lose their customer
            ("Customers", 8, "owner"): "不认识的人",  # an owner change under follow-ups
        },
    )
    after = _members(master)
    assert [m for m in after if after[m] != before[m]] == ["xl/worksheets/sheet1.xml"]
    cc = _both(master)
    assert cc.reused_whole == ("followups",) and cc.rechecked == 4
    assert cc.cross_reused == ("followup_id",)  # IDs and owners changed: the others run

    _patch(  # follow-ups edited: a future start, an unknown customer, another owner, times
        master,
        {
            ("Followups", 3, "start"): dt.datetime(2027, 1, 1, 9, 0),
            ("Followups", 4, "customer_id"): "C19990101002",
            ("Followups", 5, "owner"): "李四",
            ("Followups", 6, "end"): dt.datetime(2020, 1, 1, 9, 0),
            ("Followups", 7, "followup_id"): "F2026",
        },
    )
    cc = _both(master)
    assert cc.reused_whole == ("customers",) and cc.rechecked == 0
    assert cc.cross_reused == ("customer_id",)

    _patch(  # both edited: neither whole
        master,
        {("Customers", 9, "email"): "not an email", ("Followups", 8, "owner"): "王五"},
    )
    cc = _both(master)
    assert cc.reused_whole == () and cc.rechecked == 1
    assert cc.cross_reused == ("customer_id",)  # the customers' IDs and rows as they were
    cc = _both(master)
    assert cc.reused_whole == BOTH

    _patch(master, {("Customers", 11, "notes"): "改了备注", ("Customers", 12, "stage"): "谈判"})
    cc = _both(master)  # customer IDs and owners as they were: the follow-ups' rules reused
    assert cc.reused_whole == ("followups",)
    assert set(cc.cross_reused) == set(CROSS)
    _patch(master, {("Customers", 13, "owner"): "李四"})  # an owner: followup_owner runs
    cc = _both(master)
    assert set(cc.cross_reused) == {"customer_id", "followup_id", "followup_customer"}
    _patch(master, {("Customers", 14, "customer_id"): None})  # an ID blanked
    cc = _both(master)
    assert cc.cross_reused == ("followup_id",)

    # the same check through check_file (crm validate's path)
    _patch(master, {("Customers", 10, "phone"): "12"})
    _wb, full = check_file(master, BENCH_TODAY, cache=False)
    _wb, warm = check_file(master, BENCH_TODAY, cache=True)
    assert _dicts(warm) == _dicts(full)


def test_another_day_lists_or_settings_reuse_nothing_whole(master) -> None:
    _both(master)
    cc = _both(master, BENCH_TODAY + dt.timedelta(days=1))  # `today` is part of the key
    assert cc.reused_whole == () and cc.rechecked > 0
    cc = _both(master, BENCH_TODAY + dt.timedelta(days=1))
    assert cc.reused_whole == BOTH
    s = Sheet(master)  # Lists changed (a full save: every member rewritten)
    s.ws("列表").cell(2, 1).value = "高端制造"
    s.save()
    cc = _both(master, BENCH_TODAY + dt.timedelta(days=1))
    assert cc.reused_whole == ()
    cc = _both(master, BENCH_TODAY + dt.timedelta(days=1))
    assert cc.reused_whole == BOTH


def test_full_saves_with_rows_inserted_and_deleted(master) -> None:
    _both(master)
    s = Sheet(master)  # follow-ups: rows deleted and inserted, a customer deleted
    fol = s.ws("跟进记录")
    fol.delete_rows(5, 2)
    fol.insert_rows(10, 1)
    s.put_row("跟进记录", 10, s.row_values("跟进记录", 12))  # a copy: its ID twice
    s.ws("客户").delete_rows(3, 1)  # its follow-ups name a customer no longer there
    s.save()
    cc = _both(master)
    assert cc.reused_whole == () and cc.cross_reused == ()
    cc = _both(master)
    assert cc.reused_whole == BOTH
    s = Sheet(master)  # a follow-up appended at the end, one edited
    last = s.ws("跟进记录").max_row
    s.put_row("跟进记录", last + 1, s.row_values("跟进记录", 2))
    s.set("跟进记录", 20, "沟通开始", dt.datetime(2030, 1, 1, 9, 0))
    s.save()
    cc = _both(master)
    assert cc.reused_whole == () and cc.cross_reused == ("customer_id",)


def test_nothing_is_reused_whole_without_watching_the_source(master) -> None:
    """apply validates a workbook its rules changed in memory: never reused whole."""
    _both(master)
    cc = _both(master, watch=False)
    assert cc.reused_whole == ()
    cc = _both(master)  # the cache `watch=False` left knows no members: nothing whole yet
    assert cc.reused_whole == ()
    cc = _both(master)
    assert cc.reused_whole == BOTH


def test_a_file_written_during_the_check_is_not_reused_whole(master) -> None:
    _both(master)
    _both(master)
    cc = CheckCache.open(master)
    assert cc is not None
    cc.watch_source(master)
    _patch(master, {("Followups", 3, "owner"): "王五"})  # saved after the check began
    warm = validate(load(master), BENCH_TODAY, cache=cc)
    assert cc.reused_whole == ()
    _wb, full = check_file(master, BENCH_TODAY, cache=False)
    assert _dicts(warm) == _dicts(full)


def test_a_changed_member_other_than_the_data_sheets_reuses_nothing_whole(master) -> None:
    _both(master)
    tmp = master.with_name("rezipped.xlsx")
    with zipfile.ZipFile(master) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "docProps/app.xml":
                data = data.replace(b"</Properties>", b"<!-- x --></Properties>")
            dst.writestr(info, data)
    os.replace(tmp, master)
    cc = _both(master)
    assert cc.reused_whole == ()


def test_cross_rules_say_what_they_read() -> None:
    from crm_sheets.rules import RULES

    reads = {r.name: r.reads for r in RULES if r.reads}
    assert reads == {
        "customer_id": ("customers.customer_id", "customers.@row"),
        "followup_id": ("followups",),
        "followup_customer": ("followups", "customers.customer_id"),
        "followup_owner": ("followups", "customers.customer_id", "customers.owner"),
    }
    assert all(r.scope == "cross" for r in RULES if r.reads)


def test_member_digests_of_odd_zips(tmp_path, master) -> None:
    got = checkcache.member_digests(master)
    assert got is not None
    members, tabs = got
    assert tabs["客户"] == "xl/worksheets/sheet1.xml" and tabs["跟进记录"] in members
    assert checkcache.member_digests(master.read_bytes()) == got
    assert checkcache.member_digests(tmp_path / "missing.xlsx") is None
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"PK not a zip")
    assert checkcache.member_digests(bad) is None
    # a tab linked to something other than a plain worksheet part: no member for it
    odd = tmp_path / "odd.xlsx"
    with zipfile.ZipFile(master) as src, zipfile.ZipFile(odd, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/_rels/workbook.xml.rels":
                data = data.replace(
                    b'Target="worksheets/sheet2.xml"', b'Target="../x/../xl/worksheets/sheet2.xml"'
                )
            dst.writestr(info, data)
    odd_got = checkcache.member_digests(odd)
    assert odd_got is not None and odd_got[1]["跟进记录"] == ""


def test_member_digests_refuse_entities_and_huge_link_parts(tmp_path, master) -> None:
    # the digests may be taken before the zip-bomb guard has seen the file: workbook.xml
    # with an entity declaration, or a huge one, gives no digests (nothing reused whole)
    def rewrite(name: str, change) -> Path:
        out = tmp_path / name
        with zipfile.ZipFile(master) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
            for info in src.infolist():
                data = src.read(info)
                dst.writestr(info, change(data) if info.filename == "xl/workbook.xml" else data)
        return out

    lol = b'<?xml version="1.0"?><!DOCTYPE w [<!ENTITY a "aaaaaaaaaa">]>'
    entity = rewrite("entity.xlsx", lambda d: lol + d.split(b"?>", 1)[1].replace(b"/>", b' x="&a;"/>', 1))
    assert checkcache.member_digests(entity) is None
    huge = rewrite("huge.xlsx", lambda d: d.replace(b"</workbook>", b" " * (9 * 1024**2) + b"</workbook>"))
    assert checkcache.member_digests(huge) is None
    assert checkcache.member_digests(master) is not None
