"""What the `crm user`, `crm login` and `crm init` commands do, as library functions.

Every function takes the home and (where it matters) `now`, so tests inject the
clock. Each change is written to the audit log (who, when, what, never a secret).
Messages are in the home's language.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import secrets
import sqlite3
from dataclasses import dataclass

from .. import audit
from ..errors import CrmError, Refused
from ..home import CrmHome
from ..permissions import ROLES
from . import totp as totp_mod
from ._text import from_ts, iso, local_text, t, ts, utcnow
from .passwords import check_policy, hash_password, needs_rehash, verify_password
from .sessions import (
    SESSION_HOURS,
    Session,
    current_session,
    new_token,
    read_session_file,
    remove_session_file,
    token_digest,
    write_session_file,
)
from .store import AccountStore, UserRow

MAX_FAILURES = 5
LOCK_MINUTES = 15
SETUP_DAYS = 7
UNKNOWN_WHO = "(unknown)"
ROLE_ZH = {"admin": "管理员", "manager": "管理层", "sales": "销售", "service": "客服",
           "marketing": "市场"}
_NAME_RE = re.compile(r"^[^\s/\\:*?\"<>|\x00-\x1f]{1,64}$")
_DISPLAY_RE = re.compile(r"^[^\x00-\x1f\x7f]{1,64}$")  # owner names: spaces allowed ("Zhang Wei")


# --- errors -------------------------------------------------------------------------

class AccountError(CrmError):
    """Bad account usage (unknown account, bad role, name taken): exit 2."""


class LoginFailed(Refused):
    """Wrong name, password or code (counted towards the lock): exit 1.

    Also what a guesser gets for a locked account: only the right password learns of
    the lock (AccountLocked), so an answer never tells whether an account exists."""

    code = "bad_credentials"


class AccountLocked(Refused):
    """Too many failures: the account is locked until `until`. Raised only to someone
    who gave the right password (or a wrong second factor after it)."""

    code = "locked"

    def __init__(self, message: str, until: dt.datetime) -> None:
        super().__init__(message)
        self.until = until


class CodeRequired(Refused):
    """The password was right; the account has TOTP, so a code must follow."""

    code = "totp_required"


class SetupRequired(Refused):
    """The account has no password yet: the user must set one with the setup code."""

    code = "setup_required"


# --- public data --------------------------------------------------------------------

@dataclass(frozen=True)
class AccountInfo:
    """What `crm user list` shows about an account (no secrets)."""

    name: str
    display_name: str
    role: str
    totp: bool
    disabled: bool
    locked_until: dt.datetime | None
    last_login: dt.datetime | None
    pending_setup: bool

    @property
    def locked(self) -> bool:
        return self.locked_until is not None


@dataclass(frozen=True)
class TotpEnrolment:
    """A started enrolment: show `uri` (and its QR), then confirm with one code."""

    secret: str
    uri: str

    def __repr__(self) -> str:
        return "TotpEnrolment(...)"


# --- helpers ------------------------------------------------------------------------

def _audit(home: CrmHome, who: str, action: str, **details: object) -> None:
    audit.record(home.state, who, action, **details)


def _digest(code: str) -> str:
    return hashlib.sha256(totp_mod.normalize_code(code).encode()).hexdigest()


def _new_setup_code() -> str:
    return totp_mod.new_recovery_codes(1)[0]


def _credentials(home: CrmHome, name: str, password: str | None, now_ts: float
                 ) -> tuple[str | None, str | None, str | None, float | None]:
    """(password hash, setup code, setup-code hash, setup expiry): a checked password's
    hash, or, without one, a one-time setup code valid SETUP_DAYS."""
    if password is not None:
        check_policy(password, name=name, lang=home.lang)
        return hash_password(password), None, None, None
    code = _new_setup_code()
    return None, code, _digest(code), now_ts + SETUP_DAYS * 86400


def _info(user: UserRow, now_ts: float) -> AccountInfo:
    locked = user.locked_until if user.locked_until and user.locked_until > now_ts else None
    return AccountInfo(name=user.name, display_name=user.display_name, role=user.role,
                       totp=user.totp_enabled, disabled=user.disabled,
                       locked_until=from_ts(locked), last_login=from_ts(user.last_login),
                       pending_setup=user.pw_hash is None)


def _check_role(home: CrmHome, role: str) -> str:
    role = role.strip().lower()
    if role not in ROLES:
        raise AccountError(t(home.lang, f"未知角色 '{role}'（可选：{', '.join(ROLES)}）",
                             f"unknown role '{role}' (one of: {', '.join(ROLES)})"))
    return role


def _check_name(home: CrmHome, name: str, what_zh: str = "账户名", what_en: str = "account name"
                ) -> str:
    name = name.strip()
    pattern = _NAME_RE if what_en == "account name" else _DISPLAY_RE
    if not pattern.match(name):
        raise AccountError(t(home.lang, f"{what_zh} '{name}' 无效（1-64 个字符，不含空格和 / \\ :）",
                             f"{what_en} '{name}' is not valid (1-64 characters, no spaces or / \\ :)"))
    return name


def _need(home: CrmHome, con: sqlite3.Connection, name: str) -> UserRow:
    user = AccountStore.get(con, name)
    if user is None:
        raise AccountError(t(home.lang, f"没有名为 '{name}' 的账户", f"there is no account '{name}'"))
    return user


def _kill_sessions(con: sqlite3.Connection, name: str) -> None:
    con.execute("DELETE FROM sessions WHERE user = ?", (name,))


def _locked_message(lang: str, until: float, just_now: bool) -> str:
    when = local_text(until)
    if just_now:
        return t(lang, f"连续 {MAX_FAILURES} 次错误，账户已锁定 {LOCK_MINUTES} 分钟，至 {when}",
                 f"{MAX_FAILURES} failed attempts: the account is locked for {LOCK_MINUTES} minutes, "
                 f"until {when}")
    return t(lang, f"账户已锁定，请于 {when} 后再试（或请管理员解锁：crm user unlock）",
             f"the account is locked until {when} (or ask an admin: crm user unlock)")


def _enabled_admins(con: sqlite3.Connection) -> int:
    return con.execute("SELECT COUNT(*) FROM users WHERE role = 'admin' AND disabled = 0"
                       ).fetchone()[0]


def _guard_last_admin(home: CrmHome, con: sqlite3.Connection, user: UserRow) -> None:
    if user.role == "admin" and not user.disabled and _enabled_admins(con) <= 1:
        raise Refused(t(home.lang, f"'{user.name}' 是唯一的管理员，不能停用或降级",
                        f"'{user.name}' is the only admin and cannot be disabled or demoted"))


def _insert_user(home: CrmHome, con: sqlite3.Connection, name: str, role: str,
                 display_name: str, pw_hash: str | None, setup_hash: str | None,
                 setup_expires: float | None, now_ts: float) -> None:
    try:
        con.execute(
            "INSERT INTO users (name, display_name, role, pw_hash, setup_hash, setup_expires,"
            " recovery_salt, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (name, display_name, role, pw_hash, setup_hash, setup_expires,
             secrets.token_hex(16), now_ts))
    except sqlite3.IntegrityError:
        raise AccountError(t(home.lang, f"账户名或显示名 '{name}' / '{display_name}' 已被使用",
                             f"the account name or display name '{name}' / '{display_name}' "
                             "is already taken")) from None


# --- accounts -----------------------------------------------------------------------

def has_accounts(home: CrmHome) -> bool:
    store = AccountStore(home)
    if not store.exists():
        return False
    with store.read() as con:
        return con.execute("SELECT COUNT(*) FROM users").fetchone()[0] > 0


def create_first_admin(home: CrmHome, name: str, password: str,
                       display_name: str | None = None) -> AccountInfo:
    """Create the home's first account, an admin (what `crm init` calls)."""
    name = _check_name(home, name)
    display = _check_name(home, display_name or name, "显示名", "display name")
    check_policy(password, name=name, lang=home.lang)
    pw_hash = hash_password(password)
    store = AccountStore(home)
    now_ts = ts(utcnow())
    with store.write() as con:
        if con.execute("SELECT COUNT(*) FROM users").fetchone()[0]:
            raise AccountError(t(home.lang, "此 CRM 主目录已有账户；请用 crm user add 添加",
                                 "this CRM home already has accounts; use crm user add"))
        _insert_user(home, con, name, "admin", display, pw_hash, None, None, now_ts)
        user = _need(home, con, name)
    _audit(home, name, "user.create_admin", user=name)
    return _info(user, now_ts)


