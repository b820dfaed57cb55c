"""Views (issue 7): what each role's workbook holds, protection, manifest, encryption,
LibreOffice, the CLI."""

from __future__ import annotations

import re
import zipfile

import openpyxl
import pytest
import python_calamine as pc
from click.testing import CliRunner
from test_views_support import (
    LI_CUSTOMER,
    PW,
    TODAY,
    WANG_CUSTOMER,
    WANG_FOLLOWUP,
    make_view_home,
    run_uno,
    xlsx_text,
)

from crm_sheets import accounts
from crm_sheets.cli import cli
from crm_sheets.views import build_views, last_modified_by
from crm_sheets.views.common import MANIFEST_SHEET
from crm_sheets.views.crypto import is_encrypted


@pytest.fixture
def vh(tmp_path, crm_state_dir):
    return make_view_home(tmp_path)


def _by_stem(paths):
    return {p.stem: p for p in paths}


def test_one_view_per_rep_and_department(vh):
    paths = _by_stem(build_views(vh.master, vh.home, today=TODAY))
    assert set(paths) == {"sales-li", "sales-wang", "service", "marketing", "management"}
    assert all(p.parent == vh.home.views for p in paths.values())


def test_rep_view_holds_no_other_owners_data_anywhere_in_the_file(vh):
    paths = _by_stem(build_views(vh.master, vh.home, today=TODAY))
    text = xlsx_text(paths["sales-li"])  # every unzipped XML part, not only cell values
    assert LI_CUSTOMER["name"] in text
    for secret in (WANG_CUSTOMER["name"], WANG_CUSTOMER["phone"], WANG_CUSTOMER["email"],
                   WANG_CUSTOMER["contact_name"], WANG_FOLLOWUP["content"]):
        assert secret not in text
    book = pc.CalamineWorkbook.from_path(str(paths["sales-li"]))
    rows = book.get_sheet_by_name("客户").to_python()
    owners = {r[rows[0].index("负责人")] for r in rows[1:]}
    assert owners == {"李四"}
    # and wang's own view does hold it (the test can fail)
    assert WANG_CUSTOMER["phone"] in xlsx_text(paths["sales-wang"])


def test_marketing_view_masks_contacts_and_has_no_followups(vh):
    paths = _by_stem(build_views(vh.master, vh.home, roles=["marketing"], today=TODAY))
    path = paths["marketing"]
    text = xlsx_text(path)
    assert not re.search(r"(?<!\d)1[3-9]\d{9}(?!\d)", text), "a full mobile number leaked"
    assert "138****8000" in text and "z***@example.com" in text
    assert WANG_CUSTOMER["email"] not in text
    assert WANG_FOLLOWUP["content"] not in text
    book = pc.CalamineWorkbook.from_path(str(path))
    assert "跟进记录" not in book.sheet_names
    header = book.get_sheet_by_name("客户").to_python()[0]
    assert "跟进记录摘要" not in header and "客户名称" in header


def test_prohibited_data_never_in_a_view(vh):
    for p in build_views(vh.master, vh.home, today=TODAY):
        assert "110101199003074258" not in xlsx_text(p), p.name


def test_service_view_all_followups_core_fields_locked(vh):
    paths = _by_stem(build_views(vh.master, vh.home, roles=["service"], today=TODAY))
    text = xlsx_text(paths["service"])
    assert WANG_FOLLOWUP["content"] in text and LI_CUSTOMER["phone"] in text
    wb = openpyxl.load_workbook(paths["service"])
    ws = wb["客户"]
    assert ws.protection.sheet
    assert all(ws.cell(2, c).protection.locked for c in range(1, ws.max_column + 1))
    fu = wb["跟进记录"]
    headers = [c.value for c in fu[1]]
    # existing follow-ups are read-only for the department copy
    assert fu.cell(2, headers.index("沟通内容") + 1).protection.locked


