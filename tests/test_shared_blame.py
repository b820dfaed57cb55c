"""Shared mode never blames the wrong person (issue 13 item 7).

The team's path: reps save the master in turn while the watcher validates and applies.
The engine's own writes (状态, 最近跟进时间, 跟进记录摘要, 更新时间, 商机阶段 set by a rule, IDs
for new rows) and what an earlier saver did are never attributed to a later saver; a save
that edits another rep's customer is still flagged.
"""

from __future__ import annotations

import datetime as dt
import shutil
import uuid
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from test_views_support import LI_CUSTOMER, TODAY, WANG_CUSTOMER, edit_view, make_view_home
from test_watch import excel_save, idle, latest_findings, wait_kind, watching

from crm_sheets.apply.state import engine_snapshot
from crm_sheets.audit import read as read_audit
from crm_sheets.reader import load
from crm_sheets.writeback.safe import file_sha256

LI = LI_CUSTOMER["customer_id"]
WANG = WANG_CUSTOMER["customer_id"]
OWNERSHIP = ("shared.edit_outside_rights", "shared.row_added_outside_rights",
             "shared.row_deleted", "shared.unknown_author")


def save_as(master: Path, tmp: Path, author: str, sheet: str = "客户",
            edits: dict[tuple[str, str], Any] | None = None,
            append: list[dict[str, Any]] | None = None) -> None:
    """A person opens the master as it is now, edits it and saves it (Excel's way)."""
    work = tmp / f"edit-{uuid.uuid4().hex[:8]}.xlsx"
    shutil.copy(master, work)
    edit_view(work, sheet, edits, append=append, author=author)
    excel_save(master, work.read_bytes())
    work.unlink()


def ownership_findings(home) -> list[dict]:
    return [f for f in latest_findings(home)["findings"] if f["code"] in OWNERSHIP]


def one_save(w, home, tmp, author: str, **kw) -> tuple[dict, list[dict]]:
    """Save, wait for validation, ownership check and apply; (findings event data, ownership)."""
    start = w.seq
    save_as(home.master, tmp, author, **kw)
    ev = wait_kind(w, "findings", start)
    assert ev.data["author"] == author
    wait_kind(w, ("applied", "apply_unchanged", "apply_refused"), ev.seq)
    idle(w)
    return ev.data, ownership_findings(home)


def test_engine_writes_and_earlier_saves_are_never_blamed_on_the_next_saver(tmp_path):
    vh = make_view_home(tmp_path)
    home = vh.home
    with watching(home, today=lambda: TODAY) as w:
        assert engine_snapshot(home.state, home.master) is not None  # the first apply wrote
        # Rep A (李四) logs a visit on their own customer that moves its stage, and adds a
        # customer of their own without an ID (the engine gives it one).
        _, found = one_save(w, home, tmp_path, "李四", sheet="跟进记录", append=[{
            "*客户编号": LI, "*沟通开始": dt.datetime(2024, 5, 30, 10, 0),
            "沟通结束": dt.datetime(2024, 5, 30, 11, 0), "*沟通方式": "拜访",
            "*沟通内容": "现场演示，客户认可方案", "阶段更新": "方案报价", "*跟进人": "李四"}])
        assert found == []
        _, found = one_save(w, home, tmp_path, "李四", append=[{
            "*客户名称": "杭州李四新开拓网络有限公司", "所属行业": "信息技术", "省": "浙江省",
            "市": "杭州市", "*联系人": "陈一", "*联系方式": "13712345678", "*负责人": "李四",
            "商机阶段": "线索", "客户类型": "潜在客户", "客户来源": "转介绍"}])
        assert found == []
        after_engine = load(home.master)
        li_row = after_engine.customers_by_id()[LI].values
        assert li_row["stage"] == "方案报价"  # the engine moved it (a rule) …
        assert "现场演示" in (li_row.get("followup_summary") or "")  # … and wrote the summary
        new_ids = [r.values["customer_id"] for r in after_engine.customers.records
                   if r.values.get("name") == "杭州李四新开拓网络有限公司"]
        assert new_ids and new_ids[0]  # the engine gave the new row its ID
        snap = engine_snapshot(home.state, home.master)
        assert snap is not None and snap.sha256 == file_sha256(home.master)

        # Rep B (王五) changes only a note on their own customer: nothing of A's or the
        # engine's is theirs, so nothing is judged against them.
        data, found = one_save(w, home, tmp_path, "王五", edits={(WANG, "备注"): "周五回访"})
        assert found == [], found
        assert data["changed"] == 1  # the log line counts B's one row, not the engine's
        assert latest_findings(home)["saved_by"] == "王五"

        # A true positive stays: B edits A's customer.
        _, found = one_save(w, home, tmp_path, "王五", edits={(LI, "备注"): "王五改的"})
        assert [(f["code"], f["customer_id"], f["column"]) for f in found] == [
            ("shared.edit_outside_rights", LI, "notes")]
        assert "王五" in found[0]["message"] and "王五改的" in found[0]["message"]
    saves = [e for e in read_audit(home.state) if e["action"] == "watch.save"]
    assert [e["ownership"] for e in saves if e["saved_by"] == "王五"] == [0, 1]
    # the audit log says who changed which cell, each under the save that made it
    from crm_sheets import audit

    by_wang = audit.query(home.state, user="wang", action="watch.edit")
    assert [(e["customer_id"], e["column"], e["new"]) for e in by_wang] == [
        (WANG, "notes", "周五回访"), (LI, "notes", "王五改的")]
    by_li = audit.query(home.state, user="li", action="watch.edit")
    assert {e["column"] for e in by_li} == {"*"} and len(by_li) == 2  # the follow-up, the customer
    assert not [e for e in audit.query(home.state, action="watch.edit")
                if e["column"] in ("status", "followup_summary", "updated_at", "stage",
                                   "last_followup", "customer_id")]


