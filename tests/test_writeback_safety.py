"""The safe write path: locks, backups, atomic replace, audit, and SIGKILL at any moment."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
import xlsxwriter
from python_calamine import CalamineWorkbook

from crm_sheets import audit
from crm_sheets.errors import Refused, WorkbookLocked
from crm_sheets.writeback.atomic import atomic_write
from crm_sheets.writeback.backups import create_backup, read_manifest, restore_file, verify_backup
from crm_sheets.writeback.locks import is_editor_artifact, lock_holder
from crm_sheets.writeback.safe import append_audit, file_sha256, safe_patch

ROOT = Path(__file__).resolve().parents[1]


def small_book(path: Path, rows: int = 20) -> Path:
    wb = xlsxwriter.Workbook(str(path))
    ws = wb.add_worksheet("Customers")
    ws.write_row(0, 0, ["客户编号", "客户名称", "联系方式"])
    for r in range(1, rows + 1):
        ws.write_row(r, 0, ["", f"公司{r}", f"1380013{r:04d}"])
    wb.add_worksheet("Mine").write_string(0, 0, "keep me")
    wb.close()
    return path


def excel_owner_file(name: str) -> bytes:
    ansi = name.encode("gbk")
    head = bytes([len(ansi)]) + ansi
    head = head.ljust(54, b" ")
    return head + len(name).to_bytes(2, "little") + name.encode("utf-16-le") + b"\x00" * 20


@pytest.mark.parametrize("name", ["~$CRM.xlsx", ".~lock.CRM.xlsx#", "lu12345abc.tmp",
                                  "~WPS0001.tmp", "A1B2C3D4", "~$M.xlsx", ".crm-write-ab12.tmp",
                                  ".~CRM.xlsx"])
def test_editor_artifacts(name: str) -> None:
    assert is_editor_artifact(name)
    assert is_editor_artifact(Path("/some/folder") / name)


@pytest.mark.parametrize("name", ["CRM.xlsx", "客户.xlsx", "report.csv", "A1B2C3D4.xlsx",
                                  "lunch.xlsx", "backups"])
def test_not_artifacts(name: str) -> None:
    assert not is_editor_artifact(name)


def test_lock_holder_excel_wps_libreoffice(tmp_path: Path) -> None:
    book = small_book(tmp_path / "CRM.xlsx")
    assert lock_holder(book) is None
    owner = tmp_path / "~$CRM.xlsx"
    owner.write_bytes(excel_owner_file("张三"))
    assert lock_holder(book) == "张三"
    owner.unlink()
    lo = tmp_path / ".~lock.CRM.xlsx#"
    lo.write_text(",李四,pc-li,26.11.2024 10:00,file:///home/li/.config/libreoffice/4;",
                  encoding="utf-8")
    assert lock_holder(book) == "李四@pc-li"
    lo.unlink()
    (tmp_path / ".~CRM.xlsx").write_bytes(b"")
    assert lock_holder(book) == "unknown"


def test_refuses_locked_workbook_and_leaves_it_untouched(tmp_path: Path) -> None:
    book = small_book(tmp_path / "CRM.xlsx")
    before = book.read_bytes()
    (tmp_path / "~$CRM.xlsx").write_bytes(excel_owner_file("王五"))
    with pytest.raises(WorkbookLocked, match="王五"):
        safe_patch(book, {("Customers", 2, 0): "C20240315001"}, backups_dir=tmp_path / "backups",
                   state_dir=tmp_path / "state", who="engine", action="apply")
    assert book.read_bytes() == before
    assert not (tmp_path / "backups").exists()
    assert not audit.read(tmp_path / "state")


def test_safe_patch_backs_up_writes_and_audits(tmp_path: Path) -> None:
    book = small_book(tmp_path / "CRM.xlsx")
    before = book.read_bytes()
    os.chmod(book, 0o640)
    res = safe_patch(book, {("Customers", 2, 0): "C20240315001"},
                     backups_dir=tmp_path / "backups", state_dir=tmp_path / "state",
                     who="admin", action="apply", expected_sha256=hashlib.sha256(before).hexdigest(),
                     audit_events=[{"sheet": "Customers", "row": 2, "column": "customer_id",
                                    "old": None, "new": "C20240315001"}])
    assert oct(book.stat().st_mode & 0o777) == "0o640"
    rows = CalamineWorkbook.from_path(str(book)).get_sheet_by_name("Customers").to_python()
    assert rows[1][0] == "C20240315001"
    # backup: the old bytes, with a manifest of SHA-256s
    assert res.backup.parent == tmp_path / "backups" and verify_backup(res.backup)
    manifest = read_manifest(res.backup)
    assert manifest["format"] == 1 and manifest["reason"] == "apply"
    assert manifest["files"]["CRM.xlsx"]["sha256"] == hashlib.sha256(before).hexdigest()
    with zipfile.ZipFile(res.backup) as zf:
        assert zf.read("CRM.xlsx") == before
    events = audit.read(tmp_path / "state")
    assert events[-1]["who"] == "admin" and events[-1]["new"] == "C20240315001"
    assert events[-1]["row"] == 2 and events[-1]["sheet"] == "Customers"
    # restore puts the old bytes back
    restore_file(res.backup, book)
    assert book.read_bytes() == before
    assert not list(tmp_path.glob(".crm-write-*"))


def test_refuses_when_file_changed_since_read(tmp_path: Path) -> None:
    book = small_book(tmp_path / "CRM.xlsx")
    before = book.read_bytes()
    with pytest.raises(Refused):
        safe_patch(book, {("Customers", 2, 0): "x"}, backups_dir=tmp_path / "b",
                   state_dir=tmp_path / "s", who="engine", action="apply",
                   expected_sha256="0" * 64)
    assert book.read_bytes() == before


def test_atomic_write_failure_leaves_target(tmp_path: Path) -> None:
    target = tmp_path / "f.bin"
    target.write_bytes(b"old")

    def boom(tmp: Path) -> None:
        tmp.write_bytes(b"half")
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        atomic_write(target, boom)
    assert target.read_bytes() == b"old"
    assert list(tmp_path.iterdir()) == [target]


def test_backup_name_and_damaged_backup(tmp_path: Path) -> None:
    book = small_book(tmp_path / "CRM.xlsx")
    a = create_backup(book, tmp_path / "b", "merge customers!")
    b = create_backup(book, tmp_path / "b", "merge customers!")
    assert a != b and a.name.startswith("CRM-") and a.name.endswith("-merge-customers.zip")
    damaged = tmp_path / "b" / "damaged.zip"
    with zipfile.ZipFile(a) as zin, zipfile.ZipFile(damaged, "w") as zout:
        zout.writestr("manifest.json", zin.read("manifest.json"))
        zout.writestr("CRM.xlsx", b"tampered")
    assert verify_backup(a) and not verify_backup(damaged)


def test_audit_refuses_secret_fields(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        append_audit(tmp_path, "engine", "apply", [{"password": "x"}])
    assert append_audit(tmp_path, "engine", "apply", []) == 0


# ------------------------------------------------------------------- crash safety

CHILD = r"""
import sys, json
from pathlib import Path
from crm_sheets.writeback.safe import safe_patch
book, state, cells_file = sys.argv[1], sys.argv[2], sys.argv[3]
cells = {tuple(k): v for k, v in json.loads(Path(cells_file).read_text())}
print("ready", flush=True)
safe_patch(Path(book), cells, backups_dir=Path(state) / "backups", state_dir=Path(state),
           who="engine", action="apply")
