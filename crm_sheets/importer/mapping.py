"""Which source column goes to which field: automatic, fuzzy, overridable by a file.

Targets are customer field keys (`name`, `phone`, ...), follow-up fields prefixed
with `fu.` (`fu.start`, `fu.content`, ...) and `address` (a combined address that
cleaning splits into province/city/district). Matching order per header:
the mapping file; the field's Chinese/English header, aliases and the synonyms
below (exact, after folding width, case, spaces and bracketed units); for Chinese
headers a known name at the end ("联系人电话" ends in 电话); then rapidfuzz similarity.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from rapidfuzz import fuzz, process

from ..errors import CrmError
from ..reader import is_blank, norm_header
from ..schema import CUSTOMERS, FOLLOWUPS

ADDRESS = "address"
FU = "fu."
MULTI = {"phone", "notes"}  # several source columns may feed these (joined)
FUZZY_CUTOFF_ZH = 80
FUZZY_CUTOFF_EN = 88
HEADER_SCAN_ROWS = 30

# Extra spellings seen in real exports, beyond schema zh/en/aliases.
SYNONYMS: dict[str, tuple[str, ...]] = {
    "name": ("公司全称", "企业名称", "单位名称", "公司名称", "客户全称", "客户名", "企业全称", "单位全称",
             "机构名称", "组织名称", "会员名称", "会员单位", "名称", "全称", "公司", "企业", "单位", "客户",
             "full_name", "fullname", "company_name", "companyname", "company", "customer",
             "customer_name", "organization", "organisation", "account", "account name", "企业名",
             "公司名"),
    "industry": ("行业", "所属行业", "行业类别", "行业分类", "所属领域", "行业类型", "industry", "sector"),
    "employees": ("员工人数", "人数", "员工数", "职工人数", "员工规模", "人员规模", "公司规模", "employees",
                  "headcount", "staff"),
    "annual_revenue": ("年营收", "营业收入", "年收入", "年营业额", "营收", "年营收(万元)", "revenue",
                       "annual revenue"),
    "province": ("省", "省份", "所在省份", "所属省份", "所在省", "省/直辖市", "省市自治区", "province",
                 "state"),
    "city": ("市", "城市", "所在城市", "所属城市", "地市", "所在市", "city"),
    "district": ("区县", "区", "县", "区/县", "所在区县", "district", "county"),
    "contact_name": ("联系人", "联系人姓名", "姓名", "对接人", "客户联系人", "联系人名称", "contact",
                     "contact person", "contact name"),
    "contact_title": ("职位", "职务", "岗位", "头衔", "联系人职位", "联系人职务", "title", "position",
                      "job title"),
    "phone": ("联系方式", "电话", "手机", "手机号", "手机号码", "联系电话", "电话号码", "座机", "固定电话",
              "办公电话", "联系人电话", "联系人手机", "移动电话", "公司电话", "tel", "telephone", "mobile",
              "phone", "phone number", "phone no", "tel no", "mobile no", "cell", "mobile phone"),
    "email": ("邮箱", "电子邮箱", "电子邮件", "邮件地址", "联系人邮箱", "email", "e-mail", "mail",
              "email address"),
    "customer_type": ("客户类型", "客户类别", "客户分类", "type", "customer type"),
    "source": ("客户来源", "来源", "渠道", "获客渠道", "线索来源", "来源渠道", "source", "channel",
               "lead source"),
    "first_contact": ("首次接触时间", "首次接触", "首次联系时间", "首次联系日期", "首次接触日期",
                      "first contact"),
    "owner": ("负责人", "销售", "销售负责人", "业务员", "客户经理", "所属销售", "销售代表", "归属人",
              "owner", "sales rep", "account manager", "salesperson"),
    "stage": ("商机阶段", "阶段", "销售阶段", "客户阶段", "stage"),
    "lost_reason": ("流失原因", "lost reason"),
    "expected_amount": ("预计金额", "预计成交金额", "商机金额", "预计金额(万元)", "expected amount",
                        "deal amount"),
    "notes": ("备注", "说明", "备注说明", "附注", "notes", "note", "remark", "remarks", "comment",
              "comments", "memo"),
    ADDRESS: ("地址", "详细地址", "公司地址", "注册地址", "办公地址", "通讯地址", "联系地址", "经营地址",
              "所在地", "所在地区", "地区", "省市", "省市区", "address", "location"),
    FU + "start": ("沟通开始", "沟通时间", "开始时间", "跟进时间", "拜访时间", "跟进日期", "联系时间",
                   "沟通日期", "followup time", "contact time"),
    FU + "end": ("沟通结束", "结束时间"),
    FU + "method": ("沟通方式", "跟进方式", "拜访方式", "method"),
    FU + "content": ("沟通内容", "跟进内容", "跟进记录", "沟通记录", "拜访记录", "洽谈内容", "跟进情况",
                     "content"),
    FU + "next_action": ("后续计划", "下一步计划", "下一步", "next action"),
    FU + "next_date": ("下次跟进日期", "下次跟进时间", "下次联系时间", "下次联系日期", "next date"),
    FU + "owner": ("跟进人", "跟进销售", "沟通人"),
    FU + "stage_after": ("阶段更新", "stage after"),
}

# Follow-up fields the importer takes from a source row (engine columns excluded).
FOLLOWUP_KEYS = ("start", "end", "method", "content", "next_action", "next_date", "owner",
                 "stage_after")
CUSTOMER_KEYS = tuple(f.key for f in CUSTOMERS.fields if not f.engine) + ("customer_id",)
# Head nouns a longer Chinese header may end with ("联系人电话", "公司注册地址").
SUFFIXES = ("电话", "手机", "手机号", "手机号码", "联系电话", "电话号码", "邮箱", "电子邮箱", "地址",
            "联系人", "省份", "城市", "行业", "备注", "职位", "职务", "区县", "公司名称", "企业名称",
            "单位名称", "公司全称", "企业全称", "客户名称", "跟进内容", "沟通内容", "沟通时间", "来源")
IGNORE_WORDS = {"", "-", "ignore", "skip", "忽略", "不导入", "none", "null"}


@dataclass
class ColumnMap:
    """How one source column is used."""

    index: int
    header: str
    target: str | None  # field key, "fu.<key>", "address", or None (not imported)
    how: str  # exact | synonym | suffix | fuzzy | file | ignored | unknown | duplicate
    score: int = 100
    other: str | None = None  # for duplicates: the column used instead

    def to_dict(self, lang: str = "zh") -> dict[str, Any]:
        return {"column": self.index, "header": self.header, "target": self.target,
                "field": target_label(self.target, lang) if self.target else None,
                "how": self.how, "score": self.score}


@dataclass
class Mapping_:
    """The mapping of one source sheet: header row and each column's use."""

    header_row: int  # 0-based index into the sheet's rows
    columns: list[ColumnMap]
    defaults: dict[str, Any] = field(default_factory=dict)

    def used(self) -> list[ColumnMap]:
        return [c for c in self.columns if c.target is not None]

    def targets(self) -> set[str]:
        return {c.target for c in self.columns if c.target is not None}

    def unknown(self) -> list[ColumnMap]:
        return [c for c in self.columns if c.how in ("unknown", "duplicate")]


