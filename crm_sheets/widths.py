"""Column widths that fit Chinese content: one helper for every generated sheet.

Excel measures a column in "characters" of the default font's digit width; a CJK
character (新疆维吾尔自治区, 凉山彝族自治州) takes about two of them. `text_width`
counts East-Asian wide and full-width characters as 2, everything else as 1, so a
column sized with `fit_width` shows its longest value without cutting it. The
master's template, the exports, the dashboard and the views' chart sheets all call it.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from collections.abc import Iterable
from typing import Any

PADDING = 2.0  # room for the autofilter button and cell margins
MIN_WIDTH = 6.0
MAX_WIDTH = 50.0  # longer text wraps instead of making a page-wide column


def text_width(text: Any) -> float:
    """Display width of a value in Excel characters: CJK / full-width characters count 2."""
    if text is None:
        return 0.0
    if isinstance(text, dt.datetime):
        return 16.0  # yyyy-mm-dd hh:mm
    if isinstance(text, dt.date):
        return 10.0
    if isinstance(text, float):
        text = f"{text:,.2f}"
    elif isinstance(text, int) and not isinstance(text, bool):
        text = f"{text:,}"
    s = str(text)
    if s.isascii():
        return float(max((len(line) for line in s.split("\n")), default=0))
    best = 0
    for line in s.split("\n"):
        w = 0
        for ch in line:
            w += 2 if unicodedata.east_asian_width(ch) in "WF" else 1
        best = max(best, w)
    return float(best)


def fit_width(header: Any, values: Iterable[Any] = (), *, minimum: float = MIN_WIDTH,
              maximum: float = MAX_WIDTH, sample: int = 5000) -> float:
    """Width (Excel characters) for a column: its header and the first `sample` values fit,
    within [minimum, maximum]. A header wider than the maximum wraps (the header row wraps)."""
    best = text_width(header)
    for i, v in enumerate(values):
        if i >= sample:
            break
        w = text_width(v)
        if w > best:
            best = w
    return max(minimum, min(maximum, best + PADDING))


def column_pixels(width: float) -> int:
    """Pixels Excel draws for a column of `width` characters (Calibri/YaHei 11: 7 px a digit)."""
    if width <= 0:
        return 0
    if width < 1:
        return int(width * 12 + 0.5)
    return int(width * 7 + 0.5) + 5
