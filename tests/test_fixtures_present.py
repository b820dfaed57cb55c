"""The suite reads only files inside the repository, and the fixture folders are really there.

A fixture folder that went missing would otherwise make the parametrised reader/import/patch tests
collect nothing and pass silently (pytest's `empty_parameter_set_mark` also fails such a run)."""

from __future__ import annotations

from pathlib import Path

from helpers import COMPANIES, FIXTURES

TESTS = Path(__file__).resolve().parent


def test_fixture_folders_are_inside_the_repository_and_full():
    assert FIXTURES.is_relative_to(TESTS) and COMPANIES.is_relative_to(TESTS)
    names = sorted(p.name for p in FIXTURES.glob("*.xlsx"))
    assert len(names) == 27, names
    assert (FIXTURES / "PROVENANCE.md").is_file() and (FIXTURES / "LICENSES.md").is_file()
    assert len(COMPANIES.read_text(encoding="utf-8").splitlines()) == 601


def test_no_test_reads_outside_the_repository():
    bad = []
    for path in TESTS.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        for needle in ("/work/shared", '"shared" / "fixtures"', "../shared", "DEFAULT_ALIASES"):
            if needle in text and path.name != Path(__file__).name:
                bad.append(f"{path.name}: {needle}")
    assert bad == []
