"""The user guide (docs/使用指南.md) covers every finding code and the demo walk-through."""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path

import pytest

GUIDE = Path(__file__).resolve().parents[1] / "docs" / "使用指南.md"

# Every module that registers finding codes (optional ones may not exist yet).
CODE_MODULES = ("crm_sheets.validation", "crm_sheets.rules", "crm_sheets.apply", "crm_sheets.dedupe",
                "crm_sheets.views", "crm_sheets.views.merge", "crm_sheets.views.shared_guard",
                "crm_sheets.watch", "crm_sheets.importer", "crm_sheets.backup_admin",
                "crm_sheets.export", "crm_sheets.dashboard")


def all_codes() -> list[str]:
    for name in CODE_MODULES:
        if importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    from crm_sheets.messages import CATALOGUE

    return sorted(CATALOGUE)


def guide_text() -> str:
    return GUIDE.read_text(encoding="utf-8")


def test_catalogue_includes_import_codes():
    codes = all_codes()
    assert "import.duplicate_skipped" in codes and "import.incomplete" in codes
    assert "required.missing" in codes and "customer.possible_duplicate" in codes


@pytest.mark.parametrize("code", all_codes())
def test_every_finding_code_is_explained(code):
    # as a whole word: `phone.invalid` must not pass because of `xphone.invalidx`
    assert re.search(rf"(?<![\w.]){re.escape(code)}(?![\w.])", guide_text()), \
        f"{code} is not explained in docs/使用指南.md"


def test_guide_is_chinese_and_covers_the_essentials():
    text = guide_text()
    for must in ("销售", "客服", "市场", "管理层", "客户", "跟进记录", "问题", "非重复", "NotDuplicates",
                 "crm views mine", "inbox", "crm demo", "docs/apply.md", "crm import"):
        assert must in text, must
    cjk = sum(1 for ch in text if "\u4e00" <= ch <= "\u9fff")
    assert cjk > 3000


def test_guide_demo_excerpt_matches_crm_demo(tmp_path, monkeypatch):
    """The demo lines the guide quotes are what `crm demo` prints."""
    from click.testing import CliRunner

    from crm_sheets.cli import cli

    monkeypatch.setenv("CRM_STATE_DIR", str(tmp_path / "state"))
    r = CliRunner().invoke(cli, ["demo", str(tmp_path / "练习")])
    assert r.exit_code == 0, r.output
    text = guide_text()
    for line in r.output.splitlines():
        m = re.match(r"\s+(Customers|Followups)\s+\d+\s+(\S+)\s+(\S+)", line)
        if m:  # each planted problem's code is explained in the guide
            assert m.group(2) in text
    assert "预埋的问题（练习时逐个修正）" in r.output and "预埋的问题（练习时逐个修正）" in text
    for fixed in ("Customers    5  phone.invalid                电话少了几位",
                  "Followups   25  followup.late_entry          录入不及时"):
        assert fixed in r.output and fixed in text
