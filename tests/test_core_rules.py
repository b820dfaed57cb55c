"""Each validation rule: finds the real problem and stays quiet on good data."""

from __future__ import annotations

import datetime as dt

import pytest
from helpers import TODAY, customer, followup, make_master

from crm_sheets import load, validate
from crm_sheets.model import Record, new_workbook
from crm_sheets.rules import RULES


def codes(tmp_path, customers=None, followups=None, **kw):
    wb = load(make_master(tmp_path / "m.xlsx", customers, followups, **kw))
    return [(f.sheet, f.row, f.column, f.code) for f in validate(wb, today=TODAY).findings]


def test_clean_workbook_has_zero_findings(tmp_path):
    assert codes(tmp_path) == []


@pytest.mark.parametrize("change, code, column", [
    ({"name": None}, "required.missing", "name"),
    ({"phone": "1380013"}, "phone.invalid", "phone"),
    ({"phone": "12345678901"}, "phone.invalid", "phone"),
    ({"email": "wang@@example"}, "email.invalid", "email"),
    ({"industry": "航天"}, "choice.invalid", "industry"),
    ({"owner": "路人甲"}, "owner.unknown", "owner"),
    ({"province": "北京市", "city": "上海市"}, "region.city_unknown", "city"),
    ({"province": "火星省"}, "region.province_unknown", "province"),
    ({"district": "天河区"}, "region.district_unknown", "district"),
    ({"employees": -1}, "number.negative", "employees"),
    ({"employees": 1.5}, "integer.invalid", "employees"),
    ({"annual_revenue": "很多"}, "number.invalid", "annual_revenue"),
    ({"first_contact": dt.date(2030, 1, 1)}, "date.future", "first_contact"),
    ({"customer_id": "X1"}, "customer_id.invalid", "customer_id"),
    ({"customer_id": "C20241399001"}, "customer_id.invalid", "customer_id"),
    ({"stage": "成交", "customer_type": "潜在客户"}, "stage.type_mismatch", "customer_type"),
    ({"stage": "流失", "lost_reason": None}, "stage.lost_reason_missing", "lost_reason"),
    ({"notes": "身份证11010519491231002X"}, "prohibited.id_number", "notes"),
    ({"notes": "卡号 6222 0212 3456 7890 128"}, "prohibited.bank_card", "notes"),
])
def test_customer_rule_fires(tmp_path, change, code, column):
    found = codes(tmp_path, [customer(**change)], [])
    assert ("Customers", 2, column, code) in found, found


@pytest.mark.parametrize("good", [
    {"phone": "010-62345678"}, {"phone": "+86 138 0013 8000"}, {"phone": "400-810-8888"},
    {"phone": "+44 20 7946 0958"}, {"phone": "13800138000/010-62345678"}, {"province": "北京", "city": "北京"},
    {"province": "广东", "city": "深圳", "district": "南山区"}, {"province": "湖北省", "city": "仙桃市", "district": None},
    {"email": "张三@例子.中国"}, {"stage": "流失", "lost_reason": "价格过高", "customer_type": "潜在客户"},
    {"notes": "订单号 SO2024031512345678901，统一社会信用代码 91110108MA01234567"},
    {"stage": "lead", "customer_type": "潜在客户"},
])
def test_good_values_are_quiet(tmp_path, good):
    assert codes(tmp_path, [customer(**good)], []) == []


@pytest.mark.parametrize("change, code, column", [
    ({"customer_id": "C20990101001"}, "followup.customer_unknown", "customer_id"),
    ({"end": dt.datetime(2024, 3, 20, 13, 0)}, "followup.end_before_start", "end"),
    ({"next_date": dt.date(2024, 3, 1)}, "followup.next_before_start", "next_date"),
    ({"owner": "李娜"}, "followup.not_owner", "owner"),
    ({"method": "飞鸽传书"}, "choice.invalid", "method"),
    ({"recorded_at": dt.datetime(2024, 3, 23, 16, 0)}, "followup.late_entry", "recorded_at"),
    ({"start": dt.datetime(2030, 1, 1, 9, 0), "end": None, "next_date": None}, "date.future", "start"),
    ({"content": None}, "required.missing", "content"),
    ({"followup_id": "F2024"}, "followup_id.invalid", "followup_id"),
])
def test_followup_rule_fires(tmp_path, change, code, column):
    found = codes(tmp_path, None, [followup(**change)])
    assert ("Followups", 2, column, code) in found, found


def test_service_staff_may_follow_up_anyones_customer(tmp_path):
    assert codes(tmp_path, None, [followup(owner="赵敏")]) == []


def test_duplicate_ids(tmp_path):
    found = codes(tmp_path, [customer(), customer(name="另一家公司")],
                  [followup(), followup(content="again")])
    assert ("Customers", 3, "customer_id", "customer_id.duplicate") in found
    assert ("Followups", 3, "followup_id", "followup_id.duplicate") in found


def test_messages_in_workbook_language(tmp_path):
    wb = load(make_master(tmp_path / "en.xlsx", [customer(phone="1380013")], [], lang="en"))
    (f,) = validate(wb, today=TODAY).findings
    assert f.message == "Phone '1380013' is not a valid phone number"
    wb = load(make_master(tmp_path / "zh.xlsx", [customer(phone="1380013")], []))
    assert validate(wb, today=TODAY).findings[0].message == "联系方式 '1380013' 不是有效的电话号码"


def test_a_crashing_rule_becomes_a_finding():
    from crm_sheets.rules.registry import Rule

    def boom(wb, ctx):
        raise RuntimeError("kaput")

    RULES.insert(0, Rule("boom", boom))
    try:
        wb = new_workbook()
        wb.customers.records.append(Record(row=2, values=customer()))
        rep = validate(wb, today=TODAY)
    finally:
        RULES.pop(0)
    assert [f.code for f in rep.findings] == ["rule.crashed"]
    assert "kaput" in rep.findings[0].message


def test_every_rule_registered_once():
    names = [r.name for r in RULES]
    assert len(names) == len(set(names))
    assert {"required", "phone", "email", "choices", "region", "prohibited", "possible_duplicate"} <= set(names)


def test_timeliness_skips_follow_ups_from_before_the_engine_first_ran(tmp_path):
    import datetime as dt

    from crm_sheets import load

    late = followup(recorded_at=dt.datetime(2024, 3, 25, 9, 0))
    wb = load(make_master(tmp_path / "m.xlsx", None, [late]))
    assert [f.code for f in validate(wb, today=TODAY).findings] == ["followup.late_entry"]
    wb.meta["baseline_at"] = "2024-04-01 00:00:00"
    assert validate(wb, today=TODAY).findings == []
    wb.meta["baseline_at"] = "2024-03-01 00:00:00"
    assert [f.code for f in validate(wb, today=TODAY).findings] == ["followup.late_entry"]