print("done", flush=True)
"""


def _cells(rows: int) -> list:
    return [[["Customers", r, 0], f"C20240315{r:04d}"] for r in range(2, rows + 2, 3)] + \
        [[["Customers", r, 3], f"改 {r}"] for r in range(2, rows + 2, 7)]


def _run_child(book: Path, state: Path, cells_file: Path) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-c", CHILD, str(book), str(state), str(cells_file)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)


def _opens(book: Path) -> None:
    with zipfile.ZipFile(book) as zf:
        assert zf.testzip() is None
    CalamineWorkbook.from_path(str(book)).get_sheet_by_name("Customers").to_python()


@pytest.mark.slow
def test_sigkill_during_write_never_tears_the_master(tmp_path: Path) -> None:
    rows = 40_000
    original = small_book(tmp_path / "orig.xlsx", rows)
    before_sha = file_sha256(original)
    cells_file = tmp_path / "cells.json"
    cells_file.write_text(json.dumps(_cells(rows)), encoding="utf-8")
    # the uninterrupted result (the patcher is deterministic) and how long the write takes
    ref_dir = tmp_path / "ref"
    ref_dir.mkdir()
    ref = ref_dir / "CRM.xlsx"
    ref.write_bytes(original.read_bytes())
    proc = _run_child(ref, tmp_path / "ref-state", cells_file)
    assert proc.stdout.readline().strip() == b"ready"
    t0 = time.perf_counter()
    out, err = proc.communicate(timeout=120)
    write_time = time.perf_counter() - t0
    assert proc.returncode == 0, err.decode()
    after_sha = file_sha256(ref)
    assert after_sha != before_sha
    rng = random.Random(20240315)
    outcomes = []
    for i in range(24):
        work = tmp_path / f"run{i}"
        work.mkdir()
        book = work / "CRM.xlsx"
        book.write_bytes(original.read_bytes())
        proc = _run_child(book, work / "state", cells_file)
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(rng.uniform(0, write_time * 1.1))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        sha = file_sha256(book)
        assert sha in (before_sha, after_sha), f"run {i}: the master is a mix"
        _opens(book)
        outcomes.append("after" if sha == after_sha else "before")
        for leftover in work.iterdir():  # only the master, the state and our temporaries
            assert leftover.name in ("CRM.xlsx", "state") or is_editor_artifact(leftover.name)
    assert len(outcomes) >= 20
    assert "before" in outcomes, outcomes  # kills landed before the replace...
    assert outcomes.count("before") >= 5, outcomes  # ...mostly during the write itself


def test_lock_taken_during_the_write_is_respected(tmp_path: Path, monkeypatch) -> None:
    import crm_sheets.writeback.safe as safe

    book = small_book(tmp_path / "CRM.xlsx")
    before = book.read_bytes()
    real = safe.patch_workbook

    def slow_patch(*args, **kw):
        res = real(*args, **kw)
        (tmp_path / "~$CRM.xlsx").write_bytes(excel_owner_file("赵六"))  # Excel opened it
        return res

    monkeypatch.setattr(safe, "patch_workbook", slow_patch)
    with pytest.raises(WorkbookLocked, match="赵六"):
        safe_patch(book, {("Customers", 2, 0): "C20240315001"}, backups_dir=tmp_path / "b",
                   state_dir=tmp_path / "s", who="engine", action="apply")
    assert book.read_bytes() == before
    assert not list(tmp_path.glob(".crm-write-*"))


def test_verification_catches_a_damaged_or_different_part(tmp_path: Path) -> None:
    from crm_sheets.errors import CrmError
    from crm_sheets.writeback.safe import verify_written
    from crm_sheets.writeback.xlsxpatch import patch_workbook

    src = small_book(tmp_path / "a.xlsx", rows=300)
    out = tmp_path / "b.xlsx"
    res = patch_workbook(src, out, {("Customers", 2, 0): "C1"})
    verify_written(out, res)  # what was written verifies
    part = res.patched_parts[0]
    wrong = type(res)(patched_parts=res.patched_parts, removed_parts=[],
                      part_crc={part: res.part_crc[part] ^ 1}, cells_written=1)
    with pytest.raises(CrmError, match="differs|不同"):
        verify_written(out, wrong)
    # flip a byte inside the part's compressed data: inflating it must fail
    with zipfile.ZipFile(out) as zf:
        info = zf.getinfo(part)
    data = bytearray(out.read_bytes())
    name_len, extra_len = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    start = info.header_offset + 30 + name_len + extra_len
    data[start + info.compress_size // 2] ^= 0xFF
    out.write_bytes(bytes(data))
    with pytest.raises(CrmError, match="verification failed|校验失败"):
        verify_written(out, res)


def test_prefetched_sheets_give_the_same_file_and_only_for_their_hash(tmp_path: Path) -> None:
    from crm_sheets.writeback.prefetch import SheetPrefetch

    a = small_book(tmp_path / "a.xlsx", rows=500)
    b = tmp_path / "b.xlsx"
    b.write_bytes(a.read_bytes())
    sha = hashlib.sha256(a.read_bytes()).hexdigest()
    cells = {("Customers", 2, 0): "C20240315001", ("Customers", 400, 1): "新名称"}

    with zipfile.ZipFile(a) as zf:
        expected = zf.read("xl/worksheets/sheet1.xml")
    assert SheetPrefetch(a, sha, ["Customers"]).take(sha) == {"xl/worksheets/sheet1.xml": expected}
    assert SheetPrefetch(a, "0" * 64, ["Customers"]).take("0" * 64) == {}  # not this file's hash
    assert SheetPrefetch(a, sha, ["Customers"]).take(None) == {}  # no hash to hold it to
    assert SheetPrefetch(a, sha, ["Customers"]).take("1" * 64) == {}

    pre = SheetPrefetch(a, sha, ["Customers"])
    for book, prefetch in ((a, pre), (b, None)):
        safe_patch(book, cells, backups_dir=tmp_path / "bk", state_dir=tmp_path / "st", who="t",
                   action="apply", expected_sha256=sha, prefetch=prefetch)
    assert a.read_bytes() == b.read_bytes()  # prefetching changes nothing in the result


def test_a_prefetch_of_a_file_saved_since_is_refused_with_the_write(tmp_path: Path) -> None:
    from crm_sheets.writeback.prefetch import SheetPrefetch

    book = small_book(tmp_path / "a.xlsx", rows=50)
    sha = hashlib.sha256(book.read_bytes()).hexdigest()
    pre = SheetPrefetch(book, sha, ["Customers"])
    pre.take(sha)
    small_book(book, rows=60)  # an editor saves in between
    with pytest.raises(Refused):
        safe_patch(book, {("Customers", 2, 0): "x"}, backups_dir=tmp_path / "bk",
                   state_dir=tmp_path / "st", who="t", action="apply", expected_sha256=sha,
                   prefetch=SheetPrefetch(book, sha, ["Customers"]))


def test_a_save_landing_while_the_engine_patches_is_never_overwritten(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No lock file is left by a sync client or a script: the hash is checked again right
    before the rename, so their save survives and the write is refused."""
    import crm_sheets.writeback.safe as safe_mod

    book = small_book(tmp_path / "a.xlsx", rows=30)
    sha = hashlib.sha256(book.read_bytes()).hexdigest()
    real_patch = safe_mod.patch_workbook

    def patch_then_someone_saves(src, dest, *a, **k):  # noqa: ANN001, ANN002, ANN003, ANN202
        out = real_patch(src, dest, *a, **k)
        small_book(tmp_path / "theirs.xlsx", rows=31)
        os.replace(tmp_path / "theirs.xlsx", book)  # their save lands mid-write
        return out

    monkeypatch.setattr(safe_mod, "patch_workbook", patch_then_someone_saves)
    with pytest.raises(Refused):
        safe_patch(book, {("Customers", 2, 0): "C1"}, backups_dir=tmp_path / "bk",
                   state_dir=tmp_path / "st", who="t", action="apply", expected_sha256=sha)
    rows = CalamineWorkbook.from_path(str(book)).get_sheet_by_name("Customers").to_python()
    assert len(rows) == 32 and rows[1][0] == ""  # their 31 rows, not our patch
    assert not list(tmp_path.glob(".crm-write-*.tmp"))  # our temp file is gone
