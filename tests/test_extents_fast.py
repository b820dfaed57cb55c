"""The extents guard (safezip.check_extents) at a fraction of its cost, issue #15.

The fast pass (raw inflate, RE2 searches) must never let through what the exact pass, or
calamine, would place far away; the exact pass must place cells as calamine does (measured
with python-calamine 0.9.1: the last `r` of a cell wins, either quote, spaces around '=',
'<' and '>' inside quoted values, any prefix, letters and digits of any length). No test
here lets calamine near a far cell: every hostile file is judged by check_extents alone,
or refused by `load` before calamine opens it."""

from __future__ import annotations

import io
import random
import re
import zipfile
from pathlib import Path

import pytest
from helpers import make_master

from crm_sheets import safezip
from crm_sheets.errors import CrmError
from crm_sheets.reader import load

FAR = "XFD1048576"


def _with_sheet_data(
    src: Path, dst: Path, extra: bytes, member: str = "xl/worksheets/sheet1.xml"
) -> Path:
    """A copy of `src` whose first sheet gets `extra` just before </sheetData>."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == member:
                data = data.replace(b"</sheetData>", extra + b"</sheetData>")
            zout.writestr(info, data)
    return dst


@pytest.fixture(scope="module")
def master(tmp_path_factory) -> Path:
    return make_master(tmp_path_factory.mktemp("m") / "CRM.xlsx")


def _refused(path: Path, cell: str = FAR) -> str:
    safezip._extents_cache.clear()
    with pytest.raises(CrmError) as exc:
        safezip.check_extents(path)
    msg = str(exc.value)
    assert cell in msg and "已拒绝" in msg and "\n" not in msg, msg
    return msg


# ---- forms calamine reads that the guard used to miss (each aborted the process) ----------

HOSTILE = {
    "single quotes": b"<row r='9'><c r='XFD1048576'><v>1</v></c></row>",
    "spaces around =": b'<row r="9"><c r = "XFD1048576"><v>1</v></c></row>',
    "tab and CRLF": b'<row r="9"><c\tr\r\n=\r\n"XFD1048576"><v>1</v></c></row>',
    "second r wins": b'<row r="9"><c r="A9" r="XFD1048576"><v>1</v></c></row>',
    "second r, single quotes": b'<row r="9"><c r="A9" s="0" r=\'XFD1048576\'><v>1</v></c></row>',
    "second r after spaces": b'<row r="9"><c r="A9" t="n"  r  =  "XFD1048576"><v>1</v></c></row>',
    "leading zeros": b'<row r="9"><c r="XFD0001048576"><v>1</v></c></row>',
    "'>' inside a value": b'<row r="9"><c x=">" r="XFD1048576"><v>1</v></c></row>',
    "'<' inside a value": b'<row r="9"><c x="<" r="XFD1048576"><v>1</v></c></row>',
    "any prefix": b'<row r="9"><\xc3\xa9:c r="XFD1048576"><v>1</v></c></row>',
    "positional after a single-quoted row": b"<row r='1048576'>"
    + b"<c/>" * 16383
    + b"<c><v>1</v></c></row>",
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_form_is_refused_before_calamine(master, tmp_path, name):
    path = _with_sheet_data(master, tmp_path / "h.xlsx", HOSTILE[name])
    _refused(path)
    with pytest.raises(CrmError, match=FAR):  # and the reader refuses it the same way
        load(path)


def test_five_letters_and_wrapping_digits_are_refused(master, tmp_path):
    _refused(
        _with_sheet_data(
            master, tmp_path / "a.xlsx", b'<row r="9"><c r="AAAAA1048576"><v>1</v></c></row>'
        ),
        "AAAAA1048576",
    )
    _refused(
        _with_sheet_data(
            master, tmp_path / "b.xlsx", b'<row r="9"><c r="XFD4296015872"><v>1</v></c></row>'
        ),
        "XFD4296015872",
    )


def test_a_sheet_anywhere_the_links_point_is_checked(master, tmp_path):
    """calamine reads a sheet from any member the workbook's links name (measured: a
    folder of its own, another extension, capitals)."""
    dst = tmp_path / "moved.xlsx"
    with zipfile.ZipFile(master) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data, name = zin.read(info), info.filename
            if name == "xl/worksheets/sheet1.xml":
                name = "data/s.bin"
                data = data.replace(
                    b"</sheetData>", b'<row r="9"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
                )
            if name == "xl/_rels/workbook.xml.rels":
                data = re.sub(rb'Target="[^"]*sheet1\.xml"', b'Target="/data/s.bin"', data)
            zout.writestr(name, data)
    _refused(dst)


def test_two_members_with_one_name_are_both_checked(master, tmp_path):
    dst = tmp_path / "dup.xlsx"
    with zipfile.ZipFile(master) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                far = data.replace(
                    b"</sheetData>", b'<row r="9"><c r="XFD1048576"><v>1</v></c></row></sheetData>'
                )
                with pytest.warns(UserWarning):
                    zout.writestr(info.filename, far)
                    zout.writestr(info.filename, data)
            else:
                zout.writestr(info, data)
    _refused(dst)


# ---- files that read today still read; refusals keep their message ------------------------


def test_plain_workbooks_pass_and_a_far_plain_cell_keeps_its_message(master, tmp_path):
    safezip._extents_cache.clear()
    safezip.check_extents(master)
    assert len(load(master).customers.records) == 1
    msg = _refused(
        _with_sheet_data(
            master,
            tmp_path / "f.xlsx",
            b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>',
        )
    )
    assert "1,048,576 行 × 16,384 列" in msg and "1,048,576 rows x 16,384 columns" in msg


def test_odd_but_harmless_forms_still_read(master, tmp_path):
    """Forms that send a sheet to the exact pass without a far value: read, not refused."""
    extra = (
        b"<row r='3'>\r\n<c r='A3' t='inlineStr'><is><t>x</t></is></c>\r\n"
        b'<c r="B3" x="a>b" t="inlineStr"><is><t>y</t></is></c><c r = "Z3" s="1"/></row>'
        b'<row r="4"><c r="XFD1048576" s="1"/><c r="A4" r="C4"/></row>'
    )
    path = _with_sheet_data(master, tmp_path / "odd.xlsx", extra)
    safezip._extents_cache.clear()
    safezip.check_extents(path)


# Old exact pass (code at 3b17668), the reference for plain XML: same rows, columns, cell.
_OLD_TAG_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?(row|c)(?=[\s/>])([^>]*?)(/?)>")
_OLD_ROW_ATTR_RE = re.compile(rb'\sr="(\d{1,9})"')
_OLD_REF_RE = re.compile(rb'\sr="([A-Za-z]{1,4})(\d{1,9})"')


def _old_exact(bufs: list[bytes]) -> tuple[int, int, str]:
    max_row = max_col = best = 0
    far = ""
    cur_row = col = 0
    for buf in bufs:
        for m in _OLD_TAG_RE.finditer(buf):
            attrs = b" " + m.group(2)
            if m.group(1) == b"row":
                r = _OLD_ROW_ATTR_RE.search(attrs)
                cur_row = int(r.group(1)) if r else cur_row + 1
                col = 0
                continue
            ref = _OLD_REF_RE.search(attrs)
            if ref is not None:
                row, col = int(ref.group(2)), safezip._col_number(ref.group(1))
            else:
                row, col = max(cur_row, 1), col + 1
            if m.group(3):
                continue
            if row * col > best:
                best, far = row * col, f"{safezip._col_letters(col)}{row}"
            max_row, max_col = max(max_row, row), max(max_col, col)
    return max_row, max_col, far


def _plain_sheet(rng: random.Random) -> bytes:
    """Sheet XML of the forms the old exact pass read right: double quotes, one `r`."""
    out = [b'<worksheet xmlns:r="http://x"><dimension ref="A1:XFD1048576"/><sheetData>']
    row = 0
    for _ in range(rng.randint(1, 40)):
        row = row + rng.randint(1, 3) if rng.random() < 0.9 else rng.randint(1, 2_000_000)
        attr = f' r="{row}"'.encode() if rng.random() < 0.8 else b""
        cells = []
        col = 0
        for _ in range(rng.randint(0, 8)):
            col += rng.randint(1, 3)
            letters = safezip._col_letters(col if rng.random() < 0.9 else rng.randint(1, 20_000))
            ref = f' r="{letters}{row}"'.encode() if rng.random() < 0.8 else b""
            sep = rng.choice([b"", b" ", b"\t", b"\r\n"])
            if rng.random() < 0.3:
                cells.append(b"<c" + ref + b' s="1"' + sep + b"/>")
            else:
                cells.append(b"<c" + ref + b' t="n"' + sep + b"><v>1</v></c>")
        if rng.random() < 0.1:
            cells.append(b'<x:c r="B2"><v>1</v></x:c>')
        out.append(b"<row" + attr + b">" + b"".join(cells) + b"</row>")
    out.append(b"</sheetData></worksheet>")
    return b"".join(out)


def _cut(xml: bytes, rng: random.Random, size: int) -> list[tuple[bytes, int]]:
    """Pieces as _pieces makes them: each cut before a '<' (sizes small, so many cuts)."""
    pieces, tail, pos = [], b"", 0
    while pos < len(xml):
        step = rng.randint(1, size)
        buf = tail + xml[pos : pos + step]
        pos += step
        cut = buf.rfind(b"<")
        if cut <= 0:
            tail = buf
            continue
        pieces.append(
            (buf + b"<junk after the end/>", cut) if rng.random() < 0.5 else (buf[:cut], cut)
        )
        tail = buf[cut:]
    if tail:
        pieces.append((tail, len(tail)))
    return pieces


def test_the_exact_pass_places_plain_cells_as_before():
    rng = random.Random(15)
    for _ in range(400):
        xml = _plain_sheet(rng)
        pieces = _cut(xml, rng, 300)
        assert safezip._exact_extent_of(iter(pieces)) == _old_exact([b[:e] for b, e in pieces]), xml


# ---- the fast pass: a bound whenever it gives one --------------------------------------


_FRAGMENTS = [
    b'<c r="A7"><v>1</v></c>',
    b'<c r="B7" s="1" t="s"><v>0</v></c>',
    b'<c r="C7" s="2"/>',
    b'<c r="AB7" t="n"><v>1</v></c>',
    b'<c r="XFD7"><v>1</v></c>',
    b'<c r="A1048576"><v>1</v></c>',
    b"<c r='D7'><v>1</v></c>",
    b'<c r = "E7"><v>1</v></c>',
    b'<c r="F7" r="XFD1048576"><v>1</v></c>',
    b'<c r="G7" s="1"\tr=\'XFD99\'><v>1</v></c>',
    b"<c><v>1</v></c>",
    b"<c/>",
    b'<c s="1" r="H7"/>',
    b'<x:c r="XFD7"><v>1</v></x:c>',
    b'<c x="<" r="XFD1048576"><v>1</v></c>',
    b'<c x=">" r="Q7"/>',
    b'<c r="a7"><v>1</v></c>',
    b'<c r="A0007"><v>1</v></c>',
    b'<c\r\nr="A7"><v>1</v></c>',
    b'<col min="1"/>',
    b"<cols/>",
    b'<row r="7">',
    b"</row>",
    b"<row>",
    b'<row r="999999">',
    b'<t>r=&quot;XFD1&quot; " r=\xe4\xb8\xad</t>',
    b"<is><t>\xff\xfe'</t></is>",
    b'<c r="AAAAA7"><v>1</v></c>',
]


def test_the_fast_bound_holds_whenever_the_fast_pass_gives_one():
    """Random sheets of plain and hostile fragments, cut in random places: when the fast
    pass does not hand the sheet to the exact pass, its bound covers the exact extent."""
    rng = random.Random(1504)
    given = 0
    for _ in range(3000):
        parts = [b'<row r="1">']
        for _ in range(rng.randint(1, 12)):
            frag = rng.choice(_FRAGMENTS) if rng.random() < 0.3 else rng.choice(_FRAGMENTS[:4])
            parts.append(frag)
        xml = b"".join(parts) + b"</row>"
        pieces = _cut(xml, rng, rng.choice([8, 40, 400]))
        bound = safezip._fast_bound_of(iter(pieces), rng.random() < 0.5)
        if bound > safezip.MAX_SHEET_CELLS:
            continue
        given += 1
        rows, cols, _ = safezip._exact_extent_of(iter(pieces))
        assert rows * cols <= bound, xml
    assert given > 300  # the plain sheets do get a bound


def test_a_hostile_tag_exactly_on_a_piece_boundary():
    """The suspicious tag starts a piece, or a '<' inside its quoted value splits it."""
    head = b'<row r="1">' + b'<c r="A1"><v>1</v></c>' * 3
    for hostile in (
        b"<c r='XFD1048576'><v>1</v></c>",
        b'<c r="A1" r="XFD1048576"><v>1</v></c>',
        b'<x:c r="XFD1048576"><v>1</v></x:c>',
    ):
        pieces = [(head, len(head)), (hostile + b"</row>", len(hostile) + 6)]
        assert safezip._fast_bound_of(iter(pieces)) > safezip.MAX_SHEET_CELLS
        assert safezip._exact_extent_of(iter(pieces))[2] == FAR
    split = [
        (head + b'<c r="A1" s="', len(head) + 13),
        (b'<" r="XFD1048576"><v>1</v></c></row>', 36),
    ]
    assert safezip._fast_bound_of(iter(split)) > safezip.MAX_SHEET_CELLS
    assert safezip._exact_extent_of(iter(split))[2] == FAR


def test_re2_and_python_re_agree():
    finder = safezip._re2_finder()
    assert finder is not None
    rng = random.Random(7)
    for _ in range(2000):
        buf = b"".join(rng.choice(_FRAGMENTS) for _ in range(rng.randint(1, 6)))
        end = rng.randint(0, len(buf))
        for letters, digits in ((1, 1), (1, 6), (3, 7)):
            assert finder(buf, end, letters, digits) == safezip._py_finds(
                buf, end, letters, digits
            ), buf


# ---- the raw inflate ----------------------------------------------------------------------


def test_raw_pieces_make_the_member_and_each_ends_before_a_tag(master, monkeypatch):
    monkeypatch.setattr(safezip, "_RAW_PIECE", 97)
    with zipfile.ZipFile(master) as z:
        for info in z.infolist():
            pieces = list(safezip._pieces(z, info))
            assert b"".join(b[:e] for b, e in pieces) == z.read(info)
            for b, e in pieces[:-1]:
                assert b[e : e + 1] == b"<"


def test_a_bad_crc_gets_zipfiles_own_message(master, tmp_path):
    data = bytearray(master.read_bytes())
    with zipfile.ZipFile(master) as z:
        info = z.getinfo("xl/worksheets/sheet1.xml")
    # the CRC in the central directory entry of that member
    cd = data.find(b"PK\x01\x02")
    while cd >= 0:
        n = int.from_bytes(data[cd + 28 : cd + 30], "little")
        if data[cd + 46 : cd + 46 + n] == info.filename.encode():
            data[cd + 16 : cd + 20] = ((info.CRC ^ 1) & 0xFFFFFFFF).to_bytes(4, "little")
        cd = data.find(b"PK\x01\x02", cd + 4)
    bad = tmp_path / "crc.xlsx"
    bad.write_bytes(bytes(data))
    safezip._extents_cache.clear()
    with pytest.raises(CrmError, match="Bad CRC-32") as exc:
        safezip.check_extents(bad)
    assert "文件已损坏" in str(exc.value)


def test_stored_members_and_bytes_in_memory(master, tmp_path):
    stored = tmp_path / "stored.xlsx"
    with zipfile.ZipFile(master) as zin, zipfile.ZipFile(stored, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(
                    b"</sheetData>", b"<row r='9'><c r='XFD1048576'><v>1</v></c></row></sheetData>"
                )
            zout.writestr(info.filename, data)
    _refused(stored)
    with pytest.raises(CrmError, match=FAR):
        safezip.check_extents(tmp_path / "x.xlsx", stored.read_bytes())
    safezip.check_extents(master, master.read_bytes())


def test_members_on_threads_report_the_first_far_sheet_in_order(master, tmp_path, monkeypatch):
    monkeypatch.setattr(safezip, "_PARALLEL_MIN", 0)
    path = _with_sheet_data(
        master,
        tmp_path / "a.xlsx",
        b'<row r="9"><c r="ZZZ900000"><v>1</v></c></row>',
        member="xl/worksheets/sheet2.xml",
    )
    path = _with_sheet_data(
        path, tmp_path / "b.xlsx", b"<row r='9'><c r='XFD1048576'><v>1</v></c></row>"
    )
    msg = _refused(path)  # sheet1 comes first in the archive
    assert "ZZZ900000" not in msg
    _refused(
        _with_sheet_data(
            master,
            tmp_path / "c.xlsx",
            b'<row r="9"><c r="ZZZ900000"><v>1</v></c></row>',
            member="xl/worksheets/sheet2.xml",
        ),
        "ZZZ900000",
    )
    safezip._extents_cache.clear()
    safezip.check_extents(master)


def test_no_pyarrow_means_the_same_answers(master, tmp_path, monkeypatch):
    monkeypatch.setattr(safezip, "_finder", [safezip._py_finds])
    for name in ("single quotes", "second r wins", "any prefix"):
        _refused(_with_sheet_data(master, tmp_path / "n.xlsx", HOSTILE[name]))
    safezip._extents_cache.clear()
    safezip.check_extents(master)


def test_bytes_helper_roundtrip():
    """io.BytesIO sources reopen per thread without copying the caller's bytes wrongly."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("xl/workbook.xml", b"<workbook/>")
        z.writestr(
            "xl/worksheets/sheet1.xml",
            b'<sheetData><row r="1"><c r="A1"><v>1</v></c></row></sheetData>',
        )
    safezip.check_extents(Path("mem.xlsx"), buf.getvalue())


