"""The team's hand-back path (issues 13 and 17): a copy is built, edited like a person
would in Excel (openpyxl), handed back through `crm views merge` or the watcher's inbox
cycle, applied, and the master checked."""

from __future__ import annotations

import datetime as dt
import json
import os

import openpyxl
import pytest
from click.testing import CliRunner
from test_views_support import (
    LI_CUSTOMER,
    PW,
    TODAY,
    WANG_CUSTOMER,
    edit_view,
    make_view_home,
)

from crm_sheets import accounts
from crm_sheets.apply import run_apply
from crm_sheets.cli import cli
from crm_sheets.reader import load
from crm_sheets.views import build_views, merge_view
from crm_sheets.watch.cycle import process_inbox

LI = LI_CUSTOMER["customer_id"]
WANG = WANG_CUSTOMER["customer_id"]


@pytest.fixture
def vh(tmp_path, crm_state_dir):
    return make_view_home(tmp_path)


def _view(vh, user=None, role=None, **kw):
    [p] = build_views(vh.master, vh.home, users=[user] if user else None,
                      roles=[role] if role else None, today=TODAY, **kw)
    return p


def _to_inbox(vh, p, name=None):
    vh.home.inbox.mkdir(exist_ok=True)
    target = vh.home.inbox / (name or p.name)
    os.replace(p, target)
    return target


def _customer(vh, cid):
    return load(vh.master).customers_by_id()[cid].values


def _issue_rows(p, code):
    """Rows of the copy's Issues sheet (问题) carrying this finding code."""
    wb = openpyxl.load_workbook(p)
    if "问题" not in wb.sheetnames:
        return []
    return [r for r in wb["问题"].iter_rows(min_row=2, values_only=True) if code in r]


def _cli_merge(vh, p, *extra):
    accounts.login(vh.home, "admin", PW)
    return CliRunner().invoke(cli, ["views", "merge", str(vh.master), str(p),
                                    "--today", TODAY.isoformat(), *extra])


# --- 13.1 a stage moved in a copy reaches the master ----------------------------------------

def test_stage_update_in_a_reps_copy_moves_stage_and_type_after_apply(vh):
    wang = WANG_CUSTOMER["customer_id"]
    p = _view(vh, "wang")
    edit_view(p, "跟进记录", append=[
        {"客户编号": wang, "沟通开始": dt.datetime(2024, 5, 30, 10), "沟通方式": "电话",
         "沟通内容": "客户有采购意向", "阶段更新": "意向"}], author="王五")
    inbox = _to_inbox(vh, p)
    rep = process_inbox(vh.home, inbox)
    assert rep.status == "done" and rep.landed >= 1
    run_apply(vh.master, today=TODAY, home=vh.home)
    values = _customer(vh, wang)
    assert values["stage"] == "意向" and values["customer_type"] == "意向客户"
    fu = [r.values for r in load(vh.master).followups.records
          if r.values.get("content") == "客户有采购意向"]
    assert fu and fu[0]["recorded_at"] is not None  # stamped by apply, as a typed row


# --- 13.2 a new customer and its first follow-up in one hand-back --------------------------

@pytest.mark.parametrize("column", ["客户编号", "客户名称"])
def test_new_customer_and_its_followup_land_linked_in_one_handback(vh, column):
    p = _view(vh, "li")
    name = "苏州展会新认识科技有限公司"
    edit_view(p, "客户", append=[{"客户名称": name, "联系人": "周八", "联系方式": "13766665555",
                                 "所属行业": "信息技术", "商机阶段": "线索"}])
    edit_view(p, "跟进记录", append=[
        {column: name, "沟通开始": dt.datetime(2024, 5, 31, 9), "沟通方式": "拜访",
         "沟通内容": "展会上初次交流", "阶段更新": "意向"}])
    res = _cli_merge(vh, p)
    assert res.exit_code == 0, res.output
    wb = load(vh.master)
    [new] = [r.values for r in wb.customers.records if r.values.get("name") == name]
    [fu] = [r.values for r in wb.followups.records if r.values.get("content") == "展会上初次交流"]
    assert new["customer_id"].startswith("C20240601") and fu["customer_id"] == new["customer_id"]
    assert fu["owner"] == "李四" and new["owner"] == "李四"
    run_apply(vh.master, today=TODAY, home=vh.home)
    assert _customer(vh, new["customer_id"])["stage"] == "意向"
    # handing the same copy in again adds neither twice
    again = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert not again.added_customers and not again.added_followups and not again.rejected