def add_user(home: CrmHome, name: str, role: str, *, by: str, display_name: str | None = None,
             password: str | None = None, now: dt.datetime | None = None) -> str | None:
    """Add an account. Without `password`, return a one-time setup code (valid 7 days)
    with which the user chooses their own password at first login."""
    name = _check_name(home, name)
    display = _check_name(home, display_name or name, "显示名", "display name")
    role = _check_role(home, role)
    now_ts = ts(utcnow(now))
    pw_hash, setup_code, setup_hash, setup_expires = _credentials(home, name, password, now_ts)
    with AccountStore(home).write() as con:
        _insert_user(home, con, name, role, display, pw_hash, setup_hash, setup_expires, now_ts)
    _audit(home, by, "user.add", user=name, display_name=display, role=role,
           pending_setup=password is None)
    return setup_code


def get_user(home: CrmHome, name: str, now: dt.datetime | None = None) -> AccountInfo:
    store = AccountStore(home)
    with store.read() as con:
        return _info(_need(home, con, name), ts(utcnow(now)))


def list_users(home: CrmHome, now: dt.datetime | None = None) -> list[AccountInfo]:
    store = AccountStore(home)
    if not store.exists():
        return []
    now_ts = ts(utcnow(now))
    with store.read() as con:
        return [_info(u, now_ts) for u in store.all(con)]


