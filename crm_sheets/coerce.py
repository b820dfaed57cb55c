"""Cell value parsers: turn what users type into typed values, or say why not.

Each parser takes a raw cell value as python-calamine returns it (str, int, float,
bool, datetime.date, datetime.datetime, datetime.time) and returns the typed value,
or raises ValueError. They never guess silently: a value that does not parse is
reported by the caller as a finding with the text the user typed.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

# Full-width ASCII (U+FF01..U+FF5E) -> half-width, ideographic space -> space.
_FULLWIDTH = {c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}
_FULLWIDTH[0x3000] = 0x20
# Zero-width characters vanish; non-breaking spaces become spaces.
_INVISIBLE = dict.fromkeys([0x200B, 0x200C, 0x200D, 0x2060, 0xFEFF, 0x00AD])
_SPACES = {0x00A0: 0x20, 0x2007: 0x20, 0x202F: 0x20}
_TEXT_TABLE = {**_INVISIBLE, **_SPACES}
_CODE_TABLE = {**_TEXT_TABLE, **_FULLWIDTH}
_STRIP = " \t\r\n\u3000"


def clean_text(value: str) -> str:
    """Drop zero-width characters, unify odd spaces, strip both ends (keeps full-width)."""
    return value.translate(_TEXT_TABLE).strip(_STRIP)


def halfwidth(value: str) -> str:
    """clean_text plus full-width letters, digits and punctuation folded to ASCII."""
    return value.translate(_CODE_TABLE).strip(_STRIP)


def to_text(value: Any) -> str:
    """Any cell value as the text a user would see (whole floats lose their '.0')."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e16:
            return str(int(value))
        return repr(value)
    if isinstance(value, dt.datetime):
        return value.strftime("%Y-%m-%d %H:%M") if (value.hour or value.minute) else value.strftime("%Y-%m-%d")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


# ---- numbers ----------------------------------------------------------------------

_NUM_JUNK = re.compile(r"[,，\s¥￥$]")


def parse_number(value: Any) -> float | int:
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, (int, float)):
        if isinstance(value, float) and value != value:
            raise ValueError("NaN")
        return int(value) if isinstance(value, float) and value.is_integer() else value
    if isinstance(value, str):
        s = _NUM_JUNK.sub("", halfwidth(value))
        if s.endswith("万") and s[:-1]:
            s = s[:-1]
        if not re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", s):
            raise ValueError(value)
        f = float(s)
        return int(f) if f.is_integer() and "e" not in s.lower() and "." not in s else f
    raise ValueError(repr(value))


def parse_int(value: Any) -> int:
    n = parse_number(value)
    if isinstance(n, float):
        if not n.is_integer():
            raise ValueError(value)
        return int(n)
    return n


# ---- dates ----------------------------------------------------------------------

_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)

_DATE_RE = re.compile(
    r"^(\d{4})\s*(?:[-/.年]\s*)(\d{1,2})\s*(?:[-/.月]\s*)(\d{1,2})\s*日?"
    r"(?:\s*[T ]?\s*(\d{1,2})\s*[:：时点]\s*(\d{1,2})?\s*分?\s*(?:[:：]\s*(\d{1,2})(?:\.\d+)?\s*秒?)?)?"
    r"(?:\s*[-–~至到]\s*(\d{1,2})\s*[:：时点]\s*(\d{1,2})?\s*分?)?\s*$"
)
_SQUASHED_RE = re.compile(r"^(\d{4})(\d{2})(\d{2})(?:\s*(\d{2})[:：]?(\d{2})(?::?(\d{2}))?)?$")
# 2024-03-1514:00-15:00: date and time glued together (a common Excel paste).
_GLUED_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})(\d{1,2}):(\d{2})(?:\s*[-–~至]\s*(\d{1,2}):(\d{2}))?$"
)


def from_serial(value: float, date1904: bool = False) -> dt.datetime:
    """An Excel serial day number -> datetime (1900 or 1904 date system)."""
    if not (0 < value < 2958466):
        raise ValueError(value)
    epoch = _EPOCH_1904 if date1904 else _EPOCH_1900
    return epoch + dt.timedelta(days=float(value))


def _build(y: str, mo: str, d: str, h: str | None, mi: str | None, s: str | None) -> dt.datetime:
    return dt.datetime(int(y), int(mo), int(d), int(h or 0), int(mi or 0), int(s or 0))


def parse_datetime_range(value: Any, date1904: bool = False) -> tuple[dt.datetime, dt.datetime | None]:
    """A datetime, optionally with an end time on the same day ('2024-03-15 14:00-15:00')."""
    if isinstance(value, dt.datetime):
        return value, None
    if isinstance(value, dt.date):
        return dt.datetime(value.year, value.month, value.day), None
    if isinstance(value, dt.time):
        raise ValueError("time without a date")
    if isinstance(value, bool):
        raise ValueError("boolean")
    if isinstance(value, (int, float)):
        return from_serial(value, date1904), None
    if not isinstance(value, str):
        raise ValueError(repr(value))
    s = halfwidth(value)
    m = _GLUED_RE.match(s)
    if m:
        y, mo, d, h, mi, eh, emi = m.groups()
        start = _build(y, mo, d, h, mi, None)
        end = start.replace(hour=int(eh), minute=int(emi)) if eh else None
        return start, end
    m = _DATE_RE.match(s)
    if m:
        y, mo, d, h, mi, sec, eh, emi = m.groups()
        start = _build(y, mo, d, h, mi, sec)
        end = start.replace(hour=int(eh), minute=int(emi or 0)) if eh else None
        return start, end
    m = _SQUASHED_RE.match(s)
    if m:
        return _build(*m.groups()), None
    try:
        return dt.datetime.fromisoformat(s).replace(tzinfo=None), None
    except ValueError:
        pass
    if re.fullmatch(r"\d+(\.\d+)?", s):
        return from_serial(float(s), date1904), None
    raise ValueError(value)


def parse_datetime(value: Any, date1904: bool = False) -> dt.datetime:
    return parse_datetime_range(value, date1904)[0]


def parse_date(value: Any, date1904: bool = False) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return parse_datetime_range(value, date1904)[0].date()


def as_date(value: Any) -> dt.date | None:
    """The calendar day of a date or datetime value; None for anything else."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    return None
