"""The duplicate scan in a second process: same findings as in-process, never stale.

`check_file` (crm validate) and apply start a child process that scans the customer
columns while the rest of the workbook is read and checked. These tests force that
path on small workbooks and compare it with the plain in-process scan.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner
from helpers import TODAY, customer, followup, make_master

from crm_sheets import load, validate
from crm_sheets.cli import cli
from crm_sheets.dedupe.api import duplicate_matches, findings_from_matches
from crm_sheets.dedupe.worker import SCAN_FIELDS, DuplicateScan, payload_of
from crm_sheets.validation import check_file, load_scanning

ROOT = Path(__file__).resolve().parents[1]

CUSTOMERS = [
    customer(customer_id="C20240101001", name="平安银行股份有限公司", phone="13800000001",
             email="a@pingan.example"),
    customer(customer_id="C20240101002", name="深圳华强实业有限公司", phone="13800000002",
             email="b@hq.example", province="广东省", city="深圳市", district="福田区"),
    customer(customer_id="C20240101003", name="平安银行（深圳）", phone="13800000003",
             email="c@pingan.example"),
    customer(customer_id=None, name="华强实业", phone="13800000004", email="d@hq.example",
             province="广东省", city="深圳市", district="福田区"),
    customer(customer_id="C20240101005", name="杭州娃哈哈集团有限公司", phone="13800000005",
             email="e@whh.example", province="浙江省", city="杭州市", district="上城区"),
]


@pytest.fixture()
def master(tmp_path: Path) -> Path:
    fus = [followup(followup_id=f"F2024032000{i}", customer_id=c["customer_id"] or "C20240101001",
                    customer_name=c["name"]) for i, c in enumerate(CUSTOMERS, 1)]
    return make_master(tmp_path / "客户 主表.xlsx", customers=CUSTOMERS, followups=fus)


def _dicts(report):  # noqa: ANN001, ANN202
    return [f.to_dict() for f in report.findings]


def test_check_file_in_a_second_process_equals_in_process(master: Path) -> None:
    wb_a, rep_a = check_file(master, TODAY, parallel=True)
    wb_b, rep_b = check_file(master, TODAY, parallel=False)
    expected = validate(load(master), TODAY)
    assert _dicts(rep_a) == _dicts(rep_b) == _dicts(expected)
    dup_rows = sorted(f.row for f in rep_a.findings if f.code == "customer.possible_duplicate")
    assert dup_rows == [4, 5]  # 平安银行（深圳） and 华强实业, each after its earlier twin


def test_worker_result_is_used_and_matches_the_library(master: Path) -> None:
    with DuplicateScan.start(force=True) as scan:
        assert scan is not None
        wb = load_scanning(master, scan, force=True)
        got = scan.matches_for(wb, 85)
        assert scan.error is None
    assert got is not None, "the worker's result was not used"
    assert got == duplicate_matches(load(master), 85)
    assert got  # the sheet has duplicates, so an empty result would prove nothing


def test_reader_hook_gets_converted_columns_before_records(master: Path) -> None:
    seen = {}

    def hook(lang, threshold, nd, first_row, cols):  # noqa: ANN001
        seen.update(lang=lang, threshold=threshold, nd=nd, first_row=first_row, cols=cols)

    wb = load(master, on_customers=(SCAN_FIELDS, hook))
    assert seen["lang"] == "zh" and seen["threshold"] == 85 and seen["first_row"] == 2
    names = [v for v in seen["cols"]["name"] if v is not None]
    assert names == [r.values["name"] for r in wb.customers.records]
    assert set(seen["cols"]) == set(SCAN_FIELDS)


def test_a_changed_name_makes_the_worker_result_stale(master: Path) -> None:
    with DuplicateScan.start(force=True) as scan:
        wb = load_scanning(master, scan, force=True)
        wb.customers.records[2].values["name"] = "完全不同的名字有限公司"
        assert scan.matches_for(wb, 85) is None
        report = validate(wb, TODAY, duplicate_scan=scan)
    rows = sorted(f.row for f in report.findings if f.code == "customer.possible_duplicate")
    assert rows == [5]  # recomputed in-process: row 4 no longer looks like 平安银行


def test_an_id_assigned_after_the_scan_keeps_it_valid_and_labels_follow(master: Path) -> None:
    with DuplicateScan.start(force=True) as scan:
        wb = load_scanning(master, scan, force=True)
        wb.customers.records[3].values["customer_id"] = "C20240101004"  # as apply would
        matches = scan.matches_for(wb, 85)
    assert matches is not None
    fs = findings_from_matches(wb, matches)
    assert any(f.row == 5 and f.customer_id == "C20240101004" for f in fs)


def test_a_changed_threshold_or_not_duplicates_makes_it_stale(master: Path) -> None:
    with DuplicateScan.start(force=True) as scan:
        wb = load_scanning(master, scan, force=True)
        assert scan.matches_for(wb, 90) is None
        wb.not_duplicates = [("C20240101001", "C20240101003")]
        assert scan.matches_for(wb, 85) is None


def test_a_dead_worker_falls_back_to_scanning_in_process(master: Path) -> None:
    scan = DuplicateScan.start(force=True)
    assert scan is not None
    wb = load_scanning(master, scan, force=True)
    scan._proc.kill()  # the worker dies (killed, out of memory…) before answering
    scan._proc.wait()
    report = validate(wb, TODAY, duplicate_scan=scan)
    scan.close()
    assert scan.error == "worker ended without a result"
    assert _dicts(report) == _dicts(validate(load(master), TODAY))


def test_small_sheets_stop_the_worker_unless_forced(master: Path) -> None:
    scan = DuplicateScan.start(force=True)
    wb = load(master)
    assert scan.submit(payload_of("zh", 85, [], wb.customers.records)) is False
    assert scan._proc.poll() is not None  # stopped at once, not left running
    assert scan.matches_for(wb, 85) is None
    scan.close()


def test_env_switch_turns_the_worker_off(master: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PARALLEL", "0")
    assert DuplicateScan.start(master) is None
    monkeypatch.setenv("CRM_PARALLEL", "1")
    scan = DuplicateScan.start(master)
    assert scan is not None
    scan.close()


def test_cli_validate_json_with_the_worker_equals_the_library(master: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_PARALLEL", "1")
    res = CliRunner().invoke(cli, ["validate", str(master), "--format", "json",
                                   "--today", TODAY.isoformat()])
    assert res.exit_code in (0, 1), res.output
    got = json.loads(res.output)
    expected = validate(load(master), TODAY)
    assert got["findings"] == _dicts(expected)


def test_an_unguarded_user_script_is_not_run_twice(master: Path, tmp_path: Path) -> None:
    """multiprocessing's spawn would re-run a script without `if __name__ == "__main__"`;
    the worker is a plain `python -m` child, so a library user's script runs once."""
    script = tmp_path / "my_check.py"
    script.write_text(textwrap.dedent(f"""
        import datetime
        from crm_sheets.validation import check_file
        print("started")
        wb, rep = check_file({str(master)!r}, datetime.date(2024, 6, 1), parallel=True)
        print(sum(f.code == "customer.possible_duplicate" for f in rep.findings))
    """), encoding="utf-8")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, check=True)
    assert out.stdout.split() == ["started", "2"]


