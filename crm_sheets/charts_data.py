"""Dashboard figures as plain tables: pure functions over a Workbook, rendered elsewhere.

Each function returns a `ChartTable`: a small table (first column is the category)
plus the chart(s) to draw from it. The xlsx renderer writes the table beside a native
chart; the PDF renderer draws the same chart with matplotlib. Merged duplicates
(状态 = 已合并) are never counted.

One number format per kind of figure (`NUMBER_FORMATS`, `format_value`): counts as
whole numbers, 万元 amounts with one decimal, shares as percentages. A chart that
says nothing for the customers it is drawn on (every value zero, one pie slice, a
funnel without any drop-off) is left out; its table stays.
"""

from __future__ import annotations

import datetime as dt
import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any

from .coerce import as_date as _as_date
from .model import Record, Workbook
from .schema import STAGE_ORDER, STAGES, STATUS_DORMANT, STATUS_MERGED

BLANK = {"zh": "未填写", "en": "(blank)"}
UNKNOWN_STAGE = {"zh": "未记录", "en": "not recorded"}
PIE_SLICES = 12  # a pie shows at most this many slices (one colour each); more are grouped
FUNNEL_STAGES = STAGES[:4]  # 线索 意向 谈判 成交 (流失 is shown beside the funnel)
LOST = STAGES[4]
WON = STAGES[3]
OPEN_STAGES = STAGES[:3]
# Win probability per stage: weights the expected amount of the open pipeline.
STAGE_WEIGHTS: dict[str, float] = {"线索": 0.1, "意向": 0.3, "谈判": 0.6, "成交": 1.0}
# Customer type as a floor for the stage reached (the type follows the stage; 流失 keeps it).
TYPE_FLOOR = {"潜在客户": 0, "意向客户": 1, "成交客户": 3}
SERVICE_TABLES = ("efficiency", "owners", "dormant", "overdue_owners", "overdue_list")

# Excel number format per kind of figure; the PDF uses `format_value` with the same rules.
NUMBER_FORMATS = {"int": "#,##0", "wan": "#,##0.0", "num": "#,##0.0", "pct": "0.0%",
                  "date": "yyyy-mm-dd", "text": "@"}


def format_value(v: Any, kind: str) -> str:
    """A figure as text, in the same format as its Excel cell (PDF tables, KPI notes)."""
    if v is None or v == "":
        return ""
    if isinstance(v, bool) or not isinstance(v, (int, float, dt.date)):
        return str(v)
    if kind == "pct":
        return f"{v * 100:.1f}%"
    if kind in ("wan", "num"):
        return f"{v:,.1f}"
    if kind == "int":
        return f"{int(round(v)):,}"
    if kind == "date" and isinstance(v, dt.date):
        return v.isoformat()[:10]
    return str(v)


@dataclass(frozen=True)
class ChartSpec:
    """One chart drawn from a ChartTable's columns (indices into `columns`)."""

    kind: str  # "column", "bar", "pie" or "line"
    values: tuple[int, ...]  # series on the primary axis
    secondary: tuple[int, ...] = ()  # series drawn as lines on a secondary axis
    title: str = ""
    y_title: str = ""
    y2_title: str = ""
    # columns that must hold a non-zero value for the chart to say anything (default: all)
    needs: tuple[int, ...] | None = None


@dataclass
class ChartTable:
    key: str
    title: str
    columns: list[str]
    rows: list[list[Any]]  # rows[i][0] is the category label
    formats: list[str]  # per column: a key of NUMBER_FORMATS
    charts: list[ChartSpec] = field(default_factory=list)
    note: str = ""  # how the figure is computed, shown under the table
    mark: int | None = None  # column whose values are days overdue: marked in colour
    beside: bool = False  # drawn under the previous figure's table, level with its chart


@dataclass(frozen=True)
class Kpi:
    """A key figure: label, value, its kind (NUMBER_FORMATS key) and a short note."""

    label: str
    value: Any
    kind: str = "int"
    note: str = ""


def _t(lang: str, zh: str, en: str) -> str:
    return zh if lang == "zh" else en


def _num(v: Any) -> float:
    return float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else 0.0


def active(records: Iterable[Record]) -> list[Record]:
    """Customers that count: everything but merged duplicates."""
    return [r for r in records if r.values.get("status") != STATUS_MERGED]


