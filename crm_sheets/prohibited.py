"""Prohibited data: resident ID numbers and bank card numbers (DESIGN §3).

Such a number in any cell is an error, and no view, export, report, audit line or
finding may contain it. Every form people type is normalised first (one character in,
one out, so positions stay the same): full-width digits (１１０１０５…Ｘ), groups
separated by spaces, double spaces, hyphens, full-width hyphens, en/em dashes, dots,
slashes or ideographic spaces, and numbers glued to letters or Chinese
(证件510108199001010014).

Detection must not trip on order numbers, 统一社会信用代码, phone numbers, dates or
amounts, so

- a resident ID must pass python-stdnum's `cn.ric` (checksum, birth date, birthplace
  valid in the birth year); the pre-1999 15-digit form has no checksum and must have a
  valid birthplace and 19YY birth date;
- a card number must pass Luhn *and* lie in an issuer range for its length
  (`CARD_RANGES`: the complete ISO/IEC 7812 ranges of the schemes issued in China and
  abroad, and the domestic legacy ranges); an 18-digit number that is a valid 统一社会
  信用代码 is not a card;
- a number is read only as whole digit groups: a longer digit string is never searched
  for an ID inside it, and a decimal (two groups joined by one dot: 3.14159265358979) is
  a number, not a card.

`find_truncated` finds what a cut left behind (an ID missing its last digits before
"…"), for the values the engine derives.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

# python-stdnum is imported by the checks that use it, on first use: it loads ssl and pydoc
# (~15 ms), and most checks never get that far (issue 15).

# --------------------------------------------------------------------- normalising

_GENERIC_SEPS = (" \t\u00a0\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u200b\u202f"
                 "\u3000-_/\\\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d"
                 "\uff0f\uff3f\u30fc\u00b7\u2027\u30fb")
_DOTS = ".\uff0e"
_NORMAL = str.maketrans({
    **{chr(0xFF10 + i): str(i) for i in range(10)},
    "\uff38": "X", "\uff58": "X", "x": "X",
    **{c: " " for c in _GENERIC_SEPS},
    **{c: "." for c in _DOTS},
})
_OTHER_DIGIT = re.compile(r"(?![0-9])\d")


def normalise(text: str) -> str:
    """`text` with every digit ASCII, separators ' ' or '.', check letter 'X' (same length)."""
    out = text.translate(_NORMAL)
    if not out.isascii() and _OTHER_DIGIT.search(out):
        out = _OTHER_DIGIT.sub(lambda m: str(unicodedata.decimal(m.group(), 0)), out)
    return out


# A run of digit groups joined by up to three separators; an ID's check letter may follow.
_RUN_RE = re.compile(r"\d+(?:[ .]{1,3}\d+)*X?")
_GROUP_RE = re.compile(r"\d+")
# A number Excel showed in scientific form and the user copied as text.
_SCI_RE = re.compile(r"(?<![0-9.])(\d\.\d{5,17})E\+?(1[2-8])(?![0-9])", re.IGNORECASE)

# ------------------------------------------------------------------- card ranges

# (first prefix, last prefix, lengths), prefixes compared on their own number of digits.
# ISO/IEC 7812 issuer ranges of every scheme whose cards people in China hold, plus the
# domestic ranges issued before UnionPay's 62 (Bank of China 6013…, city banks 603367…
# are in 60; ICBC 9558…, Agricultural Bank 95595–95599…; China Merchants 690755…).
_16_19 = (16, 17, 18, 19)
CARD_RANGES: tuple[tuple[str, str, tuple[int, ...]], ...] = (
    ("2200", "2204", _16_19),          # Mir
    ("2221", "2720", (16,)),           # Mastercard 2-series
    ("300", "305", (14, 16)),          # Diners Club International
    ("3095", "3095", (14, 16)),        # Diners Club
    ("34", "34", (15,)),               # American Express
    ("36", "36", (14, 16)),            # Diners Club
    ("37", "37", (15,)),               # American Express
    ("38", "39", (14, 16)),            # Diners Club
    ("3528", "3589", _16_19),          # JCB
    ("4", "4", (16, 19)),              # Visa (and Visa-branded domestic debit cards)
    ("50", "50", _16_19),              # Maestro, Verve, Elo
    ("51", "55", (16,)),               # Mastercard
    ("56", "58", _16_19),              # Maestro
    ("60", "60", _16_19),              # domestic legacy (BOC 6013, city banks 6033), Discover 6011, RuPay
    ("62", "62", _16_19),              # China UnionPay
    ("63", "63", _16_19),              # Maestro 6304, InterPayment, InstaPayment
    ("644", "649", _16_19),            # Discover
    ("65", "65", _16_19),              # Discover, RuPay
    ("67", "67", _16_19),              # Maestro
    ("690755", "690755", _16_19),      # China Merchants Bank legacy
    ("81", "81", _16_19),              # China UnionPay 81 range
    ("9558", "9558", _16_19),          # ICBC legacy
    ("95595", "95599", _16_19),        # Agricultural Bank of China legacy
)


def card_range_ok(d: str) -> bool:
    """Whether digits `d` start with an issuer range that issues cards of this length."""
    n = len(d)
    for lo, hi, lengths in CARD_RANGES:
        if n in lengths and lo <= d[:len(lo)] <= hi:
            return True
    return False


def _card_prefix_ok(d: str) -> bool:  # kept for callers of the old name
    return card_range_ok(d)


def is_bank_card(digits: str) -> bool:
    """13–19 digits in an issuer range for that length, passing Luhn (not a 信用代码)."""
    if not (13 <= len(digits) <= 19 and digits.isdigit() and card_range_ok(digits)):
        return False
    from stdnum import luhn
    from stdnum.cn import uscc

    if not luhn.is_valid(digits):
        return False
    return not (len(digits) == 18 and uscc.is_valid(digits))


# -------------------------------------------------------------------- resident IDs


def _ric_valid(text: str) -> bool:
    """python-stdnum's cn.ric check (its region table raises KeyError on a few codes)."""
    from stdnum.cn import ric

    try:
        return ric.is_valid(text)
    except (KeyError, ValueError, IndexError):
        return False


