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
import re
import stat
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from .errors import CrmError
from .i18n import t

MASTER_NAME = "CRM.xlsx"
HOME_FILE = ".crm-home.json"
SUBDIRS = ("views", "inbox", "reports", "backups")
# The only form `crm init` writes (uuid4().hex). The id names the private state folder,
# so nothing else is accepted: no path, no separator, no "..", nothing absolute.
HOME_ID_RE = re.compile(r"[0-9a-f]{32}")
_MASTER_RE = re.compile(r"[^/\\:*?\"<>|\x00-\x1f]{1,200}\.xlsx", re.IGNORECASE)


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
        """The private state folder, created 0700 on first use; refused when its name is
        not a home id or the folder is not private to this OS user."""
        return ensure_private_dir(state_root() / check_home_id(self.home_id))


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


def check_home_id(home_id: object) -> str:
    """`home_id` when it has the generated form (32 lower-case hex digits), else CrmError:
    it comes from the shared `.crm-home.json`, which anyone with the share can edit."""
    if not isinstance(home_id, str) or not HOME_ID_RE.fullmatch(home_id):
        shown = str(home_id)[:80]
        raise CrmError(t(f"{HOME_FILE} 中的 home_id「{shown}」无效（应为 32 位十六进制），已拒绝：它决定私有"
                         f"状态文件夹，请从备份恢复该文件或重新 crm init",
                         f"{HOME_FILE} has an invalid home_id '{shown}' (expected 32 hex digits): "
                         f"refused, as it names the private state folder; restore the file from a "
                         f"backup or run crm init again"))
    return home_id


def _is_private(st: os.stat_result) -> bool:
    return st.st_uid == os.geteuid() and not st.st_mode & 0o077


def check_private(path: Path, *, what_zh: str = "状态文件夹", what_en: str = "state folder") -> None:
    """Refuse (CrmError) a state folder or key file that is a symlink, belongs to another
    OS user, or is open to group/others: someone else may have prepared it (a planted
    signing key would be trusted). POSIX only; Windows profiles are private by ACL."""
    if os.name != "posix":
        return
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode) or not _is_private(st):
        why_zh = ("是符号链接" if stat.S_ISLNK(st.st_mode) else
                  "不属于当前用户" if st.st_uid != os.geteuid() else
                  f"权限 {stat.S_IMODE(st.st_mode):o} 允许其他用户访问")
        why_en = ("is a symbolic link" if stat.S_ISLNK(st.st_mode) else
                  "belongs to another user" if st.st_uid != os.geteuid() else
                  f"has mode {stat.S_IMODE(st.st_mode):o}, open to other users")
        raise CrmError(t(f"{what_zh} {path} {why_zh}，不是私有的，已拒绝使用：请检查是谁创建的，"
                         f"确认无误后改为仅本人可访问（chmod 700 文件夹 / 600 文件）",
                         f"the {what_en} {path} {why_en}, so it is not private: refused; check "
                         f"who made it, then make it yours only (chmod 700 folder / 600 file)"))


def ensure_private_dir(path: Path) -> Path:
    """Create `path` 0700, or check an existing one is private (owner, mode, no symlink).

    A folder made by an older version inside a private folder is tightened to 0700
    (nobody else could reach it); anywhere else a folder open to others is refused."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        path.mkdir(mode=0o700)
        created = True
    except FileExistsError:
        created = False
    if os.name != "posix":
        return path
    if created:
        os.chmod(path, 0o700)
        return path
    st = os.lstat(path)
    if (not stat.S_ISLNK(st.st_mode) and st.st_uid == os.geteuid() and st.st_mode & 0o077
            and stat.S_ISDIR(st.st_mode) and _is_private(os.stat(path.parent))):
        os.chmod(path, 0o700)
    check_private(path)
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
    if not isinstance(info, dict):
        raise CrmError(t(f"{marker} 无法读取：内容不是对象", f"{marker} is unreadable: not an object"))
    master = info.get("master", MASTER_NAME)
    if not isinstance(master, str) or not _MASTER_RE.fullmatch(master) or master.strip(". ") != master:
        raise CrmError(t(f"{HOME_FILE} 中的主表名「{str(master)[:80]}」无效（应为本文件夹里的 .xlsx 文件名），已拒绝",
                         f"{HOME_FILE} names the master '{str(master)[:80]}', which is not a plain "
                         f".xlsx file name in the home: refused"))
    lang = info.get("lang", "zh")
    return CrmHome(root=Path(root).resolve(), home_id=check_home_id(info.get("home_id")),
                   master_name=master, lang=lang if lang in ("zh", "en") else "zh")


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