# The fields the figures read.
CUSTOMER_KEYS = ("customer_id", "name", "industry", "province", "source", "stage",
                 "expected_amount", "status", "first_contact", "owner", "customer_type")
FOLLOWUP_KEYS = ("customer_id", "start", "end", "owner", "stage_after", "recorded_at",
                 "next_date", "next_action")


class Columns:
    """Rows as columns: field key -> list of values in row order (None where a row has no
    value, or the sheet no such column). The figures are computed over these, from a
    workbook read as columns (report_load) or from Records (`Columns.of`)."""

    def __init__(self, cols: Mapping[str, list[Any]], n: int) -> None:
        self.cols = dict(cols)
        self.n = n

    @classmethod
    def of(cls, records: Sequence[Record], keys: Iterable[str]) -> Columns:
        return cls({k: [r.values.get(k) for r in records] for k in keys}, len(records))

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: str) -> list[Any]:
        col = self.cols.get(key)
        if col is None:
            col = self.cols[key] = [None] * self.n
        return col

    def take(self, index: Sequence[int]) -> Columns:
        """The rows at `index` (in that order)."""
        return Columns({k: [v[i] for i in index] for k, v in self.cols.items()}, len(index))


def _customers(customers: Any) -> Columns:
    return customers if isinstance(customers, Columns) else Columns.of(customers, CUSTOMER_KEYS)


def _top(counter: Counter, lang: str, limit: int, noun: tuple[str, str]) -> list[tuple[str, int]]:
    """The counts, largest first; when there are more than `limit`, the smallest grouped
    into one entry named "其余 N 个…" (never a name that is also a real value)."""
    items = counter.most_common()
    if len(items) <= limit:
        return items
    head, tail = items[: limit - 1], items[limit - 1:]
    label = _t(lang, f"其余 {len(tail)} 个{noun[0]}", f"{len(tail)} other {noun[1]}")
    while label in counter:
        label += "*"
    return head + [(label, sum(n for _, n in tail))]


def _nonzero(table: ChartTable, col: int) -> int:
    return sum(1 for r in table.rows if col < len(r) and _num(r[col]) != 0)


def prune_charts(table: ChartTable) -> ChartTable:
    """Leave out the charts that say nothing for these rows: a needed series all zero, a
    pie/bar/column with fewer than two non-zero categories; drop other all-zero series."""
    kept = []
    for spec in table.charts:
        needs = spec.needs if spec.needs is not None else spec.values + spec.secondary
        if any(_nonzero(table, c) == 0 for c in needs):
            continue
        values = tuple(c for c in spec.values if _nonzero(table, c))
        secondary = tuple(c for c in spec.secondary if _nonzero(table, c))
        if not values:
            continue
        if spec.kind in ("pie", "bar", "column") and _nonzero(table, values[0]) < 2:
            continue
        kept.append(replace(spec, values=values, secondary=secondary))
    table.charts = kept
    return table


# ---------------------------------------------------------------- stage history


@dataclass
class StageHistory:
    """Per customer, the stages it was seen at, oldest first, with the day of each."""

    seen: dict[str, list[tuple[dt.date, str]]] = field(default_factory=dict)

    def add(self, cid: str, day: dt.date, stage: str) -> None:
        self.seen.setdefault(cid, []).append((day, stage))

    def sorted(self) -> StageHistory:
        for lst in self.seen.values():
            lst.sort(key=itemgetter(0))
        return self


def audit_stage_events(events: Iterable[Mapping[str, Any]]) -> list[tuple[str, dt.date, str, str]]:
    """Stage changes in audit-log events: (customer_id, day, old, new)."""
    out = []
    for e in events:
        if e.get("column") != "stage" or not e.get("customer_id"):
            continue
        at = e.get("at")
        try:
            day = dt.datetime.fromisoformat(str(at)).date()
        except ValueError:
            continue
        out.append((str(e["customer_id"]), day, str(e.get("old") or ""), str(e.get("new") or "")))
    return out


def stage_history(contacts: Mapping[str, Sequence[Contact]],
                  audit: Iterable[tuple[str, dt.date, str, str]] = ()) -> StageHistory:
    """Stages from follow-ups' 阶段更新 and the audit log's stage changes."""
    h = StageHistory()
    for cid, lst in contacts.items():
        for c in lst:
            if c[2] in STAGES:
                h.add(cid, c[0], c[2])
    for cid, day, old, new in audit:
        if old in STAGES:
            h.add(cid, day, old)
        if new in STAGES:
            h.add(cid, day, new)
    return h.sorted()


