"""The reader: tolerant headers, coercions, positions, and one clear line for bad files."""

from __future__ import annotations

import datetime as dt
import zipfile
from pathlib import Path

import openpyxl
import pytest
from helpers import FIXTURES, customer, make_master

from crm_sheets import load
from crm_sheets.errors import CrmError
from crm_sheets.reader import read_raw
from crm_sheets.schema import CUSTOMERS, FOLLOWUPS


def write_openpyxl(path: Path, customers: list[list], followups: list[list] | None = None) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "Customers"
    for row in customers:
        ws.append(row)
    ws2 = wb.create_sheet("Followups")
    for row in followups or [FOLLOWUPS.headers("zh")]:
        ws2.append(row)
    wb.save(path)
    return path


def test_round_trip_values_and_rows(tmp_path):
    path = make_master(tmp_path / "m.xlsx", [customer(), customer(customer_id="C20240315002", name="上海某公司")])
    wb = load(path)
    assert [r.row for r in wb.customers.records] == [2, 3]
    rec = wb.customers.records[0]
    assert rec.values["phone"] == "13800138000"
    assert rec.values["employees"] == 120 and isinstance(rec.values["employees"], int)
    assert rec.values["first_contact"] == dt.date(2024, 3, 15)
    f = wb.followups.records[0]
    assert f.values["start"] == dt.datetime(2024, 3, 20, 14, 0)
    assert wb.lists["owners"] == ["张伟", "李娜"]


def test_english_headers_reordered_extra_columns_blank_rows_title_row(tmp_path):
    en = {f.key: f.en for f in CUSTOMERS.fields}
    header = ["My notes", en["phone"], en["name"], en["owner"], en["contact_name"], en["customer_id"]]
    rows = [["客户名单 2024"], [], header,
            ["x", "138 0013 8000 ", "　北京华信科技有限公司\u200b", "张伟", "王强", "C20240315001"],
            [None, None, None, None, None, None],
            ["", "13900139000", "广州某某贸易有限公司", "李娜", "李四", "C20240315002"]]
    wb = load(write_openpyxl(tmp_path / "en.xlsx", rows))
    assert wb.lang == "en"
    assert wb.customers.header_row == 3
    recs = wb.customers.records
    assert [r.row for r in recs] == [4, 6]
    assert recs[0].values["name"] == "北京华信科技有限公司"
    assert recs[0].values["phone"] == "138 0013 8000"
    assert recs[0].extra == {"My notes": "x"}
    assert wb.customers.extra_columns == {"My notes": 0}


def test_coercions_text_numbers_dates_fullwidth(tmp_path):
    zh = CUSTOMERS.headers("zh")
    fz = FOLLOWUPS.headers("zh")
    c = dict.fromkeys(zh, None)
    c.update({"客户编号": "Ｃ20240315001", "客户名称": "甲公司", "联系人": "王", "联系方式": 13800138000.0,
              "负责人": "张伟", "员工人数": "１,２００", "年营收(万元)": " 35.5 ", "首次接触时间": "2024年3月15日",
              "商机阶段": "lead"})
    f = dict.fromkeys(fz, None)
    f.update({"客户编号": "C20240315001", "沟通开始": "2024-03-1514:00-15:00", "沟通方式": "电话",
              "沟通内容": "x", "跟进人": "张伟", "下次跟进日期": 45383})
    path = write_openpyxl(tmp_path / "c.xlsx", [zh, list(c.values())], [fz, list(f.values())])
    wb = load(path)
    v = wb.customers.records[0].values
    assert v["customer_id"] == "C20240315001"
    assert v["phone"] == "13800138000"
    assert v["employees"] == 1200
    assert v["annual_revenue"] == 35.5
    assert v["first_contact"] == dt.date(2024, 3, 15)
    assert v["stage"] == "线索"
    fv = wb.followups.records[0].values
    assert fv["start"] == dt.datetime(2024, 3, 15, 14, 0)
    assert fv["end"] == dt.datetime(2024, 3, 15, 15, 0)
    assert fv["next_date"] == dt.date(2024, 4, 1)


def test_bad_values_kept_with_problem(tmp_path):
    path = make_master(tmp_path / "m.xlsx", [customer(employees="很多", first_contact="2024-13-45")])
    rec = load(path).customers.records[0]
    assert rec.values["employees"] is None and rec.raw["employees"] == "很多"
    assert rec.problems == {"employees": "integer.invalid", "first_contact": "date.invalid"}


