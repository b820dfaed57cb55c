"""`crm login | logout | whoami` and the `crm user` group (accounts, DESIGN §5, §7).

Thin layer over crm_sheets.accounts: parse options, prompt (passwords never echoed),
call the library, print one clear result. The home is the one holding the current
folder, or `CRM_HOME`, or `--home`.
"""

from __future__ import annotations

import io
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from .. import accounts
from ..accounts import totp as totp_mod
from ..accounts._text import local_text, t
from ..errors import CrmError, Refused
from ..home import CrmHome, find_home, open_home
from ..permissions import ROLES, Actor, authorize, current_actor
from .app import cli, echo_json

home_option = click.option("--home", "home_dir", type=click.Path(file_okay=False, path_type=Path),
                           default=None, help="The CRM home (default: CRM_HOME or the current folder).")
password_file_option = click.option(
    "--password-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
    help="Read the password from the first line of this file (for scripts).")
ROLE_TEXT = {"admin": "管理员", "manager": "管理层", "sales": "销售", "service": "客服",
             "marketing": "市场"}


def resolve_home(home_dir: Path | None) -> CrmHome:
    """--home, else CRM_HOME, else the home holding the current folder."""
    home = open_home(home_dir) if home_dir is not None else find_home()
    if home is None:
        raise CrmError("不在 CRM 主目录中：请进入主目录、设置 CRM_HOME 或使用 --home / "
                       "not inside a CRM home: cd into one, set CRM_HOME or pass --home")
    return home


def _role(home: CrmHome, role: str) -> str:
    return ROLE_TEXT.get(role, role) if home.lang == "zh" else role


def _require_session(home: CrmHome) -> Actor:
    actor = current_actor(home)
    if actor is None:
        raise Refused(t(home.lang, "请先登录：crm login", "log in first: crm login"))
    return actor


def _new_password(home: CrmHome, password_file: Path | None, prompt_zh: str, prompt_en: str
                  ) -> str:
    """A new password from the file, or prompted twice without echo; policy checked."""
    if password_file is not None:
        password = accounts.read_password_file(password_file, lang=home.lang)
    else:
        password = click.prompt(t(home.lang, prompt_zh, prompt_en), hide_input=True,
                                confirmation_prompt=t(home.lang, "再输入一次", "Repeat it"))
    accounts.check_policy(password, lang=home.lang)
    return password


def _sync_lists(home: CrmHome, who: str) -> None:
    """Bring the master's Lists › 负责人/客服人员 in step with the accounts right away; a
    master that cannot be written now (open in Excel…) gets them at the next apply."""
    from ..staff_lists import sync_master

    try:
        changed = sync_master(home, who=who)
    except CrmError:
        click.echo(t(home.lang, "主表暂时无法写入（可能正在被编辑）：「列表」中的负责人/客服人员"
                                "会在下次 crm apply 时更新。",
                     "The master cannot be written now (open in an editor?): its Lists "
                     "owners/service staff are updated at the next crm apply."))
        return
    if changed:
        click.echo(t(home.lang, "主表「列表」中的负责人/客服人员已按账户更新。",
                     "The master's Lists owners/service staff now follow the accounts."))


def _show_setup_code(home: CrmHome, name: str, code: str) -> None:
    click.echo(t(home.lang,
                 f"一次性设置码（仅显示这一次，{accounts.service.SETUP_DAYS} 天内有效）：{code}\n"
                 f"请交给 {name}：首次运行 crm login 时输入它并设置自己的密码。",
                 f"One-time setup code (shown once, valid {accounts.service.SETUP_DAYS} days): "
                 f"{code}\nGive it to {name}: at their first crm login they enter it and choose "
                 "their own password."))


# --- login / logout / whoami -----------------------------------------------------------

@cli.command("login")
@click.option("--user", "name", default=None, help="Account name (prompted when omitted).")
@password_file_option
@click.option("--totp", "code", default=None, metavar="CODE",
              help="The 6-digit authenticator code, or a recovery code.")
@click.option("--setup-code", default=None, metavar="CODE",
              help="First login: the setup code from your admin (with --password-file: "
                   "the password you choose).")
