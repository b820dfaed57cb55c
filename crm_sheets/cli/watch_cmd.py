"""`crm watch HOME [--polling] [--interval S]`: a live log until Ctrl-C.

Each save of the master is revalidated (findings to reports/latest-findings.json and
here), then applied when no editor holds it open; copies dropped into inbox/ are
merged; backups are made on schedule. Ctrl-C stops cleanly (exit 0).
"""

from __future__ import annotations

import datetime as dt
import signal
from pathlib import Path

import click

from ..home import find_home, open_home
from ..permissions import authorize
from ..watch import Watcher, WatchEvent, WatchOptions
from .app import cli, parse_today

_STYLE = {"ok": "green", "info": "cyan", "warn": "yellow", "error": "bold red"}


def _printer(console: object, lang: str) -> object:
    from rich.markup import escape

    def show(ev: WatchEvent) -> None:
        stamp = dt.datetime.now().strftime("%H:%M:%S")
        style = _STYLE.get(ev.level, "white")
        console.print(f"[dim]{stamp}[/dim] [{style}]{escape(ev.text)}[/{style}]",  # type: ignore[attr-defined]
                      highlight=False, soft_wrap=True)
        if ev.kind == "findings" and ev.data.get("summary", {}).get("by_code"):
            codes = ", ".join(f"{k} ×{v}" for k, v in ev.data["summary"]["by_code"].items())
            console.print(f"         [dim]{escape(codes)}[/dim]", highlight=False,  # type: ignore[attr-defined]
                          soft_wrap=True)

    return show


@cli.command("watch")
@click.argument("home", required=False, type=click.Path(path_type=Path))
@click.option("--polling", is_flag=True, help="Poll the folder (network shares: SMB/NFS).")
@click.option("--interval", type=float, default=1.0, show_default=True, metavar="S",
              help="Polling interval in seconds.")
@click.option("--debounce", type=float, default=1.5, show_default=True, metavar="S",
              help="Quiet time after the last event before a save is read.")
@click.option("--rescan", type=float, default=30.0, show_default=True, metavar="S",
              help="Full rescan period (backstop for missed events).")
@click.option("--backup-every", type=float, default=7.0, show_default=True, metavar="DAYS",
              help="Scheduled backup period in days (0: off).")
@click.option("--no-apply", is_flag=True, help="Only validate; never write the master.")
@click.option("--today", "today", default=None, metavar="DATE",
              help="Fix the date rules use (YYYY-MM-DD); also CRM_TODAY.")
def watch_cmd(home: Path | None, polling: bool, interval: float, debounce: float, rescan: float,
              backup_every: float, no_apply: bool, today: str | None) -> None:
    """Watch a CRM home: revalidate every save, apply, merge the inbox, keep backups."""
    from rich.console import Console

    crm_home = open_home(home) if home is not None else find_home()
    if crm_home is None:
        raise click.UsageError("no CRM home: give HOME or set CRM_HOME")
    authorize("watch", home=crm_home, lang=crm_home.lang)
    fixed = parse_today(today) if today else None
    opts = WatchOptions(polling=polling, interval=max(0.1, interval), debounce=max(0.0, debounce),
                        rescan_every=max(1.0, rescan), apply=not no_apply,
                        backup_every=backup_every * 86400 if backup_every > 0 else None,
                        today=(lambda: fixed) if fixed else None)
    console = Console(highlight=False)
    watcher = Watcher(crm_home, opts, on_event=_printer(console, crm_home.lang))  # type: ignore[arg-type]

    def _term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    try:
        signal.signal(signal.SIGTERM, _term)
    except (ValueError, OSError, AttributeError):  # not the main thread / platform
        pass
    try:
        watcher.run()
    except KeyboardInterrupt:  # run() already stopped the observer and said so
        watcher.stop()
