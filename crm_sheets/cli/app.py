"""The `crm` command group and what every command shares: errors, output, dates.

Commands are thin: parse options, call a library function, print its result.
A `CrmError` becomes one line on stderr and its exit code; nothing else escapes
as a traceback to a user.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
from typing import Any

import click

from ..errors import CrmError


class CrmGroup(click.Group):
    """A click group that turns CrmError into one clear line and an exit code.

    Command modules are imported only when their command runs (`lazy` maps a command
    name to its module in crm_sheets.cli), so `crm validate` does not pay for loading
    the PDF, chart and account libraries.
    """

    lazy: dict[str, str] = {}

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy:
            import importlib

            importlib.import_module(f"crm_sheets.cli.{self.lazy[name]}")
        return self.commands.get(name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrmError as exc:
            click.echo(f"crm: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("crm: interrupted", err=True)
            ctx.exit(130)


@click.group(cls=CrmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="crm-sheets")
def cli() -> None:
    """crm-sheets: a spreadsheet-native CRM (客户管理表格引擎)."""


def parse_today(value: str | None) -> dt.date:
    """--today / CRM_TODAY, else the real date: rules are deterministic in tests."""
    value = value or os.environ.get("CRM_TODAY")
    if not value:
        return dt.date.today()
    try:
        return dt.date.fromisoformat(value.strip())
    except ValueError as exc:
        raise CrmError(f"--today expects a date like 2024-03-15, got {value!r}") from exc


today_option = click.option("--today", "today", default=None, metavar="DATE",
                            help="Fix the date rules use (YYYY-MM-DD); also CRM_TODAY.")
format_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]),
                             default="text", show_default=True, help="Output format.")


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def is_terminal() -> bool:
    """Progress bars and colour only on a terminal; quiet when piped."""
    return sys.stderr.isatty()
