"""Merging handed-back views (issue 7): signature, rights of the view's owner, three-way
merge, new rows, the CLI, and the shared-mode guard."""

from __future__ import annotations

import datetime as dt
import json

import openpyxl
import pytest
from click.testing import CliRunner
from test_views_support import (
    LI_CUSTOMER,
    LI_FOLLOWUP,
    PW,
    TODAY,
    WANG_CUSTOMER,
    edit_view,
    make_view_home,
)

from crm_sheets import accounts
from crm_sheets.audit import read as read_audit
from crm_sheets.cli import cli
from crm_sheets.reader import load
from crm_sheets.views import build_views, merge_view, shared_mode_check
from crm_sheets.views.common import MANIFEST_SHEET
from crm_sheets.writeback.xlsxpatch import patch_workbook

LI = LI_CUSTOMER["customer_id"]
WANG = WANG_CUSTOMER["customer_id"]


@pytest.fixture
def vh(tmp_path, crm_state_dir):
    return make_view_home(tmp_path)


def _li_view(vh, **kw):
    [p] = build_views(vh.master, vh.home, users=["li"], today=TODAY, **kw)
    return p


def _customer(path, cid):
    return load(path).customers_by_id()[cid].values


def _codes(findings):
    return [f.code for f in findings]


def test_permitted_edit_lands_others_are_rejected(vh):
    p = _li_view(vh)
    edit_view(p, "客户", {(LI, "备注"): "下周再联系", (LI, "负责人"): "王五",
                         (LI, "状态"): "休眠", (LI, "联系方式"): "13922223333"})
    before = load(vh.master).meta["revision"]
    r = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert r.written and not r.refused
    landed = {f.column for f in r.landed}
    assert landed == {"notes", "phone"}
    rejected = {f.column: f.code for f in r.rejected}
    assert rejected == {"owner": "merge.rejected_owner_field",
                        "status": "merge.rejected_engine_column"}
    values = _customer(vh.master, LI)
    assert values["notes"] == "下周再联系" and values["phone"] == "13922223333"
    assert values["owner"] == "李四" and values["status"] is None
    assert int(load(vh.master).meta["revision"]) == int(before) + 1
    events = [e for e in read_audit(vh.home.state) if e.get("action") == "views.merge"]
    assert {e.get("column") for e in events} >= {"notes", "phone"}
    assert r.backup is not None and r.backup.exists()


def test_admin_merging_a_reps_view_gets_the_reps_rights(vh):
    """A row of another owner pasted into li's view is rejected even when admin merges."""
    p = _li_view(vh)
    wb = openpyxl.load_workbook(p)
    ws = wb["客户"]
    headers = [c.value for c in ws[1]]
    r = ws.max_row + 1
    ws.cell(r, headers.index("客户编号") + 1).value = WANG
    ws.cell(r, headers.index("客户名称") + 1).value = WANG_CUSTOMER["name"]
    ws.cell(r, headers.index("备注") + 1).value = "li was here"
    wb.save(p)
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert _codes(res.rejected) == ["merge.rejected_foreign_row"]
    assert _customer(vh.master, WANG)["notes"] == WANG_CUSTOMER["notes"]


def test_edit_to_a_customer_reassigned_since_is_rejected_not_owner(vh):
    p = _li_view(vh)
    wb = load(vh.master)
    row = wb.customers_by_id()[LI].row
    col = wb.customers.columns["owner"]
    tmp = vh.master.with_name("tmp.xlsx")
    patch_workbook(vh.master, tmp, {(wb.customers.sheet_name, row, col): "王五"})
    tmp.replace(vh.master)
    edit_view(p, "客户", {(LI, "备注"): "still mine?"})
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert _codes(res.rejected) == ["merge.rejected_not_owner"] and not res.written
    assert _customer(vh.master, LI)["notes"] == LI_CUSTOMER["notes"]


