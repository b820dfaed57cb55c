"""The one permission table (DESIGN §7) and the checks every restricted command calls.

Views, queries, exports and merges all read this module; nothing else decides who
may do what. Two layers:

- `PERMISSIONS` (action -> roles) answers "may this role run this command at all";
  `authorize()` applies it to the logged-in account and refuses with one line.
- The data functions (`visible_customer`, `visible_fields`, `masked_fields`,
  `editable_fields`, ...) apply the row and column scoping of §7 ("own customers",
  "contacts masked") to records.

A workbook outside any CRM home has no accounts: `authorize(..., home=None)` returns
`LOCAL` (whoever holds the file may edit it in Excel anyway; documented in the README).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import prohibited
from .errors import Refused
from .home import CrmHome, home_for_workbook
from .schema import CUSTOMERS, FOLLOWUPS, SheetSchema

ROLES = ("admin", "manager", "sales", "service", "marketing")
_ALL = frozenset(ROLES)

# action -> roles allowed. "own" scoping (sales sees/edits own customers) is applied
# by the data functions below, not here.
PERMISSIONS: dict[str, frozenset[str]] = {
    "apply": frozenset({"admin", "manager"}),
    "import": frozenset({"admin", "manager"}),
    "merge_customers": frozenset({"admin", "manager"}),
    "export": frozenset({"admin", "manager"}),
    "dashboard": _ALL,  # scoped by dashboard_scope(): sales own, service service figures
    "views_build": frozenset({"admin"}),
    "views_mine": _ALL,
    "views_merge": frozenset({"admin"}),
    "backup": frozenset({"admin"}),
    "user_admin": frozenset({"admin"}),
    "settings": frozenset({"admin"}),
    "watch": frozenset({"admin"}),
    "audit": frozenset({"admin", "manager"}),  # crm audit: read the audit log
    # data capabilities (rows further scoped by the functions below)
    "customers_see": _ALL,
    "customers_edit": frozenset({"admin", "manager", "sales"}),
    "customers_reassign": frozenset({"admin", "manager"}),
    "followups_see": frozenset({"admin", "manager", "sales", "service"}),
    "followups_add": frozenset({"admin", "manager", "sales", "service"}),
}

# Which role is named in a refusal ("export needs the manager role").
NEEDED_ROLE = {action: ("manager" if "manager" in roles else "admin")
               for action, roles in PERMISSIONS.items()}

ROLE_LABELS: dict[str, tuple[str, str]] = {
    "admin": ("管理员", "admin"), "manager": ("管理层", "manager"), "sales": ("销售", "sales"),
    "service": ("客服", "service"), "marketing": ("市场", "marketing"),
}
ACTION_LABELS: dict[str, tuple[str, str]] = {
    "apply": ("应用规则", "apply"),
    "import": ("导入", "import"),
    "merge_customers": ("合并客户", "merging customers"),
    "export": ("导出", "export"),
    "dashboard": ("仪表盘", "the dashboard"),
    "views_build": ("生成视图", "building views"),
    "views_mine": ("个人视图", "your view"),
    "views_merge": ("合并视图", "merging views"),
    "backup": ("备份", "backups"),
    "user_admin": ("账户管理", "managing accounts"),
    "settings": ("修改设置", "changing settings"),
    "watch": ("监视主目录", "watching the home"),
    "audit": ("查看审计日志", "reading the audit log"),
    "customers_see": ("查看客户", "seeing customers"),
    "customers_edit": ("编辑客户", "editing customers"),
    "customers_reassign": ("更换负责人", "changing the owner"),
    "followups_see": ("查看跟进记录", "seeing follow-ups"),
    "followups_add": ("添加跟进记录", "adding follow-ups"),
}


@dataclass(frozen=True)
class Actor:
    """Who is acting: an account (name, display name, role), or the local engine."""

    name: str
    role: str
    display_name: str = ""

    @property
    def owner_name(self) -> str:
        """The name the workbook's owner columns use for this account."""
        return self.display_name or self.name


LOCAL = Actor(name="local", role="admin", display_name="local")