# --- the name-forms cache the worker keeps between runs -------------------------------------

def test_scan_saves_and_reuses_the_name_forms_cache(master: Path, tmp_path: Path) -> None:
    from crm_sheets.dedupe import formcache, worker
    from crm_sheets.dedupe.normalize import _name_forms, forget_forms

    wb = load(master)
    payload = payload_of("zh", 85, [], wb.customers.records)
    cache = tmp_path / "names.bin"
    forget_forms()
    first, missing = worker.scan_payload(payload, str(cache))
    names = {r.values["name"] for r in wb.customers.records}
    assert missing == names  # nothing cached yet
    formcache.save_forms(cache, formcache.forms_for(names))
    loaded = formcache.load_forms(cache)
    forget_forms()
    assert loaded == {n: _name_forms(n) for n in names}  # what is read back is what was computed
    forget_forms()
    again, missing = worker.scan_payload(payload, str(cache))
    assert missing == set() and again == first
    forget_forms()


@pytest.mark.parametrize("damage", ["garbage", "other_code", "wrong_shape"])
def test_a_bad_cache_is_ignored(master: Path, tmp_path: Path, damage: str) -> None:
    import marshal

    from crm_sheets.dedupe import formcache, worker
    from crm_sheets.dedupe.normalize import forget_forms

    cache = tmp_path / "names.bin"
    if damage == "garbage":
        cache.write_bytes(b"\x00not a cache")
    elif damage == "other_code":  # written by another version of the normaliser
        cache.write_bytes(marshal.dumps(("0" * 64, ["平安银行"], [["x"]] * 13)))
    else:
        cache.write_bytes(marshal.dumps((formcache.code_digest(), ["平安银行"], [["x"]])))
    assert formcache.load_forms(cache) == {}
    wb = load(master)
    forget_forms()
    got, missing = worker.scan_payload(payload_of("zh", 85, [], wb.customers.records), str(cache))
    assert got == duplicate_matches(wb, 85) and missing
    forget_forms()


def test_check_file_leaves_a_cache_in_the_state_folder(master: Path) -> None:
    from crm_sheets.dedupe import formcache, worker

    check_file(master, TODAY, parallel=True)
    worker._wait_detached()  # the worker saves after answering; wait for it here
    cache = formcache.cache_path(master)
    assert cache.is_file() and "平安银行股份有限公司" in formcache.load_forms(cache)
    _, rep = check_file(master, TODAY, parallel=True)
    assert _dicts(rep) == _dicts(validate(load(master), TODAY))


