"""Phone numbers: normalise what people type and decide whether it is a real number.

Chinese mobiles (the common case) take a fast path keyed by their 5-digit prefix;
landlines, service numbers (400/800) and international numbers (+...) go through
phonenumbers. A cell may hold several numbers separated by / , ; 、 or spaces.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

from .coerce import halfwidth

# The verdicts of `_mobile_prefix_ok` for every 5-digit prefix 10000-19999, as the
# phonenumbers release named in the file gave them (data/cn_mobile_prefixes.json): a
# bare mobile number is checked without importing phonenumbers (~25 ms) or asking it
# once per prefix (~33 µs each, up to 7,000 in a big sheet) — issue 15. With another
# phonenumbers installed the table is not used. Rebuilt by `mobile_prefix_table()`
# (tests/test_imports.py checks it against phonenumbers).
_PREFIXES = Path(__file__).with_name("data") / "cn_mobile_prefixes.json"


def _phonenumbers() -> Any:
    import phonenumbers

    return phonenumbers


def _installed_phonenumbers() -> str | None:
    """The installed phonenumbers' __version__, read from its source (no import)."""
    from importlib.util import find_spec

    try:
        spec = find_spec("phonenumbers")
        text = Path(spec.origin).read_text(encoding="utf-8") if spec and spec.origin else ""
    except (OSError, ValueError, ImportError):
        return None
    m = re.search(r'^__version__ = "([^"]+)"', text, re.M)
    return m.group(1) if m else None


@lru_cache(maxsize=1)
def _known_prefixes() -> str | None:
    """'1'/'0' for the prefixes 10000-19999, or None when the table is not for the
    installed phonenumbers (or cannot be read)."""
    try:
        data = json.loads(_PREFIXES.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    valid = data.get("valid")
    if (not isinstance(valid, str) or len(valid) != 10000
            or data.get("phonenumbers") != _installed_phonenumbers()):
        return None
    return valid


def mobile_prefix_table() -> dict[str, str]:
    """The content of data/cn_mobile_prefixes.json, computed by phonenumbers."""
    pn = _phonenumbers()
    return {"phonenumbers": pn.__version__,
            "valid": "".join("1" if _ask_prefix(f"1{i:04d}") else "0" for i in range(10000))}

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


def _ask_prefix(prefix5: str) -> bool:
    pn = _phonenumbers()
    return pn.is_valid_number(pn.parse(prefix5 + "000000", "CN"))


@lru_cache(maxsize=20000)
def _mobile_prefix_ok(prefix5: str) -> bool:
    known = _known_prefixes()
    if known is not None and len(prefix5) == 5 and prefix5[0] == "1" and prefix5.isdigit() \
            and prefix5.isascii():
        return known[int(prefix5) - 10000] == "1"
    return _ask_prefix(prefix5)


def _valid_one(s: str) -> bool:
    n = normalize(s)
    if not n:
        return False
    if n.startswith("+86"):
        n = n[3:]
    elif n.startswith("+"):
        phonenumbers = _phonenumbers()
        try:
            return phonenumbers.is_valid_number(phonenumbers.parse(n, None))
        except phonenumbers.NumberParseException:
            return False
    if len(n) == 11 and _MOBILE.fullmatch(n):
        return _mobile_prefix_ok(n[:5])
    if not n.isdigit():
        return False
    phonenumbers = _phonenumbers()
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
