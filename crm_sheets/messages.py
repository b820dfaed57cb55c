"""The catalogue of finding codes: severity and a message in each language.

Codes are stable (users and tests match on them); messages are for people. Every
module that reports findings registers its codes here, so the user guide can list
them all (a test checks that it does).
"""

from __future__ import annotations

from typing import Any, NamedTuple


class Msg(NamedTuple):
    severity: str
    zh: str
    en: str


CATALOGUE: dict[str, Msg] = {
    # reading
    "sheet.missing": Msg("error", "缺少工作表 '{sheet}'", "sheet '{sheet}' is missing"),
    "sheet.ambiguous": Msg("warning", "工作表「{tab}」也像是引擎的 {kind} 表；引擎使用「{used}」，"
                           "不读取也不写入「{tab}」。如不需要请改名",
                           "sheet '{tab}' also looks like the engine's {kind} sheet; the engine "
                           "uses '{used}' and neither reads nor writes '{tab}' (rename it to "
                           "silence this)"),
    "column.missing": Msg("error", "工作表 '{sheet}' 缺少必填列 '{header}'",
                          "sheet '{sheet}' lacks the required column '{header}'"),
    "column.duplicate": Msg("warning", "列 '{header}' 出现了两次，只使用第一列",
                            "column '{header}' appears twice; only the first is used"),
    "column.unknown": Msg("info", "未知列 '{header}' 被忽略（数据保留在文件中）",
                          "unknown column '{header}' is ignored (its data stays in the file)"),
    "settings.invalid": Msg("warning", "设置 '{name}' 的值 '{value}' 无效，使用默认值 {default}",
                            "setting '{name}' has an invalid value '{value}'; using the default {default}"),
    # values
    "required.missing": Msg("error", "{header} 不能为空", "{header} is required"),
    "date.invalid": Msg("error", "{header} '{value}' 不是有效的日期", "{header} '{value}' is not a valid date"),
    "date.future": Msg("error", "{header} '{value}' 晚于今天", "{header} '{value}' is in the future"),
    "number.invalid": Msg("error", "{header} '{value}' 不是有效的数字", "{header} '{value}' is not a valid number"),
    "number.negative": Msg("error", "{header} '{value}' 不能为负数", "{header} '{value}' must not be negative"),
    "integer.invalid": Msg("error", "{header} '{value}' 应为整数", "{header} '{value}' must be a whole number"),
    "phone.invalid": Msg("error", "{header} '{value}' 不是有效的电话号码", "{header} '{value}' is not a valid phone number"),
    "email.invalid": Msg("error", "{header} '{value}' 不是有效的邮箱地址", "{header} '{value}' is not a valid email address"),
    "choice.invalid": Msg("error", "{header} '{value}' 不在下拉列表中（可选：{allowed}）",
                          "{header} '{value}' is not in the list (allowed: {allowed})"),
    "choice.synonym": Msg("info", "{header} '{value}' 按列表写作「{canonical}」（crm apply 会自动改成「{canonical}」）",
                          "{header} '{value}' is written '{canonical}' in the list (crm apply changes it to '{canonical}')"),
    "owner.unknown": Msg("error", "{header} '{value}' 不是已知的负责人", "{header} '{value}' is not a known owner"),
    "region.province_unknown": Msg("error", "省 '{value}' 不是有效的省级行政区", "province '{value}' is not a real province"),
    "region.city_unknown": Msg("error", "市 '{value}' 不属于 {province}", "city '{value}' is not in {province}"),
    "region.district_unknown": Msg("error", "区县 '{value}' 不属于 {parent}", "district '{value}' is not in {parent}"),
    "region.incomplete": Msg("warning", "填写了{have}但缺少{missing}", "{have} given but {missing} missing"),
    "customer_id.invalid": Msg("error", "客户编号 '{value}' 格式应为 C+日期+序号（如 C20240315001）",
                               "customer ID '{value}' should look like C20240315001"),
    "customer_id.duplicate": Msg("error", "客户编号 '{value}' 重复（第 {other_row} 行已使用）",
                                 "customer ID '{value}' is used twice (also row {other_row})"),
    "followup_id.invalid": Msg("error", "跟进编号 '{value}' 格式应为 F+日期+序号（如 F202403150001）",
                               "follow-up ID '{value}' should look like F202403150001"),
    "followup_id.duplicate": Msg("error", "跟进编号 '{value}' 重复（第 {other_row} 行已使用）",
                                 "follow-up ID '{value}' is used twice (also row {other_row})"),
    "followup.customer_unknown": Msg("error", "客户编号 '{value}' 在客户表中不存在",
                                     "customer ID '{value}' does not exist in Customers"),
    "followup.end_before_start": Msg("error", "沟通结束 {end} 早于沟通开始 {start}",
                                     "end {end} is before start {start}"),
    "followup.next_before_start": Msg("error", "下次跟进日期 {next} 早于本次沟通 {start}",
                                      "next date {next} is before this contact {start}"),
    "followup.not_owner": Msg("warning", "跟进人 '{value}' 不是该客户的负责人 '{owner}'（同一客户由专人负责跟进）",
                              "'{value}' followed up a customer owned by '{owner}' (one owner per customer)"),
    "followup.late_entry": Msg("warning", "跟进记录在沟通结束 {hours} 小时后才录入（要求 {limit} 小时内）",
                               "follow-up entered {hours} h after the contact ended (limit {limit} h)"),
    "stage.type_mismatch": Msg("warning", "客户类型 '{value}' 与商机阶段 '{stage}' 不符（应为 '{expected}'）",
                               "customer type '{value}' does not match stage '{stage}' (expected '{expected}')"),
    "stage.lost_reason_missing": Msg("error", "商机阶段为流失时必须填写流失原因",
                                     "a lost customer needs a lost reason"),
    "stage.backwards": Msg("warning", "商机阶段从 '{old}' 倒退到 '{new}'", "stage moved backwards from '{old}' to '{new}'"),
    "prohibited.id_number": Msg("error", "单元格含有居民身份证号 {masked}，禁止存放在客户表中",
                                "cell holds a resident ID number {masked}; this data is prohibited"),
    "prohibited.bank_card": Msg("error", "单元格含有银行卡号 {masked}，禁止存放在客户表中",
                                "cell holds a bank card number {masked}; this data is prohibited"),
    "rule.crashed": Msg("error", "检查规则 {rule} 内部出错：{error}", "check {rule} failed internally: {error}"),
    # dedupe
    "customer.possible_duplicate": Msg("warning", "可能与 {other_id}「{other_name}」是同一客户（{reason}，相似度 {score}）",
                                       "may be the same customer as {other_id} '{other_name}' ({reason}, score {score})"),
    # rules / apply
    "customer.dormant": Msg("info", "已 {days} 天没有跟进，状态改为休眠", "no follow-up for {days} days: now dormant"),
    "customer.review_due": Msg("info", "客户资料已 {days} 天未更新，请在月度复核中确认",
                               "profile not updated for {days} days: due for the monthly review"),
    "customer.pooled": Msg("info", "休眠超过 {days} 天，已从 {old_owner} 转入公海",
                           "dormant over {days} days: moved from {old_owner} to the public pool"),
}


def severity_of(code: str) -> str:
    return CATALOGUE[code].severity


def render(code: str, lang: str, **params: Any) -> str:
    msg = CATALOGUE[code]
    template = msg.zh if lang == "zh" else msg.en
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template


def register(code: str, severity: str, zh: str, en: str) -> None:
    """Add a code from another module; a code is registered once."""
    if code in CATALOGUE and CATALOGUE[code] != Msg(severity, zh, en):
        raise ValueError(f"finding code {code} registered twice with different text")
    CATALOGUE[code] = Msg(severity, zh, en)


# One-line texts for the CLI (not findings), in both languages.
TEXTS: dict[str, tuple[str, str]] = {
    "summary": ("{customers} 个客户，{followups} 条跟进记录：{errors} 个错误，{warnings} 个警告，{info} 条提示",
                "{customers} customers, {followups} follow-ups: {errors} errors, {warnings} warnings, {info} notes"),
}


def text(key: str, lang: str, **params: Any) -> str:
    zh, en = TEXTS[key]
    return (zh if lang == "zh" else en).format(**params)