def target_label(target: str | None, lang: str = "zh") -> str:
    """A target shown to people: 客户名称, 跟进记录·沟通开始, 地址→省/市/区县."""
    if target is None:
        return ""
    if target == ADDRESS:
        return "地址→省/市/区县" if lang == "zh" else "Address → Province/City/District"
    if target.startswith(FU):
        f = FOLLOWUPS.field(target[len(FU):])
        return f"跟进记录·{f.zh}" if lang == "zh" else f"Follow-up {f.en}"
    return CUSTOMERS.field(target).header(lang)


def _fold(text: Any) -> str:
    return norm_header(text)


def _ascii_fold(text: str) -> str:
    return re.sub(r"[\s_\-./]+", "", text.lower())


_BRACKETS = re.compile(r"[(（\[【<《].*?[)）\]】>》]")


@cache
def _lookup() -> tuple[dict[str, str], dict[str, str]]:
    """(folded spelling -> target, ascii-folded spelling -> target); first spelling wins."""
    exact: dict[str, str] = {}
    for f in CUSTOMERS.fields:
        if f.engine and f.key != "customer_id":
            continue
        for s in (f.zh, f.en, f.key, *f.aliases, *SYNONYMS.get(f.key, ())):
            exact.setdefault(_fold(s), f.key)
    for key in FOLLOWUP_KEYS:
        f = FOLLOWUPS.field(key)
        for s in (f.zh, f.en, *f.aliases, *SYNONYMS.get(FU + key, ())):
            exact.setdefault(_fold(s), FU + key)
    for s in SYNONYMS[ADDRESS]:
        exact.setdefault(_fold(s), ADDRESS)
    ascii_ = {_ascii_fold(k): v for k, v in exact.items() if k.isascii()}
    return exact, ascii_


