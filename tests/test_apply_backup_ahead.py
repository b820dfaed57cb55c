"""apply's backup written ahead (issue 15): the prefetch writes the bytes it read as the
write's backup while validation runs; `safe_patch` takes it instead of copying the file
again. The backup is the one `create_backup` writes (format, members, hash), there is
exactly one per write, none is left behind when the write does not happen, and a file
saved since it was read is still refused. The sheets patched ahead are not kept
inflated: a write that puts new formats on them patches them from the file again, with
the same bytes."""

from __future__ import annotations

import datetime as dt
import hashlib
import zipfile
from pathlib import Path

import pytest
from helpers import Sheet, customer, followup, make_master

from crm_sheets.apply import run_apply
from crm_sheets.errors import Refused
from crm_sheets.writeback.backups import create_backup, read_manifest, verify_backup
from crm_sheets.writeback.prefetch import SheetPrefetch
from crm_sheets.writeback.safe import safe_patch

TODAY = dt.date(2024, 6, 1)


def _master(path: Path) -> Path:
    custs = [customer(customer_id=None, name=f"公司{i}") for i in range(1, 8)]
    return make_master(path, customers=custs, followups=[followup(followup_id=None)])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_backup_ahead_is_create_backups(tmp_path: Path) -> None:
    book = _master(tmp_path / "CRM.xlsx")
    sha = _sha(book)
    pre = SheetPrefetch(book, sha, ["Customers"], backup=(tmp_path / "bk", "apply"))
    got = pre.take_backup(sha, tmp_path / "bk")
    want = create_backup(book, tmp_path / "other", "apply")
    assert got is not None and got.parent == tmp_path / "bk" and verify_backup(got)
    a, b = read_manifest(got), read_manifest(want)
    assert a["created"] <= b["created"]
    for m in (a, b):
        del m["created"]
    assert a == b  # format, reason, source, member hash and size
    with zipfile.ZipFile(got) as za, zipfile.ZipFile(want) as zb:
        assert za.namelist() == zb.namelist()
        assert za.read("CRM.xlsx") == zb.read("CRM.xlsx") == book.read_bytes()
    assert pre.take_backup(sha, tmp_path / "bk") is None  # once
    pre.close()
    assert got.exists()  # taken: close() leaves it


def test_a_backup_ahead_not_taken_is_removed(tmp_path: Path) -> None:
    book = _master(tmp_path / "CRM.xlsx")
    sha = _sha(book)
    pre = SheetPrefetch(book, sha, ["Customers"], backup=(tmp_path / "bk", "apply"))
    pre.close()
    assert not list((tmp_path / "bk").glob("*.zip"))
    for other_sha, folder in (("0" * 64, tmp_path / "bk"), (sha, tmp_path / "elsewhere")):
        pre = SheetPrefetch(book, sha, ["Customers"], backup=(tmp_path / "bk", "apply"))
        assert pre.take_backup(other_sha, folder) is None
        assert not list((tmp_path / "bk").glob("*.zip"))
    # a file that is no longer the one read: no backup of it at all
    pre = SheetPrefetch(book, "0" * 64, ["Customers"], backup=(tmp_path / "bk", "apply"))
    assert pre.take_backup("0" * 64, tmp_path / "bk") is None
    assert not list((tmp_path / "bk").glob("*.zip"))


def test_a_write_takes_the_backup_ahead_and_a_refused_one_leaves_none(tmp_path: Path) -> None:
    book = _master(tmp_path / "CRM.xlsx")
    before = book.read_bytes()
    sha = _sha(book)
    cells = {("Customers", 2, 0): "C20240601001"}
    pre = SheetPrefetch(book, sha, ["Customers"], cells=cells, backup=(tmp_path / "bk", "apply"))
    res = safe_patch(
        book,
        cells,
        backups_dir=tmp_path / "bk",
        state_dir=tmp_path / "st",
        who="t",
        action="apply",
        expected_sha256=sha,
        prefetch=pre,
    )
    pre.close()
    assert list((tmp_path / "bk").glob("*.zip")) == [res.backup]
    with zipfile.ZipFile(res.backup) as zf:
        assert zf.read("CRM.xlsx") == before
    # the file changed since it was read: refused, and the backup ahead goes with it
    sha2 = _sha(book)
    pre = SheetPrefetch(book, sha2, ["Customers"], cells=cells, backup=(tmp_path / "bk", "apply"))
    pre.take_all(sha2)  # read and backed up before the editor's save
    _master(tmp_path / "theirs.xlsx").replace(book)
    with pytest.raises(Refused):
        safe_patch(
            book,
            cells,
            backups_dir=tmp_path / "bk",
            state_dir=tmp_path / "st",
            who="t",
            action="apply",
            expected_sha256=sha2,
            prefetch=pre,
        )
    pre.close()
    assert list((tmp_path / "bk").glob("*.zip")) == [res.backup]


