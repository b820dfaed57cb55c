"""Write a CRM master workbook from the schema (xlsxwriter).

`build_workbook` writes the template (no rows), the demo master and the benchmark
workbooks alike, so every generated master has the same headers, formats,
dropdowns, frozen header, autofilter, Settings and very-hidden _meta sheet; tabs in
the home's language (客户 / 跟进记录 / 列表 / 设置 / 问题, recorded in `_meta` so the
engine knows its own sheets), required headers marked '*', engine-filled columns
shaded with an input message, and a print setup (A4 landscape, fit to width, header
repeated).
`templates/CRM_template.xlsx` is `build_template(path, "zh")`; a test proves the
committed file equals what this code generates.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import xlsxwriter

from .issues_sheet import PRINT_REPEAT, IssueTable, pages_wide, print_setup, write_issues_sheet
from .model import column_letter
from .schema import (
    COMPUTED_LISTS,
    CUSTOMERS,
    DEFAULT_LISTS,
    FOLLOWUPS,
    LIST_COLUMNS,
    META_SHEET_PREFIX,
    NOT_DUPLICATES,
    SCHEMA_VERSION,
    SETTINGS,
    SHEET_ISSUES,
    SHEET_LISTS,
    SHEET_META,
    SHEET_SETTINGS,
    Kind,
    SheetSchema,
    sheet_title,
)

FIXED_CREATED = dt.datetime(2024, 1, 1, 0, 0, 0)
MAX_ROW = 1048576
LIST_ROWS = 200  # rows of each Lists column the dropdowns cover (room to add values)
SETTINGS_HEADERS = {"zh": ("参数", "值", "键"), "en": ("Setting", "Value", "Key")}
HEADER_STYLE = {"bold": True, "bg_color": "#DDEBF7", "border": 1, "valign": "vcenter",
                "text_wrap": True, "font_name": "等线"}
ENGINE_HEADER_STYLE = {**HEADER_STYLE, "bg_color": "#D9D9D9", "font_color": "#595959"}
ENGINE_CELL_STYLE = {"bg_color": "#F2F2F2", "font_color": "#595959"}
REQUIRED_MARK = "*"  # before a required header; the reader ignores it
ENGINE_NOTE = {"zh": ("引擎填写", "此列由 crm apply 自动填写，手工修改会被覆盖。"),
               "en": ("Filled by the engine", "crm apply fills this column; edits are overwritten.")}
NUMBER_FORMATS = {Kind.CODE: "@", Kind.DATE: "yyyy-mm-dd", Kind.DATETIME: "yyyy-mm-dd hh:mm",
                  Kind.INT: "0", Kind.NUMBER: "#,##0.00"}


def list_range_name(key: str) -> str:
    return f"list_{key}"


def _formats(wb: xlsxwriter.Workbook, extra: Mapping[str, Any] | None = None) -> dict[Any, Any]:
    extra = dict(extra or {})
    fmts: dict[Any, Any] = {k: wb.add_format({"num_format": v, "font_name": "等线", **extra})
                            for k, v in NUMBER_FORMATS.items()}
    fmts["text"] = wb.add_format({"font_name": "等线", **extra})
    fmts["header"] = wb.add_format(HEADER_STYLE)
    return fmts


def write_value(ws: Any, r: int, c: int, value: Any, kind: Kind, fmts: Mapping[Any, Any]) -> None:
    """Write one typed cell; text always as a string (never a formula)."""
    if value is None or value == "":
        return
    fmt = fmts.get(kind, fmts["text"])
    if kind is Kind.CODE:
        ws.write_string(r, c, str(value), fmt)
    elif isinstance(value, bool):
        ws.write_boolean(r, c, value, fmt)
    elif isinstance(value, (int, float)) and kind in (Kind.INT, Kind.NUMBER):
        ws.write_number(r, c, value, fmt)
    elif isinstance(value, dt.datetime):
        ws.write_datetime(r, c, value, fmts[Kind.DATETIME] if kind is not Kind.DATE else fmts[Kind.DATE])
    elif isinstance(value, dt.date):
        ws.write_datetime(r, c, dt.datetime(value.year, value.month, value.day), fmts[Kind.DATE])
    else:
        ws.write_string(r, c, str(value), fmt)


def _data_sheet(wb: xlsxwriter.Workbook, schema: SheetSchema, lang: str, rows: Iterable[Mapping[str, Any]],
                fmts: Mapping[Any, Any]) -> None:
    ws = wb.add_worksheet(sheet_title(schema.name, lang))
    efmts = fmts["engine"]
    for c, f in enumerate(schema.fields):
        if f.engine:
            ws.set_column(c, c, f.width, efmts.get(f.kind, efmts["text"]))
            ws.write_string(0, c, f.header(lang), fmts["engine_header"])
            title, note = ENGINE_NOTE.get(lang, ENGINE_NOTE["en"])
            ws.data_validation(0, c, MAX_ROW - 1, c, {"validate": "any", "input_title": title,
                                                      "input_message": note})
            continue
        ws.set_column(c, c, f.width, fmts.get(f.kind, fmts["text"]) if f.kind in NUMBER_FORMATS else None)
        ws.write_string(0, c, (REQUIRED_MARK if f.required else "") + f.header(lang), fmts["header"])
        if f.choices:
            ws.data_validation(1, c, MAX_ROW - 1, c, {
                "validate": "list", "source": f"={list_range_name(f.dropdown or f.choices)}",
                "ignore_blank": True, "error_type": "warning",
                "error_title": "不在列表中" if lang == "zh" else "Not in the list",
                "error_message": ("请从下拉列表中选择，或先在 Lists 工作表中添加该值" if lang == "zh"
                                  else "Pick a value from the list, or add it to the Lists sheet first"),
            })
    ws.freeze_panes(1, 0)
    ws.autofilter(0, 0, 0, len(schema.fields) - 1)
    ws.set_row(0, 30)
    repeat = PRINT_REPEAT.get(schema.name, 0)
    print_setup(ws, pages=pages_wide([f.width for f in schema.fields], repeat), repeat=repeat)
    kinds = [f.kind for f in schema.fields]
    cell_fmts = [efmts if f.engine else fmts for f in schema.fields]
    keys = schema.keys
    r = 0
    for r, row in enumerate(rows, start=1):
        for c, key in enumerate(keys):
            write_value(ws, r, c, row.get(key), kinds[c], cell_fmts[c])


def build_workbook(path: str | Path, *, lang: str = "zh", customers: Iterable[Mapping[str, Any]] = (),
                   followups: Iterable[Mapping[str, Any]] = (), lists: Mapping[str, Iterable[str]] | None = None,
                   settings: Mapping[str, int] | None = None, meta: Mapping[str, str] | None = None,
                   created: dt.datetime | None = FIXED_CREATED, constant_memory: bool = False) -> Path:
    """Write a complete master workbook; rows are dicts keyed by schema field keys."""
    path = Path(path)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": constant_memory, "strings_to_formulas": False,
                                         "strings_to_numbers": False, "strings_to_urls": False})
    wb.set_properties({"title": "CRM", "author": "crm-sheets", "created": created or dt.datetime.now(),
                       "comments": "crm-sheets master workbook"})
    fmts = _formats(wb)
    fmts["engine"] = _formats(wb, ENGINE_CELL_STYLE)
    fmts["engine_header"] = wb.add_format(ENGINE_HEADER_STYLE)
    _data_sheet(wb, CUSTOMERS, lang, customers, fmts)
    _data_sheet(wb, FOLLOWUPS, lang, followups, fmts)

    lists_tab = sheet_title(SHEET_LISTS, lang)
    ws = wb.add_worksheet(lists_tab)
    all_lists = {k: list(v) for k, v in DEFAULT_LISTS.items()}
    all_lists.update({k: list(v) for k, v in (lists or {}).items()})
    columns = [[] if key in COMPUTED_LISTS else all_lists.get(key, []) for key in LIST_COLUMNS]
    qtab = "'" + lists_tab.replace("'", "''") + "'"
    for c, (key, (zh, en)) in enumerate(LIST_COLUMNS.items()):
        ws.set_column(c, c, 14)
        ws.write_string(0, c, zh if lang == "zh" else en,
                        fmts["engine_header"] if key in COMPUTED_LISTS else fmts["header"])
        letter = column_letter(c)
        if key in COMPUTED_LISTS:  # only the filled cells: no blank entries in the dropdown
            wb.define_name(list_range_name(key), f"=OFFSET({qtab}!${letter}$2,0,0,MAX(1,COUNTIF("
                           f'{qtab}!${letter}$2:${letter}${LIST_ROWS + 1},"?*")),1)')
        else:
            wb.define_name(list_range_name(key), f"={qtab}!${letter}$2:${letter}${LIST_ROWS + 1}")
    keys = list(LIST_COLUMNS)
    staff = keys.index("staff")
    owners_rng, service_rng = (f"${column_letter(keys.index(k))}$2:${column_letter(keys.index(k))}"
                               f"${LIST_ROWS + 1}" for k in ("owners", "service"))
    for r in range(max(LIST_ROWS, *map(len, columns))):  # row by row: constant_memory needs it
        for c, values in enumerate(columns):
            if r < len(values):
                ws.write_string(r + 1, c, str(values[r]))
            elif c == staff and r < LIST_ROWS:  # 跟进人 = 负责人 then 客服人员
                n = f"COUNTA({owners_rng})"
                ws.write_formula(r + 1, c, f"=IFERROR(IF(ROW()-1<={n},INDEX({owners_rng},ROW()-1),"
                                 f'INDEX({service_rng},ROW()-1-{n}))&"","")', fmts["engine"]["text"],
                                 "")
    ws.freeze_panes(1, 0)

    ws = wb.add_worksheet(sheet_title(SHEET_SETTINGS, lang))
    ws.set_column(0, 0, 26)
    ws.set_column(1, 1, 10)
    ws.set_column(2, 2, 22)
    for c, h in enumerate(SETTINGS_HEADERS[lang]):
        ws.write_string(0, c, h, fmts["header"])
    values = dict(settings or {})
    for r, spec in enumerate(SETTINGS, start=1):
        ws.write_string(r, 0, spec.zh if lang == "zh" else spec.en)
        ws.write_number(r, 1, values.get(spec.key, spec.default))
        ws.write_string(r, 2, spec.key)

    write_issues_sheet(wb, sheet_title(SHEET_ISSUES, lang), lang, IssueTable(), fmts["header"])

    _data_sheet(wb, NOT_DUPLICATES, lang, (), fmts)

    ws = wb.add_worksheet(SHEET_META)
    info = {"schema_version": str(SCHEMA_VERSION), "lang": lang, "revision": "0"}
    for key in (CUSTOMERS.name, FOLLOWUPS.name, SHEET_LISTS, SHEET_SETTINGS, SHEET_ISSUES,
                NOT_DUPLICATES.name):  # the tabs the engine made: a look-alike never takes over
        info[META_SHEET_PREFIX + key] = sheet_title(key, lang)
    info.update(meta or {})
    for r, (k, v) in enumerate(info.items()):
        ws.write_string(r, 0, k)
        ws.write_string(r, 1, str(v))
    ws.very_hidden()
    wb.worksheets()[0].activate()
    wb.close()
    return path


def build_template(path: str | Path, lang: str = "zh") -> Path:
    """The empty master every new CRM home starts from."""
    return build_workbook(path, lang=lang)


TEMPLATE_FILES = {"zh": "CRM_template.xlsx", "en": "CRM_template_en.xlsx"}

if __name__ == "__main__":  # regenerate the committed templates
    root = Path(__file__).resolve().parents[1] / "templates"
    root.mkdir(exist_ok=True)
    for lg, name in TEMPLATE_FILES.items():
        print(build_template(root / name, lg))
