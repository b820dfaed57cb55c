"""Prohibited data: resident ID numbers and bank card numbers (DESIGN §3).

Such a number in any cell is an error, and no view, export or report may contain it.
Detection must not trip on order numbers, social credit codes or phone numbers, so
a resident ID must pass python-stdnum's `cn.ric` (checksum, birth date, birthplace)
and a card number must pass Luhn *and* start with a real card-scheme prefix for its
length (Luhn alone accepts one random number in ten).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from stdnum import luhn
from stdnum.cn import ric

# 18-character ID: 6-digit region, 8-digit birth date, 3-digit sequence, check digit;
# optional single spaces/hyphens between the groups. Not glued to letters or digits.
_ID_RE = re.compile(r"(?<![0-9A-Za-z])(\d{6}[ -]?\d{8}[ -]?\d{3}[0-9Xx])(?![0-9A-Za-z])")
# 13-19 digits, optionally grouped by single spaces or hyphens.
_CARD_RE = re.compile(r"(?<![0-9A-Za-z.])(\d(?:[ -]?\d){12,18})(?![0-9A-Za-z]|\.\d)")
# A number Excel showed in scientific form and the user copied as text.
_SCI_RE = re.compile(r"(?<![0-9A-Za-z.])(\d\.\d{5,17})[Ee]\+?(1[2-8])(?![0-9])")
_QUICK = re.compile(r"\d{4}")


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str  # "id_number" or "bank_card"
    masked: str
    span: tuple[int, int]


def _card_prefix_ok(d: str) -> bool:
    n = len(d)
    if d.startswith("62"):  # UnionPay
        return 16 <= n <= 19
    if d.startswith("4"):  # Visa
        return n in (13, 16, 19)
    p2, p4 = int(d[:2]), int(d[:4])
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:  # Mastercard
        return n == 16
    if p2 in (34, 37):  # American Express
        return n == 15
    if 3528 <= p4 <= 3589:  # JCB
        return 16 <= n <= 19
    if d.startswith("6011") or d.startswith("65") or 644 <= int(d[:3]) <= 649:  # Discover
        return 16 <= n <= 19
    if p2 in (36, 38) or 300 <= int(d[:3]) <= 305:  # Diners Club
        return n == 14
    if d.startswith("9558"):  # ICBC legacy domestic cards
        return n == 19
    return False


def is_bank_card(digits: str) -> bool:
    return 13 <= len(digits) <= 19 and _card_prefix_ok(digits) and luhn.is_valid(digits)


def is_resident_id(text: str) -> bool:
    return len(text) == 18 and ric.is_valid(text)


def mask_id(s: str) -> str:
    return s[:3] + "*" * 11 + s[-4:]


def mask_card(d: str) -> str:
    return d[:4] + " **** **** " + d[-4:]


def _scan_text(text: str) -> list[Hit]:
    hits: list[Hit] = []
    taken: list[tuple[int, int]] = []
    for m in _ID_RE.finditer(text):
        raw = re.sub(r"[ -]", "", m.group(1)).upper()
        if is_resident_id(raw):
            hits.append(Hit("id_number", mask_id(raw), m.span(1)))
            taken.append(m.span(1))
    for m in _CARD_RE.finditer(text):
        if any(a <= m.start(1) < b for a, b in taken):
            continue
        digits = re.sub(r"[ -]", "", m.group(1))
        if is_bank_card(digits):
            hits.append(Hit("bank_card", mask_card(digits), m.span(1)))
    for m in _SCI_RE.finditer(text):
        try:
            digits = str(int(float(m.group(0))))
        except (ValueError, OverflowError):
            continue
        if is_bank_card(digits):
            hits.append(Hit("bank_card", mask_card(digits), m.span(0)))
    return hits


def find(value: Any) -> list[Hit]:
    """Prohibited numbers in one cell value (text, or a number Excel stored as float)."""
    if isinstance(value, str):
        if len(value) < 13 or not _QUICK.search(value):
            return []
        return _scan_text(value)
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        if not (1e12 <= abs(value) < 1e19) or value != value:  # NaN guard
            return []
        if isinstance(value, float) and not value.is_integer():
            return []
        digits = str(int(value))
        if is_bank_card(digits):
            return [Hit("bank_card", mask_card(digits), (0, len(digits)))]
    return []


def contains(value: Any) -> bool:
    return bool(find(value))


def redact(value: Any) -> Any:
    """The value with every prohibited number replaced by its masked form."""
    hits = find(value)
    if not hits:
        return value
    if not isinstance(value, str):
        return hits[0].masked
    out, last = [], 0
    for h in sorted(hits, key=lambda h: h.span):
        if h.span[0] < last:
            continue
        out.append(value[last : h.span[0]])
        out.append(h.masked)
        last = h.span[1]
    out.append(value[last:])
    return "".join(out)
