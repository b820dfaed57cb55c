"""Password hashing (argon2id) and the password policy.

Parameters are above OWASP's minimum for argon2id (m=19 MiB, t=2, p=1): 64 MiB,
two passes, one lane, which verifies in about 0.15 s here. `needs_rehash` lets a
login upgrade an old hash when these change. A password is never put in an
exception message, a log line or the audit log.
"""

from __future__ import annotations

from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from ..errors import CrmError
from ._text import t

MIN_LENGTH = 10
MAX_LENGTH = 1024
TIME_COST = 2
MEMORY_COST_KIB = 64 * 1024
PARALLELISM = 1

HASHER = PasswordHasher(time_cost=TIME_COST, memory_cost=MEMORY_COST_KIB,
                        parallelism=PARALLELISM, hash_len=32, salt_len=16)
# Verified against when the account does not exist, so an unknown name costs the same time.
_DUMMY_HASH = HASHER.hash("not-a-real-password-dummy")


class WeakPassword(CrmError):
    """The chosen password breaks the policy (exit 2); the message never quotes it."""


def check_policy(password: str, *, name: str = "", lang: str = "zh") -> None:
    """Raise WeakPassword unless `password` is acceptable (≥ 10 characters, not the name)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(t(lang, f"密码至少需要 {MIN_LENGTH} 个字符",
                             f"the password needs at least {MIN_LENGTH} characters"))
    if len(password) > MAX_LENGTH:
        raise WeakPassword(t(lang, f"密码不能超过 {MAX_LENGTH} 个字符",
                             f"the password must not exceed {MAX_LENGTH} characters"))
    if not password.strip():
        raise WeakPassword(t(lang, "密码不能全是空白", "the password must not be blank"))
    if name and password.strip().casefold() == name.strip().casefold():
        raise WeakPassword(t(lang, "密码不能与账户名相同",
                             "the password must not be the account name"))


def hash_password(password: str) -> str:
    return HASHER.hash(password)


def verify_password(stored_hash: str | None, password: str) -> bool:
    """True when `password` matches; an absent or malformed hash costs the same and fails."""
    try:
        return HASHER.verify(stored_hash or _DUMMY_HASH, password) and stored_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    try:
        return HASHER.check_needs_rehash(stored_hash)
    except (InvalidHashError, ValueError):
        return True


def read_password_file(path: str | Path, *, lang: str = "zh") -> str:
    """The password on the first line of `path` (line ending removed, nothing else)."""
    try:
        with open(path, encoding="utf-8-sig") as fh:
            line = fh.readline()
    except (OSError, UnicodeDecodeError) as exc:
        raise CrmError(t(lang, f"无法读取密码文件 {path}（{type(exc).__name__}）",
                         f"cannot read the password file {path} ({type(exc).__name__})")) from None
    password = line.rstrip("\r\n")
    if not password:
        raise CrmError(t(lang, f"密码文件 {path} 的第一行是空的",
                         f"the first line of the password file {path} is empty"))
    return password
