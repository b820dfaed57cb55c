"""`crm import`: sources, mapping, cleaning, duplicates, rejects, dry run, CLI, permissions."""

from __future__ import annotations

import csv
import datetime as dt
import shutil
from pathlib import Path

import pytest
import xlsxwriter
from click.testing import CliRunner
from helpers import COMPANIES, FIXTURES

from crm_sheets.cli import cli
from crm_sheets.divisions import load_divisions
from crm_sheets.errors import CrmError
from crm_sheets.importer import (
    clean_phone,
    load_mapping_file,
    match_header,
    prepare_import,
    read_source,
    run_import,
    split_address,
)
from crm_sheets.reader import load, read_raw
from crm_sheets.template import build_workbook

TODAY = dt.date(2024, 3, 20)
RESIDENT_ID = "11010519491231002X"

HEAD = ["公司全称", "联系人", "手机", "省份", "城市", "所属行业", "负责人", "地址", "沟通时间", "沟通方式",
        "沟通内容"]
ROWS = [
    ["北京星河科技有限公司", "张三", "138-0013-8000", "北京", "", "信息技术", "王伟",
     "北京市海淀区中关村大街1号", "2024-03-15 14:00-15:00", "电话", "初次沟通"],
    ["深圳蓝海贸易有限公司", "李四", "13900139000", "广东", "深圳", "零售", "王伟", "", "", "", ""],
    ["星河科技(北京)有限公司", "张三", "13800138000", "", "", "", "王伟", "", "", "", ""],
    ["上海某某实业有限公司", "钱七", "", "", "", "", "", "", "", "", ""],
    ["", "赵六", "13700137000", "", "", "", "", "", "", "", ""],
]


