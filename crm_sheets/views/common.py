"""What building and merging views share: who a view is for, cell fingerprints, the key.

A view is for an *audience*: one account (a sales rep's copy, or anyone's `crm views
mine`) or a department (service, marketing, management) whose copy any account of
that role may hand back. Each cell of a view is fingerprinted from its value *as the
view shows it* (projected, masked, redacted), so a merge can tell which side changed a
cell since the view was built without the manifest holding the values themselves.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import prohibited, safe_text
from ..home import CrmHome, check_private
from ..messages import register
from ..model import Record
from ..permissions import Actor, mask_contacts_in_text, mask_value, masked_fields
from ..schema import SheetSchema

KEY_FILE = "views-hmac.key"
MANIFEST_SHEET = "_view"
CHART_SHEET = {"zh": "图表", "en": "Charts"}
DEPARTMENTS = {"service": "service", "marketing": "marketing", "management": "manager"}
DEPARTMENT_NAMES = {"service": ("客服", "Service"), "marketing": ("市场", "Marketing"),
                    "management": ("管理层", "Management")}


@dataclass(frozen=True)
class Audience:
    """Who a view is for: an account (`account` set) or a department (`account` None)."""

    role: str
    account: str | None = None
    display_name: str = ""
    department: str | None = None  # service / marketing / management

    @property
    def actor(self) -> Actor:
        """The rights every merge of this view is checked with."""
        return Actor(name=self.account or f"@{self.department}", role=self.role,
                     display_name=self.display_name)

    @property
    def file_stem(self) -> str:
        if self.account is None:
            return str(self.department)
        return f"{self.role}-{self.account}"


# --- cell fingerprints --------------------------------------------------------------

def canon(value: Any) -> str:
    """A value in one canonical text form, equal for a value and its round trip via xlsx."""
    if type(value) is str:
        return "s:" + value.strip() if value else ""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "b:1" if value else "b:0"
    if isinstance(value, dt.datetime):
        value = value.replace(tzinfo=None)
        secs = round(value.second + value.microsecond / 1e6)
        value = value.replace(second=0, microsecond=0) + dt.timedelta(seconds=secs)
        if value.time() == dt.time():
            return "d:" + value.date().isoformat()
        return "t:" + value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return "d:" + value.isoformat()
    if isinstance(value, (int, float)):
        f = float(value)
        if f.is_integer() and abs(f) < 1e15:
            return f"n:{int(f)}"
        return f"n:{f:.10g}"
    return "s:" + str(value).strip()


_EMPTY_FP = hashlib.blake2b(b"", digest_size=4).hexdigest()


def fingerprint(value: Any) -> str:
    """8 hex characters (32 bits) identifying a canonical value."""
    if value is None or value == "":
        return _EMPTY_FP
    return hashlib.blake2b(canon(value).encode("utf-8"), digest_size=4).hexdigest()


FP_LEN = 8


def shown_value(rec: Record, key: str) -> Any:
    """The cell as read: the coerced value, or what the user typed when it did not coerce."""
    if key in rec.problems:
        return rec.raw.get(key)
    return rec.values.get(key)


def view_projector(actor: Actor, keys: list[str]) -> Callable[[Record], list[Any]]:
    """Row values as a view shows them: chosen columns, contacts masked (also phone numbers
    and e-mail addresses inside free text, for a role with masked contacts), prohibited
    data redacted."""
    masked = masked_fields(actor)
    flags = [k in masked for k in keys]
    redact = safe_text.redact
    in_text = bool(masked)

    def project(rec: Record) -> list[Any]:
        out = []
        for k, m in zip(keys, flags, strict=True):
            v = shown_value(rec, k)
            if m:
                v = mask_value(v)
            if type(v) is str:
                if in_text and not m:
                    v = mask_contacts_in_text(v)
                if prohibited.maybe(v) or v.endswith("…"):
                    v = redact(v)
            elif v is not None and not isinstance(v, (int, float, dt.date)):
                v = redact(v)
            elif isinstance(v, (int, float)) and not isinstance(v, bool) and abs(v) >= 1e12:
                v = redact(v)
            out.append(v)
        return out

    return project


def sheet_keys(schema: SheetSchema, visible: list[str], present: dict[str, int]) -> list[str]:
    """Visible columns the master actually has, in schema order."""
    vis = set(visible)
    return [k for k in schema.keys if k in vis and k in present]


# --- the signing key -------------------------------------------------------------------

def signing_key(home: CrmHome) -> bytes:
    """The home's HMAC key for view manifests (private state folder, created once, 0600)."""
    path = Path(home.state) / KEY_FILE
    try:
        data = path.read_bytes()
        if len(data) >= 32:
            check_private(path, what_zh="视图签名密钥", what_en="view-signing key")  # never trust a planted key
            return data
    except FileNotFoundError:
        pass
    key = secrets.token_bytes(32)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # another process made it just now
        return path.read_bytes()
    try:
        os.write(fd, key)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return key


