"""bench/bench_speed.py: the budgets, verdicts and the one table (no timings run here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))

import bench_speed as bs  # noqa: E402
from gen import BENCH_TODAY  # noqa: E402


def test_budgets_are_the_issues():
    assert bs.budget_for("validate_warm", 100_000) == 1.0
    assert bs.budget_for("validate_cold", 100_000) == 1.4
    assert bs.budget_for("apply", 100_000) == 1.8
    assert bs.budget_for("dashboard", 100_000) == 1.0
    assert bs.budget_for("query", 100_000) == 0.9
    # at 10k and 40k the same ratios within 0.2
    assert bs.budget_for("validate_warm", 40_000) == 1.2
    assert bs.budget_for("query", 10_000) == 1.1
    # the watcher is in seconds beyond the debounce, at every size
    assert bs.budget_for("watch", 100_000) == 5.0
    assert bs.budget_for("watch", 10_000) == 5.0
    assert bs.MEM_BUDGET_MIB == 1024


def test_verdicts():
    assert bs.verdict("validate_warm", 100_000, 1.0, 900) == "met"  # the budget itself is met
    assert bs.verdict("validate_warm", 100_000, 1.01, 900) == "over"
    assert bs.verdict("validate_warm", 40_000, 1.15, 900) == "met"
    assert bs.verdict("query", 100_000, 0.5, 1025) == "over"  # memory over
    assert bs.verdict("query", 100_000, 0.5, None) == "met"
    assert bs.verdict("watch", 100_000, 4.9, None) == "met"
    assert bs.verdict("watch", 100_000, 5.1, None) == "over"
    assert bs.verdict("apply", 100_000, None, None) == "n/a"


def test_ratio_is_median_of_paired_rounds():
    # round pairs 2/1, 3/2, 10/2 -> median 2.0, not median(step) / median(bare) = 1.5
    assert bs.ratio_median([2.0, 3.0, 10.0], [1.0, 2.0, 2.0]) == pytest.approx(2.0)
    assert bs.ratio_median([4.0, 1.0, 3.0], [1.0, 1.0, 3.0]) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        bs.ratio_median([1.0], [1.0, 2.0])


def test_table_and_json():
    bare = {40_000: [1.0, 1.2, 1.1], 100_000: [3.0, 3.1, 2.9]}
    rows = [
        bs.Row("query", 100_000, "base", [4.0, 4.1, 3.9], 1.33, 400.0),
        bs.Row("validate_warm", 100_000, "ours", [2.9, 3.0, 3.1], 1.0, 700.0),
        bs.Row("query", 100_000, "ours", [2.5, 2.6, 2.7], 0.86, 1100.0),
        bs.Row("validate_cold", 40_000, "ours", [1.5, 1.6, 1.7], 1.45, 300.0),
        bs.Row("watch", 100_000, "ours", [3.0, 6.0, 4.0], None, None),
    ]
    table = bs.format_table(rows, bare).splitlines()
    assert table[0] == "| step | size | code | median s | × bare | budget | peak MiB | verdict |"
    body = [[c.strip() for c in line.split("|")[1:-1]] for line in table[2:]]
    assert [tuple(c[:3]) for c in body] == [
        ("bare calamine read", "40,000", ""),
        ("validate_cold", "40,000", "ours"),
        ("bare calamine read", "100,000", ""),
        ("validate_warm", "100,000", "ours"),
        ("query", "100,000", "ours"),
        ("query", "100,000", "base"),
        ("watch", "100,000", "ours"),
    ]
    assert table[2] == "| bare calamine read | 40,000 | | 1.10 | 1.00 | | | |"
    assert table[3] == "| validate_cold | 40,000 | ours | 1.60 | 1.45 | ≤ 1.6 × | 300 | met |"
    assert table[5].endswith("| ≤ 1.0 × | 700 | met |")
    assert table[6].endswith("| 0.86 | ≤ 0.9 × | 1100 | over |")  # memory over
    assert table[7].endswith("| 1.33 | ≤ 0.9 × | 400 | over |")
    assert table[8] == "| watch | 100,000 | ours | 4.00 |  | ≤ 5 s beyond debounce |  | met |"
    d = json.loads(json.dumps(rows[4].as_dict()))
    assert d["median_s"] == 4.0 and d["verdict"] == "met" and d["ratio"] is None


def test_bench_today_matches_gen():
    assert bs.BENCH_TODAY == BENCH_TODAY.isoformat()


def test_unknown_step_is_refused(capsys):
    with pytest.raises(SystemExit):
        bs.main(["--steps", "nope"])
    assert "nope" in capsys.readouterr().err
