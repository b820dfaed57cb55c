"""Phone numbers: normalise what people type and decide whether it is a real number.

Chinese mobiles (the common case) take a fast path keyed by their 5-digit prefix;
landlines, service numbers (400/800) and international numbers (+...) go through
phonenumbers. A cell may hold several numbers separated by / , ; 、 or spaces.
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers

from .coerce import halfwidth

_SPLIT = re.compile(r"\s*[/,;，；、|]\s*|\s{2,}")
_EXT = re.compile(r"(?:\s*(?:转|分机|ext\.?|x|#)\s*\d{1,6})$", re.IGNORECASE)
_JUNK = re.compile(r"[\s\-()（）.]")
_MOBILE = re.compile(r"1[3-9]\d{9}")


def normalize(value: str) -> str:
    """Digits only (with a leading + for international), extension and separators removed."""
    s = _EXT.sub("", halfwidth(value))
    s = _JUNK.sub("", s)
    if s.startswith("0086"):
        s = "+86" + s[4:]
    return s


@lru_cache(maxsize=20000)
def _mobile_prefix_ok(prefix5: str) -> bool:
    num = phonenumbers.parse(prefix5 + "000000", "CN")
    return phonenumbers.is_valid_number(num)


def _valid_one(s: str) -> bool:
    n = normalize(s)
    if not n:
        return False
    if n.startswith("+86"):
        n = n[3:]
    elif n.startswith("+"):
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(n, None))
        except phonenumbers.NumberParseException:
            return False
    if len(n) == 11 and _MOBILE.fullmatch(n):
        return _mobile_prefix_ok(n[:5])
    if not n.isdigit():
        return False
    try:
        return phonenumbers.is_valid_number(phonenumbers.parse(n, "CN"))
    except phonenumbers.NumberParseException:
        return False


def is_valid(value: str) -> bool:
    """True when every number in the cell is a real phone number."""
    if len(value) == 11 and value.isascii() and value.isdigit() and value[0] == "1":
        return _mobile_prefix_ok(value[:5])  # the common case: a bare mobile number
    parts = [p for p in _SPLIT.split(halfwidth(value)) if p]
    return bool(parts) and all(_valid_one(p) for p in parts)


def mask(value: str) -> str:
    """138****8000 style: keep the first 3 and last 4 digits of each number."""
    def one(m: re.Match[str]) -> str:
        d = m.group(0)
        return d[:3] + "*" * (len(d) - 7) + d[-4:] if len(d) >= 8 else "*" * len(d)

    return re.sub(r"\d{7,}", one, re.sub(r"(?<=\d)[\s-](?=\d)", "", value))