@home_option
def login_cmd(name: str | None, password_file: Path | None, code: str | None,
              setup_code: str | None, home_dir: Path | None) -> None:
    """Log in: password, then the authenticator code once TOTP is enrolled."""
    home = resolve_home(home_dir)
    lang = home.lang
    scripted = password_file is not None
    if not name:
        name = click.prompt(t(lang, "账户名", "Account"))
    name = name.strip()
    if accounts.needs_setup(home, name):
        if not setup_code:
            if scripted:
                raise Refused(t(lang, "此账户还没有密码：加上 --setup-code（管理员给的设置码）",
                                "this account has no password yet: add --setup-code "
                                "(the code from your admin)"))
            setup_code = click.prompt(t(lang, "设置码（管理员给的）", "Setup code (from your admin)"),
                                      hide_input=True)
        password = _new_password(home, password_file, "设置你的密码（至少 10 个字符）",
                                 "Choose your password (at least 10 characters)")
        accounts.complete_setup(home, name, setup_code, password)
        click.echo(t(lang, "密码已设置。", "Password set."))
    elif scripted:
        password = accounts.read_password_file(password_file, lang=lang)
    else:
        password = click.prompt(t(lang, "密码", "Password"), hide_input=True)
    try:
        session = accounts.login(home, name, password, code=code)
    except accounts.CodeRequired:
        if scripted:
            raise
        code = click.prompt(t(lang, "6 位验证码（或恢复码）", "6-digit code (or a recovery code)"),
                            hide_input=True)
        session = accounts.login(home, name, password, code=code)
    click.echo(t(lang,
                 f"已登录：{session.name}（{session.display_name}，{_role(home, session.role)}），"
                 f"会话有效至 {local_text(session.expires_at)}",
                 f"Logged in as {session.name} ({session.display_name}, {session.role}); "
                 f"the session lasts until {local_text(session.expires_at)}"))
    if code and not totp_mod.looks_like_totp(code):
        left = accounts.recovery_codes_left(home, session.name)
        click.echo(t(lang, f"已使用一个恢复码，还剩 {left} 个。",
                     f"A recovery code was used; {left} left."))


@cli.command("logout")
@home_option
def logout_cmd(home_dir: Path | None) -> None:
    """End this session."""
    home = resolve_home(home_dir)
    name = accounts.logout(home)
    if name is None:
        click.echo(t(home.lang, "当前没有登录。", "Not logged in."))
    else:
        click.echo(t(home.lang, f"{name} 已退出登录。", f"{name} logged out."))


@cli.command("whoami")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@home_option
def whoami_cmd(fmt: str, home_dir: Path | None) -> None:
    """Show the logged-in account: name, role, session expiry (exit 1 if none)."""
    home = resolve_home(home_dir)
    session = accounts.whoami(home)
    if session is None:
        raise Refused(t(home.lang, "当前没有登录：crm login", "not logged in: crm login"))
    if fmt == "json":
        echo_json({"name": session.name, "display_name": session.display_name,
                   "role": session.role, "expires_at": session.expires_at.isoformat()})
        return
    click.echo(t(home.lang,
                 f"{session.name}（{session.display_name}）· {_role(home, session.role)} · "
                 f"会话有效至 {local_text(session.expires_at)}",
                 f"{session.name} ({session.display_name}) · {session.role} · "
                 f"session until {local_text(session.expires_at)}"))


# --- crm user ----------------------------------------------------------------------------

@cli.group("user")
def user_group() -> None:
    """Accounts: add, list, disable, passwords, roles, two-factor login."""


@user_group.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True, help="The account's role.")
@click.option("--display-name", default=None,
              help="The name used in the workbook's owner columns (default: NAME).")
