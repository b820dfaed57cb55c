"""One writer at a time for a home's master, across the portal, the watcher and the CLI.

`master_writer(state_dir)` holds an OS file lock (`fcntl.flock`, `msvcrt.locking` on
Windows) on `master-write.lock` in the private state folder, plus a per-process
re-entrant lock, so a caller can hold it across read → merge → write (the portal's
uploads) while `safe_patch` takes it again inside without deadlocking. Others wait
(up to `timeout` seconds) instead of failing: uploads arriving together queue and
all land.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from ..errors import CrmError

LOCK_NAME = "master-write.lock"
_guard = threading.Lock()
_locks: dict[str, threading.RLock] = {}
_depth: dict[str, int] = {}
_files: dict[str, int] = {}


def _rlock(key: str) -> threading.RLock:
    with _guard:
        return _locks.setdefault(key, threading.RLock())


def _os_lock(fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if os.name == "nt":  # pragma: no cover - Windows
                import msvcrt

                msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
            else:
                import fcntl

                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except OSError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)


def _os_unlock(fd: int) -> None:
    try:
        if os.name == "nt":  # pragma: no cover - Windows
            import msvcrt

            os.lseek(fd, 0, 0)
            msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)
        else:
            import fcntl

            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def master_writer(state_dir: Path, *, timeout: float = 600.0, lang: str = "zh") -> Iterator[None]:
    """Hold the home's single-writer lock (re-entrant within a thread)."""
    path = Path(state_dir) / LOCK_NAME
    key = str(path)
    rl = _rlock(key)
    if not rl.acquire(timeout=timeout):
        raise CrmError(_busy(lang))
    try:
        if _depth.get(key, 0) == 0:
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
            if not _os_lock(fd, timeout):
                os.close(fd)
                raise CrmError(_busy(lang))
            _files[key] = fd
        _depth[key] = _depth.get(key, 0) + 1
        try:
            yield
        finally:
            _depth[key] -= 1
            if _depth[key] == 0:
                _os_unlock(_files.pop(key))
    finally:
        rl.release()


def _busy(lang: str) -> str:
    return ("主工作簿正被另一项写入占用，等待超时；请稍后重试" if lang == "zh" else
            "the master is busy with another write and the wait timed out; try again shortly")
