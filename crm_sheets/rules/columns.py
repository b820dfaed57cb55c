"""A table's records as columns, taken once per check and shared by the rules.

Rules decide most rows with whole-column operations that run in C (`map`, `set`,
`compress`, `str.join`) and run their own per-row code only on the rows those operations
could not clear. A rule stays exact by construction: the per-row code is the rule's own,
the column work only picks a superset of the rows it reports on, and anything unusual (a
value of a type the column work does not expect) sends the rule through every row.
"""

from __future__ import annotations

from collections.abc import Iterable
from itertools import compress, count, repeat
from operator import attrgetter
from typing import Any

from ..model import Record, Table

_KEY = "rules.columns"


class Columns:
    """The columns of one table: lists aligned with `table.records`."""

    __slots__ = ("table", "records", "_vals", "_cols")

    def __init__(self, table: Table) -> None:
        self.table = table
        self.records: list[Record] = table.records
        self._vals: list[dict[str, Any]] | None = None
        self._cols: dict[str, list[Any]] = {}

    @property
    def values(self) -> list[dict[str, Any]]:
        if self._vals is None:
            self._vals = list(map(attrgetter("values"), self.records))
        return self._vals

    def col(self, key: str) -> list[Any]:
        """`rec.values.get(key)` of every record."""
        c = self._cols.get(key)
        if c is None:
            c = self._cols[key] = list(map(dict.get, self.values, repeat(key)))
        return c


def columns(ctx: Any, table: Table) -> Columns:
    """The shared `Columns` of `table` for this check (kept in `ctx.extra`)."""
    store: dict[int, Columns] = ctx.extra.setdefault(_KEY, {})
    cols = store.get(id(table))
    if cols is None or cols.table is not table or cols.records is not table.records:
        cols = store[id(table)] = Columns(table)
    return cols


def where(flags: Iterable[Any]) -> list[int]:
    """Indexes of the truthy items."""
    return list(compress(count(), flags))
