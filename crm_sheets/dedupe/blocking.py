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


# Posting lists as arrays: a term's members are a run of a (term, position) array sorted
# by term, then position, so the pairs of a run come out of numpy without a Python list
# per term. Positions fit in 21 bits (a sheet holds at most 1,048,576 rows), code points
# in 21 bits: a bigram and a position share one int64.
_POS_BITS = 21
_POS_MASK = (1 << _POS_BITS) - 1
_LOW32 = 0xFFFFFFFF


def _runs(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and length of each run of equal values in a sorted array."""
    if not keys.size:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    first = np.empty(keys.size, dtype=bool)
    first[0] = True
    np.not_equal(keys[1:], keys[:-1], out=first[1:])
    starts = np.flatnonzero(first)
    return starts, np.diff(starts, append=keys.size)


def _sorted_unique(codes: np.ndarray) -> np.ndarray:
    """np.unique(codes) by sorting in place (numpy 2's np.unique hashes: slower here)."""
    codes.sort()
    if codes.size < 2:
        return codes
    keep = np.empty(codes.size, dtype=bool)
    keep[0] = True
    np.not_equal(codes[1:], codes[:-1], out=keep[1:])
    return codes[keep]


def _group(terms: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Members sorted by (term, member) and the start and length of each term's run
    (term ids < 2**31, members < 2**32)."""
    code = (terms.astype(np.int64) << 32) | members.astype(np.int64)
    code.sort()
    starts, sizes = _runs(code >> 32)
    return code & _LOW32, starts, sizes


def _flat(lists: Sequence[Sequence[int]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(members, starts, sizes) of Python posting lists laid end to end."""
    sizes = np.fromiter((len(x) for x in lists), dtype=np.int64, count=len(lists))
    members = np.fromiter((m for x in lists for m in x), dtype=np.int64, count=int(sizes.sum()))
    return members, np.cumsum(sizes) - sizes, sizes


def _pairs_in_runs(members: np.ndarray, starts: np.ndarray, sizes: np.ndarray, lo: int,
                   hi: int) -> np.ndarray:
    """All i<j pairs inside each run of lo..hi members (ascending in each run), as int64
    codes i * 2**32 + j, written into one preallocated array."""
    sel = (sizes >= lo) & (sizes <= hi)
    starts, sizes = starts[sel], sizes[sel]
    out = np.empty(int((sizes * (sizes - 1) // 2).sum()), dtype=np.int64)
    pos = 0
    for size in sorted(set(sizes.tolist())):
        arr = members[starts[sizes == size][:, None] + np.arange(size)]  # (runs, size)
        iu, ju = np.triu_indices(size, k=1)
        k = len(arr) * len(iu)
        block = out[pos:pos + k].reshape(len(arr), len(iu))
        np.left_shift(arr[:, iu], 32, out=block)
        block |= arr[:, ju]
        pos += k
    return out


def _cross_runs(xs: tuple[np.ndarray, np.ndarray, np.ndarray],
                ys: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Every pair of a member of run k of xs with a member of run k of ys (not with
    itself), as i<j codes."""
    xm, xst, xsz = xs
    ym, yst, ysz = ys
    tot = xsz * ysz
    k = np.repeat(np.arange(tot.size), tot)
    r = np.arange(int(tot.sum()), dtype=np.int64) - np.repeat(np.cumsum(tot) - tot, tot)
    b = ysz[k]
    x = xm[xst[k] + r // b]
    y = ym[yst[k] + r % b]
    keep = x != y
    x, y = x[keep], y[keep]
    return (np.minimum(x, y) << 32) | np.maximum(x, y)


def _interned(values: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """(term id, position) of every non-blank value, ids numbering the distinct values."""
    ids: dict[str, int] = {}
    terms = np.fromiter(map(ids.setdefault, values, range(len(values))), dtype=np.int64,
                        count=len(values))
    members = np.arange(len(values), dtype=np.int64)
    blank = ids.get("")
    if blank is not None:
        keep = terms != blank
        terms, members = terms[keep], members[keep]
    return terms, members


def _key_pairs(profiles: Sequence[Profile]) -> list[np.ndarray]:
    """Exact keys: all pairs in groups of up to STAR_OVER, a star in bigger ones."""
    members, starts, sizes = _group(*_interned([p.forms.key for p in profiles]))
    out = [_pairs_in_runs(members, starts, sizes, 2, STAR_OVER)]
    big = sizes > STAR_OVER
    for st, size in zip(starts[big].tolist(), sizes[big].tolist(), strict=True):
        out.append((members[st] << 32) | members[st + 1:st + size])
    return out


def _contact_pairs(profiles: Sequence[Profile]) -> np.ndarray:
    """Phone and email: all pairs of customers sharing one, up to CAP_STRONG of them."""
    pt, po = _interned([p.phone for p in profiles])
    et, eo = _interned([p.email for p in profiles])
    n = len(profiles)  # ids below n: an email's id moved past every phone's
    return _pairs_in_runs(*_group(np.concatenate((pt, et + n)), np.concatenate((po, eo))),
                          2, CAP_STRONG)


def _abbreviation_pairs(profiles: Sequence[Profile]) -> np.ndarray | None:
    """An abbreviation's anchored bigram meeting a full name's (short × long terms). Only
    terms some short name offers can pair, so long terms are made only for those."""
    shorts: dict[str, list[int]] = {}
    for i, p in enumerate(profiles):
        if not p.forms.legal:
            for t in short_terms(p):
                lst = shorts.get(t)
                if lst is None:
                    shorts[t] = [i]
                else:
                    lst.append(i)
    wanted = {t for t, lst in shorts.items() if len(lst) <= CAP_STRONG}
    if not wanted:
        return None
    firsts = {t[0] for t in wanted}
    longs: dict[str, list[int]] = {}
    for i, p in enumerate(profiles):
        if any(f[:1] in firsts for f in p.forms.long_forms):
            for t in long_terms(p):
                if t in wanted:
                    longs.setdefault(t, []).append(i)
    terms = [t for t in wanted if 0 < len(longs.get(t, ())) <= CAP_STRONG]
    if not terms:
        return None
    return _cross_runs(_flat([shorts[t] for t in terms]), _flat([longs[t] for t in terms]))


def _bigrams(profiles: Sequence[Profile]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every distinct (bigram, position) of the keys, sorted by bigram then position, and
    each key's number of distinct bigrams (`gram_terms`)."""
    keys = [p.forms.key for p in profiles]
    n = len(keys)
    lens = np.fromiter(map(len, keys), dtype=np.int64, count=n)
    cps = np.frombuffer("".join(keys).encode("utf-32-le", "surrogatepass"),
                        dtype=np.uint32).astype(np.int64)
    del keys
    starts_bigram = np.ones(cps.size, dtype=bool)
    starts_bigram[np.cumsum(lens)[lens > 0] - 1] = False  # a key's last character
    pos = np.flatnonzero(starts_bigram)
    del starts_bigram
    code = (cps[pos] << _POS_BITS) | cps[pos + 1]
    del cps
    code <<= _POS_BITS
    code |= np.repeat(np.arange(n, dtype=np.int64), np.maximum(lens - 1, 0))
    del pos
    code = _sorted_unique(code)
    own = code & _POS_MASK
    code >>= _POS_BITS
    return code, own, np.bincount(own, minlength=n)


def _stem_pairs(profiles: Sequence[Profile], gram: np.ndarray, own: np.ndarray,
                gstarts: np.ndarray, gsizes: np.ndarray) -> np.ndarray | None:
    """A two-character stem meets every name holding that bigram (up to CAP_GRAM)."""
    stems: dict[str, list[int]] = {}
    for i, p in enumerate(profiles):
        st = stem_term(p)
        if st:
            stems.setdefault(st, []).append(i)
    if not stems or not gram.size:
        return None
    xs = [(st, lst) for st, lst in stems.items() if len(lst) <= CAP_STRONG]
    codes = np.fromiter(((ord(st[0]) << _POS_BITS) | ord(st[1]) for st, _ in xs),
                        dtype=np.int64, count=len(xs))
    run_keys = gram[gstarts]
    k = np.minimum(np.searchsorted(run_keys, codes), run_keys.size - 1)
    hit = (run_keys[k] == codes) & (gsizes[k] <= CAP_GRAM)
    if not hit.any():
        return None
    k = k[hit]
    return _cross_runs(_flat([lst for (_, lst), h in zip(xs, hit.tolist(), strict=True) if h]),
                       (own, gstarts[k], gsizes[k]))


_SIGNATURES_MAX = 6_000_000  # bigram pairs (or their pairs) beyond which pairs are counted


def _gram_pairs(own: np.ndarray, ng: np.ndarray, gstarts: np.ndarray, gsizes: np.ndarray
                ) -> np.ndarray:
    """Pairs sharing at least gram_need(fewer bigrams) usable bigrams (held by
    2..CAP_GRAM keys).

    A pair whose fewer bigrams number 1 or 2 needs one: the keys that short meet every
    member of their usable runs. Any other pair needs k >= 2 shared bigrams, and then
    shares exactly k(k-1)/2 pairs of usable bigrams: the keys are grouped by each pair of
    their usable bigrams (rare: a few members a group where one bigram's run has up to
    CAP_GRAM), and a pair of keys met m times shares k bigrams with m = k(k-1)/2. The
    same pairs as counting every pair of every run, far fewer of them.
    """
    n = ng.size
    empty = np.empty(0, dtype=np.int64)
    df = np.repeat(gsizes, gsizes)
    usable = (df >= 2) & (df <= CAP_GRAM)
    del df
    vo = own[usable]
    if not vo.size:
        return empty
    vsizes = gsizes[(gsizes >= 2) & (gsizes <= CAP_GRAM)]
    vstarts = np.cumsum(vsizes) - vsizes  # runs of the usable postings (members ascending)
    tok = np.repeat(np.arange(vsizes.size, dtype=np.int64), vsizes)
    del usable
    need = _gram_need_table(int(ng.max()))
    by_key = np.argsort(vo, kind="stable")  # each key's usable bigrams, ascending
    ko, kt = vo[by_key], tok[by_key]
    del by_key
    va = np.bincount(ko, minlength=n)
    first = np.cumsum(va) - va
    n_sig = int((va * (va - 1) // 2).sum())
    if n_sig > _SIGNATURES_MAX:
        return _gram_pairs_counted(own, ng, gstarts, gsizes)
    out: list[np.ndarray] = []
    # keys with one or two bigrams: every key sharing one
    few = np.flatnonzero(ng[ko] <= 2)
    if few.size:
        ones = np.ones(few.size, dtype=np.int64)
        out.append(_cross_runs((ko[few], np.arange(few.size, dtype=np.int64), ones),
                               (vo, vstarts[kt[few]], vsizes[kt[few]])))
    # the rest: grouped by each pair of their usable bigrams
    sig_parts: list[np.ndarray] = []
    sig_keys: list[np.ndarray] = []
    width = np.int64(vsizes.size)
    for m in sorted(set(va[va >= 2].tolist())):
        keys = np.flatnonzero(va == m)
        toks = kt[first[keys][:, None] + np.arange(m)]  # (keys, m), ascending in a row
        iu, ju = np.triu_indices(m, k=1)
        sig_parts.append((toks[:, iu] * width + toks[:, ju]).ravel())
        sig_keys.append(np.repeat(keys, iu.size))
    del ko, kt, tok
    if sig_parts:
        sig = np.concatenate(sig_parts)
        keys = np.concatenate(sig_keys)
        del sig_parts, sig_keys
        order = np.lexsort((keys, sig))
        sig, keys = sig[order], keys[order]
        del order
        starts, sizes = _runs(sig)
        del sig
        if int((sizes * (sizes - 1) // 2).sum()) > _SIGNATURES_MAX:
            return _gram_pairs_counted(own, ng, gstarts, gsizes)
        met = _pairs_in_runs(keys, starts, sizes, 2, CAP_GRAM)
        del keys, starts, sizes
        if met.size:
            met.sort()
            starts, times = _runs(met)
            pairs = met[starts]
            del met, starts
            k = need[np.minimum(ng[pairs >> 32], ng[pairs & _LOW32])]
            out.append(pairs[times >= k * (k - 1) // 2])
    return np.concatenate(out) if out else empty


def _gram_pairs_counted(own: np.ndarray, ng: np.ndarray, gstarts: np.ndarray,
                        gsizes: np.ndarray) -> np.ndarray:
    """`_gram_pairs` by counting every pair of every usable run (when the keys hold too
    many usable bigrams for grouping by their pairs)."""
    gcodes = _pairs_in_runs(own, gstarts, gsizes, 2, CAP_GRAM)
    if not gcodes.size:
        return gcodes
    uniq, counts = _unique_counts(gcodes)
    del gcodes
    fewer = np.minimum(ng[uniq >> 32], ng[uniq & _LOW32])
    return uniq[counts >= _gram_need_table(int(ng.max()))[fewer]]


def _status_pairs(profiles: Sequence[Profile]) -> list[np.ndarray]:
    """Pair codes of the short names with a status mark (*ST南玻) and the names they may be."""
    out: list[np.ndarray] = []
    status = [i for i, p in enumerate(profiles) if p.location and is_status_short(p.forms)]
    if status:
        joined, starts = _joined_keys(profiles)
        for i in status:
            js = status_candidates(profiles[i], profiles, joined, starts)
            if js:
                a = np.full(len(js), i, dtype=np.int64)
                b = np.asarray(js, dtype=np.int64)
                out.append((np.minimum(a, b) << 32) | np.maximum(a, b))
    return out


def candidate_pairs(profiles: Sequence[Profile]) -> list[tuple[int, int]]:
    """Candidate pairs (i < j) of a whole sheet by blocking; never all pairs.

    The same pairs as `candidate_pairs_py`, from posting lists kept as sorted arrays."""
    n = len(profiles)
    if n >= 1 << _POS_BITS:
        return candidate_pairs_py(profiles)
    try:
        gram, own, ng = _bigrams(profiles)
    except UnicodeError:
        return candidate_pairs_py(profiles)
    codes = _key_pairs(profiles)
    codes.append(_contact_pairs(profiles))
    for more in (_abbreviation_pairs(profiles),):
        if more is not None:
            codes.append(more)
    gstarts, gsizes = _runs(gram)
    for more in (_stem_pairs(profiles, gram, own, gstarts, gsizes),
                 _gram_pairs(own, ng, gstarts, gsizes)):
        if more is not None:
            codes.append(more)
    del gram, own, ng, gstarts, gsizes
    codes.extend(_status_pairs(profiles))
    allc = _sorted_unique(np.concatenate(codes))
    return list(zip((allc >> 32).tolist(), (allc & _LOW32).tolist(), strict=True))


def candidate_pairs_py(profiles: Sequence[Profile]) -> list[tuple[int, int]]:
    """`candidate_pairs` with posting lists of Python lists: the reference the array
    path is tested against, and its fallback."""
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
    codes.extend(_status_pairs(profiles))
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