def is_resident_id(text: str) -> bool:
    """An 18-character ID (checksum, date, birthplace) or a 15-digit pre-1999 ID."""
    if len(text) == 18:
        return _ric_valid(text)
    if len(text) == 15 and text.isdigit():
        return is_old_resident_id(text)
    return False


def is_old_resident_id(d: str) -> bool:
    """A 15-digit ID (issued until 1999): valid birthplace and 19YYMMDD birth date."""
    return len(d) == 15 and d.isdigit() and _place_and_date_ok(d[:6] + "19" + d[6:12])


def _place_and_date_ok(first14: str) -> bool:
    """Region code valid in the birth year, and a real birth date (first 14 digits)."""
    from stdnum.cn import ric
    from stdnum.exceptions import ValidationError

    probe = first14 + "0000"
    try:
        born = ric.get_birth_date(probe)
        if born.year < 1880:
            return False
        ric.get_birth_place(probe)
    except (ValidationError, ValueError, KeyError):
        return False
    return True


def _mangled_id(d: str) -> bool:
    """18 digits whose last three Excel zeroed (stored as a number): place and date valid."""
    return len(d) == 18 and d.endswith("000") and _place_and_date_ok(d[:14])


# -------------------------------------------------------------------- hits, masks


@dataclass(frozen=True, slots=True)
class Hit:
    kind: str  # "id_number" or "bank_card"
    masked: str
    span: tuple[int, int]


def mask_id(s: str) -> str:
    """110***********002X (18) / 110********1002 (15): region's first digits and the tail."""
    return s[:3] + "*" * (len(s) - 7) + s[-4:]


def mask_card(d: str) -> str:
    return d[:4] + " **** **** " + d[-4:]


def _check(d: str, x: bool) -> str | None:
    """The kind of prohibited number digits `d` (+ a check letter X) are, or None."""
    n = len(d)
    if x:
        return "id_number" if n == 17 and _ric_valid(d + "X") else None
    if n == 18 and _ric_valid(d):
        return "id_number"
    if n == 15 and is_old_resident_id(d):
        return "id_number"
    if 13 <= n <= 19 and is_bank_card(d):
        return "bank_card"
    return None


