"""Synthetic Chinese company names for the dedupe benchmark and evaluation (deterministic).

A name is region + brand (two or three characters) + industry word + legal form, the way
Chinese companies are registered (深圳市宏达精密机械有限公司). `variant` writes one the way a
sales rep might retype it; `hard_negatives` makes different companies with the same words.
Used by bench/ and tests only; nothing here feeds the matcher.
"""

from __future__ import annotations

import random

REGIONS = ("北京", "上海", "天津", "重庆", "广州", "深圳", "杭州", "南京", "苏州", "武汉", "成都",
           "西安", "长沙", "郑州", "济南", "青岛", "宁波", "厦门", "福州", "合肥", "昆明", "沈阳",
           "大连", "哈尔滨", "长春", "石家庄", "太原", "南昌", "南宁", "贵阳", "兰州", "无锡",
           "常州", "佛山", "东莞", "珠海", "温州", "绍兴", "嘉兴", "烟台")
BRAND_CHARS = ("宏达华盛鑫源恒泰德信诚安永聚汇通瑞丰兴隆嘉禾金银海天中科创博远航新锦辉明"
               "光正和润泽康力豪邦立宇星月凯旋万福顺祥东方北南西鼎盛昌荣卓越启帆智达云峰"
               "领先腾飞佳美优品长青松柏蓝图朗润凌威赛宝睿铭弘毅伟业广誉万向三友四海五洲"
               "九州百川千禧晨曦华夏神州昊天亿嘉骏马鹏程锐捷迅驰聚能盈科弘扬")
INDUSTRIES = ("科技", "信息技术", "网络科技", "电子", "精密机械", "机械设备", "贸易", "商贸",
              "物流", "供应链管理", "建筑工程", "装饰工程", "房地产开发", "医药", "生物科技",
              "医疗器械", "食品", "餐饮管理", "服装", "纺织", "化工", "新材料", "新能源",
              "环保科技", "教育科技", "文化传媒", "广告", "咨询", "投资管理", "电气", "汽车配件",
              "农业发展", "软件", "智能装备", "通信设备", "包装材料", "印刷", "家具", "酒店管理",
              "人力资源")
LEGAL = ("有限公司", "有限公司", "有限公司", "股份有限公司", "有限责任公司", "集团有限公司")
T2S_SAMPLE = {"华": "華", "达": "達", "兴": "興", "汇": "匯", "丰": "豐", "电": "電", "机": "機",
              "贸": "貿", "医": "醫", "药": "藥", "装": "裝", "饰": "飾", "环": "環", "保": "保",
              "鑫": "鑫", "长": "長", "东": "東", "业": "業", "发": "發", "广": "廣", "网": "網",
              "络": "絡", "术": "術", "资": "資", "设": "設", "备": "備", "银": "銀", "龙": "龍"}


def _brand(rng: random.Random) -> str:
    n = 3 if rng.random() < 0.25 else 2
    return "".join(rng.choice(BRAND_CHARS) for _ in range(n))


def company_name(rng: random.Random) -> str:
    """One realistic registered name: region + brand + industry + legal form."""
    region = rng.choice(REGIONS)
    region = region + ("市" if rng.random() < 0.5 else "")
    return region + _brand(rng) + rng.choice(INDUSTRIES) + rng.choice(LEGAL)


def company_names(n: int, seed: int = 1) -> list[str]:
    """n distinct names (deterministic for a seed)."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < n:
        name = company_name(rng)
        if name not in seen:
            seen.add(name)
            out.append(name)
    return out


def _split(name: str) -> tuple[str, str, str]:
    """(region, middle, legal form) of a generated name."""
    legal = next((lf for lf in sorted(set(LEGAL), key=len, reverse=True) if name.endswith(lf)), "")
    body = name[: len(name) - len(legal)]
    region = next((r + s for r in sorted(REGIONS, key=len, reverse=True) for s in ("市", "")
                   if body.startswith(r + s)), "")
    return region, body[len(region):], legal


def variant(name: str, kind: str, rng: random.Random) -> str:
    """The same company written differently (kind: spaces, brackets, drop_youxian, region_add,
    region_drop, traditional, typo, fullwidth, short, contact)."""
    region, middle, legal = _split(name)
    if kind == "spaces":
        return " ".join(name) if rng.random() < 0.5 else name.replace(middle, " " + middle + "\u3000")
    if kind == "brackets":
        r = region.rstrip("市")
        return f"{middle}{legal.replace('有限公司', '')}（{r}）有限公司" if legal else f"{middle}（{r}）"
    if kind == "drop_youxian":
        return name.replace("有限公司", "公司").replace("有限责任公司", "公司")
    if kind == "region_add":
        other = "广东省" if "深圳" in region or "广州" in region else "江苏省"
        return (other + name) if not region else name.replace(region, region.rstrip("市") + "市")
    if kind == "region_drop":
        return middle + legal
    if kind == "traditional":
        return "".join(T2S_SAMPLE.get(c, c) for c in name)
    if kind == "typo":
        chars = list(middle)
        i = rng.randrange(2, len(chars)) if len(chars) > 2 else len(chars) - 1
        op = rng.choice(("sub", "del", "swap"))
        if op == "sub":
            chars[i] = rng.choice(BRAND_CHARS)
        elif op == "del" and len(chars) > 4:
            del chars[i]
        else:
            j = max(1, i - 1)
            chars[i], chars[j] = chars[j], chars[i]
        return region + "".join(chars) + legal
    if kind == "fullwidth":
        return name.replace("有限公司", "有限公司 ").replace("(", "（") + "\u200b"
    if kind == "short":
        return middle[:2] + middle[2:4] if len(middle) >= 4 else middle
    return name  # contact: same name spelled the same way is not interesting; caller varies it


def hard_negatives(bases: list[str], rng: random.Random) -> list[str]:
    """Different companies that share words with the bases: same brand in another region or
    industry, a word inserted in the middle (中国银行 / 中国建设银行)."""
    out: list[str] = []
    for k, name in enumerate(bases):
        region, middle, legal = _split(name)
        if k % 3 == 0:  # same brand and industry, another city
            other = next(r for r in REGIONS[(k * 7) % len(REGIONS):] + REGIONS
                         if not region.startswith(r))
            out.append(other + "市" + middle + legal)
        elif k % 3 == 1:  # same brand, another industry
            brand_len = 3 if len(middle) > 2 and middle[2] in BRAND_CHARS else 2
            ind = INDUSTRIES[(k * 11) % len(INDUSTRIES)]
            if middle[brand_len:] != ind:
                out.append(region + middle[:brand_len] + ind + legal)
        else:  # a word inserted between brand and industry
            out.append(region + middle[:2] + rng.choice(("国际", "建设", "联合", "实业")) + middle[2:]
                       + legal)
    return out
