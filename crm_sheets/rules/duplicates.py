"""The "similar customer" hint: a customer that looks like an earlier one (issue: dedupe)."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from ..model import Workbook
from .registry import Context, rule


@rule("possible_duplicate")
def possible_duplicate(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    try:
        from ..dedupe import duplicate_findings
    except ImportError:  # the matcher is optional while it is being built
        return
    yield from duplicate_findings(wb)
