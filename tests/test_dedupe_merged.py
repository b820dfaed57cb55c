"""Issue 13.3: a row `crm merge-customers` marked 已合并 takes no part in duplicate detection
(`crm dedupe`, validate's customer.possible_duplicate, the Issues sheet, the incremental index)."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
from click.testing import CliRunner
from helpers import customer, followup, make_master

from crm_sheets.cli import cli
from crm_sheets.dedupe import DuplicateIndex
from crm_sheets.reader import load
from crm_sheets.validation import check_file

KEEP, DROP = "C20240301001", "C20240301002"


def _master(tmp_path: Path) -> Path:
    rows = [customer(customer_id=KEEP, name="北京甲骨科技有限公司", phone="13800138001",
                     email="a@jiagu.cn"),
            customer(customer_id=DROP, name="北京甲骨科技有限公司", phone="13800138001",
                     email=None, notes="展会名片"),
            customer(customer_id="C20240301003", name="上海乙丙贸易有限公司",
                     phone="13900139003", email="b@yibing.cn")]
    fu = [followup(customer_id=KEEP, customer_name="北京甲骨科技有限公司")]
    return make_master(tmp_path / "CRM.xlsx", rows, fu)


def _pairs(path: Path) -> list[set[str]]:
    r = CliRunner().invoke(cli, ["dedupe", str(path), "--format", "json"])
    data = json.loads(r.output)
    return [set(c["customer_ids"]) for c in data["clusters"]]


def _dup_rows(path: Path) -> list[int]:
    r = CliRunner().invoke(cli, ["validate", str(path), "--format", "json",
                                 "--today", "2024-06-01"])
    return [f["row"] for f in json.loads(r.output)["findings"]
            if f["code"] == "customer.possible_duplicate"]


def test_merged_pair_is_no_longer_a_duplicate(tmp_path: Path) -> None:
    path = _master(tmp_path)
    assert _pairs(path) == [{KEEP, DROP}]  # the same company twice: reported before the merge
    assert _dup_rows(path) == [3]
    r = CliRunner().invoke(cli, ["merge-customers", str(path), KEEP, DROP,
                                 "--today", "2024-06-01"])
    assert r.exit_code == 0, r.output
    assert load(path).customers.records[1].values["status"] == "已合并"
    assert _pairs(path) == []
    assert _dup_rows(path) == []
    # the worker's overlapped scan and the in-process scan agree
    _, report = check_file(path, today=None, parallel=True)
    assert not [f for f in report.findings if f.code == "customer.possible_duplicate"]
    # the Issues sheet the merge rewrote lists no duplicate either
    ws = openpyxl.load_workbook(path)["问题"]
    assert not any("customer.possible_duplicate" in [str(c) for c in row]
                   for row in ws.iter_rows(min_row=2, values_only=True))
    # the incremental index (watcher, import) never offers the merged row
    wb = load(path)
    index = DuplicateIndex.from_workbook(wb)
    matches = index.check({"name": "北京甲骨科技有限公司", "phone": "13800138001"})
    assert [m.other_id for m in matches] == [KEEP]
