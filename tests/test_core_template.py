"""The template is generated from the schema, committed, and opens in LibreOffice."""

from __future__ import annotations

import zipfile
from pathlib import Path

import openpyxl
import pytest
from helpers import libreoffice_convert

from crm_sheets import load, validate
from crm_sheets.schema import CUSTOMERS, FOLLOWUPS, Kind
from crm_sheets.template import TEMPLATE_FILES, build_template

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("lang", ["zh", "en"])
def test_committed_template_equals_generated(tmp_path, lang):
    fresh = build_template(tmp_path / "t.xlsx", lang)
    committed = ROOT / "templates" / TEMPLATE_FILES[lang]
    with zipfile.ZipFile(fresh) as a, zipfile.ZipFile(committed) as b:
        assert a.namelist() == b.namelist()
        for name in a.namelist():
            assert a.read(name) == b.read(name), f"{name} differs: run python -m crm_sheets.template"


def test_template_structure(tmp_path):
    path = build_template(tmp_path / "t.xlsx", "zh")
    wb = openpyxl.load_workbook(path)
    assert wb.sheetnames == ["客户", "跟进记录", "列表", "设置", "问题", "非重复", "_meta"]
    assert wb["_meta"].sheet_state == "veryHidden"
    ws = wb["客户"]
    marked = [("*" if f.required else "") + f.header("zh") for f in CUSTOMERS.fields]
    assert [c.value for c in ws[1]] == marked
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref.startswith("A1:")
    dv_cols = {str(dv.sqref).split(":")[0].rstrip("0123456789") for dv in ws.data_validations.dataValidation}
    choice_cols = {chr(65 + i) for i, f in enumerate(CUSTOMERS.fields) if f.choices and not f.engine}
    assert choice_cols <= dv_cols
    phone_col = CUSTOMERS.keys.index("phone")
    assert ws.column_dimensions[chr(65 + phone_col)].number_format == "@"
    assert [c.value.lstrip("*") for c in wb["跟进记录"][1]] == FOLLOWUPS.headers("zh")
    assert "list_methods" in wb.defined_names


def test_template_en_keeps_english_tabs(tmp_path):
    wb = openpyxl.load_workbook(build_template(tmp_path / "t.xlsx", "en"))
    assert wb.sheetnames == ["Customers", "Followups", "Lists", "Settings", "Issues",
                             "NotDuplicates", "_meta"]


def test_template_entry_help(tmp_path):
    """Required headers marked, engine columns shaded with an input message, 下次跟进 split
    into a date column and the action, 跟进人 offers the service staff too."""
    path = build_template(tmp_path / "t.xlsx", "zh")
    wb = openpyxl.load_workbook(path)
    ws = wb["客户"]
    heads = [c.value for c in ws[1]]
    assert heads[CUSTOMERS.keys.index("name")] == "*客户名称"
    assert heads[CUSTOMERS.keys.index("notes")] == "备注"
    date_i, text_i = CUSTOMERS.keys.index("next_followup_date"), CUSTOMERS.keys.index("next_followup")
    assert (heads[date_i], heads[text_i]) == ("下次跟进日期", "下次跟进")
    date_letter = chr(65 + date_i)
    assert ws.column_dimensions[date_letter].number_format == "yyyy-mm-dd"
    engine_fill = ws[f"{date_letter}1"].fill.fgColor.rgb
    assert engine_fill != ws["B1"].fill.fgColor.rgb  # engine headers look different
    notes = {str(dv.sqref).split(":")[0]: dv for dv in ws.data_validations.dataValidation}
    dv = notes[f"{date_letter}1"]
    assert dv.type is None or dv.type == "any"
    assert "crm apply" in dv.prompt and dv.showInputMessage
    fol = wb["跟进记录"]
    owner = chr(65 + FOLLOWUPS.keys.index("owner"))
    src = [dv.formula1 for dv in fol.data_validations.dataValidation
           if str(dv.sqref).startswith(f"{owner}2")]
    assert src == ["list_staff"]
    assert "OFFSET" in wb.defined_names["list_staff"].attr_text
    lists = wb["列表"]
    assert lists["J1"].value == "跟进人" and "COUNTA($H$2" in lists["J2"].value


def test_template_prints_readably(tmp_path):
    """Customers, Followups and Issues print on A4 landscape, header repeated, as many pages
    wide as keeps the text readable (not 26 columns squeezed onto one page), the ID and
    name columns repeated on every page."""
    wb = openpyxl.load_workbook(build_template(tmp_path / "t.xlsx", "zh"))
    for tab, wide, cols in (("客户", 3, "$A:$B"), ("跟进记录", 2, "$A:$C"), ("问题", 1, None)):
        ws = wb[tab]
        assert ws.page_setup.orientation == "landscape" and str(ws.page_setup.paperSize) == "9"
        assert (ws.page_setup.fitToWidth or 1) == wide and ws.page_setup.fitToHeight == 0  # 1 = default
        assert ws.sheet_properties.pageSetUpPr.fitToPage
        assert ws.print_title_rows == "$1:$1" and ws.print_title_cols == cols
    issues = wb["问题"]
    assert [c.value for c in issues[1]][-3:] == ["客户名称", "负责人", "跳转"]
    assert issues.auto_filter.ref.startswith("A1:J")
    rules = [r for cf in issues.conditional_formatting for r in cf.rules]
    assert any('"错误"' in r.formula[0] for r in rules) and any('"警告"' in r.formula[0] for r in rules)


def test_template_reads_clean(tmp_path):
    wb = load(build_template(tmp_path / "t.xlsx", "en"))
    assert wb.lang == "en"
    assert validate(wb).findings == []
    assert wb.settings["dormant_days"] == 180
    assert wb.meta["schema_version"] == "1"


def test_code_fields_are_text_formatted():
    assert {f.key for f in CUSTOMERS.fields if f.kind is Kind.CODE} >= {"customer_id", "phone"}


@pytest.mark.libreoffice
def test_template_opens_in_libreoffice(tmp_path):
    path = build_template(tmp_path / "模板.xlsx", "zh")
    out = libreoffice_convert(path, "csv", tmp_path)
    assert "客户名称" in out.read_text(encoding="utf-8", errors="replace") or out.stat().st_size > 0
