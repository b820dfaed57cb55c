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
    assert wb.sheetnames == ["Customers", "Followups", "Lists", "Settings", "Issues", "NotDuplicates", "_meta"]
    assert wb["_meta"].sheet_state == "veryHidden"
    ws = wb["Customers"]
    assert [c.value for c in ws[1]] == CUSTOMERS.headers("zh")
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref.startswith("A1:")
    dv_cols = {str(dv.sqref).split(":")[0].rstrip("0123456789") for dv in ws.data_validations.dataValidation}
    choice_cols = {chr(65 + i) for i, f in enumerate(CUSTOMERS.fields) if f.choices and not f.engine}
    assert choice_cols <= dv_cols
    phone_col = CUSTOMERS.keys.index("phone")
    assert ws.column_dimensions[chr(65 + phone_col)].number_format == "@"
    assert [c.value for c in wb["Followups"][1]] == FOLLOWUPS.headers("zh")
    assert "list_methods" in wb.defined_names


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