def _apply_bytes(
    tmp_path: Path,
    name: str,
    prefetch: bool,
    monkeypatch: pytest.MonkeyPatch,
    edit: bool,
    edited: list[bytes],
) -> tuple[bytes, list[Path]]:
    from crm_sheets.writeback import prefetch as prefetch_mod

    folder = tmp_path / name
    folder.mkdir()
    monkeypatch.setenv("CRM_STATE_DIR", str(folder / "state"))
    monkeypatch.setenv("CRM_NOW", "2024-06-01T10:00")
    book = _master(folder / "CRM.xlsx")
    run_apply(book, today=TODAY)
    if edited:  # the same edit, byte for byte (openpyxl stamps the time it saves)
        book.write_bytes(edited[0])
    else:
        sh = Sheet(book)
        sh.set("客户", 3, "备注", "改过")  # a user edit: updated-at changes
        if edit:  # a new problem cell: the Customers sheet gets new marks (formats)
            sh.set("客户", 4, "联系方式", "12345")
        sh.save()
        edited.append(book.read_bytes())
    monkeypatch.setenv("CRM_NOW", "2024-06-01T11:00")
    real = prefetch_mod.SheetPrefetch
    if not prefetch:

        class NoPrefetch:
            def __init__(self, *a, **k) -> None:  # noqa: ANN002, ANN003
                pass

            @classmethod
            def early(cls, *a, **k):  # noqa: ANN002, ANN003, ANN206
                return cls()

            def give(self, *a, **k) -> None:  # noqa: ANN002, ANN003
                pass

            def take_all(self, sha):  # noqa: ANN001, ANN202
                return {}, None

            def take_backup(self, sha, folder):  # noqa: ANN001, ANN202
                return None

            def close(self) -> None:
                pass

        monkeypatch.setattr(prefetch_mod, "SheetPrefetch", NoPrefetch)
    try:
        out = run_apply(book, today=TODAY)
    finally:
        monkeypatch.setattr(prefetch_mod, "SheetPrefetch", real)
    assert out.written
    return book.read_bytes(), sorted((folder / "backups").glob("*.zip"))


@pytest.mark.parametrize("edit", [False, True])
def test_apply_with_and_without_the_prefetch_writes_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit: bool
) -> None:
    edited: list[bytes] = []
    a, backups_a = _apply_bytes(tmp_path, "with", True, monkeypatch, edit, edited)
    b, backups_b = _apply_bytes(tmp_path, "without", False, monkeypatch, edit, edited)
    assert a == b
    assert len(backups_a) == len(backups_b) == 2  # one per write


def test_an_early_prefetch_is_the_prefetch(tmp_path: Path) -> None:
    book = _master(tmp_path / "CRM.xlsx")
    sha = _sha(book)
    cells = {("Customers", 2, 0): "C20240601001", ("Followups", 2, 0): "F202406010001"}
    plain = SheetPrefetch(book, sha, ["Customers", "Followups"], cells=cells)
    early = SheetPrefetch.early(book, sha, "客户")
    early.give(["Customers", "Followups"], cells, backup=(tmp_path / "bk", "apply"))
    (p1, a1), (p2, a2) = plain.take_all(sha), early.take_all(sha)
    assert p1 == p2 == {} and a1 is not None and a2 is not None
    assert {k: f.result().blocks for k, f in a1.parts.items()} == {
        k: f.result().blocks for k, f in a2.parts.items()
    }
    assert early.take_backup(sha, tmp_path / "bk") is not None
    # only Followups touched: the customer sheet inflated early is not kept
    only = {("Followups", 2, 0): "F202406010001"}
    early = SheetPrefetch.early(book, sha, "客户")
    early.give(["Followups"], only)
    parts, ahead = early.take_all(sha)
    assert parts == {} and ahead is not None and len(ahead.parts) == 1
    # never given its cells (no change, or apply failed first): close() ends it
    early = SheetPrefetch.early(book, sha, "客户")
    early.close()
    assert early.take_all(sha) == ({}, None)
    assert (
        not list((tmp_path / "bk").glob("*.zip")) or len(list((tmp_path / "bk").glob("*.zip"))) == 1
    )


def test_an_early_prefetch_taken_without_cells_ends(tmp_path: Path) -> None:
    book = _master(tmp_path / "CRM.xlsx")
    sha = _sha(book)
    early = SheetPrefetch.early(book, sha, "客户")
    assert early.take_backup(sha, tmp_path / "bk") is None  # no give(): no wait forever
    assert early.take_all(sha) == ({}, None)
