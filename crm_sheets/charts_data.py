"""Dashboard figures as plain tables: pure functions over a Workbook, rendered elsewhere.

Each function returns a `ChartTable`: a small table (first column is the category)
plus the chart(s) to draw from it. The xlsx renderer writes the table beside a native
chart; the PDF renderer draws the same chart with matplotlib. Merged duplicates
(状态 = 已合并) are never counted.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from .coerce import as_date as _as_date
from .model import Record, Workbook
from .schema import STAGES, STATUS_DORMANT, STATUS_MERGED

BLANK = {"zh": "未填写", "en": "(blank)"}
OTHER = {"zh": "其他", "en": "Other"}


@dataclass(frozen=True)
class ChartSpec:
    """One chart drawn from a ChartTable's columns (indices into `columns`)."""

    kind: str  # "column", "bar", "pie" or "line"
    values: tuple[int, ...]  # series on the primary axis
    secondary: tuple[int, ...] = ()  # series drawn as lines on a secondary axis
    title: str = ""
    y_title: str = ""
    y2_title: str = ""


@dataclass
class ChartTable:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]  # rows[i][0] is the category label
    formats: list[str]  # per column: "text", "int", "num" (2 decimals), "pct" (0.123 -> 12.3%)
    charts: list[ChartSpec] = field(default_factory=list)
    note: str = ""  # how the figure is computed, shown under the table


