"""The one write path for the master workbook (DESIGN §6), used by apply, merge, import.

`safe_patch` = refuse if an editor holds the file open → back up → make sure the file
did not change since it was read → patch into a temporary file in the same folder →
fsync → check the lock and the file's hash once more (a sync client or a script saves
without a lock file) → `os.replace` → fsync the folder → re-open and verify the result
(restoring the backup if verification fails — but only while the file is still the one
written: a save that landed just after the replace is kept, never wiped) → append every
cell change to the audit log.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import zipfile
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .. import audit
from ..errors import CrmError, Refused
from ..i18n import t
from .atomic import atomic_write, remove_stale_temps
from .backups import create_backup, read_manifest
from .locks import ensure_unlocked
from .xlsxpatch import CellKey, PatchResult, SheetDress, SheetRows, patch_workbook

if TYPE_CHECKING:
    from .prefetch import SheetPrefetch


@dataclass
class WriteResult:
    path: Path
    backup: Path
    patch: PatchResult
    audited: int


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def verify_written(path: Path, patch: PatchResult) -> None:
    """Re-open the written workbook: a readable zip whose new parts inflate to the CRC-32
    they were written with (zipfile checks the CRC while reading). Parts are inflated on
    two threads (zlib runs without the GIL)."""
    from concurrent.futures import ThreadPoolExecutor

    try:
        with zipfile.ZipFile(path) as zf:
            names = set(zf.namelist())
            for part, crc in patch.part_crc.items():
                if part not in names:
                    raise CrmError(t(f"校验失败：缺少 {part}", f"verification failed: {part} is missing"))
                if zf.getinfo(part).CRC != crc:
                    raise CrmError(t(f"校验失败：{part} 与写入的内容不同", f"verification failed: {part} differs from what was written"))
            for part in patch.removed_parts:
                if part in names:
                    raise CrmError(t(f"校验失败：{part} 未被删除", f"verification failed: {part} was not removed"))
        with ThreadPoolExecutor(max_workers=2) as pool:
            list(pool.map(lambda part: _inflate_checked(path, part), patch.part_crc))
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as exc:
        raise CrmError(t(f"校验失败：{exc}", f"verification failed: {exc}")) from exc


def _inflate_checked(path: Path, part: str) -> None:
    """Read one member to its end through a handle of its own (raises on a bad CRC)."""
    with zipfile.ZipFile(path) as zf, zf.open(part) as fh:
        while fh.read(1 << 22):
            pass


def append_audit(state_dir: Path, who: str, action: str,
                 events: Iterable[Mapping[str, Any]]) -> int:
    """Append many events to the audit log (same JSONL format as `audit.record`).

    Written in batches as the events are produced (no list of them all in memory), with
    one fsync at the end.
    """
    import datetime as dt

    at = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    path = audit.audit_path(state_dir)
    fd = -1
    n = 0
    batch: list[str] = []

    def flush() -> None:
        nonlocal fd
        if not batch:
            return
        if fd < 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        view = memoryview("".join(batch).encode("utf-8"))
        while view:
            view = view[os.write(fd, view):]
        batch.clear()

    try:
        for details in events:
            bad = audit._SECRET_KEYS.intersection(k.lower() for k in details)
            if bad:
                raise ValueError(f"refusing to audit secret-looking fields: {sorted(bad)}")
            event = {"at": at, "who": who, "action": action, **audit.mask_details(details)}
            batch.append(json.dumps(event, ensure_ascii=False, default=str) + "\n")
            n += 1
            if len(batch) >= 5000:
                flush()
        flush()
        if fd >= 0:
            os.fsync(fd)
    finally:
        if fd >= 0:
            os.close(fd)
    return n


def safe_patch(path: Path, cells: Mapping[CellKey, Any] | None = None,
               replace: Mapping[str, SheetRows] | None = None, *, backups_dir: Path,
               state_dir: Path, **kw: Any) -> WriteResult:
    """`_safe_patch` under the home's single-writer lock (portal, watcher and CLI queue)."""
    from .writer import master_writer

    with master_writer(state_dir, lang=kw.get("lang", "zh")):
        return _safe_patch(path, cells, replace, backups_dir=backups_dir, state_dir=state_dir,
                           **kw)


