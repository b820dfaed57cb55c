"""The field tables: the one source for headers, types, dropdowns, widths and ownership.

Everything that knows about columns (template, reader, validation, views, exports)
derives from the tables here, so a column is added or renamed in exactly one place.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

# Plain frozen dataclasses, not pydantic models: every command imports this module, and
# pydantic alone cost ~50 ms of start-up (issue 15). The tables below are literals; the
# conversions in __post_init__ are the ones pydantic made (width 16 -> 16.0, lists ->
# tuples), so values, equality, hashability and repr are the same as before.


class Kind(StrEnum):
    """How a cell's value is typed and formatted."""

    TEXT = "text"  # free text
    CODE = "code"  # text that must stay text (IDs, phones): Excel text format "@"
    INT = "int"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    CHOICE = "choice"  # value from a Lists column


@dataclass(frozen=True, kw_only=True)
class Field:
    """One column of a sheet."""

    key: str
    zh: str
    en: str
    kind: Kind = Kind.TEXT
    required: bool = False
    engine: bool = False  # filled by the engine, not the user
    choices: str | None = None  # name of the Lists column backing a dropdown
    width: float = 14
    contact: bool = False  # contact detail: masked for marketing
    core: bool = False  # customer core field (read-only for service)
    aliases: tuple[str, ...] = ()  # extra header spellings accepted by the reader
    dropdown: str | None = None  # Lists column the template's dropdown shows, when not `choices`

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", Kind(self.kind))
        object.__setattr__(self, "width", float(self.width))
        object.__setattr__(self, "aliases", tuple(self.aliases))

    def header(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.en


@dataclass(frozen=True, kw_only=True)
class SheetSchema:
    """A data sheet: its canonical name, Chinese alias and ordered fields."""

    name: str
    zh: str
    fields: tuple[Field, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "fields", tuple(self.fields))

    def field(self, key: str) -> Field:
        return self.by_key[key]

    @property
    def by_key(self) -> dict[str, Field]:
        return {f.key: f for f in self.fields}

    @property
    def keys(self) -> list[str]:
        return [f.key for f in self.fields]

    def headers(self, lang: str) -> list[str]:
        return [f.header(lang) for f in self.fields]

    def title(self, lang: str) -> str:
        return self.zh if lang == "zh" else self.name


F = Field
K = Kind

CUSTOMERS = SheetSchema(
    name="Customers",
    zh="客户",
    fields=(
        F(key="customer_id", zh="客户编号", en="Customer ID", kind=K.CODE, engine=True, width=16),
        F(key="name", zh="客户名称", en="Customer Name", required=True, core=True, width=30,
          aliases=("公司名称", "企业名称", "company", "name")),
        F(key="industry", zh="所属行业", en="Industry", kind=K.CHOICE, choices="industries",
          core=True, width=12, aliases=("行业",)),
        F(key="employees", zh="员工人数", en="Employees", kind=K.INT, core=True, width=10),
        F(key="annual_revenue", zh="年营收(万元)", en="Annual Revenue (10k CNY)", kind=K.NUMBER,
          core=True, width=13, aliases=("年营收", "annual revenue")),
        F(key="province", zh="省", en="Province", core=True, width=10, aliases=("省份",)),
        F(key="city", zh="市", en="City", core=True, width=10, aliases=("城市",)),
        F(key="district", zh="区县", en="District", core=True, width=10, aliases=("区", "县")),
        F(key="contact_name", zh="联系人", en="Contact", required=True, contact=True, width=10),
        F(key="contact_title", zh="职位", en="Title", width=10),
        F(key="phone", zh="联系方式", en="Phone", kind=K.CODE, required=True, contact=True,
          width=16, aliases=("电话", "手机", "联系电话")),
        F(key="email", zh="邮箱", en="Email", contact=True, width=24, aliases=("电子邮箱", "e-mail")),
        F(key="customer_type", zh="客户类型", en="Customer Type", kind=K.CHOICE,
          choices="customer_types", width=12, aliases=("type",)),
        F(key="source", zh="客户来源", en="Source", kind=K.CHOICE, choices="sources", width=12,
          aliases=("来源",)),
        F(key="first_contact", zh="首次接触时间", en="First Contact", kind=K.DATE, width=13),
        F(key="owner", zh="负责人", en="Owner", kind=K.CHOICE, choices="owners", required=True,
          width=10),
        F(key="stage", zh="商机阶段", en="Stage", kind=K.CHOICE, choices="stages", width=10),
        F(key="lost_reason", zh="流失原因", en="Lost Reason", kind=K.CHOICE,
          choices="lost_reasons", width=12),
        F(key="expected_amount", zh="预计金额(万元)", en="Expected Amount (10k CNY)",
          kind=K.NUMBER, width=13, aliases=("预计金额", "expected amount")),
        F(key="status", zh="状态", en="Status", kind=K.CHOICE, choices="statuses", engine=True,
          width=8),
        F(key="last_followup", zh="最近跟进时间", en="Last Follow-up", kind=K.DATETIME,
          engine=True, width=17),
        F(key="next_followup_date", zh="下次跟进日期", en="Next Follow-up Date", kind=K.DATE,
          engine=True, width=13),
        F(key="next_followup", zh="下次跟进", en="Next Follow-up", engine=True, width=22),
        F(key="followup_summary", zh="跟进记录摘要", en="Follow-up Summary", engine=True,
          width=40),
        F(key="updated_at", zh="更新时间", en="Updated At", kind=K.DATETIME, engine=True,
          width=17),
        F(key="notes", zh="备注", en="Notes", width=30),
    ),
)

FOLLOWUPS = SheetSchema(
    name="Followups",
    zh="跟进记录",
    fields=(
        F(key="followup_id", zh="跟进编号", en="Follow-up ID", kind=K.CODE, engine=True, width=17),
        F(key="customer_id", zh="客户编号", en="Customer ID", kind=K.CODE, required=True,
          width=16),
        F(key="customer_name", zh="客户名称", en="Customer Name", engine=True, width=28),
        F(key="start", zh="沟通开始", en="Start", kind=K.DATETIME, required=True, width=17,
          aliases=("沟通时间", "开始时间")),
        F(key="end", zh="沟通结束", en="End", kind=K.DATETIME, width=17, aliases=("结束时间",)),
        F(key="method", zh="沟通方式", en="Method", kind=K.CHOICE, choices="methods",
          required=True, width=10),
        F(key="content", zh="沟通内容", en="Content", required=True, width=40),
        F(key="next_action", zh="后续计划", en="Next Action", width=24),
        F(key="next_date", zh="下次跟进日期", en="Next Date", kind=K.DATE, width=13),
        F(key="owner", zh="跟进人", en="Owner", kind=K.CHOICE, choices="owners", required=True,
          width=10, dropdown="staff"),
        F(key="stage_after", zh="阶段更新", en="Stage After", kind=K.CHOICE, choices="stages",
          width=10),
        F(key="recorded_at", zh="录入时间", en="Recorded At", kind=K.DATETIME, engine=True,
          width=17),
    ),
)

NOT_DUPLICATES = SheetSchema(
    name="NotDuplicates",
    zh="非重复",
    fields=(
        F(key="customer_id_a", zh="客户编号A", en="Customer ID A", kind=K.CODE, required=True,
          width=16),
        F(key="customer_id_b", zh="客户编号B", en="Customer ID B", kind=K.CODE, required=True,
          width=16),
        F(key="note", zh="说明", en="Note", width=30),
    ),
)

DATA_SHEETS = (CUSTOMERS, FOLLOWUPS)

# Pipeline stages and the customer type each implies (流失 keeps its type).
STAGES = ("线索", "意向", "谈判", "成交", "流失")
STAGE_ORDER = {"线索": 0, "意向": 1, "谈判": 2, "成交": 3}
CUSTOMER_TYPES = ("潜在客户", "意向客户", "成交客户")
STAGE_TYPE = {"线索": "潜在客户", "意向": "意向客户", "谈判": "意向客户", "成交": "成交客户"}
STATUS_NORMAL, STATUS_DORMANT, STATUS_MERGED = "正常", "休眠", "已合并"
POOL_OWNER = "公海"

# Lists sheet: dropdown columns, their bilingual headers and default values.
LIST_COLUMNS: dict[str, tuple[str, str]] = {
    "industries": ("行业", "Industries"),
    "sources": ("客户来源", "Sources"),
    "methods": ("沟通方式", "Methods"),
    "stages": ("商机阶段", "Stages"),
    "customer_types": ("客户类型", "Customer Types"),
    "lost_reasons": ("流失原因", "Lost Reasons"),
    "statuses": ("状态", "Statuses"),
    "owners": ("负责人", "Owners"),
    "service": ("客服人员", "Service Staff"),
    # 负责人 + 客服人员, computed by formulas in the template (the 跟进人 dropdown); the
    # reader skips it, the engine never writes it.
    "staff": ("跟进人", "Follow-up Staff"),
}
COMPUTED_LISTS = frozenset({"staff"})

DEFAULT_LISTS: dict[str, tuple[str, ...]] = {
    # one naming: the trade's short name, no 业/行业 suffix (docs/decisions.md); 制造业,
    # 零售业, the GB/T 4754 门类 names… are synonyms (crm_sheets/choices.py)
    "industries": ("制造", "信息技术", "金融", "零售", "医疗健康", "教育", "房地产", "物流",
                   "能源", "餐饮", "建筑", "其他"),
    "sources": ("展会推荐", "线上推广", "转介绍", "电话营销", "官网咨询", "老客户", "其他"),
    "methods": ("电话", "拜访", "邮件", "线上会议"),
    "stages": STAGES,
    "customer_types": CUSTOMER_TYPES,
    "lost_reasons": ("价格过高", "选择竞品", "需求取消", "预算不足", "联系不上", "其他"),
    "statuses": (STATUS_NORMAL, STATUS_DORMANT, STATUS_MERGED),
    "owners": (),
    "service": (),
    "staff": (),
}

# English spellings accepted for Chinese dropdown values (values are stored in Chinese).
VALUE_ALIASES: dict[str, str] = {
    "lead": "线索", "intent": "意向", "negotiation": "谈判", "won": "成交", "lost": "流失",
    "prospect": "潜在客户", "intent customer": "意向客户", "customer": "成交客户",
    "normal": "正常", "dormant": "休眠", "merged": "已合并",
    "phone": "电话", "call": "电话", "visit": "拜访", "email": "邮件", "meeting": "线上会议",
    "online meeting": "线上会议",
}


@dataclass(frozen=True, kw_only=True)
class SettingSpec:
    """A rule parameter a team may tune in the Settings sheet."""

    key: str
    zh: str
    en: str
    default: int
    minimum: int = 0


SETTINGS: tuple[SettingSpec, ...] = (
    SettingSpec(key="dormant_days", zh="休眠天数", en="Dormant after days", default=180, minimum=1),
    SettingSpec(key="pool_days", zh="公海天数(0=关闭)", en="Public pool after days (0 = off)",
                default=0),
    SettingSpec(key="timeliness_hours", zh="录入时限(小时)", en="Entry deadline (hours)",
                default=24, minimum=1),
    SettingSpec(key="duplicate_threshold", zh="重复阈值(0-100)",
                en="Duplicate threshold (0-100)", default=85, minimum=1),
    SettingSpec(key="review_days", zh="资料复核天数", en="Review profile after days", default=30,
                minimum=1),
    SettingSpec(key="backup_daily", zh="保留每日备份", en="Keep daily backups", default=7),
    SettingSpec(key="backup_weekly", zh="保留每周备份", en="Keep weekly backups", default=4),
    SettingSpec(key="backup_monthly", zh="保留每月备份", en="Keep monthly backups", default=12),
    # dashboard targets in 万元 (0 = none; the quarter defaults to three months' target)
    SettingSpec(key="monthly_target", zh="月度成交目标(万元)", en="Monthly won target (10k CNY)",
                default=0),
    SettingSpec(key="quarterly_target", zh="季度成交目标(万元)",
                en="Quarterly won target (10k CNY)", default=0),
    # the portal (crm serve): 1 = every account enrols an authenticator at its next login
    SettingSpec(key="require_totp", zh="要求两步验证(1=是)", en="Require two-factor login (1 = yes)",
                default=0),
)
SETTINGS_BY_KEY = {s.key: s for s in SETTINGS}

SCHEMA_VERSION = 1
SHEET_LISTS, SHEET_SETTINGS, SHEET_ISSUES, SHEET_META = "Lists", "Settings", "Issues", "_meta"
# The tab names the engine writes, per language; findings and JSON keep the stable keys.
SHEET_TITLES: dict[str, tuple[str, str]] = {
    "Customers": ("客户", "Customers"), "Followups": ("跟进记录", "Followups"),
    "Lists": ("列表", "Lists"), "Settings": ("设置", "Settings"), "Issues": ("问题", "Issues"),
    "NotDuplicates": ("非重复", "NotDuplicates"), "_meta": ("_meta", "_meta"),
}
META_SHEET_PREFIX = "sheet."  # _meta rows `sheet.Customers = 客户`: the tabs the engine made


def sheet_title(key: str, lang: str) -> str:
    """The tab name the engine gives the sheet `key` in a workbook of language `lang`."""
    zh, en = SHEET_TITLES[key]
    return zh if lang == "zh" else en


SHEET_ALIASES = {
    "customers": "Customers", "客户": "Customers", "客户信息": "Customers", "客户表": "Customers",
    "followups": "Followups", "follow-ups": "Followups", "跟进记录": "Followups", "跟进": "Followups",
    "lists": "Lists", "列表": "Lists", "下拉选项": "Lists",
    "settings": "Settings", "设置": "Settings",
    "issues": "Issues", "问题": "Issues",
    "notduplicates": "NotDuplicates", "非重复": "NotDuplicates",
    "_meta": "_meta",
}


def identify_sheets(names: list[str] | tuple[str, ...],
                    meta: dict[str, str] | None = None) -> tuple[dict[str, str], list[tuple[str, str, str]]]:
    """Which tab is which engine sheet: (stable key -> tab name, ambiguities).

    The engine recognises its own sheets by what it wrote: a `_meta` row
    `sheet.Customers = 客户` naming an existing tab wins; then a tab named exactly as the
    engine names it (English key, then the Chinese title); an alias (客户信息, 跟进…) only
    when no such tab exists. Every other tab that could also be that sheet is returned as
    (key, chosen tab, other tab), so a user's own 客户 sheet placed first never takes over.
    """
    stripped = {n: n.strip() for n in names}
    out: dict[str, str] = {}
    candidates: dict[str, list[str]] = {}
    for n in names:
        canon = SHEET_ALIASES.get(stripped[n].lower()) or SHEET_ALIASES.get(stripped[n])
        if canon:
            candidates.setdefault(canon, []).append(n)
    ambiguous: list[tuple[str, str, str]] = []
    for canon, tabs in candidates.items():
        recorded = (meta or {}).get(META_SHEET_PREFIX + canon)
        chosen = None
        if recorded and recorded in names:
            chosen = recorded
        else:
            titles = SHEET_TITLES.get(canon, (canon, canon))
            for wanted in (titles[1], titles[0]):
                chosen = next((t for t in tabs if stripped[t] == wanted), None)
                if chosen is not None:
                    break
            if chosen is None:
                chosen = tabs[0]
        out[canon] = chosen
        ambiguous.extend((canon, chosen, t) for t in tabs if t != chosen)
    for key, value in (meta or {}).items():  # a recorded tab renamed to a non-alias name
        if key.startswith(META_SHEET_PREFIX):
            canon = key[len(META_SHEET_PREFIX):]
            if canon in SHEET_TITLES and canon not in out and value in names:
                out[canon] = value
    return out, ambiguous
