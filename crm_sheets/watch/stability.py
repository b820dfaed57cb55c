"""Is a saved file finished? Same size, mtime and content hash across two checks, readable.

Editors (and copies over a share) land a file in steps; acting on a half-written
file would report nonsense or, worse, write back over a save in progress. A file is
*stable* when two probes `settle` seconds apart agree on (size, mtime, sha256) and
its bytes look like a complete xlsx (a zip whose central directory reads).
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Probe:
    size: int
    mtime_ns: int
    sha256: str


def probe(path: Path) -> Probe | None:
    """(size, mtime, sha256) of a file, or None when it is missing or unreadable now."""
    try:
        st = os.stat(path)
        h = hashlib.sha256()
        with open(path, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        st2 = os.stat(path)
    except OSError:
        return None
    if (st.st_size, st.st_mtime_ns) != (st2.st_size, st2.st_mtime_ns):
        return None  # changed while we read it
    return Probe(st2.st_size, st2.st_mtime_ns, h.hexdigest())


def quick_stat(path: Path) -> tuple[int, int] | None:
    """(size, mtime_ns) without reading the file (the periodic rescan)."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def incomplete_reason(path: Path) -> str | None:
    """None when `path` reads as a complete zip (xlsx); else a short reason."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        return f"unreadable: {exc.strerror or exc}"
    if not data:
        return "empty file"
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            if not zf.namelist():
                return "empty zip"
    except zipfile.BadZipFile as exc:
        return f"not a complete xlsx ({exc})"
    return None


class Settle:
    """Two-probe stability check for one path: call `check()` until it says stable.

    `check()` returns "stable", "changing" (probe again after `settle` s) or "missing".
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.last: Probe | None = None

    def check(self) -> str:
        now = probe(self.path)
        if now is None:
            self.last = None
            return "missing"
        if self.last is not None and now == self.last:
            return "stable"
        self.last = now
        return "changing"

    def reset(self) -> None:
        self.last = None
