"""Login sessions: a token file per OS user and home, a token digest in the store.

The file `state_root()/sessions/<home_id>.json` (folder 0700, file 0600, written
atomically) holds the account name, the expiry and a random token; accounts.db keeps
only the token's SHA-256. A session is valid while both agree, it has not expired
(8 hours) and the account is enabled. Logout, disable, password reset and role
change delete the account's session rows, so every copy of the token stops working.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import secrets
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..home import CrmHome, check_home_id, ensure_private_dir, state_root
from ._text import from_ts, ts, utcnow
from .store import AccountStore

SESSION_HOURS = 8


@dataclass(frozen=True)
class Session:
    """A logged-in account (the token is kept out of repr)."""

    name: str
    display_name: str
    role: str
    expires_at: dt.datetime
    token: str = field(default="", repr=False, compare=False)


def session_path(home: CrmHome) -> Path:
    """This OS user's session file for the home (named by the checked home id only)."""
    return ensure_private_dir(state_root() / "sessions") / f"{check_home_id(home.home_id)}.json"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii")).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


def write_session_file(home: CrmHome, name: str, token: str, expires_at: dt.datetime) -> Path:
    """Write the session file atomically with mode 0600."""
    path = session_path(home)
    data = {"home_id": home.home_id, "user": name, "expires_at": expires_at.isoformat(),
            "token": token}
    fd, tmp = tempfile.mkstemp(prefix=".session-", dir=path.parent)  # created 0600
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(data, fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if os.name == "posix":
        os.chmod(path, 0o600)
    return path


def read_session_file(home: CrmHome) -> dict[str, str] | None:
    path = session_path(home)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("home_id") != home.home_id:
        return None
    if not isinstance(data.get("token"), str) or not isinstance(data.get("user"), str):
        return None
    return data


def remove_session_file(home: CrmHome) -> None:
    session_path(home).unlink(missing_ok=True)


def current_session(home: CrmHome, now: dt.datetime | None = None) -> Session | None:
    """The valid session of this OS user in this home, else None."""
    data = read_session_file(home)
    if data is None:
        return None
    store = AccountStore(home)
    if not store.exists():
        return None
    now_ts = ts(utcnow(now))
    with store.read() as con:
        row = con.execute("SELECT user, expires_at FROM sessions WHERE token_hash = ?",
                          (token_digest(data["token"]),)).fetchone()
        if row is None or row["user"].casefold() != data["user"].casefold():
            return None
        if row["expires_at"] <= now_ts:
            return None
        user = store.get(con, row["user"])
    if user is None or user.disabled:
        return None
    return Session(name=user.name, display_name=user.display_name, role=user.role,
                   expires_at=from_ts(row["expires_at"]) or utcnow(now), token=data["token"])
