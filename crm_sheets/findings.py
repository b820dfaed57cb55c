"""Findings: the one shape every check reports in (DESIGN §4), and the report around them."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from .messages import render, severity_of
from .prohibited import redact

SEVERITIES = ("error", "warning", "info")


@dataclass(slots=True, frozen=True)
class Finding:
    sheet: str
    row: int | None
    column: str | None
    code: str
    severity: str
    message: str
    customer_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make(code: str, lang: str, *, sheet: str, row: int | None = None, column: str | None = None,
         customer_id: str | None = None, severity: str | None = None, **params: Any) -> Finding:
    """Build a finding whose message comes from the catalogue in the workbook's language.

    A message quotes what was typed (「…」不在列表中), so prohibited numbers are masked in
    it: findings go to the Issues sheet, latest-findings.json and the terminal.
    """
    message = render(code, lang, **params)
    if len(message) >= 13:
        message = redact(message)
    return Finding(sheet=sheet, row=row, column=column, code=code,
                   severity=severity or severity_of(code), message=message,
                   customer_id=customer_id or None)


@dataclass(slots=True)
class Report:
    findings: list[Finding] = field(default_factory=list)
    customers: int = 0
    followups: int = 0

    @property
    def errors(self) -> int:
        return sum(1 for f in self.findings if f.severity == "error")

    def summary(self) -> dict[str, Any]:
        by_sev = Counter(f.severity for f in self.findings)
        return {
            "customers": self.customers,
            "followups": self.followups,
            "findings": len(self.findings),
            "errors": by_sev.get("error", 0),
            "warnings": by_sev.get("warning", 0),
            "info": by_sev.get("info", 0),
            "by_code": dict(sorted(Counter(f.code for f in self.findings).items())),
        }

    def to_dict(self) -> dict[str, Any]:
        return {"findings": [f.to_dict() for f in self.findings], "summary": self.summary()}


def sort_key(f: Finding) -> tuple:
    return (f.sheet, f.row or 0, f.column or "", f.code)
