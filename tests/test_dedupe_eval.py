"""The evaluation harness runs end to end (xlsx → `crm dedupe` → precision/recall)."""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import eval_dedupe as ev  # noqa: E402
from helpers import COMPANIES  # noqa: E402  (a copy inside the repository)


def test_alias_subset_through_the_cli_matches_the_library():
    entries = [(g, n, {}) for g, n in ev.load_aliases(COMPANIES, limit=600)]
    assert len({g for g, _, _ in entries}) == 600
    report = ev.evaluate(entries, threshold=None, use_cli=True)
    assert report["cli_matches_library"]
    assert report["clusters"]["precision"] >= 0.9
    assert report["clusters"]["recall"] >= 0.7


def test_synthetic_set_variants_and_hard_negatives():
    entries = ev.synthetic_set()
    groups = {g for g, _, _ in entries}
    assert any(g.startswith("n") for g in groups) and any(g.startswith("s") for g in groups)
    report = ev.evaluate(entries, threshold=None, use_cli=False)
    assert report["clusters"]["precision"] >= 0.95
    assert report["clusters"]["recall"] >= 0.95


def test_metrics():
    truth = {"a": "1", "b": "1", "c": "2"}
    assert ev.pr({frozenset(("a", "b"))}, truth)["precision"] == 1.0
    m = ev.pr({frozenset(("a", "c"))}, truth)
    assert m["precision"] == 0.0 and m["recall"] == 0.0


def test_main_prints_figures(capsys):
    assert ev.main(["--no-cli", "--aliases", str(COMPANIES)]) == 0
    out = capsys.readouterr().out
    assert "aliases" in out and "P=" in out and "R=" in out