def resolve_target(text: Any) -> str | None:
    """A mapping-file target (key, Chinese/English header, 'address', 'ignore') -> target."""
    s = str(text or "").strip()
    if _fold(s) in IGNORE_WORDS:
        return None
    low = s.lower()
    if low in CUSTOMER_KEYS or low == ADDRESS:
        return low
    if low.startswith(("fu.", "followup.", "followups.", "跟进记录.", "跟进.")):
        rest = s.split(".", 1)[1].strip()
        for key in FOLLOWUP_KEYS:
            f = FOLLOWUPS.field(key)
            if _fold(rest) in (_fold(key), _fold(f.zh), _fold(f.en)):
                return FU + key
    exact, _ = _lookup()
    hit = exact.get(_fold(s))
    if hit is not None:
        return hit
    raise CrmError(f"映射文件中的目标 '{s}' 不是已知字段 / mapping target '{s}' is not a known field "
                   f"(use a key like name, phone, fu.start, address, or a header like 客户名称)")


def match_header(text: Any) -> tuple[str | None, str, int]:
    """(target, how, score) for one header cell; (None, 'unknown', 0) when nothing fits."""
    exact, ascii_ = _lookup()
    h = _fold(text)
    if not h:
        return None, "unknown", 0
    if h in exact:
        return exact[h], "exact", 100
    bare = _fold(_BRACKETS.sub("", str(text)))
    if bare and bare in exact:
        return exact[bare], "exact", 100
    if h.isascii():
        a = _ascii_fold(h)
        if a in ascii_:
            return ascii_[a], "exact", 100
        hit = process.extractOne(a, list(ascii_), scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF_EN)
        if hit is not None:
            return ascii_[hit[0]], "fuzzy", int(hit[1])
        return None, "unknown", 0
    # Chinese compounds put the head noun last: 联系人电话 is a phone, 注册地址 an address.
    best = None
    for n in range(min(len(bare or h), 8), 1, -1):
        tail = (bare or h)[-n:]
        if tail in exact and tail in _suffixes():
            best = exact[tail]
            break
    if best is not None:
        return best, "suffix", 90
    zh_keys = [k for k in exact if not k.isascii() and len(k) >= 2]
    hit = process.extractOne(bare or h, zh_keys, scorer=fuzz.ratio, score_cutoff=FUZZY_CUTOFF_ZH)
    if hit is not None:
        return exact[hit[0]], "fuzzy", int(hit[1])
    return None, "unknown", 0


@cache
def _suffixes() -> frozenset[str]:
    return frozenset(_fold(x) for x in SUFFIXES)


_RANK = {"file": 4, "exact": 3, "suffix": 2, "fuzzy": 1}


def map_headers(cells: Iterable[Any], overrides: Mapping[str, str | None] | None = None
                ) -> list[ColumnMap]:
    """Map one header row. `overrides`: folded source header -> target (None = ignore)."""
    overrides = overrides or {}
    cols: list[ColumnMap] = []
    for i, cell in enumerate(cells):
        if is_blank(cell):
            continue
        header = " ".join(str(cell).split()) if isinstance(cell, str) else str(cell)
        key = _fold(cell)
        if key in overrides:
            target = overrides[key]
            cols.append(ColumnMap(i, header, target, "file" if target else "ignored"))
            continue
        target, how, score = match_header(cell)
        cols.append(ColumnMap(i, header, target, how, score))
    # one column per target (except phone and notes, which are joined)
    best: dict[str, ColumnMap] = {}
    for c in cols:
        if c.target is None or c.target in MULTI:
            continue
        cur = best.get(c.target)
        if cur is None or (_RANK[c.how], c.score) > (_RANK[cur.how], cur.score):
            best[c.target] = c
    for c in cols:
        if c.target is not None and c.target not in MULTI and best[c.target] is not c:
            c.other = best[c.target].header
            c.how = "duplicate"
            c.target = None
    return cols


def score_row(cells: list[Any], overrides: Mapping[str, str | None] | None = None) -> int:
    """How header-like a row is: distinct mapped targets, exact matches weighing double."""
    cols = map_headers(cells, overrides)
    seen: dict[str, int] = {}
    for c in cols:
        if c.target is not None:
            seen[c.target] = max(seen.get(c.target, 0), 2 if c.how in ("file", "exact") else 1)
    return sum(seen.values())