def test_a_failing_hand_over_does_not_break_the_read(master: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(self, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        raise RuntimeError("pipe exploded")

    monkeypatch.setattr(DuplicateScan, "submit_columns", broken)
    wb, rep = check_file(master, TODAY, parallel=True)
    assert _dicts(rep) == _dicts(validate(load(master), TODAY))
    assert len(wb.customers.records) == len(CUSTOMERS)


# --- the worker's saves after answering: nobody waits for them but a check that needs them ---

def test_the_worker_saves_the_index_after_answering_and_clears_its_marker(master: Path) -> None:
    from crm_sheets.dedupe import formcache, incremental, worker

    _wb, rep = check_file(master, TODAY, parallel=True, cache=False)
    cache = formcache.cache_path(master)
    assert worker.wait_saved(cache, timeout=30)  # the saving marker goes when it is done
    assert not worker.saving_marker(cache).exists()
    assert cache.is_file() and incremental.index_path(cache).is_file()
    worker._wait_detached()
    assert _dicts(rep) == _dicts(validate(load(master), TODAY))


def test_wait_saved_waits_only_for_a_live_recent_saver(tmp_path: Path) -> None:
    import os
    import time

    from crm_sheets.dedupe import worker

    cache = tmp_path / "names-x.bin"
    assert worker.wait_saved(cache, timeout=0)  # no marker
    assert worker.wait_saved(None)
    marker = worker.saving_marker(cache)
    assert marker.parent == tmp_path and marker.name == "names-x.bin.saving"
    marker.write_text(str(os.getpid()), encoding="ascii")  # a live process saving
    assert not worker.wait_saved(cache, timeout=0.05)
    assert not marker.exists()  # waited for once: the next check does not wait again
    marker.write_text(str(os.getpid()), encoding="ascii")
    old = time.time() - worker.SAVING_STALE - 5  # left long ago by one that died
    os.utime(marker, (old, old))
    assert worker.wait_saved(cache, timeout=0)
    if os.name == "posix":
        dead = subprocess.Popen([sys.executable, "-c", "pass"])
        dead.wait()
        marker.write_text(str(dead.pid), encoding="ascii")  # fresh, but its writer is gone
        assert worker.wait_saved(cache, timeout=0)
    marker.write_text("not a pid", encoding="ascii")
    assert worker.wait_saved(cache, timeout=0)


def test_matches_for_with_the_callers_payload_equals_without(master: Path) -> None:
    with DuplicateScan.start(force=True) as scan:
        assert scan is not None
        wb = load_scanning(master, scan, force=True)
        now = payload_of(wb.lang, 85, wb.not_duplicates, wb.customers.records)
        got = scan.matches_for(wb, 85, now)
        assert got is not None and got == scan.matches_for(wb, 85)
        wb.customers.records[2].values["name"] = "完全不同的名字有限公司"
        changed = payload_of(wb.lang, 85, wb.not_duplicates, wb.customers.records)
        assert scan.matches_for(wb, 85, changed) is None


def test_scan_payload_equals_duplicate_matches_on_a_synthetic_sheet() -> None:
    """The worker scores from its entries without records: the same matches, profiles and
    scored pairs as `duplicate_matches` on the workbook (blank names, merged rows, IDs
    missing, NotDuplicates, shared and placeholder contacts, places)."""
    import random

    from crm_sheets.dedupe import incremental, worker
    from crm_sheets.dedupe.synthetic import company_names, variant
    from crm_sheets.model import Record, new_workbook

    rng = random.Random(4)
    wb = new_workbook("zh")
    kinds = ("spaces", "brackets", "region_drop", "traditional", "typo", "short")
    places = [("广东省", "深圳市"), ("浙江", "杭州市"), ("", "上海"), (None, None)]
    for k, base in enumerate(company_names(900, seed=4)):
        for name in (base, variant(base, kinds[k % len(kinds)], rng)) if k % 2 else (base,):
            prov, city = rng.choice(places)
            n = len(wb.customers.records)
            wb.customers.records.append(Record(row=n + 2, values={
                "customer_id": f"C{n:05d}" if n % 7 else None,
                "name": name if n % 53 else rng.choice((None, "", "  ")),
                "phone": "13900000000" if n % 11 == 0 else f"1{rng.randrange(10**10):010d}",
                "email": f"x{k}@a.cn" if k % 5 == 0 else None,
                "province": prov, "city": city,
                "status": "已合并" if n % 97 == 0 else "跟进中"}))
    labels = [r.values["customer_id"] for r in wb.customers.records if r.values["customer_id"]]
    wb.not_duplicates = [(labels[k], labels[k + 1]) for k in range(0, 60, 3)]
    for lang in ("zh", "en"):
        wb.lang = lang
        want_keep: list = []
        want = duplicate_matches(wb, 80, keep=want_keep)
        assert len(want) > 50
        payload = payload_of(lang, 80, wb.not_duplicates, wb.customers.records)
        got_keep: list = []
        counts: list = []
        got, _ = worker.scan_payload(payload, None, got_keep, counts)
        assert got == want
        assert got_keep == want_keep
        # the index saved after the scan, from its counts = made again from the entries
        head = incremental.head_of(*payload[:3])
        index = worker.index_from_counts(head, payload[3], got_keep[0], counts[0])
        assert index is not None
        assert index == incremental.index_after_scan(head, payload[3], got_keep[0])
