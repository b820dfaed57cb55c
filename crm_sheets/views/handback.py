"""What a person's last hand-back left undone, kept for the Issues sheet of their next copy.

A merge (by the watcher, `crm views merge` or the portal) records its rejected changes
and conflicts per audience (an account, or a department) in the private state folder;
the views builder lists them in the next copy's Issues sheet, so the person sees which
cells did not land and why where they work (issue 13.15). Each hand-back replaces the
previous one's list: a clean hand-back clears it.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from .. import safe_text
from ..findings import Finding
from ..home import CrmHome
from .common import Audience

HANDBACK_FILE = "views-handback.json"
MAX_KEPT = 200  # findings kept per audience (a copy's Issues sheet, not an archive)


def _path(home: CrmHome) -> Path:
    return Path(home.state) / HANDBACK_FILE


def _load(home: CrmHome) -> dict[str, Any]:
    try:
        data = json.loads(_path(home).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def audience_key(account: str | None, department: str | None) -> str:
    """The key of an audience: its account, or @department."""
    return account if account else f"@{department or '?'}"


def record_handback(home: CrmHome, result: Any) -> None:
    """Remember the rejected changes and conflicts of one (not refused) merge."""
    from ..writeback.atomic import atomic_write_bytes

    if getattr(result, "refused", False) or getattr(result, "dry_run", False):
        return
    key = audience_key(getattr(result, "account", None), getattr(result, "department", None))
    items = [*getattr(result, "rejected", []), *getattr(result, "conflicts", [])][:MAX_KEPT]
    data = _load(home)
    if not items and key not in data:
        return
    if items:
        data[key] = {"at": dt.datetime.now().isoformat(timespec="seconds"),
                     "file": Path(getattr(result, "view", "")).name,
                     "findings": [_safe(f.to_dict()) for f in items]}
    else:
        data.pop(key, None)
    atomic_write_bytes(_path(home), json.dumps(data, ensure_ascii=False).encode("utf-8"))


def _safe(d: dict[str, Any]) -> dict[str, Any]:
    d = dict(d)
    d["message"] = safe_text.redact(str(d.get("message") or ""))
    return d


def handback_findings(home: CrmHome, aud: Audience) -> tuple[str, str, list[Finding]]:
    """(when, file name, findings) of the audience's last hand-back with reasons, or
    ("", "", []) when there is none."""
    entry = _load(home).get(audience_key(aud.account, aud.department))
    if not isinstance(entry, dict):
        return "", "", []
    out = []
    for d in entry.get("findings") or []:
        try:
            out.append(Finding(sheet=d["sheet"], row=d.get("row"), column=d.get("column"),
                               code=d["code"], severity=d.get("severity", "error"),
                               message=d.get("message", ""), customer_id=d.get("customer_id")))
        except (KeyError, TypeError):
            continue
    return str(entry.get("at") or ""), str(entry.get("file") or ""), out
