"""`crm audit` (issue 13 item 17): an admin or a manager finds out who changed what.

The path: an admin merges two customers and applies; a manager asks the audit log what
happened to a customer, by whom, in a date range, as a table, JSON and CSV; a rep is
refused in the home's language.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json

import pytest
from click.testing import CliRunner
from helpers import TODAY, customer, followup, make_master

from crm_sheets import audit
from crm_sheets.cli import cli

KEEP, DROP = "C20240315001", "C20240316001"


@pytest.fixture
def team(logged_in_home):
    """A home whose admin merged DROP into KEEP (DROP's note fills KEEP's blank one)."""
    admin = logged_in_home("admin")
    home = admin.home
    make_master(home.master, customers=[
        customer(customer_id=KEEP, notes=None),
        customer(customer_id=DROP, name="北京华信科技", phone="13800138000",
                 notes="=HYPERLINK(\"http://evil.example\")"),
    ], followups=[followup(customer_id=DROP, customer_name="北京华信科技")])
    res = CliRunner().invoke(cli, ["merge-customers", str(home.master), KEEP, DROP,
                                   "--today", TODAY.isoformat()])
    assert res.exit_code == 0, res.output
    manager = logged_in_home("manager", home=home)
    return home, manager


def run(*args: str):
    return CliRunner().invoke(cli, ["audit", *args])


def test_manager_reads_who_changed_a_customer(team):
    home, _ = team
    res = run("--home", str(home.root), "--customer", KEEP)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert lines[0].split()[:6] == ["时间", "操作人", "操作", "位置", "客户编号", "修改（原值"]
    body = "\n".join(lines[2:])
    assert "合并客户" in body and "admin" in body and "客户 第 2 行 备注" in body
    assert "（空） → =HYPERLINK" in body
    assert DROP not in [ln.split()[-1] for ln in lines[2:]]  # only KEEP's events
    today = dt.date.today().isoformat()
    assert all(ln.startswith(today) for ln in lines[2:])


def test_filters_json_and_limit(team):
    home, manager = team
    all_events = json.loads(run("--home", str(home.root), "--format", "json").output)
    assert {e["action"] for e in all_events} >= {"merge-customers", "user.add", "login"}
    mine = json.loads(run("--home", str(home.root), "--format", "json", "--user", "经理一号").output)
    assert mine and all(manager.name in (e.get("who"), e.get("user")) for e in mine)
    merged = json.loads(run("--home", str(home.root), "--format", "json",
                            "--action", "merge-customers", "--customer", DROP).output)
    assert merged and all(e["customer_id"] == DROP for e in merged)
    assert {e.get("column") for e in merged} >= {"status"}
    logged = audit.query(home.state)
    two = json.loads(run("--home", str(home.root), "--format", "json", "--limit", "2").output)
    assert len(logged) > 2 and two == logged[-2:]  # --limit with json: the newest two
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    yesterday = (dt.date.today() - dt.timedelta(days=1)).isoformat()
    assert json.loads(run("--home", str(home.root), "--format", "json", "--since", tomorrow).output) == []
    assert json.loads(run("--home", str(home.root), "--format", "json", "--until", yesterday).output) == []
    assert json.loads(run("--home", str(home.root), "--format", "json", "--since", yesterday,
                          "--until", dt.date.today().isoformat(), "--customer", KEEP).output)
    bad = run("--home", str(home.root), "--since", "昨天")
    assert bad.exit_code == 2 and "--since 需要形如" in bad.output
    # reading the log is itself in the log
    assert any(e["action"] == "audit.read" and e["who"] == manager.name
               for e in audit.query(home.state))


def test_csv_has_bom_and_no_formula(team):
    home, _ = team
    res = CliRunner().invoke(cli, ["audit", "--home", str(home.root), "--format", "csv",
                                   "--customer", KEEP])
    assert res.exit_code == 0, res.output
    raw = res.stdout_bytes
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:3] == ["时间", "操作人", "操作"]
    cells = [c for r in rows[1:] for c in r]
    assert any("HYPERLINK" in c for c in cells)
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@")]


def test_rep_is_refused_in_the_homes_language(logged_in_home):
    rep = logged_in_home("sales")
    res = run("--home", str(rep.home.root))
    assert res.exit_code == 1
    assert "查看审计日志需要管理层权限" in res.output
    assert any(e["action"] == "refused" and e.get("attempted") == "audit"
               for e in audit.query(rep.home.state, user=rep.name))
    # the admin sees the refusal, in words
    from crm_sheets import accounts

    accounts.login(rep.home, "admin", rep.password)
    res = run("--home", str(rep.home.root), "--action", "refused")
    assert res.exit_code == 0, res.output
    assert "被拒绝的操作" in res.output and "尝试：查看审计日志；角色：销售" in res.output


def test_english_home_table_and_refusal(logged_in_home):
    admin = logged_in_home("admin", lang="en")
    res = run("--home", str(admin.home.root), "--action", "user")
    assert res.exit_code == 0, res.output
    assert res.output.splitlines()[0].startswith("Time")
    assert "create admin" in res.output
    logged_in_home("marketing", home=admin.home)
    res = run("--home", str(admin.home.root))
    assert res.exit_code == 1 and "reading the audit log needs the manager role" in res.output


def test_query_library_filters_and_survives_a_torn_line(tmp_path):
    state = tmp_path / "state"
    audit.record(state, "li", "apply", customer_id="C1", column="notes", old="a", new="b")
    audit.record(state, "engine", "views.merge", account="wang", customer_id="c2")
    audit.record(state, "admin", "viewsX", customer_id="C1")
    with open(audit.audit_path(state), "a", encoding="utf-8") as fh:
        fh.write('{"at": "2026-11-28T10:00:00+00:00", "who": "torn"')  # a crash mid-line
    assert [e["who"] for e in audit.query(state)] == ["li", "engine", "admin"]
    assert [e["who"] for e in audit.query(state, customer="c1")] == ["li", "admin"]
    assert [e["who"] for e in audit.query(state, user="WANG")] == ["engine"]
    assert [e["who"] for e in audit.query(state, action="views")] == ["engine"]
    assert [e["who"] for e in audit.query(state, limit=1)] == ["admin"]
    now = dt.datetime.now().astimezone()
    assert audit.query(state, since=now + dt.timedelta(minutes=5)) == []
    assert len(audit.query(state, until=now + dt.timedelta(minutes=5))) == 3
    assert len(audit.query(state, since=dt.date.today(), until=dt.date.today())) == 3
    row = audit.describe(audit.query(state)[0], "zh")
    assert (row["who"], row["action"], row["where"], row["change"]) == (
        "li", "应用规则", "备注", "a → b")
