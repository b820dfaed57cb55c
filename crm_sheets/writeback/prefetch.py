"""Inflate (and patch) the sheets a write will patch ahead of time, on a core that would idle.

Apply knows which sheets it will patch long before it writes (validation comes in
between); inflating their XML is seconds of zlib work that runs without the GIL. Given
the cells to set, the prefetch also patches those sheets and deflates them
(`xlsxpatch.patch_ahead`): the write takes them when it sets exactly those cells and puts
no formats on those sheets, else patches them itself from the inflated XML. The prefetch
reads the whole file once and uses it only if its SHA-256 is the one the caller read the
workbook with: `safe_patch` has already checked that the file on disk still has that
hash, so the prefetched parts are exactly what the patcher would read.

Given `backup=(folder, reason)`, the same bytes are also written as the write's backup
(`backups.backup_bytes`, the format `create_backup` writes) on a thread of their own:
`safe_patch` takes it instead of reading and copying the file again under the writer's
lock (it still checks the backup's hash against the file before it writes); a backup
not taken is removed (`close`).

A sheet patched ahead is not kept inflated (~320 MB of XML at 100k customers): when the
write cannot take the patched sheet (new formats on it), the patcher inflates it from
the file again, as it did before the prefetch.

`SheetPrefetch.early(path, sha, first)` starts before the cells are known (apply: right
after the read, while its rules run on the main thread and a core idles): it reads the
file and inflates the sheet `first` (the one the patch starts with), then waits for
`give(sheets, cells, backup)`; `close()` without `give` ends it.
"""

from __future__ import annotations

import hashlib
import io
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from zipfile import ZipFile

from .backups import backup_bytes
from .xlsxpatch import CellKey, PatchAhead, _read_part, _resolve_keys, patch_ahead, read_package


