"""`validate(workbook, today=) -> Report`: run every registered rule, collect findings.

`check_file(path)` is load + validate as one step, the way `crm validate` uses it (apply
uses its two halves, `start_scan` and `load_scanning`): on a big workbook the duplicate scan runs in a second process from the
moment the customer columns are read, beside the rest of the read and the other rules.
When the workbook was checked before, `check_file` redoes only what changed since
(checkcache.py): the findings are the same as a full check's.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .findings import Report, make, sort_key
from .gcpause import paused_gc
from .model import Workbook
from .rules import RULES, Context

if TYPE_CHECKING:
    from .checkcache import CheckCache
    from .dedupe.worker import DuplicateScan


def validate(workbook: Workbook, today: dt.date | None = None, *, rules: list[str] | None = None,
             duplicate_scan: DuplicateScan | None = None, cache: CheckCache | None = None) -> Report:
    """Check a loaded workbook; each rule runs in isolation and a crash becomes a finding.

    `duplicate_scan`: a scan started by `start_scan`/`load_scanning`; its result is used
    when it still describes the workbook's customers, else the scan runs here.
    `cache`: the workbook's check cache (`CheckCache.open`): reuse what the last check
    found for rows that did not change, and keep this check's for the next (all rules only).
    """
    ctx = Context(wb=workbook, today=today or dt.date.today())
    if duplicate_scan is not None:
        ctx.extra["duplicate_scan"] = duplicate_scan
    with paused_gc():
        findings = None
        if cache is not None and rules is None:
            from .checkcache import run

            findings = run(workbook, ctx, cache, duplicate_scan)
        if findings is None:
            findings = _run_rules(workbook, ctx, rules)
            findings.sort(key=sort_key)
    return Report(findings=findings, customers=len(workbook.customers.records),
                  followups=len(workbook.followups.records))


def _run_rules(workbook: Workbook, ctx: Context, rules: list[str] | None) -> list[Any]:
    findings = list(workbook.problems)
    # rules that wait on another process go last, so the others run meanwhile
    for r in sorted(RULES, key=lambda r: r.deferred):
        if rules is not None and r.name not in rules:
            continue
        try:
            findings.extend(r.fn(workbook, ctx))
        except Exception as exc:  # noqa: BLE001 - a broken rule must not hide the others
            findings.append(make("rule.crashed", workbook.lang, sheet="Customers", rule=r.name,
                                 error=f"{type(exc).__name__}: {exc}"))
    return findings


def start_scan(path: Path, data: bytes | None = None, parallel: bool | None = None
               ) -> DuplicateScan | None:
    """A duplicate-scan worker for this workbook, or None when in-process is better.

    parallel: None decides by file size and cores (env CRM_PARALLEL=0 turns it off),
    True always uses a second process, False never.
    """
    from .dedupe.worker import DuplicateScan

    return DuplicateScan.start(Path(path), data, force=parallel)


def load_scanning(path: str | Path, scan: DuplicateScan | None, *, data: bytes | None = None,
                  force: bool = False) -> Workbook:
    """`load`, shipping the customer columns to `scan` as soon as they are converted."""
    from .dedupe.worker import SCAN_FIELDS
    from .reader import load

    if scan is None:
        return load(path, data=data)

    def ship(lang: str, threshold: int, nd: list[tuple[str, str]], first_row: int,
             cols: dict[str, list[Any]]) -> None:
        try:
            scan.submit_columns(lang, threshold, nd, first_row, cols, force=force)
        except Exception as exc:  # noqa: BLE001 - an optimisation must not break the read
            scan.abandon(f"{type(exc).__name__}: {exc}")

    return load(path, data=data, on_customers=(SCAN_FIELDS, ship))


def check_file(path: str | Path, today: dt.date | None = None, *, rules: list[str] | None = None,
               data: bytes | None = None, parallel: bool | None = None,
               cache: bool | None = None) -> tuple[Workbook, Report]:
    """Load and validate a workbook, overlapping the duplicate scan with everything else.

    cache: None uses the workbook's check cache unless CRM_CHECK_CACHE=0, True always,
    False never (a full check). With a cache that can reuse the last duplicate scan, no
    second process is started before the read: it starts after it, only if needed.
    """
    from . import checkcache

    cc = None
    if rules is None and (cache if cache is not None else checkcache.enabled()):
        cc = checkcache.CheckCache.open(path)
        if cc is not None:  # the file as it is before the read: unchanged sheets reused whole
            cc.watch_source(path, data)
    scan = None
    if (rules is None or "possible_duplicate" in rules) and not (cc is not None and cc.promising):
        scan = start_scan(Path(path), data, parallel)
    elif cc is not None:
        cc.start_scan = lambda payload: _late_scan(Path(path), data, parallel, payload)
    try:
        wb = load_scanning(path, scan, data=data, force=bool(parallel))
        return wb, validate(wb, today, rules=rules, duplicate_scan=scan, cache=cc)
    finally:
        if scan is not None:
            scan.close()


def _late_scan(path: Path, data: bytes | None, parallel: bool | None, payload: Any
               ) -> DuplicateScan | None:
    """A worker started after the read, given the customers at once (the warm re-check
    found them changed): it scans while the other rules run."""
    scan = start_scan(path, data, parallel)
    if scan is not None and not scan.submit(payload, force=bool(parallel)):
        scan.close()
        return None
    return scan