def _t(lang: str, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def active(records: Iterable[Record]) -> list[Record]:
    """Customers that count: everything but merged duplicates."""
    return [r for r in records if r.values.get("status") != STATUS_MERGED]


def _top(counter: Counter, lang: str, limit: int) -> list[tuple[str, int]]:
    items = counter.most_common()
    if len(items) <= limit:
        return items
    head, tail = items[: limit - 1], items[limit - 1:]
    return head + [(OTHER[lang], sum(n for _, n in tail))]


# ---------------------------------------------------------------- customer-only figures


def funnel(customers: Sequence[Record], lang: str = "zh") -> ChartTable:
    """Sales funnel: customers and expected amount (万元) per stage, pipeline order."""
    count: Counter = Counter()
    amount: defaultdict[str, float] = defaultdict(float)
    for r in customers:
        st = r.values.get("stage") or BLANK[lang]
        count[st] += 1
        amount[st] += _num(r.values.get("expected_amount"))
    order = [s for s in STAGES] + sorted(k for k in count if k not in STAGES)
    rows = [[s, count.get(s, 0), round(amount.get(s, 0.0), 2)] for s in order
            if s in STAGES or count.get(s)]
    return ChartTable(
        key="funnel", title=_t(lang, "销售漏斗（按商机阶段）", "Sales funnel by stage"),
        columns=[_t(lang, "商机阶段", "Stage"), _t(lang, "客户数", "Customers"),
                 _t(lang, "预计金额(万元)", "Expected amount (10k CNY)")],
        rows=rows, formats=["text", "int", "num"],
        charts=[ChartSpec("column", (1,), (2,), _t(lang, "销售漏斗", "Sales funnel"),
                          _t(lang, "客户数", "Customers"), _t(lang, "万元", "10k CNY"))],
        note=_t(lang, "每位客户按当前阶段计一次；金额为预计金额之和。",
                "Each customer counted once at its current stage; amount is the sum of expected amounts."),
    )


def industry_mix(customers: Sequence[Record], lang: str = "zh", limit: int = 10) -> ChartTable:
    """Industry distribution (pie): the top industries, the rest as 其他."""
    c = Counter((r.values.get("industry") or BLANK[lang]) for r in customers)
    rows = [[k, n] for k, n in _top(c, lang, limit)]
    return ChartTable(
        key="industry", title=_t(lang, "行业分布", "Industry mix"),
        columns=[_t(lang, "所属行业", "Industry"), _t(lang, "客户数", "Customers")],
        rows=rows, formats=["text", "int"],
        charts=[ChartSpec("pie", (1,), (), _t(lang, "行业分布", "Industry mix"))],
    )


def by_province(customers: Sequence[Record], lang: str = "zh", limit: int = 34) -> ChartTable:
    """Customers per province (bar), largest first."""
    c = Counter((r.values.get("province") or BLANK[lang]) for r in customers)
    rows = [[k, n] for k, n in _top(c, lang, limit)]
    return ChartTable(
        key="province", title=_t(lang, "各省客户数", "Customers per province"),
        columns=[_t(lang, "省", "Province"), _t(lang, "客户数", "Customers")],
        rows=rows, formats=["text", "int"],
        charts=[ChartSpec("bar", (1,), (), _t(lang, "各省客户数", "Customers per province"))],
    )


def source_conversion(customers: Sequence[Record], lang: str = "zh") -> ChartTable:
    """Per source: customers, won (成交) and the conversion rate won / customers."""
    total: Counter = Counter()
    won: Counter = Counter()
    for r in customers:
        src = r.values.get("source") or BLANK[lang]
        total[src] += 1
        if r.values.get("stage") == "成交":
            won[src] += 1
    rows = [[s, n, won[s], (won[s] / n) if n else 0.0] for s, n in total.most_common()]
    return ChartTable(
        key="source", title=_t(lang, "客户来源与转化率", "Source and conversion rate"),
        columns=[_t(lang, "客户来源", "Source"), _t(lang, "客户数", "Customers"),
                 _t(lang, "成交数", "Won"), _t(lang, "转化率", "Conversion rate")],
        rows=rows, formats=["text", "int", "int", "pct"],
        charts=[ChartSpec("column", (1, 2), (3,), _t(lang, "来源转化", "Source conversion"),
                          _t(lang, "客户数", "Customers"), _t(lang, "转化率", "Rate"))],
        note=_t(lang, "转化率 = 当前阶段为成交的客户数 ÷ 该来源客户数。",
                "Conversion rate = customers now at stage 成交 ÷ customers from that source."),
    )


# ---------------------------------------------------------------- follow-up figures


# A follow-up as the figures need it: (day, owner, stage_after).
Contact = tuple[dt.date, str, "str | None"]


def _contacts(wb: Workbook, ids: set[str] | None, today: dt.date) -> dict[str, list[Contact]]:
    """Follow-ups per customer, oldest first (stable for the same day), up to today."""
    out: defaultdict[str, list[Contact]] = defaultdict(list)
    DT = dt.datetime  # noqa: N806
    for r in wb.followups.records:
        v = r.values
        cid = v.get("customer_id")
        d = v.get("start")
        if cid is None or d is None or (ids is not None and cid not in ids):
            continue
        if type(d) is DT:
            d = d.date()
        elif not isinstance(d, dt.date):
            continue
        if d > today:
            continue
        out[cid].append((d, v.get("owner") or "", v.get("stage_after") or None))
    day = itemgetter(0)
    for lst in out.values():
        if len(lst) > 1:
            lst.sort(key=day)
    return out


def followup_efficiency(followups: Sequence[Record], lang: str = "zh", *, today: dt.date,
                        weeks: int = 12, hours: int = 24) -> ChartTable:
    """Per week (Monday start), the last `weeks` weeks: follow-ups, share entered within
    `hours` of the contact's end (start when no end), median entry delay in hours."""
    first = today - dt.timedelta(days=today.weekday()) - dt.timedelta(weeks=weeks - 1)
    count: Counter = Counter()
    delays: defaultdict[dt.date, list[float]] = defaultdict(list)
    for r in followups:
        v = r.values
        start = v.get("start")
        d = _as_date(start)
        if d is None or d < first or d > today:
            continue
        wk = d - dt.timedelta(days=d.weekday())
        count[wk] += 1
        rec = v.get("recorded_at")
        end = v.get("end") or start
        if isinstance(rec, dt.datetime):
            if not isinstance(end, dt.datetime):
                end = dt.datetime.combine(_as_date(end) or d, dt.time(23, 59))
            delays[wk].append(max(0.0, (rec - end).total_seconds() / 3600))
    rows = []
    for i in range(weeks):
        wk = first + dt.timedelta(weeks=i)
        ds = delays.get(wk, [])
        share = (sum(1 for x in ds if x <= hours) / len(ds)) if ds else 0.0
        med = round(statistics.median(ds), 1) if ds else 0.0
        rows.append([wk.isoformat(), count.get(wk, 0), share, med])
    week_col = _t(lang, "周（周一）", "Week (Monday)")
    return ChartTable(
        key="efficiency", title=_t(lang, "跟进效率（按周）", "Follow-up efficiency by week"),
        columns=[week_col, _t(lang, "跟进次数", "Follow-ups"),
                 _t(lang, f"{hours}小时内录入占比", f"Entered within {hours} h"),
                 _t(lang, "录入延迟中位数(小时)", "Median entry delay (h)")],
        rows=rows, formats=["text", "int", "pct", "num"],
        charts=[
            ChartSpec("column", (1,), (2,), _t(lang, "跟进次数与及时录入", "Follow-ups and timely entry"),
                      _t(lang, "次数", "Count"), _t(lang, "占比", "Share")),
            ChartSpec("line", (3,), (), _t(lang, "录入延迟中位数(小时)", "Median entry delay (h)"),
                      _t(lang, "小时", "Hours")),
        ],
        note=_t(lang, "延迟 = 录入时间 − 沟通结束（无结束时取开始）；只统计有录入时间的记录。",
                "Delay = recorded at − end of contact (start when no end); rows with a recorded time only."),
    )


def owner_activity(contacts: dict[str, list[Contact]], lang: str = "zh", *,
                   today: dt.date, recent_days: int = 30) -> ChartTable:
    """Per owner (跟进人): follow-ups, stage moves (a follow-up whose 阶段更新 changes the
    stage), and follow-ups in the last `recent_days` days."""
    fups: Counter = Counter()
    moves: Counter = Counter()
    recent: Counter = Counter()
    since = today - dt.timedelta(days=recent_days)
    for lst in contacts.values():
        prev: str | None = None
        for day, owner, stage_after in lst:
            owner = owner or BLANK[lang]
            fups[owner] += 1
            if day >= since:
                recent[owner] += 1
            if stage_after and stage_after != prev:
                if not (prev is None and stage_after == STAGES[0]):
                    moves[owner] += 1
                prev = stage_after
    rows = [[o, n, moves[o], recent[o]] for o, n in fups.most_common()]
    return ChartTable(
        key="owners", title=_t(lang, "负责人活动", "Owner activity"),
        columns=[_t(lang, "跟进人", "Owner"), _t(lang, "跟进次数", "Follow-ups"),
                 _t(lang, "阶段推进次数", "Stage moves"),
                 _t(lang, f"近{recent_days}天跟进", f"Follow-ups, last {recent_days} days")],
        rows=rows, formats=["text", "int", "int", "int"],
        charts=[ChartSpec("column", (1, 2), (), _t(lang, "负责人活动", "Owner activity"))],
        note=_t(lang, "阶段推进：跟进记录的阶段更新与该客户上一次记录的阶段不同。",
                "Stage move: a follow-up whose stage-after differs from that customer's previous one."),
    )


def _month_ends(today: dt.date, months: int) -> list[dt.date]:
    ends = [today]
    first = today.replace(day=1)
    for _ in range(months - 1):
        last = first - dt.timedelta(days=1)
        ends.append(last)
        first = last.replace(day=1)
    return sorted(ends)


def dormant_trend(customers: Sequence[Record], contacts: dict[str, list[Contact]],
                  lang: str = "zh", *, today: dt.date, dormant_days: int = 180,
                  months: int = 12) -> ChartTable:
    """Dormant customers at each month end over the last `months` months (today last).

    At a date d a customer is dormant when its latest contact on or before d (follow-up,
    else first contact) is `dormant_days` or more before d and it was not yet 成交.
    """
    import numpy as np

    points = _month_ends(today, months)
    counts = [0] * len(points)
    keys: list[int] = []  # customer index * 2**21 + day ordinal, for a vectorised search
    won_at: list[int] = []
    span = 1 << 21  # > any date ordinal (3652059)
    n = 0
    for r in customers:
        v = r.values
        lst = contacts.get(v.get("customer_id") or "", ())
        fc = _as_date(v.get("first_contact"))
        if not lst and fc is None:
            if v.get("status") == STATUS_DORMANT:
                counts[-1] += 1
            continue
        base = n * span
        if fc is not None and (not lst or fc < lst[0][0]):
            keys.append(base + fc.toordinal())
        keys.extend(base + c[0].toordinal() for c in lst)
        won = next((c[0].toordinal() for c in lst if c[2] == "成交"), None)
        if won is None:
            won = 0 if v.get("stage") == "成交" else span
        won_at.append(won)
        n += 1
    if n:
        arr = np.sort(np.asarray(keys, dtype=np.int64))
        idx = np.arange(n, dtype=np.int64)
        won_arr = np.asarray(won_at, dtype=np.int64)
        for i, d in enumerate(points):
            od = d.toordinal()
            pos = np.searchsorted(arr, idx * span + od, side="right") - 1
            found = pos >= 0
            last = arr[np.where(found, pos, 0)]
            mine = found & (last // span == idx)
            gap = od - (last % span)
            counts[i] += int(np.count_nonzero(mine & (gap >= dormant_days) & (won_arr > od)))
    rows = [[d.strftime("%Y-%m"), n] for d, n in zip(points, counts, strict=True)]
    return ChartTable(
        key="dormant", title=_t(lang, "休眠客户数（按月）", "Dormant customers over time"),
        columns=[_t(lang, "月份", "Month"), _t(lang, "休眠客户数", "Dormant customers")],
        rows=rows, formats=["text", "int"],
        charts=[ChartSpec("line", (1,), (), _t(lang, "休眠客户趋势", "Dormant customers"))],
        note=_t(lang, f"月末（本月为今天）超过{dormant_days}天无跟进且未成交的客户数。",
                f"At each month end (today for this month): no contact for {dormant_days}+ days and not won."),
    )


# ---------------------------------------------------------------- bundles


@dataclass
class Dashboard:
    title: str
    today: dt.date
    lang: str
    kpis: list[tuple[str, Any]]
    tables: list[ChartTable]
    scope: str = ""  # whose figures (a sales rep sees their own)


def build_dashboard(wb: Workbook, *, today: dt.date | None = None,
                    customer_filter: Any = None, scope: str = "") -> Dashboard:
    """Every dashboard figure for the workbook (optionally only customers passing the filter)."""
    today = today or dt.date.today()
    lang = wb.lang
    custs = active(wb.customers.records)
    if customer_filter is not None:
        custs = [r for r in custs if customer_filter(r)]
    ids = {r.values.get("customer_id") for r in custs if r.values.get("customer_id")}
    # follow-ups count when their customer counts (not merged away, visible to the actor)
    contacts = _contacts(wb, ids, today)
    fups = [r for r in wb.followups.records if r.values.get("customer_id") in ids]
    hours = wb.settings.get("timeliness_hours", 24)
    dd = wb.settings.get("dormant_days", 180)
    tables = [
        funnel(custs, lang),
        industry_mix(custs, lang),
        followup_efficiency(fups, lang, today=today, hours=hours),
        source_conversion(custs, lang),
        by_province(custs, lang),
        owner_activity(contacts, lang, today=today),
        dormant_trend(custs, contacts, lang, today=today, dormant_days=dd),
    ]
    last = {cid: lst[-1][0] for cid, lst in contacts.items() if lst}
    won = sum(1 for r in custs if r.values.get("stage") == "成交")
    pipeline = sum(_num(r.values.get("expected_amount")) for r in custs
                   if r.values.get("stage") in ("线索", "意向", "谈判"))
    since30 = today - dt.timedelta(days=30)
    recent = sum(1 for lst in contacts.values() for c in lst if c[0] >= since30)
    dormant_now = tables[-1].rows[-1][1] if tables[-1].rows else 0
    stale = sum(1 for r in custs if r.values.get("stage") not in ("成交", "流失")
                and (last.get(r.values.get("customer_id")) or dt.date.min) < since30)
    kpis = [
        (_t(lang, "客户总数", "Customers"), len(custs)),
        (_t(lang, "成交客户", "Won"), won),
        (_t(lang, "在途商机金额(万元)", "Open pipeline (10k CNY)"), round(pipeline, 2)),
        (_t(lang, "近30天跟进次数", "Follow-ups, last 30 days"), recent),
        (_t(lang, "30天未跟进的在途客户", "Open customers not contacted in 30 days"), stale),
        (_t(lang, "休眠客户", "Dormant customers"), dormant_now),
    ]
    return Dashboard(title=_t(lang, "客户管理看板", "CRM dashboard"), today=today, lang=lang,
                     kpis=kpis, tables=tables, scope=scope)


def selection_tables(records: Sequence[Record], lang: str = "zh") -> list[ChartTable]:
    """Charts for an export: the selected customers' funnel, industries, sources, provinces."""
    custs = list(records)
    return [funnel(custs, lang), industry_mix(custs, lang), source_conversion(custs, lang),
            by_province(custs, lang)]