def allowed(role: str, action: str) -> bool:
    return role in PERMISSIONS.get(action, frozenset())


def refusal_message(action: str, lang: str = "zh") -> str:
    """'导出需要管理层权限' / 'export needs the manager role'."""
    what_zh, what_en = ACTION_LABELS.get(action, (action, action))
    role_zh, role_en = ROLE_LABELS[NEEDED_ROLE[action]]
    return f"{what_zh}需要{role_zh}权限" if lang == "zh" else f"{what_en} needs the {role_en} role"


def current_actor(home: CrmHome | None) -> Actor | None:
    """The account logged in to `home` by this OS user (valid session), else None."""
    if home is None:
        return None
    from .accounts.sessions import current_session  # accounts imports this module

    session = current_session(home)
    if session is None:
        return None
    return Actor(name=session.name, role=session.role, display_name=session.display_name)


def actor_for_workbook(path: str | Path) -> Actor | None:
    """For read-only commands (query): the session actor of the workbook's home, if any."""
    home = home_for_workbook(Path(path))
    return current_actor(home) if home is not None else None


def _refuse(home: CrmHome, who: str, role: str, action: str, message: str) -> Refused:
    from . import audit

    audit.record(home.state, who, "refused", attempted=action, role=role)
    return Refused(message)


def authorize(action: str, *, home: CrmHome | None, lang: str | None = None) -> Actor:
    """Return the acting account if it may do `action`, else raise Refused (audited).

    A workbook outside any CRM home has no accounts to check: whoever holds the file
    may edit it in Excel anyway, so the local engine acts (documented in the README).
    Inside a home, the logged-in session's account must be allowed by the table.
    `lang` defaults to the home's language.
    """
    if action not in PERMISSIONS:
        raise ValueError(f"unknown action {action!r}; add it to PERMISSIONS")
    if home is None:
        return LOCAL
    lang = lang or home.lang
    actor = current_actor(home)
    if actor is None:
        msg = "请先登录：crm login" if lang == "zh" else "log in first: crm login"
        raise _refuse(home, "(no session)", "", action, msg)
    if not allowed(actor.role, action):
        raise _refuse(home, actor.name, actor.role, action, refusal_message(action, lang))
    return actor


# --- row and column scoping (DESIGN §7) -------------------------------------------------

def _values(record: Any) -> Mapping[str, Any]:
    """A Record's values, or the mapping itself."""
    if isinstance(record, dict):
        return record
    values = getattr(record, "values", None)
    return values if isinstance(values, dict) else record


def _same_owner(value: Any, actor: Actor) -> bool:
    return isinstance(value, str) and value.strip().casefold() == actor.owner_name.casefold()


def visible_customer(actor: Actor, record: Any) -> bool:
    """May `actor` see this customer row? Sales: only their own; everyone else: all."""
    if actor.role == "sales":
        return _same_owner(_values(record).get("owner"), actor)
    return actor.role in ROLES


def visible_followup(actor: Actor, record: Any, customer_owner: str | None) -> bool:
    """May `actor` see this follow-up? `customer_owner` is its customer's owner.

    Marketing sees none; sales those of their own customers (or written by them).
    """
    if not allowed(actor.role, "followups_see"):
        return False
    if actor.role == "sales":
        return _same_owner(customer_owner, actor) or _same_owner(_values(record).get("owner"),
                                                                  actor)
    return True


def masked_fields(actor: Actor) -> frozenset[str]:
    """Field keys whose values are shown masked: contact details for marketing."""
    if actor.role == "marketing":
        return frozenset(f.key for s in (CUSTOMERS, FOLLOWUPS) for f in s.fields if f.contact)
    return frozenset()


# Customer columns that carry follow-up contents (hidden from marketing).
_FOLLOWUP_CONTENT = frozenset({"followup_summary", "next_followup"})