def test_rep_view_protection_dropdowns_freeze_and_manifest(vh):
    paths = _by_stem(build_views(vh.master, vh.home, users=["li"], today=TODAY))
    path = paths["sales-li"]
    wb = openpyxl.load_workbook(path)
    ws = wb["客户"]
    headers = [c.value for c in ws[1]]
    assert ws.protection.sheet and ws.freeze_panes == "C2"
    notes = ws.cell(2, headers.index("备注") + 1)
    owner = ws.cell(2, headers.index("负责人") + 1)
    cid = ws.cell(2, headers.index("客户编号") + 1)
    assert not notes.protection.locked
    assert owner.protection.locked and cid.protection.locked
    sources = " ".join(str(dv.formula1) for dv in ws.data_validations.dataValidation)
    assert "list_industries" in sources and "list_stages" in sources
    assert wb[MANIFEST_SHEET].sheet_state == "veryHidden"
    assert "图表" in wb.sheetnames
    with zipfile.ZipFile(path) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert charts
        assert "<c:numCache>" in z.read(charts[0]).decode()  # cached values


def test_encrypted_view_and_libreoffice(vh, tmp_path):
    plain = _by_stem(build_views(vh.master, vh.home, today=TODAY))
    [enc] = build_views(vh.master, vh.home, users=["li"], encrypt_password="view pass 123",
                        out_dir=tmp_path / "enc", today=TODAY)
    assert is_encrypted(enc.read_bytes()[:8])
    assert LI_CUSTOMER["name"].encode() not in enc.read_bytes()
    files = [(p, "") for p in plain.values()] + [(enc, ""), (enc, "wrong password"),
                                                  (enc, "view pass 123")]
    report = run_uno(files, tmp_path)
    for p in plain.values():
        entry = report[f"{p}|"]
        assert entry["loaded"], (p.name, entry)
        assert entry["a1"] == "客户编号"
    assert not report[f"{enc}|"]["loaded"]
    assert not report[f"{enc}|wrong password"]["loaded"]
    opened = report[f"{enc}|view pass 123"]
    assert opened["loaded"] and opened["b2"] == LI_CUSTOMER["name"]


def test_cli_build_mine_and_refusals(vh, tmp_path):
    runner = CliRunner()
    accounts.login(vh.home, "li", PW)
    res = runner.invoke(cli, ["views", "build", str(vh.master)])
    assert res.exit_code == 1 and "生成视图需要管理员权限" in res.output
    pw = tmp_path / "pw.txt"
    pw.write_text(PW + "\n", encoding="utf-8")
    res = runner.invoke(cli, ["views", "mine", "--encrypt", "--password-file", str(pw),
                              "--today", TODAY.isoformat()], env={"CRM_HOME": str(vh.home.root)})
    assert res.exit_code == 0, res.output
    mine = vh.home.views / "sales-li.xlsx"
    assert is_encrypted(mine.read_bytes()[:8])
    bad = tmp_path / "bad.txt"
    bad.write_text("not my password\n", encoding="utf-8")
    res = runner.invoke(cli, ["views", "mine", "--encrypt", "--password-file", str(bad)],
                        env={"CRM_HOME": str(vh.home.root)})
    assert res.exit_code == 1
    accounts.login(vh.home, "admin", PW)
    res = runner.invoke(cli, ["views", "build", str(vh.master), "--role", "sales",
                              "--today", TODAY.isoformat()])
    assert res.exit_code == 0, res.output
    assert "sales-wang.xlsx" in res.output and "service.xlsx" not in res.output
    res = runner.invoke(cli, ["views", "build", str(vh.master), "--role", "nonsense"])
    assert res.exit_code == 2


def test_last_modified_by(vh, tmp_path):
    [p] = build_views(vh.master, vh.home, users=["li"], today=TODAY)
    wb = openpyxl.load_workbook(p)
    wb.properties.lastModifiedBy = "李四"
    wb.save(p)
    assert last_modified_by(p) == "李四"
    junk = tmp_path / "junk.xlsx"
    junk.write_bytes(b"not a zip")
    assert last_modified_by(junk) is None