# --- finding codes ------------------------------------------------------------------------

_CODES = {
    "merge.landed": ("info", "{header}：{old} → {new}", "{header}: {old} → {new}"),
    "merge.added_customer": ("info", "新客户 '{name}' 已加入，编号 {new_id}，负责人 {owner}",
                             "new customer '{name}' added as {new_id}, owner {owner}"),
    "merge.added_followup": ("info", "新跟进记录 {fid} 已加入（客户 {of}）",
                             "new follow-up {fid} added (customer {of})"),
    "merge.signature_invalid": ("error", "视图的签名无效（清单被修改或不是本主目录生成的视图），未合并任何内容",
                                "the view's signature is invalid (manifest altered, or not a view "
                                "of this home); nothing was merged"),
    "merge.not_a_view": ("error", "这不是 crm 生成的视图（没有清单），未合并任何内容",
                         "this is not a view built by crm (no manifest); nothing was merged"),
    "merge.wrong_home": ("error", "这个视图属于另一个 CRM 主目录，未合并任何内容",
                         "this view belongs to another CRM home; nothing was merged"),
    "merge.wrong_account": ("error", "视图属于 {owner}，不能由 {runner} 交回，未合并任何内容",
                            "the view belongs to {owner} and cannot be handed in by {runner}; "
                            "nothing was merged"),
    "merge.account_changed": ("error", "账户 {owner} 已停用、删除或角色已变（{role}），请重新生成视图",
                              "account {owner} is disabled, gone or no longer has the role {role}; "
                              "build a new view"),
    "merge.rejected_not_owner": ("error", "不是本人负责的客户，修改被拒绝（{header}）",
                                 "not one of this account's customers: change rejected ({header})"),
    "merge.rejected_locked_column": ("error", "{header} 对此角色只读，修改被拒绝：'{new}'",
                                     "{header} is read-only for this role: change to '{new}' rejected"),
    "merge.rejected_owner_field": ("error", "此角色不能更改{header}，修改被拒绝：'{new}'",
                                   "this role may not change the {header}: '{new}' rejected"),
    "merge.rejected_engine_column": ("error", "{header} 由系统维护，修改被拒绝：'{new}'",
                                     "{header} is filled by the engine: change to '{new}' rejected"),
    "merge.rejected_foreign_row": ("error", "第 {view_row} 行（编号 {value}）不是这个视图里的行（从别处粘贴？），已拒绝",
                                   "view row {view_row} (ID {value}) is not a row of this view "
                                   "(pasted in from elsewhere?): rejected"),
    "merge.rejected_new_row": ("error", "此角色不能在{sheet_label}中新增行（视图第 {view_row} 行），已拒绝",
                               "this role may not add rows to {sheet_label} (view row {view_row}): "
                               "rejected"),
    "merge.rejected_invalid": ("error", "视图第 {view_row} 行未通过校验，已拒绝：{reason}",
                               "view row {view_row} failed validation and was rejected: {reason}"),
    "merge.rejected_duplicate": ("error", "视图第 {view_row} 行的新客户 '{name}' 与已有客户 {other} 重复（{score} 分：{why}），已拒绝",
                                 "new customer '{name}' (view row {view_row}) duplicates {other} "
                                 "(score {score}: {why}): rejected"),
    "merge.rejected_unknown_customer": ("error", "视图第 {view_row} 行的跟进记录指向不存在或不可见的客户 '{value}'，已拒绝",
                                        "the follow-up in view row {view_row} names an unknown or "
                                        "invisible customer '{value}': rejected"),
    "merge.saver_unknown": ("error", "无法确认是谁交回了 {owner} 的副本：文件的保存者（{author}）不是本主目录的启用账户。"
                                     "已放到一边，未合并；请管理员向本人确认后运行 crm views merge 主表 副本 手动合并",
                            "cannot tell who handed in the copy of {owner}: its saver ({author}) is "
                            "not an enabled account of this home. Set aside, nothing merged; an "
                            "admin confirms with the person, then runs crm views merge MASTER COPY"),
    "merge.owner_needed": ("error", "视图第 {view_row} 行没有填写{header}（部门副本需写明是谁跟进的），已拒绝",
                           "view row {view_row} has no {header} (a department copy must say who "
                           "followed up): rejected"),
    "merge.rejected_new_customer_not_added": (
        "error", "视图第 {view_row} 行的跟进记录指向本副本中新增的客户 '{value}'，但该客户未能加入（原因见上），已拒绝",
        "the follow-up in view row {view_row} names '{value}', a customer added in this copy "
        "that was not added (see above): rejected"),
    "merge.rejected_ambiguous_customer": (
        "error", "客户编号 {value} 在主表中出现在多行，无法确定是哪一家客户，修改已拒绝；请管理员先修正重复的客户编号",
        "the customer ID {value} is on more than one row of the master, so it names no single "
        "customer: rejected; an admin must fix the duplicated ID first"),
    "view.ambiguous_id": (
        "warning", "客户编号 {value} 在主表中出现在多行，其中有本副本看不到的客户：该编号的跟进记录未放入副本，请管理员修正重复的编号",
        "the customer ID {value} is on more than one row of the master, some of them not "
        "visible to this copy: its follow-ups were left out; an admin must fix the duplicated ID"),
    "merge.already_merged": ("info", "视图第 {view_row} 行已在之前合并过，跳过",
                             "view row {view_row} was merged before: skipped"),
    "merge.conflict": ("warning", "{header} 在视图和主表中都被修改：主表保留 '{master}'，视图为 '{view}'",
                       "{header} changed both in the view and in the master: the master keeps "
                       "'{master}', the view has '{view}'"),
    "merge.conflict_row_gone": ("warning", "该行在生成视图后已从主表删除，视图中的修改未合并",
                                "this row left the master after the view was built; the view's "
                                "changes were not merged"),
    "merge.row_deleted": ("info", "视图中删除了这一行；主表中不会删除（如需删除请联系管理员）",
                          "this row was deleted in the view; the master keeps it (ask an admin "
                          "to delete it)"),
    "merge.column_missing": ("info", "视图中缺少列 {header}，该列未合并",
                             "the view lacks the column {header}; it was not merged"),
    "shared.edit_outside_rights": ("error", "{author} 修改了{header}（'{old}' → '{new}'），超出其权限：{why}",
                                   "{author} changed {header} ('{old}' → '{new}') beyond their "
                                   "rights: {why}"),
    "shared.row_added_outside_rights": ("error", "{author} 新增的行超出其权限：{why}",
                                        "{author} added a row beyond their rights: {why}"),
    "shared.row_deleted": ("warning", "{author} 删除了{sheet_label}中编号为 {value} 的行",
                           "{author} deleted the {sheet_label} row with ID {value}"),
    "shared.unknown_author": ("warning", "保存者 '{author}' 不是已知账户，{count} 处修改无法归属",
                              "the saver '{author}' is not a known account; {count} changes "
                              "cannot be attributed"),
}
for _code, (_sev, _zh, _en) in _CODES.items():
    register(_code, _sev, _zh, _en)

WHY = {
    "not_owner": ("不是本人负责的客户", "not their customer"),
    "locked": ("该列对其角色只读", "the column is read-only for their role"),
    "owner": ("不能更改负责人", "may not change the owner"),
    "engine": ("该列由系统维护", "the column is filled by the engine"),
    "no_add": ("其角色不能新增此类行", "their role may not add such rows"),
    "followup": ("不能为该客户添加或修改跟进记录", "may not add or change follow-ups of that customer"),
}


def why(key: str, lang: str) -> str:
    zh, en = WHY[key]
    return zh if lang == "zh" else en


def sheet_label(schema: SheetSchema, lang: str) -> str:
    return schema.title(lang)


def show(value: Any) -> str:
    """A value in a message: dates ISO, whole floats without .0."""
    return safe_text.display(value)
