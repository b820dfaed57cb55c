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


# --- issue 17.1: every form people type -------------------------------------------------

ID18 = "11010519491231002X"
ID_GLUED = "510108199001010014"
ID15 = "110105491231002"  # pre-1999: region 110105, born 1949-12-31, sequence 002


def test_resident_id_in_every_typed_form():
    forms = [
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits and X
        "１１０１０５１９４９１２３１００２ｘ",
        "身份证：1101.0519.4912.3100.2X",  # dots
        "110105/19491231/002X",  # slashes
        "110105  19491231  002X",  # double spaces
        "110105－19491231－002X",  # full-width hyphens
        "110105–19491231–002X",  # en dashes
        "110105—19491231—002X",  # em dashes
        "110105\u300019491231\u3000002X",  # ideographic spaces
        "110105 1949 1231 002X",
        "证件510108199001010014",  # glued to Chinese
        "ID510108199001010014号",  # glued to letters
        "旧身份证110105491231002已作废",  # 15-digit pre-1999 form
        "旧证 110105 491231 002",
    ]
    for text in forms:
        hits = p.find(text)
        assert [h.kind for h in hits] == ["id_number"], text
        out = p.redact(text)
        digits = "".join(c for c in p.normalise(out) if c.isdigit())
        assert "19491231" not in digits and "19900101" not in digits and "491231" not in digits, out


def test_fifteen_digit_id_needs_region_and_date():
    assert p.is_old_resident_id(ID15)
    assert not p.is_old_resident_id("110105491331002")  # month 13
    assert not p.is_old_resident_id("990105491231002")  # no such region
    assert p.find(float(ID15))[0].kind == "id_number"  # typed as a number, Excel keeps it
    assert p.find(110105194912310000.0)[0].kind == "id_number"  # 18 digits, last three zeroed


def test_cards_of_domestic_issuers_outside_the_old_prefix_list():
    rng = random.Random(17)
    for prefix, length in (("6013", 19), ("601382", 16), ("95599", 19), ("95595", 19), ("9558", 19),
                           ("603367", 19), ("603601", 16), ("690755", 16), ("2200", 16),
                           ("50", 18), ("6304", 16), ("8171", 16), ("644", 16)):
        c = card(prefix, length, rng)
        for text in (c, f"工资卡{c}", " ".join(c[i:i + 4] for i in range(0, len(c), 4)),
                     ".".join(c[i:i + 4] for i in range(0, len(c), 4)),
                     "".join(chr(0xFF10 + int(d)) for d in c), "–".join((c[:6], c[6:]))):
            assert [h.kind for h in p.find(text)] == ["bank_card"], (prefix, text)
            assert c[4:-4] not in p.normalise(p.redact(text)).replace(" ", ""), text


def test_look_alikes_in_the_new_forms_stay_quiet():
    quiet = [
        "13800138000 13900139000", "138 0013 8000 / 139 0013 9000", "+86 138-0013-8000",
        "010－62345678", "0755-12345678-123", "2024.03.15-2024.04.15", "2024/03/15 10:30:00",
        "2024年03月15日", "金额 1234567.89 元", "6222021234567.89", "0.6222021234567894",
        "91110108MA01234567", "12100000400000624D", "52110000500000023X",
        "订单号：SO-2024-0315-1234-5678", "ＳＯ２０２４０３１５１２３４５６７８９",
        "IMEI 352099001761481", "123,456,789,012,345",
    ]
    for text in quiet:
        assert p.find(text) == [], text
    rng = random.Random(3)
    # an all-digit 18-character 统一社会信用代码 in a card range is not a card
    from stdnum.cn import uscc

    n = 0
    for _ in range(20000):
        body = "62" + "".join(str(rng.randrange(10)) for _ in range(15))
        code = body + uscc.calc_check_digit(body)
        if code.isdigit() and luhn.is_valid(code) and not p.is_resident_id(code):
            assert p.find(code) == [], code
            n += 1
    assert n > 0


def test_order_numbers_with_separators_are_quiet():
    rng = random.Random(5)
    for _ in range(2000):
        y = rng.choice(["2023", "2024", "1000", "8000", "9000"])
        o = f"{y}{rng.randrange(10**12):012d}"
        for text in (o, f"{o[:4]}-{o[4:8]}-{o[8:]}", f"订单{o[:8]}.{o[8:12]}.{o[12:]}"):
            assert p.find(text) == [], text


def test_a_cut_id_is_found_and_masked():
    text = "2024-03-05 电话：客户身份证11010519491231002…"  # 17 of 18 digits before the cut
    hits = p.find_truncated(text)
    assert [h.kind for h in hits] == ["id_number"]
    assert "19491231" not in p.redact(text)
    assert p.find_truncated("2024-03-05 电话：订单20240315123456…") == []
    assert p.find_truncated("说明：参见第1234567890123号文件…") == []
