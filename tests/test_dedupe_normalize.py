"""Company-name normalisation: each step with positive and negative cases, plus properties."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_sheets.dedupe.normalize import (
    clean,
    fold_case,
    name_forms,
    nfkc,
    normalize_email,
    normalize_name,
    normalize_phone,
    regions_conflict,
    remove_whitespace,
    strip_bracketed_regions,
    strip_generic,
    strip_legal_form,
    strip_region_prefix,
    strip_status_marks,
    tidy_whitespace,
    to_simplified,
    unify_brackets,
)

# --- each step ---------------------------------------------------------------------------


def test_nfkc_folds_full_width_letters_digits_and_brackets():
    assert nfkc("ＴＣＬ科技１２３（深圳）") == "TCL科技123(深圳)"
    assert nfkc("平安银行") == "平安银行"  # nothing to fold


@pytest.mark.parametrize("ws", [" ", "\u3000", "\xa0", "\t", "\n", "\u200b", "\ufeff", "\u2060",
                                "\u200c", "\u200d"])
def test_remove_whitespace_every_kind(ws):
    assert remove_whitespace(f"平{ws}安{ws}银行") == "平安银行"


def test_nfkc_keeps_zero_width_space_so_a_separate_step_is_needed():
    assert "\u200b" in nfkc("平安\u200b银行")
    assert normalize_name("平安\u200b银行") == "平安银行"


def test_tidy_whitespace_keeps_single_spaces_between_latin_words():
    assert tidy_whitespace("Ping  An\u3000Bank") == "Ping An Bank"
    assert tidy_whitespace("平 安 银 行") == "平安银行"
    assert tidy_whitespace("TCL 集团") == "TCL集团"


def test_unify_brackets():
    assert unify_brackets("平安银行【深圳】") == "平安银行(深圳)"
    assert unify_brackets("平安银行[深圳]") == "平安银行(深圳)"
    assert unify_brackets("平安银行") == "平安银行"


def test_fold_case():
    assert fold_case("TCL Ping AN") == "tcl ping an"
    assert fold_case("平安") == "平安"


def test_to_simplified():
    assert to_simplified("平安銀行") == "平安银行"
    assert to_simplified("臺灣積體電路製造") == "台湾积体电路制造"
    assert to_simplified("平安银行") == "平安银行"  # simplified stays as it is


@pytest.mark.parametrize("raw, out, mark", [
    ("*ST美丽", "美丽", "*ST"), ("ST中基", "中基", "ST"), ("S*ST前锋", "前锋", "S*ST"),
    ("南玻A", "南玻", "A"), ("南玻B", "南玻", "B"), ("科兴制药-U", "科兴制药", "-U"),
])
def test_strip_status_marks(raw, out, mark):
    s, removed = strip_status_marks(raw)
    assert s == out and removed == [mark]


@pytest.mark.parametrize("raw", ["STAR", "TCLA", "美A", "大众", "A股份"])
def test_strip_status_marks_leaves_names_alone(raw):
    assert strip_status_marks(raw)[0] == raw


@pytest.mark.parametrize("raw, out", [
    ("平安银行股份有限公司", "平安银行"), ("宏达科技有限责任公司", "宏达科技"),
    ("宏达科技有限公司", "宏达科技"), ("宏达科技股份公司", "宏达科技"), ("宏达科技公司", "宏达科技"),
    ("ping an bank co., ltd.", "ping an bank"), ("acme holdings inc.", "acme"),
    ("宏达有限公司(集团)", "宏达"),
])
def test_strip_legal_form(raw, out):
    assert strip_legal_form(raw)[0] == out


@pytest.mark.parametrize("raw", ["有限公司", "有限", "有限元科技", "company"])
def test_strip_legal_form_never_empties_or_cuts_inside(raw):
    assert strip_legal_form(raw)[0] == raw


def test_strip_generic():
    assert strip_generic("上海汽车集团")[0] == "上海汽车"
    assert strip_generic("中洲控股")[0] == "中洲"
    assert strip_generic("物业发展(集团)")[0] == "物业发展"
    assert strip_generic("集团")[0] == "集团"  # nothing left otherwise
    assert strip_generic("集团科技")[0] == "集团科技"  # only at the end


def test_strip_region_prefix_hierarchy():
    s, removed, codes = strip_region_prefix("广东省深圳市南山区宏达科技")
    assert s == "宏达科技" and removed == ["广东省", "深圳市", "南山区"]
    assert strip_region_prefix("北京宏达科技")[0] == "宏达科技"
    assert strip_region_prefix("内蒙古兴业银锡矿业")[0] == "兴业银锡矿业"


def test_strip_region_prefix_keeps_short_rest_and_unrelated_places():
    assert strip_region_prefix("深圳能源")[0] == "深圳能源"  # 能源 alone names nobody
    # 东方 is also a city in Hainan, but not inside 镇江: it is the brand here
    assert strip_region_prefix("镇江东方电热科技")[0] == "东方电热科技"
    assert strip_region_prefix("宏达科技")[0] == "宏达科技"


def test_strip_bracketed_regions():
    s, removed, codes = strip_bracketed_regions("平安银行(深圳)")
    assert s == "平安银行" and removed == ["(深圳)"] and codes
    assert strip_bracketed_regions("凯撒(中国)文化")[0] == "凯撒文化"
    assert strip_bracketed_regions("学大(教育)")[0] == "学大教育"  # not a region: unwrapped


def test_regions_conflict():
    bj = name_forms("北京宏达科技有限公司").regions
    sh = name_forms("上海宏达科技有限公司").regions
    sz = name_forms("深圳市宏达科技有限公司").regions
    gd = name_forms("广东宏达科技有限公司").regions
    assert regions_conflict(bj, sh)
    assert not regions_conflict(sz, gd)  # 深圳 lies in 广东
    assert not regions_conflict(bj, ())


@pytest.mark.parametrize("raw, out", [
    ("+86 138-0013-8000", "13800138000"), ("０７５５－８８８８８８８８", "075588888888"),
    ("008613800138000", "13800138000"), (13800138000.0, "13800138000"), ("12", ""), (None, ""),
    ("010-12345678转123", "01012345678"),
])
def test_normalize_phone(raw, out):
    assert normalize_phone(raw) == out


def test_normalize_email():
    assert normalize_email(" Sales@Example.COM ") == "sales@example.com"
    assert normalize_email("ｓａｌｅｓ＠ｅｘａｍｐｌｅ．ｃｏｍ") == "sales@example.com"
    assert normalize_email("not an email") == ""


# --- the composed key ------------------------------------------------------------------------

@pytest.mark.parametrize("raw", ["平安银行股份有限公司", "平安银行", "平安银行（深圳）", "平 安 银 行",
                                 "平安銀行", "平安银行【深圳】有限公司", "平安银行Ａ"])
def test_issue_examples_share_one_key(raw):
    assert normalize_name(raw) == "平安银行"


def test_different_companies_keep_different_keys():
    assert normalize_name("中国银行股份有限公司") != normalize_name("中国建设银行股份有限公司")
    assert normalize_name("深圳能源集团") != normalize_name("北京能源集团")


def test_name_forms_abbreviation_forms():
    f = name_forms("深圳市物业发展(集团)股份有限公司")
    assert f.key == "物业发展" and "深物业发展" in f.long_forms
    assert "南玻" in name_forms("中国南玻集团股份有限公司").long_forms
    assert "川新能源动力" in name_forms("四川省新能源动力股份有限公司").long_forms
    assert name_forms("天龙集团").stem == "天龙" and name_forms("天龙集团").key == "天龙集团"


# --- properties ------------------------------------------------------------------------------

CJK = "平安银行中国建设深圳北京物业发展集团股份有限公司科技宏达上海汽车华联电子"
WHITESPACE = [" ", "\u3000", "\xa0", "\t", "\u200b", "\ufeff", "\u2060"]
names = st.text(alphabet=CJK + "()（）【】ABab12", min_size=1, max_size=16)


@settings(max_examples=300, deadline=None)
@given(names)
def test_clean_is_idempotent(s):
    assert clean(clean(s)) == clean(s)


def test_repeated_share_class_marks_are_all_removed():
    # found by test_steps_are_idempotent: one pass used to leave the inner mark
    assert strip_status_marks(clean("1上a股a股")) == ("1上", ["A股", "A股"])
    assert strip_status_marks(strip_status_marks(clean("1上a股a股"))[0])[0] == "1上"


@settings(max_examples=300, deadline=None)
@given(names)
def test_steps_are_idempotent(s):
    for step in (nfkc, remove_whitespace, unify_brackets, fold_case, to_simplified,
                 tidy_whitespace):
        assert step(step(s)) == step(s)
    for step in (strip_status_marks, strip_legal_form, strip_generic):
        once = step(clean(s))[0]
        assert step(once)[0] == once


@settings(max_examples=300, deadline=None)
@given(names)
def test_key_is_stable_when_renormalised(s):
    f = name_forms(s)
    assert normalize_name(f.full) == normalize_name(normalize_name(f.full))


def test_mark_behind_a_stripped_word_keys_as_the_marked_name():
    # found by Hypothesis: 1上A集团's key was 1上a, whose own key is 1上 (the share-class
    # mark only became the last character once 集团 was gone)
    assert name_forms("1上A集团").key == normalize_name("1上a") == "1上"
    assert name_forms("南玻A股份有限公司").key == name_forms("南玻A").key == "南玻"
    assert name_forms("Sony Corporation").key == "sony"


@settings(max_examples=300, deadline=None)
@given(names, st.lists(st.tuples(st.integers(0, 20), st.sampled_from(WHITESPACE)), max_size=6))
def test_key_ignores_whitespace_anywhere(s, inserts):
    spaced = s
    for pos, ws in inserts:
        p = min(pos, len(spaced))
        spaced = spaced[:p] + ws + spaced[p:]
    assert normalize_name(spaced) == normalize_name(s)


def _full_width(s: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c in string.ascii_letters + string.digits + "()"
                   else c for c in s)


@settings(max_examples=300, deadline=None)
@given(names)
def test_key_ignores_character_width(s):
    assert normalize_name(_full_width(s)) == normalize_name(s)
