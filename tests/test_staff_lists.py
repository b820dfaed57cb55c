"""Issue 13.5: in a fresh home Lists › 负责人 and 客服人员 come from the accounts (sales and
manager display names are owners, service accounts 客服人员), kept in step on
`crm user add|role|disable` and on apply, so a mistyped owner is caught."""

from __future__ import annotations

import json
import os
from pathlib import Path

from click.testing import CliRunner

from crm_sheets import audit
from crm_sheets.apply.state import state_dir_for
from crm_sheets.cli import cli
from crm_sheets.reader import load
from crm_sheets.schema import CUSTOMERS
from crm_sheets.writeback.xlsxpatch import patch_workbook

PW = "correct horse battery"


def run(*args: str, ok: bool = True):
    r = CliRunner().invoke(cli, list(args))
    assert (r.exit_code == 0) == ok, r.output
    return r


def _add_customers(master: Path, rows: list[dict]) -> None:
    """Type customer rows into the 客户 sheet, as a user saving in Excel would."""
    cols = {f.key: i for i, f in enumerate(CUSTOMERS.fields)}
    cells = {("客户", 2 + n, cols[k]): v for n, row in enumerate(rows) for k, v in row.items()}
    tmp = master.with_name("edit.xlsx")
    patch_workbook(master, tmp, cells)
    os.replace(tmp, master)


def _row(name: str, owner: str, phone: str) -> dict:
    return {"name": name, "industry": "制造", "contact_name": "王强", "phone": phone,
            "owner": owner, "stage": "线索", "customer_type": "潜在客户"}


def test_owner_list_follows_the_accounts(tmp_path: Path, crm_state_dir, monkeypatch) -> None:
    home = tmp_path / "销售部"
    pw = tmp_path / "pw.txt"
    pw.write_text(PW + "\n", encoding="utf-8")
    run("init", str(home), "--admin", "boss", "--admin-password-file", str(pw))
    monkeypatch.setenv("CRM_HOME", str(home))
    master = home / "CRM.xlsx"
    assert load(master).lists["owners"] == []  # a fresh home: nobody yet
    run("login", "--user", "boss", "--password-file", str(pw))
    r = run("user", "add", "wxm", "--role", "sales", "--display-name", "王小明",
            "--password-file", str(pw))
    assert "负责人" in r.output  # says the Lists were updated
    run("user", "add", "zm", "--role", "service", "--display-name", "赵敏",
        "--password-file", str(pw))
    run("user", "add", "boss2", "--role", "manager", "--display-name", "经理李", "--password-file",
        str(pw))
    run("user", "add", "mk", "--role", "marketing", "--display-name", "市场刘",
        "--password-file", str(pw))
    lists = load(master).lists
    assert lists["owners"] == ["王小明", "经理李"] and lists["service"] == ["赵敏"]
    events = [e for e in audit.read(state_dir_for(master)) if e.get("reason") == "lists.accounts"]
    assert events and events[0]["new"] == ["王小明"]

    # the owner rule now catches a name typed wrong
    _add_customers(master, [_row("北京甲科技有限公司", "王晓明", "13800138001"),
                            _row("上海乙贸易有限公司", "王小明", "13800138002")])
    v = CliRunner().invoke(cli, ["validate", str(master), "--format", "json"])
    unknown = [f for f in json.loads(v.output)["findings"] if f["code"] == "owner.unknown"]
    assert [(f["row"], "王晓明" in f["message"]) for f in unknown] == [(2, True)]

    # role change and disable keep the Lists in step
    run("user", "role", "zm", "sales")
    lists = load(master).lists
    assert lists["owners"] == ["王小明", "经理李", "赵敏"] and lists["service"] == []
    run("user", "disable", "boss2")
    assert load(master).lists["owners"] == ["王小明", "赵敏"]
    run("user", "enable", "boss2")
    assert load(master).lists["owners"] == ["王小明", "赵敏", "经理李"]


def test_apply_brings_the_lists_in_step(tmp_path: Path, crm_state_dir, monkeypatch) -> None:
    """An account changed while the master could not be written: the next apply writes it;
    a name the team typed without an account stays."""
    from crm_sheets import accounts
    from crm_sheets.home import create_home
    from crm_sheets.template import build_template

    h = create_home(tmp_path / "home")
    build_template(h.master, "zh")
    accounts.create_first_admin(h, "boss", PW)
    tmp = h.master.with_name("edit.xlsx")
    lists_col = list(load(h.master).lists).index("owners")  # Lists columns in schema order
    patch_workbook(h.master, tmp, {("列表", 2, lists_col): "外协老周"})
    os.replace(tmp, h.master)
    accounts.add_user(h, "li", "sales", by="boss", password=PW, display_name="李娜")
    assert load(h.master).lists["owners"] == ["外协老周"]
    monkeypatch.setenv("CRM_HOME", str(h.root))
    accounts.login(h, "boss", PW)
    r = CliRunner().invoke(cli, ["apply", str(h.master)])
    assert r.exit_code in (0, 1), r.output
    assert load(h.master).lists["owners"] == ["外协老周", "李娜"], r.output
