"""`validate(workbook, today=) -> Report`: run every registered rule, collect findings."""

from __future__ import annotations

import datetime as dt

from .findings import Report, make, sort_key
from .model import Workbook
from .rules import RULES, Context


def validate(workbook: Workbook, today: dt.date | None = None, *, rules: list[str] | None = None) -> Report:
    """Check a loaded workbook; each rule runs in isolation and a crash becomes a finding."""
    ctx = Context(wb=workbook, today=today or dt.date.today())
    findings = list(workbook.problems)
    for r in RULES:
        if rules is not None and r.name not in rules:
            continue
        try:
            findings.extend(r.fn(workbook, ctx))
        except Exception as exc:  # noqa: BLE001 - a broken rule must not hide the others
            findings.append(make("rule.crashed", workbook.lang, sheet="Customers", rule=r.name,
                                 error=f"{type(exc).__name__}: {exc}"))
    findings.sort(key=sort_key)
    return Report(findings=findings, customers=len(workbook.customers.records),
                  followups=len(workbook.followups.records))
