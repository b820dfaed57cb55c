"""`crm apply`: the rules that keep the master current, as changes, and the safe write.

- `rules.compute_changes(workbook, today, now, state) -> Plan` (pure data: `Change` rows)
- `rules.merge_customers(workbook, keep_id, drop_id)`
- `run.run_apply(path, today=..., dry_run=...) -> ApplyOutcome` (load, rules, validate,
  Issues, patch via `writeback.safe.safe_patch`, audit, state)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attrs

if TYPE_CHECKING:
    from .rules import Change, Plan, compute_changes, merge_customers
    from .run import ApplyOutcome, run_apply

# Imported on first use (issue 15): `apply.state` is read by every check (checkcache)
# and must not load the apply rules and the write path with it.
_LAZY = {
    **dict.fromkeys(("Change", "Plan", "compute_changes", "merge_customers"), ".rules"),
    **dict.fromkeys(("ApplyOutcome", "run_apply"), ".run"),
}


__getattr__ = lazy_attrs(__name__, _LAZY, globals())


__all__ = ["ApplyOutcome", "Change", "Plan", "compute_changes", "merge_customers", "run_apply"]
