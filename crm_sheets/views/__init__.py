"""Per-role workbooks (controlled mode) and the shared-mode guard (DESIGN §1, §7).

- `build_views(master_path, home, ...)`: one view per sales rep and per department
  (service, marketing, management), or per named account; optionally encrypted.
- `merge_view(master_path, view_path, home=..., runner=...)`: signed-manifest check,
  rights of the view's audience, three-way merge, safe write-back.
- `shared_mode_check(before, after, author, home)` and `last_modified_by(path)`: the
  watcher's per-save attribution and rights check when people edit the master directly.

See docs/views.md.
"""

from __future__ import annotations

from .build import Audience, audiences, build_views, mine_audience, render_view
from .merge import MergeResult, describe, merge_view
from .shared_guard import last_modified_by, shared_mode_check

__all__ = ["Audience", "MergeResult", "audiences", "build_views", "describe",
           "last_modified_by", "merge_view", "mine_audience", "render_view",
           "shared_mode_check"]