def owner_names(home: CrmHome) -> list[str]:
    """Display names of enabled accounts: the values allowed in owner columns."""
    return [u.display_name for u in list_users(home) if not u.disabled]


def account_for_owner(home: CrmHome, owner: str) -> AccountInfo | None:
    """The account an owner cell (a display name) or a docProps author refers to."""
    key = owner.strip().casefold()
    if not key:
        return None
    users = list_users(home)
    for u in users:
        if u.display_name.casefold() == key:
            return u
    for u in users:
        if u.name.casefold() == key:
            return u
    return None


def disable_user(home: CrmHome, name: str, *, by: str) -> None:
    """Disable an account and end its sessions (the last enabled admin is kept)."""
    with AccountStore(home).write() as con:
        user = _need(home, con, name)
        _guard_last_admin(home, con, user)
        AccountStore.update(con, user.name, disabled=1)
        _kill_sessions(con, user.name)
    _audit(home, by, "user.disable", user=user.name)


def enable_user(home: CrmHome, name: str, *, by: str) -> None:
    with AccountStore(home).write() as con:
        user = _need(home, con, name)
        AccountStore.update(con, user.name, disabled=0, failures=0, locked_until=None)
    _audit(home, by, "user.enable", user=user.name)


def set_role(home: CrmHome, name: str, role: str, *, by: str) -> None:
    """Change an account's role; its sessions end (it logs in again with the new role)."""
    role = _check_role(home, role)
    with AccountStore(home).write() as con:
        user = _need(home, con, name)
        if role != "admin":
            _guard_last_admin(home, con, user)
        AccountStore.update(con, user.name, role=role)
        _kill_sessions(con, user.name)
    _audit(home, by, "user.role", user=user.name, old_role=user.role, new_role=role)