@pytest.fixture(autouse=True)
def _env(tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_STATE_DIR", str(tmp_path / "_state"))
    monkeypatch.setenv("CRM_NOW", "2024-03-20T10:00:00")
    monkeypatch.delenv("CRM_HOME", raising=False)


def master(path: Path, customers=(), followups=()) -> Path:
    return build_workbook(path, customers=customers, followups=followups)


def write_csv(path: Path, rows: list[list[str]], encoding: str = "utf-8-sig",
              delimiter: str = ",", title: str | None = None) -> Path:
    with open(path, "w", encoding=encoding, newline="") as fh:
        if title:
            fh.write(title + "\r\n")
        w = csv.writer(fh, delimiter=delimiter)
        w.writerows(rows)
    return path


def write_xlsx(path: Path, rows: list[list], title: str | None = None,
               merge_col: int | None = None) -> Path:
    wb = xlsxwriter.Workbook(str(path), {"strings_to_numbers": False})
    ws = wb.add_worksheet("客户名单")
    r0 = 0
    if title:
        ws.merge_range(0, 0, 0, len(rows[0]) - 1, title)
        r0 = 1
    for r, row in enumerate(rows):
        for c, v in enumerate(row):
            if merge_col is not None and c == merge_col and r >= 1:
                continue
            if v not in (None, ""):
                ws.write(r0 + r, c, v)
    if merge_col is not None:  # one owner cell merged over every data row
        ws.merge_range(r0 + 1, merge_col, r0 + len(rows) - 1, merge_col, rows[1][merge_col])
    wb.close()
    return path


def customers(path: Path) -> list[dict]:
    return [r.values for r in load(path).customers.records]


# ---- sources ---------------------------------------------------------------------------------

FIXTURE_FILES = sorted(p.name for p in FIXTURES.glob("*.xlsx"))


@pytest.mark.parametrize("name", FIXTURE_FILES)
def test_every_fixture_imports_or_fails_clearly(name, tmp_path):
    src = tmp_path / name
    shutil.copyfile(FIXTURES / name, src)
    m = master(tmp_path / "master.xlsx")
    before = m.read_bytes()
    try:
        out = run_import(src, m, today=TODAY, allow_incomplete=True, owner="王伟")
    except CrmError as exc:
        msg = str(exc)
        assert "\n" not in msg and msg.strip()
        assert m.read_bytes() == before  # a failed import writes nothing
        if name.startswith("encrypted_agile"):
            assert "encrypted" in msg and "加密" in msg
        elif name.startswith("malformed_"):
            assert any(w in msg for w in ("damaged", "not a zip", "empty", "no sheets",
                                          "not an .xlsx", "no readable sheet")), msg
        else:
            assert "no column maps to 客户名称" in msg, msg
        return
    assert not name.startswith(("encrypted_agile", "malformed_"))
    s = out.summary
    assert s["read"] == s["imported"] + s["updated"] + s["skipped"] + s["rejected"]
    assert len(customers(m)) == s["imported"]


def test_encrypted_source_with_password(tmp_path):
    m = master(tmp_path / "master.xlsx")
    src = FIXTURES / "encrypted_agile_Password1234__example_password.xlsx"
    with pytest.raises(CrmError, match="wrong password"):
        prepare_import(src, m, password="nope")
    # decrypted, it is a two-word sheet: readable, but nothing like a customer list
    with pytest.raises(CrmError, match="no column maps to 客户名称"):
        prepare_import(src, m, password="Password1234_")


def test_gbk_and_utf8_bom_csv_import_identically(tmp_path):
    rows = [HEAD, *ROWS]
    results = []
    for enc in ("gbk", "utf-8-sig"):
        d = tmp_path / enc
        d.mkdir()
        src = write_csv(d / "客户.csv", rows, encoding=enc, title="客户名单（2024）")
        assert read_source(src).encoding in ("gb18030", "utf-8-sig")
        m = master(d / "master.xlsx")
        out = run_import(src, m, today=TODAY)
        results.append((out.summary, customers(m), [r.values for r in load(m).followups.records]))
    assert results[0] == results[1]
    summary, custs, fus = results[0]
    assert summary["imported"] == 2 and summary["skipped"] == 1 and summary["rejected"] == 2
    assert len(fus) == 1


@pytest.mark.parametrize("delimiter", [",", "\t", ";"])
def test_delimiter_detected(tmp_path, delimiter):
    src = write_csv(tmp_path / "c.txt", [HEAD, *ROWS[:2]], delimiter=delimiter)
    s = read_source(src)
    assert s.delimiter == delimiter
    assert s.sheets[0].rows[1][0] == "北京星河科技有限公司"


def test_title_row_merged_cells_and_chinese_paths(tmp_path):
    folder = tmp_path / "客户资料 2024"
    folder.mkdir()
    rows = [["企业名称", "联系人", "联系电话", "负责人"],
            ["杭州西湖电子有限公司", "周一", "13912345678", "李娜"],
            ["苏州工业园区精密机械有限公司", "吴二", "0512-66668888", None],
            ["宁波港口物流有限公司", "郑三", "13612345678", None]]
    src = write_xlsx(folder / "导入名单.xlsx", rows, title="2024 年展会客户名单", merge_col=3)
    m = master(folder / "主表.xlsx")
    out = run_import(src, m, today=TODAY)
    assert out.header_row == 2
    got = customers(m)
    assert [c["owner"] for c in got] == ["李娜"] * 3  # merged cell read as its top-left value
    assert got[1]["phone"] == "0512-66668888"


# ---- mapping ---------------------------------------------------------------------------------


@pytest.mark.parametrize("header,target", [
    ("公司全称", "name"), ("企业名称", "name"), ("单位名称", "name"), ("full_name", "name"),
    ("手机", "phone"), ("电话", "phone"), ("联系电话", "phone"), ("联系人电话", "phone"),
    ("省份", "province"), ("城市", "city"), ("行业", "industry"), ("所属行业", "industry"),
    ("客户名称*", "name"), ("年营收（万元）", "annual_revenue"), ("注册地址", "address"),
    ("沟通时间", "fu.start"), ("Company Name", "name"), ("E-mail", "email"),
    ("公司名", "name"), ("联系人名称", "contact_name"),
])
def test_header_synonyms(header, target):
    assert match_header(header)[0] == target


@pytest.mark.parametrize("header", ["产品名称", "公司简称", "short_name", "english_name", "code",
                                    "2024年客户名单", "注册资本"])
def test_headers_that_must_not_map(header):
    assert match_header(header)[0] is None


def test_fuzzy_header_is_reported(tmp_path):
    src = write_csv(tmp_path / "s.csv", [["客户名称", "联系人姓", "手机号", "负责人"],
                                         ["甲乙丙有限公司", "张三", "13800138000", "王伟"]])
    m = master(tmp_path / "m.xlsx")
    out = run_import(src, m, today=TODAY, dry_run=True)
    by_header = {c.header: c for c in out.mapping}
    assert by_header["联系人姓"].target == "contact_name" and by_header["联系人姓"].how == "fuzzy"
    assert any(f.code == "import.column_fuzzy" for f in out.findings)


@pytest.mark.parametrize("suffix", [".toml", ".yaml"])
def test_mapping_file_overrides(tmp_path, suffix):
    text = {".toml": '[columns]\n"公司" = "name"\n"内部编码" = "ignore"\n"电话1" = "联系方式"\n'
                     '"电话2" = "phone"\n[defaults]\nowner = "王伟"\n',
            ".yaml": 'columns:\n  公司: 客户名称\n  内部编码: ignore\n  电话1: phone\n'
                     '  "电话2": 联系方式\ndefaults:\n  负责人: 王伟\n'}[suffix]
    mp = tmp_path / f"map{suffix}"
    mp.write_text(text, encoding="utf-8")
    overrides, defaults, _ = load_mapping_file(mp)
    assert defaults == {"owner": "王伟"}
    src = write_csv(tmp_path / "s.csv", [["公司", "联系人", "电话1", "电话2", "内部编码"],
                                         ["甲乙丙有限公司", "张三", "13800138000", "010-12345678",
                                          "X1"]])
    m = master(tmp_path / "m.xlsx")
    out = run_import(src, m, today=TODAY, mapping_file=mp)
    assert out.summary["imported"] == 1
    c = customers(m)[0]
    assert c["phone"] == "13800138000 / 010-12345678" and c["owner"] == "王伟"
    assert c["notes"] is None


def test_bad_mapping_target(tmp_path):
    mp = tmp_path / "m.toml"
    mp.write_text('[columns]\n"公司" = "没有这个字段"\n', encoding="utf-8")
    with pytest.raises(CrmError, match="not a known field"):
        load_mapping_file(mp)


def test_unknown_columns_kept_only_when_asked(tmp_path):
    rows = [["客户名称", "联系人", "手机", "负责人", "注册资本", "官网"],
            ["甲乙丙有限公司", "张三", "13800138000", "王伟", "500万", "www.x.cn"]]
    for keep in (False, True):
        d = tmp_path / str(keep)
        d.mkdir()
        m = master(d / "m.xlsx")
        out = run_import(write_csv(d / "s.csv", rows), m, today=TODAY, keep_unknown=keep)
        assert [f.code for f in out.findings].count("import.column_unknown") == 2
        notes = customers(m)[0]["notes"]
        assert notes == ("注册资本：500万；官网：www.x.cn" if keep else None)


def test_no_name_column_is_a_clear_error(tmp_path):
    src = write_csv(tmp_path / "s.csv", [["联系人", "手机"], ["张三", "13800138000"]])
    m = master(tmp_path / "m.xlsx")
    r = CliRunner().invoke(cli, ["import", str(src), str(m)])
    assert r.exit_code == 2
    # a Chinese home (the default) shows the Chinese half of the message
    assert "没有一列对应到 客户名称" in r.output and "Traceback" not in r.output
    assert "no column maps" not in r.output


# ---- cleaning --------------------------------------------------------------------------------


@pytest.mark.parametrize("text,expected", [
    ("北京市海淀区中关村大街1号", ("北京市", "北京市", "海淀区", "中关村大街1号")),
    ("深圳市南山区科技园", ("广东省", "深圳市", "南山区", "科技园")),
    ("浙江杭州西湖区文三路", ("浙江省", "杭州市", "西湖区", "文三路")),
    ("海淀区学院路", ("北京市", "北京市", "海淀区", "学院路")),
    ("朝阳区建国路", (None, None, None, "朝阳区建国路")),  # 朝阳区: Beijing or Changchun
    ("山西路1号", (None, None, None, "山西路1号")),
])
def test_split_address(text, expected):
    assert split_address(text) == expected


@pytest.mark.parametrize("raw,clean", [
    ("138-0013-8000", "13800138000"), ("+86 138 0013 8000", "13800138000"),
    ("１３８００１３８０００", "13800138000"), (13800138000.0, "13800138000"),
    ("13800138000/010-12345678", "13800138000 / 010-12345678"), ("", None),
])
def test_clean_phone(raw, clean):
    assert clean_phone(raw) == clean


def test_cleaning_end_to_end(tmp_path):
    rows = [["客户名称", "联系人", "手机", "负责人", "首次接触时间", "员工人数", "年营收", "地址", "省",
             "沟通时间", "沟通方式", "沟通内容"],
            ["ＡＢＣ科技有限公司", "张三", "１３８ ００１３ ８０００", "王伟", "2024年3月1日", "１,２００",
             "3,000.5", "深圳市南山区科技园", "", "2024-03-15 14:00-15:00", "拜访", "面谈"],
            ["华东物流有限公司", "李四", "13900139000", "王伟", "20240302", "50", "", "", "江苏",
             "20240316 0930", "电话", "电话沟通"]]
    m = master(tmp_path / "m.xlsx")
    out = run_import(write_csv(tmp_path / "s.csv", rows), m, today=TODAY)
    assert out.summary["imported"] == 2
    a, b = customers(m)
    assert a["phone"] == "13800138000" and a["first_contact"] == dt.date(2024, 3, 1)
    assert a["employees"] == 1200 and a["annual_revenue"] == 3000.5
    assert (a["province"], a["city"], a["district"]) == ("广东省", "深圳市", "南山区")
    assert "科技园" in a["notes"]
    assert b["province"] == "江苏省" and b["first_contact"] == dt.date(2024, 3, 2)
    fus = [r.values for r in load(m).followups.records]
    assert fus[0]["start"] == dt.datetime(2024, 3, 15, 14, 0)
    assert fus[0]["end"] == dt.datetime(2024, 3, 15, 15, 0)
    assert fus[1]["start"] == dt.datetime(2024, 3, 16, 9, 30)
    assert fus[0]["customer_id"] == a["customer_id"] and fus[0]["customer_name"] == a["name"]


def test_invalid_values_are_imported_as_typed_and_flagged(tmp_path):
    rows = [["客户名称", "联系人", "手机", "负责人", "首次接触时间"],
            ["甲乙丙有限公司", "张三", "1380013", "王伟", "下周一"]]
    m = master(tmp_path / "m.xlsx")
    out = run_import(write_csv(tmp_path / "s.csv", rows), m, today=TODAY)
    codes = {f.code for f in out.findings}
    assert {"phone.invalid", "date.invalid"} <= codes
    c = load(m).customers.records[0]
    assert c.values["phone"] == "1380013" and c.raw["first_contact"] == "下周一"


# ---- duplicates ------------------------------------------------------------------------------

EXISTING = {"customer_id": "C20240101001", "name": "北京星河科技有限公司", "contact_name": "张三",
            "phone": "13800138000", "owner": "王伟", "industry": None, "province": "北京市",
            "city": "北京市"}


def test_duplicates_skip_by_default_and_name_the_match(tmp_path):
    m = master(tmp_path / "m.xlsx", customers=[EXISTING])
    src = write_csv(tmp_path / "s.csv", [HEAD, *ROWS[:3]])
    out = run_import(src, m, today=TODAY)
    assert out.summary["skipped"] == 2 and out.summary["imported"] == 1
    skipped = [f for f in out.findings if f.code == "import.duplicate_skipped"]
    assert skipped and "C20240101001" in skipped[0].message
    # the follow-up of a skipped row still reaches the matched customer
    fus = load(m).followups.records
    assert [f.values["customer_id"] for f in fus] == ["C20240101001"]


def test_update_fills_blanks_and_never_overwrites(tmp_path):
    m = master(tmp_path / "m.xlsx", customers=[EXISTING])
    rows = [["公司全称", "联系人", "手机", "所属行业", "负责人"],
            ["北京星河科技有限公司", "张三丰", "13800138000", "信息技术", "王伟"]]
    out = run_import(write_csv(tmp_path / "s.csv", rows), m, today=TODAY, on_duplicate="update")
    assert out.summary["updated"] == 1 and out.summary["imported"] == 0
    c = customers(m)
    assert len(c) == 1 and c[0]["industry"] == "信息技术" and c[0]["contact_name"] == "张三"
    conflict = [f for f in out.findings if f.code == "import.conflict"]
    assert conflict and "张三丰" in conflict[0].message and "张三" in conflict[0].message


def test_create_imports_duplicates_with_a_warning(tmp_path):
    m = master(tmp_path / "m.xlsx", customers=[EXISTING])
    rows = [["公司全称", "联系人", "手机", "负责人"], ["北京星河科技有限公司", "张三", "13800138000", "王伟"]]
    out = run_import(write_csv(tmp_path / "s.csv", rows), m, today=TODAY, on_duplicate="create")
    assert out.summary["imported"] == 1
    assert any(f.code == "import.duplicate_created" and f.severity == "warning"
               for f in out.findings)
    assert len(customers(m)) == 2


def _exchange_list(path: Path, n: int = 400) -> Path:
    with open(COMPANIES, encoding="utf-8") as fh:
        data = list(csv.DictReader(fh))[:n]
    rows = [["code", "full_name", "short_name", "province", "city"]]
    rows += [[d["code"], d["full_name"], d["short_name"], d["province"], d["city"]] for d in data]
    return write_xlsx(path, rows, title="A股上市公司名录（交易所）")


def test_exchange_list_imports_once(tmp_path):
    src = _exchange_list(tmp_path / "exchange.xlsx")
    m = master(tmp_path / "m.xlsx")
    first = run_import(src, m, today=TODAY, allow_incomplete=True, owner="王伟")
    s = first.summary
    assert s["read"] == 400 and s["rejected"] == 0 and s["imported"] >= 395
    got = customers(m)
    assert len(got) == s["imported"]
    div = load_divisions()
    real = [c for c in got if c["province"] and "直辖县级" not in (c["city"] or "")]
    assert len(real) >= 390  # the rest: no province in the list, or NBS placeholder cities
    assert all(c["province"] in div.tree and c["city"] in div.tree[c["province"]] for c in real)
    assert got[0]["name"] == "平安银行股份有限公司" and got[0]["province"] == "广东省"
    assert got[0]["city"] == "深圳市" and got[0]["owner"] == "王伟"
    second = run_import(src, m, today=TODAY, allow_incomplete=True, owner="王伟")
    assert second.summary["imported"] == 0 and second.summary["skipped"] == 400
    assert len(customers(m)) == len(got)


def test_incomplete_rows_rejected_unless_allowed(tmp_path):
    src = _exchange_list(tmp_path / "exchange.xlsx", n=5)
    m = master(tmp_path / "m.xlsx")
    out = run_import(src, m, today=TODAY)
    assert out.summary["rejected"] == 5 and not out.written
    assert out.rejects_path is not None and out.rejects_path.parent == src.parent
    assert out.rejects_path.name.startswith("import-rejects-")
    sheet = next(iter(read_raw(out.rejects_path).values()))
    assert len(sheet) == 6 and "联系人" in sheet[1][1] and sheet[1][4] == "平安银行股份有限公司"
    out2 = run_import(src, m, today=TODAY, allow_incomplete=True)
    assert out2.summary["imported"] == 5
    assert any(f.code == "import.incomplete_imported" for f in out2.findings)


def test_rejects_keep_every_row_and_mask_prohibited(tmp_path):
    rows = [["客户名称", "联系人", "手机", "负责人", "备注"],
            ["甲公司有限公司", "张三", "13800138000", "王伟", f"身份证 {RESIDENT_ID}"],
            ["", "李四", "13900139000", "王伟", "无名"],
            ["乙公司有限公司", "", "", "", ""]]
    m = master(tmp_path / "m.xlsx")
    before = m.read_bytes()
    out = run_import(write_csv(tmp_path / "s.csv", rows), m, today=TODAY)
    assert out.summary["rejected"] == 3 and m.read_bytes() == before
    sheet = next(iter(read_raw(out.rejects_path).values()))
    assert [int(r[0]) for r in sheet[1:]] == [2, 3, 4]
    flat = " ".join(str(c) for r in sheet for c in r)
    assert RESIDENT_ID not in flat and "禁止" in flat


def test_followups_not_duplicated_on_reimport(tmp_path):
    m = master(tmp_path / "m.xlsx")
    src = write_csv(tmp_path / "s.csv", [HEAD, *ROWS[:2]])
    run_import(src, m, today=TODAY)
    out = run_import(src, m, today=TODAY)
    assert out.summary["followups_skipped"] == 1 and out.summary["followups_imported"] == 0
    assert len(load(m).followups.records) == 1


# ---- dry run, CLI, permissions -----------------------------------------------------------------


def test_dry_run_writes_nothing(tmp_path):
    m = master(tmp_path / "m.xlsx")
    src = write_csv(tmp_path / "s.csv", [HEAD, *ROWS])
    before = m.read_bytes()
    files = set(tmp_path.rglob("*"))
    r = CliRunner().invoke(cli, ["import", str(src), str(m), "--dry-run", "--today", "2024-03-20"])
    assert r.exit_code == 1, r.output  # rejected rows are error findings
    assert "公司全称 → 客户名称" in r.output and "试运行" in r.output
    assert m.read_bytes() == before
    assert set(tmp_path.rglob("*")) == files


def test_cli_imports_and_prints_report(tmp_path):
    m = master(tmp_path / "m.xlsx")
    src = write_csv(tmp_path / "s.csv", [HEAD, *ROWS[:2]])
    r = CliRunner().invoke(cli, ["import", str(src), str(m), "--today", "2024-03-20"])
    assert r.exit_code == 0, r.output
    assert "列对应" in r.output and "手机 → 联系方式" in r.output
    assert "读取 2 行：导入 2" in r.output
    ids = [c["customer_id"] for c in customers(m)]
    assert ids == ["C20240320001", "C20240320002"]
    r = CliRunner().invoke(cli, ["import", str(src), str(m), "--format", "json"])
    assert r.exit_code == 0 and '"skipped": 2' in r.output


def test_locked_master_is_refused(tmp_path):
    m = master(tmp_path / "m.xlsx")
    (tmp_path / "~$m.xlsx").write_bytes(b"\x05someone")
    src = write_csv(tmp_path / "s.csv", [HEAD, *ROWS[:2]])
    r = CliRunner().invoke(cli, ["import", str(src), str(m)])
    assert r.exit_code == 1 and "Traceback" not in r.output


def test_permissions_in_a_home(logged_in_home, tmp_path):
    src = write_csv(tmp_path / "s.csv", [HEAD, *ROWS[:2]])
    sales = logged_in_home("sales")
    master(sales.home.master)
    r = CliRunner().invoke(cli, ["import", str(src), str(sales.home.master)])
    assert r.exit_code == 1 and "导入需要管理层权限" in r.output
    logged_in_home("manager", home=sales.home)
    r = CliRunner().invoke(cli, ["import", str(src), str(sales.home.master), "--today",
                                 "2024-03-20"])
    assert r.exit_code == 0, r.output
    assert len(customers(sales.home.master)) == 2


def test_apply_flag_refreshes_engine_columns(tmp_path):
    m = master(tmp_path / "m.xlsx")
    src = write_csv(tmp_path / "s.csv", [HEAD, *ROWS[:2]])
    r = CliRunner().invoke(cli, ["import", str(src), str(m), "--today", "2024-03-20"])
    assert r.exit_code == 0 and "crm apply" in r.output
    assert [c["status"] for c in customers(m)] == [None, None]
    m2 = master(tmp_path / "m2.xlsx")
    r = CliRunner().invoke(cli, ["import", str(src), str(m2), "--today", "2024-03-20", "--apply"])
    assert r.exit_code == 0, r.output
    got = customers(m2)
    assert [c["status"] for c in got] == ["正常", "正常"]
    assert got[0]["last_followup"] == dt.datetime(2024, 3, 15, 14, 0)


def test_new_rows_go_below_every_used_row(tmp_path):
    """A master row holding data only under a header-less column is never written over."""
    m = master(tmp_path / "m.xlsx", customers=[EXISTING])
    from crm_sheets.writeback.xlsxpatch import patch_workbook

    patched = tmp_path / "m2.xlsx"
    patch_workbook(m, patched, {("Customers", 3, 40): "someone's scribble"})
    src = write_csv(tmp_path / "s.csv", [HEAD, ROWS[1]])
    out = run_import(src, patched, today=TODAY)
    assert out.summary["imported"] == 1
    rows = read_raw(patched, "Customers")["Customers"]
    assert rows[2][40] == "someone's scribble" and rows[2][1] in ("", None)
    assert rows[3][1] == "深圳蓝海贸易有限公司"


def test_legacy_xls_imports_like_the_csv(tmp_path):
    """An Excel 97-2003 .xls (what older systems export) imports the same rows as the CSV."""
    import xlwt

    rows = [HEAD, *ROWS]
    book = xlwt.Workbook(encoding="utf-8")
    ws = book.add_sheet("客户")
    ws.write(0, 0, "客户名单（2024）")
    for r, row in enumerate(rows, start=1):
        for c, v in enumerate(row):
            ws.write(r, c, v)
    xls = tmp_path / "xls" / "老系统导出.xls"
    xls.parent.mkdir()
    book.save(str(xls))
    csv_dir = tmp_path / "csv"
    csv_dir.mkdir()
    src = write_csv(csv_dir / "客户.csv", rows, encoding="utf-8-sig", title="客户名单（2024）")
    m_xls, m_csv = master(xls.parent / "master.xlsx"), master(csv_dir / "master.xlsx")
    out_xls = run_import(xls, m_xls, today=TODAY)
    out_csv = run_import(src, m_csv, today=TODAY)
    assert out_xls.summary == out_csv.summary
    assert customers(m_xls) == customers(m_csv)
