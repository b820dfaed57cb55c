"""The language of the home, for lines that are not findings: errors, click's own messages.

Findings carry their workbook's language (messages.py). Everything else a person reads on a
terminal — a refusal, a usage error, click's "Missing argument" or "Aborted!" — follows the
language of the home the command runs in (zh unless the home says en). The CLI sets it once at
start (`set_lang`), library code picks a text with `t(zh, en)`, and `localize` chooses the half
of an older bilingual "中文 / English" message.
"""

from __future__ import annotations

import contextvars
import json
import os
import re
from pathlib import Path

_LANG: contextvars.ContextVar[str] = contextvars.ContextVar("crm_lang", default="zh")


def set_lang(lang: str | None) -> None:
    """Make `lang` ('zh' or 'en') the language of what this process prints."""
    _LANG.set("en" if lang == "en" else "zh")


def current_lang() -> str:
    return _LANG.get()


def t(zh: str, en: str, lang: str | None = None) -> str:
    """The text in `lang` (default: the current language)."""
    return en if (lang or _LANG.get()) == "en" else zh


_CJK = re.compile(r"[\u3400-\u9fff]")


def localize(message: str, lang: str | None = None) -> str:
    """The half of a "中文 / English" message for `lang`; any other message unchanged."""
    start = 0
    while (i := message.find(" / ", start)) != -1:
        left, right = message[:i], message[i + 3:]
        if _CJK.search(left) and re.match(r"[A-Za-z]", right):
            return right.strip() if (lang or _LANG.get()) == "en" else left.strip()
        start = i + 3
    return message


def home_lang_from_environment(cwd: Path | None = None) -> str:
    """The language of the home named by CRM_HOME, or the one the working folder is inside."""
    start = os.environ.get("CRM_HOME")
    candidates = [Path(start)] if start else []
    here = (cwd or Path.cwd()).resolve()
    candidates += [here, *here.parents]
    for folder in candidates:
        marker = folder / ".crm-home.json"
        try:
            data = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return "en" if data.get("lang") == "en" else "zh"
    return "zh"


# click's own messages (click 8.x `_()` / `ngettext()` message ids) in Chinese.
CLICK_ZH: dict[str, str] = {
    "%(prog)s, version %(version)s": "%(prog)s，版本 %(version)s",
    "(Did you mean one of: {possibilities}?)": "（是否想用其中之一：{possibilities}？）",
    "(dynamic)": "（动态）",
    "Aborted!": "已取消。",
    "Argument {name!r} takes {nargs} values.": "参数 {name!r} 需要 {nargs} 个值。",
    "Choose from:\n\t{choices}": "可选：\n\t{choices}",
    "Commands": "命令",
    "Confirm the action without prompting.": "不再询问，直接确认。",
    "Could not open file {filename!r}: {message}": "无法打开文件 {filename!r}：{message}",
    "Did you mean {possibility}?": "是否想用 {possibility}？",
    "Do you want to continue?": "要继续吗？",
    "Error: The two entered values do not match.": "错误：两次输入不一致。",
    "Error: invalid input": "错误：输入无效",
    "Error: {message}": "错误：{message}",
    "Got unexpected extra argument ({args})": "多余的参数（{args}）",
    "Got unexpected extra arguments ({args})": "多余的参数（{args}）",
    "Invalid value for {param_hint}: {message}": "{param_hint} 的值无效：{message}",
    "Invalid value: {message}": "值无效：{message}",
    "Missing argument": "缺少参数",
    "Missing command.": "缺少命令。",
    "Missing option": "缺少选项",
    "Missing parameter": "缺少参数",
    "Missing parameter: {param_name}": "缺少参数：{param_name}",
    "Missing {param_type}": "缺少{param_type}",
    "No such command {name!r}.": "没有命令 {name!r}。",
    "No such option {name!r}.": "没有选项 {name!r}。",
    "Option {name!r} does not take a value.": "选项 {name!r} 不带值。",
    "Option {name!r} requires an argument.": "选项 {name!r} 需要一个值。",
    "Option {name!r} requires {nargs} arguments.": "选项 {name!r} 需要 {nargs} 个值。",
    "Options": "选项",
    "Positional arguments": "位置参数",
    "Press any key to continue...": "按任意键继续…",
    "Repeat for confirmation": "再输入一次确认",
    "Show the version and exit.": "显示版本并退出。",
    "Show this message and exit.": "显示本帮助并退出。",
    "Takes {nargs} values but 1 was given.": "需要 {nargs} 个值，只给了 1 个。",
    "Takes {nargs} values but {len} were given.": "需要 {nargs} 个值，给了 {len} 个。",
    "Try '{command} {option}' for help.": "用 '{command} {option}' 查看帮助。",
    "Usage:": "用法：",
    "Value must be an iterable.": "值必须是一个列表。",
    "Windows error: {error}": "Windows 错误：{error}",
    "default: {default}": "默认：{default}",
    "deprecated": "已弃用",
    "directory": "文件夹",
    "env var: {var}": "环境变量：{var}",
    "file": "文件",
    "path": "路径",
    "unknown error": "未知错误",
    "{len_type} values are required, but {len_value} was given.":
        "需要 {len_type} 个值，只给了 {len_value} 个。",
    "{len_type} values are required, but {len_value} were given.":
        "需要 {len_type} 个值，给了 {len_value} 个。",
    "{name} {filename!r} does not exist.": "{name} {filename!r} 不存在。",
    "{name} {filename!r} is a directory.": "{name} {filename!r} 是文件夹。",
    "{name} {filename!r} is a file.": "{name} {filename!r} 是文件。",
    "{name} {filename!r} is not executable.": "{name} {filename!r} 不可执行。",
    "{name} {filename!r} is not readable.": "{name} {filename!r} 不可读。",
    "{name} {filename!r} is not writable.": "{name} {filename!r} 不可写。",
    "{value!r} does not match the format {format}.": "{value!r} 不符合格式 {format}。",
    "{value!r} does not match the formats {formats}.": "{value!r} 不符合格式 {formats}。",
    "{value!r} is not a valid UUID.": "{value!r} 不是有效的 UUID。",
    "{value!r} is not a valid boolean. Recognized values: {states}":
        "{value!r} 不是有效的是/否值。可用：{states}",
    "{value!r} is not a valid {number_type}.": "{value!r} 不是有效的{number_type}。",
    "{value!r} is not one of {choices}.": "{value!r} 不在可选值 {choices} 中。",
    "{value!r} is not {choice}.": "{value!r} 不是 {choice}。",
    "{value} is not in the range {range}.": "{value} 不在范围 {range} 内。",
    # words click puts into the messages above
    "argument": "参数",
    "option": "选项",
    "parameter": "参数",
    "integer": "整数",
    "float": "小数",
}


def _gettext(message: str) -> str:
    if _LANG.get() == "en":
        return message
    return CLICK_ZH.get(message, message)


def _ngettext(singular: str, plural: str, n: int) -> str:
    return _gettext(singular if n == 1 else plural)


def install_click_translation() -> None:
    """Route click's own messages through the home's language (click binds `_` per module)."""
    import importlib

    for name in ("core", "decorators", "exceptions", "formatting", "parser", "termui", "types",
                 "utils", "shell_completion"):
        try:
            module = importlib.import_module(f"click.{name}")
        except ImportError:  # pragma: no cover - a click without that module
            continue
        if hasattr(module, "_"):
            module._ = _gettext
        if hasattr(module, "ngettext"):
            module.ngettext = _ngettext
