"""The append-only audit log in the private state folder.

One JSON object per line: when, who, what, and for cell changes sheet/row/column
old -> new. Secrets never go here (callers pass none; `record` refuses keys that
look like one).
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path
from typing import Any

AUDIT_FILE = "audit.log"
_SECRET_KEYS = {"password", "secret", "totp", "code", "token", "hash", "key"}


def audit_path(state_dir: Path) -> Path:
    return Path(state_dir) / AUDIT_FILE


def record(state_dir: Path, who: str, action: str, **details: Any) -> dict[str, Any]:
    """Append one event; flushed and fsynced so a crash cannot lose it."""
    bad = _SECRET_KEYS.intersection(k.lower() for k in details)
    if bad:
        raise ValueError(f"refusing to audit secret-looking fields: {sorted(bad)}")
    event = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "who": who,
             "action": action, **details}
    line = json.dumps(event, ensure_ascii=False, default=str) + "\n"
    path = audit_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return event


def read(state_dir: Path) -> list[dict[str, Any]]:
    path = audit_path(state_dir)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]
