"""Filtered customer queries: `crm query`, `crm export` and the tests all select rows here.

Filters combine with AND; several values for one filter (`--stage 意向,谈判` or the
option repeated) combine with OR. Values are accepted in Chinese or English
(`schema.VALUE_ALIASES` plus English names of the default industries and sources),
full-width or half-width, and provinces/cities with or without 省/市 (广东 = 广东省).
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import Any

from .choices import canonical
from .coerce import as_date as _as_date
from .divisions import short_name
from .errors import CrmError
from .i18n import t
from .model import Record, Workbook
from .schema import (
    CUSTOMERS,
    STATUS_DORMANT,
    STATUS_MERGED,
    VALUE_ALIASES,
    Field,
)

# English names for the default industries and sources (values are stored in Chinese).
EXTRA_ALIASES: dict[str, dict[str, str]] = {
    "industry": {
        "manufacturing": "制造业", "manufacture": "制造业", "it": "信息技术",
        "information technology": "信息技术", "tech": "信息技术", "technology": "信息技术",
        "software": "信息技术", "finance": "金融", "financial": "金融", "banking": "金融",
        "retail": "零售", "healthcare": "医疗健康", "health": "医疗健康", "medical": "医疗健康",
        "education": "教育", "real estate": "房地产", "property": "房地产", "logistics": "物流",
        "energy": "能源", "catering": "餐饮", "food service": "餐饮", "restaurants": "餐饮",
        "construction": "建筑", "other": "其他", "others": "其他",
    },
    "source": {
        "trade show": "展会推荐", "exhibition": "展会推荐", "expo": "展会推荐",
        "online": "线上推广", "online ads": "线上推广", "online promotion": "线上推广",
        "referral": "转介绍", "telemarketing": "电话营销", "cold call": "电话营销",
        "website": "官网咨询", "web inquiry": "官网咨询", "existing customer": "老客户",
        "old customer": "老客户", "returning customer": "老客户", "other": "其他", "others": "其他",
    },
    "customer_type": {
        "prospect": "潜在客户", "potential": "潜在客户", "lead": "潜在客户",
        "intent": "意向客户", "intent customer": "意向客户", "interested": "意向客户",
        "customer": "成交客户", "won": "成交客户", "closed": "成交客户", "deal": "成交客户",
        "潜在": "潜在客户", "意向": "意向客户", "成交": "成交客户",
    },
    "status": {"active": "正常", "asleep": "休眠", "inactive": "休眠"},
    "stage": {"negotiating": "谈判", "closed": "成交", "deal": "成交", "churned": "流失"},
}

# Filters whose values come from a Lists column: an unknown value is a usage error.
CHOICE_FILTERS = {"industry": "industries", "stage": "stages", "customer_type": "customer_types",
                  "source": "sources", "status": "statuses"}
# Filter attribute -> customer field key, in the order they are described.
VALUE_FILTERS = (("industry", "industry"), ("stage", "stage"), ("type", "customer_type"),
                 ("source", "source"), ("owner", "owner"), ("province", "province"),
                 ("city", "city"), ("status", "status"))
_PLACE_FIELDS = ("province", "city")
_SPLIT_RE = re.compile(r"[,，、;；]")
_DURATION_RE = re.compile(r"^\s*(\d+)\s*(d|day|days|天|w|week|weeks|周|m|month|months|月|y|year|years|年)?\s*$",
                          re.IGNORECASE)
_UNIT_DAYS = {"d": 1, "day": 1, "days": 1, "天": 1, "w": 7, "week": 7, "weeks": 7, "周": 7,
              "m": 30, "month": 30, "months": 30, "月": 30, "y": 365, "year": 365,
              "years": 365, "年": 365}


def norm(text: Any) -> str:
    """Comparison form of a value: NFKC (full-width folded), trimmed, case-folded."""
    return unicodedata.normalize("NFKC", str(text)).strip().casefold()


def parse_days(text: str | int | None) -> int | None:
    """'30d', '30', '4w', '30天', '2m' (30 days each) -> days; None stays None."""
    if text is None or text == "":
        return None
    if isinstance(text, int):
        return text
    m = _DURATION_RE.match(unicodedata.normalize("NFKC", text))
    if not m:
        raise CrmError(t(f"需要形如 30d、4w 或 30 的时长，收到的是 {text!r}",
                         f"expected a duration like 30d, 4w or 30, got {text!r}"))
    return int(m.group(1)) * _UNIT_DAYS[(m.group(2) or "d").lower()]


def split_values(values: Iterable[str] | str | None) -> tuple[str, ...]:
    """Option values: repeated and/or comma-separated (also ，、;)."""
    if values is None:
        return ()
    if isinstance(values, str):
        values = [values]
    out: list[str] = []
    for v in values:
        out += [p.strip() for p in _SPLIT_RE.split(v) if p.strip()]
    return tuple(out)


@dataclass(frozen=True)
class Filters:
    """What to select. Empty tuples / None mean "any"."""

    industry: tuple[str, ...] = ()
    stage: tuple[str, ...] = ()
    type: tuple[str, ...] = ()
    source: tuple[str, ...] = ()
    owner: tuple[str, ...] = ()
    province: tuple[str, ...] = ()
    city: tuple[str, ...] = ()
    status: tuple[str, ...] = ()
    followed_within: int | None = None  # days: last follow-up within this many days
    not_followed_within: int | None = None  # days: no follow-up within this many days
    dormant: bool = False
    # stored spellings that mean a chosen value (零售业 where the list says 零售): matched too,
    # never described; filled by `resolve_values` as (attribute, values) pairs
    also: tuple[tuple[str, tuple[str, ...]], ...] = field(default=(), compare=False)

    @classmethod
    def from_options(cls, **opts: Any) -> Filters:
        """Build from CLI-style values: strings or lists of strings, durations like '30d'."""
        kw: dict[str, Any] = {}
        for attr, _key in VALUE_FILTERS:
            kw[attr] = split_values(opts.get(attr))
        kw["followed_within"] = parse_days(opts.get("followed_within"))
        kw["not_followed_within"] = parse_days(opts.get("not_followed_within"))
        kw["dormant"] = bool(opts.get("dormant"))
        return cls(**kw)

    @property
    def needs_followups(self) -> bool:
        return self.followed_within is not None or self.not_followed_within is not None or self.dormant

    def is_empty(self) -> bool:
        return self == Filters()

    def describe(self, lang: str = "zh") -> str:
        """One line for titles: 所属行业=制造业; 客户类型=意向客户; 30天内未跟进."""
        zh = lang == "zh"
        parts = []
        for attr, key in VALUE_FILTERS:
            vals = getattr(self, attr)
            if vals:
                parts.append(f"{CUSTOMERS.field(key).header(lang)}={'/'.join(vals)}")
        if self.followed_within is not None:
            d = self.followed_within
            parts.append(f"{d}天内有跟进" if zh else f"followed up within {d} days")
        if self.not_followed_within is not None:
            d = self.not_followed_within
            parts.append(f"{d}天内未跟进" if zh else f"not followed up within {d} days")
        if self.dormant:
            parts.append("休眠客户" if zh else "dormant")
        if not parts:
            return "全部客户" if zh else "all customers"
        return ("；" if zh else "; ").join(parts)


@dataclass
class QueryResult:
    """The selected customers and what was needed to select them."""

    records: list[Record]
    filters: Filters
    today: dt.date
    lang: str
    fields: list[Field]  # columns the actor may see, in schema order
    last_followup: dict[str, dt.date] = field(default_factory=dict)  # customer_id -> date
    masked: frozenset[str] = frozenset()  # field keys shown masked
    considered: int = 0  # customers the actor could see before filtering

    def value(self, record: Record, key: str) -> Any:
        """A cell as outputs show it: masked where the role hides it (phone numbers and
        e-mail addresses inside free text too), last follow-up filled in."""
        v = record.values.get(key)
        if v is None:
            v = record.raw.get(key)  # what the user typed when it could not be read
        if key in self.masked:
            return mask_value(v)
        if key == "last_followup" and v is None:
            return self.last_followup.get(record.values.get("customer_id") or "")
        if self.masked and type(v) is str:
            from .permissions import mask_contacts_in_text

            return mask_contacts_in_text(v)
        return v

    def rows(self, keys: list[str] | None = None) -> list[list[Any]]:
        keys = keys or [f.key for f in self.fields]
        return [[self.value(r, k) for k in keys] for r in self.records]


def mask_value(value: Any) -> Any:
    """A contact detail as marketing sees it: 138****8000, z***@example.com, 张*."""
    from . import permissions

    fn = getattr(permissions, "mask_value", None)
    if fn is not None:
        return fn(value)
    if value is None or value == "":
        return value
    s = str(value)
    if "@" in s:
        user, _, domain = s.partition("@")
        return (user[:1] + "***@" + domain) if user else "***"
    digits = sum(c.isdigit() for c in s)
    if digits >= 7:
        return s[:3] + "****" + s[-4:]
    return s[:1] + "*" * max(1, len(s) - 1)


# ---------------------------------------------------------------- resolving values


def _data_values(wb: Workbook, key: str) -> list[str]:
    """Distinct non-blank values of a customer column."""
    seen: dict[str, None] = {}
    for r in wb.customers.records:
        v = r.values.get(key)
        if v is not None and v != "":
            seen.setdefault(str(v), None)
    return list(seen)


def _resolve_one(key: str, value: str, domain: list[str]) -> set[str]:
    """The normalised stored values one filter value means."""
    n = norm(value)
    by_norm = {norm(d): d for d in domain}
    if key in _PLACE_FIELDS:
        return {n, norm(short_name(unicodedata.normalize("NFKC", value).strip()))}
    candidates = [n]
    alias = EXTRA_ALIASES.get(key, {}).get(n) or VALUE_ALIASES.get(n)
    if alias:
        candidates.append(norm(alias))
    for c in candidates:
        if c in by_norm:
            return {c}
    if key in CHOICE_FILTERS:  # a synonym of a listed or stored value: 零售业 → 零售
        for c in candidates:
            hit = canonical(CHOICE_FILTERS[key], by_norm.get(c, c), domain)
            if hit is not None:
                return {norm(hit)}
        known = "、".join(domain) or "-"
        field = CUSTOMERS.field(key)
        raise CrmError(t(f"未知的{field.zh} {value!r}；可用的值：{known}",
                         f"unknown {field.en.lower()} {value!r}; known values: {known}"))
    return {candidates[-1]}


def _matcher(key: str, wanted: set[str]):  # noqa: ANN202 - a small closure factory
    """A cached predicate over stored values (distinct values are few)."""
    cache: dict[Any, bool] = {}
    place = key in _PLACE_FIELDS

    def ok(value: Any) -> bool:
        hit = cache.get(value)
        if hit is None:
            if value is None or value == "":
                hit = False
            else:
                n = norm(value)
                hit = n in wanted or (place and norm(short_name(str(value).strip())) in wanted)
            cache[value] = hit
        return hit

    return ok


def resolve_values(filters: Filters, lists: dict[str, list[str]],
                   data_values: dict[str, list[str]]) -> Filters:
    """Canonicalise filter values against Lists and the values present in the data
    (`data_values`: field key -> distinct values); raises CrmError on an unknown choice."""
    changes: dict[str, Any] = {}
    also: dict[str, tuple[str, ...]] = {}
    for attr, key in VALUE_FILTERS:
        vals = getattr(filters, attr)
        if not vals or key in _PLACE_FIELDS or key == "owner":
            continue
        domain = list(dict.fromkeys([str(v) for v in lists.get(CHOICE_FILTERS[key], [])]
                                    + list(data_values.get(key, []))))
        by_norm = {norm(d): d for d in domain}
        out = []
        for v in vals:
            for n in sorted(_resolve_one(key, v, domain)):
                out.append(by_norm.get(n, v))
        # the list's spelling names the filter; stored synonyms of it match as well
        list_name = CHOICE_FILTERS[key]
        listed = [str(x) for x in lists.get(list_name, [])]
        chosen = tuple(dict.fromkeys(canonical(list_name, o, listed) or o for o in out))
        changes[attr] = chosen
        extra = tuple(d for d in domain if d not in chosen
                      and canonical(list_name, d, listed) in chosen)
        if extra:
            also[attr] = extra
    if also or filters.also:
        changes["also"] = tuple(also.items())
    return replace(filters, **changes)


def resolve(filters: Filters, wb: Workbook) -> Filters:
    """Check and canonicalise filter values against the workbook (raises CrmError on typos)."""
    keys = [key for attr, key in VALUE_FILTERS if getattr(filters, attr) and key in CHOICE_FILTERS]
    return resolve_values(filters, wb.lists, {k: _data_values(wb, k) for k in keys})


def value_checks(filters: Filters) -> list[tuple[str, Any]]:
    """(field key, predicate on a stored value) for every value filter in use."""
    checks: list[tuple[str, Any]] = []
    also = dict(filters.also)
    for attr, key in VALUE_FILTERS:
        vals = getattr(filters, attr)
        if vals:
            wanted: set[str] = set()
            for v in vals + also.get(attr, ()):
                wanted |= {norm(v)} | ({norm(short_name(v))} if key in _PLACE_FIELDS else set())
            checks.append((key, _matcher(key, wanted)))
    return checks


# ---------------------------------------------------------------- follow-up dates


def last_followups(wb: Workbook, today: dt.date | None = None) -> dict[str, dt.date]:
    """customer_id -> date of the latest follow-up (Followups sheet, else the Customers column).

    Follow-ups dated after `today` (planned, or typed wrong) do not count as contact.
    """
    out: dict[str, dt.date] = {}
    get = out.get
    for r in wb.followups.records:
        vals = r.values
        cid = vals.get("customer_id")
        d = vals.get("start")
        if cid is None or d is None:
            continue
        d = d.date() if isinstance(d, dt.datetime) else d
        if not isinstance(d, dt.date) or (today is not None and d > today):
            continue
        cur = get(cid)
        if cur is None or d > cur:
            out[cid] = d
    for r in wb.customers.records:
        d = _as_date(r.values.get("last_followup"))
        cid = r.values.get("customer_id")
        if d is None or cid is None or (today is not None and d > today):
            continue
        cur = out.get(cid)
        if cur is None or d > cur:
            out[cid] = d
    return out


def is_dormant(record: Record, last: dt.date | None, today: dt.date, dormant_days: int) -> bool:
    """休眠: marked so by the engine, or no contact for `dormant_days` and not 成交 (DESIGN §3).

    Contact is the latest follow-up, else the first-contact date; a customer with neither
    is dormant only when the engine marked it.
    """
    vals = record.values
    status = vals.get("status")
    if status == STATUS_DORMANT:
        return True
    if status == STATUS_MERGED or vals.get("stage") == "成交":
        return False
    ref = last or _as_date(vals.get("first_contact"))
    return ref is not None and (today - ref).days >= dormant_days


# ---------------------------------------------------------------- permissions


def actor_view(actor: Any, schema=CUSTOMERS) -> tuple[Any, list[Field], frozenset[str]]:  # noqa: ANN001
    """(record predicate, visible fields, masked keys) for an actor; everything when None.

    Uses permissions.visible_customer / visible_fields / masked_fields when they exist
    (added by the accounts work); without them, or without an actor, all is visible.
    """
    from . import permissions

    fields = list(schema.fields)
    if actor is None:
        return None, fields, frozenset()
    vis_cust = getattr(permissions, "visible_customer", None)
    vis_fields = getattr(permissions, "visible_fields", None)
    masked_fn = getattr(permissions, "masked_fields", None)
    pred = (lambda r: vis_cust(actor, r)) if vis_cust else None
    if vis_fields is not None:
        allowed = vis_fields(actor, schema)
        keys = {getattr(f, "key", f) for f in allowed}
        fields = [f for f in fields if f.key in keys]
    masked: frozenset[str] = frozenset()
    if masked_fn is not None:
        masked = frozenset(getattr(f, "key", f) for f in masked_fn(actor))
    return pred, fields, masked


def session_actor(home: Any) -> Any:
    """The logged-in account for this home, or None (no home, no session, or no API yet)."""
    if home is None:
        return None
    from . import permissions

    fn = getattr(permissions, "current_actor", None)
    return fn(home) if fn is not None else None


# ---------------------------------------------------------------- the query


def run_query(wb: Workbook, filters: Filters, *, today: dt.date | None = None,
              actor: Any = None, last: dict[str, dt.date] | None = None,
              resolved: bool = False) -> QueryResult:
    """Select the customers matching every filter (merged duplicates only when asked for).

    `last` (customer_id -> latest follow-up date) and `resolved` let a caller that read
    the workbook selectively (report_load.load_for_query) pass what it already computed.
    """
    today = today or dt.date.today()
    if not resolved:
        filters = resolve(filters, wb)
    pred, fields, masked = actor_view(actor)
    checks = value_checks(filters)
    want_merged = STATUS_MERGED in filters.status
    if last is None:
        last = last_followups(wb, today)
    fw = filters.followed_within
    nfw = filters.not_followed_within
    since_fw = today - dt.timedelta(days=fw) if fw is not None else None
    since_nfw = today - dt.timedelta(days=nfw) if nfw is not None else None
    dormant_days = wb.settings.get("dormant_days", 180)
    selected: list[Record] = []
    considered = 0
    for r in wb.customers.records:
        vals = r.values
        if not want_merged and vals.get("status") == STATUS_MERGED:
            continue
        if pred is not None and not pred(r):
            continue
        considered += 1
        ok = True
        for key, match in checks:
            if not match(vals.get(key)):
                ok = False
                break
        if not ok:
            continue
        if since_fw is not None or since_nfw is not None or filters.dormant:
            lf = last.get(vals.get("customer_id") or "")
            if since_fw is not None and (lf is None or lf < since_fw):
                continue
            if since_nfw is not None and lf is not None and lf >= since_nfw:
                continue
            if filters.dormant and not is_dormant(r, lf, today, dormant_days):
                continue
        selected.append(r)
    return QueryResult(records=selected, filters=filters, today=today, lang=wb.lang,
                       fields=fields, last_followup=last, masked=masked, considered=considered)
