"""Hardening (issue 17 items 4, 6, 8, 9; issue 13 items 11, 16): files that claim a huge
sheet, the state folder and home_id, parallel password guesses, a save racing apply,
and backup retention."""

from __future__ import annotations

import re
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from helpers import make_master
from test_views_support import PW, TODAY, make_view_home

from crm_sheets import accounts
from crm_sheets.cli import cli
from crm_sheets.errors import CrmError
from crm_sheets.reader import load
from crm_sheets.views import build_views

ABORT_MARK = "memory allocation"


# ---- 17.4: one value in XFD1048576 ------------------------------------------------------


def _far_cell(path: Path, sheet_index: int = 0, cell: str = "XFD1048576") -> Path:
    """What an unlucky (or hostile) user does: one value far outside a normal table."""
    wb = openpyxl.load_workbook(path)
    wb.worksheets[sheet_index][cell] = "x"
    wb.save(path)
    return path


def _rewrite_sheet(src: Path, dst: Path, fn) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = fn(data)
            zout.writestr(info, data)
    return dst


def _crm(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The real `crm` in a child process, so a native abort shows as exit 134."""
    return subprocess.run([sys.executable, "-c", "from crm_sheets.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def _refused_in_one_line(exit_code: int, output: str) -> None:
    assert exit_code == 2, output
    assert ABORT_MARK not in output
    lines = [ln for ln in output.splitlines() if "XFD1048576" in ln]
    assert len(lines) == 1 and "已拒绝" in lines[0], output


@pytest.fixture
def far_master(tmp_path):
    (tmp_path / "far").mkdir()
    return _far_cell(make_master(tmp_path / "far" / "CRM.xlsx"))


def test_far_cell_is_refused_by_the_reader_before_calamine_allocates(far_master):
    with pytest.raises(CrmError) as exc:
        load(far_master)
    msg = str(exc.value)
    assert "XFD1048576" in msg and "客户" in msg and "\n" not in msg


def test_far_cell_refused_by_validate_apply_and_import_in_process(far_master, tmp_path):
    runner = CliRunner()
    for args in (["validate", str(far_master)], ["apply", str(far_master)]):
        r = runner.invoke(cli, args)
        _refused_in_one_line(r.exit_code, r.output)
    (tmp_path / "t").mkdir()
    target = make_master(tmp_path / "t" / "CRM.xlsx")
    r = runner.invoke(cli, ["import", str(far_master), str(target)])
    _refused_in_one_line(r.exit_code, r.output)


def test_far_cell_never_aborts_the_process(far_master, tmp_path):
    """Each command in a child process: before the fix every one died with exit 134."""
    (tmp_path / "t").mkdir()
    target = make_master(tmp_path / "t" / "CRM.xlsx")
    for args in (["validate", str(far_master)], ["apply", str(far_master)],
                 ["import", str(far_master), str(target)]):
        p = _crm(args, tmp_path)
        _refused_in_one_line(p.returncode, p.stdout + p.stderr)


def test_far_cell_in_a_handed_back_copy_is_refused_by_views_merge(tmp_path, crm_state_dir):
    vh = make_view_home(tmp_path)
    [copy] = build_views(vh.master, vh.home, users=["li"], today=TODAY)
    _far_cell(copy)
    accounts.login(vh.home, "admin", PW)
    r = CliRunner().invoke(cli, ["views", "merge", str(vh.master), str(copy)])
    _refused_in_one_line(r.exit_code, r.output)
    p = _crm(["views", "merge", str(vh.master), str(copy)], tmp_path)
    _refused_in_one_line(p.returncode, p.stdout + p.stderr)


def test_far_cell_in_the_follow_up_sheet_is_refused_too(tmp_path):
    path = _far_cell(make_master(tmp_path / "CRM.xlsx"), sheet_index=1, cell="ZZZ900000")
    with pytest.raises(CrmError, match="ZZZ900000"):
        load(path)


def test_a_far_claim_without_a_value_still_reads(tmp_path):
    """`<dimension>` and a formatted empty far cell allocate nothing: the file reads."""
    src = make_master(tmp_path / "src.xlsx")

    def claim(xml: bytes) -> bytes:
        xml = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', xml)
        return xml.replace(b"</sheetData>",
                           b'<row r="1048576"><c r="XFD1048576" s="1"/></row></sheetData>')

    wb = load(_rewrite_sheet(src, tmp_path / "claim.xlsx", claim))
    assert len(wb.customers.records) == 1


def test_a_value_far_down_a_narrow_sheet_is_read_not_refused(tmp_path):
    """A1048576 beside a table is big but bounded (about 27M cells): read, not refused."""
    path = _far_cell(make_master(tmp_path / "CRM.xlsx"), cell="A1048000")
    wb = load(path)
    assert wb.customers.records[-1].row == 1048000
