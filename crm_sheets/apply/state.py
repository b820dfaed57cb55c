"""What apply remembers between runs, in the private state folder (never in the workbook).

`apply-state.json` holds:
- `seq`: the highest daily sequence ever issued per ID prefix (`C20240315` -> 12), so an
  ID is never issued twice even after its row was deleted;
- `snapshot`: customer ID -> hash of the user columns as of the last apply, to tell
  when a user changed a profile (updated-at);
- `backwards`: follow-up ID -> [old stage, new stage] for stage moves backwards the
  engine applied (kept listed in Issues while that follow-up says so);
- `pooled`: customer ID -> {"old_owner", "at"} for customers moved to the public pool.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..home import CrmHome, ensure_private_dir, home_for_workbook, stable_id, state_root
from ..writeback.atomic import atomic_write_bytes

STATE_FILE = "apply-state.json"


@dataclass
class ApplyState:
    seq: dict[str, int] = field(default_factory=dict)
    snapshot: dict[str, str] = field(default_factory=dict)
    backwards: dict[str, list[str]] = field(default_factory=dict)
    pooled: dict[str, dict[str, str]] = field(default_factory=dict)

    def to_json(self) -> bytes:
        return json.dumps({"version": 1, "seq": self.seq, "snapshot": self.snapshot,
                           "backwards": self.backwards, "pooled": self.pooled},
                          ensure_ascii=False, separators=(",", ":"), sort_keys=True).encode("utf-8")


def state_dir_for(workbook: Path, home: CrmHome | None = None) -> Path:
    """The private state folder for a workbook: its home's, else a local one per path."""
    home = home if home is not None else home_for_workbook(workbook)
    if home is not None:
        return home.state
    return ensure_private_dir(state_root() / ("local-" + stable_id(str(Path(workbook).resolve()))))


def load_state(state_dir: Path) -> ApplyState:
    path = Path(state_dir) / STATE_FILE
    if not path.exists():
        return ApplyState()
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return ApplyState()  # a damaged state only costs a re-snapshot; IDs are also in the sheet
    return ApplyState(seq=dict(data.get("seq", {})), snapshot=dict(data.get("snapshot", {})),
                      backwards=dict(data.get("backwards", {})), pooled=dict(data.get("pooled", {})))


def save_state(state_dir: Path, state: ApplyState) -> None:
    atomic_write_bytes(Path(state_dir) / STATE_FILE, state.to_json())
