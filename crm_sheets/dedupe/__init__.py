"""Duplicate customer detection (系统自动提示相似客户).

`find_duplicates(workbook)` clusters customers that are probably the same company;
`duplicate_findings(workbook)` turns them into validate warnings; `DuplicateIndex` checks
one new or changed row against a whole sheet (watcher, import). See docs/dedupe.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attrs

if TYPE_CHECKING:
    from .api import (
        Cluster,
        DedupeResult,
        DuplicateIndex,
        Match,
        Pair,
        duplicate_findings,
        find_duplicates,
        record_label,
    )
    from .normalize import name_forms, normalize_email, normalize_name, normalize_phone

# Imported on first use (issue 15): `dedupe.worker` and `dedupe.formcache` are imported
# by checks that scan in another process, without the scan's own modules.
_LAZY = {
    **dict.fromkeys(("Cluster", "DedupeResult", "DuplicateIndex", "Match", "Pair",
                     "duplicate_findings", "find_duplicates", "record_label"), ".api"),
    **dict.fromkeys(("name_forms", "normalize_email", "normalize_name", "normalize_phone"),
                    ".normalize"),
}


__getattr__ = lazy_attrs(__name__, _LAZY, globals())


__all__ = ["Cluster", "DedupeResult", "DuplicateIndex", "Match", "Pair", "duplicate_findings",
           "find_duplicates", "name_forms", "normalize_email", "normalize_name",
           "normalize_phone", "record_label"]
