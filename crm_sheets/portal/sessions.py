"""Server-side portal sessions: a cookie token, its digest in the accounts store.

`accounts.login(..., session_file=False)` opens the account's session (a row in
accounts.db's `sessions`, 8 hours absolute); the portal keeps its own row in
`portal.db` in the private state folder with the CSRF token and the last-seen time
(idle expiry). A session is valid while both rows exist, neither has expired, and the
account is enabled, so logout, disable, password reset and role change (which delete
the account's session rows) end portal sessions too.
"""

from __future__ import annotations

import datetime as dt
import secrets
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from ..accounts.sessions import token_digest
from ..accounts.store import AccountStore
from ..home import CrmHome

IDLE_MINUTES = 30
_SCHEMA = """
CREATE TABLE IF NOT EXISTS portal_sessions (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL,
    csrf TEXT NOT NULL,
    client TEXT,
    created_at REAL NOT NULL,
    last_seen REAL NOT NULL
);
"""


@dataclass(frozen=True)
class PortalSession:
    """A logged-in browser or script: who, their current role, the CSRF token."""

    name: str
    display_name: str
    role: str
    csrf: str
    token: str


class SessionStore:
    """Portal sessions of one home (SQLite in its private state folder)."""

    def __init__(self, home: CrmHome, state_dir: Path | None = None,
                 idle_minutes: float = IDLE_MINUTES) -> None:
        self.home = home
        self.path = Path(state_dir or home.state) / "portal.db"
        self.idle = idle_minutes * 60
        with self._connect() as con:
            con.executescript(_SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        con.row_factory = sqlite3.Row
        return con

    def open(self, name: str, token: str, client: str | None) -> str:
        """Remember a new session (after accounts.login); return its CSRF token."""
        csrf = secrets.token_urlsafe(24)
        now = time.time()
        with self._connect() as con:
            con.execute("DELETE FROM portal_sessions WHERE last_seen < ?", (now - self.idle,))
            con.execute("INSERT INTO portal_sessions VALUES (?, ?, ?, ?, ?, ?)",
                        (token_digest(token), name, csrf, client, now, now))
        return csrf

    def get(self, token: str | None, now: float | None = None) -> PortalSession | None:
        """The valid session for a cookie token, touching its idle clock; else None."""
        if not token or len(token) > 200:
            return None
        now = time.time() if now is None else now
        digest = token_digest(token)
        with self._connect() as con:
            row = con.execute("SELECT * FROM portal_sessions WHERE token_hash = ?",
                              (digest,)).fetchone()
            if row is None:
                return None
            if row["last_seen"] + self.idle <= now:
                con.execute("DELETE FROM portal_sessions WHERE token_hash = ?", (digest,))
                return None
        store = AccountStore(self.home)
        with store.read() as acon:
            srow = acon.execute("SELECT user, expires_at FROM sessions WHERE token_hash = ?",
                                (digest,)).fetchone()
            user = store.get(acon, row["user"]) if srow is not None else None
        if srow is None or srow["expires_at"] <= now or user is None or user.disabled:
            self.close(token)
            return None
        with self._connect() as con:
            con.execute("UPDATE portal_sessions SET last_seen = ? WHERE token_hash = ?",
                        (now, digest))
        return PortalSession(name=user.name, display_name=user.display_name, role=user.role,
                             csrf=row["csrf"], token=token)

    def close(self, token: str) -> None:
        """End a session in both stores."""
        digest = token_digest(token)
        with self._connect() as con:
            con.execute("DELETE FROM portal_sessions WHERE token_hash = ?", (digest,))
        store = AccountStore(self.home)
        if store.exists():
            with store.write() as acon:
                acon.execute("DELETE FROM sessions WHERE token_hash = ?", (digest,))


def expires_in(session_expires: dt.datetime) -> int:
    """Seconds until an absolute expiry (for the cookie's Max-Age)."""
    return max(0, int((session_expires - dt.datetime.now(dt.UTC)).total_seconds()))