def test_missing_sheet_and_column_are_one_line(tmp_path):
    wb = openpyxl.Workbook()
    wb.active.title = "Customers"
    wb.active.append(["客户名称", "联系人"])
    wb.save(tmp_path / "one.xlsx")
    with pytest.raises(CrmError, match="Followups"):
        load(tmp_path / "one.xlsx")
    write_openpyxl(tmp_path / "nocol.xlsx", [["客户名称", "联系人", "负责人"], ["a", "b", "c"]])
    with pytest.raises(CrmError, match="联系方式"):
        load(tmp_path / "nocol.xlsx")


@pytest.mark.parametrize("name, match", [
    ("encrypted_agile_Password1234__example_password.xlsx", "password|加密"),
    ("malformed_zero-bytes_empty_file.xlsx", "empty"),
    ("malformed_not-a-zip_clusterfuzz-5636439151607808.xlsx", "damaged|not an .xlsx"),
    ("malformed_bad-central-dir_clusterfuzz-4828727001088000.xlsx", "damaged"),
    ("malformed_corrupted-part_xlsx-corrupted.xlsx", "damaged"),
    ("malformed_no-sheets_BadWorkbook.xlsx", "no sheets"),
])
def test_broken_fixtures_fail_with_one_line(name, match):
    with pytest.raises(CrmError, match=match) as exc:
        load(FIXTURES / name)
    assert "\n" not in str(exc.value)


GOOD_FIXTURES = sorted(p.name for p in FIXTURES.glob("*.xlsx")
                       if not p.name.startswith(("malformed_", "encrypted_agile")))


@pytest.mark.parametrize("name", GOOD_FIXTURES)
def test_real_fixtures_read_raw_and_load_fails_clearly(name):
    sheets = read_raw(FIXTURES / name)
    assert sheets, name
    with pytest.raises(CrmError, match="Customers|表头|header") as exc:
        load(FIXTURES / name)
    assert "\n" not in str(exc.value)


def test_fixture_contents_read_as_what_they_are():
    d1900 = read_raw(FIXTURES / "excel-mac_date1900_1900.xlsx")["Sheet1"]
    d1904 = read_raw(FIXTURES / "excel-mac_date1904_1904.xlsx")["Sheet1"]
    assert d1900[0][1] == dt.date(1900, 1, 1) and d1904[0][1] == dt.date(1904, 1, 2)
    strict = read_raw(FIXTURES / "excel-win_strict-ooxml_SimpleStrict.xlsx")["Sheet1"]
    assert strict[0][0] == "test"
    iso = read_raw(FIXTURES / "lib-node-xlsx-stream_t-d-dates_inlinestr.xlsx")["Sheet1"]
    assert iso[0][1] == "てすと"
    zh = read_raw(FIXTURES / "excel-win_zh-sheetname_time_54071.xlsx")
    assert list(zh) == ["双11商品导入定制打标时间模板"]
    wps = read_raw(FIXTURES / "wps_zh_comments-hyperlinks-merged_extra.xlsx")["Sheet1"]
    assert wps[0][:2] == ["第一列", "第二列"]


def test_paths_that_are_not_workbooks(tmp_path):
    with pytest.raises(CrmError, match="no such file"):
        load(tmp_path / "missing.xlsx")
    with pytest.raises(CrmError, match="folder"):
        load(tmp_path)
    csv = tmp_path / "客户.csv"
    csv.write_text("a,b\n", encoding="utf-8")
    with pytest.raises(CrmError, match="CSV"):
        load(csv)
    xls = tmp_path / "old.xls"
    xls.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600)
    with pytest.raises(CrmError, match="xls"):
        load(xls)


def test_zip_bomb_refused(tmp_path):
    bomb = tmp_path / "bomb.xlsx"
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr("xl/workbook.xml", "<workbook/>")
        z.writestr("xl/worksheets/sheet1.xml", b"\0" * (64 * 1024 * 1024))
    with pytest.raises(CrmError, match="bomb|expand"):
        load(bomb)


def test_xml_entity_bomb_is_not_expanded(tmp_path):
    """A billion-laughs sheet: refused or read as damaged, never expanded into memory."""
    src = make_master(tmp_path / "m.xlsx")
    bomb = tmp_path / "laughs.xlsx"
    lol = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
           + "".join(f'<!ENTITY lol{i} "{"&lol{};".format(i - 1 if i > 1 else "") * 10}">' for i in range(1, 10))
           + ']><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="1" '
           'uniqueCount="1"><si><t>&lol9;</t></si></sst>')
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zout:
        for item in zin.infolist():
            data = zin.read(item.filename)
            zout.writestr(item, lol.encode() if item.filename == "xl/sharedStrings.xml" else data)
    try:
        wb = load(bomb)
    except CrmError:
        return
    assert all(len(str(v)) < 10_000 for r in wb.customers.records for v in r.values.values())
