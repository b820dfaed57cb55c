"""The master at a glance (issue 16 items 6-9, 11; 17.7; 13.6): what a person sees in the
workbook after `crm apply` — marked cells, a usable Issues sheet, print setup, sheets in
the home's language, the engine's own sheets found and kept very hidden — and apply's
terminal output on a sheet of a few thousand rows."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from crm_sheets.apply.run import run_apply
from crm_sheets.cli import cli
from crm_sheets.reader import load
from crm_sheets.template import build_workbook
from crm_sheets.validation import validate
from crm_sheets.writeback.xlsxpatch import read_package

TODAY = dt.date(2024, 3, 15)
NOW = dt.datetime(2024, 3, 15, 9, 0)
OWNERS = ["王五", "赵六"]


def cust(name: str, **kw) -> dict:
    base = {"name": name, "contact_name": "张三", "phone": "13800138000", "owner": "王五",
            "stage": "线索", "first_contact": dt.date(2024, 3, 1), "source": "转介绍",
            "industry": "制造业", "province": "北京市", "city": "北京市", "district": "海淀区"}
    base.update(kw)
    return base


def fu(cid: str, start: dt.datetime, **kw) -> dict:
    base = {"customer_id": cid, "start": start, "method": "电话", "content": "沟通了需求",
            "owner": "王五"}
    base.update(kw)
    return base


def book(path: Path, customers: list[dict], followups: list[dict] = (), lang: str = "zh") -> Path:
    build_workbook(path, customers=customers, followups=followups, lang=lang,
                   lists={"owners": OWNERS, "service": ["孙客服"]})
    return path


def sheet_xml(path: Path, tab: str) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.read(read_package(zf).sheets[tab]).decode("utf-8")


def raw_member(path: Path, tab: str) -> bytes:
    """A sheet's compressed bytes as stored (the patcher copies untouched parts as is)."""
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo(read_package(zf).sheets[tab])
    with open(path, "rb") as fh:
        fh.seek(info.header_offset + 26)
        n, m = int.from_bytes(fh.read(2), "little"), int.from_bytes(fh.read(2), "little")
        fh.seek(info.header_offset + 30 + n + m)
        return fh.read(info.compress_size)


def part(path: Path, name: str) -> str:
    with zipfile.ZipFile(path) as zf:
        return zf.read(name).decode("utf-8")


def rewrite_part(path: Path, name: str, fn) -> None:
    """Change one zip member (what another program's save would do)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            if info.filename == name:
                data = fn(data.decode("utf-8")).encode("utf-8")
            dst.writestr(info, data)
    path.write_bytes(buf.getvalue())


def engine_rules(xml: str) -> dict[str, list[tuple[str, str]]]:
    """kind -> [(sqref, formula)] of the engine's conditional formats in a sheet XML."""
    out: dict[str, list[tuple[str, str]]] = {}
    for m in re.finditer(r'<conditionalFormatting sqref="([^"]*)">(.*?)</conditionalFormatting>',
                         xml, re.S):
        f = re.search(r"<formula>(.*?)</formula>", m.group(2), re.S)
        kind = re.search(r"crm-sheets:(\w+)", f.group(1) if f else "")
        if kind:
            out.setdefault(kind.group(1), []).append((m.group(1), f.group(1)))
    return out


# ------------------------------------------------------------------ 16.6 marked cells


