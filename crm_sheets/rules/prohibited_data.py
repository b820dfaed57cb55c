"""Prohibited data: a resident ID or bank card number in any cell of the data sheets."""

from __future__ import annotations

from collections.abc import Iterator
from itertools import repeat
from operator import attrgetter, ge
from typing import Any

from .. import prohibited
from ..findings import Finding
from ..model import Record, Table, Workbook
from ..schema import Kind
from .columns import Columns, columns, where
from .registry import Context, rule

_NUMBER_TYPES = {int, float, type(None)}


def _column_suspect(values: list[Any], numeric: bool) -> bool:
    """Whether any value of a column could hold a prohibited number (one pass)."""
    if numeric:
        if set(map(type, values)) <= _NUMBER_TYPES:  # the same test, in C
            return any(map(ge, map(abs, filter(None, values)), repeat(1e12)))
        return any(abs(v) >= 1e12 for v in values if type(v) is float or type(v) is int)
    return texts_suspect([v for v in values if type(v) is str])


def texts_suspect(texts: list[str]) -> bool:
    """Whether any text could hold a prohibited number: 13+ digits once separators
    (spaces, hyphens, dots, slashes) are dropped, or a digit before an exponent mark
    (6.2E+18). Full-width digits and wide separators (１２３, －, –, ideographic space)
    are folded to ASCII first.

    Runs in C over the UTF-8 bytes (translate + substring search): a 300,000-row sheet
    takes a fraction of a second where a regex over the same text takes seconds. It may
    over-report (two phone numbers side by side); the exact check then decides.
    """
    return bool(texts) and prohibited.maybe("\x00".join(texts))


def _suspect_records(table: Table, cols: Columns | None = None) -> set[int]:
    """Indexes of records with at least one suspicious cell.

    One regex pass over all the table's text decides the common case (nothing
    suspicious) in C; only when it matches are records checked one by one.
    """
    recs = table.records
    out: set[int] = set()
    if texts_suspect([v for r in recs for v in r.values.values() if type(v) is str]):
        for i, r in enumerate(recs):
            if texts_suspect([v for v in r.values.values() if type(v) is str]):
                out.add(i)
    numeric = [k for k in table.columns if table.schema.field(k).kind in (Kind.INT, Kind.NUMBER)]
    for key in numeric:
        col = cols.col(key) if cols is not None else [r.values.get(key) for r in recs]
        if _column_suspect(col, True):
            out.update(i for i, v in enumerate(col) if v is not None and prohibited.find(v))
    out.update(where(map(attrgetter("raw"), recs)))
    out.update(where(map(attrgetter("extra"), recs)))
    return out


def _cells(rec: Record) -> Iterator[tuple[str, Any]]:
    yield from rec.values.items()
    yield from rec.raw.items()
    yield from rec.extra.items()


@rule("prohibited", scope="row")
def prohibited_data(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    for table in (wb.customers, wb.followups):
        for i in sorted(_suspect_records(table, columns(ctx, table))):
            rec = table.records[i]
            seen: set[tuple[str, str]] = set()
            for key, v in _cells(rec):
                if v is None:
                    continue
                for hit in prohibited.find(v) or prohibited.find_truncated(v):
                    if (key, hit.masked) not in seen:
                        seen.add((key, hit.masked))
                        yield ctx.finding(f"prohibited.{hit.kind}", table, rec, key, masked=hit.masked)
