"""`crm apply` and `crm merge-customers`: rules and safe write-back to the master.

Exit codes: 0 when the master is up to date (even if it holds error findings: they
are listed in its Issues sheet), 1 when refused (an editor holds the workbook open,
permissions, the file changed while applying), 2 on bad usage or an unreadable input.
"""

from __future__ import annotations

import os
from pathlib import Path

import click

from ..apply.run import describe, outcome_json, run_apply
from ..home import home_for_workbook
from ..permissions import authorize
from .app import cli, echo_json, format_option, parse_today, today_option

verbose_option = click.option("--verbose", is_flag=True,
                              help="List every change, not a summary per rule.")


def _run(workbook: Path, today: str | None, dry_run: bool, action: str,
         merge: tuple[str, str] | None = None, fmt: str = "text", verbose: bool = False) -> None:
    home = home_for_workbook(workbook)
    actor = authorize(action, home=home)
    out = run_apply(workbook, today=parse_today(today), dry_run=dry_run, who=actor.name, home=home,
                    merge=merge)
    if fmt == "json":
        echo_json(outcome_json(out))
    else:
        for line in describe(out, verbose=verbose):
            click.echo(line)
    if os.environ.get("CRM_TIMINGS"):
        click.echo("timings: " + ", ".join(
            f"{k} {v:.0f} MiB" if k.startswith("rss") else f"{k} {v:.2f} s"
            for k, v in out.timings.items()), err=True)


@cli.command("apply")
@click.argument("workbook", type=click.Path(path_type=Path))
@today_option
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@format_option
@verbose_option
def apply_cmd(workbook: Path, today: str | None, dry_run: bool, fmt: str, verbose: bool) -> None:
    """Assign IDs, fill engine columns, apply stage/dormancy rules, refresh Issues (safe write)."""
    _run(workbook, today, dry_run, "apply", fmt=fmt, verbose=verbose)


@cli.command("merge-customers")
@click.argument("workbook", type=click.Path(path_type=Path))
@click.argument("keep_id")
@click.argument("drop_id")
@today_option
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@format_option
@verbose_option
def merge_cmd(workbook: Path, keep_id: str, drop_id: str, today: str | None, dry_run: bool,
              fmt: str, verbose: bool) -> None:
    """Merge DROP_ID into KEEP_ID: follow-ups move, blanks fill, DROP is marked 已合并."""
    _run(workbook, today, dry_run, "merge_customers", merge=(keep_id.strip(), drop_id.strip()),
         fmt=fmt, verbose=verbose)
