"""The xlsx patcher: only the patched parts change; values keep their types; editors open it."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import struct
import subprocess
import uuid
import zipfile
from pathlib import Path

import openpyxl
import pytest
import xlsxwriter
from helpers import FIXTURES
from PIL import Image
from python_calamine import CalamineWorkbook

from crm_sheets.writeback.xlsxpatch import (
    PatchError,
    SheetRows,
    column_index,
    column_letters,
    excel_serial,
    patch_workbook,
)

X14_DV = (
    b'<ext uri="{CCE6A557-97BC-4b89-ADB6-D9C93CAAB3DF}" '
    b'xmlns:x14="http://schemas.microsoft.com/office/spreadsheetml/2009/9/main">'
    b'<x14:dataValidations count="1" xmlns:xm="http://schemas.microsoft.com/office/excel/2006/main">'
    b'<x14:dataValidation type="list" allowBlank="1"><x14:formula1><xm:f>Lists!$A$2:$A$9</xm:f>'
    b"</x14:formula1><xm:sqref>E2:E100</xm:sqref></x14:dataValidation></x14:dataValidations>"
    b"</ext>"
)


def raw_members(path: Path) -> dict[str, bytes]:
    """Each member's compressed bytes exactly as stored (plus CRC and method)."""
    out = {}
    with zipfile.ZipFile(path) as zf, open(path, "rb") as fh:
        for info in zf.infolist():
            fh.seek(info.header_offset)
            head = fh.read(30)
            n, m = struct.unpack("<2H", head[26:30])
            fh.seek(info.header_offset + 30 + n + m)
            out[info.filename] = struct.pack("<LH", info.CRC, info.compress_type) + \
                fh.read(info.compress_size)
    return out


def rich_workbook(path: Path, tmp: Path) -> Path:
    """A workbook with what openpyxl would drop: chart, image, comment, sparkline (x14),
    x14 data validation, conditional format, validation, defined name, widths, styles."""
    png = tmp / "logo.png"
    Image.new("RGB", (8, 8), (200, 30, 30)).save(png)
    wb = xlsxwriter.Workbook(str(path))
    text = wb.add_format({"num_format": "@"})
    bold = wb.add_format({"bold": True, "bg_color": "#DDEBF7"})
    ws = wb.add_worksheet("Customers")
    ws.set_column(0, 0, 16, text)
    ws.set_column(1, 1, 30)
    ws.set_column(2, 2, 16, text)
    for c, h in enumerate(["客户编号", "客户名称", "联系方式", "金额", "阶段", "更新时间"]):
        ws.write_string(0, c, h, bold)
    for r in range(1, 6):
        ws.write_string(r, 1, f"公司{r}")
        ws.write_string(r, 2, f"1380013800{r}", text)
        ws.write_number(r, 3, r * 10.5)
    ws.write_string(1, 0, "C20240101001", text)
    ws.write_comment(1, 1, "重要客户 <b>", {"author": "王五"})
    ws.data_validation(1, 3, 100, 3, {"validate": "decimal", "criteria": ">=", "value": 0})
    ws.conditional_format(1, 3, 100, 3, {"type": "cell", "criteria": ">", "value": 20,
                                         "format": bold})
    ws.add_sparkline(1, 6, {"range": "Customers!D2:D6"})
    ws.insert_image("J2", str(png))
    chart = wb.add_chart({"type": "column"})
    chart.add_series({"values": "=Customers!$D$2:$D$6", "categories": "=Customers!$B$2:$B$6"})
    ws.insert_chart("J8", chart)
    ws.freeze_panes(1, 0)
    wb.define_name("amounts", "=Customers!$D$2:$D$6")
    other = wb.add_worksheet("Mine")
    other.write_string(0, 0, "user's own sheet")
    other.write_formula(1, 0, "=SUM(Customers!D2:D6)", None, 52.5)
    wb.add_worksheet("Lists").write_column(0, 0, ["阶段", "线索", "意向"])
    wb.close()
    # inject an x14 data validation extLst into the Customers sheet (Excel writes these)
    buf = io.BytesIO()
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"<extLst>", b"<extLst>" + X14_DV, 1)
            zout.writestr(info, data)
    path.write_bytes(buf.getvalue())
    assert b"x14:dataValidation" in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    assert b"sparklineGroup" in zipfile.ZipFile(path).read("xl/worksheets/sheet1.xml")
    return path


