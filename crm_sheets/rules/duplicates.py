"""The "similar customer" hint: a customer that looks like an earlier one (issue: dedupe)."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from ..model import Workbook
from .registry import Context, rule


@rule("possible_duplicate", deferred=True)
def possible_duplicate(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    """Uses the second-process scan started during load when it still fits the sheet."""
    from ..dedupe.api import duplicate_matches, findings_from_matches, resolve_threshold

    threshold = resolve_threshold(wb, None)
    scan = ctx.extra.get("duplicate_scan")
    matches = scan.matches_for(wb, threshold) if scan is not None else None
    if matches is None:
        matches = duplicate_matches(wb, threshold)
    yield from findings_from_matches(wb, matches)
