"""Deterministic, realistic Chinese CRM rows for the demo home and the benchmarks.

Company names are unique by construction (each brand is used once per region), so a
clean generated sheet has no near-duplicates unless one is planted on purpose.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from typing import Any

from .divisions import load_divisions, short_name
from .schema import STAGE_TYPE

SALES_TEAM = ("张伟", "李娜", "王芳", "刘洋", "陈静")
SERVICE_STAFF = ("赵敏",)
BRAND_CHARS = (
    "华信达瑞康泰恒通宏远鑫盛博源嘉禾中天海诚安邦凯力新锐正元合众联创卓越天成金桥银河星辰东方"
    "明德汇丰永昌德胜瀚宇云帆青松绿洲光大鼎立弘毅益民启航晨光蓝海智达精工顺发万象伟业兴隆亿嘉"
    "华夏长城峰岳泽润旭升"
)
INDUSTRY_WORDS = {
    "制造": ("机械制造", "精密机械", "汽车零部件", "电子元件", "新材料"),
    "信息技术": ("信息技术", "软件", "网络科技", "数据科技", "智能科技"),
    "金融": ("投资管理", "融资租赁", "资产管理"),
    "零售": ("商贸", "百货", "电子商务"),
    "医疗健康": ("医疗器械", "生物科技", "医药"),
    "教育": ("教育科技", "培训"),
    "房地产": ("置业", "物业服务"),
    "物流": ("物流", "供应链管理", "货运代理"),
    "能源": ("新能源", "电力设备", "环保科技"),
    "餐饮": ("餐饮管理", "食品"),
    "建筑": ("建筑工程", "装饰工程"),
}
LEGAL_FORMS = ("有限公司", "有限公司", "股份有限公司", "有限责任公司", "科技有限公司")
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高郑梁谢宋唐许韩冯邓曹彭曾肖田董潘袁蔡蒋余于杜叶程苏魏吕丁任沈姚卢"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰涛明超秀霞平刚桂英华玉兰萍建国红文斌宇浩凯鹏飞晨阳雪琳婷欣怡佳慧"
TITLES = ("总经理", "采购经理", "技术总监", "财务经理", "行政主管", "副总经理", "IT经理", "运营总监")
MOBILE_PREFIXES = ("130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152",
                   "155", "156", "158", "159", "177", "180", "182", "183", "185", "186", "187", "188",
                   "189", "199")
SOURCES = ("展会推荐", "线上推广", "转介绍", "电话营销", "官网咨询", "老客户")
METHODS = ("电话", "拜访", "邮件", "线上会议")
LOST_REASONS = ("价格过高", "选择竞品", "需求取消", "预算不足")
CONTENTS = (
    "介绍公司产品线，客户对{p}方案感兴趣，约定下周发送报价",
    "上门拜访，与{t}沟通需求，对方关注交付周期和售后服务",
    "电话回访，客户反馈试用情况良好，希望了解批量采购价格",
    "发送报价单及合同草案，客户内部审批中",
    "线上演示{p}系统，客户提出三项定制需求",
    "商务谈判，讨论付款方式与折扣，客户倾向分期付款",
    "客户反馈预算调整，项目可能推迟到下季度",
    "签订合同，安排实施团队对接",
)
PRODUCTS = ("CRM", "ERP", "仓储管理", "智能制造", "数据分析", "在线培训")
NEXT_ACTIONS = ("发送报价", "安排演示", "跟进合同审批", "上门拜访", "电话回访", "确认需求细节")
STAGE_WEIGHTS = (("线索", 30), ("意向", 25), ("谈判", 15), ("成交", 20), ("流失", 10))


def _regions(rng: random.Random) -> list[tuple[str, str, str]]:
    div = load_divisions()
    out = []
    for prov, cities in div.tree.items():
        for city, districts in cities.items():
            for d in districts[:4]:
                out.append((prov, city, d))
    rng.shuffle(out)
    return out


def company_names(n: int, rng: random.Random) -> Iterator[tuple[str, str, tuple[str, str, str]]]:
    """(name, industry, (province, city, district)): unique brand per generated company."""
    regions = _regions(rng)
    used: set[str] = set()
    industries = list(INDUSTRY_WORDS)
    i = 0
    while i < n:
        size = 2 if len(used) < 2000 else 3
        brand = "".join(rng.choice(BRAND_CHARS) for _ in range(size))
        if brand in used:
            continue
        used.add(brand)
        industry = rng.choice(industries)
        word = rng.choice(INDUSTRY_WORDS[industry])
        region = regions[i % len(regions)]
        city = short_name(region[1])
        form = rng.choice(LEGAL_FORMS)
        if form.startswith("科技") and "科技" in word:
            form = "有限公司"
        name = f"{city}{brand}{word}{form}" if rng.random() < 0.7 else f"{brand}{word}({city}){form}"
        yield name, industry, region
        i += 1


def person(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2))))


def mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randrange(10**8):08d}"


def _stage(rng: random.Random) -> str:
    return rng.choices([s for s, _ in STAGE_WEIGHTS], [w for _, w in STAGE_WEIGHTS])[0]


def generate(n_customers: int, followups_per_customer: float = 4.0, *, seed: int = 1,
             today: dt.date | None = None, owners: tuple[str, ...] = SALES_TEAM,
             service: tuple[str, ...] = SERVICE_STAFF) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Clean customers and follow-ups (IDs assigned, engine columns blank)."""
    rng = random.Random(seed)
    today = today or dt.date.today()
    customers: list[dict[str, Any]] = []
    followups: list[dict[str, Any]] = []
    seq_c: dict[str, int] = {}
    seq_f: dict[str, int] = {}
    for idx, (name, industry, (prov, city, district)) in enumerate(company_names(n_customers, rng)):
        first = today - dt.timedelta(days=rng.randrange(20, 720))
        day = first.strftime("%Y%m%d")
        seq_c[day] = seq_c.get(day, 0) + 1
        cid = f"C{day}{seq_c[day]:03d}"
        stage = _stage(rng)
        ctype = STAGE_TYPE.get(stage) or rng.choice(("潜在客户", "意向客户"))
        owner = owners[idx % len(owners)]
        customers.append({
            "customer_id": cid, "name": name, "industry": industry,
            "employees": rng.choice((20, 50, 120, 300, 800, 2000, 5000)) + rng.randrange(20),
            "annual_revenue": round(rng.uniform(200, 80000), 1),
            "province": prov, "city": city, "district": district,
            "contact_name": person(rng), "contact_title": rng.choice(TITLES), "phone": mobile(rng),
            "email": f"contact{idx + 1}@company{idx + 1}.com.cn", "customer_type": ctype,
            "source": rng.choice(SOURCES), "first_contact": first, "owner": owner, "stage": stage,
            "lost_reason": rng.choice(LOST_REASONS) if stage == "流失" else None,
            "expected_amount": round(rng.uniform(5, 500), 1) if stage != "流失" else None,
            "notes": None,
        })
        count = max(0, int(rng.gauss(followups_per_customer, 1.5)))
        span = max((today - first).days, 1)
        starts = sorted(first + dt.timedelta(days=rng.randrange(span)) for _ in range(count))
        for k, start_day in enumerate(starts):
            start = dt.datetime(start_day.year, start_day.month, start_day.day, rng.randrange(9, 18),
                                rng.choice((0, 15, 30, 45)))
            end = start + dt.timedelta(minutes=rng.choice((15, 30, 45, 60, 90)))
            fday = start.strftime("%Y%m%d")
            seq_f[fday] = seq_f.get(fday, 0) + 1
            who = owner if rng.random() > 0.08 else rng.choice(service)
            last = k == len(starts) - 1
            next_date = start_day + dt.timedelta(days=rng.randrange(3, 30))
            followups.append({
                "followup_id": f"F{fday}{seq_f[fday]:04d}", "customer_id": cid, "customer_name": name,
                "start": start, "end": end, "method": rng.choice(METHODS),
                "content": rng.choice(CONTENTS).format(p=rng.choice(PRODUCTS), t=rng.choice(TITLES)),
                "next_action": rng.choice(NEXT_ACTIONS), "next_date": next_date, "owner": who,
                "stage_after": stage if last and stage != "线索" else None,
                "recorded_at": end + dt.timedelta(hours=rng.choice((0.5, 1, 2, 4, 8, 20))),
            })
    return customers, followups
