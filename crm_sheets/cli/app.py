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
from ..i18n import (
    current_lang,
    home_lang_from_environment,
    install_click_translation,
    localize,
    set_lang,
    t,
)


class CrmGroup(click.Group):
    """A click group that turns CrmError into one clear line and an exit code.

    Command modules are imported only when their command runs (`lazy` maps a command
    name to its module in crm_sheets.cli), so `crm validate` does not pay for loading
    the PDF, chart and account libraries.
    """

    lazy: dict[str, str] = {}
    _listing = False

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(self.lazy))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # `crm --help` lists every command: from their modules' source, not by importing
        # them all (issue 15: that took ~1 s)
        self._listing = True
        try:
            super().format_commands(ctx, formatter)
        finally:
            self._listing = False

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in self.lazy:
            if self._listing and (stub := listed_command(self.lazy[name], name)) is not None:
                localize_help(stub)
                return stub
            import importlib

            importlib.import_module(f"crm_sheets.cli.{self.lazy[name]}")
        cmd = self.commands.get(name)
        if cmd is not None:
            localize_help(cmd)
        return cmd

    def main(self, *args: Any, **kwargs: Any) -> Any:
        # Every line a person sees is in the home's language, click's own messages too.
        set_lang(home_lang_from_environment())
        install_click_translation()
        localize_help(self)
        return super().main(*args, **kwargs)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CrmError as exc:
            click.echo(f"crm: {localize(str(exc))}", err=True)
            ctx.exit(exc.exit_code)
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, PermissionError) as exc:
            # a path a person typed: one line, never a traceback
            name = exc.filename or ""
            if isinstance(exc, FileNotFoundError):
                line = t(f"文件不存在：{name}", f"no such file: {name}")
            elif isinstance(exc, PermissionError):
                line = t(f"没有权限访问：{name}", f"permission denied: {name}")
            else:
                line = t(f"路径不对（文件夹与文件混淆）：{name}", f"not the expected kind of path: {name}")
            click.echo(f"crm: {line}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo(f"crm: {t('已中断', 'interrupted')}", err=True)
            ctx.exit(130)


def listed_command(module: str, name: str) -> click.Command | None:
    """A stand-in for `crm --help`'s list: the command `name` with the help its module's
    source gives it (read with ast, nothing imported), or None when the source does not
    say it plainly (the caller then imports the module). tests/test_imports.py compares
    the list with the one the imported commands give."""
    import ast
    from pathlib import Path

    try:
        tree = ast.parse(Path(__file__).with_name(f"{module}.py").read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return None
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for dec in node.decorator_list:
            if not (isinstance(dec, ast.Call) and isinstance(dec.func, ast.Attribute)
                    and isinstance(dec.func.value, ast.Name) and dec.func.value.id == "cli"
                    and dec.func.attr in ("command", "group") and dec.args
                    and isinstance(dec.args[0], ast.Constant) and dec.args[0].value == name):
                continue
            kw: dict[str, Any] = {"help": ast.get_docstring(node, clean=False)}
            for k in dec.keywords:
                if k.arg in ("help", "short_help", "hidden", "deprecated"):
                    if not isinstance(k.value, ast.Constant):
                        return None
                    kw[k.arg] = k.value.value
                elif k.arg is None:  # **kwargs
                    return None
            return click.Command(name, **kw)
    return None


def localize_help(cmd: click.Command) -> None:
    """Show a command's and its options' help in the home's language (zh texts: help_zh.py)."""
    from .help_zh import help_zh

    zh = current_lang() == "zh"
    for obj, attrs in [(cmd, ("help", "short_help")), *((p, ("help",)) for p in cmd.params)]:
        for attr in attrs:
            original = obj.__dict__.setdefault(f"_{attr}_en", getattr(obj, attr, None))
            setattr(obj, attr, help_zh(original) if zh else original)
    if isinstance(cmd, click.Group):
        for sub in cmd.commands.values():
            localize_help(sub)


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
        raise CrmError(t(f"--today 需要形如 2024-03-15 的日期，收到的是 {value!r}",
                         f"--today expects a date like 2024-03-15, got {value!r}")) from exc


today_option = click.option("--today", "today", default=None, metavar="DATE",
                            help="Fix the date rules use (YYYY-MM-DD); also CRM_TODAY.")
format_option = click.option("--format", "fmt", type=click.Choice(["text", "json"]),
                             default="text", show_default=True, help="Output format.")


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, ensure_ascii=False, indent=2, default=str))


def is_terminal() -> bool:
    """Progress bars and colour only on a terminal; quiet when piped."""
    return sys.stderr.isatty()
