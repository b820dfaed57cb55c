"""`crm backup create|list|verify|restore|prune`: the admin's backups of a CRM home.

Two kinds, both in the format of `writeback.backups` (version 1: a zip, members stored,
`manifest.json` with the SHA-256 and size of every other member):

- **home** backups in the home's `backups/`: the master workbook (first member, so
  `writeback.backups.restore_file` works on them too) and the home's settings file
  (`.crm-home.json`). The engine's pre-write backups (reason `apply`, `merge-…`,
  `import`) live in the same folder and are listed, verified, restored and pruned alike.
- **state** backups of the private state folder (accounts, sessions, audit log, apply
  state) in the state folder's own `backups/`, never in the shared home. SQLite files are
  copied with SQLite's online backup so a backup is consistent even while in use.

Retention (`prune`): every backup of the last 24 hours; every backup taken before an
import, a restore or a merge-customers (reasons `import`, `pre-restore`,
`merge-customers`) for the whole retention period (the oldest tier: `monthly` months,
else `weekly` weeks, else `daily` days); the newest `keep_last`; then the newest backup
of each of the last `daily` days, `weekly` ISO weeks and `monthly` months that have one
(Settings keys backup_daily / backup_weekly / backup_monthly: 7, 4, 12). Damaged zips are
never pruned. One save makes one backup: a write that follows the engine's own write of
the same save (a hand-back's merge, then its apply) reuses that backup
(`writeback.safe._chained_step`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import tempfile
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from . import audit
from .errors import CrmError
from .home import HOME_FILE, CrmHome, ensure_private_dir
from .i18n import t
from .writeback.atomic import atomic_write_bytes
from .writeback.backups import FORMAT_VERSION, MANIFEST, new_backup_path, write_backup_zip
from .writeback.locks import ensure_unlocked

STATE_PREFIX = "state"
DEFAULT_KEEP_LAST = 10
SQLITE_MAGIC = b"SQLite format 3\x00"
_STAMP = re.compile(r"(\d{8}-\d{6}-\d{6})")


# Backups taken before an operation a person may want to undo as a whole.
PROTECTED_REASONS = ("import", "pre-restore", "restore", "merge-customers")


@dataclass(frozen=True)
class Retention:
    daily: int = 7
    weekly: int = 4
    monthly: int = 12
    keep_last: int = DEFAULT_KEEP_LAST
    recent_hours: int = 24

    @property
    def period(self) -> dt.timedelta:
        """How far back the policy reaches (its oldest tier): how long a backup taken
        before an import, restore or merge-customers is kept."""
        days = max(self.daily, self.weekly * 7, self.monthly * 31, 1)
        return dt.timedelta(days=days)

    @classmethod
    def from_settings(cls, settings: Mapping[str, int] | None) -> Retention:
        s = settings or {}
        return cls(daily=int(s.get("backup_daily", 7)), weekly=int(s.get("backup_weekly", 4)),
                   monthly=int(s.get("backup_monthly", 12)))


@dataclass
class BackupInfo:
    path: Path
    kind: str  # "home" | "state"
    created: dt.datetime  # aware (UTC)
    reason: str
    size: int
    members: list[str] = field(default_factory=list)
    readable: bool = True

    @property
    def id(self) -> str:
        return self.path.stem

    def to_dict(self) -> dict:
        return {"id": self.id, "kind": self.kind, "created": self.created.isoformat(),
                "reason": self.reason, "size": self.size, "members": self.members,
                "readable": self.readable, "path": str(self.path)}


def state_backups_dir(home: CrmHome) -> Path:
    """The private state folder's own backups folder (0700, never in the shared home)."""
    return ensure_private_dir(home.state / "backups")


def create_home_backup(home: CrmHome, reason: str = "manual") -> Path:
    """Zip the master and the home's settings file into the home's backups folder."""
    members: list[tuple[str, bytes]] = []
    for p in (home.master, home.root / HOME_FILE):
        try:
            members.append((p.name, p.read_bytes()))
        except FileNotFoundError:
            if p == home.master:
                raise CrmError(t(f"无法备份 {p}：文件不存在", f"cannot back up {p}: no such file")) from None
        except OSError as exc:
            raise CrmError(t(f"无法备份 {p}：{exc}", f"cannot back up {p}: {exc}")) from exc
    now = dt.datetime.now(dt.UTC)
    manifest = {"format": FORMAT_VERSION, "created": now.isoformat(timespec="microseconds"),
                "reason": reason, "kind": "home", "home_id": home.home_id,
                "source": str(home.master)}
    return write_backup_zip(new_backup_path(home.backups, home.master.stem, reason, now), members, manifest)


def _sqlite_copy(src: Path) -> bytes:
    with tempfile.TemporaryDirectory() as tmpdir:
        dst = Path(tmpdir) / "copy.db"
        s = sqlite3.connect(f"file:{src.as_posix()}?mode=ro", uri=True)
        try:
            d = sqlite3.connect(dst)
            try:
                s.backup(d)
            finally:
                d.close()
        finally:
            s.close()
        return dst.read_bytes()


