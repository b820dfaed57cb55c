"""Lists › 负责人 and 客服人员 from the home's accounts (issue 13.5).

The accounts are the source of who may own customers and who answers for service:
an enabled sales or manager account's display name is an owner (负责人), an enabled
service account's a 客服人员. Admin and marketing accounts are neither. Names the team
typed into the Lists without an account (a colleague not yet given one) are left alone;
a name that belongs to an account follows the account: added when it is enabled in one of
those roles, removed when it is disabled or moves to another role.

`crm user add|role|disable|enable` write the master's Lists right away (`sync_master`),
and `crm apply` keeps them in step (`lists_cells`), both through `writeback` like every
engine cell, so the owner rule catches 王晓明 typed for the account 王小明.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .home import CrmHome
from .model import Workbook

OWNER_ROLES = frozenset({"sales", "manager"})
SERVICE_ROLES = frozenset({"service"})
STAFF_LISTS = ("owners", "service")


def from_accounts(home: CrmHome) -> tuple[dict[str, list[str]], set[str]]:
    """({"owners": [...], "service": [...]} from enabled accounts, every account's names)."""
    from . import accounts

    users = accounts.list_users(home) if accounts.has_accounts(home) else []
    wanted: dict[str, list[str]] = {"owners": [], "service": []}
    known: set[str] = set()
    for u in users:
        display = (u.display_name or u.name).strip()
        known |= {display, u.name}
        if u.disabled:
            continue
        key = "owners" if u.role in OWNER_ROLES else "service" if u.role in SERVICE_ROLES else None
        if key and display not in wanted[key]:
            wanted[key].append(display)
    return wanted, known


def staff_lists(current: dict[str, list[str]], home: CrmHome) -> dict[str, list[str]]:
    """The owners/service columns kept in step with the accounts (order kept, new at the end)."""
    wanted, known = from_accounts(home)
    out: dict[str, list[str]] = {}
    for key in STAFF_LISTS:
        have = [str(v) for v in current.get(key, [])]
        kept = [v for v in have if v not in known or v in wanted[key]]
        out[key] = list(dict.fromkeys(kept + [v for v in wanted[key] if v not in kept]))
    return out


def _lists_layout(path: Path, wb: Workbook) -> tuple[str, dict[str, tuple[int, list[Any]]]] | None:
    """(Lists tab, key -> (column, cells below the header)) of the master, None without one."""
    import python_calamine as pc

    from .reader import canonical_sheets, norm_header, read_sheet_rows
    from .schema import LIST_COLUMNS, SHEET_LISTS

    tab = canonical_sheets(wb.sheet_names, wb.meta).get(SHEET_LISTS)
    if tab is None or not Path(path).is_file():
        return None
    cwb = pc.CalamineWorkbook.from_path(str(path))
    try:
        rows = read_sheet_rows(cwb, tab, Path(path))
    finally:
        cwb.close()
    if not rows:
        return None
    names = {}
    for key in STAFF_LISTS:
        zh, en = LIST_COLUMNS[key]
        names.update({norm_header(zh): key, norm_header(en): key, norm_header(key): key})
    cols: dict[str, tuple[int, list[Any]]] = {}
    for i, head in enumerate(rows[0]):
        key = names.get(norm_header(head)) if isinstance(head, str) else None
        if key and key not in cols:
            cols[key] = (i, [r[i] if i < len(r) else None for r in rows[1:]])
    return tab, cols


def lists_cells(path: Path, wb: Workbook, home: CrmHome | None
                ) -> tuple[dict[tuple[str, int, int], Any], list[dict[str, Any]]]:
    """Cells that bring the master's 负责人/客服人员 columns in step with the accounts, and
    their audit events; updates `wb.lists` so validation judges owners against them.
    Nothing when the home has no accounts or the Lists sheet lacks the column."""
    if home is None:
        return {}, []
    from . import accounts

    if not accounts.has_accounts(home):
        return {}, []
    new = staff_lists(wb.lists, home)
    if all(new[k] == list(wb.lists.get(k, [])) for k in STAFF_LISTS):
        return {}, []
    layout = _lists_layout(path, wb)
    if layout is None:
        return {}, []
    tab, cols = layout
    cells: dict[tuple[str, int, int], Any] = {}
    events: list[dict[str, Any]] = []
    for key in STAFF_LISTS:
        if key not in cols or new[key] == list(wb.lists.get(key, [])):
            continue
        col, below = cols[key]
        for i in range(max(len(new[key]), len(below))):
            value = new[key][i] if i < len(new[key]) else None
            old = below[i] if i < len(below) else None
            if (old in (None, "") and value is None) or old == value:
                continue
            cells[(tab, i + 2, col)] = value
        events.append({"sheet": "Lists", "column": key, "old": list(wb.lists.get(key, [])),
                       "new": new[key], "reason": "lists.accounts"})
        wb.lists[key] = new[key]
    wb.lists["staff"] = list(dict.fromkeys([*wb.lists.get("owners", []),
                                            *wb.lists.get("service", [])]))
    return cells, events


def sync_master(home: CrmHome, *, who: str) -> bool:
    """Write the master's Lists after an account change (`crm user add|role|disable|enable`).

    True when the Lists changed. A master that cannot be written now (open in Excel,
    missing) raises the usual CrmError/Refused; the caller says the next apply does it."""
    from .apply.state import state_dir_for
    from .reader import load
    from .writeback.safe import safe_patch

    path = home.master
    if not path.is_file():
        return False
    wb = load(path)
    cells, events = lists_cells(path, wb, home)
    if not cells:
        return False
    safe_patch(path, cells, None, backups_dir=home.backups,
               state_dir=state_dir_for(path, home), who=who, action="lists.accounts",
               audit_events=events, lang=wb.lang)
    return True


__all__ = ["OWNER_ROLES", "SERVICE_ROLES", "from_accounts", "lists_cells", "staff_lists",
           "sync_master"]
