"""The duplicate scan of a sheet that changed a little since the last full scan, exactly.

A full scan (`api.duplicate_matches`) leaves its index behind (`build_index`): the
customers it scanned (their matching fields, in order), the posting lists of the blocking
terms (blocking.py), how many customers share each phone and e-mail, and the scored pairs
at or above the threshold. `update` then answers for the sheet as it is now by
- pairing every customer with an unchanged one of the index (same fields, in order);
- scoring only the pairs a changed or new customer is in (the candidate rules of
  `candidate_pairs`, applied with the posting lists as they are now) and keeping the
  index's scores for the pairs of unchanged customers;
- clustering and choosing the best earlier match as the full scan does.
That is exact only while no global statistic the full scan uses moved: a term crossing a
cap (a posting list grown past `CAP_GRAM`, a phone now on more than `CONTACT_CAP`
customers), a large exact-name group, a status-marked short name (ST…) near a change. Then
`update` returns None and the caller runs the full scan, which writes a new index.
"""

from __future__ import annotations

import marshal
import os
import tempfile
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .api import CONTACT_CAP, DuplicateMatch, label_of, profile_of
from .blocking import (
    CAP_GRAM,
    CAP_STRONG,
    STAR_OVER,
    contact_terms,
    gram_need,
    gram_terms,
    long_terms,
    short_terms,
    stem_term,
)
from .cluster import cluster_edges
from .score import Profile, in_order, is_status_short, reason, same_city, score_pair

FORMAT = 2  # 2: a posting list of one customer is kept as -1 - its position
MAX_CHANGED = 2000  # more changed customers than this: the full scan is as quick
# posting-list kinds and the size above which a term says nothing (`candidate_pairs`)
CAPS = {
    "k": STAR_OVER,
    "c": CAP_STRONG,
    "s": CAP_STRONG,
    "l": CAP_STRONG,
    "t": CAP_STRONG,
    "g": CAP_GRAM,
}

Content = tuple[Any, ...]  # name, phone, email, province, city, label (worker._entries)


def _values(c: Content) -> dict[str, Any]:
    return {"name": c[0], "phone": c[1], "email": c[2], "province": c[3], "city": c[4]}


def _named(c: Content) -> bool:
    """Whether the entry has a profile (a name that is not blank)."""
    return bool(("" if c[0] is None else str(c[0])).strip())


def _strip(p: Profile, phones: Any, emails: Any) -> Profile:
    """`without_common_contacts` for one profile, given the sheet's counts."""
    cp, ce = phones.get(p.phone, 0) > CONTACT_CAP, emails.get(p.email, 0) > CONTACT_CAP
    if not (cp or ce):
        return p
    return Profile(p.forms, "" if cp else p.phone, "" if ce else p.email, p.location)


def _terms(p: Profile) -> dict[str, set[str]]:
    st = stem_term(p)
    return {
        "k": {p.forms.key} if p.forms.key else set(),
        "c": contact_terms(p),
        "s": short_terms(p),
        "l": long_terms(p),
        "t": {st} if st else set(),
        "g": gram_terms(p),
    }


def _posting(got: Any) -> list[int] | int:
    """An index posting as `update` uses it: its positions, or a count past its cap."""
    if isinstance(got, int) and got < 0:
        return [-1 - got]
    return got


class _Counts:
    """The contact counts now: the index's, with the changes' on top (no copy of the
    sheet-wide dict)."""

    __slots__ = ("base", "delta")

    def __init__(self, base: dict[str, int]) -> None:
        self.base = base
        self.delta: dict[str, int] = {}

    def get(self, key: str, default: int = 0) -> int:
        got = self.delta.get(key)
        return self.base.get(key, default) if got is None else got

    def __getitem__(self, key: str) -> int:
        got = self.delta.get(key)
        return self.base[key] if got is None else got


def _status(p: Profile) -> bool:
    return bool(p.location) and is_status_short(p.forms)