def test_problem_cells_and_overdue_followups_are_marked_and_refreshed(tmp_path: Path) -> None:
    path = book(tmp_path / "CRM.xlsx", [
        cust("甲公司", customer_id="C20240301001"),
        cust("乙公司", customer_id="C20240301002", phone="1380013"),  # K3: error
        cust("丙科技有限公司", customer_id="C20240301003"),  # a possible duplicate: warning
        cust("丙科技有限公司", customer_id="C20240301004", phone="13700137000"),
    ], [fu("C20240301001", dt.datetime(2024, 3, 1, 10), next_date=dt.date(2024, 3, 8),
           next_action="寄样品")])
    # the user's own conditional format and a cell style of their own
    wb = openpyxl.load_workbook(path)
    ws = wb["客户"]
    from openpyxl.formatting.rule import CellIsRule
    from openpyxl.styles import Font, PatternFill

    ws.conditional_formatting.add("S2:S100", CellIsRule(operator="greaterThan", formula=["100"],
                                                        fill=PatternFill(bgColor="FF00FF00")))
    ws["B3"].font = Font(italic=True)
    wb.save(path)
    out = run_apply(path, today=TODAY, now=NOW)
    assert out.written
    warn = [f for f in out.findings if f.severity == "warning" and f.sheet == "Customers"]
    assert warn, out.findings
    xml = sheet_xml(path, "客户")
    rules = engine_rules(xml)
    assert any("K3" in ref.split() for ref, _ in rules["error"])
    wcol = load(path).customers.columns[warn[0].column]
    wref = f"{openpyxl.utils.get_column_letter(wcol + 1)}{warn[0].row}"
    assert any(wref in ref.split() for ref, _ in rules["warning"])
    # overdue next follow-up: a live formula on the real date column
    date_col = openpyxl.utils.get_column_letter(load(path).customers.columns["next_followup_date"] + 1)
    (ref, formula), = rules["overdue"]
    assert ref.startswith(f"{date_col}2:") and "TODAY()" in formula and f"{date_col}2" in formula
    # the user's own format and cell style are still there; the engine's use dxfs only
    assert 'operator="greaterThan"' in xml and "S2:S100" in xml
    assert openpyxl.load_workbook(path)["客户"]["B3"].font.i
    styles = part(path, "xl/styles.xml")
    assert 'FFFFC7CE' in styles and 'FFFFEB9C' in styles
    dxfs = styles.count("<dxf>")
    # fix the phone: on the next write the mark goes, nothing is duplicated
    from crm_sheets.writeback.xlsxpatch import patch_workbook

    tmp = tmp_path / "edit.xlsx"
    patch_workbook(path, tmp, {("客户", 3, 10): "13900139000"})
    tmp.replace(path)
    run_apply(path, today=TODAY, now=NOW)
    xml = sheet_xml(path, "客户")
    rules = engine_rules(xml)
    assert not any("K3" in ref.split() for ref, _ in rules.get("error", []))
    assert len(rules["overdue"]) == 1 and len(rules["warning"]) == 1
    assert xml.count('operator="greaterThan"') == 1
    assert part(path, "xl/styles.xml").count("<dxf>") == dxfs  # the dxfs are reused


# ------------------------------------------------------------------ 16.7 Issues


def test_issues_sheet_has_customer_and_owner_colours_filter_and_link_style(tmp_path: Path) -> None:
    path = book(tmp_path / "CRM.xlsx", [cust("甲公司", customer_id="C20240301001"),
                                        cust("乙公司", customer_id="C20240301002", owner="赵六",
                                             email="not-an-email")])
    result = CliRunner().invoke(cli, ["apply", str(path), "--today", "2024-03-15"])
    assert result.exit_code == 0, result.output
    wb = openpyxl.load_workbook(path)
    ws = wb["问题"]
    head = [c.value for c in ws[1]]
    assert head == ["工作表", "行", "列", "代码", "级别", "说明", "客户编号", "客户名称", "负责人", "跳转"]
    rows = [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]
    email = next(r for r in rows if r[3] == "email.invalid")
    assert email[:2] == ["客户", 3] and email[6:9] == ["C20240301002", "乙公司", "赵六"]
    i = rows.index(email) + 2
    link = ws.cell(row=i, column=10)
    assert link.hyperlink.location == "'客户'!L3" and link.font.u == "single"
    assert ws.auto_filter.ref == f"A1:J{len(rows) + 1}"
    assert f"'问题'!$A$1:$J${len(rows) + 1}</definedName>" in part(path, "xl/workbook.xml")
    assert ws.print_title_rows == "$1:$1"
    xml = sheet_xml(path, "问题")
    kinds = engine_rules(xml)
    assert '$E2="错误"' in kinds["error"][0][1].replace("&quot;", '"')
    assert '$E2="警告"' in kinds["warning"][0][1].replace("&quot;", '"')


# ------------------------------------------------------------------ 16.8 apply output


def test_apply_prints_a_summary_per_rule_not_a_line_per_change(tmp_path: Path) -> None:
    n = 3000
    customers = [cust(f"测试{i:05d}号科技有限公司", phone=f"139{i:08d}") for i in range(n)]
    path = book(tmp_path / "CRM.xlsx", customers)
    runner = CliRunner()
    verbose = runner.invoke(cli, ["apply", str(path), "--today", "2024-03-15", "--dry-run",
                                  "--verbose"])
    assert verbose.exit_code == 0, verbose.output
    assert len(verbose.output.splitlines()) > 2 * n  # every change, when asked for
    js = runner.invoke(cli, ["apply", str(path), "--today", "2024-03-15", "--dry-run",
                             "--format", "json"])
    data = json.loads(js.output)
    assert data["summary"]["by_rule"]["id.assigned"] == n and not data["written"]
    assert len(data["changes"]) == data["summary"]["changes"] > 2 * n
    assert {"sheet", "row", "column", "old", "new", "reason"} <= set(data["changes"][0])
    res = runner.invoke(cli, ["apply", str(path), "--today", "2024-03-15"])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert len(lines) <= 30, res.output
    assert f"分配编号：{n} 处" in res.output and "--verbose" in res.output
    assert "已写入" in lines[-1]


