"""The watcher runs the workbook safety checks while a save settles (`_warm_check`).

The checks only read the file and remember their result by content, so the load after the
stable probe finds them done; a failure there reports nothing (the load checks again).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers import customer, followup, make_master

from crm_sheets import reader, safezip
from crm_sheets.errors import CrmError
from crm_sheets.watch import watcher


def test_warm_check_leaves_the_load_nothing_to_scan(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = make_master(tmp_path / "m.xlsx", customers=[customer()], followups=[followup()])
    monkeypatch.setattr(safezip, "_extents_cache", {})
    watcher._warm_check(path)
    assert len(safezip._extents_cache) == 1
    scanned: list[str] = []
    real = safezip._check_members

    def counting(*args: object, **kwargs: object) -> None:
        scanned.append("x")
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(safezip, "_check_members", counting)
    wb = reader.load(path)
    assert scanned == []
    assert len(wb.customers.records) == 1


@pytest.mark.parametrize("content", [b"", b"PK\x03\x04 half a zip", b"not a workbook"])
def test_warm_check_of_a_bad_file_says_nothing(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.xlsx"
    path.write_bytes(content)
    watcher._warm_check(path)  # no exception
    watcher._warm_check(tmp_path / "missing.xlsx")
    with pytest.raises(CrmError):  # the load still reports it
        reader.load(path)