def _safe_patch(path: Path, cells: Mapping[CellKey, Any] | None = None,
               replace: Mapping[str, SheetRows] | None = None, *, backups_dir: Path,
               state_dir: Path, who: str, action: str,
               audit_events: Iterable[Mapping[str, Any]] = (),
               expected_sha256: str | None = None, lang: str = "zh",
               prefetch: SheetPrefetch | None = None,
               dress: Mapping[str, SheetDress] | None = None,
               print_titles: Mapping[str, str] | None = None) -> WriteResult:
    """Patch the master safely; see the module docstring for the steps.

    `prefetch`: sheets inflated ahead from the file as it was read; used only together
    with `expected_sha256` (checked against the file first, and by the prefetch itself).

    `expected_sha256` is the hash of the file as it was read: if an editor saved it in
    the meantime the write is refused (exit 1) instead of overwriting their save.
    """
    path = Path(path)
    ensure_unlocked(path, lang)
    remove_stale_temps(path.parent)
    changed = (f"{path.name} 在读取后被修改，未写入；请重试" if lang == "zh" else
               f"{path.name} changed after it was read; nothing was written, retry")
    # a backup the prefetch wrote from the bytes it read (those of `expected_sha256`)
    early = prefetch.take_backup(expected_sha256, Path(backups_dir)) \
        if prefetch is not None else None
    chained = _chained_step(path, Path(backups_dir), Path(state_dir), skip=early)
    if chained is None:
        backup = early if early is not None else create_backup(path, backups_dir, action)
        base_sha = read_manifest(backup)["files"][path.name]["sha256"]
        undo_from: Path | None = None
    else:  # the next step of the same save: its backup already holds the person's save
        if early is not None:
            early.unlink(missing_ok=True)
        backup, base_sha, undo_from = chained
    fresh = chained is None

    def drop_backup() -> None:
        if fresh:
            backup.unlink(missing_ok=True)

    if expected_sha256 is not None and base_sha != expected_sha256:
        drop_backup()
        raise Refused(changed)
    mode = stat.S_IMODE(os.stat(path).st_mode)

    def last_check() -> None:
        """Right before the rename: no editor holds it, and nobody saved it while we
        patched (a sync client or a script does not leave a lock file)."""
        ensure_unlocked(path, lang)
        if file_sha256(path) != base_sha:
            drop_backup()
            raise Refused(changed)
    holder: dict[str, PatchResult] = {}
    inflated, ahead = prefetch.take_all(expected_sha256) if prefetch is not None else ({}, None)

    written: dict[str, str] = {}

    def write(tmp: Path) -> None:
        holder["patch"] = patch_workbook(path, tmp, cells, replace, inflated=inflated,
                                         dress=dress, print_titles=print_titles, ahead=ahead)
        written["sha"] = file_sha256(tmp)

    atomic_write(path, write, mode=mode, before_replace=last_check)
    patch = holder["patch"]
    try:
        verify_written(path, patch)
    except CrmError:
        _undo_or_keep_newer_save(path, backup, written["sha"], lang, undo_from)
        raise
    # the engine's copy of what it wrote and the audit lines are independent (a copy of
    # the master, an append to the log, each with its own fsync): side by side
    import threading

    failed: list[BaseException] = []

    def snapshot() -> None:
        try:
            _snapshot(state_dir, path, action, who)
        except BaseException as exc:  # noqa: BLE001 - raised below, as if run in line
            failed.append(exc)

    copier = threading.Thread(target=snapshot, name="crm-snapshot")
    copier.start()
    try:
        n = append_audit(state_dir, who, action, audit_events)
    finally:
        copier.join()
    if failed:
        raise failed[0]
    return WriteResult(path=path, backup=backup, patch=patch, audited=n)


CHAIN_SECONDS = 300


def _chained_step(path: Path, backups_dir: Path, state_dir: Path, skip: Path | None = None
                  ) -> tuple[Path, str, Path] | None:
    """(backup, sha, exact pre-write copy) when this write is the next step of one save —
    the file is byte for byte what the engine itself wrote under CHAIN_SECONDS ago (a
    hand-back's merge, then its apply) and the backup taken before that write exists —
    else None (a new backup is taken). One save, one backup; the engine's private copy of
    its last write (the shared-mode base) is the restore point if this step fails.
    `skip`: this write's own backup taken ahead (`SheetPrefetch`), not an earlier one."""
    import datetime as dt

    from ..apply.state import engine_snapshot

    snap = engine_snapshot(state_dir, path)
    if snap is None:
        return None
    try:
        at = dt.datetime.fromisoformat(snap.at)
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.UTC)
        age = (dt.datetime.now(dt.UTC) - at).total_seconds()
        if not 0 <= age <= CHAIN_SECONDS or file_sha256(path) != snap.sha256 \
                or file_sha256(snap.path) != snap.sha256:
            return None
        earlier = sorted(p for p in backups_dir.glob(f"{path.stem}-*.zip") if p != skip)
    except (OSError, ValueError):
        return None
    for candidate in reversed(earlier):
        try:
            created = dt.datetime.fromisoformat(read_manifest(candidate)["created"])
        except (OSError, KeyError, ValueError, zipfile.BadZipFile):
            continue
        if created.tzinfo is None:
            created = created.replace(tzinfo=dt.UTC)
        # `at` has whole seconds: the backup was taken at most a second after it
        if -1 <= (at - created).total_seconds() <= CHAIN_SECONDS:
            return candidate, snap.sha256, snap.path
        break
    return None


def _undo_or_keep_newer_save(path: Path, backup: Path, written_sha: str, lang: str,
                             undo_from: Path | None = None) -> None:
    """Verification failed. Restore the pre-write backup only if the file on disk is still
    the one this write produced; if someone saved over it in the moments after the
    replace, that save is the newest edit and is kept (raise Refused saying so: the
    engine's changes did not land, run again)."""
    from .backups import restore_file

    try:
        on_disk = file_sha256(path)
    except OSError:
        on_disk = None
    if on_disk is not None and on_disk != written_sha:
        raise Refused(t(f"{path.name} 在引擎写入后立即被另一次保存覆盖：已保留那次保存（未用备份还原），"
                        f"引擎的修改没有生效，请重新运行；写入前的备份：{backup.name}",
                        f"{path.name} was saved by someone else right after the engine's write: "
                        f"that save is kept (no backup restored over it) and the engine's changes "
                        f"did not land; run again. Backup from before the write: {backup.name}"))
    if undo_from is None:
        restore_file(backup, path)
        return
    data = undo_from.read_bytes()
    atomic_write(path, lambda tmp: tmp.write_bytes(data))


def _snapshot(state_dir: Path, path: Path, action: str, who: str) -> None:
    """Keep the master as the engine wrote it (shared mode compares the next save with it)."""
    from ..apply.state import forget_engine_write, record_engine_write

    try:
        record_engine_write(state_dir, path, action=action, who=who)
    except OSError:
        forget_engine_write(state_dir, path)  # no copy: better no base than a stale one