# ------------------------------------------------------------------ 16.9 print setup


def test_print_setup_restored_on_engine_write_when_missing(tmp_path: Path) -> None:
    path = book(tmp_path / "CRM.xlsx", [cust("甲公司", phone="123")])
    with zipfile.ZipFile(path) as zf:
        pkg = read_package(zf)
    for tab in ("客户", "问题"):
        rewrite_part(path, pkg.sheets[tab], lambda x: re.sub(r"<pageSetup[^>]*/>", "", x))
    rewrite_part(path, "xl/workbook.xml", lambda x: re.sub(
        r'<definedName name="_xlnm.Print_Titles"[^>]*>[^<]*</definedName>', "", x))
    assert openpyxl.load_workbook(path)["客户"].page_setup.orientation is None
    run_apply(path, today=TODAY, now=NOW)
    wb = openpyxl.load_workbook(path)
    for tab, wide, cols in (("客户", 3, "$A:$B"), ("问题", 1, None)):
        ws = wb[tab]
        assert ws.page_setup.orientation == "landscape" and str(ws.page_setup.paperSize) == "9"
        assert ws.page_setup.fitToHeight == 0 and ws.sheet_properties.pageSetUpPr.fitToPage
        assert int(ws.page_setup.fitToWidth) == wide  # readable, not 26 columns at 5 pt
        assert ws.print_title_rows == "$1:$1" and ws.print_title_cols == cols


# ------------------------------------------------------------------ 13.6 very hidden


def test_a_libreoffice_save_that_unhides_meta_is_undone_on_the_next_write(tmp_path: Path) -> None:
    path = book(tmp_path / "CRM.xlsx", [cust("甲公司")])
    rewrite_part(path, "xl/workbook.xml",
                 lambda x: x.replace('name="_meta" sheetId="7" state="veryHidden"',
                                     'name="_meta" sheetId="7" state="hidden"'))
    assert openpyxl.load_workbook(path)["_meta"].sheet_state == "hidden"
    out = run_apply(path, today=TODAY, now=NOW)
    assert out.written
    assert openpyxl.load_workbook(path)["_meta"].sheet_state == "veryHidden"
    assert 'state="veryHidden"' in part(path, "xl/workbook.xml")


# ------------------------------------------------------------------ 16.11 tabs


def test_tabs_in_the_home_language_findings_keep_stable_keys(tmp_path: Path) -> None:
    zh = book(tmp_path / "zh.xlsx", [cust("甲公司", phone="123")])
    en = book(tmp_path / "en.xlsx", [cust("甲公司", phone="123")], lang="en")
    assert openpyxl.load_workbook(zh).sheetnames[:5] == ["客户", "跟进记录", "列表", "设置", "问题"]
    assert openpyxl.load_workbook(en).sheetnames[:5] == ["Customers", "Followups", "Lists",
                                                        "Settings", "Issues"]
    res = CliRunner().invoke(cli, ["validate", str(zh), "--format", "json", "--today", "2024-03-15"])
    sheets = {f["sheet"] for f in json.loads(res.output)["findings"]}
    assert sheets == {"Customers"}
    wb = load(zh)
    assert wb.lists["staff"] == ["王五", "赵六", "孙客服"]  # the 跟进人 dropdown's values


# ------------------------------------------------------------------ 17.7 look-alike sheets


def _add_lookalike(path: Path, title: str) -> None:
    wb = openpyxl.load_workbook(path)
    ws = wb.create_sheet(title, 0)
    ws.append(["我的笔记", "电话"])
    for i in range(40):
        ws.append([f"随手记 {i}", "打过了"])
    wb.active = 0
    wb.save(path)


def test_a_users_own_customers_sheet_placed_first_does_not_take_over(tmp_path: Path) -> None:
    # an English master (engine tab Customers) with the user's own 客户 sheet first
    path = book(tmp_path / "CRM.xlsx", [cust("甲公司"), cust("乙公司")], lang="en")
    _add_lookalike(path, "客户")
    user_part = read_package(zipfile.ZipFile(path)).sheets["客户"]
    before = part(path, user_part)
    wb = load(path)
    assert wb.customers.sheet_name == "Customers" and len(wb.customers.records) == 2
    report = validate(wb, TODAY)
    assert [f.code for f in report.findings if f.severity == "error"] == []
    amb = [f for f in report.findings if f.code == "sheet.ambiguous"]
    assert len(amb) == 1 and "客户" in amb[0].message and amb[0].severity == "warning"
    out = run_apply(path, today=TODAY, now=NOW)
    assert out.written and out.errors == 0
    assert part(path, user_part) == before  # nothing written into the user's sheet
    ids = [r.values["customer_id"] for r in load(path).customers.records]
    assert ids == ["C20240315001", "C20240315002"]


