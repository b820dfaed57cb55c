"""The duplicate index a full scan leaves behind (incremental.build_index) is built in one
pass, each posting straight in its saved form, and the scan worker lets the scan's
entries and profiles go as it builds it (its memory after answering, issue #15). These
tests hold the index to the one the earlier builder made, kept here as the reference."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from crm_sheets.dedupe import incremental, worker
from crm_sheets.dedupe.api import contact_counts, duplicate_matches, profile_of
from crm_sheets.dedupe.incremental import CAPS, FORMAT, MAX_CHANGED, _status, _terms
from crm_sheets.dedupe.synthetic import company_names, variant
from crm_sheets.model import Record, Workbook, new_workbook


def reference_build_index(head: Any, contents: Any, profiles: Any, raw_phones: Any,
                          raw_emails: Any, scored: Any) -> tuple[Any, ...]:
    """build_index as it was before the one-pass builder (the reference)."""
    from crm_sheets.dedupe.blocking import gram_terms

    post: dict[str, dict[str, Any]] = {k: {} for k in CAPS}
    for i, p in enumerate(profiles):
        for kind, ts in _terms(p).items():
            d = post[kind]
            for t in ts:
                lst = d.get(t)
                if lst is None:
                    d[t] = [i]
                else:
                    lst.append(i)
    for kind, cap in CAPS.items():
        d = post[kind]
        for t, lst in d.items():
            if len(lst) > cap + MAX_CHANGED:
                d[t] = len(lst)
            elif len(lst) == 1:
                d[t] = -1 - lst[0]
    n_grams = [len(gram_terms(p)) for p in profiles]
    status = [i for i, p in enumerate(profiles) if _status(p)]
    return (FORMAT, head, list(contents), post, raw_phones, raw_emails, n_grams, status,
            [tuple(s) for s in scored])


def _sheet() -> Workbook:
    """Merged rows, blank names, missing IDs, NotDuplicates, a placeholder phone on many
    rows, shared e-mails, places, status-marked short names and a bigram on so many names
    that its posting list is kept as a count."""
    rng = random.Random(15)
    wb = new_workbook("zh")
    recs = wb.customers.records
    kinds = ("spaces", "brackets", "region_drop", "traditional", "typo", "short")
    places = [("广东省", "深圳市"), ("浙江", "杭州市"), ("", "上海"), (None, None)]

    def add(name: Any, **values: Any) -> None:
        n = len(recs)
        prov, city = rng.choice(places)
        recs.append(Record(row=n + 2, values={
            "customer_id": f"C{n:05d}" if n % 7 else None,
            "name": name if n % 53 else rng.choice((None, "", "  ")),
            "phone": "13900000000" if n % 11 == 0 else f"1{rng.randrange(10**10):010d}",
            "email": (f"x{n // 10}@a.cn" if n % 5 == 0 else "none@a.cn" if n % 13 == 0
                      else None),
            "province": prov, "city": city,
            "status": "已合并" if n % 97 == 0 else "跟进中", **values}))

    for k, base in enumerate(company_names(700, seed=15)):
        for name in (base, variant(base, kinds[k % len(kinds)], rng)) if k % 2 else (base,):
            add(name)
    for name in ("ST慧业", "*ST金泰", "慧业科技股份有限公司", "金泰化工有限公司"):
        add(name, province="广东省", city="深圳市")
    cap = CAPS["g"] + MAX_CHANGED
    chars = "甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳午未申酉戌亥"
    for k in range(cap + 150):  # less the blank and merged rows: still past the cap
        a, b = divmod(k, len(chars))
        add("鑫彤" + chars[a // len(chars)] + chars[a % len(chars)] + chars[b] + "贸易有限公司")
    labels = [r.values["customer_id"] for r in recs if r.values["customer_id"]]
    wb.not_duplicates = [(labels[k], labels[k + 1]) for k in range(0, 90, 3)]
    return wb


def test_the_index_equals_the_reference_builders() -> None:
    wb = _sheet()
    kept: list[Any] = []
    duplicate_matches(wb, 80, keep=kept)
    payload = worker.payload_of("zh", 80, wb.not_duplicates, wb.customers.records)
    head = incremental.head_of(*payload[:3])
    index = incremental.index_after_scan(head, payload[3], kept[0])
    assert index is not None
    profiles, scored = kept[0]
    contents = [tuple(e[1:7]) for e in payload[3]]
    raw = [profile_of(incremental._values(c)) for c in contents if incremental._named(c)]
    want = reference_build_index(head, contents, profiles, *contact_counts(raw), scored)
    assert index == want
    post = index[3]
    # the sheet reaches every shape a posting can take
    assert any(type(v) is int and v >= 0 for v in post["g"].values())  # a count
    assert any(type(v) is int and v < 0 for v in post["k"].values())  # one customer
    assert any(type(v) is list for v in post["c"].values())  # a shared contact
    assert index[7], "status-marked short names"
    assert len(index[8]) > 50 and len(contents) > sum(map(incremental._named, contents))


def test_the_worker_builds_it_from_what_it_lets_go_and_saves_it(tmp_path: Path) -> None:
    wb = _sheet()
    payload = worker.payload_of("zh", 80, wb.not_duplicates, wb.customers.records)
    kept: list[Any] = []
    counts: list[Any] = []
    worker.scan_payload(payload, None, kept, counts)
    head = incremental.head_of(*payload[:3])
    profiles, scored = kept[0]
    want = reference_build_index(head, [tuple(e[1:7]) for e in payload[3]], profiles,
                                 *counts[0], scored)
    assert worker.index_from_counts(head, payload[3], kept[0], counts[0]) == want
    # the worker's save, which empties the entries and the profiles as it goes
    entries, n = list(payload[3]), len(profiles)
    cache = tmp_path / "names-x.bin"
    job = [(*payload[:3], entries), (list(profiles), scored), counts[0]]
    taken_profiles = job[1][0]
    worker._save_index(job, str(cache))
    assert job == [] and set(entries) == {None} and set(taken_profiles) == {None}
    assert len(entries) == len(payload[3]) and len(taken_profiles) == n
    from crm_sheets.checkcache import code_digest

    got = incremental.load_index(incremental.index_path(cache), code_digest())
    assert got is not None
    assert incremental.load_index(incremental.index_path(cache), "other") is None
    # marshal turns tuples in the head and lists of pairs back as they were saved
    assert got == want
    # and the public save (the caller keeps its lists) writes the same
    worker.save_scan_index(payload, str(tmp_path / "names-y.bin"), kept[0], counts[0])
    assert incremental.load_index(tmp_path / "dupindex-y.bin", code_digest()) == want
    assert all(p is not None for p in profiles) and None not in payload[3]
