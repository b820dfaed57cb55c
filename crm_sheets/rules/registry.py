"""The one place validation rules are registered, and the context they share.

A rule is a small function `(workbook, ctx) -> iterable of Finding`. Each is run in
isolation: a rule that crashes becomes a `rule.crashed` finding, never a traceback.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from ..findings import Finding, make
from ..model import Record, Table, Workbook

RuleFn = Callable[[Workbook, "Context"], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    name: str
    fn: RuleFn
    deferred: bool = False  # waits on work started elsewhere: run after the others
    # "row": a row's findings depend only on that row (values, raw, problems, extra) and on
    # the workbook's Lists, Settings, meta, language and `today`, never on other rows, and
    # name the row they are about: the warm re-check (checkcache.py) reuses them for rows
    # that did not change. "cross": anything else (IDs unique, links, duplicates); run fully.
    scope: str = "cross"
    # a cross rule's inputs besides the workbook's Lists, Settings, meta, language and
    # `today`, when it reads nothing else: "customers" / "followups" (the whole table) and
    # "customers.<key>" (one column of the customers, in sheet order; "customers.@row":
    # their row numbers). The warm re-check
    # reuses its last findings when all of these are unchanged; () = always run.
    reads: tuple[str, ...] = ()


RULES: list[Rule] = []
_READS = ("customers", "followups")


def rule(name: str, *, deferred: bool = False, scope: str = "cross",
         reads: tuple[str, ...] = ()) -> Callable[[RuleFn], RuleFn]:
    """Register a validation rule under a stable name; `scope` is "row" or "cross" (see Rule)."""
    if scope not in ("row", "cross"):
        raise ValueError(f"rule {name}: scope must be 'row' or 'cross'")
    if any(r not in _READS and not r.startswith("customers.") for r in reads) or (
            reads and scope != "cross"):
        raise ValueError(f"rule {name}: reads names tables or customers.<key> (cross rules)")

    def deco(fn: RuleFn) -> RuleFn:
        if any(r.name == name for r in RULES):
            raise ValueError(f"rule {name} registered twice")
        RULES.append(Rule(name, fn, deferred, scope, tuple(reads)))
        return fn

    return deco


@dataclass
class Context:
    """What rules share: the date, the language and lookups computed once."""

    wb: Workbook
    today: dt.date
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def lang(self) -> str:
        return self.wb.lang

    @cached_property
    def customers_by_id(self) -> dict[str, Record]:
        return self.wb.customers_by_id()

    def finding(self, code: str, table: Table, rec: Record | None, key: str | None, **params: Any) -> Finding:
        """A finding at a record's cell; the column is the field key (DESIGN §4)."""
        cid = None
        if rec is not None:
            cid = rec.values.get("customer_id")
        return make(code, self.lang, sheet=table.schema.name, row=rec.row if rec else None,
                    column=key, customer_id=cid, **params)

    def header(self, table: Table, key: str) -> str:
        return table.schema.field(key).header(self.lang)
