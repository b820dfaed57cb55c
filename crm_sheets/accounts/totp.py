"""TOTP (RFC 6238, 30-second steps) and one-time recovery codes.

A code is accepted for the current step and one step either side, and only when
its step is later than the last step accepted for that account, so a code (or an
older one) can never be replayed. Recovery codes carry 60 random bits each and are
stored as salted SHA-256 digests; a slow KDF adds nothing at that entropy.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import re
import secrets

import pyotp
import segno

STEP_SECONDS = 30
WINDOW = 1  # steps accepted either side of the current one
ISSUER = "crm-sheets"
RECOVERY_COUNT = 10
_RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i
_RECOVERY_LEN = 12
_CODE_RE = re.compile(r"^\d{6}$")


def new_secret() -> str:
    """A fresh base32 secret (160 bits)."""
    return pyotp.random_base32(32)


def provisioning_uri(secret: str, account: str, issuer: str = ISSUER) -> str:
    return pyotp.TOTP(secret, interval=STEP_SECONDS).provisioning_uri(name=account,
                                                                      issuer_name=issuer)


def qr_text(uri: str) -> str:
    """The URI as a QR code drawn with terminal block characters."""
    buf = io.StringIO()
    segno.make(uri, error="m").terminal(out=buf, compact=True)
    return buf.getvalue()


def step_of(now: dt.datetime) -> int:
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, now: dt.datetime) -> str:
    """The code an authenticator shows at `now` (tests and benchmarks use it)."""
    return pyotp.TOTP(secret, interval=STEP_SECONDS).at(now)


def looks_like_totp(code: str) -> bool:
    return bool(_CODE_RE.match(normalize_code(code)))


def normalize_code(code: str) -> str:
    return re.sub(r"[\s\-]", "", code).lower()


def match_step(secret: str, code: str, now: dt.datetime, last_step: int) -> int | None:
    """The step `code` belongs to (within ±WINDOW of now and after last_step), else None."""
    code = normalize_code(code)
    if not _CODE_RE.match(code):
        return None
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = step_of(now)
    for step in range(current - WINDOW, current + WINDOW + 1):
        if step <= last_step:
            continue
        if hmac.compare_digest(totp.generate_otp(step), code):
            return step
    return None


def was_replayed(secret: str, code: str, now: dt.datetime, last_step: int) -> bool:
    """True when `code` is valid for a step already used (to say so plainly)."""
    code = normalize_code(code)
    if not _CODE_RE.match(code):
        return False
    totp = pyotp.TOTP(secret, interval=STEP_SECONDS)
    current = step_of(now)
    return any(hmac.compare_digest(totp.generate_otp(s), code)
               for s in range(current - WINDOW, min(current + WINDOW, last_step) + 1))


def new_recovery_codes(count: int = RECOVERY_COUNT) -> list[str]:
    """Fresh codes as shown to the user: xxxx-xxxx-xxxx."""
    out = []
    for _ in range(count):
        raw = "".join(secrets.choice(_RECOVERY_ALPHABET) for _ in range(_RECOVERY_LEN))
        out.append("-".join(raw[i:i + 4] for i in range(0, _RECOVERY_LEN, 4)))
    return out


def hash_recovery(code: str, salt: str) -> str:
    return hashlib.sha256(f"{salt}:{normalize_code(code)}".encode()).hexdigest()
