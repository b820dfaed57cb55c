"""crm export: xlsx / PDF / CSV write exactly the selected rows, safely, readable in Chinese."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from PIL import Image
from test_query_fixtures import (
    BANK_CARD,
    OWASP,
    RESIDENT_ID,
    TODAY,
    add_owasp_rows,
    sample_workbook,
)

from crm_sheets import fonts
from crm_sheets.cli import cli
from crm_sheets.export import export
from crm_sheets.query import Filters, run_query
from crm_sheets.safe_text import FORMULA_TRIGGERS, csv_cell, is_formula_like, neutralise_csv
from crm_sheets.schema import CUSTOMERS
from crm_sheets.template import build_workbook

LONG = "客户要求分三期交付，第一期在七月底前完成安装调试，第二期培训操作人员，第三期验收并签署维保合同，" * 3


def selection(n: int = 40, filters: Filters | None = None):
    wb = sample_workbook(n)
    wb.customers.records[0].values["followup_summary"] = LONG
    add_owasp_rows(wb)
    return run_query(wb, filters or Filters(), today=TODAY)


def pdf_text(path: Path, first: int | None = None, last: int | None = None) -> str:
    args = ["pdftotext", "-layout"]
    if first:
        args += ["-f", str(first), "-l", str(last or first)]
    return subprocess.run([*args, str(path), "-"], capture_output=True, text=True,
                          check=True).stdout


def xlsx_bytes(path: Path) -> bytes:
    with zipfile.ZipFile(path) as z:
        return b"".join(z.read(n) for n in z.namelist())


# ---------------------------------------------------------------- safe text


@pytest.mark.parametrize("payload", OWASP)
def test_neutraliser_covers_the_owasp_list(payload):
    assert is_formula_like(payload)
    assert neutralise_csv(payload) == "'" + payload
    assert csv_cell(payload).startswith("'")


def test_numbers_and_plain_text_are_left_alone():
    assert csv_cell(-5) == "-5" and csv_cell(3.0) == "3" and csv_cell("制造业") == "制造业"
    assert csv_cell(dt.date(2024, 1, 2)) == "2024-01-02"
    assert csv_cell(int(BANK_CARD)) == "6222 **** **** 0128"  # a card typed as a number


# ---------------------------------------------------------------- the three formats


def test_export_writes_exactly_the_selected_rows(tmp_path):
    res = selection(40, Filters.from_options(industry="制造业", not_followed_within="30d"))
    ids = [r.values["customer_id"] for r in res.records]
    assert 0 < len(ids) < 40
    export(res, tmp_path / "a.csv")
    export(res, tmp_path / "a.xlsx")
    export(res, tmp_path / "a.pdf")
    rows = list(csv.reader(io.StringIO((tmp_path / "a.csv").read_text("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == ids
    ws = openpyxl.load_workbook(tmp_path / "a.xlsx")["客户"]
    assert [ws.cell(r, 1).value for r in range(2, ws.max_row + 1)] == ids
    text = pdf_text(tmp_path / "a.pdf")
    assert all(i in text for i in ids)
    assert "C20240101002" not in ids and "C20240101002" not in text


def test_csv_is_utf8_with_bom_and_neutralised(tmp_path):
    res = selection()
    out = export(res, tmp_path / "客户.csv")
    raw = out.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert rows[0] == [f.zh for f in CUSTOMERS.fields]
    cells = [c for r in rows for c in r]
    assert not [c for c in cells if c and c[0] in FORMULA_TRIGGERS]
    for payload in OWASP:
        assert "'" + payload in cells


def test_xlsx_never_contains_a_formula_and_keeps_payloads_as_text(tmp_path):
    out = export(selection(), tmp_path / "x.xlsx")
    with zipfile.ZipFile(out) as z:
        sheets = [n for n in z.namelist() if n.startswith("xl/worksheets/")]
        assert sheets and not any(b"<f>" in z.read(n) or b"<f " in z.read(n) for n in sheets)
    ws = openpyxl.load_workbook(out)["客户"]
    seen = set()
    for row in ws.iter_rows(min_row=2):
        for cell in row:
            assert cell.data_type != "f"
            if isinstance(cell.value, str):
                seen.add(cell.value)
    # (XML turns a stored CR into LF when read back; NUL is stored as _x0000_)
    assert {p.replace("\r", "\n") for p in OWASP if "\0" not in p} <= seen


def test_xlsx_is_formatted_like_the_template(tmp_path):
    out = export(selection(), tmp_path / "x.xlsx")
    wb = openpyxl.load_workbook(out)
    ws = wb["客户"]
    assert ws.freeze_panes == "C2"
    assert ws.auto_filter.ref and ws.auto_filter.ref.startswith("A1:")
    keys = CUSTOMERS.keys
    col = {k: i + 1 for i, k in enumerate(keys)}
    letter = openpyxl.utils.get_column_letter
    # schema width at least, wider for longer content (CJK counted double), capped at 50
    widths = {k: ws.column_dimensions[letter(col[k])].width for k in ("name", "province")}
    assert CUSTOMERS.field("name").width <= widths["name"] <= 51
    assert widths["province"] >= CUSTOMERS.field("province").width
    phone = ws.cell(2, col["phone"])
    assert phone.data_type == "s" and phone.number_format == "@" and phone.value == "13800000000"
    fc = ws.cell(2, col["first_contact"])
    assert isinstance(fc.value, dt.datetime) and fc.number_format == "yyyy-mm-dd"
    assert ws.cell(2, col["expected_amount"]).data_type == "n"
    assert "图表" in wb.sheetnames


def test_xlsx_charts_carry_cached_values(tmp_path):
    out = export(selection(), tmp_path / "x.xlsx")
    with zipfile.ZipFile(out) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
    assert len(charts) >= 4
    for xml in charts:
        assert "<c:numCache>" in xml and "<c:pt idx=\"0\">" in xml
    assert any("制造业" in xml for xml in charts)  # category cache holds the labels


def test_pdf_is_a4_landscape_chinese_embedded_sc_face_page_numbers(tmp_path):
    out = export(selection(120), tmp_path / "导出 测试.pdf")
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True).stdout
    assert re.search(r"Page size:\s+841\.\d+ x 595\.\d+", info)
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    assert pages >= 3
    text = pdf_text(out)
    assert "深圳华强制造有限公司" in text and "客户导出" in text
    assert f"日期：{TODAY.isoformat()}" in text and "筛选：全部客户" in text
    assert f"第1/{pages}页" in text.replace(" ", "")
    # header row repeated on the second page
    assert "客户名称" in pdf_text(out, 2) and "联系方式" in pdf_text(out, 2)
    # the long summary wrapped, not cut off: its end is there
    assert "签署维保合同" in pdf_text(out, 1)
    # charts page
    assert "销售漏斗" in text and "行业分布" in text
    fonts_out = subprocess.run(["pdffonts", str(out)], capture_output=True, text=True).stdout
    font = fonts.cjk_font()
    assert font is not None and font.family.endswith("SC")
    assert "SC" in fonts_out and "JP" not in fonts_out
    assert re.search(r"\byes\s+yes\b", fonts_out)  # embedded, subset


def test_pdf_rasterises(tmp_path):
    out = export(selection(), tmp_path / "p.pdf")
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(out),
                    str(tmp_path / "page")], check=True)
    png = next(tmp_path.glob("page*.png"))
    img = Image.open(png).convert("L")
    dark = sum(img.histogram()[:128])
    assert img.width > img.height and dark > 2000


def test_prohibited_numbers_never_leave_in_any_format(tmp_path):
    res = selection()
    for ext in ("csv", "xlsx", "pdf"):
        out = export(res, tmp_path / f"p.{ext}")
        data = xlsx_bytes(out) if ext == "xlsx" else out.read_bytes()
        if ext == "pdf":
            data += pdf_text(out).encode()
            assert "110***" in pdf_text(out)
        for secret in (RESIDENT_ID, BANK_CARD, "6222 0212 3456 7890 128"):
            assert secret.encode() not in data, (ext, secret)
        assert b"110***********002X" in data, ext


def test_owasp_payloads_in_pdf_are_plain_text(tmp_path):
    out = export(selection(), tmp_path / "o.pdf")
    text = pdf_text(out)
    assert "=HYPERLINK(" in text and "@SUM(1,1)" in text


def test_unknown_suffix_and_missing_folder_are_usage_errors(tmp_path):
    from crm_sheets.errors import CrmError

    with pytest.raises(CrmError, match=r"\.xlsx(, |、)\.pdf (or|或) \.csv"):  # zh home by default
        export(selection(5), tmp_path / "x.docx")
    with pytest.raises(CrmError, match="does not exist|不存在"):
        export(selection(5), tmp_path / "nope" / "x.csv")


# ---------------------------------------------------------------- fonts


def test_font_finder_picks_the_simplified_chinese_face():
    font = fonts.find_cjk_font()
    assert font is not None
    if font.path.suffix == ".ttc" and "NotoSansCJK" in font.path.name:
        assert font.face != 0 and font.family == "Noto Sans CJK SC"
    assert fonts.matplotlib_family()[0] == font.family


def test_font_finder_says_once_how_to_install(monkeypatch, capsys):
    monkeypatch.delenv("CRM_CJK_FONT", raising=False)
    assert fonts.find_cjk_font(candidates=[]) is None
    monkeypatch.setattr(fonts, "_warned", False)
    fonts.warn_missing_once()
    fonts.warn_missing_once()
    err = capsys.readouterr().err
    assert err.count("no Simplified-Chinese font") == 1 and "fonts-noto-cjk" in err


# ---------------------------------------------------------------- command line and roles


@pytest.fixture
def home_master(logged_in_home):
    def make(role: str):
        li = logged_in_home(role)
        wb = sample_workbook(30)
        build_workbook(li.home.master, customers=[r.values for r in wb.customers.records],
                       followups=[r.values for r in wb.followups.records],
                       lists={"owners": ["张伟", "李娜", "王芳"]})
        return li
    return make


def test_cli_export_as_manager_and_refused_for_sales(home_master, tmp_path):
    li = home_master("manager")
    out = tmp_path / "中文 路径" / "意向客户.xlsx"
    out.parent.mkdir()
    r = CliRunner().invoke(cli, ["export", str(li.home.master), "--type", "intent", "--to",
                                 str(out), "--today", TODAY.isoformat()])
    assert r.exit_code == 0, r.output
    assert out.is_file() and "已导出" in r.output


def test_cli_export_refused_for_sales(logged_in_home, tmp_path):
    li = logged_in_home("sales")
    wb = sample_workbook(10)
    build_workbook(li.home.master, customers=[r.values for r in wb.customers.records],
                   followups=[r.values for r in wb.followups.records])
    out = tmp_path / "x.csv"
    r = CliRunner().invoke(cli, ["export", str(li.home.master), "--to", str(out)])
    assert r.exit_code == 1 and not out.exists()
    assert "导出" in r.output


@pytest.mark.libreoffice
def test_libreoffice_opens_the_exported_xlsx(tmp_path):
    soffice = shutil.which("soffice")
    assert soffice, "LibreOffice (soffice) is required for this test"
    out = export(selection(), tmp_path / "导出.xlsx")
    pdf = convert_with_libreoffice(out, tmp_path)
    text = pdf_text(pdf)
    assert "深圳华强制造有限公司" in text


def convert_with_libreoffice(path: Path, tmp_path: Path) -> Path:
    """xlsx -> PDF with a private LibreOffice profile; the output must exist (LO exits 0 anyway)."""
    profile = tmp_path / "lo-profile"
    outdir = tmp_path / "lo-out"
    subprocess.run(["soffice", f"-env:UserInstallation={profile.as_uri()}", "--headless",
                    "--convert-to", "pdf", "--outdir", str(outdir), str(path)],
                   capture_output=True, timeout=180, check=False)
    pdf = outdir / (path.stem + ".pdf")
    assert pdf.is_file() and pdf.stat().st_size > 1000, f"LibreOffice could not convert {path.name}"
    return pdf
