"""Prohibited data: a resident ID or bank card number in any cell of the data sheets."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from .. import prohibited
from ..findings import Finding
from ..model import Record, Table, Workbook
from ..schema import Kind
from .registry import Context, rule

# Cheap pre-filters: a run of 13+ digits/separators, or a number in scientific form.
_RUN = re.compile(r"[0-9 -]{13,}")
_SCI = re.compile(r"\d\.\d{5,}[Ee]")


def _column_suspect(values: list[Any], numeric: bool) -> bool:
    """Whether any value of a column could hold a prohibited number (one regex pass)."""
    if numeric:
        return any(abs(v) >= 1e12 for v in values if type(v) is float or type(v) is int)
    blob = "\x00".join([v for v in values if type(v) is str])
    return bool(_RUN.search(blob) or _SCI.search(blob))


def _suspect_records(table: Table) -> set[int]:
    """Indexes of records with at least one suspicious cell, found column by column."""
    recs = table.records
    out: set[int] = set()
    for key in table.columns:
        numeric = table.schema.field(key).kind in (Kind.INT, Kind.NUMBER)
        col = [r.values.get(key) for r in recs]
        if _column_suspect(col, numeric):
            out.update(i for i, v in enumerate(col) if v is not None and prohibited.find(v))
    for i, r in enumerate(recs):
        if r.raw or r.extra:
            out.add(i)
    return out


def _cells(rec: Record) -> Iterator[tuple[str, Any]]:
    yield from rec.values.items()
    yield from rec.raw.items()
    yield from rec.extra.items()


@rule("prohibited")
def prohibited_data(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    for table in (wb.customers, wb.followups):
        for i in sorted(_suspect_records(table)):
            rec = table.records[i]
            seen: set[tuple[str, str]] = set()
            for key, v in _cells(rec):
                if v is None:
                    continue
                for hit in prohibited.find(v):
                    if (key, hit.masked) not in seen:
                        seen.add((key, hit.masked))
                        yield ctx.finding(f"prohibited.{hit.kind}", table, rec, key, masked=hit.masked)