def build_index(
    head: Any,
    contents: Sequence[Content],
    profiles: Sequence[Profile],
    raw_phones: dict[str, int],
    raw_emails: dict[str, int],
    scored: Sequence[tuple[int, int, int]],
) -> tuple[Any, ...]:
    """The index of a full scan: `contents` all scanned entries, `profiles` the named ones
    (stripped of common contacts, in order; any iterable: it is gone through once),
    `scored` its pairs (i, j, score), i < j."""
    post: dict[str, dict[str, Any]] = {k: {} for k in CAPS}
    n_grams: list[int] = []
    status: list[int] = []
    # one pass over the profiles, each posting straight in its saved form: a term of one
    # customer is one int (-1 - its position) from the start, a list only from its second
    # customer on (most terms, names and contacts, have one: no list made and dropped)
    for i, p in enumerate(profiles):
        terms = _terms(p)
        for kind, ts in terms.items():
            d = post[kind]
            for t in ts:
                got = d.get(t)
                if got is None:
                    d[t] = -1 - i
                elif type(got) is int:
                    d[t] = [-1 - got, i]
                else:
                    got.append(i)
        n_grams.append(len(terms["g"]))
        if _status(p):
            status.append(i)
    for kind, cap in CAPS.items():  # past its cap a list is only a count (and stays so)
        d = post[kind]
        for t, got in d.items():
            if type(got) is list and len(got) > cap + MAX_CHANGED:
                d[t] = len(got)
    return (
        FORMAT,
        head,
        list(contents),
        post,
        raw_phones,
        raw_emails,
        n_grams,
        status,
        [tuple(s) for s in scored],
    )


def save_index(path: Path, index: tuple[Any, ...], digest: str) -> None:
    try:
        blob = marshal.dumps((digest, index))
    except ValueError:  # a value marshal cannot hold: no index
        return
    try:
        fd, tmp = tempfile.mkstemp(prefix=".dupindex-", suffix=".tmp", dir=path.parent)
    except OSError:
        return
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(blob)
        os.replace(tmp, path)
    except OSError:
        try:
            os.unlink(tmp)
        except OSError:
            pass


def load_index(path: Path, digest: str) -> tuple[Any, ...] | None:
    try:
        got, index = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    if got != digest or not (isinstance(index, tuple) and len(index) == 9 and index[0] == FORMAT):
        return None
    return index


class _Lazy:
    """Profiles of the sheet now, made when first asked for (most are never needed)."""

    def __init__(self, contents: list[Content], phones: Any, emails: Any) -> None:
        self.contents, self.phones, self.emails = contents, phones, emails
        self.done: dict[int, Profile] = {}

    def __getitem__(self, k: int) -> Profile:
        p = self.done.get(k)
        if p is None:
            raw = profile_of(_values(self.contents[k]))
            assert raw is not None
            p = self.done[k] = _strip(raw, self.phones, self.emails)
        return p


