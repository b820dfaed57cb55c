"""Classify file-system events: which path a save concerns and what it means.

Editors never modify a workbook in place (FACTS "How editors save"): Excel writes an
8-hex temp, deletes the original and renames the temp over it; LibreOffice renames a
`lu*.tmp` over the file and recreates its `.~lock.…#` around the save; WPS uses `~$`
owner files and `~WPS*.tmp`. With inotify a save is therefore usually a *moved* event
whose destination is the workbook's name; polling reports deleted + created. Every
event is reduced to the paths it touches (a move touches both ends) and each path to
one of: the master, an inbox drop, a lock file of the master (lock churn matters for
"may we write now?"), or noise.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from pathlib import Path

from ..writeback.locks import is_editor_artifact

INBOX_SUFFIXES = (".xlsx", ".xlsm")


class Kind(enum.Enum):
    MASTER = "master"
    MASTER_LOCK = "master_lock"
    INBOX = "inbox"
    NOISE = "noise"


@dataclass(frozen=True)
class Touch:
    """One path an event touched, classified."""

    kind: Kind
    path: Path


def lock_names(master_name: str) -> set[str]:
    """Owner/lock file names that would mark the master as open (see writeback.locks)."""
    names = {f"~${master_name}", f".~lock.{master_name}#", f".~{master_name}"}
    if len(master_name) > 2:
        names.add(f"~${master_name[2:]}")
    return names


def _same(a: Path, b: Path) -> bool:
    return a.name == b.name and str(a.parent) == str(b.parent)


class Classifier:
    """Turns raw event paths into `Touch`es for one home (master + inbox folder)."""

    def __init__(self, master: Path, inbox: Path) -> None:
        self.master = Path(master)
        self.inbox = Path(inbox)
        self._locks = lock_names(self.master.name)

    def classify(self, path: str | Path) -> Touch:
        p = Path(path)
        name = p.name
        if str(p.parent) == str(self.master.parent):
            if name == self.master.name:
                return Touch(Kind.MASTER, p)
            if name in self._locks:
                return Touch(Kind.MASTER_LOCK, p)
            return Touch(Kind.NOISE, p)
        if str(p.parent) == str(self.inbox):
            if is_editor_artifact(name) or name.startswith(".") \
                    or not name.lower().endswith(INBOX_SUFFIXES):
                return Touch(Kind.NOISE, p)
            return Touch(Kind.INBOX, p)
        return Touch(Kind.NOISE, p)

    def touches(self, event_type: str, src: str | Path, dest: str | Path | None = None
                ) -> list[Touch]:
        """Every meaningful path of one event (moved: both ends; noise dropped)."""
        paths = [src] if not dest else [src, dest]
        out = []
        for p in paths:
            if p in (None, ""):
                continue
            t = self.classify(p)
            if t.kind is not Kind.NOISE and t not in out:
                out.append(t)
        return out


def event_paths(event: object) -> tuple[str, str, str | None, bool]:
    """(event_type, src_path, dest_path or None, is_directory) of a watchdog event."""
    etype = getattr(event, "event_type", "")
    src = getattr(event, "src_path", "")
    dest = getattr(event, "dest_path", "") or None
    if isinstance(src, bytes):
        src = src.decode("utf-8", "surrogateescape")
    if isinstance(dest, bytes):
        dest = dest.decode("utf-8", "surrogateescape")
    return etype, src, dest, bool(getattr(event, "is_directory", False))