def test_locked_column_for_service_and_marketing(vh):
    paths = {p.stem: p for p in build_views(vh.master, vh.home, roles=["service", "marketing"],
                                            today=TODAY)}
    edit_view(paths["service"], "客户", {(LI, "客户名称"): "改名有限公司"})
    res = merge_view(vh.master, paths["service"], home=vh.home, runner=vh.actor("admin"),
                     today=TODAY)
    assert _codes(res.rejected) == ["merge.rejected_locked_column"]
    edit_view(paths["marketing"], "客户", {(LI, "联系方式"): "13500000000"})
    res = merge_view(vh.master, paths["marketing"], home=vh.home, runner=vh.actor("admin"),
                     today=TODAY)
    assert _codes(res.rejected) == ["merge.rejected_locked_column"]
    assert _customer(vh.master, LI)["phone"] == LI_CUSTOMER["phone"]


def test_concurrent_change_is_a_conflict_not_an_overwrite(vh):
    p = _li_view(vh)
    wb = load(vh.master)
    row = wb.customers_by_id()[LI].row
    tmp = vh.master.with_name("tmp.xlsx")
    patch_workbook(vh.master, tmp, {(wb.customers.sheet_name, row, wb.customers.columns["notes"]):
                                    "经理改的"})
    tmp.replace(vh.master)
    edit_view(p, "客户", {(LI, "备注"): "销售改的", (LI, "职位"): "总经理"})
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert _codes(res.conflicts) == ["merge.conflict"]
    assert "经理改的" in res.conflicts[0].message and "销售改的" in res.conflicts[0].message
    assert [f.column for f in res.landed] == ["contact_title"]
    values = _customer(vh.master, LI)
    assert values["notes"] == "经理改的" and values["contact_title"] == "总经理"


def test_new_customer_and_followup_get_ids_and_owner(vh):
    p = _li_view(vh)
    edit_view(p, "客户", append=[
        {"客户名称": "杭州全新网络科技有限公司", "联系人": "赵六", "联系方式": "13700001111",
         "所属行业": "信息技术"},
        {"客户名称": "坏数据公司", "联系人": "钱七", "联系方式": "12345"},  # invalid phone
        {"客户名称": WANG_CUSTOMER["name"], "联系人": "王秘书", "联系方式": WANG_CUSTOMER["phone"]},
    ])
    edit_view(p, "跟进记录", append=[
        {"客户编号": LI, "沟通开始": dt.datetime(2024, 5, 30, 10), "沟通方式": "电话",
         "沟通内容": "电话回访"},
        {"客户编号": WANG, "沟通开始": dt.datetime(2024, 5, 30, 11), "沟通方式": "电话",
         "沟通内容": "偷看别人的客户"},
    ])
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert res.added_customers == ["C20240601001"]
    assert len(res.added_followups) == 1 and res.added_followups[0].startswith("F20240601")
    assert sorted(_codes(res.rejected)) == ["merge.rejected_duplicate", "merge.rejected_invalid",
                                            "merge.rejected_unknown_customer"]
    wb = load(vh.master)
    new = wb.customers_by_id()["C20240601001"].values
    assert new["owner"] == "李四" and new["name"] == "杭州全新网络科技有限公司"
    fu = [r.values for r in wb.followups.records if r.values["followup_id"] == res.added_followups[0]]
    assert fu[0]["owner"] == "李四" and fu[0]["customer_name"] == LI_CUSTOMER["name"]
    # handing the same file in again adds nothing twice
    again = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert not again.added_customers and not again.added_followups
    assert len(load(vh.master).customers.records) == len(wb.customers.records)


def test_deleted_row_is_reported_never_deleted(vh):
    p = _li_view(vh)
    edit_view(p, "跟进记录", delete_ids=(LI_FOLLOWUP["followup_id"],))
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert _codes(res.notes) == ["merge.row_deleted"] and not res.written
    assert any(r.values["followup_id"] == LI_FOLLOWUP["followup_id"]
               for r in load(vh.master).followups.records)