def _reached(c: Columns, hist: StageHistory | None) -> list[int]:
    """Per customer, the highest funnel stage (index into FUNNEL_STAGES) it reached: its
    history, its current stage and its customer type as floors; with none, a lead."""
    seen = hist.seen if hist is not None else {}
    order, floor = STAGE_ORDER, TYPE_FLOOR
    out = []
    for st, ty, cid in zip(c["stage"], c["customer_type"], c["customer_id"], strict=True):
        best = order.get(st or "", 0)
        f = floor.get(ty or "", 0)
        if f > best:
            best = f
        for _day, s in seen.get(cid or "", ()):
            o = order.get(s, 0)
            if o > best:
                best = o
        out.append(best)
    return out


def _lost_at(cid: Any, ctype: Any, hist: StageHistory | None) -> str | None:
    """The last stage before 流失 (history, else the customer type's stage), or None."""
    before = None
    if hist is not None:
        for _day, st in hist.seen.get(cid or "", ()):
            if st in STAGE_ORDER:
                before = st
    if before is None and (ctype or "") in TYPE_FLOOR:
        before = FUNNEL_STAGES[TYPE_FLOOR[ctype]]
    return before


def won_day(r: Record, hist: StageHistory | None) -> dt.date | None:
    """The day a 成交 customer was first seen at 成交 (follow-up or audit), else None."""
    return _won_day(r.values.get("stage"), r.values.get("customer_id"), hist)


def _won_day(stage: Any, cid: Any, hist: StageHistory | None) -> dt.date | None:
    if hist is None or stage != WON:
        return None
    for day, st in hist.seen.get(cid or "", ()):
        if st == WON:
            return day
    return None


# ---------------------------------------------------------------- customer-only figures


def funnel(customers: Sequence[Record], lang: str = "zh",
           hist: StageHistory | None = None) -> ChartTable:
    """Sales funnel: customers who REACHED each stage (线索 ≥ 意向 ≥ 谈判 ≥ 成交), the
    conversion from the stage before, customers now at the stage, their expected amount
    and that amount weighted by the stage's win probability (STAGE_WEIGHTS)."""
    c = _customers(customers)
    tops = Counter(_reached(c, hist))
    reached = [sum(n for top, n in tops.items() if top >= k) for k in range(len(FUNNEL_STAGES))]
    now: Counter = Counter()
    amount: defaultdict[str, float] = defaultdict(float)
    for st, amt in zip(c["stage"], c["expected_amount"], strict=True):
        if st in STAGE_WEIGHTS or not st:
            st = st or FUNNEL_STAGES[0]
            now[st] += 1
            amount[st] += _num(amt)
    rows: list[list[Any]] = []
    for k, st in enumerate(FUNNEL_STAGES):
        rate = (reached[k] / reached[k - 1]) if k and reached[k - 1] else None
        rows.append([st, reached[k], rate, now[st], round(amount[st], 2),
                     round(amount[st] * STAGE_WEIGHTS[st], 2)])
    weights = "、".join(f"{s} {w:.0%}" for s, w in STAGE_WEIGHTS.items())
    table = ChartTable(
        key="funnel", title=_t(lang, "销售漏斗（到达各阶段的客户）", "Sales funnel (customers reaching each stage)"),
        columns=[_t(lang, "商机阶段", "Stage"), _t(lang, "到达客户数", "Reached"),
                 _t(lang, "阶段转化率", "Conversion"), _t(lang, "当前在此阶段", "Now at stage"),
                 _t(lang, "预计金额(万元)", "Expected (10k CNY)"),
                 _t(lang, "加权金额(万元)", "Weighted (10k CNY)")],
        rows=rows, formats=["text", "int", "pct", "int", "wan", "wan"],
        charts=[ChartSpec("column", (1,), (2,), _t(lang, "销售漏斗", "Sales funnel"),
                          _t(lang, "客户数", "Customers"), _t(lang, "转化率", "Conversion"),
                          needs=(1,))],
        note=_t(lang, "到达 = 跟进记录的阶段更新、审计日志的阶段变更或当前阶段曾到过该阶段；"
                f"转化率 = 本阶段 ÷ 上一阶段。流失客户计入流失前到达的阶段。加权权重：{weights}。",
                "Reached = a follow-up's stage-after, an audited stage change or the current "
                "stage got there; conversion = this stage ÷ the one before. Lost customers count "
                "up to the stage they were lost at. Weights: "
                + ", ".join(f"{s} {w:.0%}" for s, w in STAGE_WEIGHTS.items()) + "."),
    )
    rates = [r[2] for r in rows if r[2] is not None]
    if not any(0 < x < 1 for x in rates):  # no drop-off anywhere: the funnel says nothing
        table.charts = []
    return table