def test_meta_names_the_engine_tabs_even_when_a_lookalike_has_the_english_name(
        tmp_path: Path) -> None:
    path = book(tmp_path / "CRM.xlsx", [cust("甲公司")])  # tabs 客户 … recorded in _meta
    _add_lookalike(path, "Customers")
    wb = load(path)
    assert wb.customers.sheet_name == "客户"
    assert not [f for f in validate(wb, TODAY).findings if f.severity == "error"]
    out = run_apply(path, today=TODAY, now=NOW)
    assert out.written and load(path).customers.records[0].values["customer_id"] == "C20240315001"


# ------------------------------------------------------------------ 16.7 each copy's Issues


def test_each_copy_carries_its_own_issues_marked_like_the_master(tmp_path: Path,
                                                                  crm_state_dir) -> None:
    import python_calamine as pc
    from test_views_support import LI_CUSTOMER, make_view_home

    from crm_sheets.views import build_views
    from crm_sheets.writeback.xlsxpatch import patch_workbook

    vh = make_view_home(tmp_path)
    tmp = tmp_path / "edit.xlsx"  # 李四's customer (master row 2) gets a bad phone
    patch_workbook(vh.master, tmp, {("Customers", 2, 10): "1380013"})
    tmp.replace(vh.master)
    paths = {p.stem: p for p in build_views(vh.master, vh.home, today=TODAY)}
    li = openpyxl.load_workbook(paths["sales-li"])
    ws = li["问题"]
    assert [c.value for c in ws[1]][-3:] == ["客户名称", "负责人", "跳转"]
    rows = [list(r) for r in ws.iter_rows(min_row=2, values_only=True)]
    phone = [r for r in rows if r[3] == "phone.invalid" and r[6] == LI_CUSTOMER["customer_id"]]
    assert len(phone) == 1 and phone[0][7] == LI_CUSTOMER["name"] and phone[0][8] == "李四"
    assert {r[8] for r in rows if r[8]} == {"李四"}  # only his own rows
    copy_rows = pc.CalamineWorkbook.from_path(str(paths["sales-li"])).get_sheet_by_name(
        "客户").to_python()
    at = next(i for i, r in enumerate(copy_rows) if r[0] == LI_CUSTOMER["customer_id"]) + 1
    col = copy_rows[0].index("联系方式")
    ref = f"{openpyxl.utils.get_column_letter(col + 1)}{at}"
    assert phone[0][1] == at  # the copy's own row number
    link = ws.cell(row=rows.index(phone[0]) + 2, column=10)
    assert link.hyperlink.location == f"'客户'!{ref}"
    assert ws.auto_filter.ref.startswith("A1:J")
    marked = engine_rules(sheet_xml(paths["sales-li"], "客户"))
    assert any(ref in r.split() for r, _ in marked["error"])
    # the service copy shows every customer's problems, 王五's too
    service = openpyxl.load_workbook(paths["service"])["问题"]
    owners = {r[8] for r in service.iter_rows(min_row=2, values_only=True) if r[8]}
    assert {"李四", "王五"} <= owners


@pytest.mark.libreoffice
def test_after_a_real_libreoffice_save_meta_is_very_hidden_again_and_marks_not_doubled(
        tmp_path: Path) -> None:
    from helpers import libreoffice_convert

    path = book(tmp_path / "CRM.xlsx", [cust("甲公司", phone="123")],
                [fu("C20240315001", dt.datetime(2024, 3, 1, 10), next_date=dt.date(2024, 3, 8))])
    run_apply(path, today=TODAY, now=NOW)
    out_dir = tmp_path / "lo"
    out_dir.mkdir()
    saved = libreoffice_convert(path, "xlsx", out_dir)  # what a LibreOffice user's save does
    assert openpyxl.load_workbook(saved)["_meta"].sheet_state == "hidden"
    import python_calamine as pc

    lists = pc.CalamineWorkbook.from_path(str(saved)).get_sheet_by_name("列表").to_python()
    staff = [r[9] for r in lists[1:] if len(r) > 9 and r[9]]
    assert lists[0][9] == "跟进人" and staff == ["王五", "赵六", "孙客服"]  # the formulas work
    saved.replace(path)
    from crm_sheets.writeback.xlsxpatch import patch_workbook

    tmp = tmp_path / "edit.xlsx"  # the user adds a customer with a bad e-mail
    patch_workbook(path, tmp, {("客户", 3, 1): "乙公司", ("客户", 3, 8): "李四",
                               ("客户", 3, 10): "13900139000", ("客户", 3, 11): "x@",
                               ("客户", 3, 15): "王五"})
    tmp.replace(path)
    assert run_apply(path, today=TODAY, now=NOW).written
    wb = openpyxl.load_workbook(path)
    assert wb["_meta"].sheet_state == "veryHidden"
    rules = engine_rules(sheet_xml(path, "客户"))
    assert len(rules["error"]) == 1 and len(rules["overdue"]) == 1
    assert {"K2", "L3"} <= set(rules["error"][0][0].split())