def find_mapping(rows: list[list[Any]], overrides: Mapping[str, str | None] | None = None,
                 header_row: int | None = None) -> Mapping_ | None:
    """The best header row among the first rows and its mapping; None when none maps."""
    if header_row is not None:
        if header_row < 0 or header_row >= len(rows):
            return None
        return Mapping_(header_row, map_headers(rows[header_row], overrides))
    best: tuple[int, int] = (-1, 0)
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        non_blank = sum(1 for c in row if not is_blank(c))
        if non_blank < 1:
            continue
        s = score_row(row, overrides)
        if s > best[1]:
            best = (i, s)
    if best[0] < 0:
        return None
    return Mapping_(best[0], map_headers(rows[best[0]], overrides))


# ---- mapping files ---------------------------------------------------------------------


def _mini_yaml(text: str) -> dict[str, Any]:
    """The YAML subset a mapping file needs: nested `key: value` maps, comments, quotes."""
    root: dict[str, Any] = {}
    stack: list[tuple[int, dict[str, Any]]] = [(-1, root)]
    for lineno, line in enumerate(text.splitlines(), 1):
        stripped = re.sub(r"\s+#.*$", "", line).rstrip()
        if not stripped.strip() or stripped.lstrip().startswith("#") or stripped.strip() == "---":
            continue
        indent = len(stripped) - len(stripped.lstrip())
        body = stripped.strip()
        m = re.match(r'^("[^"]*"|\'[^\']*\'|[^:]+?)\s*[:：]\s*(.*)$', body)
        if not m:
            raise CrmError(f"映射文件第 {lineno} 行无法解析 / mapping file line {lineno}: "
                           f"expected 'key: value'")
        key, value = m.group(1).strip().strip("\"'"), m.group(2).strip()
        while stack and indent <= stack[-1][0]:
            stack.pop()
        parent = stack[-1][1]
        if value == "":
            child: dict[str, Any] = {}
            parent[key] = child
            stack.append((indent, child))
        else:
            v = value.strip("\"'") if value[0] in "\"'" else value
            parent[key] = None if v in ("~", "null") else v
    return root


def load_mapping_file(path: str | Path) -> tuple[dict[str, str | None], dict[str, Any],
                                                 int | None]:
    """A mapping file (TOML or YAML) -> (overrides, defaults, header_row).

    Shape: a `columns` table of `source header = target` (target: a field key such as
    `phone`, a header such as 联系方式, `fu.start`, `address`, or `ignore`), an optional
    `defaults` table (`owner = "张三"`: used where a row leaves it blank), an optional
    `header_row` (1-based). A flat file of `header = target` pairs is also accepted.
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise CrmError(f"无法读取映射文件 / cannot read mapping file {p}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CrmError(f"映射文件必须是 UTF-8 / mapping file {p.name} must be UTF-8") from None
    if p.suffix.lower() in (".yaml", ".yml"):
        try:
            import yaml  # type: ignore[import-untyped]

            data = yaml.safe_load(text) or {}
        except ImportError:
            data = _mini_yaml(text)
        except Exception as exc:  # noqa: BLE001 - yaml errors
            raise CrmError(f"映射文件格式错误 / mapping file {p.name}: {str(exc).splitlines()[0]}"
                           ) from None
    else:
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise CrmError(f"映射文件格式错误 / mapping file {p.name}: {exc}") from None
    if not isinstance(data, dict):
        raise CrmError(f"映射文件应为键值表 / mapping file {p.name} must be a table of header = field")
    columns = data.get("columns")
    if columns is None:
        columns = {k: v for k, v in data.items() if k not in ("defaults", "header_row", "sheet")}
    if not isinstance(columns, dict):
        raise CrmError(f"映射文件的 columns 应为键值表 / 'columns' in {p.name} must be a table")
    overrides = {_fold(k): resolve_target(v) for k, v in columns.items()}
    defaults_raw = data.get("defaults") or {}
    if not isinstance(defaults_raw, dict):
        raise CrmError(f"映射文件的 defaults 应为键值表 / 'defaults' in {p.name} must be a table")
    defaults: dict[str, Any] = {}
    for k, v in defaults_raw.items():
        t = resolve_target(k)
        if t is not None:
            defaults[t] = v
    hr = data.get("header_row")
    header_row = None
    if hr is not None:
        try:
            header_row = int(hr) - 1
        except (TypeError, ValueError):
            raise CrmError(f"header_row 应为行号 / header_row in {p.name} must be a row number"
                           ) from None
    return overrides, defaults, header_row
