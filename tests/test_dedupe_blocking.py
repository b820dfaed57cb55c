"""Blocking on arrays (`candidate_pairs`) gives exactly the pairs of the list-based code it
replaced (`candidate_pairs_py`, kept as the reference and fallback)."""

from __future__ import annotations

import csv
import random

import pytest
from helpers import COMPANIES

from crm_sheets.dedupe import blocking
from crm_sheets.dedupe.api import profile_of, without_common_contacts
from crm_sheets.dedupe.normalize import location_codes, name_forms
from crm_sheets.dedupe.score import Profile
from crm_sheets.dedupe.synthetic import company_names, hard_negatives, variant

NAME_COLUMNS = (
    "full_name",
    "short_name",
    "expanded_short_name",
    "b_share_short_name",
    "english_name",
    "short_name_2025_10",
    "short_name_2019_11",
    "former_or_variant_names",
)


def _scan_profiles(rows: list[dict[str, str]]) -> list[Profile]:
    """The profiles a scan blocks on (as `api._scan` makes them)."""
    return [p for p in without_common_contacts([profile_of(r) for r in rows]) if p is not None]


def _same(profiles: list[Profile]) -> list[tuple[int, int]]:
    got = blocking.candidate_pairs(profiles)
    assert got == blocking.candidate_pairs_py(profiles)
    return got


def _alias_rows() -> list[dict[str, str]]:
    rows = []
    with open(COMPANIES, encoding="utf-8-sig", newline="") as fh:
        for row in csv.DictReader(fh):
            for col in NAME_COLUMNS:
                for name in (row.get(col) or "").split("|"):
                    if name.strip():
                        rows.append(
                            {"name": name, "province": row["province"], "city": row["city"]}
                        )
    return rows


def _synthetic_rows(n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    bases = company_names(n, seed=seed)
    kinds = (
        "spaces",
        "brackets",
        "drop_youxian",
        "region_add",
        "region_drop",
        "traditional",
        "typo",
        "fullwidth",
        "short",
    )
    rows = []
    for k, base in enumerate(bases):
        phone = f"13{rng.randrange(10**8, 10**9):09d}"
        rows.append({"name": base, "phone": phone, "email": f"a{k % 997}@x.cn"})
        rows.append(
            {
                "name": variant(base, kinds[k % len(kinds)], rng),
                "phone": phone if k % 3 == 0 else "",
            }
        )
    rows += [{"name": name} for name in hard_negatives(bases, rng)]
    rng.shuffle(rows)
    return rows


def test_same_pairs_on_listed_companies_with_places() -> None:
    rows = _alias_rows()
    assert len(rows) > 1500
    pairs = _same(_scan_profiles(rows))
    assert len(pairs) > 500
    # without places (no status-marked 简称 candidates) and with every name twice
    assert _same(_scan_profiles([{"name": r["name"]} for r in rows] * 2))


def test_same_pairs_on_synthetic_variants_and_hard_negatives() -> None:
    assert len(_same(_scan_profiles(_synthetic_rows(3000, seed=11)))) > 2000


def _random_profiles(rng: random.Random, n: int, alphabet: str, max_len: int) -> list[Profile]:
    """Names over a small alphabet (bigram runs around CAP_GRAM, keys of 0-3 characters,
    repeated bigrams), exact-key groups around STAR_OVER, contacts around CAP_STRONG."""
    out = []
    pool = [f"1{k:010d}" for k in range(25)]
    for k in range(n):
        r = rng.random()
        if r < 0.05:
            name = "甲乙丙丁" if k % 2 else "戊己庚"  # exact-key groups
        elif r < 0.15:
            name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 3)))
        else:
            name = "".join(rng.choice(alphabet) for _ in range(rng.randint(2, max_len)))
        if rng.random() < 0.1:
            name += rng.choice(("有限公司", "股份", "集团", "(深圳)"))
        if rng.random() < 0.05:
            name = rng.choice(("ST", "*ST")) + name[:2]
        phone = rng.choice(pool) if rng.random() < 0.6 else ""
        email = f"{rng.randrange(22)}@e.cn" if rng.random() < 0.5 else ""
        loc = location_codes(rng.choice(("广东", "")), rng.choice(("深圳市", "广州市", "")))
        out.append(Profile(name_forms(name), phone, email, loc))
    return out


@pytest.mark.parametrize("seed", range(4))
def test_same_pairs_on_random_names_around_every_cap(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = "".join(rng.sample("科技华安信达通海南北东西中国金银星辰月光明天地人和美", 8 + seed))
    profiles = _random_profiles(rng, 2600, alphabet, 9)
    keys = [p.forms.key for p in profiles]
    assert max(keys.count(k) for k in set(keys)) > blocking.STAR_OVER  # a star group
    _same(profiles)


def test_same_pairs_when_counting_every_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keys with many usable bigrams are counted pair by pair: the same pairs again."""
    rng = random.Random(5)
    rows = _synthetic_rows(800, seed=5)
    profiles = _scan_profiles(rows) + _random_profiles(rng, 800, "科技华安信达通海南北东西中国", 12)
    want = blocking.candidate_pairs_py(profiles)
    assert blocking.candidate_pairs(profiles) == want
    monkeypatch.setattr(blocking, "_SIGNATURES_MAX", 0)
    assert blocking.candidate_pairs(profiles) == want


def test_same_pairs_on_odd_text_and_tiny_sheets() -> None:
    names = [
        "𠀀𠀁科技",
        "𠀀𠀁",
        "a\ud800b有限公司",
        "a\ud800b",
        "Ping An Bank Co., Ltd.",
        "ping an bank",
        "ＴＣＬ",
        "tcl",
        "",
        "x",
        "平安",
        "平安银行",
        "平安银行股份有限公司",
    ]
    profiles = [Profile(name_forms(n)) for n in names]
    _same(profiles)
    for k in range(4):
        _same(profiles[:k])
    assert blocking.candidate_pairs([]) == []
