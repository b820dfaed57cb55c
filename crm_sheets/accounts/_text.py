"""Tiny helpers shared by the accounts modules: language choice and time display."""

from __future__ import annotations

import datetime as dt


def t(lang: str, zh: str, en: str) -> str:
    """Pick the message for the home's language."""
    return zh if lang == "zh" else en


def utcnow(now: dt.datetime | None = None) -> dt.datetime:
    """`now` (naive values are taken as UTC) or the real clock, always timezone-aware."""
    if now is None:
        return dt.datetime.now(dt.UTC)
    return now if now.tzinfo else now.replace(tzinfo=dt.UTC)


def ts(now: dt.datetime) -> float:
    return utcnow(now).timestamp()


def from_ts(value: float | None) -> dt.datetime | None:
    return None if value is None else dt.datetime.fromtimestamp(value, dt.UTC)


def local_text(value: float | dt.datetime | None) -> str:
    """A time as the user reads it: local time, to the minute ('' when unset)."""
    if value is None:
        return ""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromtimestamp(value, dt.UTC)
    return when.astimezone().strftime("%Y-%m-%d %H:%M")


def iso(value: float | dt.datetime | None) -> str:
    """A time for the audit log: UTC ISO 8601 to the second ('' when unset)."""
    if value is None:
        return ""
    when = value if isinstance(value, dt.datetime) else dt.datetime.fromtimestamp(value, dt.UTC)
    return utcnow(when).isoformat(timespec="seconds")