def _outside_sheet_data(xml: bytes) -> bytes:
    head, _, rest = xml.partition(b"<sheetData")
    _, _, tail = rest.partition(b"</sheetData>")
    head = re.sub(rb"<dimension[^>]*/>", b"", head)
    return head + tail


def test_untouched_members_are_byte_identical(tmp_path: Path) -> None:
    src = rich_workbook(tmp_path / "rich.xlsx", tmp_path)
    dst = tmp_path / "out.xlsx"
    res = patch_workbook(src, dst, {
        ("Customers", 2, 0): "C20240315001",
        ("Customers", 3, 5): dt.datetime(2024, 3, 15, 14, 30),
        ("Customers", 9, 1): "新客户 & <测试>",
        ("Customers", 4, 4): "谈判",
    })
    before, after = raw_members(src), raw_members(dst)
    assert list(before) == list(after)  # same members, same order
    changed = {n for n in before if before[n] != after[n]}
    assert changed == set(res.patched_parts) == {"xl/worksheets/sheet1.xml", "xl/styles.xml"}
    with zipfile.ZipFile(src) as a, zipfile.ZipFile(dst) as b:
        assert b.testzip() is None
        old, new = a.read("xl/worksheets/sheet1.xml"), b.read("xl/worksheets/sheet1.xml")
        # everything outside sheetData (cols, views, validations, x14 extLst, drawing) as it was
        assert _outside_sheet_data(old) == _outside_sheet_data(new)
        assert b'<dimension ref="A1:F9"/>' in new
        # untouched rows stay byte for byte
        for r in (1, 5, 6):
            pat = rb'<row r="%d".*?</row>' % r
            assert re.search(pat, old, re.S).group(0) == re.search(pat, new, re.S).group(0)
        styles_old, styles_new = a.read("xl/styles.xml"), b.read("xl/styles.xml")
        assert styles_new.count(b"<xf ") == styles_old.count(b"<xf ") + 1
        assert b'formatCode="yyyy-mm-dd hh:mm"' in styles_new


def test_values_keep_their_types(tmp_path: Path) -> None:
    src = rich_workbook(tmp_path / "rich.xlsx", tmp_path)
    dst = tmp_path / "out.xlsx"
    patch_workbook(src, dst, {
        ("Customers", 2, 2): "13800138000",
        ("Customers", 3, 0): "C20240315001",
        ("Customers", 3, 3): 42,
        ("Customers", 4, 3): 0.1,
        ("Customers", 3, 5): dt.datetime(2024, 3, 15, 14, 30),
        ("Customers", 4, 5): dt.date(2024, 3, 16),
        ("Customers", 5, 4): " 两端空格 \n换行",
        ("Customers", 6, 4): "bad\x01char _x0041_",
        ("Customers", 5, 2): None,
    })
    rows = CalamineWorkbook.from_path(str(dst)).get_sheet_by_name("Customers").to_python()
    assert rows[1][2] == "13800138000" and isinstance(rows[1][2], str)
    assert rows[2][0] == "C20240315001"
    assert rows[2][3] == 42 and rows[3][3] == 0.1
    assert rows[2][5] == dt.datetime(2024, 3, 15, 14, 30)
    assert rows[3][5] in (dt.date(2024, 3, 16), dt.datetime(2024, 3, 16))
    assert rows[4][4] == " 两端空格 \n换行"
    assert rows[4][2] == ""  # cleared
    assert rows[5][4] == "bad\x01char _x0041_"  # OOXML _xHHHH_ escapes, decoded by readers
    wb = openpyxl.load_workbook(dst)
    ws = wb["Customers"]
    assert ws["F3"].is_date and ws["F3"].number_format == "yyyy-mm-dd hh:mm"
    assert ws["F4"].is_date and ws["F4"].number_format == "yyyy-mm-dd"
    assert ws["C2"].data_type == "s" and ws["C2"].value == "13800138000"
    assert ws["C5"].value is None and ws["C5"].number_format == "@"  # style kept when cleared
    assert ws.column_dimensions["B"].width == pytest.approx(30.7109375)
    assert wb.defined_names["amounts"].attr_text == "Customers!$D$2:$D$6"


