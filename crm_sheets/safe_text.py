"""Text that is safe to put in front of people and spreadsheet programs.

Two dangers, one module, used by every output (query, export, dashboard, views):

- Prohibited data (resident ID numbers, bank card numbers) is masked with
  `crm_sheets.prohibited.redact` before anything is written or printed.
- Formula injection (OWASP "CSV injection"): a text cell starting with
  ``= + - @``, tab, CR, LF or NUL may be run as a formula by Excel, WPS or
  LibreOffice. In xlsx such text is written with ``write_string`` (never a
  formula); in CSV it is prefixed with a single quote.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from . import prohibited

FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r", "\n", "\0")
# Characters XML 1.0 and PDF text cannot carry (everything below space but tab/CR/LF).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def is_formula_like(text: str) -> bool:
    """True when a spreadsheet program could read `text` as a formula."""
    return bool(text) and text[0] in FORMULA_TRIGGERS


def neutralise_csv(text: str) -> str:
    """Text for a CSV cell: formula-like text gets a leading single quote (OWASP)."""
    return "'" + text if is_formula_like(text) else text


def strip_controls(text: str) -> str:
    """Remove control characters (except tab, CR, LF) that break XML, PDF and terminals."""
    return _CONTROL_RE.sub("", text) if _CONTROL_RE.search(text) else text


def redact(value: Any) -> Any:
    """The value with prohibited numbers masked (numbers that are card numbers become text)."""
    if value is None or isinstance(value, (bool, dt.date)):
        return value
    return prohibited.redact(value)


def display(value: Any, *, datetime_format: str = "%Y-%m-%d %H:%M") -> str:
    """A value as one line of text for tables, PDF and CSV: redacted, dates ISO, no floats like 3.0."""
    value = redact(value)
    if value is None:
        return ""
    if isinstance(value, dt.datetime):
        return value.strftime(datetime_format)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value.is_integer() and abs(value) < 1e15:
            return str(int(value))
        return f"{value:.2f}".rstrip("0").rstrip(".")
    return str(value)


def csv_cell(value: Any) -> str:
    """A value for a CSV cell: redacted, displayed, formula-neutralised."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        shown = display(value)
        # A number stays a number; a masked card number is text and gets checked below.
        if not isinstance(redact(value), str):
            return shown
        return neutralise_csv(shown)
    return neutralise_csv(display(value))
