"""`crm views build | mine | merge`: per-role workbooks out, handed-back copies in.

Exit codes: 0 ok; 1 refused (permissions, bad signature, someone else's view) or a
merge with rejected changes or conflicts; 2 bad usage or an unreadable file.
"""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import CrmError, Refused
from ..home import CrmHome, find_home, home_for_workbook
from ..permissions import authorize
from .app import cli, echo_json, is_terminal, parse_today, today_option

password_file_option = click.option(
    "--password-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Read the password from the first line of this file (for scripts).")


def _t(home: CrmHome, zh: str, en: str) -> str:
    return zh if home.lang == "zh" else en


def _home_of(workbook: Path) -> CrmHome:
    home = home_for_workbook(workbook)
    if home is None:
        raise CrmError(f"{workbook} 不在 CRM 主目录中（视图需要主目录的账户和密钥）/ {workbook} is not "
                       "in a CRM home (views need the home's accounts and key)")
    return home


def _read_password(home: CrmHome, password_file: Path | None, confirm: bool) -> str:
    from ..accounts import read_password_file

    if password_file is not None:
        return read_password_file(password_file, lang=home.lang)
    return click.prompt(_t(home, "视图密码", "Password for the view"), hide_input=True,
                        confirmation_prompt=_t(home, "再输入一次", "Repeat it") if confirm else False)


def _progress(total: int):  # noqa: ANN202 - a context manager and a callback
    """A rich progress bar on a terminal when building many views; else nothing."""
    if total < 2 or not is_terminal():
        return None
    from rich.progress import Progress

    return Progress(transient=True)


@cli.group("views")
def views_group() -> None:
    """Per-role workbooks: build them, build your own, merge handed-back copies."""


@views_group.command("build")
@click.argument("workbook", type=click.Path(path_type=Path))
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the views (default: the home's views/).")
@click.option("--role", "roles", multiple=True,
              help="sales, service, marketing or management (repeatable; default: all).")
@click.option("--user", "users", multiple=True, help="Build the view of this account only.")
@click.option("--encrypt", is_flag=True, help="Encrypt every view with a password (asked).")
@password_file_option
@today_option
def build_cmd(workbook: Path, out_dir: Path | None, roles: tuple[str, ...], users: tuple[str, ...],
              encrypt: bool, password_file: Path | None, today: str | None) -> None:
    """One workbook per sales rep and per department (admin)."""
    from ..views import audiences, build_views

    home = _home_of(workbook)
    authorize("views_build", home=home)
    password = _read_password(home, password_file, confirm=True) if encrypt else None
    auds = audiences(home, roles or None, users or None)
    bar = _progress(len(auds))
    skipped: list[tuple[Path, str]] = []
    if bar is None:
        paths = build_views(workbook, home, encrypt_password=password, out_dir=out_dir,
                            today=parse_today(today), audience_list=auds, keep_password=True,
                            skipped=skipped)
    else:
        with bar:
            task = bar.add_task(_t(home, "生成视图", "Building views"), total=len(auds))
            paths = build_views(workbook, home, encrypt_password=password, out_dir=out_dir,
                                today=parse_today(today), audience_list=auds,
                                progress=lambda _p: bar.advance(task), keep_password=True,
                                skipped=skipped)
    for p in paths:
        click.echo(str(p))
    click.echo(_t(home, f"已生成 {len(paths)} 个视图" + ("（已加密）" if encrypt else ""),
                  f"{len(paths)} views written" + (" (encrypted)" if encrypt else "")))
    _report_skipped(home, skipped)


def _report_skipped(home: CrmHome, skipped: list[tuple[Path, str]]) -> None:
    """Say which copies were left alone because an editor has them open (exit 1)."""
    for p, holder in skipped:
        click.echo(_t(home, f"未覆盖 {p}：正被 {holder} 打开（存在锁文件）；请关闭后重新生成",
                      f"not overwritten: {p} is open by {holder} (lock file present); close it "
                      "and build again"), err=True)
    if skipped:
        raise SystemExit(1)


@views_group.command("mine")
@click.option("--out", "out_dir", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the view (default: the home's views/).")
@click.option("--encrypt", is_flag=True, help="Encrypt it with your account password (asked).")
@password_file_option
@today_option
def mine_cmd(out_dir: Path | None, encrypt: bool, password_file: Path | None,
             today: str | None) -> None:
    """Build your own copy of what your role may see."""
    from ..accounts import read_password_file
    from ..accounts.passwords import verify_password
    from ..accounts.store import AccountStore
    from ..views import build_views, mine_audience

    home = find_home()
    if home is None:
        raise CrmError("不在 CRM 主目录中：请进入主目录或设置 CRM_HOME / not inside a CRM home: cd into "
                       "one or set CRM_HOME")
    actor = authorize("views_mine", home=home)
    password = None
    if encrypt:
        password = (read_password_file(password_file, lang=home.lang) if password_file is not None
                    else click.prompt(_t(home, "你的账户密码", "Your account password"),
                                      hide_input=True))
        store = AccountStore(home)
        with store.read() as con:
            row = store.get(con, actor.name)
        if not verify_password(row.pw_hash if row is not None else None, password):
            raise Refused(_t(home, "密码不正确", "wrong password"))
    skipped: list[tuple[Path, str]] = []
    paths = build_views(home.master, home, encrypt_password=password, out_dir=out_dir,
                        today=parse_today(today), audience_list=[mine_audience(actor)],
                        skipped=skipped)
    for p in paths:
        click.echo(str(p))
    _report_skipped(home, skipped)


@views_group.command("merge")
@click.argument("workbook", type=click.Path(path_type=Path))
@click.argument("view", type=click.Path(path_type=Path))
@click.option("--dry-run", is_flag=True, help="Print what would land; write nothing.")
@password_file_option
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True)
@today_option
def merge_cmd(workbook: Path, view: Path, dry_run: bool, password_file: Path | None, fmt: str,
              today: str | None) -> None:
    """Merge a handed-back view into the master with the view owner's rights (admin)."""
    from ..views import describe, merge_view
    from ..views.crypto import is_encrypted, stored_password
    from ..watch.cycle import file_handback, in_inbox

    home = _home_of(workbook)
    runner = authorize("views_merge", home=home)
    password = None
    if view.is_file():
        with view.open("rb") as fh:
            if is_encrypted(fh.read(8)) and (password_file is not None or
                                             stored_password(home.state,
                                                             view.read_bytes()) is None):
                password = _read_password(home, password_file, confirm=False)
    result = merge_view(workbook, view, home=home, runner=runner, dry_run=dry_run,
                        password=password, today=parse_today(today))
    filed = None
    if not dry_run and in_inbox(home, view):  # one hand-back, one merge (issue 13.13)
        try:
            filed = file_handback(home, view, result).moved_to
        except OSError:  # the watcher took it meanwhile: it files it itself
            filed = None
    if fmt == "json":
        data = result.to_dict()
        if filed is not None:
            data["filed_to"] = str(filed)
        echo_json(data)
    else:
        for line in describe(result):
            click.echo(line)
        if filed is not None:
            click.echo(_t(home, f"副本已移出 inbox：{filed}", f"copy moved out of the inbox: {filed}"))
    if result.refused or result.rejected or result.conflicts:
        raise SystemExit(1)