def test_replace_engine_sheet_with_internal_links(tmp_path: Path) -> None:
    src = rich_workbook(tmp_path / "rich.xlsx", tmp_path)
    dst = tmp_path / "out.xlsx"
    patch_workbook(src, dst, replace={"Lists": SheetRows(
        rows=[["Customers", 2, "出错了"], ["Customers", 3, "再一个"]], first_row=2,
        links={(2, 2): "'Customers'!C2", (3, 2): "'Customers'!D3"})})
    wb = openpyxl.load_workbook(dst)
    ws = wb["Lists"]
    assert [c.value for c in ws["A"]] == ["阶段", "Customers", "Customers"]  # header kept
    assert ws["C2"].hyperlink.location == "'Customers'!C2"
    assert ws["C3"].hyperlink.location == "'Customers'!D3"
    # replacing again with fewer rows removes the old ones and their links
    dst2 = tmp_path / "out2.xlsx"
    patch_workbook(dst, dst2, replace={"Lists": SheetRows(rows=[], first_row=2)})
    ws = openpyxl.load_workbook(dst2)["Lists"]
    assert ws.max_row == 1 and not ws._hyperlinks  # noqa: SLF001


def test_rows_and_cells_without_r_and_prefixed_namespace(tmp_path: Path) -> None:
    sheet = (b'<?xml version="1.0" encoding="UTF-8"?>'
             b'<x:worksheet xmlns:x="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
             b'<x:dimension ref="A1"/><x:sheetData><x:row><x:c t="inlineStr"><x:is><x:t>a</x:t>'
             b'</x:is></x:c><x:c><x:v>1</x:v></x:c></x:row><x:row><x:c><x:v>2</x:v></x:c></x:row>'
             b"</x:sheetData></x:worksheet>")
    src = _minimal_xlsx(tmp_path / "min.xlsx", sheet)
    dst = tmp_path / "out.xlsx"
    patch_workbook(src, dst, {("S", 2, 1): "b2", ("S", 1, 3): 9, ("S", 4, 0): "new"})
    rows = CalamineWorkbook.from_path(str(dst)).get_sheet_by_name("S").to_python()
    assert rows[0][:4] == ["a", 1, "", 9]
    assert rows[1][:2] == [2, "b2"]
    assert rows[3][0] == "new"
    assert b'<x:dimension ref="A1:D4"/>' in zipfile.ZipFile(dst).read("xl/worksheets/sheet1.xml")


def _minimal_xlsx(path: Path, sheet_xml: bytes) -> Path:
    ct = (b'<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/'
          b'package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.'
          b'openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="'
          b'application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.'
          b'openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/'
          b'worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.'
          b'spreadsheetml.worksheet+xml"/></Types>')
    rels = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
            b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://'
            b'schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" '
            b'Target="xl/workbook.xml"/></Relationships>')
    wb = (b'<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.'
          b'org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/'
          b'officeDocument/2006/relationships"><sheets><sheet name="S" sheetId="1" r:id="rId1"/>'
          b"</sheets></workbook>")
    wbrels = (b'<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.'
              b'openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http:'
              b'//schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" '
              b'Target="worksheets/sheet1.xml"/></Relationships>')
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("[Content_Types].xml", ct)
        zf.writestr("_rels/.rels", rels)
        zf.writestr("xl/workbook.xml", wb)
        zf.writestr("xl/_rels/workbook.xml.rels", wbrels)
        zf.writestr("xl/worksheets/sheet1.xml", sheet_xml)
    return path