def test_a_big_sheet_is_not_rewritten_when_only_another_sheets_marks_change(tmp_path: Path) -> None:
    path = book(tmp_path / "CRM.xlsx", [cust("甲公司", customer_id="C20240301001", phone="123")],
                [fu("C20240301001", dt.datetime(2024, 3, 1, 10),
                    end=dt.datetime(2024, 3, 1, 9))])  # followup.end_before_start on E2
    run_apply(path, today=TODAY, now=NOW)
    assert any("E2" in r.split() for r, _ in engine_rules(sheet_xml(path, "跟进记录"))["error"])
    rewrite_part(path, "xl/workbook.xml", lambda x: x)  # every part recompressed (level 6)
    before = raw_member(path, "客户")
    from crm_sheets.writeback.xlsxpatch import patch_workbook

    tmp = tmp_path / "edit.xlsx"
    patch_workbook(path, tmp, {("跟进记录", 2, 4): dt.datetime(2024, 3, 1, 11)})
    tmp.replace(path)
    out = run_apply(path, today=TODAY, now=NOW)
    assert out.written and not [c for c in out.changes if c.sheet == "Customers"]
    assert "error" not in engine_rules(sheet_xml(path, "跟进记录"))
    assert raw_member(path, "客户") == before  # its marks did not change: copied, not rewritten


def test_service_copy_offers_service_staff_as_followup_owner(tmp_path: Path,
                                                            crm_state_dir) -> None:
    from test_views_support import make_view_home

    from crm_sheets.views import build_views

    vh = make_view_home(tmp_path)
    paths = {p.stem: p for p in build_views(vh.master, vh.home, roles=["service"], today=TODAY)}
    wb = openpyxl.load_workbook(paths["service"])
    ws = wb["跟进记录"]
    owner = [c.value for c in ws[1]].index("跟进人")
    letter = openpyxl.utils.get_column_letter(owner + 1)
    src = [dv.formula1 for dv in ws.data_validations.dataValidation
           if str(dv.sqref).startswith(f"{letter}2")]
    assert src == ["list_staff"]
    lists = wb["Lists"]
    col = [c.value for c in lists[1]].index("跟进人") + 1
    assert "客服一号" in [lists.cell(r, col).value for r in range(2, 20)]


def test_a_copys_issues_never_name_a_customer_the_copy_does_not_show(tmp_path: Path,
                                                                     crm_state_dir) -> None:
    from test_views_support import LI_CUSTOMER, WANG_CUSTOMER, make_view_home, xlsx_text

    from crm_sheets.views import build_views
    from crm_sheets.writeback.xlsxpatch import patch_workbook

    vh = make_view_home(tmp_path)
    tmp = tmp_path / "edit.xlsx"  # 王五's customer (row 3) now looks like 李四's: a duplicate
    patch_workbook(vh.master, tmp, {("Customers", 3, c): LI_CUSTOMER[k] for c, k in (
        (1, "name"), (5, "province"), (6, "city"), (7, "district"), (10, "phone"))})
    tmp.replace(vh.master)
    dups = [f for f in validate(load(vh.master), TODAY).findings
            if f.code == "customer.possible_duplicate"
            and f.customer_id == WANG_CUSTOMER["customer_id"]]
    assert dups and LI_CUSTOMER["customer_id"] in dups[0].message  # the master says so
    paths = {p.stem: p for p in build_views(vh.master, vh.home, today=TODAY)}
    assert LI_CUSTOMER["customer_id"] not in xlsx_text(paths["sales-wang"])  # 李四's customer
    assert LI_CUSTOMER["customer_id"] in xlsx_text(paths["management"])
