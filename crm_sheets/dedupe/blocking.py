"""Candidate pairs without comparing all pairs.

Each customer yields index terms:
- strong terms, one shared term is enough: the exact key (k), anchored skip-bigrams for
  abbreviations (a: first character + second or third character of each name form, so
  上汽 meets 上海汽车), the phone (p) and the email (e);
- gram terms (g): the character bigrams of the normalised names; a pair needs to share
  at least half of the shorter name's bigrams to be worth a fuzzy comparison.
Terms held by too many customers (科技, 中国, a switchboard number) say nothing about a
pair and are dropped (caps below); an exact-key group is never dropped but linked as a
star when it is large, so it still forms one cluster.
The batch path enumerates pairs per posting list with numpy; the incremental path
(`candidates_for`) applies the same rules to one record against a built index.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence

import numpy as np

from .normalize import has_cjk, strip_region_prefix
from .score import Profile, in_order, is_status_short, same_city

CAP_STRONG = 60  # an abbreviation/contact term shared by more customers is not evidence
CAP_GRAM = 120  # a bigram shared by more customers is too common to block on
STAR_OVER = 50  # an exact-key group larger than this is linked as a star
GRAM_SHARE = 0.4  # share of the shorter name's bigrams a fuzzy candidate must share


SHORT_MAX = 8  # longer names are not abbreviations; their prefixes meet through bigrams


def contact_terms(p: Profile) -> set[str]:
    """Phone and email: one shared is enough."""
    out: set[str] = set()
    if p.phone:
        out.add("p" + p.phone)
    if p.email:
        out.add("e" + p.email)
    return out


def short_terms(p: Profile) -> set[str]:
    """Anchored bigrams of the forms this name offers as an abbreviation (上汽 → 上汽).

    A registered name (…有限公司) is no abbreviation; when it is the leading part of
    another name the two share their bigrams, so the gram terms find the pair.
    """
    if p.forms.legal:
        return set()
    out: set[str] = set()
    for f in (p.forms.key, p.forms.stem):
        if 2 <= len(f) <= SHORT_MAX and has_cjk(f):
            out.add(f[0] + f[1])
            # a short name that kept its region (上海新阳) also meets 新阳半导体材料
            rest = strip_region_prefix(f, min_rest=2)[0]
            if rest != f:
                out.add(rest[0] + rest[1])
    return out


def long_terms(p: Profile) -> set[str]:
    """Anchored skip-bigrams of the forms this name offers as the full name (上海汽车 →
    上海, 上汽), so an abbreviation that skips one character still meets it."""
    out: set[str] = set()
    for f in p.forms.long_forms:
        if len(f) >= 2 and has_cjk(f):
            out.add(f[0] + f[1])
            if len(f) >= 3:
                out.add(f[0] + f[2])
    return out


def strong_terms(p: Profile) -> set[str]:
    """All terms of which one shared is enough (used by the incremental index)."""
    return ({"s" + t for t in short_terms(p)} | {"l" + t for t in long_terms(p)}
            | contact_terms(p))


def stem_term(p: Profile) -> str:
    """A two-character stem (华锦股份 → 华锦) that may sit inside a long name (北方华锦化学):
    it meets every name holding that bigram."""
    f = p.forms
    if len(f.stem) == 2 and f.stem != f.key and not f.legal and has_cjk(f.stem):
        return f.stem
    return ""


def gram_terms(p: Profile) -> set[str]:
    """Character bigrams of the key (for fuzzy candidates)."""
    f = p.forms.key
    return {f[i:i + 2] for i in range(len(f) - 1)}


def gram_need(n_a: int, n_b: int) -> int:
    """How many bigrams a pair must share to be a fuzzy candidate."""
    return max(1, math.ceil(GRAM_SHARE * min(n_a, n_b)))


def _postings(term_lists: Sequence[set[str]]) -> dict[str, list[int]]:
    post: dict[str, list[int]] = {}
    for i, ts in enumerate(term_lists):
        for t in ts:
            lst = post.get(t)
            if lst is None:
                post[t] = [i]
            else:
                lst.append(i)
    return post


def _pairs_within(groups: list[list[int]]) -> np.ndarray:
    """All i<j pairs inside each group, as int64 codes i * 2**32 + j.

    Written into one preallocated array (no per-size chunks to concatenate): on a big
    sheet the bigram pairs run to millions and memory is part of the budget.
    """
    by_size: dict[int, list[list[int]]] = {}
    for g in groups:
        by_size.setdefault(len(g), []).append(g)
    total = sum(len(gs) * (size * (size - 1) // 2) for size, gs in by_size.items())
    out = np.empty(total, dtype=np.int64)
    pos = 0
    for size, gs in by_size.items():
        arr = np.asarray(gs, dtype=np.int64)  # (n_groups, size), each row sorted ascending
        iu, ju = np.triu_indices(size, k=1)
        n = len(gs) * len(iu)
        block = out[pos:pos + n].reshape(len(gs), len(iu))
        np.left_shift(arr[:, iu], 32, out=block)
        block |= arr[:, ju]
        pos += n
    return out


def _cross_pairs(xs: list[int], ys: list[int]) -> np.ndarray:
    """Every pair of one of `xs` with one of `ys` (not with itself), as i<j codes."""
    a = np.repeat(np.asarray(xs, dtype=np.int64), len(ys))
    b = np.tile(np.asarray(ys, dtype=np.int64), len(xs))
    keep = a != b
    a, b = a[keep], b[keep]
    return (np.minimum(a, b) << 32) | np.maximum(a, b)


def _unique_counts(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """np.unique(codes, return_counts=True), sorting in place to spare a copy (`codes` is
    consumed)."""
    codes.sort()
    first = np.empty(codes.size, dtype=bool)
    first[0] = True
    np.not_equal(codes[1:], codes[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    del first
    counts = np.diff(starts, append=codes.size).astype(np.int32)
    return codes[starts], counts


def _gram_need_table(max_grams: int) -> np.ndarray:
    """gram_need(m, m) for every m: the same float rounding as the incremental path."""
    return np.asarray([gram_need(m, m) for m in range(max_grams + 1)], dtype=np.int32)


def status_candidates(p: Profile, profiles: Sequence[Profile], keys: str | None = None,
                      starts: list[int] | None = None) -> list[int]:
    """Names in p's city whose key holds the two characters of p, a status-marked 简称
    (ST慧业 → 智慧农业), in order. Only such rows can match it (the rule needs the same
    city); sheets without ST names pay nothing. A scan of the joined keys (C speed)."""
    if not (p.location and is_status_short(p.forms)):
        return []
    if keys is None or starts is None:
        keys, starts = _joined_keys(profiles)
    c1, c2 = (re.escape(c) for c in p.forms.key)
    out: list[int] = []
    for m in re.finditer(f"{c1}[^\n]*?{c2}", keys):
        j = bisect_right(starts, m.start()) - 1
        q = profiles[j]
        if q is not p and len(q.forms.key) > 2 and same_city(p, q):
            out.append(j)
    out = list(dict.fromkeys(out))
    return out if len(out) <= CAP_STRONG else []


def _joined_keys(profiles: Sequence[Profile]) -> tuple[str, list[int]]:
    starts, pos = [], 0
    for q in profiles:
        starts.append(pos)
        pos += len(q.forms.key) + 1
    return "\n".join(q.forms.key for q in profiles), starts


def candidate_pairs(profiles: Sequence[Profile]) -> list[tuple[int, int]]:
    """Candidate pairs (i < j) of a whole sheet by blocking; never all pairs."""
    n = len(profiles)
    codes: list[np.ndarray] = []
    # exact keys: all pairs in small groups, a star in big ones
    keys: dict[str, list[int]] = {}
    for i, p in enumerate(profiles):
        if p.forms.key:
            keys.setdefault(p.forms.key, []).append(i)
    small: list[list[int]] = []
    star: list[int] = []
    for members in keys.values():
        if len(members) < 2:
            continue
        if len(members) <= STAR_OVER:
            small.append(members)
        else:
            first = members[0]
            star.extend((first << 32) | m for m in members[1:])
    codes.append(_pairs_within(small))
    del keys, small  # posting lists are freed as soon as used: memory is in the budget
    if star:
        codes.append(np.asarray(star, dtype=np.int64))
    contacts = _postings([contact_terms(p) for p in profiles])
    codes.append(_pairs_within([g for g in contacts.values() if 2 <= len(g) <= CAP_STRONG]))
    del contacts
    shorts = _postings([short_terms(p) for p in profiles])
    longs = _postings([long_terms(p) for p in profiles])
    cross: list[np.ndarray] = []
    for t, s_list in shorts.items():
        l_list = longs.get(t)
        if not l_list or len(s_list) > CAP_STRONG or len(l_list) > CAP_STRONG:
            continue
        cross.append(_cross_pairs(s_list, l_list))
    del shorts, longs
    if cross:
        codes.append(np.concatenate(cross))
        del cross
    gram_sets = [gram_terms(p) for p in profiles]
    grams = _postings(gram_sets)
    ng = np.fromiter((len(s) for s in gram_sets), dtype=np.int32, count=n)
    del gram_sets
    stems: dict[str, list[int]] = {}
    for i, p in enumerate(profiles):
        st = stem_term(p)
        if st:
            stems.setdefault(st, []).append(i)
    for st, s_list in stems.items():
        g_list = grams.get(st)
        if not g_list or len(g_list) > CAP_GRAM or len(s_list) > CAP_STRONG:
            continue
        codes.append(_cross_pairs(s_list, g_list))
    gcodes = _pairs_within([g for g in grams.values() if 2 <= len(g) <= CAP_GRAM])
    del grams, stems
    if gcodes.size:
        uniq, counts = _unique_counts(gcodes)
        del gcodes
        fewer = np.minimum(ng[uniq >> 32], ng[uniq & 0xFFFFFFFF])
        keep = counts >= _gram_need_table(int(ng.max()))[fewer]
        del counts, fewer
        codes.append(uniq[keep])
        del uniq, keep
    status = [i for i, p in enumerate(profiles) if p.location and is_status_short(p.forms)]
    if status:
        joined, starts = _joined_keys(profiles)
        for i in status:
            js = status_candidates(profiles[i], profiles, joined, starts)
            if js:
                a = np.full(len(js), i, dtype=np.int64)
                b = np.asarray(js, dtype=np.int64)
                codes.append((np.minimum(a, b) << 32) | np.maximum(a, b))
    allc = np.unique(np.concatenate(codes)) if codes else np.empty(0, dtype=np.int64)
    return list(zip((allc >> 32).tolist(), (allc & 0xFFFFFFFF).tolist(), strict=True))


class TermIndex:
    """Posting lists of a sheet's customers, for checking one record at a time."""

    def __init__(self, profiles: Sequence[Profile]) -> None:
        self.profiles: list[Profile] = list(profiles)
        self.keys: dict[str, list[int]] = {}
        self.strong: dict[str, list[int]] = {}
        self.grams: dict[str, list[int]] = {}
        self.stems: dict[str, list[int]] = {}
        self.n_grams: list[int] = []
        self.status: list[int] = []  # status-marked two-character 简称 with a city
        for p in self.profiles:
            self.add(p)

    def add(self, p: Profile) -> int:
        """Index one more profile; returns its position."""
        i = len(self.n_grams)
        if i == len(self.profiles):
            self.profiles.append(p)
        if p.forms.key:
            self.keys.setdefault(p.forms.key, []).append(i)
        for t in strong_terms(p):
            self.strong.setdefault(t, []).append(i)
        gs = gram_terms(p)
        for t in gs:
            self.grams.setdefault(t, []).append(i)
        st = stem_term(p)
        if st:
            self.stems.setdefault(st, []).append(i)
        self.n_grams.append(len(gs))
        if p.location and is_status_short(p.forms):
            self.status.append(i)
        return i

    def candidates_for(self, p: Profile) -> set[int]:
        """Positions worth comparing with `p` (same rules as `candidate_pairs`)."""
        out: set[int] = set(self.keys.get(p.forms.key, ())) if p.forms.key else set()
        for t in contact_terms(p):
            post = self.strong.get(t)
            if post and len(post) < CAP_STRONG:
                out.update(post)
        # an abbreviation meets full names through the other side's terms, both ways
        for mine, theirs in (("s", "l"), ("l", "s")):
            for t in (short_terms(p) if mine == "s" else long_terms(p)):
                post = self.strong.get(theirs + t)
                if post and len(post) <= CAP_STRONG and \
                        len(self.strong.get(mine + t, ())) < CAP_STRONG:
                    out.update(post)
        st = stem_term(p)
        if st:
            post = self.grams.get(st)
            if post and len(post) <= CAP_GRAM:
                out.update(post)
        gs = gram_terms(p)
        counts: Counter[int] = Counter()
        for t in gs:
            post = self.grams.get(t)
            if post and len(post) < CAP_GRAM:
                counts.update(post)
                stem_post = self.stems.get(t)
                if stem_post and len(stem_post) <= CAP_STRONG:
                    out.update(stem_post)
        out.update(status_candidates(p, self.profiles))
        if p.location and len(p.forms.key) > 2:  # an existing ST简称 in p's city
            out.update(j for j in self.status if in_order(self.profiles[j].forms.key,
                                                          p.forms.key)
                       and same_city(p, self.profiles[j]))
        ng = len(gs)
        for j, c in counts.items():
            if c >= gram_need(ng, self.n_grams[j]):
                out.add(j)
        return out
