"""`crm apply` with the check cache writes what it writes without one (issue 15).

apply validates through the workbook's check cache (checkcache.py) the way `crm validate`
does: with the last check's duplicate scan reusable, or brought up to date from its index,
no scan worker is started. These tests run the same steps on two copies of the demo, one
with CRM_CHECK_CACHE=0 (the full check, as before) and one with the cache, and compare the
masters byte for byte after every apply: edits that leave the duplicate scan's input as it
was (the scan is reused), edits to names and phones (the scan is brought up to date), a
damaged cache (ignored: a full check), and a merge.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
from pathlib import Path

import pytest

from crm_sheets import checkcache

TODAY = dt.date(2026, 11, 26)
NOW = dt.datetime(2026, 11, 26, 15, 30)


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _patch(path: Path, cells: dict) -> None:
    from crm_sheets.writeback.xlsxpatch import patch_workbook

    tmp = path.with_name("edit.xlsx")
    patch_workbook(path, tmp, cells)
    os.replace(tmp, path)


def _notes_and_followups(path: Path) -> None:
    """Edits outside the duplicate scan's fields: notes and new follow-ups."""
    from crm_sheets.reader import load

    wb = load(path)
    cust, fol = wb.customers, wb.followups
    recs = cust.records
    last = max(r.row for r in fol.records)
    cells: dict = {}
    for i in range(12):
        c = recs[(i * 17) % len(recs)]
        r = last + 1 + i
        for key, v in (
            ("customer_id", c.values.get("customer_id")),
            ("start", dt.datetime.combine(TODAY, dt.time(9)) - dt.timedelta(hours=i)),
            ("method", "电话"),
            ("content", f"测试跟进 {i}"),
            ("owner", c.values.get("owner")),
        ):
            if key in fol.columns:
                cells[(fol.sheet_name, r, fol.columns[key])] = v
    for i in range(15):
        rec = recs[(i * 37) % len(recs)]
        cells[(cust.sheet_name, rec.row, cust.columns["notes"])] = f"备注已修改 {i}"
    _patch(path, cells)


def _names_and_phones(path: Path) -> None:
    """Edits the duplicate scan sees: a phone copied from another customer, a renamed
    customer, a new customer under an existing name."""
    from crm_sheets.reader import load

    wb = load(path)
    cust = wb.customers
    recs = cust.records
    col = cust.columns
    cells = {
        (cust.sheet_name, recs[5].row, col["phone"]): recs[40].values.get("phone"),
        (cust.sheet_name, recs[9].row, col["name"]): "改名后的贸易有限公司",
    }
    new_row = max(r.row for r in recs) + 1
    for key, v in (
        ("name", recs[60].values.get("name")),
        ("contact_name", "李四"),
        ("phone", "13900139000"),
        ("owner", recs[0].values.get("owner")),
        ("stage", "线索"),
        ("first_contact", TODAY),
        ("source", "转介绍"),
    ):
        if key in col:
            cells[(cust.sheet_name, new_row, col[key])] = v
    _patch(path, cells)


def _damage_cache(path: Path) -> None:
    cache = checkcache.cache_file(path)
    assert cache.is_file() or not checkcache.enabled()
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_bytes(b"not a cache")


def _run(root: Path, monkeypatch: pytest.MonkeyPatch, cached: bool) -> tuple[list, list]:
    """(written, findings, the master's SHA-256) after each apply; the caches apply used."""
    from crm_sheets.apply.run import run_apply
    from crm_sheets.demo import build_demo

    monkeypatch.setenv("CRM_STATE_DIR", str(root / "state"))
    monkeypatch.setenv(checkcache.ENV, "1" if cached else "0")
    opened: list = []
    real_open = checkcache.CheckCache.open.__func__

    def spy(cls, workbook):  # noqa: ANN001, ANN202
        cc = real_open(cls, workbook)
        opened.append(cc)
        return cc

    monkeypatch.setattr(checkcache.CheckCache, "open", classmethod(spy))
    master = build_demo(root / "demo", today=TODAY).master
    shas = []
    steps = [None, _notes_and_followups, _names_and_phones, _damage_cache, "merge", None]
    for i, step in enumerate(steps):
        merge = None
        if step == "merge":
            from crm_sheets.reader import load

            recs = load(master).customers.records
            merge = (recs[3].values["customer_id"], recs[4].values["customer_id"])
        elif step is not None:
            step(master)
        out = run_apply(master, today=TODAY, now=NOW + dt.timedelta(minutes=10 * i), merge=merge)
        shas.append((out.written, len(out.findings), _sha(master)))
    return shas, opened


def test_apply_with_the_check_cache_writes_the_same_bytes(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_HOME", raising=False)
    monkeypatch.delenv("CRM_NOW", raising=False)
    with monkeypatch.context() as m:
        full, opened_full = _run(tmp_path / "full", m, cached=False)
    assert opened_full == []
    with monkeypatch.context() as m:
        warm, opened = _run(tmp_path / "warm", m, cached=True)
    assert warm == full
    assert len(opened) == 6 and all(cc is not None for cc in opened)
    # the paths the cache took: cold, scan reused, scan brought up to date, damaged
    # (cold again), merge, nothing new
    assert not opened[0].warm
    assert opened[1].scan_reused
    assert opened[2].scan_incremental
    assert opened[3].saved is None and not opened[3].warm
    assert opened[5].scan_reused


def test_apply_keeps_the_row_findings_a_check_left(tmp_path, monkeypatch):
    """apply takes no row fingerprints, but one that writes nothing (here a dry run)
    leaves the row findings of the check before it for the check after it."""
    from crm_sheets.apply.run import run_apply
    from crm_sheets.demo import build_demo
    from crm_sheets.reader import load
    from crm_sheets.validation import check_file, validate

    monkeypatch.delenv("CRM_HOME", raising=False)
    monkeypatch.delenv("CRM_NOW", raising=False)
    monkeypatch.setenv("CRM_STATE_DIR", str(tmp_path / "state"))
    master = build_demo(tmp_path / "demo", today=TODAY).master
    assert run_apply(master, today=TODAY, now=NOW).written
    check_file(master, TODAY, cache=True)  # leaves the row findings
    cust = load(master).customers
    # a new phone: the duplicate scan's input changes (apply brings the scan up to date
    # and saves the cache)
    _patch(master, {(cust.sheet_name, cust.records[5].row, cust.columns["phone"]): "13712345678"})
    again = run_apply(master, today=TODAY, now=NOW + dt.timedelta(minutes=5), dry_run=True)
    assert not again.written
    cc = checkcache.CheckCache.open(master)
    warm = validate(load(master), TODAY, cache=cc)
    assert cc.warm and cc.rechecked == 1
    _wb, full = check_file(master, TODAY, cache=False)
    assert [f.to_dict() for f in warm.findings] == [f.to_dict() for f in full.findings]
