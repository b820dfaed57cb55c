"""The CLI is a thin layer: its JSON equals the library's result; exit codes per DESIGN §4."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from click.testing import CliRunner
from helpers import FIXTURES, TODAY, customer, make_master

from crm_sheets import load, validate
from crm_sheets.cli import cli
from crm_sheets.demo import build_demo

DEMO_TODAY = dt.date(2026, 11, 26)


def run(*args, **kw):
    return CliRunner().invoke(cli, [str(a) for a in args], catch_exceptions=False, **kw)


def test_validate_json_equals_library(tmp_path):
    path = make_master(tmp_path / "客户主表.xlsx", [customer(phone="1380013"), customer(customer_id="C20240315002")])
    res = run("validate", path, "--format", "json", "--today", TODAY.isoformat())
    assert res.exit_code == 1
    assert json.loads(res.stdout) == json.loads(json.dumps(validate(load(path), today=TODAY).to_dict(),
                                                           ensure_ascii=False, default=str))
    data = json.loads(res.stdout)
    assert data["summary"]["errors"] == 1
    f = data["findings"][0]
    assert set(f) == {"sheet", "row", "column", "code", "severity", "message", "customer_id"}
    assert (f["sheet"], f["row"], f["column"], f["code"]) == ("Customers", 2, "phone", "phone.invalid")


def test_validate_exit_0_when_clean_and_today_env(tmp_path, monkeypatch):
    path = make_master(tmp_path / "m.xlsx")
    monkeypatch.setenv("CRM_TODAY", TODAY.isoformat())
    res = run("validate", path)
    assert res.exit_code == 0, res.output
    assert "0 个错误" in res.stdout


@pytest.mark.parametrize("target", ["missing.xlsx", "malformed_zero-bytes_empty_file.xlsx",
                                    "encrypted_agile_Password1234__example_password.xlsx",
                                    "malformed_bad-central-dir_clusterfuzz-4828727001088000.xlsx",
                                    "google-sheets_no-header.xlsx"])
def test_unreadable_input_is_exit_2_one_line(tmp_path, target):
    path = FIXTURES / target if (FIXTURES / target).exists() else tmp_path / target
    res = CliRunner().invoke(cli, ["validate", str(path)])
    assert res.exit_code == 2
    assert res.exception is None or isinstance(res.exception, SystemExit)
    assert len(res.stderr.strip().splitlines()) == 1 and res.stderr.startswith("crm: ")


def test_bad_today_is_usage_error(tmp_path):
    res = CliRunner().invoke(cli, ["validate", str(make_master(tmp_path / "m.xlsx")), "--today", "tomorrow"])
    assert res.exit_code == 2


def test_init_creates_home_and_refuses_to_overwrite(tmp_path):
    pw = tmp_path / "pw.txt"
    pw.write_text("correct horse battery\n", encoding="utf-8")
    home = tmp_path / "销售部 CRM"
    res = run("init", home, "--admin", "boss", "--admin-password-file", pw)
    assert res.exit_code == 0, res.output
    for sub in ("views", "inbox", "reports", "backups"):
        assert (home / sub).is_dir()
    wb = load(home / "CRM.xlsx")
    assert wb.lang == "zh" and validate(wb).findings == []
    again = CliRunner().invoke(cli, ["init", str(home), "--admin", "boss", "--admin-password-file", str(pw)])
    assert again.exit_code == 2 and "不会覆盖" in again.stderr


def test_init_english(tmp_path):
    res = CliRunner().invoke(cli, ["init", str(tmp_path / "h"), "--lang", "en"])
    assert res.exit_code == 0, res.output
    assert load(tmp_path / "h" / "CRM.xlsx").lang == "en"


def test_demo_every_planted_problem_found_and_nothing_else(tmp_path):
    result = build_demo(tmp_path / "demo", today=DEMO_TODAY)
    wb = load(result.master)
    assert 250 <= len(wb.customers.records) <= 400
    assert 3 * len(wb.customers.records) <= len(wb.followups.records) <= 5 * len(wb.customers.records)
    stages = {r.values["stage"] for r in wb.customers.records}
    assert stages == {"线索", "意向", "谈判", "成交", "流失"}
    assert {r.values["customer_type"] for r in wb.customers.records} == {"潜在客户", "意向客户", "成交客户"}
    found = {(f.sheet, f.row, f.code) for f in validate(wb, today=DEMO_TODAY).findings}
    planted = {(p.sheet, p.row, p.code) for p in result.planted}
    assert planted <= found, planted - found
    assert found <= planted, found - planted
    assert len(planted) >= 15


def test_demo_command_prints_paths(tmp_path):
    res = run("demo", tmp_path / "d", "--today", DEMO_TODAY.isoformat())
    assert res.exit_code == 0, res.output
    assert str(tmp_path / "d" / "CRM.xlsx") in res.stdout
    assert "phone.invalid" in res.stdout
