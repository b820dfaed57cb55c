"""`crm init`, `crm demo`, `crm validate`: the engine core's commands."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..errors import CrmError
from ..i18n import t
from .app import cli, echo_json, format_option, parse_today, today_option

if TYPE_CHECKING:
    from ..findings import Report

# Each command imports what it needs when it runs (issue 15: `crm validate` does not load
# the template writer, xlsxwriter or the account modules).

REPO_WORKBOOKS = Path(__file__).resolve().parents[2] / "workbooks"


def read_password_file(path: str) -> str:
    """The first line of a file (DESIGN §5: scripts pass passwords in files)."""
    try:
        with open(path, encoding="utf-8-sig") as f:
            return f.readline().rstrip("\r\n")
    except OSError as exc:
        raise CrmError(t(f"无法读取密码文件 {path}：{exc.strerror}", f"cannot read password file {path}: {exc.strerror}")) from None


def print_report(report: Report, lang: str, fmt: str) -> None:
    from ..messages import text

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
    from ..accounts import create_first_admin
    from ..accounts.passwords import check_policy
    from ..home import create_home
    from ..template import build_template

    root = home or REPO_WORKBOOKS
    admin = _ask_admin(admin_name, admin_password_file, lang)
    if admin:  # refuse a weak password before anything is created
        check_policy(admin[1], name=admin[0], lang=lang)
    crm_home = create_home(root, lang=lang)
    build_template(crm_home.master, lang)
    if admin:
        create_first_admin(crm_home, *admin)
    zh = lang == "zh"
    click.echo(("已创建 CRM 主目录：" if zh else "created CRM home: ") + str(crm_home.root))
    click.echo(("主工作簿：" if zh else "master workbook: ") + str(crm_home.master))
    if admin:
        click.echo(("管理员账户：" if zh else "admin account: ") + admin[0])
    else:
        click.echo("尚未创建管理员：crm user add NAME --role admin" if zh
                   else "no admin yet: crm user add NAME --role admin")


def _ask_admin(name: str | None, password_file: str | None, lang: str) -> tuple[str, str] | None:
    """The first admin's name and password: from options, or prompted on a terminal."""
    if name is None and password_file is None and not sys.stdin.isatty():
        return None  # scripted init without an admin: `crm user add` can create one later
    zh = lang == "zh"
    name = name or click.prompt("管理员账号" if zh else "admin account", default="admin")
    if password_file:
        return name, read_password_file(password_file)
    password = click.prompt("管理员密码（至少 10 位）" if zh else "admin password (10+ characters)",
                            hide_input=True, confirmation_prompt=True)
    return name, password


@cli.command("validate")
@click.argument("workbook", type=click.Path(path_type=Path))
@format_option
@today_option
def validate_cmd(workbook: Path, fmt: str, today: str | None) -> None:
    """Check a workbook and list every problem with its row (exit 1 on errors)."""
    from ..validation import check_file

    wb, report = check_file(workbook, today=parse_today(today))
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
