"""Duplicate detection over a workbook: batch clusters, validate findings, incremental index."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..findings import Finding, make
from ..model import Record, Workbook
from ..schema import SETTINGS_BY_KEY
from .blocking import CAP_STRONG, TermIndex, candidate_pairs
from .cluster import cluster_edges
from .normalize import location_codes, name_forms, normalize_email, normalize_phone
from .score import (
    PairScore,
    Profile,
    clearly_different,
    locations_conflict,
    reason,
    score_pair,
)

CONTACT_CAP = 5  # a phone/email on more customers than this is a switchboard or placeholder


def record_label(rec: Record) -> str:
    """The customer's ID, or "row N" while the engine has not assigned one yet."""
    return label_of(rec.row, rec.values.get("customer_id"))


def label_of(row: int, cid: Any) -> str:
    """`record_label` from a row number and an ID cell value."""
    return str(cid).strip() if cid not in (None, "") else f"row {row}"


def _text(v: Any) -> str:
    return "" if v is None else str(v)


MERGED_MARKS = frozenset(("已合并", "merged"))  # 状态 of a row `crm merge-customers` dropped


def is_merged(status: Any) -> bool:
    """True for a customer `crm merge-customers` folded into another (状态 = 已合并)."""
    return _text(status).strip().casefold() in MERGED_MARKS


def profile_of(values: Mapping[str, Any]) -> Profile | None:
    """The matching profile of a record's values; None when it has no name or was merged
    into another customer (a merged row takes no part in duplicate detection)."""
    return profile_from(values.get("name"), values.get("phone"), values.get("email"),
                        values.get("province"), values.get("city"), values.get("status"))


def profile_from(name: Any, phone: Any, email: Any, province: Any, city: Any,
                 status: Any = None) -> Profile | None:
    """`profile_of` from the cell values themselves."""
    name = _text(name).strip()
    if not name or is_merged(status):
        return None
    prov, city = _text(province).strip(), _text(city).strip()
    return Profile(name_forms(name), normalize_phone(phone), normalize_email(email),
                   location_codes(prov, city) if prov or city else ())


def contact_counts(profiles: list[Profile | None]) -> tuple[dict[str, int], dict[str, int]]:
    """How many customers have each phone and each e-mail."""
    phones: dict[str, int] = {}
    emails: dict[str, int] = {}
    for p in profiles:
        if p is not None:
            if p.phone:
                phones[p.phone] = phones.get(p.phone, 0) + 1
            if p.email:
                emails[p.email] = emails.get(p.email, 0) + 1
    return phones, emails


def without_common_contacts(profiles: list[Profile | None]) -> list[Profile | None]:
    """Blank phones/emails shared by many customers: they do not identify a company."""
    return _without(profiles, *contact_counts(profiles))


def _without(profiles: list[Profile | None], phones: dict[str, int], emails: dict[str, int]
             ) -> list[Profile | None]:
    """`without_common_contacts` given the sheet's contact counts."""
    out: list[Profile | None] = []
    for p in profiles:
        if p is not None and (phones.get(p.phone, 0) > CONTACT_CAP
                              or emails.get(p.email, 0) > CONTACT_CAP):
            p = Profile(p.forms, "" if phones.get(p.phone, 0) > CONTACT_CAP else p.phone,
                        "" if emails.get(p.email, 0) > CONTACT_CAP else p.email, p.location)
        out.append(p)
    return out


def resolve_threshold(workbook: Workbook, threshold: int | None) -> int:
    if threshold is None:
        threshold = workbook.settings.get("duplicate_threshold",
                                          SETTINGS_BY_KEY["duplicate_threshold"].default)
    return max(0, min(100, int(threshold)))


@dataclass(slots=True, frozen=True)
class Pair:
    a: str
    b: str
    score: int
    reason: str
    row_a: int
    row_b: int

    def to_dict(self) -> dict[str, Any]:
        return {"a": self.a, "b": self.b, "score": self.score, "reason": self.reason}


@dataclass(slots=True)
class Cluster:
    customer_ids: list[str]
    pairs: list[Pair]
    names: list[str] = field(default_factory=list)
    rows: list[int] = field(default_factory=list)

    @property
    def score(self) -> int:
        return max(p.score for p in self.pairs)

    def to_dict(self) -> dict[str, Any]:
        return {"customer_ids": self.customer_ids, "pairs": [p.to_dict() for p in self.pairs]}