def unlock_user(home: CrmHome, name: str, *, by: str) -> None:
    with AccountStore(home).write() as con:
        user = _need(home, con, name)
        AccountStore.update(con, user.name, failures=0, locked_until=None)
    _audit(home, by, "user.unlock", user=user.name)


def reset_password(home: CrmHome, name: str, *, by: str, password: str | None = None,
                   now: dt.datetime | None = None) -> str | None:
    """Admin reset: set `password`, or (without one) clear it and return a setup code.
    Sessions end, the lock is lifted; an enrolled authenticator stays enrolled."""
    now_ts = ts(utcnow(now))
    pw_hash, setup_code, setup_hash, setup_expires = _credentials(home, name, password, now_ts)
    with AccountStore(home).write() as con:
        user = _need(home, con, name)
        AccountStore.update(con, user.name, pw_hash=pw_hash, setup_hash=setup_hash,
                            setup_expires=setup_expires, failures=0, locked_until=None)
        _kill_sessions(con, user.name)
    _audit(home, by, "user.passwd", user=user.name, pending_setup=password is None)
    return setup_code


def change_password(home: CrmHome, name: str, old_password: str, new_password: str,
                    now: dt.datetime | None = None) -> None:
    """A user changes their own password (the old one is checked and counted)."""
    now_ = utcnow(now)
    store = AccountStore(home)
    with store.read() as con:
        user = _need(home, con, name)
    _raise_if_locked(home, user, now_)
    if not verify_password(user.pw_hash, old_password):
        _failure(home, user.name, now_, "password")
    check_policy(new_password, name=user.name, lang=home.lang)
    pw_hash = hash_password(new_password)
    with store.write() as con:
        AccountStore.update(con, user.name, pw_hash=pw_hash, failures=0)
        _kill_sessions(con, user.name)
    remove_session_file(home)
    _audit(home, user.name, "user.passwd", user=user.name, self_service=True)


# --- TOTP ---------------------------------------------------------------------------

def enrol_totp(home: CrmHome, name: str) -> TotpEnrolment:
    """Start enrolling an authenticator: a new secret waits for one confirming code."""
    secret = totp_mod.new_secret()
    with AccountStore(home).write() as con:
        user = _need(home, con, name)
        AccountStore.update(con, user.name, totp_pending=secret)
    label = f"{user.name}@{home.root.name}"
    return TotpEnrolment(secret=secret, uri=totp_mod.provisioning_uri(secret, label))


def confirm_totp(home: CrmHome, name: str, code: str, now: dt.datetime | None = None
                 ) -> list[str]:
    """Confirm the pending secret with one code; return ten recovery codes (shown once)."""
    now_ = utcnow(now)
    codes = totp_mod.new_recovery_codes()
    with AccountStore(home).write() as con:
        user = _need(home, con, name)
        if not user.totp_pending:
            raise AccountError(t(home.lang, "没有待确认的验证器：先运行 crm user totp",
                                 "no authenticator is waiting for confirmation: run crm user totp"))
        step = totp_mod.match_step(user.totp_pending, code, now_, -1)
        if step is None:
            raise Refused(t(home.lang, "验证码不正确：请检查手机时间后再试",
                            "that code is not right: check the phone's clock and try again"))
        salt = user.recovery_salt or secrets.token_hex(16)
        AccountStore.update(con, user.name, totp_secret=user.totp_pending, totp_pending=None,
                            totp_last_step=step, recovery_salt=salt)
        con.execute("DELETE FROM recovery_codes WHERE user = ?", (user.name,))
        con.executemany("INSERT INTO recovery_codes (user, code_hash) VALUES (?, ?)",
                        [(user.name, totp_mod.hash_recovery(c, salt)) for c in codes])
    _audit(home, user.name, "totp.enrol", user=user.name, recovery_codes=len(codes))
    return codes