# ---- members bounded before are not scanned again ------------------------------------------


def _count_scans(monkeypatch) -> list[str]:
    scanned: list[str] = []
    real = safezip._fast_bound

    def counting(z, info):
        scanned.append(info.filename)
        return real(z, info)

    monkeypatch.setattr(safezip, "_fast_bound", counting)
    monkeypatch.setattr(safezip, "_PARALLEL_MIN", 1 << 40)  # all on this thread, counted
    monkeypatch.setattr(safezip, "_KNOWN_MIN", 0)
    return scanned


def test_an_unchanged_member_is_not_scanned_again(master, tmp_path, monkeypatch, crm_state_dir):
    crm_state_dir.mkdir(parents=True, exist_ok=True)
    scanned = _count_scans(monkeypatch)
    path = tmp_path / "m.xlsx"
    path.write_bytes(master.read_bytes())
    safezip._extents_cache.clear()
    safezip.check_extents(path)
    first = list(scanned)
    assert "xl/worksheets/sheet1.xml" in first
    scanned.clear()
    safezip._extents_cache.clear()
    safezip.check_extents(path)
    assert scanned == []  # every member known
    # one sheet changed: only that member is scanned, and a far value in it is refused
    changed = _with_sheet_data(
        master, tmp_path / "c.xlsx", b'<row r="9"><c r="B9"><v>1</v></c></row>'
    )
    safezip.check_extents(changed)
    assert scanned == ["xl/worksheets/sheet1.xml"]
    far = _with_sheet_data(master, tmp_path / "f.xlsx", HOSTILE["single quotes"])
    _refused(far)
    _refused(far)  # never remembered


def test_a_damaged_or_missing_memory_means_a_full_scan(
    master, tmp_path, monkeypatch, crm_state_dir
):
    scanned = _count_scans(monkeypatch)
    safezip._extents_cache.clear()
    safezip.check_extents(master)  # no state folder yet: nothing kept, nothing made
    assert not crm_state_dir.exists() and scanned
    crm_state_dir.mkdir(parents=True)
    (crm_state_dir / "cache").mkdir(mode=0o700)
    (crm_state_dir / "cache" / "extents-known").write_bytes(b"\xff\x00 not a digest\n" * 3)
    scanned.clear()
    safezip._extents_cache.clear()
    safezip.check_extents(master)
    assert "xl/worksheets/sheet1.xml" in scanned
