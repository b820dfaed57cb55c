"""A CRM home folder and its private state folder (DESIGN §3).

The home (often on a shared drive) holds the master workbook, views/, inbox/,
reports/ and backups/. Secrets never live there: accounts, hashes, TOTP secrets,
keys, snapshots and the audit log live in a private state folder (0700) under the
user's own profile, found by the home's id. `CRM_STATE_DIR` overrides its location
(tests, or an admin who keeps state on an encrypted volume).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from .errors import CrmError
from .i18n import t

MASTER_NAME = "CRM.xlsx"
HOME_FILE = ".crm-home.json"
SUBDIRS = ("views", "inbox", "reports", "backups")


@dataclass(frozen=True)
class CrmHome:
    root: Path
    home_id: str
    master_name: str = MASTER_NAME
    lang: str = "zh"

    @property
    def master(self) -> Path:
        return self.root / self.master_name

    @property
    def views(self) -> Path:
        return self.root / "views"

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def reports(self) -> Path:
        return self.root / "reports"

    @property
    def backups(self) -> Path:
        return self.root / "backups"

    @property
    def state(self) -> Path:
        """The private state folder, created 0700 on first use."""
        return ensure_private_dir(state_root() / self.home_id)


def state_root() -> Path:
    env = os.environ.get("CRM_STATE_DIR")
    if env:
        return Path(env)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA") or Path.home() / "AppData" / "Local")
        return base / "crm-sheets" / "state"
    if sys.platform == "darwin":
        return Path.home() / "Library" / "Application Support" / "crm-sheets" / "state"
    base = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    return base / "crm-sheets"


def ensure_private_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    if os.name == "posix":
        os.chmod(path, 0o700)
    return path


def create_home(root: Path, lang: str = "zh") -> CrmHome:
    """Lay out a new home folder (the master is written by the caller)."""
    root.mkdir(parents=True, exist_ok=True)
    marker = root / HOME_FILE
    if marker.exists():
        raise CrmError(t(f"{root} 已经是 CRM 主目录，不会覆盖", f"{root} is already a CRM home; refusing to overwrite it"))
    for sub in SUBDIRS:
        (root / sub).mkdir(exist_ok=True)
    info = {"home_id": uuid.uuid4().hex, "master": MASTER_NAME, "lang": lang}
    marker.write_text(json.dumps(info, ensure_ascii=False, indent=2), encoding="utf-8")
    return open_home(root)


def open_home(root: Path) -> CrmHome:
    marker = Path(root) / HOME_FILE
    if not marker.is_file():
        raise CrmError(t(f"{root} 不是 CRM 主目录（没有 {HOME_FILE}）：请先运行 crm init",
                         f"{root} is not a CRM home (no {HOME_FILE}); run 'crm init' first"))
    try:
        info = json.loads(marker.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise CrmError(t(f"{marker} 无法读取：{exc}", f"{marker} is unreadable: {exc}")) from exc
    return CrmHome(root=Path(root).resolve(), home_id=str(info["home_id"]),
                   master_name=str(info.get("master", MASTER_NAME)), lang=str(info.get("lang", "zh")))


def find_home(start: Path | None = None) -> CrmHome | None:
    """The home named by CRM_HOME, else the folder holding `start` (a workbook or folder)."""
    env = os.environ.get("CRM_HOME")
    if env:
        return open_home(Path(env))
    if start is None:
        start = Path.cwd()
    start = Path(start).resolve()
    for folder in [start if start.is_dir() else start.parent, *start.parents]:
        if (folder / HOME_FILE).is_file():
            return open_home(folder)
    return None


def home_for_workbook(path: Path) -> CrmHome | None:
    """The home whose master is this workbook, if any (for apply, import, views)."""
    folder = Path(path).resolve().parent
    if (folder / HOME_FILE).is_file():
        return open_home(folder)
    env = os.environ.get("CRM_HOME")
    return open_home(Path(env)) if env else None


def stable_id(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