def reset_totp(home: CrmHome, name: str, *, by: str) -> None:
    """Admin: remove an account's authenticator and recovery codes (lost phone)."""
    with AccountStore(home).write() as con:
        user = _need(home, con, name)
        AccountStore.update(con, user.name, totp_secret=None, totp_pending=None,
                            totp_last_step=0)
        con.execute("DELETE FROM recovery_codes WHERE user = ?", (user.name,))
        _kill_sessions(con, user.name)
    _audit(home, by, "totp.reset", user=user.name)


def recovery_codes_left(home: CrmHome, name: str) -> int:
    with AccountStore(home).read() as con:
        return con.execute("SELECT COUNT(*) FROM recovery_codes WHERE user = ? AND used_at IS NULL",
                           (name,)).fetchone()[0]


# --- login --------------------------------------------------------------------------

def _raise_if_locked(home: CrmHome, user: UserRow, now: dt.datetime) -> None:
    if user.locked_until and user.locked_until > ts(now):
        _audit(home, user.name, "login.refused", reason="locked", until=iso(user.locked_until))
        raise AccountLocked(_locked_message(home.lang, user.locked_until, False),
                            from_ts(user.locked_until) or now)


def _register_failure(con: sqlite3.Connection, name: str, now_ts: float) -> float | None:
    """Count one failure inside a write transaction; return the lock end if it locks now."""
    row = AccountStore.get(con, name)
    if row is None:
        return None
    failures = row.failures + 1
    if failures >= MAX_FAILURES:
        until = now_ts + LOCK_MINUTES * 60
        AccountStore.update(con, name, failures=0, locked_until=until)
        return until
    AccountStore.update(con, name, failures=failures)
    return None


def _failure(home: CrmHome, name: str, now: dt.datetime, reason: str) -> None:
    """Count a failed attempt in its own transaction, then report it (always raises)."""
    with AccountStore(home).write() as con:
        until = _register_failure(con, name, ts(now))
    _report_failure(home, name, now, reason, until)


def _report_failure(home: CrmHome, name: str, now: dt.datetime, reason: str,
                    until: float | None) -> None:
    """Audit a counted failure (and the lockout it caused) and raise the matching error."""
    _audit(home, name, "login.failed", reason=reason)
    if until is not None:
        _audit(home, name, "user.lockout", until=iso(until), minutes=LOCK_MINUTES)
        raise AccountLocked(_locked_message(home.lang, until, True), from_ts(until) or now)
    lang = home.lang
    if reason == "replayed":
        raise LoginFailed(t(lang, "这个验证码已经用过了：请等下一个验证码",
                            "that code was already used: wait for the next one"))
    if reason == "code":
        raise LoginFailed(t(lang, "验证码或恢复码不正确", "wrong code or recovery code"))
    if reason == "setup":
        raise LoginFailed(t(lang, "设置码不正确或已过期", "wrong or expired setup code"))
    raise LoginFailed(t(lang, "账户名或密码不正确", "wrong account name or password"))


def needs_setup(home: CrmHome, name: str) -> bool:
    """True when the account exists and waits for its first password."""
    store = AccountStore(home)
    if not store.exists():
        return False
    with store.read() as con:
        user = store.get(con, name)
    return user is not None and user.pw_hash is None and not user.disabled


def complete_setup(home: CrmHome, name: str, setup_code: str, new_password: str,
                   now: dt.datetime | None = None) -> None:
    """First login: the user proves the admin's setup code and chooses a password."""
    now_ = utcnow(now)
    store = AccountStore(home)
    with store.read() as con:
        user = store.get(con, name)
    if user is None or user.pw_hash is not None or not user.setup_hash:
        raise LoginFailed(t(home.lang, "此账户不需要设置密码", "this account has no password to set"))
    _raise_if_locked(home, user, now_)
    if (not hmac.compare_digest(user.setup_hash, _digest(setup_code))
            or (user.setup_expires or 0) <= ts(now_)):
        _failure(home, user.name, now_, "setup")
    check_policy(new_password, name=user.name, lang=home.lang)
    pw_hash = hash_password(new_password)
    with store.write() as con:
        AccountStore.update(con, user.name, pw_hash=pw_hash, setup_hash=None,
                            setup_expires=None, failures=0)
    _audit(home, user.name, "user.password_set", user=user.name)