@password_file_option
@home_option
def user_add(name: str, role: str, display_name: str | None, password_file: Path | None,
             home_dir: Path | None) -> None:
    """Add an account (admin). The user sets their password at first login.

    In a home with no accounts yet, this creates the first admin instead (the OS
    user who owns the private state folder bootstraps it, like `crm init --admin`).
    """
    home = resolve_home(home_dir)
    if not accounts.has_accounts(home):
        if role != "admin":
            raise Refused(t(home.lang, "此主目录还没有账户：先添加管理员（--role admin）",
                            "this home has no accounts yet: add an admin first (--role admin)"))
        password = _new_password(home, password_file, "管理员密码（至少 10 个字符）",
                                 "Admin password (at least 10 characters)")
        accounts.create_first_admin(home, name, password, display_name=display_name)
        click.echo(t(home.lang, f"已创建第一个管理员 {name}；现在可以 crm login。",
                     f"Created the first admin {name}; you can crm login now."))
        return
    actor = authorize("user_admin", home=home)
    password = (accounts.read_password_file(password_file, lang=home.lang)
                if password_file is not None else None)
    code = accounts.add_user(home, name, role, by=actor.name, display_name=display_name,
                             password=password)
    click.echo(t(home.lang, f"已添加账户 {name}（{_role(home, role)}）。",
                 f"Added account {name} ({role})."))
    if code:
        _show_setup_code(home, name, code)
    _sync_lists(home, actor.name)


@user_group.command("list")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text",
              show_default=True, help="Output format.")
@home_option
def user_list(fmt: str, home_dir: Path | None) -> None:
    """List accounts: name, role, 2FA, last login, locked or disabled (admin)."""
    home = resolve_home(home_dir)
    authorize("user_admin", home=home)
    users = accounts.list_users(home)
    if fmt == "json":
        echo_json([{"name": u.name, "display_name": u.display_name, "role": u.role,
                    "totp": u.totp, "disabled": u.disabled, "pending_setup": u.pending_setup,
                    "locked_until": u.locked_until.isoformat() if u.locked_until else None,
                    "last_login": u.last_login.isoformat() if u.last_login else None}
                   for u in users])
        return
    zh = home.lang == "zh"
    table = Table(box=None, pad_edge=False)
    for head in (("账户", "显示名", "角色", "两步验证", "最近登录", "状态") if zh else
                 ("account", "display name", "role", "2FA", "last login", "status")):
        table.add_column(head)
    for u in users:
        if u.disabled:
            status = "已停用" if zh else "disabled"
        elif u.locked_until:
            status = (f"锁定至 {local_text(u.locked_until)}" if zh
                      else f"locked until {local_text(u.locked_until)}")
        elif u.pending_setup:
            status = "待设置密码" if zh else "awaiting first login"
        else:
            status = "正常" if zh else "active"
        table.add_row(u.name, u.display_name, _role(home, u.role),
                      ("开" if u.totp else "关") if zh else ("on" if u.totp else "off"),
                      local_text(u.last_login) or "-", status)
    buf = io.StringIO()
    Console(file=buf, width=120, no_color=True, highlight=False).print(table)
    click.echo(buf.getvalue().rstrip("\n"))


@user_group.command("disable")
@click.argument("name")
@home_option
def user_disable(name: str, home_dir: Path | None) -> None:
    """Disable an account and end its sessions (admin)."""
    home = resolve_home(home_dir)
    actor = authorize("user_admin", home=home)
    accounts.disable_user(home, name, by=actor.name)
    click.echo(t(home.lang, f"账户 {name} 已停用。", f"Account {name} disabled."))
    _sync_lists(home, actor.name)


@user_group.command("enable")
@click.argument("name")
@home_option
def user_enable(name: str, home_dir: Path | None) -> None:
    """Enable a disabled account again (admin)."""
    home = resolve_home(home_dir)
    actor = authorize("user_admin", home=home)
    accounts.enable_user(home, name, by=actor.name)
    click.echo(t(home.lang, f"账户 {name} 已启用。", f"Account {name} enabled."))
    _sync_lists(home, actor.name)


@user_group.command("unlock")
@click.argument("name")
@home_option
def user_unlock(name: str, home_dir: Path | None) -> None:
    """Lift a lock after too many failed logins (admin)."""
    home = resolve_home(home_dir)
    actor = authorize("user_admin", home=home)
    accounts.unlock_user(home, name, by=actor.name)
    click.echo(t(home.lang, f"账户 {name} 已解锁。", f"Account {name} unlocked."))


@user_group.command("role")
@click.argument("name")
@click.argument("role", type=click.Choice(ROLES))
@home_option
def user_role(name: str, role: str, home_dir: Path | None) -> None:
    """Change an account's role; it logs in again (admin)."""
    home = resolve_home(home_dir)
    actor = authorize("user_admin", home=home)
    accounts.set_role(home, name, role, by=actor.name)
    click.echo(t(home.lang, f"账户 {name} 的角色改为 {_role(home, role)}。",
                 f"Account {name} now has the {role} role."))
    _sync_lists(home, actor.name)


