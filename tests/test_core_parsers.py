"""Parsers and normalisers: property tests over what people type."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crm_sheets import coerce, phones
from crm_sheets.divisions import load_divisions, short_name

dates = st.datetimes(min_value=dt.datetime(1990, 1, 1), max_value=dt.datetime(2090, 12, 31)).map(
    lambda d: d.replace(second=0, microsecond=0))
FULL = {c: c + 0xFEE0 for c in range(0x21, 0x7F)}


@settings(max_examples=200, deadline=None)
@given(dates, st.sampled_from(["{Y}-{m:02d}-{d:02d} {H:02d}:{M:02d}", "{Y}/{m}/{d} {H}:{M:02d}",
                               "{Y}年{m}月{d}日 {H}时{M}分", "{Y}.{m}.{d} {H}:{M:02d}",
                               "{Y}{m:02d}{d:02d} {H:02d}{M:02d}", "{Y}-{m:02d}-{d:02d}T{H:02d}:{M:02d}:00"]))
def test_datetime_forms_round_trip(d, form):
    text = form.format(Y=d.year, m=d.month, d=d.day, H=d.hour, M=d.minute)
    assert coerce.parse_datetime(text) == d
    assert coerce.parse_datetime(text.translate(FULL)) == d  # full-width digits too


@settings(max_examples=100, deadline=None)
@given(dates, st.integers(min_value=1, max_value=180))
def test_time_ranges_glued_or_spaced(d, minutes):
    end = d + dt.timedelta(minutes=minutes)
    if end.date() != d.date():
        return
    for sep in ("", " "):
        text = f"{d:%Y-%m-%d}{sep}{d:%H:%M}-{end:%H:%M}"
        assert coerce.parse_datetime_range(text) == (d, end)


@settings(max_examples=100, deadline=None)
@given(st.dates(min_value=dt.date(1950, 1, 1), max_value=dt.date(2090, 1, 1)))
def test_excel_serials_both_systems(day):
    serial_1900 = (day - dt.date(1899, 12, 30)).days
    serial_1904 = (day - dt.date(1904, 1, 1)).days
    assert coerce.parse_date(serial_1900) == day
    if serial_1904 > 0:
        assert coerce.parse_date(serial_1904, date1904=True) == day


@pytest.mark.parametrize("bad", ["2024-13-01", "2024年2月30日", "明天", "14:00", "", "2024-03"])
def test_bad_dates_raise(bad):
    with pytest.raises(ValueError):
        coerce.parse_datetime_range(bad)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_cleaning_is_idempotent(s):
    assert coerce.clean_text(coerce.clean_text(s)) == coerce.clean_text(s)
    assert coerce.halfwidth(coerce.halfwidth(s)) == coerce.halfwidth(s)
    assert "\u200b" not in coerce.clean_text(s)


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=0, max_value=10**9))
def test_numbers_as_text(n):
    assert coerce.parse_number(f"{n:,}") == n
    assert coerce.parse_number(str(n).translate(FULL)) == n
    assert coerce.parse_int(float(n)) == n


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(["138", "139", "150", "186", "199"]), st.integers(min_value=0, max_value=10**8 - 1),
       st.sampled_from(["{}", "{} ", "+86 {}", "+86-{}", "0086{}", "{}/010-62345678"]),
       st.booleans())
def test_mobile_numbers_in_any_dress(prefix, rest, dress, fullwidth):
    number = f"{prefix}{rest:08d}"
    text = dress.format(number[:3] + " " + number[3:7] + " " + number[7:] if " " in dress else number)
    if fullwidth:
        text = text.translate(FULL)
    assert phones.is_valid(text), text
    assert phones.normalize(number) == number


def test_phone_mask():
    assert phones.mask("13800138000") == "138****8000"


def test_divisions_short_forms_and_traps():
    d = load_divisions()
    assert len(d.tree) == 31
    assert d.province("内蒙古") == "内蒙古自治区" and d.province("新疆") == "新疆维吾尔自治区"
    assert d.city("北京市", "北京") == "北京市"
    assert d.city("湖北省", "仙桃市") == "仙桃市"  # directly administered county-level city
    assert "市辖区" not in d.city_alias["北京市"]
    assert len(d.find_district("鼓楼区")) > 1  # a county name alone is not a key
    assert short_name("延边朝鲜族自治州") == "延边"
