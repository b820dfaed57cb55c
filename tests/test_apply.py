"""`crm apply` rules and write-back, on deterministic dates (--today / CRM_NOW)."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from crm_sheets import audit
from crm_sheets.apply.run import run_apply
from crm_sheets.apply.state import load_state, state_dir_for
from crm_sheets.cli import cli
from crm_sheets.reader import load, read_raw
from crm_sheets.template import build_workbook
from crm_sheets.writeback.xlsxpatch import patch_workbook

TODAY = dt.date(2024, 3, 15)
NOW = dt.datetime(2024, 3, 15, 9, 0)
OWNERS = ["王五", "赵六"]


def cust(name: str, **kw) -> dict:
    base = {"name": name, "contact_name": "张三", "phone": "13800138000", "owner": "王五",
            "stage": "线索", "first_contact": dt.date(2024, 3, 1), "source": "转介绍",
            "industry": "制造业"}
    base.update(kw)
    return base


def fu(cid: str, start: dt.datetime, **kw) -> dict:
    base = {"customer_id": cid, "start": start, "method": "电话", "content": "沟通了需求",
            "owner": "王五"}
    base.update(kw)
    return base


def book(tmp_path: Path, customers: list[dict], followups: list[dict] = (), settings=None,
         lang: str = "zh") -> Path:
    path = tmp_path / "CRM.xlsx"
    build_workbook(path, customers=customers, followups=followups, lang=lang,
                   lists={"owners": OWNERS}, settings=settings)
    return path


def apply(path: Path, today: dt.date = TODAY, now: dt.datetime = NOW, **kw):
    return run_apply(path, today=today, now=now, **kw)


def customers(path: Path) -> list:
    return load(path).customers.records


def edit(path: Path, cells: dict) -> None:
    """Simulate a user saving edits in Excel (patch into a copy, then replace)."""
    tmp = path.with_name("edit.xlsx")
    patch_workbook(path, tmp, cells)
    os.replace(tmp, path)


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ------------------------------------------------------------------ IDs


def test_assigns_customer_and_followup_ids(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司"), cust("乙公司", customer_id="C20240101007"),
                           cust("丙公司")],
                [fu("C20240101007", dt.datetime(2024, 3, 14, 10)),
                 fu("C20240101007", dt.datetime(2024, 3, 13, 10), followup_id="F202401010001")])
    out = apply(path)
    assert out.written
    recs = customers(path)
    assert [r.values["customer_id"] for r in recs] == ["C20240315001", "C20240101007",
                                                       "C20240315002"]
    fus = load(path).followups.records
    assert [f.values["followup_id"] for f in fus] == ["F202403150001", "F202401010001"]
    raw = read_raw(path, "Customers")["Customers"]
    assert isinstance(raw[1][0], str)  # IDs stay text
    assert isinstance(raw[1][10], str) and raw[1][10] == "13800138000"  # phone untouched text


def test_ids_never_reused_after_delete_and_widen_past_999(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司"), cust("乙公司")])
    apply(path)
    # the user deletes the newest customer's row, then adds a new one
    edit(path, {("Customers", 3, c): None for c in range(25)})
    edit(path, {("Customers", 4, 1): "丁公司", ("Customers", 4, 8): "李四",
                ("Customers", 4, 10): "13900139000", ("Customers", 4, 15): "王五"})
    apply(path)
    ids = [r.values["customer_id"] for r in customers(path)]
    assert ids == ["C20240315001", "C20240315003"]  # 002 is never issued again
    # a busy day: sequence 999 reached → the next one widens to 4 digits
    state_dir = state_dir_for(path)
    state = load_state(state_dir)
    state.seq["C20240316"] = 999
    from crm_sheets.apply.state import save_state

    save_state(state_dir, state)
    edit(path, {("Customers", 5, 1): "戊公司", ("Customers", 5, 8): "李四",
                ("Customers", 5, 10): "13900139001", ("Customers", 5, 15): "王五"})
    apply(path, today=dt.date(2024, 3, 16), now=dt.datetime(2024, 3, 16, 9))
    assert customers(path)[-1].values["customer_id"] == "C202403161000"


def test_row_with_errors_still_gets_its_id_and_issues_lists_errors(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司", phone="12345")])
    result = CliRunner().invoke(cli, ["apply", str(path), "--today", "2024-03-15"])
    assert result.exit_code == 0, result.output
    assert customers(path)[0].values["customer_id"] == "C20240315001"
    wb = openpyxl.load_workbook(path)
    issues = [[c.value for c in row] for row in wb["问题"].iter_rows(min_row=2)]
    phone = [r for r in issues if r[3] == "phone.invalid"]
    assert phone and phone[0][0] == "客户" and phone[0][1] == 2 and phone[0][4] == "错误"
    assert phone[0][6:9] == ["C20240315001", "甲公司", "王五"]  # 客户编号, 客户名称, 负责人
    link = wb["问题"].cell(row=issues.index(phone[0]) + 2, column=10).hyperlink
    assert link.location == "'客户'!K2"


# ------------------------------------------------------------------ derived columns


def test_engine_columns_from_latest_followup(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲科技有限公司", customer_id="C20240301001")], [
        fu("C20240301001", dt.datetime(2024, 3, 10, 10), content="第一次电话"),
        fu("C20240301001", dt.datetime(2024, 3, 14, 15, 30), method="拜访",
           content="上门演示，客户对报价很关心，希望下周给出详细方案" * 2,
           next_date=dt.date(2024, 3, 20), next_action="发送方案"),
    ])
    apply(path)
    c = customers(path)[0].values
    assert c["last_followup"] == dt.datetime(2024, 3, 14, 15, 30)
    assert c["next_followup_date"] == dt.date(2024, 3, 20)  # a real date: sorts and filters
    assert c["next_followup"] == "发送方案"
    assert c["followup_summary"].startswith("2024-03-14 拜访：上门演示")
    assert c["followup_summary"].endswith("…") and len(c["followup_summary"]) < 60
    fus = load(path).followups.records
    assert {f.values["customer_name"] for f in fus} == {"甲科技有限公司"}
    assert all(f.values["recorded_at"] == NOW for f in fus)
    # dates are written as date serials with a date style
    ws = openpyxl.load_workbook(path)["客户"]
    assert ws["U2"].is_date and ws["V2"].is_date and ws["Y2"].is_date


def test_updated_at_only_when_user_column_changed(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司"), cust("乙公司")])
    apply(path)
    assert [r.values["updated_at"] for r in customers(path)] == [NOW, NOW]
    later = dt.datetime(2024, 3, 20, 10)
    edit(path, {("Customers", 3, 11): "b@example.com"})
    out = apply(path, today=later.date(), now=later)
    assert [r.values["updated_at"] for r in customers(path)] == [NOW, later]
    assert [(c.row, c.column_key) for c in out.changes] == [(3, "updated_at")]


def test_second_run_changes_nothing_and_keeps_bytes(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司", phone="bad"), cust("乙公司", customer_id="C20240101001")],
                [fu("C20240101001", dt.datetime(2024, 3, 14, 10), stage_after="意向")])
    first = apply(path)
    assert first.written and first.changes
    digest, mtime = sha(path), path.stat().st_mtime_ns
    later = dt.datetime(2024, 3, 15, 17, 45)
    second = apply(path, now=later)
    assert not second.written and not second.changes and not second.issues_changed
    assert sha(path) == digest and path.stat().st_mtime_ns == mtime
    # the CLI says so too
    result = CliRunner().invoke(cli, ["apply", str(path), "--today", "2024-03-15"])
    assert result.exit_code == 0 and "无需写入" in result.output
    assert sha(path) == digest


def test_dry_run_prints_the_same_and_writes_nothing(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司")])
    digest = sha(path)
    env = {"CRM_NOW": "2024-03-15T09:00:00"}
    dry = CliRunner().invoke(cli, ["apply", str(path), "--today", "2024-03-15", "--dry-run"],
                             env=env)
    assert dry.exit_code == 0, dry.output
    assert sha(path) == digest and not (tmp_path / "backups").exists()
    real = CliRunner().invoke(cli, ["apply", str(path), "--today", "2024-03-15"], env=env)
    assert real.exit_code == 0
    assert dry.output.splitlines()[:-1] == real.output.splitlines()[:-1]
    assert "C20240315001" in dry.output and "试运行" in dry.output
    assert sha(path) != digest and list((tmp_path / "backups").glob("CRM-*-apply.zip"))


# ------------------------------------------------------------------ stage, type


def test_stage_from_latest_followup_and_type_follows(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司", customer_id="C20240301001", stage="线索"),
                           cust("乙公司", customer_id="C20240301002", stage="意向",
                                customer_type="潜在客户")], [
        fu("C20240301001", dt.datetime(2024, 3, 12, 10), stage_after="谈判"),
        fu("C20240301001", dt.datetime(2024, 3, 10, 10), stage_after="成交"),  # older
    ])
    out = apply(path)
    a, b = customers(path)
    assert a.values["stage"] == "谈判" and a.values["customer_type"] == "意向客户"
    assert b.values["customer_type"] == "意向客户"  # type follows a stage set by hand too
    assert not [f for f in out.findings if f.code == "stage.backwards"]


def test_backwards_move_is_a_warning_that_stays_listed(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司", customer_id="C20240301001", stage="谈判",
                                customer_type="意向客户")],
                [fu("C20240301001", dt.datetime(2024, 3, 14, 10), stage_after="意向")])
    out = apply(path)
    back = [f for f in out.findings if f.code == "stage.backwards"]
    assert len(back) == 1 and back[0].severity == "warning" and back[0].sheet == "Followups"
    assert customers(path)[0].values["stage"] == "意向"
    digest = sha(path)
    again = apply(path)
    assert [f.code for f in again.findings if f.code == "stage.backwards"] == ["stage.backwards"]
    assert not again.written and sha(path) == digest


def test_lost_keeps_its_type(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司", customer_id="C20240301001", stage="谈判",
                                customer_type="意向客户", lost_reason="价格过高")],
                [fu("C20240301001", dt.datetime(2024, 3, 14, 10), stage_after="流失")])
    out = apply(path)
    c = customers(path)[0].values
    assert c["stage"] == "流失" and c["customer_type"] == "意向客户"
    assert not [f for f in out.findings if f.code == "stage.backwards"]


# ------------------------------------------------------------------ dormancy, pool, review


def test_dormancy_and_wake_up(tmp_path: Path) -> None:
    path = book(tmp_path, [
        cust("甲公司", customer_id="C20230101001", first_contact=dt.date(2023, 1, 1)),
        cust("乙公司", customer_id="C20230101002", first_contact=dt.date(2023, 1, 1), stage="成交"),
        cust("丙公司", customer_id="C20230101003", first_contact=dt.date(2023, 1, 1)),
    ], [fu("C20230101003", dt.datetime(2024, 1, 10, 10))])
    out = apply(path)
    status = [r.values["status"] for r in customers(path)]
    assert status == ["休眠", "正常", "正常"]  # 成交 never sleeps; 丙 followed up 65 days ago
    assert [f.customer_id for f in out.notes if f.code == "customer.dormant"] == ["C20230101001"]
    # a new follow-up wakes it
    edit(path, {("Followups", 3, 1): "C20230101001", ("Followups", 3, 3): dt.datetime(2024, 3, 20, 9),
                ("Followups", 3, 5): "电话", ("Followups", 3, 6): "回访", ("Followups", 3, 9): "王五"})
    apply(path, today=dt.date(2024, 3, 21), now=dt.datetime(2024, 3, 21, 9))
    assert customers(path)[0].values["status"] == "正常"


def test_dormant_days_setting_and_public_pool(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司", customer_id="C20230101001",
                                first_contact=dt.date(2024, 1, 1))],
                settings={"dormant_days": 30, "pool_days": 20})
    out = apply(path)  # 74 days idle ≥ 30 + 20
    c = customers(path)[0].values
    assert c["status"] == "休眠" and c["owner"] == "公海"
    pooled = [f for f in out.notes if f.code == "customer.pooled"]
    assert pooled and "王五" in pooled[0].message
    assert load_state(state_dir_for(path)).pooled["C20230101001"]["old_owner"] == "王五"
    events = audit.read(state_dir_for(path))
    assert any(e.get("column") == "owner" and e.get("old") == "王五" and e.get("new") == "公海"
               for e in events)


def test_pool_is_off_by_default(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司", customer_id="C20200101001",
                                first_contact=dt.date(2020, 1, 1))])
    apply(path)
    assert customers(path)[0].values["owner"] == "王五"


def test_monthly_review_list(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司"), cust("乙公司")])
    apply(path)
    edit(path, {("Customers", 3, 11): "b@example.com"})
    later = dt.date(2024, 4, 20)
    apply(path, today=dt.date(2024, 4, 1), now=dt.datetime(2024, 4, 1, 9))
    out = apply(path, today=later, now=dt.datetime.combine(later, dt.time(9)))
    due = [f for f in out.review]
    assert [f.customer_id for f in due] == ["C20240315001"]  # 36 days; the other 19 days
    assert due[0].code == "customer.review_due"
    ws = openpyxl.load_workbook(path)["问题"]
    assert any(row[3] == "customer.review_due" for row in ws.iter_rows(min_row=2, values_only=True))
    result = CliRunner().invoke(cli, ["apply", str(path), "--today", later.isoformat()])
    assert "月度复核" in result.output and "C20240315001" in result.output


# ------------------------------------------------------------------ merge


def test_merge_customers(tmp_path: Path) -> None:
    path = book(tmp_path, [
        cust("北京甲科技有限公司", customer_id="C20240301001", email=None, stage="意向",
             customer_type="意向客户"),
        cust("甲科技", customer_id="C20240301002", email="a@jia.cn", notes="展会名片"),
    ], [fu("C20240301002", dt.datetime(2024, 3, 14, 10), content="老客户回访")])
    result = CliRunner().invoke(cli, ["merge-customers", str(path), "C20240301001",
                                      "C20240301002", "--today", "2024-03-15"])
    assert result.exit_code == 0, result.output
    keep, drop = customers(path)
    assert keep.values["email"] == "a@jia.cn"
    assert keep.values["last_followup"] == dt.datetime(2024, 3, 14, 10)
    assert drop.values["status"] == "已合并" and "C20240301001" in drop.values["notes"]
    assert "展会名片" in drop.values["notes"]
    f = load(path).followups.records[0].values
    assert f["customer_id"] == "C20240301001" and f["customer_name"] == "北京甲科技有限公司"
    bad = CliRunner().invoke(cli, ["merge-customers", str(path), "C20240301001", "C99999999001"])
    assert bad.exit_code == 2


# ------------------------------------------------------------------ safety, CLI


def test_locked_workbook_is_refused(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("甲公司")])
    digest = sha(path)
    (tmp_path / ".~lock.CRM.xlsx#").write_text(",李四,pc1,15.03.2024 09:00,file:///x;",
                                              encoding="utf-8")
    result = CliRunner().invoke(cli, ["apply", str(path), "--today", "2024-03-15"])
    assert result.exit_code == 1 and "李四" in result.output
    assert sha(path) == digest


def test_unreadable_input_exits_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a workbook")
    assert CliRunner().invoke(cli, ["apply", str(bad)]).exit_code == 2
    assert CliRunner().invoke(cli, ["apply", str(tmp_path / "missing.xlsx")]).exit_code == 2


def test_audit_and_backup_in_a_home(tmp_path: Path, logged_in_home) -> None:
    li = logged_in_home("manager")
    build_workbook(li.home.master, customers=[cust("甲公司")], lists={"owners": OWNERS})
    result = CliRunner().invoke(cli, ["apply", str(li.home.master), "--today", "2024-03-15"])
    assert result.exit_code == 0, result.output
    assert list(li.home.backups.glob("CRM-*-apply.zip"))
    events = [e for e in audit.read(li.home.state) if e.get("action") == "apply"]
    ids = [e for e in events if e.get("column") == "customer_id"]
    assert ids and ids[0]["who"] == li.name and ids[0]["new"] == "C20240315001"
    assert ids[0]["sheet"] == "Customers" and ids[0]["row"] == 2 and ids[0]["old"] is None


def test_sales_may_not_apply(tmp_path: Path, logged_in_home) -> None:
    li = logged_in_home("sales")
    build_workbook(li.home.master, customers=[cust("甲公司")], lists={"owners": OWNERS})
    digest = sha(li.home.master)
    result = CliRunner().invoke(cli, ["apply", str(li.home.master)])
    assert result.exit_code == 1 and sha(li.home.master) == digest


def test_english_workbook_and_other_parts_untouched(tmp_path: Path) -> None:
    path = book(tmp_path, [cust("Acme Ltd", contact_name="Bob")], lang="en")
    before = zipfile.ZipFile(path)
    before_parts = {n: before.read(n) for n in before.namelist()}
    result = CliRunner().invoke(cli, ["apply", str(path), "--today", "2024-03-15"])
    assert result.exit_code == 0 and "changes" in result.output
    after = zipfile.ZipFile(path)
    changed = {n for n in after.namelist() if after.read(n) != before_parts.get(n)}
    # Customers, Issues? (no findings → unchanged header-only), _meta, styles at most
    assert changed <= {"xl/worksheets/sheet1.xml", "xl/worksheets/sheet5.xml",
                       "xl/worksheets/sheet7.xml", "xl/styles.xml"}
    assert "xl/worksheets/sheet1.xml" in changed and "xl/worksheets/sheet7.xml" in changed


@pytest.mark.libreoffice
def test_libreoffice_opens_apply_result(tmp_path: Path) -> None:
    from test_writeback_patch import soffice_convert

    path = book(tmp_path, [cust("甲公司"), cust("乙公司", phone="bad")],
                [fu("C20240101001", dt.datetime(2024, 3, 14, 10))])
    apply(path)
    out = soffice_convert([path], tmp_path / "lo")
    assert path in out and "C20240315001" in out[path].read_text(encoding="utf-8")