def _charge(home: CrmHome, name: str, now_ts: float) -> tuple[UserRow | None, float | None]:
    """Count this attempt against the limit before its password is checked, in one
    BEGIN IMMEDIATE transaction: (account or None, lock end if the attempt may not be
    checked). Attempts still running count too, so however many guesses arrive at once,
    at most MAX_FAILURES passwords are checked before the lock: the one that finds the
    limit taken locks the account. A right password gives its charge back."""
    with AccountStore(home).write() as con:
        user = AccountStore.get(con, name)
        if user is None:
            return None, None
        if user.locked_until and user.locked_until > now_ts:
            return user, user.locked_until
        if user.pw_hash is None:
            return user, None
        if user.failures >= MAX_FAILURES:
            until = now_ts + LOCK_MINUTES * 60
            AccountStore.update(con, user.name, failures=0, locked_until=until)
            locked_now = until
        else:
            AccountStore.update(con, user.name, failures=user.failures + 1)
            return user, None
    _audit(home, user.name, "user.lockout", until=iso(locked_now), minutes=LOCK_MINUTES)
    return user, locked_now


def _settle_failure(con: sqlite3.Connection, name: str, now_ts: float) -> float | None:
    """A charged attempt failed (inside a write transaction): lock when the charges
    reached the limit; return the lock end if this locked the account."""
    row = AccountStore.get(con, name)
    if row is None or (row.locked_until and row.locked_until > now_ts):
        return None
    if row.failures >= MAX_FAILURES:
        until = now_ts + LOCK_MINUTES * 60
        AccountStore.update(con, name, failures=0, locked_until=until)
        return until
    return None


def _bad_credentials(lang: str) -> LoginFailed:
    return LoginFailed(t(lang, "账户名或密码不正确", "wrong account name or password"))


