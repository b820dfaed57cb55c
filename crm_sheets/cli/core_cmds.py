"""`crm init`, `crm demo`, `crm validate`: the engine core's commands."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from ..errors import CrmError
from ..findings import Report
from ..home import create_home
from ..messages import text
from ..reader import load
from ..template import build_template
from ..validate import validate
from .app import cli, echo_json, format_option, parse_today, today_option

REPO_WORKBOOKS = Path(__file__).resolve().parents[2] / "workbooks"


def read_password_file(path: str) -> str:
    """The first line of a file (DESIGN §5: scripts pass passwords in files)."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.readline().rstrip("\r\n")
    except OSError as exc:
        raise CrmError(f"cannot read password file {path}: {exc.strerror}") from None


def print_report(report: Report, lang: str, fmt: str) -> None:
    if fmt == "json":
        echo_json(report.to_dict())
        return
    for f in report.findings:
        where = f"{f.sheet}!{f.column or ''}{'' if f.row is None else ' ' + str(f.row)}"
        click.echo(f"{f.severity:<7} {where:<28} {f.code:<28} {f.message}")
    s = report.summary()
    click.echo(text("summary", lang, **s))


@cli.command("init")
@click.argument("home", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True,
              help="Language of headers and messages.")
@click.option("--admin", "admin_name", default=None, help="Name of the first admin account.")
@click.option("--admin-password-file", default=None, type=click.Path(dir_okay=False),
              help="File whose first line is the admin's password (for scripts).")
def init_cmd(home: Path | None, lang: str, admin_name: str | None, admin_password_file: str | None) -> None:
    """Create a CRM home: master workbook from the template, folders, private state, first admin."""
    root = home or REPO_WORKBOOKS
    crm_home = create_home(root, lang=lang)
    build_template(crm_home.master, lang)
    _first_admin(crm_home, admin_name, admin_password_file)
    zh = lang == "zh"
    click.echo(("已创建 CRM 主目录：" if zh else "created CRM home: ") + str(crm_home.root))
    click.echo(("主工作簿：" if zh else "master workbook: ") + str(crm_home.master))


def _first_admin(home, name: str | None, password_file: str | None) -> None:
    try:
        from ..accounts import create_first_admin
    except ImportError:  # accounts not installed in this build
        return
    if name is None and password_file is None and not sys.stdin.isatty():
        return  # scripted init without an admin: `crm user` can add one later
    name = name or click.prompt("管理员账号 / admin account", default="admin")
    if password_file:
        password = read_password_file(password_file)
    else:
        password = click.prompt("管理员密码 / admin password", hide_input=True, confirmation_prompt=True)
    create_first_admin(home, name, password)


@cli.command("validate")
@click.argument("workbook", type=click.Path(path_type=Path))
@format_option
@today_option
def validate_cmd(workbook: Path, fmt: str, today: str | None) -> None:
    """Check a workbook and list every problem with its row (exit 1 on errors)."""
    wb = load(workbook)
    report = validate(wb, today=parse_today(today))
    print_report(report, wb.lang, fmt)
    if report.errors:
        sys.exit(1)


@cli.command("demo")
@click.argument("directory", required=False, type=click.Path(file_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@today_option
def demo_cmd(directory: Path | None, lang: str, today: str | None) -> None:
    """Build a realistic demo CRM home (a training sandbox) and run the pipeline on it."""
    from ..demo import run_demo

    root = directory or (REPO_WORKBOOKS / "demo")
    run_demo(root, today=parse_today(today), lang=lang, echo=click.echo)