def test_followup_for_a_rejected_new_customer_says_why(vh):
    p = _view(vh, "li")
    edit_view(p, "客户", append=[{"客户名称": "坏数据公司", "联系人": "钱七", "联系方式": "12345"}])
    edit_view(p, "跟进记录", append=[
        {"客户编号": "坏数据公司", "沟通开始": dt.datetime(2024, 5, 31, 9), "沟通方式": "电话",
         "沟通内容": "x"}])
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    codes = sorted(f.code for f in res.rejected)
    assert codes == ["merge.rejected_invalid", "merge.rejected_new_customer_not_added"]
    assert not res.added_customers and not res.added_followups


# --- 17.10 unknown saver: set aside, not merged ------------------------------------------------

@pytest.mark.parametrize("author", [None, "陌生人"])
def test_watcher_sets_aside_a_copy_with_missing_or_unknown_saver(vh, author):
    p = _view(vh, "li")
    edit_view(p, "客户", {(LI, "备注"): "谁改的？"}, author=author)
    if author is None:  # openpyxl leaves the property empty unless told; make sure it is gone
        wb = openpyxl.load_workbook(p)
        wb.properties.lastModifiedBy = None
        wb.save(p)
    before = vh.master.read_bytes()
    rep = process_inbox(vh.home, _to_inbox(vh, p))
    assert rep.status == "needs_attention"
    assert vh.master.read_bytes() == before
    assert rep.moved_to is not None and rep.moved_to.parent.name == "needs-attention"
    text = rep.moved_to.with_name(rep.moved_to.name + ".findings.txt").read_text("utf-8")
    assert "crm views merge" in text and "保存者" in text
    # the admin confirms by merging it by hand: it lands, and leaves the folder
    res = _cli_merge(vh, rep.moved_to)
    assert res.exit_code == 0, res.output
    assert _customer(vh, LI)["notes"] == "谁改的？"


# --- 17.11 the service department copy adds follow-ups ----------------------------------------

def test_service_department_copy_adds_followups_named_or_by_the_saver(vh):
    p = _view(vh, role="service")
    edit_view(p, "跟进记录", append=[
        {"客户编号": WANG, "沟通开始": dt.datetime(2024, 5, 30, 15), "沟通方式": "电话",
         "沟通内容": "客服回访一", "跟进人": "客服一号"},
        {"客户编号": LI, "沟通开始": dt.datetime(2024, 5, 30, 16), "沟通方式": "电话",
         "沟通内容": "客服回访二"},
        {"客户编号": LI, "沟通开始": dt.datetime(2024, 5, 30, 17), "沟通方式": "电话",
         "沟通内容": "冒名", "跟进人": "李四"},
    ], author="客服一号")
    rep = process_inbox(vh.home, _to_inbox(vh, p))
    assert rep.status == "done"
    fus = {r.values["content"]: r.values for r in load(vh.master).followups.records}
    assert fus["客服回访一"]["owner"] == "客服一号"
    assert fus["客服回访二"]["owner"] == "客服一号"  # blank: the saver, a service account
    assert "冒名" not in fus  # a rep's name in a service copy is rejected
    assert [f["code"] for f in rep.result["rejected"]] == ["merge.rejected_owner_field"]


def test_service_department_copy_blank_owner_merged_by_admin_is_rejected_with_reason(vh):
    p = _view(vh, role="service")
    edit_view(p, "跟进记录", append=[
        {"客户编号": WANG, "沟通开始": dt.datetime(2024, 5, 30, 15), "沟通方式": "电话",
         "沟通内容": "没写跟进人"}])
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert [f.code for f in res.rejected] == ["merge.owner_needed"]
    assert "跟进人" in res.rejected[0].message


