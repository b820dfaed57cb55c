"""Synonyms of the dropdown values: the one table, per Lists column.

People type 零售业 where the list says 零售, 展会 for 展会推荐, 打电话 for 电话, the GB/T 4754
门类 name (批发和零售业) for the trade. Such a value is not a mistake to reject: validation
gives a fix-it hint (`choice.synonym`, naming the list's value), `crm apply` writes the list's
value (audited like every engine change), and filters (`crm query --industry 零售业`) accept
it. Validation, apply and query all resolve through `canonical` here.

Each group below is one meaning: its first entry is the default list's value, the others
its synonyms. A workbook's own Lists decide which spelling is canonical: whichever member
of the group its list holds (an older master that lists 零售业 keeps 零售业, and 零售 is
then the synonym). Matching ignores case, spaces and full-/half-width forms.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable
from functools import lru_cache
from typing import Any

# Lists column -> groups of one meaning (first = the default list's value).
SYNONYMS: dict[str, tuple[tuple[str, ...], ...]] = {
    "industries": (
        ("制造", "制造业", "工业制造", "加工制造", "生产制造", "工业"),
        ("信息技术", "信息技术业", "IT", "互联网", "软件", "软件业", "计算机", "通信",
         "信息传输、软件和信息技术服务业", "信息传输软件和信息技术服务业",
         "软件和信息技术服务业", "信息技术服务业"),
        ("金融", "金融业", "银行", "保险", "证券", "金融服务"),
        ("零售", "零售业", "批发和零售业", "批发零售业", "批发零售", "批发", "商贸", "电商",
         "电子商务"),
        ("医疗健康", "医疗", "医药", "医疗卫生", "卫生", "卫生和社会工作", "大健康", "医疗器械",
         "健康"),
        ("教育", "教育业", "教育培训", "培训"),
        ("房地产", "房地产业", "地产", "物业"),
        ("物流", "物流业", "物流运输", "运输", "仓储", "快递", "交通运输",
         "交通运输、仓储和邮政业", "交通运输仓储和邮政业"),
        ("能源", "能源业", "电力", "新能源", "电力、热力、燃气及水生产和供应业",
         "电力热力燃气及水生产和供应业", "采矿业"),
        ("餐饮", "餐饮业", "住宿和餐饮业", "住宿餐饮", "酒店餐饮"),
        ("建筑", "建筑业", "建筑工程", "工程施工"),
        ("其他", "其它"),
    ),
    "sources": (
        ("展会推荐", "展会", "展销会", "会展", "展览会", "参展"),
        ("线上推广", "线上", "网络推广", "网络", "网络营销", "互联网推广", "线上营销", "新媒体",
         "搜索引擎", "网上推广"),
        ("转介绍", "介绍", "客户介绍", "朋友介绍", "熟人介绍", "推荐"),
        ("电话营销", "电销", "电话", "陌生电话"),
        ("官网咨询", "官网", "网站", "网站咨询", "官方网站"),
        ("老客户", "老客户复购", "复购", "回头客", "老客户续约"),
        ("其他", "其它"),
    ),
    "methods": (
        ("电话", "打电话", "通话", "电话沟通", "手机", "致电"),
        ("拜访", "上门", "上门拜访", "面谈", "当面", "见面", "面访", "现场拜访", "登门"),
        ("邮件", "电子邮件", "邮箱", "发邮件", "email", "e-mail"),
        ("线上会议", "微信", "视频会议", "视频", "腾讯会议", "钉钉", "在线会议", "网络会议",
         "语音会议", "微信视频"),
    ),
    "stages": (
        ("线索", "线索阶段", "新线索"),
        ("意向", "有意向", "意向阶段"),
        ("谈判", "谈判中", "商务谈判", "洽谈", "洽谈中"),
        ("成交", "已成交", "签约", "已签约", "赢单"),
        ("流失", "已流失", "丢单", "输单"),
    ),
    "customer_types": (
        ("潜在客户", "潜在", "潜客"),
        ("意向客户", "意向"),
        ("成交客户", "成交", "已成交", "已成交客户", "签约客户"),
    ),
    "lost_reasons": (
        ("价格过高", "价格高", "太贵", "价格"),
        ("选择竞品", "竞品", "选了竞品", "竞争对手", "选择竞争对手"),
        ("需求取消", "没需求", "无需求", "需求变化"),
        ("预算不足", "没预算", "预算不够", "无预算"),
        ("联系不上", "失联", "联系不到"),
        ("其他", "其它"),
    ),
}


def norm(value: Any) -> str:
    """The matching form of a value: NFKC (full-width → half-width), no spaces, casefolded."""
    return "".join(unicodedata.normalize("NFKC", str(value)).split()).casefold()


@lru_cache(maxsize=64)
def _groups(list_name: str) -> dict[str, int]:
    """norm(spelling) -> group number, for one Lists column."""
    out: dict[str, int] = {}
    for g, group in enumerate(SYNONYMS.get(list_name, ())):
        for spelling in group:
            out.setdefault(norm(spelling), g)
    return out


def group_of(list_name: str, value: Any) -> int | None:
    """The meaning (group number) of a value in one Lists column, None when unknown."""
    if value is None:
        return None
    return _groups(list_name).get(norm(value))


def canonical(list_name: str, value: Any, allowed: Iterable[Any]) -> str | None:
    """The value of `allowed` (the workbook's list) that `value` means, or None.

    A value already in the list is itself; otherwise a synonym resolves to the member
    of its group the list holds. None: not in the list and no synonym of anything in it.
    """
    if value is None or value == "":
        return None
    allowed = [str(a) for a in allowed if a not in (None, "")]
    text = str(value)
    if text in allowed:
        return text
    n = norm(text)
    for a in allowed:
        if norm(a) == n:
            return a
    g = group_of(list_name, text)
    if g is None:
        return None
    for a in allowed:
        if group_of(list_name, a) == g:
            return a
    return None


def synonym_of(list_name: str, value: Any, allowed: Iterable[Any]) -> str | None:
    """The list's value when `value` is a synonym of it (not the value itself), else None."""
    c = canonical(list_name, value, allowed)
    return c if c is not None and c != value else None


__all__ = ["SYNONYMS", "canonical", "group_of", "norm", "synonym_of"]
