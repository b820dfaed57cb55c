"""Prohibited data: every real ID/card is caught, look-alikes are not (both sides tested hard)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st
from stdnum import luhn

from crm_sheets import prohibited as p


def card(prefix: str, length: int, rng: random.Random) -> str:
    body = prefix + "".join(str(rng.randrange(10)) for _ in range(length - len(prefix) - 1))
    return body + luhn.calc_check_digit(body)


def test_resident_ids_found_and_masked():
    for text in ("11010519491231002X", "身份证号：11010519491231002x。", "110105 19491231 002X"):
        hits = p.find(text)
        assert [h.kind for h in hits] == ["id_number"], text
        assert hits[0].masked == "110***********002X"
    assert p.redact("号码11010519491231002X结束") == "号码110***********002X结束"


def test_bank_cards_found_in_every_shape():
    rng = random.Random(7)
    for prefix, length in (("62", 16), ("62", 19), ("4", 16), ("51", 16), ("2221", 16), ("37", 15), ("3530", 16)):
        c = card(prefix, length, rng)
        spaced = " ".join(c[i:i + 4] for i in range(0, len(c), 4))
        for text in (c, spaced, c.replace(" ", "-"), f"客户账户{c}付款"):
            assert [h.kind for h in p.find(text)] == ["bank_card"], text


def test_card_mangled_by_excel_into_a_float():
    c = "6222021234567890128"[:16]
    c = c[:-1] + luhn.calc_check_digit(c[:-1])
    assert p.find(float(c))[0].kind == "bank_card"
    assert p.find(int(c))[0].kind == "bank_card"
    assert p.find(f"{float(c):.15E}".replace("E+", "E+"))  # text copied from Excel's 6.2E+15 display


def test_look_alikes_are_quiet():
    quiet = [
        "13800138000", "010-62345678", "91110108MA01234567",  # phone, phone, social credit code
        "911101080000000000",  # all-digit social credit code shape
        "SO20240315123456789", "订单号：2024031512345678", "20240315123456789",
        "11010519491231002",  # 17 digits
        "11010519491331002X",  # month 13
        "99999919491231002X",  # no such region
        "1234567890123456",  # Luhn-invalid, no prefix
        "C20240315001", "F202403150001",
        "3.14159265358979", "1.5E+3",
    ]
    for text in quiet:
        assert p.find(text) == [], text
    assert p.find(1234567.0) == [] and p.find(20240315123456) == []


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789", min_size=13, max_size=19))
def test_random_digit_strings_need_luhn_and_a_real_prefix(digits):
    hits = p.find(digits)
    for h in hits:
        if h.kind == "bank_card":
            assert luhn.is_valid(digits) and p._card_prefix_ok(digits)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=60))
def test_redact_never_leaves_a_prohibited_number(text):
    out = p.redact(text)
    assert p.find(out) == []


def test_false_positive_rate_on_order_numbers_is_zero():
    rng = random.Random(1)
    orders = [f"{rng.choice(['2023', '2024', '1000', '8000', '9000'])}{rng.randrange(10**12):012d}" for _ in range(2000)]
    assert sum(bool(p.find(o)) for o in orders) == 0