def test_formula_cell_replaced_drops_calc_chain(tmp_path: Path) -> None:
    src = FIXTURES / "excel-mac_date1900_1900.xlsx"
    with zipfile.ZipFile(src) as zf:
        names = zf.namelist()
    pkg_sheet = next(n for n in names if n.startswith("xl/worksheets/sheet"))
    xml = zipfile.ZipFile(src).read(pkg_sheet)
    m = re.search(rb'<c r="([A-Z]+)(\d+)"[^>]*>(?:(?!</c>).)*?<f>', xml, re.S)
    if m is None or "xl/calcChain.xml" not in names:
        pytest.fail("fixture changed: expected a plain formula and a calcChain")
    sheet_name = CalamineWorkbook.from_path(str(src)).sheet_names[0]
    dst = tmp_path / "out.xlsx"
    res = patch_workbook(src, dst, {(sheet_name, int(m.group(2)),
                                     column_index(m.group(1).decode())): "值"})
    assert res.removed_parts == ["xl/calcChain.xml"]
    with zipfile.ZipFile(dst) as zf:
        assert "xl/calcChain.xml" not in zf.namelist()
        assert b"calcChain" not in zf.read("[Content_Types].xml")
        assert b"calcChain" not in zf.read("xl/_rels/workbook.xml.rels")


def test_date1904_serials_and_helpers() -> None:
    assert excel_serial(dt.date(2024, 3, 15)) == 45366
    assert excel_serial(dt.date(2024, 3, 15), date1904=True) == 45366 - 1462
    assert excel_serial(dt.datetime(2024, 3, 15, 12)) == 45366.5
    assert [column_letters(i) for i in (0, 25, 26, 701, 702)] == ["A", "Z", "AA", "ZZ", "AAA"]
    assert all(column_index(column_letters(i)) == i for i in range(2000))


def test_missing_sheet_and_bad_zip(tmp_path: Path) -> None:
    src = rich_workbook(tmp_path / "rich.xlsx", tmp_path)
    with pytest.raises(PatchError, match="Nope"):
        patch_workbook(src, tmp_path / "o.xlsx", {("Nope", 1, 0): "x"})
    bad = tmp_path / "bad.xlsx"
    bad.write_bytes(b"not a zip")
    with pytest.raises(PatchError):
        patch_workbook(bad, tmp_path / "o2.xlsx", {("S", 1, 0): "x"})


# ---------------------------------------------------------------- real files from editors

READABLE = sorted(p for p in FIXTURES.glob("*.xlsx")
                  if not p.name.startswith(("malformed_", "encrypted_agile")))


def _patch_fixture(src: Path, dst: Path) -> tuple[str, int, int]:
    cwb = CalamineWorkbook.from_path(str(src))
    name = cwb.sheet_names[0]
    rows = cwb.get_sheet_by_name(name).to_python()
    r = len(rows) + 2
    patch_workbook(src, dst, {(name, r, 0): "crm-新值-13800138000", (name, 1, 0): "A1 已改",
                              (name, r + 1, 1): dt.date(2024, 3, 15)})
    return name, r, 0


@pytest.mark.parametrize("src", READABLE, ids=lambda p: p.name)
def test_fixture_round_trip(src: Path, tmp_path: Path) -> None:
    dst = tmp_path / src.name
    name, r, c = _patch_fixture(src, dst)
    before, after = raw_members(src), raw_members(dst)
    assert set(before) - set(after) <= {"xl/calcChain.xml"}
    changed = {n for n in before if n in after and before[n] != after[n]}
    allowed = {"xl/styles.xml", "[Content_Types].xml", "xl/_rels/workbook.xml.rels"}
    assert len(changed - allowed) == 1 and next(iter(changed - allowed)).startswith("xl/worksheets/")
    rows = CalamineWorkbook.from_path(str(dst)).get_sheet_by_name(name).to_python()
    assert rows[r - 1][c] == "crm-新值-13800138000"
    assert rows[0][0] == "A1 已改"
    assert rows[r][1] in (dt.date(2024, 3, 15), dt.datetime(2024, 3, 15))


