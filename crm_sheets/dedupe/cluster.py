"""Clusters from scored pairs: union-find that honours the team's "not the same" pairs.

Edges are merged strongest first. An edge is skipped when it would put two customers a
team marked as different (NotDuplicates) into one cluster, so a third customer similar
to both cannot smuggle the pair back in; and when the two clusters it joins do not
belong together as a whole (`link_ok`, e.g. a short name 华联 that prefixes two unrelated
companies must not chain them into one cluster).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class UnionFind:
    """Disjoint sets over 0..n-1 with cannot-link constraints."""

    def __init__(self, n: int) -> None:
        self.parent = list(range(n))
        self.members: dict[int, list[int]] = {}  # root -> members, for sets of two or more
        self.apart: dict[int, set[int]] = {}  # root -> roots it must never join

    def find(self, x: int) -> int:
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def keep_apart(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.apart.setdefault(ra, set()).add(rb)
            self.apart.setdefault(rb, set()).add(ra)

    def members_of(self, root: int) -> list[int]:
        return self.members.get(root, [root])

    def union(self, a: int, b: int,
              link_ok: Callable[[list[int], list[int]], bool] | None = None) -> bool:
        """Join the sets of a and b; False when they must stay apart."""
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        apart_a = {self.find(x) for x in self.apart.get(ra, ())}
        if rb in apart_a:
            return False
        if link_ok is not None and not link_ok(self.members_of(ra), self.members_of(rb)):
            return False
        self.members[ra] = self.members_of(ra) + self.members.pop(rb, [rb])
        apart_b = {self.find(x) for x in self.apart.pop(rb, ())}
        self.parent[rb] = ra
        merged = apart_a | apart_b
        if merged:
            self.apart[ra] = merged
            for other in merged:
                s = self.apart.setdefault(other, set())
                s.discard(rb)
                s.add(ra)
        return True


def cluster_edges(n: int, edges: Iterable[tuple[int, int, int]],
                  apart: Iterable[tuple[int, int]] = (),
                  link_ok: Callable[[list[int], list[int]], bool] | None = None
                  ) -> tuple[list[list[int]], list[tuple[int, int, int]]]:
    """Group 0..n-1 by (i, j, score) edges, strongest first; returns clusters and kept edges.

    Clusters (lists of at least two members, ascending) come out strongest first.
    """
    uf = UnionFind(n)
    for a, b in apart:
        uf.keep_apart(a, b)
    kept: list[tuple[int, int, int]] = []
    for i, j, s in sorted(edges, key=lambda e: (-e[2], e[0], e[1])):
        if uf.union(i, j, link_ok):
            kept.append((i, j, s))
    groups: dict[int, list[int]] = {}
    best: dict[int, int] = {}
    for i, _j, s in kept:
        r = uf.find(i)
        best[r] = max(best.get(r, 0), s)
    for r in best:
        groups[r] = []
    for x in range(n):
        r = uf.find(x)
        if r in groups:
            groups[r].append(x)
    order = sorted(groups, key=lambda r: (-best[r], groups[r][0]))
    return [groups[r] for r in order], kept
