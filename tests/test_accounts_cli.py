"""`crm login/logout/whoami/user` through click's CliRunner, and the no-leak check."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from crm_sheets import accounts, audit
from crm_sheets.accounts import service as service_mod
from crm_sheets.accounts import sessions
from crm_sheets.accounts import totp as totp_mod
from crm_sheets.cli import cli
from crm_sheets.home import create_home, state_root

ADMIN_PW = "Admin-Secret-Pass-01"
LI_PW = "Li-Secret-Pass-0002"
WANG_PW = "Wang-Secret-Pass-03"
WRONG_PW = "Wrong-Guess-Pass-04"


@pytest.fixture
def env(tmp_path, crm_state_dir, monkeypatch):
    """A home with admin 'boss', CRM_HOME set, cwd outside it, password files aside."""
    home = create_home(tmp_path / "home")
    accounts.create_first_admin(home, "boss", ADMIN_PW, display_name="老板")
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setenv("CRM_HOME", str(home.root))
    return home, inputs


def pwfile(inputs: Path, name: str, password: str) -> str:
    path = inputs / f"{name}.txt"
    path.write_text(password + "\n", encoding="utf-8")
    return str(path)


def run(*args: str, input: str | None = None):
    return CliRunner().invoke(cli, list(args), input=input, catch_exceptions=False)


class Clock:
    """An injected clock for the accounts service (sessions still use the real one)."""

    def __init__(self) -> None:
        self.now = dt.datetime.now(dt.UTC)

    def __call__(self, now: dt.datetime | None = None) -> dt.datetime:
        return now or self.now


def test_login_whoami_logout_with_password_file(env):
    home, inputs = env
    r = run("login", "--user", "boss", "--password-file", pwfile(inputs, "boss", ADMIN_PW))
    assert r.exit_code == 0, r.output
    assert "boss" in r.output and "管理员" in r.output
    r = run("whoami")
    assert r.exit_code == 0 and "boss（老板）· 管理员 · 会话有效至" in r.output
    r = run("whoami", "--format", "json")
    assert '"role": "admin"' in r.output
    assert run("logout").exit_code == 0
    r = run("whoami")
    assert r.exit_code == 1 and "没有登录" in r.stderr


def test_interactive_login_never_echoes_and_asks_for_the_code(env, monkeypatch):
    home, _ = env
    clock = Clock()
    monkeypatch.setattr(service_mod, "utcnow", clock)
    e = accounts.enrol_totp(home, "boss")
    accounts.confirm_totp(home, "boss", totp_mod.code_at(e.secret, clock.now))
    clock.now += dt.timedelta(seconds=30)
    code = totp_mod.code_at(e.secret, clock.now)
    r = run("login", input=f"boss\n{ADMIN_PW}\n{code}\n")
    assert r.exit_code == 0, r.output
    assert ADMIN_PW not in r.output and code not in r.output
    assert "验证码" in r.output


def test_scripted_login_needs_totp_once_enrolled(env, monkeypatch):
    home, inputs = env
    clock = Clock()
    monkeypatch.setattr(service_mod, "utcnow", clock)
    e = accounts.enrol_totp(home, "boss")
    accounts.confirm_totp(home, "boss", totp_mod.code_at(e.secret, clock.now))
    f = pwfile(inputs, "boss", ADMIN_PW)
    r = run("login", "--user", "boss", "--password-file", f)
    assert r.exit_code == 1 and "6 位验证码" in r.stderr
    r = run("login", "--user", "boss", "--password-file", f, "--totp",
            totp_mod.code_at(e.secret, clock.now))  # the enrolment's code: replay
    assert r.exit_code == 1 and "已经用过" in r.stderr
    clock.now += dt.timedelta(seconds=30)
    r = run("login", "--user", "boss", "--password-file", f, "--totp",
            totp_mod.code_at(e.secret, clock.now))
    assert r.exit_code == 0, r.output


def test_wrong_password_then_lockout_message_and_unlock(env, monkeypatch):
    home, inputs = env
    accounts.add_user(home, "li", "sales", by="boss", password=LI_PW)
    bad = pwfile(inputs, "bad", WRONG_PW)
    for _ in range(6):  # a guesser is never told about the lock (issue 13 item 11)
        r = run("login", "--user", "li", "--password-file", bad)
        assert r.exit_code == 1 and r.stderr.strip() == "crm: 账户名或密码不正确"
    r = run("login", "--user", "li", "--password-file", pwfile(inputs, "li", LI_PW))
    assert r.exit_code == 1 and "已锁定" in r.stderr  # the owner learns it, and until when
    assert re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", r.stderr)
    assert run("login", "--user", "boss", "--password-file",
               pwfile(inputs, "boss", ADMIN_PW)).exit_code == 0
    r = run("user", "list")
    assert re.search(r"li .*锁定至", r.output)
    assert run("user", "unlock", "li").exit_code == 0
    assert run("login", "--user", "li", "--password-file", pwfile(inputs, "li", LI_PW)
               ).exit_code == 0


def test_user_admin_commands_and_refusals(env):
    home, inputs = env
    assert run("login", "--user", "boss", "--password-file",
               pwfile(inputs, "boss", ADMIN_PW)).exit_code == 0
    r = run("user", "add", "li", "--role", "sales", "--display-name", "李四")
    assert r.exit_code == 0 and "设置码" in r.output
    setup = re.search(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", r.output).group(0)
    r = run("user", "add", "wang", "--role", "manager", "--password-file",
            pwfile(inputs, "wang", WANG_PW))
    assert r.exit_code == 0 and "设置码" not in r.output
    r = run("user", "list")
    assert r.exit_code == 0
    lines = {ln.split()[0]: ln for ln in r.output.splitlines()[1:] if ln.strip()}
    assert "管理员" in lines["boss"] and "正常" in lines["boss"] and " 关 " in lines["boss"]
    assert "销售" in lines["li"] and "待设置密码" in lines["li"]
    r = run("user", "list", "--format", "json")
    assert '"pending_setup": true' in r.output
    # li's first login: setup code + chosen password
    run("logout")
    r = run("login", "--user", "li", "--password-file", pwfile(inputs, "li", LI_PW))
    assert r.exit_code == 1 and "--setup-code" in r.stderr
    r = run("login", "--user", "li", "--password-file", pwfile(inputs, "li", LI_PW),
            "--setup-code", setup)
    assert r.exit_code == 0, r.output
    # a sales account is refused admin commands, with the reason, and audited
    for args in (["user", "list"], ["user", "add", "x", "--role", "sales"],
                 ["user", "disable", "wang"], ["user", "role", "wang", "sales"],
                 ["user", "unlock", "wang"], ["user", "passwd", "wang"]):
        r = run(*args)
        assert r.exit_code == 1 and "账户管理需要管理员权限" in r.stderr, args
    refused = [e for e in audit.read(home.state) if e["action"] == "refused"]
    assert len(refused) == 6 and {e["who"] for e in refused} == {"li"}
    # admin changes: role, disable, passwd reset end li's session
    run("login", "--user", "boss", "--password-file", pwfile(inputs, "boss", ADMIN_PW))
    assert run("user", "role", "li", "service").exit_code == 0
    assert run("user", "disable", "li").exit_code == 0
    r = run("login", "--user", "li", "--password-file", pwfile(inputs, "li", LI_PW))
    assert r.exit_code == 1 and "停用" in r.stderr
    run("login", "--user", "boss", "--password-file", pwfile(inputs, "boss", ADMIN_PW))
    assert run("user", "enable", "li").exit_code == 0
    r = run("user", "passwd", "li")
    assert r.exit_code == 0 and "设置码" in r.output
    assert accounts.needs_setup(home, "li")
    r = run("user", "disable", "boss")
    assert r.exit_code == 1 and "唯一的管理员" in r.stderr
    r = run("user", "add", "zhao", "--role", "boss")
    assert r.exit_code == 2


def test_not_logged_in_and_no_home(env, monkeypatch, tmp_path):
    r = run("user", "list")
    assert r.exit_code == 1 and "请先登录：crm login" in r.stderr
    monkeypatch.delenv("CRM_HOME")
    r = run("whoami")
    assert r.exit_code == 2 and "CRM_HOME" in r.stderr


def test_own_password_change(env):
    home, inputs = env
    run("login", "--user", "boss", "--password-file", pwfile(inputs, "boss", ADMIN_PW))
    r = run("user", "passwd", input=f"{ADMIN_PW}\n{WANG_PW}\n{WANG_PW}\n")
    assert r.exit_code == 0, r.output
    assert ADMIN_PW not in r.output and WANG_PW not in r.output
    assert run("whoami").exit_code == 1  # changing the password ends the session
    assert run("login", "--user", "boss", "--password-file",
               pwfile(inputs, "new", WANG_PW)).exit_code == 0


def test_short_password_is_refused_without_quoting_it(env):
    home, inputs = env
    run("login", "--user", "boss", "--password-file", pwfile(inputs, "boss", ADMIN_PW))
    r = run("user", "add", "li", "--role", "sales", "--password-file",
            pwfile(inputs, "short", "Sh0rt-pw"))
    assert r.exit_code == 2 and "至少需要 10 个字符" in r.stderr and "Sh0rt-pw" not in r.output


def test_english_home(tmp_path, crm_state_dir, monkeypatch):
    home = create_home(tmp_path / "home", lang="en")
    accounts.create_first_admin(home, "boss", ADMIN_PW)
    accounts.add_user(home, "li", "sales", by="boss", password=LI_PW)
    monkeypatch.setenv("CRM_HOME", str(home.root))
    f = tmp_path / "li.txt"
    f.write_text(LI_PW, encoding="utf-8")
    r = run("login", "--user", "li", "--password-file", str(f))
    assert r.exit_code == 0 and "Logged in as li" in r.output
    r = run("user", "list")
    assert r.exit_code == 1 and r.stderr.strip() == "crm: managing accounts needs the admin role"


def test_first_admin_bootstrap_with_user_add(tmp_path, crm_state_dir):
    home = create_home(tmp_path / "home")
    f = tmp_path / "pw.txt"
    f.write_text(ADMIN_PW, encoding="utf-8")
    r = run("user", "add", "li", "--role", "sales", "--home", str(home.root))
    assert r.exit_code == 1
    r = run("user", "add", "boss", "--role", "admin", "--password-file", str(f),
            "--home", str(home.root))
    assert r.exit_code == 0, r.output
    r = run("user", "add", "boss2", "--role", "admin", "--password-file", str(f),
            "--home", str(home.root))
    assert r.exit_code == 1 and "请先登录" in r.stderr


def test_init_creates_the_first_admin(tmp_path, crm_state_dir, monkeypatch):
    f = tmp_path / "pw.txt"
    f.write_text(ADMIN_PW + "\n", encoding="utf-8")
    r = run("init", str(tmp_path / "home"), "--admin", "boss", "--admin-password-file", str(f))
    assert r.exit_code == 0, r.output
    monkeypatch.setenv("CRM_HOME", str(tmp_path / "home"))
    assert run("login", "--user", "boss", "--password-file", str(f)).exit_code == 0
    r = run("whoami", "--format", "json")
    assert '"role": "admin"' in r.output


def test_no_secret_leaks_anywhere(env, monkeypatch, tmp_path):
    """Passwords, TOTP secret, recovery/setup codes and tokens stay in the state folder."""
    home, inputs = env
    clock = Clock()
    monkeypatch.setattr(service_mod, "utcnow", clock)
    outputs: list[tuple[str, str]] = []  # (label, text)
    tokens: list[str] = []

    def step(label: str, *args: str, input: str | None = None, ok: bool = True):
        r = run(*args, input=input)
        outputs.append((label, r.output))
        assert (r.exit_code == 0) == ok, (label, r.output)
        data = sessions.read_session_file(home)
        if data:
            tokens.append(data["token"])
        return r

    boss_f = pwfile(inputs, "boss", ADMIN_PW)
    step("login", "login", "--user", "boss", "--password-file", boss_f)
    r = step("setup", "user", "add", "li", "--role", "sales", "--display-name", "李四")
    setup_code = re.search(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", r.output).group(0)
    step("plain", "user", "add", "wang", "--role", "manager", "--password-file",
         pwfile(inputs, "wang", WANG_PW))
    step("plain", "logout")
    step("plain", "login", input=f"li\n{setup_code}\n{LI_PW}\n{LI_PW}\n")
    r = step("uri", "user", "totp", "--no-qr", input="", ok=False)  # no code typed yet
    secret = re.search(r"secret=([A-Z2-7]+)", r.output).group(1)
    r = step("recovery", "user", "totp", "--confirm", totp_mod.code_at(secret, clock.now))
    recovery = re.findall(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", r.output)
    assert len(recovery) == 10
    li_f = pwfile(inputs, "li", LI_PW)
    step("plain", "logout")
    step("plain", "login", "--user", "li", "--password-file", pwfile(inputs, "bad", WRONG_PW),
         ok=False)
    step("plain", "login", "--user", "li", "--password-file", li_f, "--totp", "123456", ok=False)
    step("plain", "login", "--user", "li", "--password-file", li_f, "--totp", recovery[0])
    step("plain", "login", "--user", "li", "--password-file", li_f, "--totp", recovery[0],
         ok=False)
    clock.now += dt.timedelta(seconds=30)
    step("plain", "login", "--user", "li", "--password-file", li_f, "--totp",
         totp_mod.code_at(secret, clock.now))
    step("plain", "whoami")
    step("plain", "user", "list", ok=False)
    step("plain", "login", "--user", "boss", "--password-file", boss_f)
    step("plain", "user", "list")
    step("plain", "user", "list", "--format", "json")
    r = step("setup", "user", "passwd", "li")
    setup_code2 = re.search(r"[a-z2-9]{4}-[a-z2-9]{4}-[a-z2-9]{4}", r.output).group(0)
    step("plain", "logout")

    passwords = [ADMIN_PW, LI_PW, WANG_PW, WRONG_PW]
    never_out = passwords + tokens + [secret] + recovery + [setup_code, setup_code2]
    allowed_in = {"uri": {secret}, "recovery": set(recovery), "setup": {setup_code, setup_code2}}
    for label, text in outputs:
        for s in never_out:
            if s not in allowed_in.get(label, set()):
                assert s not in text, (label, s)
    assert tokens and secret and setup_code

    def leaks(path: Path, secrets: list[str]) -> list[str]:
        data = path.read_bytes()
        return [s for s in secrets if s.encode() in data or s.replace("-", "").encode() in data]

    state = state_root()
    for path in tmp_path.rglob("*"):
        if path.is_file() and not path.is_relative_to(inputs) and not path.is_relative_to(state):
            assert not leaks(path, never_out), path
    log = audit.read(home.state)
    assert {"login", "login.failed", "totp.enrol", "user.add", "refused", "user.passwd",
            "user.password_set", "logout"} <= {e["action"] for e in log}
    assert not leaks(home.state / "audit.log", never_out)
    db = home.state / "accounts.db"
    assert not leaks(db, passwords + tokens + recovery + [setup_code, setup_code2])
    files = sorted(str(p.relative_to(state)) for p in state.rglob("*") if p.is_file())
    assert all(f.startswith(f"{home.home_id}/") or f.startswith("sessions/") for f in files), files
