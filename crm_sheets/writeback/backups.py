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
from .atomic import atomic_write

MANIFEST = "manifest.json"
FORMAT_VERSION = 1


def _slug(reason: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", reason).strip("-")[:40] or "backup"


def default_backups_dir(workbook: Path) -> Path:
    """`backups/` beside a workbook (the home's backups folder when it is a home's master)."""
    return Path(workbook).resolve().parent / "backups"


def create_backup(workbook_path: Path, backups_dir: Path, reason: str) -> Path:
    """Copy the workbook into a timestamped backup zip with a SHA-256 manifest."""
    workbook_path = Path(workbook_path)
    try:
        data = workbook_path.read_bytes()
    except OSError as exc:
        raise CrmError(f"cannot back up {workbook_path}: {exc}") from exc
    backups_dir = Path(backups_dir)
    backups_dir.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC)
    stamp = now.strftime("%Y%m%d-%H%M%S-%f")
    target = backups_dir / f"{workbook_path.stem}-{stamp}-{_slug(reason)}.zip"
    n = 1
    while target.exists():
        n += 1
        target = backups_dir / f"{workbook_path.stem}-{stamp}-{_slug(reason)}-{n}.zip"
    manifest = {
        "format": FORMAT_VERSION,
        "created": now.isoformat(timespec="microseconds"),
        "reason": reason,
        "source": str(workbook_path.resolve()),
        "files": {workbook_path.name: {"sha256": hashlib.sha256(data).hexdigest(),
                                       "size": len(data)}},
    }

    def write(tmp: Path) -> None:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as zf:
            zf.writestr(workbook_path.name, data)
            zf.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2))

    return atomic_write(target, write)


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
        raise CrmError(f"backup {backup.name} is damaged; not restored")

    def write(tmp: Path) -> None:
        tmp.write_bytes(data)

    return atomic_write(Path(workbook_path), write)