def login(home: CrmHome, name: str, password: str, code: str | None = None,
          now: dt.datetime | None = None, *, session_file: bool = True,
          client: str | None = None) -> Session:
    """Check password (and TOTP or recovery code when enrolled); open an 8-hour session.

    Raises LoginFailed, AccountLocked, CodeRequired (password right, code missing),
    SetupRequired (no password yet) or Refused (disabled). Five failures lock the
    account for 15 minutes. An unknown account, a wrong password and a locked account
    with a wrong password give the same answer after the same password hashing; only the
    right password learns of a lock (AccountLocked with `until`). Each exception has a
    `code` (bad_credentials, locked, totp_required, setup_required) for the portal.
    """
    now_ = utcnow(now)
    lang = home.lang
    store = AccountStore(home)
    user, locked_until = _charge(home, name.strip(), ts(now_))
    if user is None:
        verify_password(None, password)  # same time as a real check
        _audit(home, UNKNOWN_WHO, "login.failed", reason="unknown_account")
        raise _bad_credentials(lang)
    if user.pw_hash is None and locked_until is None:
        raise SetupRequired(t(lang, "此账户还没有密码：用管理员给的设置码设置密码（crm login 会询问）",
                              "this account has no password yet: set one with the setup code "
                              "from your admin (crm login asks for it)"))
    password_ok = verify_password(user.pw_hash, password)  # run even when locked: same time
    if locked_until is not None:
        _audit(home, user.name, "login.refused", reason="locked", until=iso(locked_until))
        if password_ok:
            raise AccountLocked(_locked_message(lang, locked_until, False),
                                from_ts(locked_until) or now_)
        raise _bad_credentials(lang)
    if not password_ok:
        with store.write() as con:
            until = _settle_failure(con, user.name, ts(now_))
        _audit(home, user.name, "login.failed", reason="password")
        if until is not None:
            _audit(home, user.name, "user.lockout", until=iso(until), minutes=LOCK_MINUTES)
        raise _bad_credentials(lang)
    if user.disabled or (user.totp_enabled and not code):
        with store.write() as con:  # the right password gives its charge back
            con.execute("UPDATE users SET failures = MAX(failures - 1, 0) WHERE name = ?",
                        (user.name,))
    if user.disabled:
        _audit(home, user.name, "login.refused", reason="disabled")
        raise Refused(t(lang, "此账户已停用", "this account is disabled"))
    if user.totp_enabled and not code:
        raise CodeRequired(t(lang, "此账户已启用两步验证：请输入 6 位验证码（或恢复码）",
                             "this account uses two-factor login: give the 6-digit code "
                             "(or a recovery code)"))
    new_hash = hash_password(password) if needs_rehash(user.pw_hash) else None
    token = new_token()
    expires = now_ + dt.timedelta(hours=SESSION_HOURS)
    method = "password"
    with store.write() as con:
        fresh = _need(home, con, user.name)
        changes: dict[str, object] = {}
        failure = ""
        if fresh.totp_secret:
            given = code or ""
            if totp_mod.looks_like_totp(given):
                step = totp_mod.match_step(fresh.totp_secret, given, now_, fresh.totp_last_step)
                if step is None:
                    failure = ("replayed" if totp_mod.was_replayed(
                        fresh.totp_secret, given, now_, fresh.totp_last_step) else "code")
                else:
                    method, changes["totp_last_step"] = "totp", step
            else:
                cur = con.execute(
                    "UPDATE recovery_codes SET used_at = ? WHERE user = ? AND code_hash = ?"
                    " AND used_at IS NULL",
                    (ts(now_), fresh.name, totp_mod.hash_recovery(given, fresh.recovery_salt or "")))
                if cur.rowcount == 1:
                    method = "recovery"
                else:
                    failure = "code"
        # A charged attempt whose password was right is one of the checks the limit
        # allows, even if another guess locked the account meanwhile: it logs in.
        outcome = (failure, _settle_failure(con, fresh.name, ts(now_))) if failure else None
        if outcome is None:
            if new_hash:
                changes["pw_hash"] = new_hash
            AccountStore.update(con, fresh.name, failures=0, locked_until=None,
                                last_login=ts(now_), **changes)
            con.execute("DELETE FROM sessions WHERE expires_at <= ?", (ts(now_),))
            con.execute("INSERT INTO sessions (token_hash, user, created_at, expires_at)"
                        " VALUES (?, ?, ?, ?)",
                        (token_digest(token), fresh.name, ts(now_), ts(expires)))
    if outcome is not None:
        _report_failure(home, user.name, now_, *outcome)
    if session_file:  # the CLI's login; the portal keeps the token in a cookie instead
        write_session_file(home, user.name, token, expires)
    details: dict[str, object] = {"method": method, "expires": iso(expires)}
    if client:
        details["client"] = client
    if method == "recovery":
        details["recovery_left"] = recovery_codes_left(home, user.name)
    if new_hash:
        details["rehashed"] = True
    _audit(home, user.name, "login", **details)
    return Session(name=user.name, display_name=user.display_name, role=user.role,
                   expires_at=expires, token=token)


def logout(home: CrmHome) -> str | None:
    """End this OS user's session in the home; return the account name, or None."""
    data = read_session_file(home)
    remove_session_file(home)
    if data is None:
        return None
    store = AccountStore(home)
    if store.exists():
        with store.write() as con:
            con.execute("DELETE FROM sessions WHERE token_hash = ?",
                        (token_digest(data["token"]),))
    _audit(home, data["user"], "logout")
    return data["user"]


def whoami(home: CrmHome, now: dt.datetime | None = None) -> Session | None:
    return current_session(home, now)
