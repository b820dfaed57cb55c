"""Sheets patched ahead (`xlsxpatch.patch_ahead`, apply's prefetch during validation) give
the file `patch_workbook` writes without them, byte for byte, and are left aside whenever
the write differs from what they were patched for (issue 15)."""

from __future__ import annotations

import datetime as dt
import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from zipfile import ZipFile

import pytest
from helpers import customer, followup, make_master

from crm_sheets.writeback import xlsxpatch
from crm_sheets.writeback.prefetch import SheetPrefetch
from crm_sheets.writeback.xlsxpatch import (
    CfRule,
    SheetDress,
    SheetRows,
    patch_ahead,
    patch_workbook,
    read_package,
)


def _master(tmp_path: Path) -> Path:
    custs = [customer(customer_id=f"C2024031500{i}", name=f"公司{i}") for i in range(1, 6)]
    return make_master(tmp_path / "m.xlsx", customers=custs, followups=[followup()])


def _cells() -> dict:
    return {
        ("Customers", 3, 2): "13800138000",
        ("Customers", 2, 5): dt.datetime(2024, 3, 15, 14, 30),  # may add a date style
        ("Customers", 4, 5): dt.date(2024, 3, 16),
        ("Customers", 5, 3): 42,
        ("Customers", 6, 3): None,
        ("Customers", 9, 0): "C20240315009",  # a new row
        ("Followups", 2, 4): "备注 <改>",
        ("Followups", 3, 0): "F20240315001",
        ("Followups", 3, 2): dt.date(2024, 3, 17),
    }


def _write(src: Path, dest: Path, cells: dict, dress: dict, ahead=None) -> str:  # noqa: ANN001
    replace = {
        "Issues": SheetRows(
            rows=[["Customers", 3, "出错了"], ["Customers", 4, "再一个"]],
            first_row=2,
            links={(2, 1): "'客户'!C3"},
            link_font=True,
        )
    }
    patch_workbook(
        src, dest, cells, replace, dress=dress, ahead=ahead, print_titles={"Customers": "$1:$1"}
    )
    return hashlib.sha256(dest.read_bytes()).hexdigest()


def _ahead(src: Path, cells: dict):  # noqa: ANN202
    with ZipFile(src) as zf, ThreadPoolExecutor(max_workers=2) as pool:
        got = patch_ahead(zf, read_package(zf), cells, {}, pool)
    assert got is not None
    return got


ISSUES_DRESS = {"Issues": SheetDress(rules=[CfRule("error", "A2:C3")], autofilter="A1:C3")}


@pytest.mark.parametrize(
    ("case", "taken"),
    [("same", True), ("data dress", False), ("other value", False), ("other type", False)],
)
def test_ahead_gives_the_same_bytes(case, taken, tmp_path, monkeypatch):
    src = _master(tmp_path)
    cells = _cells()
    dress = dict(ISSUES_DRESS)
    later = dict(cells)
    if case == "data dress":
        dress["Customers"] = SheetDress(rules=[CfRule("warning", "C3")], print_setup=1)
    elif case == "other value":
        later[("Followups", 2, 4)] = "备注 <又改>"
    elif case == "other type":
        later[("Customers", 5, 3)] = 42.0  # equal, written differently
    expected = _write(src, tmp_path / "plain.xlsx", later, dress)
    ahead = _ahead(src, cells)
    calls: list[str] = []
    real = xlsxpatch.patch_sheet_xml

    def spy(xml, changes, replacement, styles, date1904, name="sheet", dress=None):  # noqa: ANN001, ANN202
        calls.append(name)
        return real(xml, changes, replacement, styles, date1904, name, dress)

    monkeypatch.setattr(xlsxpatch, "patch_sheet_xml", spy)
    got = _write(src, tmp_path / "ahead.xlsx", later, dress, ahead=ahead)
    assert got == expected
    assert len(calls) == (1 if taken else 3)  # Issues alone when the cell sheets are taken


def test_prefetch_patches_ahead_for_its_file_state_only(tmp_path):
    src = _master(tmp_path)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()
    parts, ahead = SheetPrefetch(src, sha, ["Customers"], cells=_cells()).take_all(sha)
    # the sheets patched ahead are not kept inflated too (memory): a write that cannot take
    # them inflates them from the file again
    assert ahead is not None and len(ahead.parts) == 2 and not set(parts) & set(ahead.parts)
    expected = _write(src, tmp_path / "plain.xlsx", _cells(), ISSUES_DRESS)
    got = _write(src, tmp_path / "ahead.xlsx", _cells(), ISSUES_DRESS, ahead=ahead)
    assert got == expected
    assert SheetPrefetch(src, sha, ["Customers"], cells=_cells()).take_all("0" * 64) == ({}, None)
    assert SheetPrefetch(src, "0" * 64, ["Customers"], cells=_cells()).take_all(sha) == ({}, None)
