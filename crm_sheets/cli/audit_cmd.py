"""`crm audit`: who changed what, read from the audit log (admin and manager).

The filtering is `crm_sheets.audit.query` (the portal's audit page calls it too); the
texts a person reads come from `crm_sheets.audit.describe`. Output: a table in the
home's language, JSON (the logged events unchanged) or CSV (UTF-8 with BOM, formula-like
text neutralised, like every CSV the engine writes).
"""

from __future__ import annotations

import csv
import io
import sys
from pathlib import Path
from typing import Any

import click

from .. import audit
from ..errors import CrmError
from ..home import CrmHome, find_home, open_home
from ..i18n import t
from ..permissions import authorize
from ..safe_text import neutralise_csv
from ..widths import text_width
from .app import cli, echo_json

TABLE_LIMIT = 100  # a table without --limit shows the newest 100 events
COLUMNS = (("time", "时间", "Time"), ("who", "操作人", "Who"), ("action", "操作", "Action"),
           ("where", "位置", "Where"), ("customer_id", "客户编号", "Customer ID"),
           ("change", "修改（原值 → 新值）", "Change (old → new)"))


def _home(home_dir: Path | None) -> CrmHome:
    home = open_home(home_dir) if home_dir is not None else find_home()
    if home is None:
        raise CrmError(t("不在 CRM 主目录中：请进入主目录、设置 CRM_HOME 或使用 --home",
                         "not inside a CRM home: cd into one, set CRM_HOME or pass --home"))
    return home


def _when(value: str | None, option: str, lang: str) -> Any:
    if not value:
        return None
    try:
        return audit.parse_when(value)
    except ValueError as exc:
        raise CrmError(t(f"{option} 需要形如 2026-11-28 或 2026-11-28 09:30 的日期，收到的是 {value!r}",
                         f"{option} expects a date like 2026-11-28 or 2026-11-28 09:30, "
                         f"got {value!r}", lang)) from exc


def _user_names(home: CrmHome, user: str) -> list[str]:
    """The name typed and, when it is an account or a display name, both of those."""
    names = [user]
    try:
        from ..accounts import account_for_owner

        acc = account_for_owner(home, user)
    except Exception:  # noqa: BLE001 - no accounts database: match the name as typed
        acc = None
    if acc is not None:
        names += [acc.name, acc.display_name]
    return names


def _pad(text: str, width: int) -> str:
    return text + " " * max(0, width - int(text_width(text)))


def _table(rows: list[dict[str, str]], lang: str) -> str:
    heads = [zh if lang == "zh" else en for _, zh, en in COLUMNS]
    widths = [max([int(text_width(h)), *(int(text_width(r[k])) for r in rows)])
              for h, (k, _, _) in zip(heads, COLUMNS, strict=True)]
    lines = ["  ".join(_pad(h, w) for h, w in zip(heads, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(_pad(r[k], w) for (k, _, _), w in zip(COLUMNS, widths, strict=True)
                               ).rstrip())
    return "\n".join(lines)


def _csv(events: list[dict[str, Any]], lang: str) -> str:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\r\n")
    heads = [zh if lang == "zh" else en for _, zh, en in COLUMNS]
    w.writerow([*heads, t("操作代码", "action code", lang)])
    for e in events:
        d = audit.describe(e, lang)
        w.writerow([neutralise_csv(d[k]) for k, _, _ in COLUMNS]
                   + [neutralise_csv(str(e.get("action") or ""))])
    return buf.getvalue()


def _write_bom_text(text: str) -> None:
    stream = sys.stdout
    if hasattr(stream, "buffer"):  # bytes: UTF-8 with BOM whatever the console code page
        stream.flush()
        stream.buffer.write(text.encode("utf-8-sig"))
        stream.buffer.flush()
    else:
        stream.write("\ufeff" + text)


@cli.command("audit")
@click.option("--home", "home_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="The CRM home (default: CRM_HOME or the current folder).")
@click.option("--customer", default=None, metavar="ID", help="Only events about this customer ID.")
@click.option("--user", default=None, metavar="NAME",
              help="Only events by or on behalf of this account (account or display name).")
@click.option("--since", default=None, metavar="DATE",
              help="From this day (YYYY-MM-DD) or time (YYYY-MM-DD HH:MM), inclusive.")
@click.option("--until", default=None, metavar="DATE",
              help="Up to this day or time, inclusive.")
@click.option("--action", default=None, metavar="ACTION",
              help="Only this action (apply, import, views.merge, login, ...; a prefix like views matches views.*).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table",
              show_default=True, help="Output format (csv: UTF-8 with BOM, opens in Excel).")
@click.option("--limit", type=click.IntRange(min=0), default=None,
              help="Only the newest N events (a table shows the newest 100 unless given).")
def audit_cmd(home_dir: Path | None, customer: str | None, user: str | None, since: str | None,
              until: str | None, action: str | None, fmt: str, limit: int | None) -> None:
    """Read the audit log: who changed what and when (admin, manager)."""
    home = _home(home_dir)
    lang = home.lang
    actor = authorize("audit", home=home, lang=lang)
    lo, hi = _when(since, "--since", lang), _when(until, "--until", lang)
    names = _user_names(home, user.strip()) if user and user.strip() else None
    shown = limit if limit is not None else (TABLE_LIMIT if fmt == "table" else None)
    events = audit.query(home.state, customer=(customer or "").strip() or None, user=names,
                         since=lo, until=hi, action=(action or "").strip() or None,
                         limit=None if shown is None else shown + 1)
    more = shown is not None and len(events) > shown
    if more:
        events = events[1:]
    audit.record(home.state, actor.name, "audit.read", format=fmt, rows=len(events),
                 filters={k: v for k, v in (("customer", customer), ("user", user),
                                            ("since", since), ("until", until),
                                            ("action", action)) if v})
    if fmt == "json":
        echo_json(events)
        return
    if fmt == "csv":
        _write_bom_text(_csv(events, lang))
        return
    if not events:
        click.echo(t("没有符合条件的审计记录", "no audit events match", lang))
        return
    click.echo(_table([audit.describe(e, lang) for e in reversed(events)], lang))
    if more:
        click.echo(t(f"（只显示最近的 {shown} 条；用 --limit 或筛选条件查看更多）",
                     f"(showing the newest {shown}; use --limit or filters to see more)", lang))
