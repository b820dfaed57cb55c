"""Issue 13.4: synonyms of dropdown values (零售业, 展会, 打电话, GB/T 4754 门类 names…) are a
fix-it hint in validation, written as the list's value by `crm apply` (audited), and accepted
by filters. One table per dropdown: crm_sheets/choices.py."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from helpers import customer, followup, make_master

from crm_sheets import audit
from crm_sheets.apply.state import state_dir_for
from crm_sheets.choices import SYNONYMS, canonical
from crm_sheets.cli import cli
from crm_sheets.reader import load
from crm_sheets.schema import DEFAULT_LISTS

TODAY = "2024-06-01"
RETAIL, FINANCE, LOGISTICS, IT = "C20240315001", "C20240315002", "C20240315003", "C20240315004"


def _master(tmp_path: Path) -> Path:
    rows = [
        customer(customer_id=RETAIL, name="北京华联百货有限公司", industry="零售业", source="展会",
                 stage="已成交", customer_type="成交客户", phone="13800138001", email="a@hl.cn"),
        customer(customer_id=FINANCE, name="上海浦江投资管理有限公司", industry="金融业",
                 source="网络推广", customer_type="潜在", stage="线索", phone="13800138002",
                 email="b@pj.cn"),
        customer(customer_id=LOGISTICS, name="广州顺达货运代理有限公司", industry="物流运输",
                 phone="13800138003", email="c@sd.cn"),
        customer(customer_id=IT, name="深圳云图软件有限公司",
                 industry="信息传输、软件和信息技术服务业", phone="13800138004", email="d@yt.cn"),
    ]
    fus = [followup(customer_id=RETAIL, customer_name="北京华联百货有限公司", method="打电话"),
           followup(followup_id="F202403200002", customer_id=FINANCE,
                    customer_name="上海浦江投资管理有限公司", method="上门")]
    return make_master(tmp_path / "CRM.xlsx", rows, fus)


def _validate(path: Path) -> tuple[int, list[dict]]:
    r = CliRunner().invoke(cli, ["validate", str(path), "--format", "json", "--today", TODAY])
    return r.exit_code, json.loads(r.output)["findings"]


def test_the_seeds_own_words_are_hints_not_errors(tmp_path: Path) -> None:
    path = _master(tmp_path)
    code, findings = _validate(path)
    assert not [f for f in findings if f["code"] == "choice.invalid"], findings
    hints = {(f["customer_id"], f["column"]): f for f in findings if f["code"] == "choice.synonym"}
    assert hints[(RETAIL, "industry")]["severity"] == "info"
    assert "零售业" in hints[(RETAIL, "industry")]["message"]
    assert "「零售」" in hints[(RETAIL, "industry")]["message"]  # names the list's value
    assert "「金融」" in hints[(FINANCE, "industry")]["message"]
    assert "「物流」" in hints[(LOGISTICS, "industry")]["message"]
    assert "「信息技术」" in hints[(IT, "industry")]["message"]  # GB/T 4754 门类 name
    assert "「展会推荐」" in hints[(RETAIL, "source")]["message"]
    assert "「线上推广」" in hints[(FINANCE, "source")]["message"]
    assert "「成交」" in hints[(RETAIL, "stage")]["message"]
    assert "「潜在客户」" in hints[(FINANCE, "customer_type")]["message"]
    methods = sorted(f["message"] for f in findings
                     if f["code"] == "choice.synonym" and f["column"] == "method")
    assert len(methods) == 2 and "「电话」" in methods[1] and "「拜访」" in methods[0]
    assert code == 0  # hints only: nothing blocks


def test_query_accepts_synonyms_before_and_after_apply(tmp_path: Path) -> None:
    path = _master(tmp_path)

    def ids(*args: str) -> list[str]:
        r = CliRunner().invoke(cli, ["query", str(path), "--format", "json", "--today", TODAY,
                                     *args])
        assert r.exit_code == 0, r.output
        return [c["customer_id"] for c in json.loads(r.output)["customers"]]

    assert ids("--industry", "零售业") == [RETAIL]  # the cell says 零售业, the list 零售
    assert ids("--industry", "零售") == [RETAIL]
    assert ids("--industry", "批发和零售业") == [RETAIL]
    assert ids("--source", "展会") == [RETAIL, LOGISTICS, IT]  # 展会 cell + 展会推荐 cells
    assert ids("--industry", "物流运输,金融业") == [FINANCE, LOGISTICS]
    r = CliRunner().invoke(cli, ["apply", str(path), "--today", TODAY])
    assert r.exit_code in (0, 1), r.output
    assert ids("--industry", "零售业") == [RETAIL]  # the cell now says 零售
    bad = CliRunner().invoke(cli, ["query", str(path), "--industry", "航天"])
    assert bad.exit_code == 2  # not a synonym of anything: still a usage error


def test_apply_writes_the_list_value_and_audits_it(tmp_path: Path) -> None:
    path = _master(tmp_path)
    r = CliRunner().invoke(cli, ["apply", str(path), "--today", TODAY])
    assert r.exit_code in (0, 1), r.output
    wb = load(path)
    c = {rec.values["customer_id"]: rec.values for rec in wb.customers.records}
    assert c[RETAIL]["industry"] == "零售" and c[RETAIL]["source"] == "展会推荐"
    assert c[RETAIL]["stage"] == "成交"
    assert c[FINANCE]["industry"] == "金融" and c[FINANCE]["customer_type"] == "潜在客户"
    assert c[LOGISTICS]["industry"] == "物流" and c[IT]["industry"] == "信息技术"
    assert [f.values["method"] for f in wb.followups.records] == ["电话", "拜访"]
    events = [e for e in audit.read(state_dir_for(path)) if e.get("reason") == "choice.synonym"]
    assert {(e.get("customer_id"), e.get("column"), e.get("old"), e.get("new")) for e in events} \
        >= {(RETAIL, "industry", "零售业", "零售"), (IT, "industry",
                                                   "信息传输、软件和信息技术服务业", "信息技术")}
    _, findings = _validate(path)
    assert not [f for f in findings if f["code"] in ("choice.synonym", "choice.invalid")]
    again = CliRunner().invoke(cli, ["apply", str(path), "--today", TODAY])
    assert again.exit_code in (0, 1)
    assert len([e for e in audit.read(state_dir_for(path))
                if e.get("reason") == "choice.synonym"]) == len(events)


def test_an_older_list_spelling_stays_canonical() -> None:
    """A master whose Lists say 零售业 keeps it; 零售 is then the synonym."""
    assert canonical("industries", "零售", ["制造业", "零售业"]) == "零售业"
    assert canonical("industries", "零售业", DEFAULT_LISTS["industries"]) == "零售"
    assert canonical("industries", "航天", DEFAULT_LISTS["industries"]) is None
    assert canonical("methods", "微信", DEFAULT_LISTS["methods"]) == "线上会议"


def test_every_group_leads_with_its_default_list_value() -> None:
    """The synonym table and the default lists agree, so every default value has synonyms
    people type and no spelling means two things."""
    for list_name, groups in SYNONYMS.items():
        assert [g[0] for g in groups] == list(DEFAULT_LISTS[list_name]), list_name
        spellings = [s for g in groups for s in g]
        assert len(spellings) == len(set(spellings)), list_name


def test_default_industries_use_one_naming() -> None:
    """The short trade name throughout (docs/decisions.md): no value ends in 业."""
    assert not [v for v in DEFAULT_LISTS["industries"] if v.endswith("业")]