def _state_members(state: Path) -> list[tuple[str, bytes]]:
    members = []
    skip_dirs = {"backups", "engine-snapshot"}  # the snapshot is a copy of the master
    for root, dirs, files in os.walk(state):
        rel_root = Path(root).relative_to(state)
        if rel_root == Path("."):
            dirs[:] = [d for d in dirs if d not in skip_dirs]
        for name in sorted(files):
            p = Path(root) / name
            rel = (rel_root / name).as_posix()
            if name.endswith(("-wal", "-shm", "-journal")) or name.startswith(".crm-write-"):
                continue  # folded into the database copy / engine temporaries
            try:
                with open(p, "rb") as fh:
                    head = fh.read(16)
                data = _sqlite_copy(p) if head == SQLITE_MAGIC else p.read_bytes()
            except (OSError, sqlite3.Error) as exc:
                raise CrmError(t(f"无法备份 {p}：{exc}", f"cannot back up {p}: {exc}")) from exc
            members.append((rel, data))
    return members


def create_state_backup(home: CrmHome, reason: str = "manual") -> Path:
    """Zip the private state folder (without its backups) into its own backups folder."""
    now = dt.datetime.now(dt.UTC)
    manifest = {"format": FORMAT_VERSION, "created": now.isoformat(timespec="microseconds"),
                "reason": reason, "kind": "state", "home_id": home.home_id}
    target = new_backup_path(state_backups_dir(home), STATE_PREFIX, reason, now)
    path = write_backup_zip(target, _state_members(home.state), manifest)
    if os.name == "posix":
        os.chmod(path, 0o600)
    return path


def create(home: CrmHome, reason: str = "manual", *, state: bool = True) -> list[Path]:
    """A home backup and (for the admin) a state backup; returns their paths."""
    made = [create_home_backup(home, reason)]
    if state:
        made.append(create_state_backup(home, reason))
    audit.record(home.state, "engine" if reason == "scheduled" else "admin", "backup.create",
                 reason=reason, files=[p.name for p in made])
    return made


# ------------------------------------------------------------------ listing


def _info(path: Path, kind: str) -> BackupInfo:
    size = path.stat().st_size
    try:
        with zipfile.ZipFile(path) as zf:
            manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
        created = dt.datetime.fromisoformat(manifest["created"])
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        return BackupInfo(path, manifest.get("kind", kind), created,
                          str(manifest.get("reason", "")), size, list(manifest.get("files", {})))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        m = _STAMP.search(path.name)
        try:
            created = dt.datetime.strptime(m.group(1), "%Y%m%d-%H%M%S-%f").replace(tzinfo=dt.UTC) \
                if m else dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        except ValueError:
            created = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
        return BackupInfo(path, kind, created, "?", size, [], readable=False)


def list_backups(home: CrmHome, *, state: bool = True) -> list[BackupInfo]:
    """Every backup of the home (and of its state folder), newest first."""
    out = [_info(p, "home") for p in sorted(home.backups.glob("*.zip"))] \
        if home.backups.is_dir() else []
    if state:
        folder = home.state / "backups"
        if folder.is_dir():
            out += [_info(p, "state") for p in sorted(folder.glob("*.zip"))]
    out.sort(key=lambda b: b.created, reverse=True)
    return out


# ------------------------------------------------------------------ verifying


def verify(path: Path) -> list[str]:
    """Problems of one backup (empty when sound): every member re-read, CRC and SHA-256."""
    problems: list[str] = []
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            try:
                manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
                files = manifest["files"]
            except KeyError:
                return ["no manifest"]
            except ValueError as exc:
                return [f"manifest unreadable: {exc}"]
            for name in names:
                if name != MANIFEST and name not in files:
                    problems.append(f"{name}: not in the manifest")
            for name, info in files.items():
                if name not in names:
                    problems.append(f"{name}: missing")
                    continue
                h = hashlib.sha256()
                size = 0
                try:
                    with zf.open(name) as fh:  # zipfile checks the CRC at the end
                        for chunk in iter(lambda fh=fh: fh.read(1 << 20), b""):
                            h.update(chunk)
                            size += len(chunk)
                except (zipfile.BadZipFile, OSError, ValueError) as exc:
                    problems.append(f"{name}: {exc}")
                    continue
                if h.hexdigest() != info.get("sha256") or size != info.get("size", size):
                    problems.append(f"{name}: SHA-256 mismatch")
    except (OSError, zipfile.BadZipFile, ValueError) as exc:
        problems.append(f"not a readable zip: {exc}")
    return problems


def verify_all(home: CrmHome, *, state: bool = True) -> list[tuple[BackupInfo, list[str]]]:
    """Verify every backup; each with its problems (empty list when sound)."""
    return [(b, verify(b.path)) for b in list_backups(home, state=state)]


