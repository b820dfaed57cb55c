"""Atomic replace: temp file in the same folder, flush + fsync, os.replace, fsync folder.

A crash at any instant leaves either the old file or the new one under the final
name, never a torn one: the new bytes are durable before the rename, and the rename
is atomic on one file system (hence the temp file beside the target, never in /tmp).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def temp_path_for(target: Path) -> Path:
    """A fresh temporary name beside `target` (an editor artifact to the watcher)."""
    target = Path(target)
    return target.parent / f".crm-write-{secrets.token_hex(6)}.tmp"


def fsync_file(path: Path) -> None:
    """Flush a file's data to disk (read-write handle: Windows cannot commit a read-only one)."""
    fd = os.open(path, os.O_RDWR | getattr(os, "O_BINARY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a rename durable. Windows cannot open directories: there this is a no-op."""
    if os.name == "nt":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some network file systems refuse fsync on a directory
    finally:
        os.close(fd)


def atomic_write(target: Path, write: Callable[[Path], None], mode: int | None = None,
                 before_replace: Callable[[], None] | None = None) -> Path:
    """Call `write(temp)` to produce the new content, then atomically replace `target`.

    `mode` sets the new file's permission bits (e.g. the old file's); `before_replace`
    runs last before the rename (a final check that may raise). The temp file is removed
    if anything fails; the target is untouched in that case.
    """
    target = Path(target)
    tmp = temp_path_for(target)
    try:
        write(tmp)
        fsync_file(tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        if before_replace is not None:
            before_replace()
        os.replace(tmp, target)
    except BaseException:
        try:
            tmp.unlink()
        except OSError:
            pass
        raise
    fsync_dir(target.parent)
    return target


def atomic_write_bytes(target: Path, data: bytes) -> Path:
    def write(tmp: Path) -> None:
        with open(tmp, "wb") as fh:
            fh.write(data)
            fh.flush()

    return atomic_write(target, write)


def remove_stale_temps(folder: Path) -> list[Path]:
    """Delete this engine's temporaries left by a crash (never an editor's files)."""
    gone = []
    for p in Path(folder).glob(".crm-write-*.tmp"):
        try:
            p.unlink()
            gone.append(p)
        except OSError:
            pass
    return gone