# --- 17.5 a duplicated customer ID leaks nothing into a rep's copy ---------------------------

def test_duplicated_id_never_leaks_another_reps_followups_into_a_copy(vh):
    from test_views_support import LI_FOLLOWUP, WANG_FOLLOWUP, xlsx_text

    from crm_sheets.template import build_workbook

    # the demo's shape: one ID on two reps' rows (C20250202001 on 王芳's and 李娜's)
    wang_dup = dict(WANG_CUSTOMER, customer_id=LI)
    secret = dict(WANG_FOLLOWUP, customer_id=LI, content="王家机密沟通内容",
                  next_action="王家下一步报价", next_date=dt.date(2024, 6, 9))
    build_workbook(vh.master, customers=[LI_CUSTOMER, wang_dup],
                   followups=[LI_FOLLOWUP, secret],
                   lists={"owners": ["李四", "王五"], "service": ["客服一号"]})
    p = _view(vh, "li")
    text = xlsx_text(p)
    for leaked in ("王家机密沟通内容", "王家下一步报价", WANG_CUSTOMER["name"], "王五"):
        assert leaked not in text, leaked
    assert any(LI in str(r) and "多行" in str(r) for r in _issue_rows(p, "view.ambiguous_id"))
    # a follow-up added in the copy for the ambiguous ID is refused with a reason, not joined
    edit_view(p, "跟进记录", append=[{"客户编号": LI, "沟通开始": dt.datetime(2024, 5, 30, 9),
                                      "沟通方式": "电话", "沟通内容": "补一条"}])
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert [f.code for f in res.rejected] == ["merge.rejected_ambiguous_customer"]
    assert not res.written


# --- 13.12 an encrypted copy in the inbox --------------------------------------------------------

def _reencrypt(p, password, edit):
    """Open an encrypted copy like Excel does (decrypt), edit it, save it encrypted again."""
    from crm_sheets.views.crypto import decrypt_bytes, encrypt_bytes

    plain = p.with_name("plain-" + p.name)
    plain.write_bytes(decrypt_bytes(p.read_bytes(), password))
    edit(plain)
    p.write_bytes(encrypt_bytes(plain.read_bytes(), password))
    plain.unlink()


def test_encrypted_department_copy_is_merged_by_the_watcher(vh, tmp_path):
    pw_file = tmp_path / "pw.txt"
    pw_file.write_text("部门密码 2024\n", encoding="utf-8")
    accounts.login(vh.home, "admin", PW)
    res = CliRunner().invoke(cli, ["views", "build", str(vh.master), "--role", "service",
                                   "--encrypt", "--password-file", str(pw_file),
                                   "--today", TODAY.isoformat()])
    assert res.exit_code == 0, res.output
    p = vh.home.views / "service.xlsx"
    _reencrypt(p, "部门密码 2024", lambda q: edit_view(q, "跟进记录", append=[
        {"客户编号": WANG, "沟通开始": dt.datetime(2024, 5, 30, 15), "沟通方式": "电话",
         "沟通内容": "加密副本里的回访", "跟进人": "客服一号"}], author="客服一号"))
    rep = process_inbox(vh.home, _to_inbox(vh, p))
    assert rep.status == "done" and rep.landed == 1
    assert any(r.values.get("content") == "加密副本里的回访"
               for r in load(vh.master).followups.records)


def test_encrypted_copy_the_engine_cannot_open_is_set_aside_once_with_a_message(vh):
    p = _view(vh, "li", encrypt_password="李四自己的密码")  # like `crm views mine --encrypt`
    inbox = _to_inbox(vh, p)
    before = vh.master.read_bytes()
    rep = process_inbox(vh.home, inbox)
    assert rep.status == "needs_attention" and not inbox.exists()
    assert rep.moved_to == vh.home.inbox / "needs-attention" / p.name
    text = rep.moved_to.with_name(p.name + ".findings.txt").read_text("utf-8")
    assert "加密" in text and "crm views merge" in text and "not a complete" not in text
    assert vh.master.read_bytes() == before
    # the admin merges it by hand with the password; it leaves needs-attention
    pw = vh.home.root.parent / "pw.txt"
    pw.write_text("李四自己的密码\n", encoding="utf-8")
    res = _cli_merge(vh, rep.moved_to, "--password-file", str(pw))
    assert res.exit_code == 0, res.output
    assert not rep.moved_to.exists() and (vh.home.inbox / "done" / p.name).exists()


