"""`crm apply`: the rules that keep the master current, as changes, and the safe write.

- `rules.compute_changes(workbook, today, now, state) -> Plan` (pure data: `Change` rows)
- `rules.merge_customers(workbook, keep_id, drop_id)`
- `run.run_apply(path, today=..., dry_run=...) -> ApplyOutcome` (load, rules, validate,
  Issues, patch via `writeback.safe.safe_patch`, audit, state)
"""

from __future__ import annotations

from .rules import Change, Plan, compute_changes, merge_customers
from .run import ApplyOutcome, run_apply

__all__ = ["ApplyOutcome", "Change", "Plan", "compute_changes", "merge_customers", "run_apply"]
