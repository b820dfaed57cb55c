"""Sample workbooks for the query / export / dashboard tests (imported by those modules)."""

from __future__ import annotations

import datetime as dt
import random

from crm_sheets.model import Record, Workbook, new_workbook

TODAY = dt.date(2024, 6, 14)
RESIDENT_ID = "11010519491231002X"  # valid checksum, date and region
BANK_CARD = "6222021234567890128"  # UnionPay prefix, valid Luhn
OWASP = ["=1+1", "+1+1", "-1+1", "@SUM(1,1)", "\t=1+1", "\r=1+1", "\n=1+1", "\0=1+1",
         "=HYPERLINK(\"http://evil.example\",\"点我\")", "=cmd|' /C calc'!A0",
         "-2+3+cmd|' /C calc'!A0", "@SUM(1+9)*cmd|' /C calc'!A0"]

OWNERS = ["张伟", "李娜", "王芳"]
PROVINCES = [("广东省", "深圳市"), ("北京市", "北京市"), ("浙江省", "杭州市"), ("江苏省", "苏州市")]


def sample_workbook(n: int = 40, seed: int = 7) -> Workbook:
    """n customers across industries/stages/owners, 3 follow-ups each, plus special rows.

    Row 2: 深圳华强制造有限公司, manufacturing, 意向客户, last contacted 45 days ago.
    Row 3: 广州越秀精密制造, manufacturing, 意向客户, contacted 5 days ago.
    Row 4: carries a resident ID and a bank card in its notes and contact title.
    """
    rnd = random.Random(seed)
    wb = new_workbook()
    wb.lists["owners"] = list(OWNERS)
    inds = ["制造业", "信息技术", "零售", "金融"]
    stages = ["线索", "意向", "谈判", "成交", "流失"]
    stype = {"线索": "潜在客户", "意向": "意向客户", "谈判": "意向客户", "成交": "成交客户",
             "流失": "意向客户"}
    srcs = ["展会推荐", "线上推广", "转介绍"]
    fid = 0
    for i in range(n):
        cid = f"C20240101{i + 1:03d}"
        stage = stages[i % 5]
        prov, city = PROVINCES[i % len(PROVINCES)]
        vals = {
            "customer_id": cid, "name": f"测试客户{i + 1:03d}有限公司", "industry": inds[i % 4],
            "employees": 10 * (i + 1), "annual_revenue": 100.0 + i, "province": prov,
            "city": city, "district": None, "contact_name": "陈静", "contact_title": "采购经理",
            "phone": f"138{i:08d}", "email": f"user{i}@example.com",
            "customer_type": stype[stage], "source": srcs[i % 3],
            "first_contact": dt.date(2023, 6, 1) + dt.timedelta(days=i), "owner": OWNERS[i % 3],
            "stage": stage, "lost_reason": "价格过高" if stage == "流失" else None,
            "expected_amount": float(5 * (i + 1)), "status": "正常", "notes": None,
        }
        days_ago = [3, 20, 45, 120, 250][i % 5]
        if i == 0:
            vals.update(name="深圳华强制造有限公司", industry="制造业", stage="意向",
                        customer_type="意向客户")
            days_ago = 45
        elif i == 1:
            vals.update(name="广州越秀精密制造", industry="制造业", stage="意向",
                        customer_type="意向客户", province="广东省", city="广州市")
            days_ago = 5
        elif i == 2:
            vals.update(notes=f"法人身份证 {RESIDENT_ID}，回款卡 {BANK_CARD}",
                        contact_title=BANK_CARD, name="北京证件测试有限公司",
                        followup_summary=f"身份证{RESIDENT_ID}")
        if days_ago >= 180 and vals["stage"] != "成交":
            vals["status"] = "休眠"  # as the engine's dormancy rule would have marked it
        wb.customers.records.append(Record(row=i + 2, values=vals))
        for k in range(3):
            fid += 1
            start = dt.datetime.combine(TODAY - dt.timedelta(days=days_ago + 30 * k),
                                        dt.time(10, 0))
            delay = dt.timedelta(hours=rnd.choice([1, 5, 30, 60]))
            wb.followups.records.append(Record(row=fid + 1, values={
                "followup_id": f"F20240101{fid:04d}", "customer_id": cid,
                "customer_name": vals["name"], "start": start,
                "end": start + dt.timedelta(hours=1), "method": "电话",
                "content": "电话沟通需求，客户关注交付周期" + ("。" * k),
                "next_action": "发送报价", "next_date": None, "owner": OWNERS[i % 3],
                "stage_after": stage if k == 0 else None,
                "recorded_at": start + dt.timedelta(hours=1) + delay,
            }))
    return wb


def add_owasp_rows(wb: Workbook) -> None:
    """One customer per OWASP payload, the payload in every text column that allows it."""
    base = len(wb.customers.records)
    for j, payload in enumerate(OWASP):
        wb.customers.records.append(Record(row=base + j + 2, values={
            "customer_id": f"C20240201{j + 1:03d}", "name": payload, "industry": "制造业",
            "province": "广东省", "city": "深圳市", "contact_name": payload,
            "contact_title": payload, "phone": payload, "email": payload,
            "customer_type": "意向客户", "source": "展会推荐", "owner": "张伟", "stage": "意向",
            "status": "正常", "notes": payload, "followup_summary": payload,
        }))