def test_watcher_sets_an_undecryptable_copy_aside_instead_of_calling_it_damaged(vh):
    from test_watch import fast_options, wait_kind

    from crm_sheets.watch import Watcher

    p = _view(vh, "li", encrypt_password="别人的密码")
    w = Watcher(vh.home, fast_options())
    import threading

    th = threading.Thread(target=w.run, daemon=True)
    th.start()
    try:
        assert w.ready.wait(10)
        start = w.seq
        _to_inbox(vh, p)
        ev = wait_kind(w, "merge_set_aside", start, timeout=20)
        assert "加密" in ev.text
    finally:
        w.stop()
        th.join(10)
    assert not [e for e in w.events if e.kind in ("corrupt", "retry")]
    assert (vh.home.inbox / "needs-attention" / p.name).exists()


# --- 13.13 a manual merge of an inbox file files it away ------------------------------------------

def test_manual_merge_of_an_inbox_copy_moves_it_so_the_watcher_does_not_merge_it_again(vh):
    p = _view(vh, "li")
    edit_view(p, "客户", {(LI, "备注"): "手动合并"}, author="李四")
    inbox = _to_inbox(vh, p)
    res = _cli_merge(vh, inbox)
    assert res.exit_code == 0, res.output
    assert not inbox.exists()
    done = vh.home.inbox / "done" / p.name
    assert done.exists() and (vh.home.inbox / "done" / (p.name + ".findings.txt")).exists()
    assert "inbox" in res.output
    assert [q for q in vh.home.inbox.iterdir() if q.is_file()] == []


# --- 13.14 building over a copy someone has open ----------------------------------------------

def test_build_does_not_overwrite_a_copy_open_in_an_editor(vh):
    accounts.login(vh.home, "admin", PW)
    run = CliRunner().invoke(cli, ["views", "build", str(vh.master), "--today",
                                   TODAY.isoformat()])
    assert run.exit_code == 0, run.output
    li = vh.home.views / "sales-li.xlsx"
    lock = vh.home.views / ".~lock.sales-li.xlsx#"
    lock.write_text(",李四,pc-li,01.06.2024 10:00,file:///home/li/.config/libreoffice/4;",
                    encoding="utf-8")
    before = li.read_bytes()
    run = CliRunner().invoke(cli, ["views", "build", str(vh.master), "--today",
                                   TODAY.isoformat()])
    assert run.exit_code == 1
    assert "sales-li.xlsx" in run.output and "李四" in run.output and "打开" in run.output
    assert li.read_bytes() == before
    assert "sales-wang.xlsx" in run.output  # the others were built


# --- 13.15 the reasons reach the person ---------------------------------------------------------

def test_rejections_are_explained_beside_the_copy_and_in_the_next_copys_issues(vh):
    p = _view(vh, "li")
    edit_view(p, "客户", {(LI, "负责人"): "王五", (LI, "备注"): "这条能合并"}, author="李四")
    rep = process_inbox(vh.home, _to_inbox(vh, p))
    assert rep.status == "done" and rep.rejected == 1
    text = rep.moved_to.with_name(rep.moved_to.name + ".findings.txt").read_text("utf-8")
    assert "已拒绝（1）" in text and "负责人" in text and "王五" in text and LI in text
    assert json.loads(rep.findings_path.read_text("utf-8"))["rejected"][0]["column"] == "owner"
    nxt = _view(vh, "li")
    rows = _issue_rows(nxt, "merge.rejected_owner_field")
    assert any("负责人" in str(r) and p.name in str(r) for r in rows)
    # a clean hand-back clears it
    edit_view(nxt, "客户", {(LI, "备注"): "再改一次"}, author="李四")
    assert process_inbox(vh.home, _to_inbox(vh, nxt)).rejected == 0
    assert _issue_rows(_view(vh, "li"), "merge.rejected_owner_field") == []


