"""What apply remembers between runs, in the private state folder (never in the workbook).

`apply-state.json` holds:
- `seq`: the highest daily sequence ever issued per ID prefix (`C20240315` -> 12), so an
  ID is never issued twice even after its row was deleted;
- `snapshot`: customer ID -> hash of the user columns as of the last apply, to tell
  when a user changed a profile (updated-at);
- `backwards`: follow-up ID -> [old stage, new stage] for stage moves backwards the
  engine applied (kept listed in Issues while that follow-up says so);
- `pooled`: customer ID -> {"old_owner", "at"} for customers moved to the public pool.

`engine-snapshot/` holds a copy of the master as the engine last wrote it (any write
through `writeback.safe.safe_patch`, and a restore); the watcher's shared-mode check
starts from it, so the engine's own changes are never attributed to the next saver.
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


# ------------------------------------------------------------------ the engine's last write

SNAPSHOT_DIR = "engine-snapshot"  # not in state backups: it is a copy of the master
SNAPSHOT_META = "snapshot.json"


@dataclass
class EngineSnapshot:
    """The master as the engine last wrote it: a private copy and what wrote it."""

    path: Path
    sha256: str
    workbook: str
    action: str
    who: str
    at: str


def record_engine_write(state_dir: Path, master: Path, *, action: str, who: str) -> EngineSnapshot:
    """Keep a copy of the master right after an engine write (apply, merge, import,
    merge-customers, restore) in the private state folder.

    Shared mode compares a user's save with this copy, so what the engine wrote (状态,
    更新时间, IDs, a stage set by rules) is never taken for the next saver's edit. The copy
    is named by its hash and the meta file is replaced last, so a crash leaves the old
    pair or the new one, never a mismatched pair.
    """
    import datetime as dt
    import hashlib
    import os
    import secrets

    ensure_private_dir(Path(state_dir) / SNAPSHOT_DIR)
    folder = ensure_private_dir(_snapshot_folder(state_dir, master))
    h = hashlib.sha256()
    tmp = folder / f".crm-write-{secrets.token_hex(6)}.tmp"
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o600)
        with open(fd, "wb") as out, open(master, "rb") as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        sha = h.hexdigest()
        target = folder / f"master-{sha[:16]}.xlsx"
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)
    snap = EngineSnapshot(path=target, sha256=sha, workbook=str(Path(master).resolve()),
                          action=action, who=who,
                          at=dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
    meta = {"version": 1, "file": target.name, "sha256": sha, "workbook": snap.workbook,
            "action": action, "who": who, "at": snap.at}
    atomic_write_bytes(folder / SNAPSHOT_META, json.dumps(meta, ensure_ascii=False).encode("utf-8"))
    for old in folder.glob("master-*.xlsx"):
        if old.name != target.name:
            old.unlink(missing_ok=True)
    return snap


def _snapshot_folder(state_dir: Path, master: Path) -> Path:
    """One folder per workbook: an apply on another file never replaces the master's copy."""
    return Path(state_dir) / SNAPSHOT_DIR / stable_id(str(Path(master).resolve()))


def engine_snapshot(state_dir: Path, master: Path) -> EngineSnapshot | None:
    """The engine's last write of `master`, or None when there is none or the copy is
    missing."""
    folder = _snapshot_folder(state_dir, master)
    try:
        meta: dict[str, Any] = json.loads((folder / SNAPSHOT_META).read_text(encoding="utf-8"))
        name = str(meta["file"])
        if not name.startswith("master-") or "/" in name or "\\" in name or ".." in name:
            return None
        snap = EngineSnapshot(path=folder / name, sha256=str(meta["sha256"]),
                              workbook=str(meta["workbook"]), action=str(meta.get("action", "")),
                              who=str(meta.get("who", "")), at=str(meta.get("at", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if not snap.path.is_file() or snap.workbook != str(Path(master).resolve()):
        return None
    return snap


def forget_engine_write(state_dir: Path, master: Path) -> None:
    """Drop the snapshot (a write whose copy could not be kept must not leave an old one)."""
    (_snapshot_folder(state_dir, master) / SNAPSHOT_META).unlink(missing_ok=True)