def lost_by_stage(customers: Sequence[Record], lang: str = "zh",
                  hist: StageHistory | None = None) -> ChartTable:
    """Lost (流失) customers by the stage where they were lost, with their expected amount."""
    c = _customers(customers)
    count: Counter = Counter()
    amount: defaultdict[str, float] = defaultdict(float)
    for st, cid, ty, amt in zip(c["stage"], c["customer_id"], c["customer_type"],
                                c["expected_amount"], strict=True):
        if st != LOST:
            continue
        at = _lost_at(cid, ty, hist) or UNKNOWN_STAGE[lang]
        count[at] += 1
        amount[at] += _num(amt)
    order = [s for s in FUNNEL_STAGES if count.get(s)] + [k for k in count if k not in FUNNEL_STAGES]
    rows = [[s, count[s], round(amount[s], 2)] for s in order]
    return ChartTable(
        beside=True,  # beside the funnel, not in it
        key="lost", title=_t(lang, "流失客户（按流失前阶段）", "Lost customers by stage lost at"),
        columns=[_t(lang, "流失前阶段", "Lost at stage"), _t(lang, "流失客户数", "Lost customers"),
                 _t(lang, "预计金额(万元)", "Expected (10k CNY)")],
        rows=rows, formats=["text", "int", "wan"],
        note=_t(lang, "流失前阶段取阶段记录中流失前的最后一个阶段；无记录时按客户类型推断。",
                "The last stage recorded before 流失; from the customer type when none was recorded."),
    )


def industry_mix(customers: Sequence[Record], lang: str = "zh",
                 limit: int = PIE_SLICES) -> ChartTable:
    """Industry distribution (pie): every industry when they fit, else the largest and
    one slice "其余 N 个行业"."""
    blank = BLANK[lang]
    c = Counter([v or blank for v in _customers(customers)["industry"]])
    rows = [[k, n] for k, n in _top(c, lang, limit, ("行业", "industries"))]
    return ChartTable(
        key="industry", title=_t(lang, "行业分布", "Industry mix"),
        columns=[_t(lang, "所属行业", "Industry"), _t(lang, "客户数", "Customers")],
        rows=rows, formats=["text", "int"],
        charts=[ChartSpec("pie", (1,), (), _t(lang, "行业分布", "Industry mix"))],
    )


def by_province(customers: Sequence[Record], lang: str = "zh", limit: int = 34) -> ChartTable:
    """Customers per province (bar), largest first."""
    blank = BLANK[lang]
    c = Counter([v or blank for v in _customers(customers)["province"]])
    rows = [[k, n] for k, n in _top(c, lang, limit, ("省份", "provinces"))]
    return ChartTable(
        key="province", title=_t(lang, "各省客户数", "Customers per province"),
        columns=[_t(lang, "省", "Province"), _t(lang, "客户数", "Customers")],
        rows=rows, formats=["text", "int"],
        charts=[ChartSpec("bar", (1,), (), _t(lang, "各省客户数", "Customers per province"),
                          _t(lang, "客户数", "Customers"))],
    )


def source_conversion(customers: Sequence[Record], lang: str = "zh") -> ChartTable:
    """Per source: customers, won (成交) and the conversion rate won / customers."""
    c = _customers(customers)
    total: Counter = Counter()
    won: Counter = Counter()
    blank = BLANK[lang]
    for src, st in zip(c["source"], c["stage"], strict=True):
        src = src or blank
        total[src] += 1
        if st == WON:
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


def _month_key(d: dt.date) -> str:
    return d.strftime("%Y-%m")


def _months_back(today: dt.date, months: int) -> list[str]:
    out = []
    y, m = today.year, today.month
    for _ in range(months):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