# --- 17.4 (watcher half) a file that stops the engine never stops it twice --------------------

def test_copy_is_moved_out_of_the_inbox_before_it_is_read(vh, tmp_path):
    from crm_sheets.watch.adapters import Hooks

    where = []

    def merge(master, path, **kw):
        where.append(path.parent.name)
        raise MemoryError("memory allocation of 549755813888 bytes failed")

    inbox = _to_inbox(vh, _view(vh, "li"))
    rep = process_inbox(vh.home, inbox, hooks=Hooks(merge_view=merge))
    assert where == ["processing"] and rep.status == "rejected" and not inbox.exists()


def test_a_copy_left_in_processing_by_a_crash_is_set_aside_at_start(vh):
    from test_watch import fast_options

    from crm_sheets.watch import Watcher

    stuck = vh.home.inbox / "processing" / "XFD1048576.xlsx"
    stuck.parent.mkdir(parents=True)
    stuck.write_bytes(b"PK\x03\x04 a file the engine died reading")
    w = Watcher(vh.home, fast_options())
    import threading

    th = threading.Thread(target=w.run, daemon=True)
    th.start()
    try:
        assert w.ready.wait(10)
    finally:
        w.stop()
        th.join(10)
    assert not stuck.exists()
    filed = vh.home.inbox / "rejected" / "XFD1048576.xlsx"
    assert filed.exists()
    assert "中断" in filed.with_name(filed.name + ".findings.txt").read_text("utf-8")
    assert [e for e in w.events if e.kind == "merge_rejected"]


def test_an_inbox_file_that_never_reads_is_set_aside_not_retried_at_every_start(vh):
    import threading

    from test_watch import fast_options, wait_kind

    from crm_sheets.watch import Watcher

    w = Watcher(vh.home, fast_options(retries=1, retry_delay=0.1))
    th = threading.Thread(target=w.run, daemon=True)
    th.start()
    try:
        assert w.ready.wait(10)
        start = w.seq
        vh.home.inbox.mkdir(exist_ok=True)
        (vh.home.inbox / "broken.xlsx").write_bytes(b"this is not a workbook at all")
        ev = wait_kind(w, "merge_rejected", start, timeout=20)
        assert "无法读取" in ev.text and "不是完整的 xlsx" in ev.text and "zip" not in ev.text
    finally:
        w.stop()
        th.join(10)
    assert not (vh.home.inbox / "broken.xlsx").exists()
    assert (vh.home.inbox / "rejected" / "broken.xlsx").exists()


def test_watcher_merges_a_stage_update_and_applies_it_at_once(vh):
    """The whole loop: a rep's copy in inbox/ → merged → applied → the stage has moved,
    and the watcher's line points at the findings file."""
    import threading

    from test_watch import APPLY_DONE, fast_options, wait_kind

    from crm_sheets.watch import Watcher

    p = _view(vh, "wang")
    edit_view(p, "跟进记录", append=[
        {"客户编号": WANG, "沟通开始": dt.datetime(2024, 5, 31, 10), "沟通方式": "拜访",
         "沟通内容": "谈到了预算", "阶段更新": "意向"}], author="王五")
    w = Watcher(vh.home, fast_options(today=lambda: TODAY))
    th = threading.Thread(target=w.run, daemon=True)
    th.start()
    try:
        assert w.ready.wait(10)
        wait_kind(w, APPLY_DONE, 0, timeout=30)  # the first look at the master
        start = w.seq
        _to_inbox(vh, p)
        ev = wait_kind(w, "merged", start, timeout=30)
        assert p.name + ".findings.txt" in ev.text
        wait_kind(w, "applied", ev.seq, timeout=30)
    finally:
        w.stop()
        th.join(10)
    values = _customer(vh, WANG)
    assert values["stage"] == "意向" and values["customer_type"] == "意向客户"
