"""Accounts: argon2id passwords, TOTP two-factor login, lockout, sessions (DESIGN §3, §7).

Everything lives in the home's private state folder (CrmHome.state, 0700):
`accounts.db` (SQLite: hashes, TOTP secrets, recovery-code digests, session-token
digests) and the audit log; the session token file sits under
`state_root()/sessions/`. Nothing here is ever written into a workbook or the home.
See docs/accounts.md.
"""

from __future__ import annotations

from .passwords import WeakPassword, check_policy, read_password_file
from .service import (
    LOCK_MINUTES,
    MAX_FAILURES,
    AccountError,
    AccountInfo,
    AccountLocked,
    CodeRequired,
    LoginFailed,
    SetupRequired,
    TotpEnrolment,
    account_for_owner,
    add_user,
    change_password,
    complete_setup,
    confirm_totp,
    create_first_admin,
    disable_user,
    enable_user,
    enrol_totp,
    get_user,
    has_accounts,
    list_users,
    login,
    logout,
    needs_setup,
    owner_names,
    recovery_codes_left,
    reset_password,
    reset_totp,
    set_role,
    unlock_user,
    whoami,
)
from .sessions import SESSION_HOURS, Session, current_session

__all__ = [
    "LOCK_MINUTES", "MAX_FAILURES", "SESSION_HOURS", "AccountError", "AccountInfo",
    "AccountLocked", "CodeRequired", "LoginFailed", "Session", "SetupRequired",
    "TotpEnrolment", "WeakPassword", "account_for_owner", "add_user", "change_password",
    "check_policy", "complete_setup", "confirm_totp", "create_first_admin", "current_session",
    "disable_user", "enable_user", "enrol_totp", "get_user", "has_accounts", "list_users",
    "login", "logout", "needs_setup", "owner_names", "read_password_file",
    "recovery_codes_left", "reset_password", "reset_totp", "set_role", "unlock_user", "whoami",
]