def soffice_convert(files: list[Path], out: Path, fmt: str = "csv") -> dict[Path, Path]:
    """Convert with LibreOffice headless; returns input -> output for those that exist."""
    exe = shutil.which("soffice")
    if exe is None:
        pytest.fail("LibreOffice (soffice) is required for this test")
    profile = out / f"lo-profile-{uuid.uuid4().hex}"
    out.mkdir(parents=True, exist_ok=True)
    subprocess.run([exe, f"-env:UserInstallation=file://{profile}", "--headless",
                    "--convert-to", fmt, "--outdir", str(out), *map(str, files)],
                   check=False, capture_output=True, timeout=300)
    result = {}
    for f in files:
        o = out / (f.stem + "." + fmt.split(":")[0])
        if o.exists() and o.stat().st_size > 0:
            result[f] = o
    return result


@pytest.mark.libreoffice
def test_libreoffice_opens_patched_files(tmp_path: Path) -> None:
    srcs = []
    for i, src in enumerate(READABLE):
        dst = tmp_path / "in" / f"f{i:02d}.xlsx"
        dst.parent.mkdir(exist_ok=True)
        _patch_fixture(src, dst)
        srcs.append(dst)
    rich = rich_workbook(tmp_path / "rich.xlsx", tmp_path)
    mine = tmp_path / "in" / "rich.xlsx"
    patch_workbook(rich, mine, {("Customers", 2, 0): "C20240315001",
                                ("Customers", 3, 5): dt.datetime(2024, 3, 15, 14, 30)})
    srcs.append(mine)
    converted = soffice_convert(srcs, tmp_path / "out")
    assert set(converted) == set(srcs), f"LibreOffice could not open {set(srcs) - set(converted)}"
    text = converted[mine].read_text(encoding="utf-8", errors="replace")
    assert "C20240315001" in text and "2024-03-15 14:30" in text


def test_empty_sheet_data_and_self_closing_rows(tmp_path: Path) -> None:
    ns = b'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
    empty = _minimal_xlsx(tmp_path / "e.xlsx", b"<worksheet " + ns + b"><sheetData/></worksheet>")
    patch_workbook(empty, tmp_path / "e2.xlsx", {("S", 2, 1): "x"})
    assert CalamineWorkbook.from_path(str(tmp_path / "e2.xlsx")).get_sheet_by_name(
        "S").to_python(skip_empty_area=False) == [["", ""], ["", "x"]]
    rows = _minimal_xlsx(tmp_path / "r.xlsx", b"<worksheet " + ns + b'><sheetData><row r="1" '
                         b'ht="30" customHeight="1"/><row r="3"><c r="A3"><v>3</v></c></row>'
                         b"</sheetData></worksheet>")
    patch_workbook(rows, tmp_path / "r2.xlsx", {("S", 1, 0): "one", ("S", 2, 0): "two"})
    xml = zipfile.ZipFile(tmp_path / "r2.xlsx").read("xl/worksheets/sheet1.xml")
    assert b'<row r="1" ht="30" customHeight="1"><c r="A1" t="inlineStr">' in xml
    got = CalamineWorkbook.from_path(str(tmp_path / "r2.xlsx")).get_sheet_by_name("S").to_python()
    assert [r[0] for r in got] == ["one", "two", 3]


