"""apply's `redact_text` (a fast path for texts that cannot hold a prohibited number)
gives `prohibited.redact`'s answer on every text (issue 15)."""

from __future__ import annotations

import random

from crm_sheets.apply.rules import SUMMARY_CHARS, redact_text, shorten
from crm_sheets.prohibited import redact

CASES = [
    "",
    "电话回访",
    "1234567890123",
    "11010519491231002X",
    "身份证号：11010519491231002x。",
    "110105 19491231 002X",
    "号码11010519491231002X结束",
    "卡号 6222 0212 3456 7890 128",
    "６２２２０２１２３４５６７８９０１２８",  # full-width digits
    "约了下周三，带报价单 1101051949123…",  # an ID cut by an older summary
    "约了下周三，带报价单 1101051949123...",
    "短…",
    "订单 2024031500012345 已发",
    "1.2E+18",
    "联系 138-0013-8000 / 139 0013 9000",
]
ALPHABET = "0123456789０１２３４５６７８９ -./…X号码：，E"


def test_redact_text_is_redact():
    rng = random.Random(15)
    texts = list(CASES)
    for _ in range(20000):
        texts.append("".join(rng.choice(ALPHABET) for _ in range(rng.randint(0, 40))))
    for text in texts:
        assert redact_text(text) == redact(text), text
        assert shorten(text) == shorten_reference(text), text


def shorten_reference(text: str) -> str:
    """`shorten` as it was: `redact` called on every text."""
    text = redact(" ".join(str(text).split()))
    return text if len(text) <= SUMMARY_CHARS else text[: SUMMARY_CHARS - 1] + "…"