@user_group.command("passwd")
@click.argument("name", required=False)
@password_file_option
@click.option("--old-password-file", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Changing your own password: the current one, from a file.")
@home_option
def user_passwd(name: str | None, password_file: Path | None, old_password_file: Path | None,
                home_dir: Path | None) -> None:
    """Reset NAME's password (admin), or change your own (no NAME)."""
    home = resolve_home(home_dir)
    lang = home.lang
    me = current_actor(home)
    if name and (me is None or name.casefold() != me.name.casefold()):
        actor = authorize("user_admin", home=home)
        password = (accounts.read_password_file(password_file, lang=lang)
                    if password_file is not None else None)
        code = accounts.reset_password(home, name, by=actor.name, password=password)
        click.echo(t(lang, f"账户 {name} 的密码已重置，其会话已结束。",
                     f"The password of {name} was reset and its sessions ended."))
        if code:
            _show_setup_code(home, name, code)
        return
    actor = _require_session(home)
    old = (accounts.read_password_file(old_password_file, lang=lang)
           if old_password_file is not None
           else click.prompt(t(lang, "当前密码", "Current password"), hide_input=True))
    new = _new_password(home, password_file, "新密码（至少 10 个字符）",
                        "New password (at least 10 characters)")
    accounts.change_password(home, actor.name, old, new)
    click.echo(t(lang, "密码已修改，请重新登录：crm login",
                 "Password changed; log in again: crm login"))


@user_group.command("totp")
@click.option("--confirm", "confirm_code", default=None, metavar="CODE",
              help="Confirm an enrolment already started, with one code.")
@click.option("--no-qr", is_flag=True, help="Print only the otpauth:// URI, no QR code.")
@home_option
def user_totp(confirm_code: str | None, no_qr: bool, home_dir: Path | None) -> None:
    """Enrol your authenticator app (two-factor login) and get recovery codes."""
    home = resolve_home(home_dir)
    lang = home.lang
    actor = _require_session(home)
    if confirm_code is None:
        enrolment = accounts.enrol_totp(home, actor.name)
        if no_qr:  # no QR code printed: nothing to scan, the address is typed or pasted
            click.echo(t(lang, "在验证器应用（如 Google Authenticator、Microsoft Authenticator）中"
                               "手动添加这个地址（或其中 secret= 后的密钥）：",
                         "Add this address (or the key after secret=) by hand in an "
                         "authenticator app (Google Authenticator, Microsoft Authenticator, ...):"))
        else:
            click.echo(t(lang, "用验证器应用（如 Google Authenticator、Microsoft Authenticator）"
                               "扫描下方二维码，或手动添加这个地址：",
                         "Scan the QR code below with an authenticator app (Google Authenticator, "
                         "Microsoft Authenticator, ...) or add this address by hand:"))
        click.echo(enrolment.uri)
        if not no_qr:
            click.echo(totp_mod.qr_text(enrolment.uri))
        confirm_code = click.prompt(t(lang, "输入应用显示的 6 位验证码以确认",
                                      "Enter the 6-digit code the app shows, to confirm"),
                                    hide_input=True)
    codes = accounts.confirm_totp(home, actor.name, confirm_code)
    click.echo(t(lang, "两步验证已启用。以后登录需要密码和验证码。",
                 "Two-factor login is on: logging in now takes the password and a code."))
    click.echo(t(lang, "恢复码（只显示这一次；每个只能用一次，手机丢失时代替验证码）：",
                 "Recovery codes (shown only now; each works once, in place of a code "
                 "if the phone is lost):"))
    for c in codes:
        click.echo(f"  {c}")


@user_group.command("totp-reset")
@click.argument("name")
@home_option
def user_totp_reset(name: str, home_dir: Path | None) -> None:
    """Remove NAME's authenticator and recovery codes, e.g. a lost phone (admin)."""
    home = resolve_home(home_dir)
    actor = authorize("user_admin", home=home)
    accounts.reset_totp(home, name, by=actor.name)
    click.echo(t(home.lang, f"已移除 {name} 的两步验证；TA 可以重新运行 crm user totp。",
                 f"Two-factor login removed for {name}; they can run crm user totp again."))