class SheetPrefetch:
    """Inflated sheet parts of one file state, read on a background thread."""

    def __init__(self, path: Path, sha256: str, sheets: list[str],
                 cells: Mapping[CellKey, Any] | None = None,
                 backup: tuple[Path, str] | None = None, *, first: str | None = None,
                 wait_for_cells: bool = False) -> None:
        self.sha256 = sha256
        self._path, self._sheets = Path(path), list(sheets)
        self._cells = cells
        self._parts: dict[str, bytes] = {}
        self._ahead: PatchAhead | None = None
        self._backup_to = backup
        self._backup: Path | None = None
        self._backup_thread: threading.Thread | None = None
        self._backup_known = threading.Event()  # set once _backup_thread is started or not
        self._hurry = threading.Event()  # the write waits: deflate the sheets side by side
        self._first = first  # early(): the sheet inflated before give()
        self._go = threading.Event() if wait_for_cells else None
        self._cancelled = False
        self._thread = threading.Thread(target=self._run, name="crm-prefetch", daemon=True)
        self._thread.start()

    @classmethod
    def early(cls, path: Path, sha256: str, first: str | None) -> SheetPrefetch:
        """A prefetch that inflates `first` now and the rest once `give` brings the cells."""
        return cls(path, sha256, [], first=first, wait_for_cells=True)

    def give(self, sheets: list[str], cells: Mapping[CellKey, Any],
             backup: tuple[Path, str] | None = None) -> None:
        """An early prefetch's sheets, cells and backup (as the constructor takes them)."""
        assert self._go is not None
        self._sheets, self._cells, self._backup_to = list(sheets), cells, backup
        self._go.set()

    def _write_backup(self, data: bytes) -> None:
        assert self._backup_to is not None
        try:
            self._backup = backup_bytes(self._path, data, *self._backup_to)
        except Exception:  # noqa: BLE001 - the write backs up the file itself
            self._backup = None

    def _run(self) -> None:
        try:
            self._prefetch()
        finally:
            self._backup_known.set()

    def _prefetch(self) -> None:
        try:
            data = self._path.read_bytes()
            if hashlib.sha256(data).hexdigest() != self.sha256:
                return  # changed since it was read: the write will refuse anyway
            with ZipFile(io.BytesIO(data)) as zf:
                pkg = read_package(zf)
                if self._go is not None:  # early(): the first sheet, then wait for give()
                    if self._first is not None:
                        part = pkg.sheets.get(self._first)
                        if part is not None:
                            self._parts[part] = _read_part(zf, part)
                    self._go.wait()
                    if self._cancelled:
                        self._parts = {}
                        return
                if self._backup_to is not None:
                    self._backup_thread = threading.Thread(
                        target=self._write_backup, args=(data,), name="crm-backup",
                        daemon=True)
                    self._backup_thread.start()
                self._backup_known.set()
                del data
                if self._cells:
                    try:
                        # it inflates each sheet as it goes, the next one once the last
                        # one is deflated, or at once when the write waits (_pace); the
                        # deflates finish before the pool closes: take() waits
                        with ThreadPoolExecutor(max_workers=2) as pool:
                            self._ahead = patch_ahead(zf, pkg, self._cells, self._parts, pool,
                                                      keep=False, pace=self._pace)
                    except Exception:  # noqa: BLE001 - the write patches them itself
                        self._ahead = None
                    if self._ahead is not None:  # patched: not kept inflated (see above)
                        for part in self._ahead.parts:
                            self._parts.pop(part, None)
                done = set(self._ahead.parts) if self._ahead is not None else set()
                wanted = set()
                for sheet in self._sheets:
                    tab = _resolve_keys(pkg, [sheet]).get(sheet, sheet)  # 'Customers' → 客户
                    part = pkg.sheets.get(tab)
                    if part is not None and part not in done:
                        wanted.add(part)
                        if part not in self._parts:
                            self._parts[part] = _read_part(zf, part)
                for part in set(self._parts) - wanted:  # inflated early, not asked for
                    del self._parts[part]
        except Exception:  # noqa: BLE001 - only an optimisation: the patcher reads itself
            self._parts = {}
            self._ahead = None

    def _pace(self, deflating: Future[Any]) -> None:
        """Go on to the next sheet once this one is deflated (one sheet's XML in memory),
        or at once when the write is waiting (both cores then)."""
        while not deflating.done() and not self._hurry.is_set():
            self._hurry.wait(0.02)

    def take(self, sha256: str | None) -> dict[str, bytes]:
        """The parts (part name -> XML) if they belong to `sha256`, else {}; once."""
        return self.take_all(sha256)[0]

    def take_all(self, sha256: str | None) -> tuple[dict[str, bytes], PatchAhead | None]:
        """(`take`'s parts, the sheets patched ahead or None) if they belong to `sha256`;
        once."""
        self._release()
        self._thread.join()
        parts, self._parts = self._parts, {}
        ahead, self._ahead = self._ahead, None
        if sha256 is None or sha256 != self.sha256:
            return {}, None
        return parts, ahead

    def take_backup(self, sha256: str | None, folder: Path) -> Path | None:
        """The backup written from the bytes read (a zip in `folder` holding the file of
        hash `sha256`), or None (then the write backs up the file itself); once. Waits
        for the backup, not for the sheets."""
        self._release()
        self._backup_known.wait()
        if self._backup_thread is not None:
            self._backup_thread.join()
        backup, self._backup = self._backup, None
        if backup is not None and (sha256 is None or sha256 != self.sha256
                                   or backup.parent != Path(folder)):
            backup.unlink(missing_ok=True)
            return None
        return backup

    def _release(self) -> None:
        """The write waits: the deflates go side by side; an early prefetch never given
        its cells stops (nothing to patch ahead)."""
        self._hurry.set()
        if self._go is not None and not self._go.is_set():
            self._cancelled = True
            self._go.set()

    def close(self) -> None:
        """Remove the backup if no write took it (apply failed or was refused first); an
        early prefetch never given its cells stops."""
        self._release()
        self._thread.join()
        if self._backup_thread is not None:
            self._backup_thread.join()
        backup, self._backup = self._backup, None
        if backup is not None:
            backup.unlink(missing_ok=True)