def visible_fields(actor: Actor, sheet_schema: SheetSchema) -> list[str]:
    """Column keys of `sheet_schema` that `actor` sees (masked ones included)."""
    if sheet_schema.name == FOLLOWUPS.name and not allowed(actor.role, "followups_see"):
        return []
    keys = sheet_schema.keys
    if actor.role == "marketing":
        keys = [k for k in keys if k not in _FOLLOWUP_CONTENT]
    return keys if actor.role in ROLES else []


def editable_fields(actor: Actor, sheet_schema: SheetSchema) -> list[str]:
    """Column keys `actor` may change (on rows it may edit; see can_edit_customer).

    Engine columns are never editable. Customers: admin/manager all, sales all but
    owner (own customers only), service and marketing none. Followups: every role that
    may add follow-ups may fill a new row's columns.
    """
    user_keys = [f.key for f in sheet_schema.fields if not f.engine]
    if sheet_schema.name == CUSTOMERS.name:
        if actor.role in ("admin", "manager"):
            return user_keys
        if actor.role == "sales":
            return [k for k in user_keys if k != "owner"]
        return []
    if sheet_schema.name == FOLLOWUPS.name:
        return user_keys if allowed(actor.role, "followups_add") else []
    return user_keys if actor.role in ("admin", "manager") else []


def can_edit_customer(actor: Actor, record: Any) -> bool:
    """May `actor` change this customer row at all (sales: own customers only)?"""
    if not allowed(actor.role, "customers_edit"):
        return False
    return actor.role != "sales" or _same_owner(_values(record).get("owner"), actor)


def can_add_followup(actor: Actor, customer_owner: str | None) -> bool:
    """May `actor` add a follow-up to a customer owned by `customer_owner`?"""
    if not allowed(actor.role, "followups_add"):
        return False
    return actor.role != "sales" or _same_owner(customer_owner, actor)


def dashboard_scope(actor: Actor) -> str:
    """What a dashboard shows: 'all', 'own' (sales) or 'service' (service figures)."""
    return {"sales": "own", "service": "service"}.get(actor.role, "all")


def mask_value(value: Any) -> Any:
    """Mask a contact detail: 13800138000 -> 138****8000, 张三 -> 张*, a@b.com -> a***@b.com."""
    if value is None or value == "":
        return value
    text = str(value).strip()
    if "@" in text:
        local, _, domain = text.partition("@")
        return f"{local[:1]}***@{domain}"
    if len(text) >= 7:
        return f"{text[:3]}{'*' * (len(text) - 7)}{text[-4:]}" if len(text) > 7 else \
            f"{text[:3]}****"
    return text[:1] + "*" * max(1, len(text) - 1)


# Contact details written into free text (备注, a follow-up's content): mobile numbers
# (+86, spaces or hyphens allowed), landlines with an area code, 400/800 numbers, e-mail.
_MOBILE_IN_TEXT = re.compile(r"(?<![0-9])(?:\+?86[ \-]?)?1[3-9][0-9](?:[ \-]?[0-9]){8}(?![0-9])")
_LANDLINE_IN_TEXT = re.compile(
    r"(?<![0-9])(?:[(（]0[0-9]{2,3}[)）][ \-]?|0[0-9]{2,3}[ \-]?)[2-9][0-9]{2,3}[ \-]?[0-9]{4}"
    r"(?![0-9])|(?<![0-9])[48]00[ \-]?[0-9]{3}[ \-]?[0-9]{4}(?![0-9])")
_EMAIL_IN_TEXT = re.compile(r"[A-Za-z0-9._%+\-]+[@＠][A-Za-z0-9\-]+(?:[.．][A-Za-z0-9\-]+)+")


_ANY_DIGIT = re.compile(r"\d").search
_WIDE = re.compile("[\uff10-\uff19\uff0d\u2010-\u2015\u2212\u3000\u00a0]").search


def _mask_number(text: str) -> str:
    digits = "".join(c for c in text if c.isdigit())
    if len(digits) == 13 and digits.startswith("86"):
        return "+86 " + _mask_number(digits[2:])
    return f"{digits[:3]}{'*' * max(4, len(digits) - 7)}{digits[-4:]}"