@dataclass(slots=True)
class DedupeResult:
    clusters: list[Cluster]
    threshold: int
    customers: int = 0
    candidates: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The DESIGN §4 shape: {"clusters": [{"customer_ids": [...], "pairs": [...]}]}."""
        return {"clusters": [c.to_dict() for c in self.clusters]}


@dataclass(slots=True)
class _Scored:
    i: int
    j: int
    ps: PairScore


def _not_duplicate_set(not_duplicates: Iterable[tuple[Any, Any]]) -> set[frozenset[str]]:
    return {frozenset((str(a).strip(), str(b).strip())) for a, b in not_duplicates if a and b}


@dataclass(slots=True)
class _Scan:
    """A scanned sheet: its named customers (row, label, profile), their scored pairs and
    the clusters these form."""

    rows: list[int]
    labels: list[str]
    profiles: list[Profile]
    scored: list[_Scored]
    n_cand: int
    groups: list[list[int]]
    member_of: dict[int, int]
    counts: tuple[dict[str, int], dict[str, int]]  # customers of each phone, each e-mail


def _scan(rows: Sequence[int], labels: Sequence[str], raw: list[Profile | None],
          not_duplicates: Sequence[tuple[Any, Any]], th: int) -> _Scan:
    """Score and cluster a sheet given every customer's row, label and raw profile (None:
    no name, or merged)."""
    counts = contact_counts(raw)
    cleaned = _without(raw, *counts)
    del raw
    keep = [k for k, p in enumerate(cleaned) if p is not None]
    profiles = [cleaned[k] for k in keep]
    del cleaned
    rows = [rows[k] for k in keep]
    labels = [labels[k] for k in keep]
    apart = _not_duplicate_set(not_duplicates)
    cands = candidate_pairs(profiles)
    scored: list[_Scored] = []
    for i, j in cands:
        ps = score_pair(profiles[i], profiles[j])
        if ps.score >= th and frozenset((labels[i], labels[j])) not in apart:
            scored.append(_Scored(i, j, ps))
    index_of = {label: k for k, label in enumerate(labels)}
    apart_at = [(index_of[a], index_of[b]) for a, b in not_duplicates
                if a in index_of and b in index_of]
    groups, _kept = cluster_edges(len(profiles), ((s.i, s.j, s.ps.score) for s in scored),
                                  apart_at, _linkage(profiles, th))
    member_of = {m: g for g, members in enumerate(groups) for m in members}
    return _Scan(rows, labels, profiles, scored, len(cands), groups, member_of, counts)


def _scan_workbook(workbook: Workbook, th: int) -> _Scan:
    recs = workbook.customers.records
    return _scan([r.row for r in recs], [record_label(r) for r in recs],
                 [profile_of(r.values) for r in recs], workbook.not_duplicates, th)


LINK_MARGIN = 25  # a cross pair is "related" when it scores ≥ threshold - LINK_MARGIN
LINK_SHARE_X2 = 1  # twice the share of related cross pairs needed (1 → half)
LINK_CHECK_MAX = 2500  # cross pairs checked at most (huge exact-key groups are trusted)


def _linkage(profiles: Sequence[Profile], threshold: int):  # noqa: ANN202
    """Guard against chaining: two clusters join only if no cross pair is clearly different.

    Stops 华联股份 → 北京华联商厦 and 华联股份 → 湖南华联瓷业 from making the two companies one
    cluster (two different legal names, or contradicting regions, are never the same).
    """
    floor = max(0, threshold - LINK_MARGIN)
    cache: dict[tuple[int, int], tuple[bool, int]] = {}

    def ok(xs: list[int], ys: list[int]) -> bool:
        if len(xs) * len(ys) > LINK_CHECK_MAX:
            return True
        related = 0
        for x in xs:
            for y in ys:
                k = (x, y) if x < y else (y, x)
                c = cache.get(k)
                if c is None:
                    fa, fb = profiles[k[0]], profiles[k[1]]
                    c = cache[k] = (clearly_different(fa.forms, fb.forms)
                                    or locations_conflict(fa, fb), score_pair(fa, fb).score)
                if c[0]:
                    return False
                related += c[1] >= floor
        return related * 2 >= len(xs) * len(ys) * LINK_SHARE_X2

    return ok


def find_duplicates(workbook: Workbook, threshold: int | None = None) -> DedupeResult:
    """Clusters of customers that are probably the same company, strongest first.

    threshold None → the workbook's Settings `duplicate_threshold` (85 by default).
    Pairs a team recorded in NotDuplicates are never reported, nor joined via a third.
    """
    th = resolve_threshold(workbook, threshold)
    sc = _scan_workbook(workbook, th)
    rows, labels, profiles, member_of = sc.rows, sc.labels, sc.profiles, sc.member_of
    by_group: dict[int, list[_Scored]] = {}
    for s in sc.scored:
        g = member_of.get(s.i)
        if g is not None and member_of.get(s.j) == g:
            by_group.setdefault(g, []).append(s)
    clusters: list[Cluster] = []
    for g, members in enumerate(sc.groups):
        pairs = [Pair(labels[s.i], labels[s.j], s.ps.score,
                      reason(s.ps, profiles[s.i].forms, profiles[s.j].forms, workbook.lang),
                      rows[s.i], rows[s.j])
                 for s in sorted(by_group.get(g, []), key=lambda s: (-s.ps.score, s.i, s.j))]
        clusters.append(Cluster([labels[m] for m in members], pairs,
                                [profiles[m].forms.raw for m in members],
                                [rows[m] for m in members]))
    return DedupeResult(clusters, th, customers=len(profiles), candidates=sc.n_cand)


@dataclass(slots=True, frozen=True)
class DuplicateMatch:
    """A customer row that looks like an earlier one: what a validate warning says.

    Rows, not IDs: apply may assign IDs after the scan, so labels are taken from the
    records when the finding is made.
    """

    row: int
    other_row: int
    other_name: str
    reason: str
    score: int


def duplicate_matches(workbook: Workbook, threshold: int | None = None, *,
                      keep: list[Any] | None = None) -> list[DuplicateMatch]:
    """For each customer that looks like an earlier one, the best-scoring earlier customer.

    "Earlier" is the row order of the sheet. Only pairs inside one reported cluster
    count, so validate and `crm dedupe` agree. `keep`: a list the scan's profiles and
    scored pairs (i, j, score) are appended to, for the incremental index.
    """
    th = resolve_threshold(workbook, threshold)
    return _matches(_scan_workbook(workbook, th), workbook.lang, keep)


def matches_from(lang: str, threshold: int, not_duplicates: Sequence[tuple[Any, Any]],
                 rows: Sequence[int], labels: Sequence[str], raw: list[Profile | None],
                 keep: list[Any] | None = None, counts: list[Any] | None = None
                 ) -> list[DuplicateMatch]:
    """`duplicate_matches` from each customer's row, label and `profile_from` (the scan
    worker's input: no records needed). `raw` is consumed. `counts`: a list the sheet's
    `contact_counts` are appended to (for the incremental index)."""
    sc = _scan(rows, labels, raw, not_duplicates, max(0, min(100, int(threshold))))
    if counts is not None:
        counts.append(sc.counts)
    return _matches(sc, lang, keep)


def _matches(sc: _Scan, lang: str, keep: list[Any] | None) -> list[DuplicateMatch]:
    rows, profiles, member_of = sc.rows, sc.profiles, sc.member_of
    if keep is not None:
        keep.append((profiles, [(s.i, s.j, s.ps.score) for s in sc.scored]))
    best: dict[int, tuple[int, int, PairScore]] = {}
    for s in sc.scored:
        g = member_of.get(s.i)
        if g is None or member_of.get(s.j) != g:
            continue
        later, earlier = (s.j, s.i) if rows[s.j] >= rows[s.i] else (s.i, s.j)
        cur = best.get(later)
        if cur is None or (s.ps.score, -rows[earlier]) > (cur[1], -rows[cur[0]]):
            best[later] = (earlier, s.ps.score, s.ps)
    out: list[DuplicateMatch] = []
    for later in sorted(best, key=lambda k: rows[k]):
        earlier, score, ps = best[later]
        out.append(DuplicateMatch(rows[later], rows[earlier],
                                  profiles[earlier].forms.raw.strip(),
                                  reason(ps, profiles[later].forms, profiles[earlier].forms,
                                         lang), score))
    return out


def findings_from_matches(workbook: Workbook, matches: Iterable[DuplicateMatch]) -> list[Finding]:
    """One `customer.possible_duplicate` warning per match, labelled from the records now."""
    by_row = {r.row: r for r in workbook.customers.records}
    out: list[Finding] = []
    for m in matches:
        rec, other = by_row[m.row], by_row[m.other_row]
        out.append(make("customer.possible_duplicate", workbook.lang, sheet="Customers",
                        row=m.row, column="name",
                        customer_id=_text(rec.values.get("customer_id")) or None,
                        other_id=record_label(other), other_name=m.other_name,
                        reason=m.reason, score=m.score))
    return out


def duplicate_findings(workbook: Workbook, threshold: int | None = None) -> list[Finding]:
    """One `customer.possible_duplicate` warning per customer that looks like an earlier one
    (see `duplicate_matches`); the finding names the earlier customer, score and reason."""
    return findings_from_matches(workbook, duplicate_matches(workbook, threshold))


@dataclass(slots=True, frozen=True)
class Match:
    """An existing customer that a checked record probably duplicates."""

    other_id: str
    other_name: str
    other_row: int
    score: int
    reason: str
    record: Record

    def to_dict(self) -> dict[str, Any]:
        return {"other_id": self.other_id, "other_name": self.other_name,
                "other_row": self.other_row, "score": self.score, "reason": self.reason}


class DuplicateIndex:
    """A prebuilt index of a sheet's customers that checks one new or changed row quickly.

    Used by the watcher and by import: `check(record_or_dict)` returns the existing
    customers it probably duplicates, best first.
    """

    def __init__(self, records: Iterable[Record], *, threshold: int = 85, lang: str = "zh",
                 not_duplicates: Iterable[tuple[str, str]] = ()) -> None:
        self.threshold = threshold
        self.lang = lang
        self.records: list[Record] = []
        profiles: list[Profile | None] = []
        for r in records:
            profiles.append(profile_of(r.values))
            self.records.append(r)
        cleaned = without_common_contacts(profiles)
        keep = [k for k, p in enumerate(cleaned) if p is not None]
        self.records = [self.records[k] for k in keep]
        self._index = TermIndex([p for p in cleaned if p is not None])
        self._labels = [record_label(r) for r in self.records]
        self._apart = {frozenset((str(a), str(b))) for a, b in not_duplicates if a and b}

    @classmethod
    def from_workbook(cls, workbook: Workbook, threshold: int | None = None) -> DuplicateIndex:
        return cls(workbook.customers.records, threshold=resolve_threshold(workbook, threshold),
                   lang=workbook.lang, not_duplicates=workbook.not_duplicates)

    def __len__(self) -> int:
        return len(self.records)

    def add(self, record: Record) -> None:
        """Index one more customer (after it was accepted)."""
        p = profile_of(record.values)
        if p is not None:
            self.records.append(record)
            self._labels.append(record_label(record))
            self._index.add(p)

    def check(self, record: Record | Mapping[str, Any], threshold: int | None = None
              ) -> list[Match]:
        """Existing customers this record probably duplicates (score ≥ threshold), best first.

        Accepts a Record or a plain dict of values (name, phone, email, customer_id); a
        Record that is itself in the index (same row) is not matched with itself.
        """
        values = record.values if isinstance(record, Record) else record
        row = record.row if isinstance(record, Record) else None
        own_id = _text(values.get("customer_id")).strip()
        p = profile_of(values)
        if p is None:
            return []
        p = self._strip_common(p)
        th = self.threshold if threshold is None else threshold
        out: list[Match] = []
        for j in self._index.candidates_for(p):
            other = self.records[j]
            label = self._labels[j]
            if (row is not None and other.row == row) or (own_id and label == own_id):
                continue
            if own_id and frozenset((own_id, label)) in self._apart:
                continue
            ps = score_pair(p, self._index.profiles[j])
            if ps.score >= th:
                op = self._index.profiles[j]
                out.append(Match(label, op.forms.raw.strip(), other.row, ps.score,
                                 reason(ps, p.forms, op.forms, self.lang), other))
        out.sort(key=lambda m: (-m.score, m.other_row))
        return out

    def _strip_common(self, p: Profile) -> Profile:
        phone = p.phone if len(self._index.strong.get("p" + p.phone, ())) <= CONTACT_CAP else ""
        email = p.email if len(self._index.strong.get("e" + p.email, ())) <= CONTACT_CAP else ""
        return p if (phone, email) == (p.phone, p.email) else Profile(p.forms, phone, email,
                                                                      p.location)


def check_values(index: DuplicateIndex, rows: Sequence[Mapping[str, Any]]) -> list[list[Match]]:
    """Check several plain rows (an import batch) against an index."""
    return [index.check(r) for r in rows]


__all__ = ["CAP_STRONG", "Cluster", "DedupeResult", "DuplicateIndex", "Match", "Pair",
           "duplicate_findings", "find_duplicates", "is_merged", "profile_of", "record_label"]