def test_a_cli_apply_is_the_engines_write_not_the_last_savers(tmp_path):
    from crm_sheets.cli import cli

    vh = make_view_home(tmp_path)
    home = vh.home
    with watching(home, today=lambda: TODAY) as w:
        _, found = one_save(w, home, tmp_path, "李四", edits={(LI, "备注"): "李四的备注"})
        assert found == []
        # The admin runs a merge-customers from the command line: the file still carries
        # 李四's name as its last saver, but the change is the engine's.
        start = w.seq
        from crm_sheets import accounts

        accounts.login(home, "admin", "correct horse battery")
        extra = load(home.master).customers.records[5].values["customer_id"]
        res = CliRunner().invoke(cli, ["merge-customers", str(home.master), LI, extra,
                                       "--today", TODAY.isoformat()])
        assert res.exit_code == 0, res.output
        ev = wait_kind(w, "findings", start)
        idle(w)
        assert ev.data["author"] != "李四"
        assert ownership_findings(home) == []
        # and the next save by 李四 is judged only for what 李四 changed
        _, found = one_save(w, home, tmp_path, "李四", edits={(WANG, "备注"): "不是我的客户"})
        assert [(f["customer_id"], f["column"]) for f in found] == [(WANG, "notes")]


def test_snapshot_follows_every_engine_write_and_stays_out_of_state_backups(tmp_path):
    from crm_sheets.backup_admin import create_state_backup

    vh = make_view_home(tmp_path)
    home = vh.home
    from crm_sheets.apply import run_apply

    out = run_apply(home.master, today=TODAY, who="admin", home=home)
    assert out.written
    snap = engine_snapshot(home.state, home.master)
    assert snap is not None and snap.sha256 == file_sha256(home.master)
    assert snap.path.read_bytes() == home.master.read_bytes()
    assert oct(snap.path.stat().st_mode & 0o777) == oct(0o600)
    assert engine_snapshot(home.state, tmp_path / "other.xlsx") is None  # another workbook
    other = home.root / "试算.xlsx"  # an apply on another file in the home keeps its own copy
    shutil.copy(home.master, other)
    assert run_apply(other, today=TODAY + dt.timedelta(days=400), who="admin", home=home).written
    assert engine_snapshot(home.state, other) is not None
    assert engine_snapshot(home.state, home.master) == snap
    import zipfile

    with zipfile.ZipFile(create_state_backup(home, "manual")) as z:
        assert not [n for n in z.namelist() if "engine-snapshot" in n]
    # a restore puts back an older master: that is the engine's write too
    from crm_sheets.backup_admin import restore

    restore(home, out.backup.name.removesuffix(".zip"))
    snap = engine_snapshot(home.state, home.master)
    assert snap is not None and snap.action == "backup.restore"
    assert snap.sha256 == file_sha256(home.master) and snap.path.is_file()
    assert len(list(snap.path.parent.glob("master-*.xlsx"))) == 1  # older copies removed


def test_a_libreoffice_save_after_an_engine_write_blames_only_its_own_edit(tmp_path):
    """LibreOffice re-saves every cell the engine wrote (dates, IDs, hidden sheets): none of
    that is the saver's edit; the one cell they changed on another rep's customer is."""
    from helpers import libreoffice_convert
    from test_watch import set_author

    from crm_sheets.apply import run_apply
    from crm_sheets.views import shared_mode_check

    vh = make_view_home(tmp_path)
    home = vh.home
    assert run_apply(home.master, today=TODAY, who="engine", home=home).written
    snap = engine_snapshot(home.state, home.master)
    assert snap is not None
    work = tmp_path / "edit" / "CRM.xlsx"
    work.parent.mkdir()
    shutil.copy(home.master, work)
    edit_view(work, "客户", {(WANG, "备注"): "周五回访", (LI, "备注"): "王五改的"})
    saved = libreoffice_convert(work, "xlsx:Calc MS Excel 2007 XML", tmp_path / "lo")
    after = tmp_path / "after.xlsx"
    after.write_bytes(set_author(saved.read_bytes(), "王五"))
    found = shared_mode_check(load(snap.path), load(after), "王五", home)
    assert [(f.code, f.customer_id, f.column) for f in found] == [
        ("shared.edit_outside_rights", LI, "notes")]