def update(
    index: tuple[Any, ...],
    head: Any,
    contents: list[Content],
    rows: list[int],
    cids: list[Any],
    not_duplicates: Sequence[tuple[str, str]],
    threshold: int,
    lang: str,
) -> list[DuplicateMatch] | None:
    """`duplicate_matches` of the sheet now (entries `contents` at `rows`, IDs `cids`) from
    the index of an earlier full scan; None when only a full scan can tell exactly."""
    from .api import _linkage

    (_fmt, old_head, old_contents, post, raw_phones, raw_emails, old_ng, old_status, old_scored) = (
        index
    )
    if old_head != head:
        return None
    # named entries, old and new, in order: the positions the scan works in
    old_named = [c for c in old_contents if _named(c)]
    keep = [k for k, c in enumerate(contents) if _named(c)]
    new = [contents[k] for k in keep]
    new_rows = [rows[k] for k in keep]
    new_cids = [cids[k] for k in keep]
    # pair unchanged entries in order (a longest common subsequence would find more after
    # a move, but a move of a customer is rare: the moved rows count as changed)
    queue: dict[Content, Any] = {}  # content -> its old position, or positions (a list)
    for i, c in enumerate(old_named):
        q = queue.get(c)
        if q is None:
            queue[c] = i  # most contents are one customer's: an int, not a list (memory)
        elif isinstance(q, int):
            queue[c] = [q, i]
        else:
            q.append(i)
    old_of: list[int] = [-1] * len(new)
    last = -1
    for k, c in enumerate(new):
        q = queue.get(c)
        if q is None:
            continue
        if isinstance(q, int):  # taken now, or passed over for good: used up either way
            del queue[c]
            if q > last:
                old_of[k] = last = q
            continue
        while q and q[0] <= last:
            q.pop(0)
        if q:
            old_of[k] = last = q.pop(0)
    new_of = {o: k for k, o in enumerate(old_of) if o >= 0}
    added = [k for k, o in enumerate(old_of) if o < 0]
    removed = [i for i in range(len(old_named)) if i not in new_of]
    if len(added) + len(removed) > MAX_CHANGED:
        return None
    # the contacts' counts now; a contact crossing the cap changes other rows' profiles
    raw_add = [profile_of(_values(new[k])) for k in added]
    raw_rem = [profile_of(_values(old_named[i])) for i in removed]
    phones, emails = _Counts(raw_phones), _Counts(raw_emails)
    touched_p: set[str] = set()
    touched_e: set[str] = set()
    for sign, ps in ((1, raw_add), (-1, raw_rem)):
        for p in ps:
            assert p is not None
            if p.phone:
                phones.delta[p.phone] = phones.get(p.phone, 0) + sign
                touched_p.add(p.phone)
            if p.email:
                emails.delta[p.email] = emails.get(p.email, 0) + sign
                touched_e.add(p.email)
    for t in touched_p:
        if (raw_phones.get(t, 0) > CONTACT_CAP) != (phones[t] > CONTACT_CAP):
            return None
    for t in touched_e:
        if (raw_emails.get(t, 0) > CONTACT_CAP) != (emails[t] > CONTACT_CAP):
            return None
    prof = _Lazy(new, phones, emails)
    old_prof = _Lazy(old_named, raw_phones, raw_emails)
    add_p = {k: prof[k] for k in added}
    rem_p = {i: old_prof[i] for i in removed}
    if any(_status(p) for p in (*add_p.values(), *rem_p.values())):
        return None
    for j in old_status:  # an ST short name whose candidates may change
        sp = old_prof[j]
        for p in (*add_p.values(), *rem_p.values()):
            if len(p.forms.key) > 2 and in_order(sp.forms.key, p.forms.key) and same_city(sp, p):
                return None
    # the posting lists of every term a change touches, as they are now
    add_t = {k: _terms(p) for k, p in add_p.items()}
    rem_t = {i: _terms(p) for i, p in rem_p.items()}
    lists: dict[tuple[str, str], Any] = {}  # (kind, term) -> new positions, or a count
    crossed: list[tuple[str, str, list[int]]] = []  # terms whose cap status changed
    for kind in CAPS:
        touched = {t for ts in (*add_t.values(), *rem_t.values()) for t in ts[kind]}
        d = post[kind]
        adds: dict[str, list[int]] = {}  # term -> the added entries holding it (sets: once)
        for k in added:
            for t in add_t[k][kind]:
                adds.setdefault(t, []).append(k)
        for t in touched:
            old = _posting(d.get(t, []))
            if isinstance(old, int):
                lists[kind, t] = old  # far past its cap whatever changed (MAX_CHANGED)
                continue
            now = [new_of[i] for i in old if i in new_of]
            now.extend(adds.get(t, ()))
            now.sort()
            cap = CAPS[kind]
            if kind == "k" and (len(old) > cap or len(now) > cap):
                return None  # a large exact-name group is linked as a star from its first
            if (len(old) > cap) != (len(now) > cap):
                crossed.append((kind, t, [new_of[i] for i in old if i in new_of]))
            lists[kind, t] = now

    def members(kind: str, t: str) -> list[int]:
        got = lists.get((kind, t))
        if got is None:  # untouched by the changes: the index's, renumbered
            old = _posting(post[kind].get(t, []))
            if isinstance(old, int):
                return []
            got = lists[kind, t] = sorted(new_of[i] for i in old if i in new_of)
        return got if not isinstance(got, int) else []

    def size(kind: str, t: str) -> int:
        got = lists.get((kind, t))
        return got if isinstance(got, int) else len(members(kind, t))

    ng_new = {k: old_ng[o] for k, o in enumerate(old_of) if o >= 0}
    for k in added:
        ng_new[k] = len(add_t[k]["g"])
    # candidate pairs of each new entry (the rules of `candidate_pairs`)
    cands: set[tuple[int, int]] = set()
    for a in added:
        ts = add_t[a]
        found: set[int] = set()
        for t in ts["k"]:
            found.update(members("k", t))
        for t in ts["c"]:
            if size("c", t) <= CAP_STRONG:
                found.update(members("c", t))
        for mine, theirs in (("s", "l"), ("l", "s")):
            for t in ts[mine]:
                if size(mine, t) <= CAP_STRONG and size(theirs, t) <= CAP_STRONG:
                    found.update(members(theirs, t))
        for t in ts["t"]:
            if size("g", t) <= CAP_GRAM and size("t", t) <= CAP_STRONG:
                found.update(members("g", t))
        counts: Counter[int] = Counter()
        for t in ts["g"]:
            if size("g", t) <= CAP_GRAM:
                counts.update(members("g", t))
                if size("t", t) <= CAP_STRONG:
                    found.update(members("t", t))
        for j, c in counts.items():
            if j != a and c >= gram_need(ng_new[a], ng_new[j]):
                found.add(j)
        found.discard(a)
        cands.update((min(a, j), max(a, j)) for j in found)
    # unchanged pairs that share a term whose cap status changed: candidates or not now?
    terms_of: dict[int, dict[str, set[str]]] = {}

    def terms(k: int) -> dict[str, set[str]]:
        got = terms_of.get(k)
        if got is None:
            got = terms_of[k] = _terms(prof[k])
        return got

    status_now = {new_of[i] for i in old_status if i in new_of}
    recheck: set[tuple[int, int]] = set()
    added_set = set(added)

    def kept(kind: str, t: str) -> list[int]:  # unchanged members (the same then and now)
        return [k for k in members(kind, t) if k not in added_set]

    def within(xs: list[int]) -> None:
        recheck.update((a, b) for x, a in enumerate(xs) for b in xs[x + 1 :])

    def across(xs: list[int], ys: list[int]) -> None:
        recheck.update((min(a, b), max(a, b)) for a in xs for b in ys if a != b)

    for kind, t, _unchanged in crossed:
        if kind == "c":
            within(kept("c", t))
        elif kind in ("s", "l"):
            across(kept("s", t), kept("l", t))
        else:  # "t" or "g": the stem rule, and for "g" the shared-bigram count
            across(kept("t", t), kept("g", t))
            if kind == "g":
                within(kept("g", t))
        if len(recheck) > 200_000:
            return None

    def candidate_now(i: int, j: int) -> bool | None:
        """`candidate_pairs`' rules for one pair of unchanged entries, with the sizes of
        now; None when they cannot tell (a status-marked short name, a huge name group)."""
        if i in status_now or j in status_now:
            return None
        ti, tj = terms(i), terms(j)
        for t in ti["k"] & tj["k"]:
            got = members("k", t)
            if size("k", t) != len(got) or not got:
                return None
            if len(got) <= STAR_OVER or got[0] in (i, j):
                return True
        if any(size("c", t) <= CAP_STRONG for t in ti["c"] & tj["c"]):
            return True
        for x, y in ((ti, tj), (tj, ti)):
            if any(
                size("s", t) <= CAP_STRONG and size("l", t) <= CAP_STRONG for t in x["s"] & y["l"]
            ):
                return True
            if any(
                size("g", t) <= CAP_GRAM and size("t", t) <= CAP_STRONG for t in x["t"] & y["g"]
            ):
                return True
        shared = sum(1 for t in ti["g"] & tj["g"] if size("g", t) <= CAP_GRAM)
        return shared >= gram_need(len(ti["g"]), len(tj["g"]))

    # scores: the index's for unchanged pairs, new ones for pairs with a new entry
    labels = [label_of(r, c) for r, c in zip(new_rows, new_cids, strict=True)]
    apart = {frozenset((str(a).strip(), str(b).strip())) for a, b in not_duplicates if a and b}
    scored: dict[tuple[int, int], int] = {}
    for i, j, s in old_scored:
        a, b = new_of.get(i), new_of.get(j)
        if a is None or b is None:
            continue
        if a > b:  # cannot happen: unchanged entries keep their order (see above)
            return None
        scored[a, b] = s
    for i, j in sorted(recheck):
        now_c = candidate_now(i, j)
        if now_c is None:
            return None
        scored.pop((i, j), None)
        if now_c:
            cands.add((i, j))
    for i, j in cands:
        ps = score_pair(prof[i], prof[j])
        if ps.score >= threshold and frozenset((labels[i], labels[j])) not in apart:
            scored[i, j] = ps.score
    # clusters and the best earlier match, as `duplicate_matches`
    index_of = {lab: k for k, lab in enumerate(labels)}
    apart_ix = [
        (index_of[a], index_of[b]) for a, b in not_duplicates if a in index_of and b in index_of
    ]
    groups, _kept = cluster_edges(
        len(new), ((i, j, s) for (i, j), s in scored.items()), apart_ix, _linkage(prof, threshold)
    )  # type: ignore[arg-type]
    member_of = {m: g for g, ms in enumerate(groups) for m in ms}
    best: dict[int, tuple[int, int, int, int]] = {}
    for (i, j), s in sorted(scored.items()):
        g = member_of.get(i)
        if g is None or member_of.get(j) != g:
            continue
        later, earlier = (j, i) if new_rows[j] >= new_rows[i] else (i, j)
        cur = best.get(later)
        if cur is None or (s, -new_rows[earlier]) > (cur[1], -new_rows[cur[0]]):
            best[later] = (earlier, s, i, j)
    out: list[DuplicateMatch] = []
    for later in sorted(best, key=lambda k: new_rows[k]):
        earlier, s, i, j = best[later]
        ps = score_pair(prof[i], prof[j])
        out.append(
            DuplicateMatch(
                new_rows[later],
                new_rows[earlier],
                prof[earlier].forms.raw.strip(),
                reason(ps, prof[later].forms, prof[earlier].forms, lang),
                s,
            )
        )
    return out