def new_customers(customers: Sequence[Record], lang: str = "zh", *, today: dt.date,
                  months: int = 12) -> ChartTable:
    """New customers per month (by 首次接触时间), the last `months` months, with 环比
    (change on the month before; blank when that month had none)."""
    keys = _months_back(today, months + 1)
    c: Counter = Counter()
    months: dict[Any, str] = {}
    for fc in _customers(customers)["first_contact"]:
        d = _as_date(fc)
        if d is not None and d <= today:
            m = months.get(d)
            if m is None:
                m = months[d] = _month_key(d)
            c[m] += 1
    rows = []
    for prev, k in zip(keys, keys[1:], strict=False):
        rows.append([k, c[k], ((c[k] - c[prev]) / c[prev]) if c[prev] else None])
    return ChartTable(
        key="new", title=_t(lang, "每月新增客户", "New customers per month"),
        columns=[_t(lang, "月份", "Month"), _t(lang, "新增客户", "New customers"),
                 _t(lang, "环比", "vs. previous month")],
        rows=rows, formats=["text", "int", "pct"],
        charts=[ChartSpec("column", (1,), (), _t(lang, "每月新增客户", "New customers per month"),
                          _t(lang, "客户数", "Customers"), needs=(1,))],
        note=_t(lang, "按首次接触时间计；环比 = (本月 − 上月) ÷ 上月。",
                "By first contact; change = (this month − previous) ÷ previous."),
    )


