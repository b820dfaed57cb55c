"""The in-memory workbook: plain data that flows through pure functions.

A `Record` is one data row: its field values (already coerced), the Excel row a
user sees, and the raw cell values as read, so a finding can quote what the user
typed and the write-back can tell what changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .schema import CUSTOMERS, FOLLOWUPS, SETTINGS, SheetSchema


@dataclass(slots=True)
class Record:
    row: int  # 1-based Excel row number
    values: dict[str, Any]  # field key -> coerced value (None when blank)
    raw: dict[str, Any] = field(default_factory=dict)  # field key -> value as read, when it differs
    problems: dict[str, str] = field(default_factory=dict)  # field key -> coercion problem code
    extra: dict[str, Any] = field(default_factory=dict)  # unknown column header -> value

    def get(self, key: str, default: Any = None) -> Any:
        v = self.values.get(key)
        return default if v is None else v

    def shown(self, key: str) -> Any:
        """The value as the user typed it (raw when coercion changed or rejected it)."""
        return self.raw.get(key, self.values.get(key))


@dataclass(slots=True)
class Table:
    """One data sheet as read: where each field sits and its rows."""

    schema: SheetSchema
    sheet_name: str  # the actual sheet name in the file
    columns: dict[str, int]  # field key -> 0-based column index in the sheet
    header_row: int  # 1-based Excel row of the header
    records: list[Record] = field(default_factory=list)
    extra_columns: dict[str, int] = field(default_factory=dict)  # unknown headers -> index

    def column_letter(self, key: str) -> str | None:
        idx = self.columns.get(key)
        return None if idx is None else column_letter(idx)


@dataclass(slots=True)
class Workbook:
    """A loaded CRM master workbook."""

    path: Path | None
    lang: str  # "zh" or "en": the language of headers and messages
    customers: Table
    followups: Table
    lists: dict[str, list[str]]
    settings: dict[str, int]
    meta: dict[str, str] = field(default_factory=dict)
    not_duplicates: list[tuple[str, str]] = field(default_factory=list)
    sheet_names: list[str] = field(default_factory=list)
    problems: list[Any] = field(default_factory=list)  # findings raised while reading

    def setting(self, key: str) -> int:
        return self.settings[key]

    def customers_by_id(self) -> dict[str, Record]:
        out: dict[str, Record] = {}
        for r in self.customers.records:
            cid = r.values.get("customer_id")
            if cid and cid not in out:
                out[cid] = r
        return out


def default_settings() -> dict[str, int]:
    return {s.key: s.default for s in SETTINGS}


def empty_table(schema: SheetSchema) -> Table:
    return Table(schema=schema, sheet_name=schema.name,
                 columns={k: i for i, k in enumerate(schema.keys)}, header_row=1)


def new_workbook(lang: str = "zh", lists: dict[str, list[str]] | None = None) -> Workbook:
    """An empty workbook in memory (tests and generators start from here)."""
    from .schema import DEFAULT_LISTS

    return Workbook(
        path=None, lang=lang, customers=empty_table(CUSTOMERS), followups=empty_table(FOLLOWUPS),
        lists={k: list(v) for k, v in (lists or DEFAULT_LISTS).items()},
        settings=default_settings(),
    )


def column_letter(idx: int) -> str:
    """0-based column index -> Excel letters (0 -> A, 26 -> AA)."""
    s = ""
    idx += 1
    while idx:
        idx, rem = divmod(idx - 1, 26)
        s = chr(65 + rem) + s
    return s