def _scan_run(text: str, start: int, end: int, x: bool, hits: list[Hit]) -> None:
    """Check every window of whole digit groups in one run of normalised text."""
    groups = [(m.start(), m.end()) for m in _GROUP_RE.finditer(text, start, end)]
    # A decimal (exactly two groups joined by a single dot, not part of a dotted chain)
    # is a number: neither side is read as an ID or card.
    blocked: set[int] = set()
    joins = [text[groups[k][1]:groups[k + 1][0]] for k in range(len(groups) - 1)]
    k = 0
    while k < len(joins):
        if joins[k] == ".":
            j = k
            while j + 1 < len(joins) and joins[j + 1] == ".":
                j += 1
            if j == k:  # one dot-join: a decimal
                blocked.update((k, k + 1))
            k = j + 1
        else:
            k += 1
    last = len(groups) - 1
    i = 0
    while i <= last:
        if i in blocked:
            i += 1
            continue
        lens = []
        total = 0
        for j in range(i, last + 1):
            if j in blocked:
                break
            total += groups[j][1] - groups[j][0]
            if total > 19:
                break
            lens.append(j)
        found = False
        for j in reversed(lens):
            digits = "".join(text[a:b] for a, b in groups[i:j + 1])
            with_x = x and j == last
            kind = _check(digits, with_x)
            if kind is None and with_x:
                kind = _check(digits, False)
                with_x = False
            if kind is None:
                continue
            span_end = groups[j][1] + (1 if with_x else 0)
            if kind == "id_number":
                masked = mask_id(digits + ("X" if with_x else ""))
            else:
                masked = mask_card(digits)
            hits.append(Hit(kind, masked, (groups[i][0], span_end)))
            i = j + 1
            found = True
            break
        if not found:
            i += 1


def _scan_text(text: str) -> list[Hit]:
    norm = normalise(text)
    hits: list[Hit] = []
    taken: list[tuple[int, int]] = []
    for m in _SCI_RE.finditer(norm):
        try:
            digits = str(int(Decimal(m.group(0))))
        except (InvalidOperation, ValueError, OverflowError):
            continue
        kind = _number_kind(digits)
        if kind:
            masked = mask_card(digits) if kind == "bank_card" else mask_id(digits)
            hits.append(Hit(kind, masked, m.span(0)))
            taken.append(m.span(0))
    for m in _RUN_RE.finditer(norm):
        if any(a < m.end() and m.start() < b for a, b in taken):
            continue
        end = m.end()
        x = norm[end - 1] == "X"
        _scan_run(norm, m.start(), end - 1 if x else end, x, hits)
    return hits


def _number_kind(digits: str) -> str | None:
    """The kind of prohibited number a numeric cell's digits are (Excel keeps 15 digits)."""
    if len(digits) == 15 and is_old_resident_id(digits):
        return "id_number"
    if _mangled_id(digits):
        return "id_number"
    if is_bank_card(digits):
        return "bank_card"
    return None


def find(value: Any) -> list[Hit]:
    """Prohibited numbers in one cell value (text, or a number Excel stored as float)."""
    if isinstance(value, str):
        if len(value) < 13 or not maybe(value):
            return []
        return _scan_text(value)
    if isinstance(value, bool):
        return []
    if isinstance(value, (int, float)):
        if not (1e12 <= abs(value) < 1e19) or value != value:  # NaN guard
            return []
        if isinstance(value, float) and not value.is_integer():
            return []
        digits = str(int(abs(value)))
        kind = _number_kind(digits)
        if kind:
            masked = mask_card(digits) if kind == "bank_card" else mask_id(digits)
            return [Hit(kind, masked, (0, len(digits)))]
    return []


def contains(value: Any) -> bool:
    return bool(find(value))


