"""Editor lock/owner files and other editor artifacts (DESIGN §6).

While a workbook is open, Excel and WPS keep an owner file `~$Name.xlsx` beside it
(Excel drops the first two characters of long names: `~$me.xlsx` for `Name.xlsx`
is also checked) and LibreOffice keeps `.~lock.Name.xlsx#`; WPS on Linux writes
`.~Name.xlsx`. Any of them means hands off. They, and the temporaries editors write
while saving (`lu*.tmp`, `~WPS*.tmp`, Excel's extension-less 8-hex names) and the
engine's own temporaries (`.crm-write-*.tmp`), are never data: the watcher and every
folder scan skip them with `is_editor_artifact`.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import WorkbookLocked

_ARTIFACT_PATTERNS = (
    re.compile(r"^~\$"),                     # Excel / WPS owner files
    re.compile(r"^\.~lock\..*#$"),           # LibreOffice lock files
    re.compile(r"^lu[0-9A-Za-z_]*\.tmp$", re.I),   # LibreOffice save temporaries
    re.compile(r"^~wps.*\.tmp$", re.I),      # WPS save temporaries
    re.compile(r"^[0-9A-F]{8}$", re.I),      # Excel save temporaries (8 hex, no extension)
    re.compile(r"^~[0-9A-F]{1,8}\.tmp$", re.I),  # Excel scratch files
    re.compile(r"^\.~(?!lock\.).+"),         # WPS (Linux) owner files
    re.compile(r"^\.crm-write-.*\.tmp$"),    # this engine's own write temporaries
)


def is_editor_artifact(name: str | Path) -> bool:
    """True for lock/owner files and save temporaries of Excel, WPS, LibreOffice and us."""
    base = Path(name).name
    return any(p.search(base) for p in _ARTIFACT_PATTERNS)


def lock_files(workbook: Path) -> list[Path]:
    """The owner/lock files that would mark `workbook` as open (existing ones only)."""
    workbook = Path(workbook)
    name, folder = workbook.name, workbook.parent
    candidates = [f"~${name}", f".~lock.{name}#", f".~{name}"]
    if len(name) > 2:
        candidates.append(f"~${name[2:]}")
    seen: list[Path] = []
    for cand in candidates:
        p = folder / cand
        if p not in seen and p.exists():
            seen.append(p)
    return seen


def _owner_from_office(data: bytes) -> str:
    """Excel/WPS owner file: byte 0 = length, ANSI name; at 54: u16 length + UTF-16 name."""
    if len(data) >= 56:
        n = int.from_bytes(data[54:56], "little")
        raw = data[56:56 + 2 * n]
        if n and len(raw) == 2 * n:
            try:
                name = raw.decode("utf-16-le").strip("\x00 ")
                if name:
                    return name
            except UnicodeDecodeError:
                pass
    if data:
        n = data[0]
        raw = data[1:1 + n]
        for enc in ("utf-8", "gbk", "latin-1"):
            try:
                name = raw.decode(enc).strip("\x00 ")
                if name:
                    return name
            except UnicodeDecodeError:
                continue
    return ""


def _owner_from_libreoffice(data: bytes) -> str:
    """`,user,host,time,url;`: the display name, else the system user, with the host."""
    fields = data.decode("utf-8", "replace").strip().rstrip(";").split(",")
    user = next((f.strip() for f in fields[:2] if f.strip()), "")
    host = fields[2].strip() if len(fields) > 2 else ""
    return f"{user}@{host}" if user and host else user or host


def lock_holder(workbook: Path) -> str | None:
    """Who holds `workbook` open: a name (or "unknown"), or None when no lock file exists."""
    for lock in lock_files(Path(workbook)):
        try:
            data = lock.read_bytes()[:4096]
        except OSError:
            return "unknown"
        if lock.name.startswith(".~lock."):
            holder = _owner_from_libreoffice(data)
        else:
            holder = _owner_from_office(data)
        return holder or "unknown"
    return None


def ensure_unlocked(workbook: Path, lang: str = "zh") -> None:
    """Raise WorkbookLocked (exit 1) if an editor holds `workbook` open."""
    holder = lock_holder(workbook)
    if holder is None:
        return
    name = Path(workbook).name
    if lang == "zh":
        raise WorkbookLocked(f"{name} 正在被 {holder} 打开（存在锁文件），未写入；请关闭后重试")
    raise WorkbookLocked(f"{name} is open in an editor by {holder} (lock file present); "
                         "nothing was written, close it and retry")
