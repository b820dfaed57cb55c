"""The append-only audit log in the private state folder.

One JSON object per line: when, who, what, and for cell changes sheet/row/column
old -> new. Secrets never go here (callers pass none; `record` refuses keys that
look like one).

Reading: `query(state_dir, customer=, user=, since=, until=, action=, limit=)` filters
the log for `crm audit` and the portal's admin audit page ("审计日志能查到是谁").
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from . import prohibited

AUDIT_FILE = "audit.log"
_SECRET_KEYS = {"password", "secret", "totp", "code", "token", "hash", "key"}


def audit_path(state_dir: Path) -> Path:
    return Path(state_dir) / AUDIT_FILE


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return prohibited.redact(value) if len(value) >= 13 else value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return prohibited.redact(value) if abs(value) >= 1e12 else value
    if isinstance(value, dict):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_mask(v) for v in value]
    if value is None or isinstance(value, (bool, dt.date, dt.time, dt.timedelta)):
        return value
    text = str(value)  # dates, paths, anything json's default=str would print
    masked = _mask(text)
    return masked if masked != text else value


def mask_details(details: Mapping[str, Any]) -> dict[str, Any]:
    """An event's fields with every resident ID / card number masked (old → new values
    of a cell change included), so the audit log and its backups never hold one."""
    return {k: _mask(v) for k, v in details.items()}


def record(state_dir: Path, who: str, action: str, **details: Any) -> dict[str, Any]:
    """Append one event; flushed and fsynced so a crash cannot lose it."""
    bad = _SECRET_KEYS.intersection(k.lower() for k in details)
    if bad:
        raise ValueError(f"refusing to audit secret-looking fields: {sorted(bad)}")
    event = {"at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "who": _mask(who),
             "action": action, **mask_details(details)}
    line = json.dumps(event, ensure_ascii=False, default=str) + "\n"
    path = audit_path(state_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        os.write(fd, line.encode("utf-8"))
        os.fsync(fd)
    finally:
        os.close(fd)
    return event


def read(state_dir: Path) -> list[dict[str, Any]]:
    path = audit_path(state_dir)
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


# ------------------------------------------------------------------ reading (crm audit, portal)

# Keys of an event that name a person: who did it, on whose behalf, whose save.
PERSON_KEYS = ("who", "account", "saved_by", "user", "by")


def iter_events(state_dir: Path) -> Iterator[dict[str, Any]]:
    """Every event of the log in the order written; a torn or foreign line is skipped
    (a crash mid-append must not make the whole log unreadable)."""
    path = audit_path(state_dir)
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return
    with fh:
        for line in fh:
            line = line.strip()
            if not line:
                continue
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("at"), str):
                yield event


def event_time(event: Mapping[str, Any]) -> dt.datetime | None:
    """The event's time as an aware datetime (the log writes UTC), None if unreadable."""
    try:
        at = dt.datetime.fromisoformat(str(event.get("at")))
    except ValueError:
        return None
    return at if at.tzinfo is not None else at.replace(tzinfo=dt.UTC)