def maybe(text: str) -> bool:
    """A cheap test: could `text` hold a prohibited number (13+ digits in one run once
    separators are dropped, or a digit before an exponent mark)?

    Runs in C over the UTF-8 bytes (translate + substring search), so one call on the
    text of a whole 300,000-row sheet takes a fraction of a second. Every character of
    the Latin-1 supplement, general punctuation, CJK punctuation and full-width blocks
    counts as a separator (en dashes, ideographic spaces, full-width hyphens and commas
    alike); full-width digits are folded to ASCII first. Over-reports (two phone numbers
    side by side); `find` then decides.
    """
    if len(text) < 13 or not _ANY_DIGIT(text):
        return False
    raw = text.encode("utf-8")
    if not text.isascii() and _WIDE_DIGIT.search(raw):
        raw = normalise(text).encode("utf-8")
    folded = raw.translate(_FOLD, _TRANSPARENT)
    return b"0000000000000" in folded or b"0E" in folded


_FOLD = bytes(
    ord("0") if 48 <= i <= 57 else ord("E") if i in (69, 101) else ord("x") for i in range(256)
)
# Dropped before counting digits: ASCII separators, and every byte of characters whose
# UTF-8 lead byte is C2 (U+0080–00BF), E2 (U+2000–2FFF), E3 (U+3000–3FFF) or EF
# (U+F000–FFFF): continuation bytes go, and other leads (CJK ideographs) stay as breaks.
_TRANSPARENT = b" -./_\t\xc2\xe2\xe3\xef" + bytes(range(0x80, 0xC0))
_WIDE_DIGIT = re.compile(rb"\xef\xbc[\x90-\x99]")
_ANY_DIGIT = re.compile(r"\d").search  # any script's digits (full-width too)


def _redact_once(value: str) -> str:
    hits = find(value) + find_truncated(value)
    if not hits:
        return value
    out, last = [], 0
    for h in sorted(hits, key=lambda h: h.span):
        if h.span[0] < last:
            continue
        out.append(value[last: h.span[0]])
        out.append(h.masked)
        last = h.span[1]
    out.append(value[last:])
    return "".join(out)


def redact(value: Any) -> Any:
    """The value with every prohibited number replaced by its masked form."""
    if not isinstance(value, str):
        hits = find(value)
        return hits[0].masked if hits else value
    for _ in range(3):  # a mask next to other digits could form a new number: settle
        new = _redact_once(value)
        if new == value:
            break
        value = new
    return value


# ------------------------------------------------------------------ what a cut left

_CUT_RE = re.compile(r"(\d+(?:[ .]{1,3}\d+)*)[ .]{0,3}(?:…|\.\.\.)\s*$")


def find_truncated(value: Any) -> list[Hit]:
    """A resident ID or card number cut short at the end of a text ("…1101051949123…").

    What an older engine left in 跟进记录摘要 when it cut a follow-up to ~39 characters:
    the 17 digits that remain give the 18th (a checksum), so they are as prohibited as the
    whole number. An ID needs at least region + birth date (14 digits) valid; a card at
    least 15 digits in an issuer range.
    """
    if not isinstance(value, str) or len(value) < 15 or not (value.endswith("…")
                                                             or value.endswith("...")):
        return []
    norm = normalise(value)
    m = _CUT_RE.search(norm)
    if not m:
        return []
    groups = [(g.start(), g.end()) for g in _GROUP_RE.finditer(norm, m.start(1), m.end(1))]
    # the cut number is the longest tail of whole groups (at most 18 digits)
    total, first = 0, len(groups)
    for k in range(len(groups) - 1, -1, -1):
        n = groups[k][1] - groups[k][0]
        if total + n > 18:
            break
        total += n
        first = k
    for k in range(first, len(groups)):
        digits = "".join(norm[a:b] for a, b in groups[k:])
        n = len(digits)
        if 14 <= n <= 17 and _place_and_date_ok(digits[:14]):
            return [Hit("id_number", digits[:3] + "*" * (n - 3) + "…", (groups[k][0], len(value)))]
        if 15 <= n <= 18 and any(n < max(lengths) and lo <= digits[:len(lo)] <= hi
                                 for lo, hi, lengths in CARD_RANGES):
            return [Hit("bank_card", digits[:4] + " **** …", (groups[k][0], len(value)))]
    return []