def test_tampered_manifest_is_refused_and_master_untouched(vh):
    p = _li_view(vh)
    wb = openpyxl.load_workbook(p)
    ws = wb[MANIFEST_SHEET]
    header = json.loads(ws["B1"].value)
    header["role"] = "manager"  # try to promote the view
    ws["B1"].value = json.dumps(header, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    wb["客户"].cell(2, 2).value = "篡改"
    wb.save(p)
    before = vh.master.read_bytes()
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert res.refused and _codes(res.rejected) == ["merge.signature_invalid"]
    assert vh.master.read_bytes() == before
    assert not list(vh.home.backups.glob("*"))


def test_view_handed_in_by_someone_else_is_refused(vh):
    p = _li_view(vh)
    edit_view(p, "客户", {(LI, "备注"): "x"})
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("wang"), today=TODAY)
    assert res.refused and _codes(res.rejected) == ["merge.wrong_account"]
    edit_view(p, "客户", {(LI, "备注"): "y"}, author="王五")  # the watcher goes by the saver
    res = merge_view(vh.master, p, home=vh.home, runner=None, today=TODAY)
    assert res.refused
    edit_view(p, "客户", {(LI, "备注"): "z"}, author="李四")
    res = merge_view(vh.master, p, home=vh.home, runner=None, today=TODAY)
    assert not res.refused and res.written
    assert _customer(vh.master, LI)["notes"] == "z"


def test_encrypted_view_merges_with_its_password(vh):
    p = _li_view(vh, encrypt_password="pass word 42")
    from crm_sheets.errors import Refused

    with pytest.raises(Refused):
        merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    res = merge_view(vh.master, p, home=vh.home, runner=vh.actor("admin"), today=TODAY,
                     password="pass word 42")
    assert not res.refused and not res.written  # unchanged copy: nothing to do


def test_cli_merge_prints_and_exits(vh, tmp_path):
    p = _li_view(vh)
    edit_view(p, "客户", {(LI, "备注"): "cli note", (LI, "负责人"): "王五"})
    runner = CliRunner()
    accounts.login(vh.home, "li", PW)
    res = runner.invoke(cli, ["views", "merge", str(vh.master), str(p)])
    assert res.exit_code == 1 and "合并视图需要管理员权限" in res.output
    accounts.login(vh.home, "admin", PW)
    res = runner.invoke(cli, ["views", "merge", str(vh.master), str(p), "--dry-run",
                              "--today", TODAY.isoformat()])
    assert res.exit_code == 1 and "cli note" in res.output and "试运行" in res.output
    assert _customer(vh.master, LI)["notes"] == LI_CUSTOMER["notes"]
    res = runner.invoke(cli, ["views", "merge", str(vh.master), str(p), "--format", "json",
                              "--today", TODAY.isoformat()])
    data = json.loads(res.output)
    assert data["written"] and data["summary"] == {"landed": 1, "rejected": 1, "conflicts": 0,
                                                   "notes": 0}
    assert _customer(vh.master, LI)["notes"] == "cli note"


def test_shared_mode_check_attributes_and_flags(vh):
    before = load(vh.master)
    wb = load(vh.master)
    li_row = wb.customers_by_id()[LI].row
    wang_row = wb.customers_by_id()[WANG].row
    cols = wb.customers.columns
    sheet = wb.customers.sheet_name
    tmp = vh.master.with_name("tmp.xlsx")
    patch_workbook(vh.master, tmp, {(sheet, li_row, cols["notes"]): "ok edit",
                                    (sheet, wang_row, cols["notes"]): "not li's",
                                    (sheet, li_row, cols["owner"]): "王五"})
    after = load(tmp)
    found = shared_mode_check(before, after, "李四", vh.home)
    flagged = sorted((f.customer_id, f.column) for f in found)
    assert flagged == [(LI, "owner"), (WANG, "notes")]
    assert all(f.code == "shared.edit_outside_rights" for f in found)
    assert shared_mode_check(before, after, "经理一号", vh.home) == []  # a manager may
    unknown = shared_mode_check(before, after, "Somebody", vh.home)
    assert [f.code for f in unknown] == ["shared.unknown_author"]
    assert shared_mode_check(before, load(vh.master), "李四", vh.home) == []