def _quarter_start(d: dt.date) -> dt.date:
    return dt.date(d.year, 3 * ((d.month - 1) // 3) + 1, 1)


def won_by_owner(customers: Sequence[Record], lang: str = "zh", *, today: dt.date,
                 hist: StageHistory | None = None) -> ChartTable:
    """Reps ranked by won amount (expected amount of their 成交 customers)."""
    won_n: Counter = Counter()
    won_amt: defaultdict[str, float] = defaultdict(float)
    quarter: defaultdict[str, float] = defaultdict(float)
    open_n: Counter = Counter()
    q0 = _quarter_start(today)
    c = _customers(customers)
    blank = BLANK[lang]
    for owner, st, amt, cid in zip(c["owner"], c["stage"], c["expected_amount"],
                                   c["customer_id"], strict=True):
        owner = owner or blank
        if st == WON:
            won_n[owner] += 1
            won_amt[owner] += _num(amt)
            d = _won_day(st, cid, hist)
            if d is not None and q0 <= d <= today:
                quarter[owner] += _num(amt)
        elif st in OPEN_STAGES or not st:
            open_n[owner] += 1
    owners = sorted(set(won_n) | set(open_n), key=lambda o: (-won_amt[o], -won_n[o], o))
    rows = [[o, won_n[o], round(won_amt[o], 2), round(quarter[o], 2), open_n[o]] for o in owners]
    return ChartTable(
        key="ranking", title=_t(lang, "负责人成交排名", "Reps ranked by won amount"),
        columns=[_t(lang, "负责人", "Owner"), _t(lang, "成交客户", "Won"),
                 _t(lang, "成交金额(万元)", "Won (10k CNY)"),
                 _t(lang, "本季度成交(万元)", "Won this quarter"),
                 _t(lang, "在途客户", "Open customers")],
        rows=rows, formats=["text", "int", "wan", "wan", "int"],
        charts=[ChartSpec("bar", (2,), (), _t(lang, "成交金额排名", "Won amount by rep"),
                          _t(lang, "万元", "10k CNY"), needs=(2,))],
        note=_t(lang, "成交金额 = 成交客户的预计金额；本季度按首次记录为成交的日期计。",
                "Won amount = expected amount of won customers; this quarter by the day first "
                "recorded as won."),
    )


# ---------------------------------------------------------------- follow-up figures


# A follow-up as the figures need it: (day, owner, stage_after, next_date, next_action).
Contact = tuple[dt.date, str, "str | None", "dt.date | None", str]


def _contacts(f: Columns, ids: set[str] | None, today: dt.date) -> dict[str, list[Contact]]:
    """Follow-ups per customer, oldest first (stable for the same day), up to today."""
    out: defaultdict[str, list[Contact]] = defaultdict(list)
    DT, D = dt.datetime, dt.date  # noqa: N806
    for cid, d, owner, stage_after, nd, action in zip(
            f["customer_id"], f["start"], f["owner"], f["stage_after"], f["next_date"],
            f["next_action"], strict=True):
        if cid is None or d is None or (ids is not None and cid not in ids):
            continue
        if type(d) is DT:
            d = d.date()
        elif not isinstance(d, D):
            continue
        if d > today:
            continue
        out[cid].append((d, owner or "", stage_after or None,
                         nd if type(nd) is D else _as_date(nd) if nd is not None else None,
                         action or ""))
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
    f = followups if isinstance(followups, Columns) else Columns.of(followups, FOLLOWUP_KEYS)
    DT = dt.datetime  # noqa: N806
    lo = DT.combine(first, dt.time())  # a naive datetime's day is in [first, today] iff
    hi = DT.combine(today, dt.time.max)  # lo <= it <= hi: most rows are skipped on that
    for start, end, rec in zip(f["start"], f["end"], f["recorded_at"], strict=True):
        if type(start) is DT and start.tzinfo is None:
            if start < lo or start > hi:
                continue
            d = start.date()
        else:
            d = _as_date(start)
            if d is None or d < first or d > today:
                continue
        wk = d - dt.timedelta(days=d.weekday())
        count[wk] += 1
        end = end or start
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
        for day, owner, stage_after, *_ in lst:
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


def overdue_followups(customers: Sequence[Record], contacts: dict[str, list[Contact]],
                      lang: str = "zh", *, today: dt.date) -> tuple[ChartTable, ChartTable]:
    """Next follow-ups that are past: per customer (not 流失) the latest follow-up's 下次跟进日期
    before today. Returns the count per rep (负责人) and the list, oldest first per rep."""
    items = []
    c = _customers(customers)
    blank = BLANK[lang]
    for st, cid, owner, name in zip(c["stage"], c["customer_id"], c["owner"], c["name"],
                                    strict=True):
        if st == LOST:
            continue
        lst = contacts.get(cid or "")
        if not lst:
            continue
        last = lst[-1]
        nd = last[3]
        if nd is None or nd >= today:
            continue
        # the name last: on a chart sheet it may run on into the empty columns beside
        items.append([owner or blank, (today - nd).days, nd, last[4], cid or "", name or ""])
    items.sort(key=lambda x: (x[0], -x[1], x[4]))
    per: Counter = Counter(x[0] for x in items)
    old: Counter = Counter(x[0] for x in items if x[1] > 30)
    oldest: dict[str, int] = {}
    for x in items:
        oldest[x[0]] = max(oldest.get(x[0], 0), x[1])
    summary = ChartTable(
        key="overdue_owners", title=_t(lang, "逾期未跟进（按负责人）", "Overdue follow-ups by rep"),
        columns=[_t(lang, "负责人", "Owner"), _t(lang, "逾期客户", "Overdue"),
                 _t(lang, "逾期超30天", "Over 30 days"), _t(lang, "最久逾期(天)", "Oldest (days)")],
        rows=[[o, n, old[o], oldest[o]] for o, n in per.most_common()],
        formats=["text", "int", "int", "int"],
        charts=[ChartSpec("bar", (1, 2), (), _t(lang, "逾期未跟进", "Overdue follow-ups"),
                          _t(lang, "客户数", "Customers"), needs=(1,))],
        note=_t(lang, "客户最近一次跟进记录的下次跟进日期早于今天（流失客户除外）。",
                "The next date of a customer's latest follow-up is before today (lost customers excluded)."),
    )
    listing = ChartTable(
        key="overdue_list", title=_t(lang, "逾期未跟进明细", "Overdue follow-ups"),
        columns=[_t(lang, "负责人", "Owner"), _t(lang, "逾期天数", "Days overdue"),
                 _t(lang, "下次跟进日期", "Next date"), _t(lang, "后续计划", "Next action"),
                 _t(lang, "客户编号", "Customer ID"), _t(lang, "客户名称", "Customer")],
        rows=items, formats=["text", "int", "date", "text", "text", "text"], mark=1,
        note=_t(lang, "逾期超过30天标红，其余标橙。", "Over 30 days in red, others in orange."),
    )
    return summary, listing


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
    cols = _customers(customers)
    for cid, fc, status, stage in zip(cols["customer_id"], cols["first_contact"],
                                      cols["status"], cols["stage"], strict=True):
        lst = contacts.get(cid or "", ())
        fc = _as_date(fc)
        if not lst and fc is None:
            if status == STATUS_DORMANT:
                counts[-1] += 1
            continue
        base = n * span
        if fc is not None and (not lst or fc < lst[0][0]):
            keys.append(base + fc.toordinal())
        keys.extend([base + c[0].toordinal() for c in lst])
        won = next((c[0].toordinal() for c in lst if c[2] == "成交"), None)
        if won is None:
            won = 0 if stage == "成交" else span
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
    kpis: list[Kpi]
    tables: list[ChartTable]
    scope: str = ""  # whose figures (a sales rep sees their own)
    audience: str = "all"  # "all", "own" (a rep) or "service": picks the output file

    def table(self, key: str) -> ChartTable | None:
        return next((t for t in self.tables if t.key == key), None)


def _pct_change(new: float, old: float) -> str:
    if not old:
        return ""
    ch = (new - old) / old
    return f"{'+' if ch >= 0 else ''}{ch * 100:.1f}%"


def key_figures(custs: Sequence[Record], contacts: dict[str, list[Contact]],
                hist: StageHistory, tables: dict[str, ChartTable], settings: Mapping[str, Any],
                lang: str, today: dt.date) -> list[Kpi]:
    """What a manager looks at first: won this month / quarter (against a target when
    Settings has one), win rate, new customers with 环比, open pipeline, follow-ups,
    overdue next follow-ups, dormant customers."""
    m0, q0 = today.replace(day=1), _quarter_start(today)
    won_m = won_q = 0.0
    won = lost = 0
    pipeline = weighted = 0.0
    open_n = 0
    c = _customers(custs)
    for st, amt, cid in zip(c["stage"], c["expected_amount"], c["customer_id"], strict=True):
        amt = _num(amt)
        if st == WON:
            won += 1
            d = _won_day(st, cid, hist)
            if d is not None and d <= today:
                won_m += amt if d >= m0 else 0.0
                won_q += amt if d >= q0 else 0.0
        elif st == LOST:
            lost += 1
        elif st in OPEN_STAGES or not st:
            open_n += 1
            pipeline += amt
            weighted += amt * STAGE_WEIGHTS.get(st or FUNNEL_STAGES[0], 0.1)
    target_m = _num(settings.get("monthly_target"))
    target_q = _num(settings.get("quarterly_target")) or target_m * 3

    def vs(target: float, got: float) -> str:
        if not target:
            return ""
        return _t(lang, f"目标 {target:,.1f}，完成 {got / target:.0%}",
                  f"target {target:,.1f}, {got / target:.0%} reached")

    new_rows = tables["new"].rows
    this_new, prev_new = (new_rows[-1][1], new_rows[-2][1]) if len(new_rows) >= 2 else (0, 0)
    ch = _pct_change(this_new, prev_new)
    since30 = today - dt.timedelta(days=30)
    recent = sum(1 for lst in contacts.values() for c in lst if c[0] >= since30)
    dormant = tables["dormant"].rows[-1][1] if tables["dormant"].rows else 0
    overdue = len(tables["overdue_list"].rows)
    t = lang
    return [
        Kpi(_t(t, "本月成交(万元)", "Won this month (10k CNY)"), round(won_m, 2), "wan",
            vs(target_m, won_m)),
        Kpi(_t(t, "本季度成交(万元)", "Won this quarter (10k CNY)"), round(won_q, 2), "wan",
            vs(target_q, won_q)),
        Kpi(_t(t, "赢单率", "Win rate"), (won / (won + lost)) if won + lost else 0.0, "pct",
            _t(t, f"成交 {won} ÷ (成交 + 流失 {lost})", f"won {won} ÷ (won + lost {lost})")),
        Kpi(_t(t, "本月新增客户", "New customers this month"), this_new, "int",
            _t(t, f"环比 {ch}" if ch else f"上月 {prev_new}",
               f"{ch} on last month" if ch else f"last month {prev_new}")),
        Kpi(_t(t, "客户总数", "Customers"), len(custs), "int"),
        Kpi(_t(t, "在途商机(万元)", "Open pipeline (10k CNY)"), round(pipeline, 2), "wan",
            _t(t, f"{open_n} 位客户，加权 {weighted:,.1f}",
               f"{open_n} customers, weighted {weighted:,.1f}")),
        Kpi(_t(t, "近30天跟进", "Follow-ups, 30 days"), recent, "int"),
        Kpi(_t(t, "逾期未跟进", "Overdue follow-ups"), overdue, "int",
            _t(t, "下次跟进日期已过", "next date passed")),
        Kpi(_t(t, "休眠客户", "Dormant customers"), dormant, "int"),
    ]


def build_dashboard(wb: Workbook, *, today: dt.date | None = None,
                    customer_filter: Any = None, scope: str = "",
                    audit_events: Iterable[Mapping[str, Any]] = ()) -> Dashboard:
    """Every dashboard figure for the workbook (optionally only customers passing the filter).

    `audit_events` (the home's audit log) add the stage changes the engine recorded to the
    stage history the funnel counts from.
    """
    today = today or dt.date.today()
    lang = wb.lang
    read = getattr(wb.customers.records, "unread_columns", None)
    fread = getattr(wb.followups.records, "unread_columns", None)
    cols = read() if read is not None and customer_filter is None else None
    fcols = fread() if fread is not None else None
    if cols is not None:  # read as columns (report_load): no Record is ever built
        status = cols["status"]
        keep = [i for i, s in enumerate(status) if s != STATUS_MERGED]
        custs = cols if len(keep) == len(status) else cols.take(keep)
    else:
        recs = active(wb.customers.records)
        if customer_filter is not None:
            recs = [r for r in recs if customer_filter(r)]
        custs = Columns.of(recs, CUSTOMER_KEYS)
    if fcols is None:
        fcols = Columns.of(wb.followups.records, FOLLOWUP_KEYS)
    ids = {c for c in custs["customer_id"] if c}
    # follow-ups count when their customer counts (not merged away, visible to the actor)
    contacts = _contacts(fcols, ids, today)
    counted = [i for i, c in enumerate(fcols["customer_id"]) if c in ids]
    fups = fcols if len(counted) == len(fcols) else fcols.take(counted)
    hist = stage_history(contacts, [e for e in audit_stage_events(audit_events) if e[0] in ids])
    hours = wb.settings.get("timeliness_hours", 24)
    dd = wb.settings.get("dormant_days", 180)
    overdue_sum, overdue_list = overdue_followups(custs, contacts, lang, today=today)
    tables = [
        funnel(custs, lang, hist),
        lost_by_stage(custs, lang, hist),
        won_by_owner(custs, lang, today=today, hist=hist),
        new_customers(custs, lang, today=today),
        overdue_sum,
        industry_mix(custs, lang),
        source_conversion(custs, lang),
        by_province(custs, lang),
        followup_efficiency(fups, lang, today=today, hours=hours),
        owner_activity(contacts, lang, today=today),
        dormant_trend(custs, contacts, lang, today=today, dormant_days=dd),
        overdue_list,
    ]
    by_key = {t.key: t for t in tables}
    kpis = key_figures(custs, contacts, hist, by_key, wb.settings, lang, today)
    for t in tables:
        if t.key != "funnel":
            prune_charts(t)
    return Dashboard(title=_t(lang, "客户管理看板", "CRM dashboard"), today=today, lang=lang,
                     kpis=kpis, tables=tables, scope=scope)


def service_view(dash: Dashboard) -> Dashboard:
    """Customer service sees the follow-up figures only (DESIGN §7)."""
    dash.tables = [t for t in dash.tables if t.key in SERVICE_TABLES]
    keep = {_t(dash.lang, "近30天跟进", "Follow-ups, 30 days"),
            _t(dash.lang, "逾期未跟进", "Overdue follow-ups"),
            _t(dash.lang, "休眠客户", "Dormant customers"), _t(dash.lang, "客户总数", "Customers")}
    dash.kpis = [k for k in dash.kpis if k.label in keep]
    dash.scope = "客服视图" if dash.lang == "zh" else "customer service"
    dash.audience = "service"
    return dash


def selection_tables(records: Sequence[Record], lang: str = "zh") -> list[ChartTable]:
    """Charts for an export, computed on the selected customers only (current stage and
    customer type as the stage history); charts that say nothing for them are left out."""
    custs = Columns.of(list(records), CUSTOMER_KEYS)
    out = [funnel(custs, lang), lost_by_stage(custs, lang), industry_mix(custs, lang),
           source_conversion(custs, lang), by_province(custs, lang)]
    for t in out[1:]:
        prune_charts(t)
    return [t for t in out if t.rows and (t.key != "lost" or t.rows)]
