"""Finding codes of `crm import`, registered in the shared catalogue (messages.register)."""

from __future__ import annotations

from ..messages import register

CODES: dict[str, tuple[str, str, str]] = {
    "import.name_missing": (
        "error", "客户名称为空，该行未导入", "the customer name is blank: row not imported"),
    "import.incomplete": (
        "error", "缺少必填项 {fields}，未导入（补全后重新导入，或用 --allow-incomplete 照常导入）",
        "required {fields} missing: not imported (complete it and import again, or use "
        "--allow-incomplete)"),
    "import.incomplete_imported": (
        "warning", "缺少必填项 {fields}，按 --allow-incomplete 仍已导入，请尽快补全",
        "required {fields} missing: imported anyway (--allow-incomplete); please complete it"),
    "import.prohibited": (
        "error", "含有禁止存放的数据（身份证号或银行卡号），该行未导入",
        "holds prohibited data (resident ID or bank card number): row not imported"),
    "import.duplicate_skipped": (
        "info", "与已有客户 {other_id}「{other_name}」重复（{reason}，相似度 {score}），已跳过",
        "duplicate of {other_id} '{other_name}' ({reason}, score {score}): skipped"),
    "import.duplicate_in_source": (
        "info", "与导入文件第 {other_row} 行「{other_name}」重复（{reason}，相似度 {score}），已跳过",
        "duplicate of row {other_row} of the source '{other_name}' ({reason}, score {score}): "
        "skipped"),
    "import.duplicate_updated": (
        "info", "与 {other_id}「{other_name}」重复（{reason}，相似度 {score}），已补全空白字段：{fields}",
        "duplicate of {other_id} '{other_name}' ({reason}, score {score}): blank fields filled: "
        "{fields}"),
    "import.duplicate_unchanged": (
        "info", "与 {other_id}「{other_name}」重复（{reason}，相似度 {score}），没有可补全的空白字段",
        "duplicate of {other_id} '{other_name}' ({reason}, score {score}): no blank field to fill"),
    "import.duplicate_created": (
        "warning", "可能与 {other_id}「{other_name}」重复（{reason}，相似度 {score}），"
        "按 --on-duplicate create 仍作为新客户导入",
        "may duplicate {other_id} '{other_name}' ({reason}, score {score}): imported as a new "
        "customer (--on-duplicate create)"),
    "import.conflict": (
        "warning", "{other_id} 的 {header} 已有值 '{old}'，未用导入值 '{new}' 覆盖",
        "{other_id} already has {header} '{old}'; the imported '{new}' was not written over it"),
    "import.followup_incomplete": (
        "error", "跟进记录缺少 {fields}，该跟进未导入（用 --allow-incomplete 照常导入）",
        "follow-up lacks {fields}: not imported (use --allow-incomplete to import it anyway)"),
    "import.followup_incomplete_imported": (
        "warning", "跟进记录缺少 {fields}，按 --allow-incomplete 仍已导入",
        "follow-up lacks {fields}: imported anyway (--allow-incomplete)"),
    "import.followup_duplicate": (
        "info", "{other_id} 已有同一时间、同一内容的跟进记录，已跳过",
        "{other_id} already has a follow-up at that time with that content: skipped"),
    "import.followup_no_customer": (
        "error", "跟进记录找不到客户（客户编号 '{value}' 不存在且没有客户名称），未导入",
        "follow-up has no customer (ID '{value}' unknown and no name): not imported"),
    "import.column_unknown": (
        "info", "未识别的列 '{header}'：{what}",
        "unrecognised column '{header}': {what}"),
    "import.column_fuzzy": (
        "info", "列 '{header}' 按近似名称对应到 {field}（相似度 {score}），如有误请用 --mapping 指定",
        "column '{header}' matched to {field} by similarity ({score}); use --mapping if wrong"),
    "import.column_duplicate": (
        "warning", "列 '{header}' 与 '{other}' 都对应 {field}，只使用 '{other}'",
        "columns '{header}' and '{other}' both map to {field}; only '{other}' is used"),
    "import.column_added": (
        "info", "主表缺少列 {field}，已在表头末尾添加",
        "the master had no {field} column; it was added after the last header"),
    "import.address_unresolved": (
        "warning", "地址 '{value}' 无法识别省市区，原文已保存到备注",
        "address '{value}' names no recognisable province/city/district; kept in the notes"),
}

for _code, (_sev, _zh, _en) in CODES.items():
    register(_code, _sev, _zh, _en)
