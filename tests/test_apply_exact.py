"""`crm apply` writes the same bytes as the code at commit 3b17668 (issue 15).

Two cases: the demo master (300 customers) and a 2,000-customer demo, each run through a
first apply, then user edits (new follow-ups without IDs, edited notes, a new customer
without an ID), then a second apply, all with a fixed today/now. After each apply the
SHA-256 of every zip member of the master and of the whole file must equal what the code
at 3b17668 wrote (tests/fixtures/apply_exact.json, recorded with `record_cases` below run
from a git worktree of that commit: see tests/fixtures/PROVENANCE.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import zipfile
from pathlib import Path

import pytest

FIXTURE = Path(__file__).parent / "fixtures" / "apply_exact.json"
TODAY = dt.date(2026, 11, 26)
NOW = dt.datetime(2026, 11, 26, 15, 30)
CASES = {"demo": 300, "demo2000": 2000}


def _hashes(path: Path) -> dict[str, str]:
    out = {"<file>": hashlib.sha256(path.read_bytes()).hexdigest()}
    with zipfile.ZipFile(path) as z:
        for n in z.namelist():
            out[n] = hashlib.sha256(z.read(n)).hexdigest()
    return out


def _edits(path: Path, n_followups: int, n_notes: int) -> None:
    """What a person does between two applies (as bench/bench_apply.py does, smaller)."""
    from crm_sheets.reader import load
    from crm_sheets.writeback.xlsxpatch import patch_workbook

    wb = load(path)
    cust, fol = wb.customers, wb.followups
    recs = cust.records
    fcol = fol.columns
    ccol = cust.columns
    last_fu = max(r.row for r in fol.records)
    cells: dict = {}
    step = max(1, len(recs) // max(1, n_followups))
    for i in range(n_followups):
        c = recs[(i * step) % len(recs)]
        r = last_fu + 1 + i
        start = dt.datetime.combine(TODAY, dt.time(9)) - dt.timedelta(hours=i % 20)
        values = {
            "customer_id": c.values.get("customer_id"),
            "start": start,
            "method": "电话",
            "content": f"测试跟进 {i}",
            "owner": c.values.get("owner"),
        }
        if i % 7 == 0:
            values["stage_after"] = "报价"
        if i % 11 == 0:
            values["next_date"] = TODAY + dt.timedelta(days=3)
            values["next_action"] = "发送合同"
        for key, v in values.items():
            if key in fcol:
                cells[(fol.sheet_name, r, fcol[key])] = v
    for i in range(n_notes):
        rec = recs[(i * 37) % len(recs)]
        cells[(cust.sheet_name, rec.row, ccol["notes"])] = f"备注已修改 {i}"
    new_row = max(r.row for r in recs) + 1
    for key, v in (
        ("name", "新客户有限公司"),
        ("contact_name", "张三"),
        ("phone", "13800138000"),
        ("owner", recs[0].values.get("owner")),
        ("stage", "线索"),
        ("first_contact", TODAY),
        ("source", "转介绍"),
    ):
        if key in ccol:
            cells[(cust.sheet_name, new_row, ccol[key])] = v
    tmp = path.with_name("edit.xlsx")
    patch_workbook(path, tmp, cells)
    os.replace(tmp, path)


def record_cases(root: Path, cases: dict[str, int] = CASES) -> dict[str, dict[str, dict[str, str]]]:
    """{case: {"first"/"second": {member: sha256}}}; run with the code under test on sys.path
    (and CRM_STATE_DIR set to a scratch folder)."""
    from crm_sheets.apply.run import run_apply
    from crm_sheets.demo import build_demo

    out: dict[str, dict[str, dict[str, str]]] = {}
    for name, n in cases.items():
        demo = build_demo(root / name, today=TODAY, n_customers=n)
        master = demo.master
        got: dict[str, dict[str, str]] = {}
        first = run_apply(master, today=TODAY, now=NOW)
        assert first.written
        got["first"] = _hashes(master)
        _edits(master, n_followups=max(20, n // 10), n_notes=max(20, n // 10))
        second = run_apply(master, today=TODAY, now=NOW + dt.timedelta(minutes=10))
        assert second.written
        got["second"] = _hashes(master)
        out[name] = got
    return out


@pytest.mark.parametrize("case", sorted(CASES))
def test_apply_writes_the_recorded_bytes(case, tmp_path, monkeypatch):
    monkeypatch.setenv("CRM_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("CRM_HOME", raising=False)
    monkeypatch.delenv("CRM_NOW", raising=False)
    expected = json.loads(FIXTURE.read_text(encoding="utf-8"))[case]
    got = record_cases(tmp_path, {case: CASES[case]})[case]
    for stage in ("first", "second"):
        diff = sorted(
            k
            for k in set(expected[stage]) | set(got[stage])
            if expected[stage].get(k) != got[stage].get(k)
        )
        assert not diff, f"{case} {stage}: members differ: {diff}"
