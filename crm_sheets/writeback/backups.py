"""Backups taken before every engine write.

Format (version 1), shared with `crm backup list|verify|restore|prune`:

- one zip per backup in the backups folder (the home's `backups/`, or a `backups/`
  folder beside a workbook that is not in a home), named
  `<workbook stem>-<YYYYMMDD-HHMMSS-ffffff>-<reason>.zip` (UTC time; reason is a short
  slug such as `apply`, `merge-customers`, `import`);
- members, stored uncompressed (an xlsx is already compressed):
  `<workbook file name>`: the master's bytes exactly as they were;
  `manifest.json`: `{"format": 1, "created": ISO-8601 UTC, "reason": str,
  "source": absolute path of the workbook, "files": {member name: {"sha256": hex,
  "size": bytes}}}` covering every other member.
- written to a temporary name, fsynced, then renamed: a crash never leaves a
  half-written zip under a backup name.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import zipfile
from pathlib import Path

from ..errors import CrmError
from ..i18n import t
from .atomic import atomic_write

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def _slug(reason: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", reason).strip("-")[:40] or "backup"


def default_backups_dir(workbook: Path) -> Path:
    """`backups/` beside a workbook (the home's backups folder when it is a home's master)."""
    return Path(workbook).resolve().parent / "backups"


def new_backup_path(folder: Path, stem: str, reason: str, now: dt.datetime) -> Path:
    """A fresh `<stem>-<UTC stamp>-<reason>.zip` name in `folder` (never an existing one)."""
    stamp = now.strftime("%Y%m%d-%H%M%S-%f")
    target = Path(folder) / f"{stem}-{stamp}-{_slug(reason)}.zip"
    n = 1
    while target.exists():
        n += 1
        target = Path(folder) / f"{stem}-{stamp}-{_slug(reason)}-{n}.zip"
    return target


def write_backup_zip(target: Path, members: list[tuple[str, bytes]], manifest: dict) -> Path:
    """Write the members plus a manifest with each member's SHA-256, atomically."""
    manifest["files"] = {name: {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                         for name, data in members}

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            for name, data in members:
                zf.writestr(name, data)
            zf.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2))

    target.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(target, write)


def create_backup(workbook_path: Path, backups_dir: Path, reason: str) -> Path:
    """Copy the workbook into a timestamped backup zip with a SHA-256 manifest."""
    workbook_path = Path(workbook_path)
    try:
        data = workbook_path.read_bytes()
    except OSError as exc:
        raise CrmError(t(f"无法备份 {workbook_path}：{exc}", f"cannot back up {workbook_path}: {exc}")) from exc
    return backup_bytes(workbook_path, data, backups_dir, reason)


def backup_bytes(workbook_path: Path, data: bytes, backups_dir: Path, reason: str) -> Path:
    """`create_backup` of the workbook's bytes read beforehand (`data`)."""
    workbook_path = Path(workbook_path)
    now = dt.datetime.now(dt.UTC)
    manifest = {
        "format": FORMAT_VERSION,
        "created": now.isoformat(timespec="microseconds"),
        "reason": reason,
        "source": str(workbook_path.resolve()),
    }
    target = new_backup_path(Path(backups_dir), workbook_path.stem, reason, now)
    return write_backup_zip(target, [(workbook_path.name, data)], manifest)


def read_manifest(backup: Path) -> dict:
    with zipfile.ZipFile(backup) as zf:
        return json.loads(zf.read(MANIFEST).decode("utf-8"))


def verify_backup(backup: Path) -> bool:
    """True when every member listed in the manifest is present with its SHA-256."""
    try:
        with zipfile.ZipFile(backup) as zf:
            manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
            for name, info in manifest["files"].items():
                if hashlib.sha256(zf.read(name)).hexdigest() != info["sha256"]:
                    return False
        return True
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        return False


def restore_file(backup: Path, workbook_path: Path) -> Path:
    """Put the workbook bytes from `backup` back under `workbook_path` (atomically)."""
    with zipfile.ZipFile(backup) as zf:
        manifest = json.loads(zf.read(MANIFEST).decode("utf-8"))
        name = next(iter(manifest["files"]))
        data = zf.read(name)
    if hashlib.sha256(data).hexdigest() != manifest["files"][name]["sha256"]:
        raise CrmError(t(f"备份 {backup.name} 已损坏，未恢复", f"backup {backup.name} is damaged; not restored"))

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    return atomic_write(Path(workbook_path), write)