def mask_contacts_in_text(text: Any) -> Any:
    """`text` with every phone number and e-mail address in it masked (13800138000 ->
    138****8000, wang@x.cn -> w***@x.cn): what a role with masked contacts sees of free
    text such as 备注 or a follow-up's content. Non-text values come back unchanged."""
    if not isinstance(text, str) or len(text) < 5:
        return text
    out = text
    if "@" in out or "＠" in out:
        out = _EMAIL_IN_TEXT.sub(lambda m: mask_value(m.group().replace("＠", "@")), out)
    if not _ANY_DIGIT(out):
        return out
    # full-width digits and dashes become ASCII (same length, so spans still fit `out`)
    norm = prohibited.normalise(out) if _WIDE(out) else out
    spans = [m.span() for rx in (_MOBILE_IN_TEXT, _LANDLINE_IN_TEXT) for m in rx.finditer(norm)]
    if not spans:
        return out
    parts, last = [], 0
    for a, b in sorted(spans):
        if a < last:
            continue
        parts.append(out[last:a])
        parts.append(_mask_number(norm[a:b]))
        last = b
    parts.append(out[last:])
    return "".join(parts)


def masks_contacts(actor: Actor) -> bool:
    """Whether `actor` sees contact details masked, in their columns and in free text."""
    return bool(masked_fields(actor))


def projector(actor: Actor, sheet_schema: SheetSchema) -> Callable[[Any], dict[str, Any]]:
    """A function giving each row as `actor` may see it (columns chosen once, for speed).

    For a role with masked contacts, phone numbers and e-mail addresses are masked in every
    text column too (a mobile typed into 备注), not only in the contact columns.
    """
    keys = visible_fields(actor, sheet_schema)
    masked = masked_fields(actor) & set(keys)
    in_text = masks_contacts(actor)

    def project(record: Any) -> dict[str, Any]:
        values = _values(record)
        out = {k: values.get(k) for k in keys}
        for k in masked:
            out[k] = mask_value(out[k])
        if in_text:
            for k, v in out.items():
                if type(v) is str and k not in masked:
                    out[k] = mask_contacts_in_text(v)
        return out

    return project


def project_record(actor: Actor, record: Any, sheet_schema: SheetSchema) -> dict[str, Any]:
    """The row as `actor` may see it: visible columns only, contact details masked.

    For many rows, build the function once with `projector(actor, schema)`.
    """
    return projector(actor, sheet_schema)(record)


def followup_row_editable(actor: Actor, rec: Any, customer_owner: str | None) -> bool:
    """May `actor` change an existing follow-up? Admin/manager: any. Sales: the ones they
    wrote on their own customers. Service: the ones they wrote. Others: none."""
    if actor.role in ("admin", "manager"):
        return True
    if not can_add_followup(actor, customer_owner):
        return False
    return actor.role in ("sales", "service") and _same_owner(rec.values.get("owner"), actor)


def customer_edit_refusal(actor: Actor, key: str, record: Any) -> str | None:
    """Why `actor` may not change customer field `key` of `record`: "engine", "owner",
    "not_owner" or "locked"; None when allowed. Merges and the shared-mode guard both ask."""
    from .schema import CUSTOMERS

    if CUSTOMERS.field(key).engine:
        return "engine"
    if key == "owner" and not allowed(actor.role, "customers_reassign"):
        return "owner"
    if allowed(actor.role, "customers_edit") and not can_edit_customer(actor, record):
        return "not_owner"
    if key not in editable_fields(actor, CUSTOMERS):
        return "locked"
    return None


def followup_edit_refusal(actor: Actor, key: str, record: Any, customer_owner: str | None) -> str | None:
    """Why `actor` may not change field `key` of an existing follow-up: "engine", "locked",
    "not_owner" or "owner"; None when allowed."""
    from .schema import FOLLOWUPS

    if FOLLOWUPS.field(key).engine:
        return "engine"
    if key not in editable_fields(actor, FOLLOWUPS):
        return "locked"
    if not followup_row_editable(actor, record, customer_owner):
        return "not_owner"
    if key == "owner" and actor.role in ("sales", "service"):
        return "owner"
    return None
