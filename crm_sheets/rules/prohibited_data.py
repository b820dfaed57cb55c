"""Prohibited data: a resident ID or bank card number in any cell of the data sheets."""

from __future__ import annotations

from collections.abc import Iterator

from .. import prohibited
from ..findings import Finding
from ..model import Workbook
from .registry import Context, rule


@rule("prohibited")
def prohibited_data(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    find = prohibited.find
    for table in (wb.customers, wb.followups):
        for rec in table.records:
            cells = list(rec.values.items()) + list(rec.raw.items()) + list(rec.extra.items())
            seen: set[str] = set()
            for key, v in cells:
                if v is None or isinstance(v, (bool,)) or (isinstance(v, str) and len(v) < 13):
                    continue
                if isinstance(v, (int, float)) and abs(v) < 1e12:
                    continue
                for hit in find(v):
                    if (key, hit.masked) in seen:
                        continue
                    seen.add((key, hit.masked))
                    yield ctx.finding(f"prohibited.{hit.kind}", table, rec, key, masked=hit.masked)