def _bound(value: dt.date | dt.datetime | str | None, end: bool) -> dt.datetime | None:
    """A filter bound as an aware datetime: a date means the whole local calendar day."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        value = parse_when(value)
    if isinstance(value, dt.datetime):
        value = value if value.tzinfo is not None else value.astimezone()
        return value + dt.timedelta(microseconds=1) if end else value  # inclusive
    day = value + dt.timedelta(days=1) if end else value
    return dt.datetime.combine(day, dt.time()).astimezone()


def parse_when(text: str) -> dt.date | dt.datetime:
    """'2026-11-28' (a day) or '2026-11-28 09:30' / ISO datetime; ValueError otherwise."""
    text = text.strip()
    if len(text) <= 10:
        return dt.date.fromisoformat(text)
    return dt.datetime.fromisoformat(text)


def _norm(value: Any) -> str:
    return str(value).strip().casefold() if value is not None else ""


def query(state_dir: Path, *, customer: str | None = None,
          user: str | Iterable[str] | None = None,
          since: dt.date | dt.datetime | str | None = None,
          until: dt.date | dt.datetime | str | None = None,
          action: str | None = None, limit: int | None = None) -> list[dict[str, Any]]:
    """The audit events matching every filter given, oldest first (a stable API: `crm audit`
    and the portal's admin audit page both call it; callers check the reader's rights).

    - `customer`: a customer ID (客户编号); matches events whose `customer_id` is it.
    - `user`: an account name or a list of names (e.g. an account and its display name);
      matches `who` (who did it) and `account` / `saved_by` / `user` / `by` (on whose
      behalf: a merged copy's owner, a watched save's author, an account acted on).
      Case-insensitive.
    - `since` / `until`: inclusive; a date means that whole day in local time, a datetime
      (naive = local) an instant; a string is parsed by `parse_when`.
    - `action`: `apply` matches `apply` and `apply.*` (`views` matches `views.merge`).
    - `limit`: only the newest `limit` matches (still returned oldest first).

    Each event is the logged dict: `at` (UTC ISO), `who`, `action`, and for a cell change
    `sheet`, `row`, `column`, `old`, `new`, `reason`, `customer_id` — with prohibited
    numbers masked, since a log written by an older version may still hold one.
    """
    from collections import deque

    want_cust = _norm(customer) if customer else ""
    names = {user} if isinstance(user, str) else set(user or ())
    want_users = {_norm(n) for n in names if _norm(n)}
    want_action = _norm(action) if action else ""
    lo, hi = _bound(since, end=False), _bound(until, end=True)
    out: deque[dict[str, Any]] | list[dict[str, Any]] = (
        deque(maxlen=limit) if limit is not None and limit >= 0 else [])
    for event in iter_events(state_dir):
        if want_cust and _norm(event.get("customer_id")) != want_cust:
            continue
        if want_users and not any(_norm(event.get(k)) in want_users for k in PERSON_KEYS):
            continue
        if want_action:
            act = _norm(event.get("action"))
            if act != want_action and not act.startswith(want_action + "."):
                continue
        if lo is not None or hi is not None:
            at = event_time(event)
            if at is None or (lo is not None and at < lo) or (hi is not None and at >= hi):
                continue
        out.append(event)
    return [mask_details(e) for e in out]


ACTION_LABELS: dict[str, tuple[str, str]] = {
    "apply": ("应用规则", "apply"), "merge-customers": ("合并客户", "merge customers"),
    "import": ("导入", "import"), "views.merge": ("合并交回的副本", "merge a handed-back copy"),
    "watch.save": ("保存（监视发现）", "save (seen by the watcher)"),
    "watch.edit": ("直接编辑主表", "edit in the master"),
    "watch.apply": ("监视后应用规则", "apply after a save"),
    "backup.create": ("备份", "backup"), "backup.restore": ("恢复备份", "restore a backup"),
    "refused": ("被拒绝的操作", "refused"), "login": ("登录", "log in"),
    "login.failed": ("登录失败", "failed log-in"), "login.refused": ("登录被拒", "log-in refused"),
    "logout": ("退出登录", "log out"), "user.add": ("添加账户", "add account"),
    "user.role": ("修改角色", "change role"), "user.disable": ("停用账户", "disable account"),
    "user.enable": ("启用账户", "enable account"), "user.passwd": ("修改密码", "change password"),
    "user.password_set": ("设置密码", "set password"), "user.unlock": ("解锁账户", "unlock account"),
    "user.lockout": ("账户被锁定", "account locked"),
    "user.create_admin": ("创建管理员", "create admin"), "totp.enrol": ("绑定动态口令", "TOTP enrol"),
    "totp.reset": ("重置动态口令", "TOTP reset"), "export": ("导出", "export"),
    "dashboard": ("仪表盘", "dashboard"), "audit.read": ("查看审计日志", "read the audit log"),
}
_DETAIL_LABELS: dict[str, tuple[str, str]] = {
    "attempted": ("尝试", "attempted"), "role": ("角色", "role"), "backup": ("备份", "backup"),
    "pre_backup": ("恢复前备份", "backup before"), "files": ("文件", "files"),
    "changes": ("修改数", "changes"), "findings": ("问题数", "findings"),
    "saved_by": ("保存者", "saved by"), "account": ("账户", "account"),
    "workbook": ("工作簿", "workbook"), "ownership": ("越权", "outside rights"),
    "errors": ("错误", "errors"), "user": ("账户", "account"), "view": ("副本", "copy"),
    "landed": ("落地", "landed"), "rejected": ("拒绝", "rejected"),
    "conflicts": ("冲突", "conflicts"), "reason": ("原因", "reason"), "by": ("操作人", "by"),
    "filters": ("条件", "filters"), "rows": ("行数", "rows"), "format": ("格式", "format"),
    "method": ("方式", "method"), "expires": ("到期", "expires"),
    "display_name": ("显示名", "display name"), "pending_setup": ("待首次设置", "pending setup"),
    "more": ("另有", "more"), "old_role": ("原角色", "old role"), "new_role": ("新角色", "new role"),
}
_SHOWN = {"at", "who", "action", "sheet", "row", "column", "customer_id", "old", "new", "sha256",
          "summary"}
_SHEET_KEYS = {"Customers", "Followups"}


def _label(table: Mapping[str, tuple[str, str]], key: str, lang: str) -> str:
    pair = table.get(key)
    return key if pair is None else (pair[0] if lang == "zh" else pair[1])


def _value_text(value: Any, lang: str) -> str:
    from .safe_text import display, strip_controls

    text = strip_controls(display(value)).replace("\n", " ")
    if text == "":
        return "（空）" if lang == "zh" else "(empty)"
    return text if len(text) <= 60 else text[:59] + "…"


def _detail(key: str, value: Any, lang: str) -> str:
    if key == "attempted" and isinstance(value, str):  # a refused action: its name in `lang`
        from .permissions import ACTION_LABELS as REFUSED

        return _label(REFUSED, value, lang)
    if key == "expires" and isinstance(value, str):
        at = event_time({"at": value})
        return at.astimezone().strftime("%Y-%m-%d %H:%M") if at else value
    if key in ("role", "old_role", "new_role") and isinstance(value, str):
        from .permissions import ROLE_LABELS

        return _label(ROLE_LABELS, value, lang)
    return _value_text(value, lang)


def describe(event: Mapping[str, Any], lang: str = "zh") -> dict[str, str]:
    """One audit event as the texts a person reads (table, CSV, the portal's audit page):
    `time` (local), `who`, `action`, `where` (sheet, row, column), `customer_id`, `change`
    (old → new for a cell, else the event's details), all in `lang`."""
    from .schema import CUSTOMERS, FOLLOWUPS, sheet_title

    at = event_time(event)
    who = str(event.get("who") or "")
    if who == "engine":
        who = "引擎" if lang == "zh" else "engine"
    where: list[str] = []
    sheet = event.get("sheet")
    if isinstance(sheet, str) and sheet and sheet != "*":
        where.append(sheet_title(sheet, lang) if sheet in _SHEET_KEYS | {"Issues"} else sheet)
    if isinstance(event.get("row"), int):
        where.append(f"第 {event['row']} 行" if lang == "zh" else f"row {event['row']}")
    column = event.get("column")
    if isinstance(column, str) and column and column != "*":
        schema = FOLLOWUPS if sheet == "Followups" else CUSTOMERS
        where.append(schema.field(column).header(lang) if column in schema.by_key else column)
    if "old" in event or "new" in event:
        change = f"{_value_text(event.get('old'), lang)} → {_value_text(event.get('new'), lang)}"
    else:
        sep = "：" if lang == "zh" else ": "
        parts = [f"{_label(_DETAIL_LABELS, k, lang)}{sep}{_detail(k, v, lang)}"
                 for k, v in event.items() if k not in _SHOWN]
        change = "；".join(parts) if lang == "zh" else "; ".join(parts)
    return {"time": at.astimezone().strftime("%Y-%m-%d %H:%M:%S") if at else str(event.get("at")),
            "who": who, "action": _label(ACTION_LABELS, str(event.get("action") or ""), lang),
            "where": " ".join(where), "customer_id": str(event.get("customer_id") or ""),
            "change": change}
