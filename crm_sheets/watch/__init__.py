"""`crm watch`: revalidate every save of the master, merge inbox drops, keep backups.

- `events`: which path an event touches (master, its lock files, inbox) and noise
- `stability`: debounce helpers (size, mtime, sha256 across two probes; complete xlsx)
- `cycle`: what a master save and an inbox drop do, as functions returning data
- `watcher`: the loop (`Watcher`, `WatchOptions`) with injectable observer and clock
See docs/watch.md.
"""

from __future__ import annotations

from .cycle import MasterTracker, SaveReport, apply_master, process_inbox, revalidate
from .watcher import Watcher, WatchEvent, WatchOptions

__all__ = ["MasterTracker", "SaveReport", "WatchEvent", "WatchOptions", "Watcher",
           "apply_master", "process_inbox", "revalidate"]
