"""Duplicate matching for a whole import batch with crm_sheets.dedupe's blocking and scoring.

`DuplicateIndex` checks one row at a time (right for the watcher); an import checks
tens of thousands at once, where the dedupe module's vectorised `candidate_pairs` over
master + incoming rows is several times cheaper than building an index and probing it
row by row. The rules are the same: `profile_of`, `candidate_pairs`, `score_pair`,
`reason`, the Settings threshold, and contacts shared by many customers ignored.
Master-to-master pairs are dropped (that is `crm dedupe`'s job); what remains is, for
each incoming row, the master customers and earlier incoming rows it probably duplicates.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..dedupe.api import profile_of, record_label, without_common_contacts
from ..dedupe.blocking import candidate_pairs
from ..dedupe.score import PairScore, reason, score_pair
from ..model import Record


@dataclass(slots=True, frozen=True)
class BatchMatch:
    """Incoming row k probably duplicates `other` (a master index, or an incoming one)."""

    other: int  # index into master records, or len(master) + incoming index
    score: int
    ps: PairScore | None  # None: the very same name (see BatchMatcher.best)


class BatchMatcher:
    """All candidate matches of a batch of incoming rows, computed once."""

    def __init__(self, master: Sequence[Record], incoming: Sequence[Mapping[str, Any] | None],
                 *, threshold: int, lang: str = "zh") -> None:
        self.master = list(master)
        self.lang = lang
        self.threshold = threshold
        nm = len(self.master)
        raw = [profile_of(r.values) for r in self.master]
        raw += [profile_of(v) if v is not None else None for v in incoming]
        allp = without_common_contacts(raw)
        keep = [k for k, p in enumerate(allp) if p is not None]
        profiles = [allp[k] for k in keep]
        self.profiles = allp
        # the very same registered name is the same company, whatever else the scorer
        # weighs (re-importing a list must never duplicate a row)
        self.same_name: dict[str, list[int]] = {}
        for k, p in enumerate(allp):
            if p is not None and p.forms.surface:
                self.same_name.setdefault(p.forms.surface, []).append(k)
        self.candidates: dict[int, list[BatchMatch]] = {}
        for a, b in candidate_pairs(profiles):  # a < b, so keep[a] < keep[b]
            oa, ob = keep[a], keep[b]
            if ob < nm:
                continue  # master with master
            ps = score_pair(profiles[b], profiles[a])  # (incoming, other) like check()
            if ps.score >= threshold:
                self.candidates.setdefault(ob - nm, []).append(BatchMatch(oa, ps.score, ps))

    def is_master(self, other: int) -> bool:
        return other < len(self.master)

    def best(self, k: int, accepted: set[int]) -> BatchMatch | None:
        """The best match of incoming row k among master rows and accepted earlier rows."""
        nm = len(self.master)
        best: BatchMatch | None = None
        mine = self.profiles[nm + k]
        if mine is not None:
            for o in self.same_name.get(mine.forms.surface, ()):
                if o < nm or (o < nm + k and (o - nm) in accepted):
                    best = BatchMatch(o, 100, None)
                    break
        for m in self.candidates.get(k, ()):
            if m.other >= nm and (m.other - nm) not in accepted:
                continue
            if best is None or (m.score, -m.other) > (best.score, -best.other):
                best = m
        return best

    def describe(self, k: int, m: BatchMatch) -> dict[str, Any]:
        """other_id / other_name / reason / score of a match, for findings."""
        nm = len(self.master)
        mine = self.profiles[nm + k]
        other = self.profiles[m.other]
        assert mine is not None and other is not None
        label = record_label(self.master[m.other]) if m.other < nm else ""
        if m.ps is None:
            why = "名称完全相同" if self.lang == "zh" else "the very same name"
        else:
            why = reason(m.ps, mine.forms, other.forms, self.lang)
        return {"other_id": label, "other_name": other.forms.raw.strip(), "reason": why,
                "score": m.score}