def test_engine_conditional_formats_replace_only_their_own(tmp_path: Path) -> None:
    """The engine's formats (a dxf each, marked in the formula) go in after the user's own,
    before dataValidations; a second write replaces them instead of adding more; the
    user's format, the x14 extensions and every cell style stay."""
    from crm_sheets.writeback.xlsxpatch import CfRule, SheetDress

    src = rich_workbook(tmp_path / "rich.xlsx", tmp_path)
    one, two = tmp_path / "one.xlsx", tmp_path / "two.xlsx"
    dress = {"Customers": SheetDress(rules=[CfRule("error", "B2 C3:C5"),
                                            CfRule("overdue", "F2:F100", "F2<TODAY()")],
                                     print_setup=True)}
    patch_workbook(src, one, dress=dress)
    patch_workbook(one, two, dress={"Customers": SheetDress(rules=[CfRule("warning", "B3")])})
    x1 = zipfile.ZipFile(one).read("xl/worksheets/sheet1.xml")
    x2 = zipfile.ZipFile(two).read("xl/worksheets/sheet1.xml")
    for x in (x1, x2):
        assert x.count(b'type="cellIs"') == 1  # the user's own rule, kept
        assert b"x14:dataValidation" in x and b"sparklineGroup" in x
        assert x.index(b"<conditionalFormatting") < x.index(b"<dataValidations")
    assert b'sqref="B2 C3:C5"' in x1 and b"crm-sheets:overdue" in x1
    assert b'<pageSetup paperSize="9" orientation="landscape"' in x1 and b'fitToPage="1"' in x1
    assert b"crm-sheets:error" not in x2 and b"crm-sheets:overdue" not in x2
    assert b'sqref="B3"' in x2 and x2.count(b"crm-sheets:") == 1
    a, b = (openpyxl.load_workbook(p)["Customers"] for p in (src, two))
    for ref in ("A1", "B2", "C3", "D2"):
        assert (a[ref].style_id, a[ref].number_format) == (b[ref].style_id, b[ref].number_format)
    styles = zipfile.ZipFile(two).read("xl/styles.xml")
    assert re.search(rb'<dxfs count="(\d+)"', styles)
    n = len(re.findall(rb"<dxf>", styles))
    patch_workbook(two, tmp_path / "three.xlsx",
                   dress={"Customers": SheetDress(rules=[CfRule("warning", "B4")])})
    assert len(re.findall(rb"<dxf>", zipfile.ZipFile(tmp_path / "three.xlsx").read(
        "xl/styles.xml"))) == n  # an equal dxf is reused


def test_meta_made_very_hidden_again_and_keys_name_tabs(tmp_path: Path) -> None:
    src = tmp_path / "m.xlsx"
    wb = xlsxwriter.Workbook(str(src))
    wb.add_worksheet("客户").write_string(0, 0, "客户编号")
    meta = wb.add_worksheet("_meta")
    meta.write_string(0, 0, "lang")
    meta.hide()  # what a LibreOffice save leaves
    wb.close()
    dst = tmp_path / "out.xlsx"
    patch_workbook(src, dst, {("Customers", 2, 0): "C1"})  # the stable key finds 客户
    book = openpyxl.load_workbook(dst)
    assert book["_meta"].sheet_state == "veryHidden" and book["客户"]["A2"].value == "C1"


def test_dress_without_a_styles_part_writes_values_and_skips_the_formats(tmp_path: Path) -> None:
    from crm_sheets.writeback.xlsxpatch import CfRule, SheetDress

    sheet = (b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.'
             b'openxmlformats.org/spreadsheetml/2006/main"><sheetData><row r="1"><c r="A1" '
             b't="inlineStr"><is><t>a</t></is></c></row></sheetData></worksheet>')
    src = _minimal_xlsx(tmp_path / "min.xlsx", sheet)
    dst = tmp_path / "out.xlsx"
    patch_workbook(src, dst, replace={"S": SheetRows(rows=[["x", "y"]], first_row=2,
                                                     links={(2, 1): "'S'!A1"}, link_font=True)},
                   dress={"S": SheetDress(rules=[CfRule("error", "A1")], autofilter="A1:B2",
                                          print_setup=1)})
    xml = zipfile.ZipFile(dst).read("xl/worksheets/sheet1.xml")
    assert b"conditionalFormatting" not in xml and b'<autoFilter ref="A1:B2"/>' in xml
    assert CalamineWorkbook.from_path(str(dst)).get_sheet_by_name("S").to_python()[1] == ["x", "y"]