# ------------------------------------------------------------------ restoring


@dataclass
class RestoreResult:
    backup: Path
    restored: list[Path]
    pre_backup: Path


def find_backup(home: CrmHome, backup_id: str) -> BackupInfo:
    """A backup by its id (file name without .zip), a unique prefix, or a path."""
    wanted = backup_id.strip()
    if wanted.endswith(".zip"):
        wanted = Path(wanted).stem
    all_ = list_backups(home)
    exact = [b for b in all_ if b.id == wanted]
    if exact:
        return exact[0]
    pref = [b for b in all_ if b.id.startswith(wanted)] if wanted else []
    if len(pref) == 1:
        return pref[0]
    if not pref:
        raise CrmError(t(f"没有备份 {backup_id!r}；请看 crm backup list", f"no backup {backup_id!r}; see crm backup list"))
    raise CrmError(f"{backup_id!r} matches {len(pref)} backups; give more of the id")


def _safe_member(base: Path, name: str) -> Path:
    pp = PurePosixPath(name)
    if pp.is_absolute() or ".." in pp.parts or not pp.parts or ":" in name or "\\" in name:
        raise CrmError(t(f"拒绝备份中的文件 {name!r}", f"refusing backup member {name!r}"))
    return base.joinpath(*pp.parts)


def restore(home: CrmHome, backup_id: str, *, who: str = "admin") -> RestoreResult:
    """Verify the backup, back up the current state, then restore each file atomically."""
    info = find_backup(home, backup_id)
    problems = verify(info.path)
    if problems:
        raise CrmError(t(f"备份 {info.id} 已损坏（{problems[0]}），未恢复任何内容", f"backup {info.id} is damaged ({problems[0]}); nothing restored"))
    with zipfile.ZipFile(info.path) as zf:
        manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
        members = [(n, zf.read(n)) for n in manifest["files"]]
    restored: list[Path] = []
    if info.kind == "state":
        pre = create_state_backup(home, "pre-restore")
        base = home.state
        for name, data in members:
            target = _safe_member(base, name)
            target.parent.mkdir(parents=True, exist_ok=True)
            if data[:16] == SQLITE_MAGIC:
                for extra in ("-wal", "-shm"):
                    Path(str(target) + extra).unlink(missing_ok=True)
            atomic_write_bytes(target, data)
            if os.name == "posix":
                os.chmod(target, 0o600)
            restored.append(target)
    else:
        allowed = {home.master.name, HOME_FILE}
        ensure_unlocked(home.master, home.lang)
        pre = create_home_backup(home, "pre-restore")
        for name, data in members:
            if name not in allowed:
                if len(members) == 1:  # a pre-write backup of a master with another name
                    name = home.master.name
                else:
                    continue
            target = home.root / name
            atomic_write_bytes(target, data)
            restored.append(target)
            if target == home.master:  # shared mode: a restore is the engine's write
                from .apply.state import record_engine_write

                record_engine_write(home.state, target, action="backup.restore", who=who)
    audit.record(home.state, who, "backup.restore", backup=info.id, pre_backup=pre.name,
                 files=[p.name for p in restored])
    return RestoreResult(backup=info.path, restored=restored, pre_backup=pre)


# ------------------------------------------------------------------ retention


def _protected(reason: str) -> bool:
    r = reason.strip().lower()
    return any(r == p or r.startswith(p + "-") for p in PROTECTED_REASONS)


def _keep(backups: list[BackupInfo], r: Retention, now: dt.datetime | None = None) -> set[Path]:
    now = now or dt.datetime.now(dt.UTC)
    ordered = sorted(backups, key=lambda b: b.created, reverse=True)
    keep = {b.path for b in ordered[:max(0, r.keep_last)]}
    recent = now - dt.timedelta(hours=max(0, r.recent_hours))
    oldest = now - r.period
    for b in ordered:
        if b.created >= recent or (_protected(b.reason) and b.created >= oldest):
            keep.add(b.path)
    for count, key in ((r.daily, lambda d: d.date()),
                       (r.weekly, lambda d: d.isocalendar()[:2]),
                       (r.monthly, lambda d: (d.year, d.month))):
        seen: list = []
        for b in ordered:
            k = key(b.created.astimezone())
            if k in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(k)
            keep.add(b.path)
    return keep


def prune(home: CrmHome, retention: Retention | None = None, *, state: bool = True,
          dry_run: bool = False, now: dt.datetime | None = None) -> list[Path]:
    """Delete backups outside the retention policy (home and state separately)."""
    r = retention or Retention()
    removed: list[Path] = []
    everything = list_backups(home, state=state)
    for kind in ("home", "state"):
        group = [b for b in everything if b.kind == kind and b.readable]
        keep = _keep(group, r, now)
        for b in group:
            if b.path not in keep:
                if not dry_run:
                    try:
                        b.path.unlink()
                    except OSError:
                        continue
                removed.append(b.path)
    return removed
