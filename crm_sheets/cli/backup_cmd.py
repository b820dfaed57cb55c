"""`crm backup create|list|verify|restore|prune` (admin only).

create: a home backup (master + settings) and a state backup (private folder);
list: newest first; verify: re-read every backup and check each SHA-256 (exit 1 on any
damage); restore ID: back up the current state first, then restore atomically;
prune: apply the retention policy (Settings backup_daily/weekly/monthly).
"""

from __future__ import annotations

from pathlib import Path

import click

from .. import backup_admin
from ..errors import Refused
from ..home import CrmHome, find_home, open_home
from ..permissions import authorize
from .app import cli, echo_json, format_option

home_option = click.option("--home", "home_dir", type=click.Path(path_type=Path), default=None,
                           help="The CRM home (default: CRM_HOME or the current folder).")


def _home(home_dir: Path | None) -> CrmHome:
    home = open_home(home_dir) if home_dir is not None else find_home()
    if home is None:
        raise click.UsageError("no CRM home: pass --home or set CRM_HOME")
    authorize("backup", home=home, lang=home.lang)
    return home


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


@cli.group("backup")
def backup_group() -> None:
    """Backups of the CRM home and its private state (admin)."""


@backup_group.command("create")
@home_option
@click.option("--reason", default="manual", show_default=True, help="A short label.")
@click.option("--no-state", is_flag=True, help="Skip the private state folder.")
def create_cmd(home_dir: Path | None, reason: str, no_state: bool) -> None:
    """Back up the master and settings (and the private state folder)."""
    home = _home(home_dir)
    for p in backup_admin.create(home, reason, state=not no_state):
        click.echo(str(p))


@backup_group.command("list")
@home_option
@format_option
def list_cmd(home_dir: Path | None, fmt: str) -> None:
    """List backups, newest first."""
    home = _home(home_dir)
    items = backup_admin.list_backups(home)
    if fmt == "json":
        echo_json({"backups": [b.to_dict() for b in items]})
        return
    zh = home.lang == "zh"
    if not items:
        click.echo("没有备份" if zh else "no backups")
        return
    for b in items:
        when = b.created.astimezone().strftime("%Y-%m-%d %H:%M:%S")
        click.echo(f"{b.id}  {b.kind:5}  {when}  {b.reason:14}  {_size(b.size):>10}"
                   + ("" if b.readable else ("  （无法读取）" if zh else "  (unreadable)")))


@backup_group.command("verify")
@home_option
@format_option
def verify_cmd(home_dir: Path | None, fmt: str) -> None:
    """Re-read every backup fully and check every SHA-256; exit 1 on any damage."""
    home = _home(home_dir)
    results = backup_admin.verify_all(home)
    bad = [(b, p) for b, p in results if p]
    zh = home.lang == "zh"
    if fmt == "json":
        echo_json({"backups": [{"id": b.id, "kind": b.kind, "ok": not p, "problems": p}
                               for b, p in results],
                   "summary": {"checked": len(results), "damaged": len(bad)}})
    else:
        for b, p in results:
            click.echo(f"{'OK  ' if not p else 'BAD '} {b.id}" + (f"  {'; '.join(p)}" if p else ""))
        click.echo(f"已检查 {len(results)} 个备份，{len(bad)} 个损坏" if zh else
                   f"{len(results)} backups checked, {len(bad)} damaged")
    if bad:
        raise Refused(f"{len(bad)} 个备份已损坏" if zh else f"{len(bad)} backups are damaged")


@backup_group.command("restore")
@click.argument("backup_id")
@home_option
def restore_cmd(backup_id: str, home_dir: Path | None) -> None:
    """Restore backup BACKUP_ID (after backing up the current state)."""
    home = _home(home_dir)
    res = backup_admin.restore(home, backup_id)
    zh = home.lang == "zh"
    click.echo(f"已先备份当前状态：{res.pre_backup.name}" if zh else
                f"current state backed up first: {res.pre_backup.name}")
    for p in res.restored:
        click.echo(f"已恢复 {p}" if zh else f"restored {p}")


@backup_group.command("prune")
@home_option
@click.option("--daily", type=int, default=None, help="Days to keep (Settings backup_daily).")
@click.option("--weekly", type=int, default=None, help="Weeks to keep (backup_weekly).")
@click.option("--monthly", type=int, default=None, help="Months to keep (backup_monthly).")
@click.option("--dry-run", is_flag=True, help="Only list what would be deleted.")
def prune_cmd(home_dir: Path | None, daily: int | None, weekly: int | None, monthly: int | None,
              dry_run: bool) -> None:
    """Delete backups outside the retention policy."""
    home = _home(home_dir)
    settings = None
    try:
        from ..reader import load

        settings = load(home.master).settings
    except Exception:  # noqa: BLE001 - an unreadable master: use the defaults
        settings = None
    r = backup_admin.Retention.from_settings(settings)
    r = backup_admin.Retention(daily=r.daily if daily is None else daily,
                               weekly=r.weekly if weekly is None else weekly,
                               monthly=r.monthly if monthly is None else monthly)
    for p in backup_admin.prune(home, r, dry_run=dry_run):
        click.echo(("将删除 " if dry_run else "已删除 ") + p.name if home.lang == "zh" else
                   ("would delete " if dry_run else "deleted ") + p.name)
