"""The accounts store: one SQLite file in the home's private state folder.

`accounts.db` (0600, in CrmHome.state, 0700) holds, per account: role, display
name, argon2id hash, TOTP secret and last accepted step, salted recovery-code
digests, failure counter and lock, and the SHA-256 digests of live session tokens.
Every read-modify-write runs in a `BEGIN IMMEDIATE` transaction, so concurrent
logins (threads or processes) serialise on SQLite's own portable file lock and
never corrupt it.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from ..home import CrmHome, check_private

DB_NAME = "accounts.db"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_S = 30

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY COLLATE NOCASE,
    display_name TEXT NOT NULL UNIQUE COLLATE NOCASE,
    role TEXT NOT NULL,
    pw_hash TEXT,
    setup_hash TEXT,
    setup_expires REAL,
    disabled INTEGER NOT NULL DEFAULT 0,
    totp_secret TEXT,
    totp_pending TEXT,
    totp_last_step INTEGER NOT NULL DEFAULT 0,
    recovery_salt TEXT,
    failures INTEGER NOT NULL DEFAULT 0,
    locked_until REAL,
    last_login REAL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS recovery_codes (
    user TEXT NOT NULL COLLATE NOCASE,
    code_hash TEXT NOT NULL,
    used_at REAL,
    PRIMARY KEY (user, code_hash)
);
CREATE TABLE IF NOT EXISTS sessions (
    token_hash TEXT PRIMARY KEY,
    user TEXT NOT NULL COLLATE NOCASE,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL
);
"""


@dataclass(frozen=True)
class UserRow:
    """One account as stored (secrets included: never print or log this object)."""

    name: str
    display_name: str
    role: str
    pw_hash: str | None
    setup_hash: str | None
    setup_expires: float | None
    disabled: bool
    totp_secret: str | None
    totp_pending: str | None
    totp_last_step: int
    recovery_salt: str | None
    failures: int
    locked_until: float | None
    last_login: float | None
    created_at: float

    def __repr__(self) -> str:  # keep secrets out of tracebacks and debug output
        return f"UserRow(name={self.name!r}, role={self.role!r}, disabled={self.disabled})"

    @property
    def totp_enabled(self) -> bool:
        return bool(self.totp_secret)


_COLUMNS = ", ".join(UserRow.__dataclass_fields__)


class AccountStore:
    """Access to accounts.db of one home."""

    def __init__(self, home: CrmHome) -> None:
        self.home = home
        self.path: Path = home.state / DB_NAME
        self._ready = False

    def exists(self) -> bool:
        return self.path.is_file()

    def _connect(self) -> sqlite3.Connection:
        if not self.path.exists():
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600)
            os.close(fd)
            if os.name == "posix":
                os.chmod(self.path, 0o600)
        else:  # one already there must be ours alone (hashes, TOTP secrets)
            check_private(self.path, what_zh="账户数据库", what_en="accounts database")
        con = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None)
        con.row_factory = sqlite3.Row
        con.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_S * 1000}")
        if not self._ready:
            con.execute("BEGIN IMMEDIATE")
            try:
                for statement in _SCHEMA.split(";"):
                    if statement.strip():
                        con.execute(statement)
                con.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)",
                            (str(SCHEMA_VERSION),))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
            self._ready = True
        return con

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        con = self._connect()
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction holding SQLite's reserved lock until commit."""
        con = self._connect()
        try:
            con.execute("BEGIN IMMEDIATE")
            try:
                yield con
            except BaseException:
                con.execute("ROLLBACK")
                raise
            con.execute("COMMIT")
        finally:
            con.close()

    @staticmethod
    def get(con: sqlite3.Connection, name: str) -> UserRow | None:
        row = con.execute(f"SELECT {_COLUMNS} FROM users WHERE name = ?", (name,)).fetchone()
        return None if row is None else _row(row)

    @staticmethod
    def all(con: sqlite3.Connection) -> list[UserRow]:
        rows = con.execute(f"SELECT {_COLUMNS} FROM users ORDER BY name").fetchall()
        return [_row(r) for r in rows]

    @staticmethod
    def update(con: sqlite3.Connection, name: str, **values: object) -> None:
        sets = ", ".join(f"{k} = ?" for k in values)
        con.execute(f"UPDATE users SET {sets} WHERE name = ?", (*values.values(), name))


def _row(row: sqlite3.Row) -> UserRow:
    data = dict(row)
    data["disabled"] = bool(data["disabled"])
    return UserRow(**data)