def index_after_scan(
    head: Any, entries: Sequence[tuple[Any, ...]], kept: Any
) -> tuple[Any, ...] | None:
    """The index of a full scan of `entries` (worker._entries) whose `duplicate_matches`
    left `kept` (its profiles and scored pairs)."""
    from .api import contact_counts

    profiles, scored = kept
    contents = [tuple(e[1:7]) for e in entries]
    raw = [profile_of(_values(c)) for c in contents if _named(c)]
    if len(raw) != len(profiles):
        return None
    phones, emails = contact_counts(raw)  # type: ignore[arg-type]
    return build_index(head, contents, profiles, phones, emails, scored)


def index_path(names_cache: str | Path) -> Path:
    """The index file beside a workbook's name-forms cache (formcache.cache_path)."""
    p = Path(names_cache)
    return p.with_name(p.name.replace("names-", "dupindex-", 1))


def names_cache_of(index: str | Path) -> Path:
    """The name-forms cache an index file sits beside (the inverse of `index_path`)."""
    p = Path(index)
    return p.with_name(p.name.replace("dupindex-", "names-", 1))


def head_of(lang: str, threshold: int, nd: Sequence[tuple[str, str]]) -> list[Any]:
    """What the scan ran with besides the customers (a payload's first three parts)."""
    return [lang, threshold, [list(p) for p in nd]]
