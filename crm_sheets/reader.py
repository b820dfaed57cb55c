"""Read a CRM workbook into the model, fast and tolerant (python-calamine).

Headers are matched in either language (and common aliases), columns may be in any
order, extra columns and blank rows are ignored, and every value is coerced by its
field's kind. What cannot be coerced stays visible: the record keeps the raw value
and a problem code, which validation turns into a finding at the right cell.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import python_calamine as pc

from . import coerce, fastread
from .errors import CrmError
from .findings import Finding, make
from .gcpause import paused_gc
from .model import Record, Table, Workbook, default_settings
from .safezip import check_extents, check_xlsx
from .schema import (
    COMPUTED_LISTS,
    CUSTOMERS,
    DEFAULT_LISTS,
    FOLLOWUPS,
    LIST_COLUMNS,
    NOT_DUPLICATES,
    SETTINGS,
    SHEET_LISTS,
    SHEET_META,
    SHEET_SETTINGS,
    VALUE_ALIASES,
    Field,
    Kind,
    SheetSchema,
    identify_sheets,
)

HEADER_SCAN_ROWS = 20


def norm_header(text: Any) -> str:
    """Header text folded for matching: half-width, lower case, no spaces or '*' marks."""
    s = coerce.halfwidth(coerce.to_text(text)).lower()
    return "".join(ch for ch in s if not ch.isspace() and ch not in "*:：")


def header_lookup(schema: SheetSchema) -> dict[str, tuple[str, str]]:
    """normalised header -> (field key, language it belongs to)."""
    out: dict[str, tuple[str, str]] = {}
    for f in schema.fields:
        for text, lang in ((f.zh, "zh"), (f.en, "en"), (f.key, "en")):
            out.setdefault(norm_header(text), (f.key, lang))
        for alias in f.aliases:
            out.setdefault(norm_header(alias), (f.key, "zh" if not alias.isascii() else "en"))
    return out


def is_blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip(" \t\r\n\u3000\u200b\xa0"))


# ---- opening ----------------------------------------------------------------------


def open_calamine(path: Path, data: bytes | None = None, *, checked: bool = False
                  ) -> pc.CalamineWorkbook:
    """Open an xlsx after the safety checks; a damaged file is one clear CrmError.

    Every calamine open goes through here, so a sheet claiming a huge area (one value in
    XFD1048576) is refused before calamine allocates it (`safezip.check_extents`);
    `checked=True` skips that scan for a second handle on bytes already checked."""
    if not checked:
        check_extents(path, data)
    try:
        if data is not None:
            import io

            return pc.CalamineWorkbook.from_filelike(io.BytesIO(data))
        return pc.CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several types for damaged files
        raise CrmError(f"文件已损坏，无法读取 / {Path(path).name} is damaged: {_short(exc)}") from None


def _short(exc: Exception) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def read_sheet_rows(cwb: pc.CalamineWorkbook, name: str, path: Path) -> list[list[Any]]:
    """All rows of a sheet from A1 (so list index + 1 is the Excel row)."""
    try:
        return cwb.get_sheet_by_name(name).to_python(skip_empty_area=False)
    except Exception as exc:
        raise CrmError(f"工作表 '{name}' 已损坏 / sheet '{name}' of {Path(path).name} is damaged: "
                       f"{_short(exc)}") from None


def canonical_sheets(names: Iterable[str], meta: dict[str, str] | None = None) -> dict[str, str]:
    """canonical sheet name -> actual sheet name: the tab the engine wrote (recorded in
    `_meta`, or named as the engine names it) before any alias (`schema.identify_sheets`)."""
    return identify_sheets(list(names), meta)[0]


def sheet_map(cwb: pc.CalamineWorkbook, path: Path) -> tuple[dict[str, str], list[tuple[str, str, str]], dict[str, str]]:
    """(canonical -> tab, ambiguities, _meta) of an open workbook: `_meta` is read first so
    the tabs the engine recorded there win over a user's look-alike sheet."""
    names = list(cwb.sheet_names)
    meta_tab = next((n for n in names if n.strip() == SHEET_META), None)
    meta = read_meta(read_sheet_rows(cwb, meta_tab, path)) if meta_tab is not None else {}
    sheets, ambiguous = identify_sheets(names, meta)
    return sheets, ambiguous, meta


# ---- coercion plan --------------------------------------------------------------------

_ODD = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad\u00a0\u2007\u202f\u3000\uff01-\uff5e]")
_ODD_TEXT = re.compile("[\u200b-\u200d\u2060\ufeff\u00ad\u00a0\u2007\u202f]")  # what clean_text changes
_WS = " \t\r\n\u3000"


class Bad:
    """A value that did not coerce: kept with the problem code for a finding."""

    __slots__ = ("raw", "code")

    def __init__(self, raw: Any, code: str) -> None:
        self.raw, self.code = raw, code


def _text(v: Any) -> Any:
    if type(v) is str:
        if v.isascii():
            return v.strip() or None
        if _ODD_TEXT.search(v):
            return coerce.clean_text(v) or None
        return v.strip(_WS) or None
    if v is None:
        return None
    return coerce.to_text(v)


def _code(v: Any) -> Any:
    if type(v) is str:
        if v.isascii():
            return v.strip() or None
        if _ODD.search(v):
            return coerce.halfwidth(v) or None
        return v.strip(_WS) or None
    if v is None:
        return None
    return coerce.to_text(v)


def _choice(v: Any) -> Any:
    s = _code(v)
    if s is not None and s.isascii():
        return VALUE_ALIASES.get(s.lower(), s)
    return s


def _guarded(fn: Callable[[Any], Any], code: str, typed: tuple[type, ...]) -> Callable[[Any], Any]:
    """Wrap a parser: blanks -> None, already-typed values pass, failures -> Bad."""

    def conv(v: Any) -> Any:
        t = type(v)
        if t in typed:
            return v
        if v is None or (t is str and not v.strip(_WS)):
            return None
        try:
            return fn(v)
        except (ValueError, OverflowError, TypeError):
            return Bad(v, code)

    return conv


def _start_end(pair: tuple[dt.datetime, dt.datetime | None]) -> Any:
    return pair if pair[1] is not None else pair[0]


def column_converter(kind: Kind, date1904: bool) -> Callable[[Any], Any]:
    """The per-cell parser for a field kind (blank -> None, failure -> Bad)."""
    if kind is Kind.CODE:
        return _code
    if kind is Kind.CHOICE:
        return _choice
    if kind is Kind.INT:
        return _guarded(coerce.parse_int, "integer.invalid", (int,))
    if kind is Kind.NUMBER:
        return _guarded(coerce.parse_number, "number.invalid", (int,))
    if kind is Kind.DATE:
        return _guarded(lambda v: coerce.parse_date(v, date1904), "date.invalid", (dt.date,))
    if kind is Kind.DATETIME:  # a parsed "14:00-15:00" range comes back as a (start, end) tuple
        return _guarded(lambda v: _start_end(coerce.parse_datetime_range(v, date1904)), "date.invalid",
                        (dt.datetime,))
    return _text


# ---- data sheets ------------------------------------------------------------------------


def find_header(rows: list[list[Any]], schema: SheetSchema) -> tuple[int, dict[str, int], dict[str, int], str, list[str]]:
    """Locate the header row: (row index, field->col, extra header->col, language, duplicates)."""
    lookup = header_lookup(schema)
    best: tuple[int, int] = (-1, 0)
    for i, row in enumerate(rows[:HEADER_SCAN_ROWS]):
        hits = len({lookup[h][0] for c in row if not is_blank(c) and (h := norm_header(c)) in lookup})
        if hits > best[1]:
            best = (i, hits)
        if hits >= max(3, len(schema.fields) // 2):
            break
    idx, hits = best
    if idx < 0 or hits < 2:
        return -1, {}, {}, "zh", []
    columns: dict[str, int] = {}
    extras: dict[str, int] = {}
    dups: list[str] = []
    votes = {"zh": 0, "en": 0}
    for ci, cell in enumerate(rows[idx]):
        if is_blank(cell):
            continue
        h = norm_header(cell)
        if h in lookup:
            key, lang = lookup[h]
            votes[lang] += 1
            if key in columns:
                dups.append(coerce.to_text(cell))
            else:
                columns[key] = ci
        else:
            extras[coerce.clean_text(coerce.to_text(cell))] = ci
    lang = "en" if votes["en"] > votes["zh"] else "zh"
    return idx, columns, extras, lang, dups


ColumnsHook = Callable[[str, int, dict[str, list[Any]]], None]


def _convert_column(f: Field, raw_col: list[Any], date1904: bool,
                    raws: dict[int, dict[str, Any]], problems: dict[int, dict[str, str]]
                    ) -> list[Any]:
    """One column's values coerced by the field's kind; what did not coerce (or was typed
    as text) goes to `raws`/`problems` by row index."""
    conv = column_converter(f.kind, date1904)
    if f.kind is Kind.CHOICE:  # a handful of distinct values: convert each once
        seen = {v: conv(v) for v in set(raw_col)}
        col = list(map(seen.__getitem__, raw_col))
    else:
        col = list(map(conv, raw_col))
    if f.kind in (Kind.INT, Kind.NUMBER, Kind.DATE, Kind.DATETIME):
        # Only cells typed as text, or that failed, need bookkeeping (rare in real files).
        odd = [i for i, v in enumerate(raw_col) if type(v) is str and v != ""]
        odd += [i for i, v in enumerate(col) if type(v) is Bad and type(raw_col[i]) is not str]
        for i in odd:
            v = col[i]
            if v is None:
                continue
            if type(v) is Bad:
                col[i] = None
                raws.setdefault(i, {})[f.key] = v.raw
                problems.setdefault(i, {})[f.key] = v.code
                continue
            if type(v) is tuple:
                v, end = v
                col[i] = v
                if f.key == "start":
                    raws.setdefault(i, {})["__end__"] = end
            raws.setdefault(i, {})[f.key] = raw_col[i]
    return col


def read_table(rows: list[list[Any]], schema: SheetSchema, sheet_name: str, date1904: bool,
               path: Path, required_columns: bool = True, *,
               early: tuple[tuple[str, ...], ColumnsHook] | None = None,
               ) -> tuple[Table, str, list[tuple[str, dict]]]:
    """Parse one data sheet. Returns the table, its header language and reading notes.

    `early` = (field keys, hook): the hook gets (language, first data row, converted
    columns of those keys) before the records are built, so slow work on a few columns
    (the duplicate scan) can start elsewhere while the rest of the sheet is converted.
    """
    idx, columns, extras, lang, dups = find_header(rows, schema)
    data = rows[idx + 1 :]
    width = max((len(r) for r in data), default=0)
    if any(len(r) != width for r in data):
        data = [r + [""] * (width - len(r)) for r in data]

    def column(ci: int) -> list[Any]:
        return [r[ci] for r in data] if ci < width else [None] * len(data)

    return _table(idx, columns, extras, lang, dups, schema, sheet_name, date1904, path,
                  required_columns, early, column)


def read_table_fast(fs: fastread.FastSheet, schema: SheetSchema, sheet_name: str, date1904: bool,
                    path: Path, *, early: tuple[tuple[str, ...], ColumnsHook] | None = None,
                    ) -> tuple[Table, str, list[tuple[str, dict]]] | None:
    """`read_table` on a sheet read by columns; None (read it with calamine) unless the
    header is the row `read_table` would pick for certain: the first row with a value,
    holding enough known headers that the scan stops there."""
    if fs.header_row > HEADER_SCAN_ROWS:
        return None
    rows: list[list[Any]] = [[] for _ in range(fs.header_row - 1)] + [fs.header]
    idx, columns, extras, lang, dups = find_header(rows, schema)
    lookup = header_lookup(schema)
    hits = len({lookup[h][0] for c in fs.header if not is_blank(c) and (h := norm_header(c)) in lookup})
    if idx != fs.header_row - 1 or hits < max(3, len(schema.fields) // 2):
        return None
    return _table(idx, columns, extras, lang, dups, schema, sheet_name, date1904, path, True, early,
                  fs.values, lambda f, ci: _convert_arrow(f, fs, ci))


# What `_text`/`_code` might change: an edge character `str.strip()` or `_WS` could remove
# (a generous class), or a character `clean_text`/`halfwidth` maps. Other strings come out
# as they are, so only the matching ones go through the Python converter.
_EDGE = r"[\x00-\x20\x7f-\x{a0}\x{ad}\x{1680}\x{180e}\x{2000}-\x{200f}\x{2028}-\x{202f}\x{205f}-\x{2064}\x{3000}\x{feff}]"
_ODD_TEXT_RE2 = r"[\x{200b}-\x{200d}\x{2060}\x{feff}\x{ad}\x{a0}\x{2007}\x{202f}]"
_CHANGED = {
    Kind.TEXT: f"^{_EDGE}|{_EDGE}$|{_ODD_TEXT_RE2}|^$",
    Kind.CODE: f"^{_EDGE}|{_EDGE}$|{_ODD_TEXT_RE2}|[\\x{{3000}}\\x{{ff01}}-\\x{{ff5e}}]|^$",
}


def _convert_arrow(f: Field, fs: fastread.FastSheet, ci: int) -> list[Any] | None:
    """`_convert_column` of a column read by fastread, computed on the Arrow array where
    that gives the same values for certain (no value would go to raws/problems); None =
    convert the Python values as usual. Nothing here imports pandas (pyarrow's
    `Array.fill_null` does: ~0.2 s a run)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pac

    arr = fs.columns.get(ci)
    if arr is None or arr.null_count == len(arr):  # an empty column: every converter gives None
        return [None] * fs.n_rows
    t = arr.type
    kind = f.kind
    if pa.types.is_string(t) and kind in _CHANGED:
        if _few_distinct(arr):
            return _via_dictionary(arr, lambda d: _texts(d, kind))
        return _texts(arr, kind)
    if pa.types.is_string(t) and kind is Kind.CHOICE:  # a handful of distinct values
        return _via_dictionary(arr, lambda d: [_choice(v) for v in d.to_pylist()])
    if pa.types.is_timestamp(t):
        if kind is Kind.DATETIME:  # numpy makes the same datetimes much faster than pyarrow
            return _via_dictionary(arr, lambda d: fastread.stamps(d).tolist())
        if kind is Kind.DATE:
            return _via_dictionary(pac.cast(arr, pa.date32()), _dates)
        return None
    if pa.types.is_float64(t) and kind in (Kind.NUMBER, Kind.INT):
        x = fastread.np_values(arr, np.float64)
        nulls = fastread.null_indices(arr)
        valid = np.ones(len(x), dtype=bool)
        valid[nulls] = False
        v = x[valid]
        if not np.isfinite(v).all() or (np.abs(v) >= 2.0**53).any():
            return None
        whole = valid & (np.floor(x) == x)
        if kind is Kind.INT and not whole[valid].all():
            return None
        out_arr = x.astype(object)
        if whole.any():
            out_arr[whole] = x[whole].astype(np.int64).astype(object)
        out = out_arr.tolist()
        for i in nulls:
            out[i] = None
        return out
    return None


def _texts(arr: Any, kind: Kind) -> list[Any]:
    """`_text`/`_code` of a string array: only the strings they might change go through them."""
    import pyarrow.compute as pac

    out = arr.to_pylist()
    odd = pac.match_substring_regex(arr, _CHANGED[kind])
    if odd.true_count:
        conv = _text if kind is Kind.TEXT else _code
        for i in pac.indices_nonzero(odd).to_pylist():  # (nulls are not listed)
            out[i] = conv(out[i])
    return out


def _dates(days: Any) -> list[Any]:
    """A date32 array as `date`s (None for nulls)."""
    d = fastread.np_values(days, "int32").astype("datetime64[D]")
    if days.null_count:
        d[fastread.null_indices(days)] = None  # NaT
    return d.tolist()


_SAMPLE = 4096  # rows a column's repetitiveness is judged on


def _few_distinct(arr: Any) -> bool:
    """Whether a column repeats its values (at most half distinct in its first rows), so
    converting each distinct value once, and sharing it, pays for the encoding."""
    import pyarrow.compute as pac

    head = arr.slice(0, _SAMPLE)
    return pac.count_distinct(head, mode="all").as_py() * 2 <= len(head)


def _via_dictionary(arr: Any, convert: Callable[[Any], list[Any]]) -> list[Any]:
    """`convert` of an array, computed once per distinct value (null one of them): equal
    values come out as one shared object (a date, a datetime, a text), which saves both the
    conversions and the memory of a column of repeated values."""
    import numpy as np

    enc = arr.dictionary_encode(null_encoding="encode")
    mapped = np.empty(len(enc.dictionary), dtype=object)
    mapped[:] = convert(enc.dictionary)
    ix = fastread.np_values(enc.indices, f"i{enc.indices.type.bit_width // 8}")
    return mapped[ix].tolist()


def _filled(v: Any) -> bool:
    """An extra column's cell holds something (kept in Record.extra)."""
    return v is not None and v != "" and not (type(v) is str and not v.strip(_WS))


def _table(idx: int, columns: dict[str, int], extras: dict[str, int], lang: str, dups: list[str],
           schema: SheetSchema, sheet_name: str, date1904: bool, path: Path, required_columns: bool,
           early: tuple[tuple[str, ...], ColumnsHook] | None, column: Callable[[int], list[Any]],
           typed: Callable[[Field, int], list[Any] | None] | None = None) -> tuple[Table, str, list[tuple[str, dict]]]:
    """The table from a located header and a source of columns (data rows below it)."""
    notes: list[tuple[str, dict]] = []
    if idx < 0:
        raise CrmError(f"工作表 '{sheet_name}' 找不到表头 / sheet '{sheet_name}' of {path.name} has no "
                       f"recognisable header row (expected e.g. {', '.join(schema.headers('zh')[:4])})")
    if required_columns:
        missing = [f for f in schema.fields if f.required and f.key not in columns]
        if missing:
            names = ", ".join(f"{f.zh}/{f.en}" for f in missing)
            raise CrmError(f"工作表 '{sheet_name}' 缺少必填列 / sheet '{sheet_name}' of {path.name} "
                           f"lacks required column(s): {names}")
    for d in dups:
        notes.append(("column.duplicate", {"header": d, "row": idx + 1}))
    table = Table(schema=schema, sheet_name=sheet_name, columns=columns, header_row=idx + 1,
                  extra_columns=dict(extras))
    raws: dict[int, dict[str, Any]] = {}
    problems: dict[int, dict[str, str]] = {}
    converted: dict[str, list[Any]] = {}

    def convert(f: Field) -> None:
        col = typed(f, columns[f.key]) if typed is not None else None
        if col is None:
            col = _convert_column(f, column(columns[f.key]), date1904, raws, problems)
        converted[f.key] = col

    present = [f for f in schema.fields if f.key in columns]
    wanted = early[0] if early is not None else ()
    for f in present:  # the hook's fields first, then the hook, then the rest
        if f.key in wanted:
            convert(f)
    if early is not None:
        early[1](lang, idx + 2, {k: converted[k] for k in wanted if k in converted})
    for f in present:
        if f.key not in wanted:
            convert(f)
    keys = [f.key for f in schema.fields if f.key in converted]  # values keep schema order
    cols = [converted.pop(k) for k in keys]
    extra_cols = [(h, column(ci)) for h, ci in extras.items()]
    extra_cols = [(h, col) for h, col in extra_cols if any(map(_filled, col))]
    records = table.records
    nkeys = len(keys)
    has_end = "end" in columns
    first = idx + 2
    if cols and not extra_cols and not raws:  # the common case, lean: same Records
        n = len(cols[0])
        if any(len(c) != n for c in cols):  # (checked once here, not by a strict zip per row)
            raise ValueError("columns of unequal length")
        blank = (None,) * nkeys
        records.extend([Record(r, dict(zip(keys, vals, strict=False)), {}, {}, {})
                        for r, vals in zip(range(first, first + n), zip(*cols, strict=False), strict=False)
                        if vals != blank])
        return table, lang, notes
    for i, vals in enumerate(zip(*cols, strict=True) if cols else ()):
        extra = {}
        for h, col in extra_cols:
            v = col[i]
            if _filled(v):
                extra[h] = v
        if vals.count(None) == nkeys and not extra and i not in raws:
            continue
        values = dict(zip(keys, vals, strict=True))
        raw = raws.get(i, {})
        end = raw.pop("__end__", None) if raw else None
        if end is not None and (not has_end or values.get("end") is None):
            values["end"] = end
        records.append(Record(first + i, values, raw, problems.get(i) or {}, extra))
    return table, lang, notes


# ---- small sheets ---------------------------------------------------------------------


def read_lists(rows: list[list[Any]]) -> dict[str, list[str]]:
    lists = {k: list(v) for k, v in DEFAULT_LISTS.items()}
    if not rows:
        return lists
    names = {norm_header(zh): k for k, (zh, _) in LIST_COLUMNS.items()}
    names.update({norm_header(en): k for k, (_, en) in LIST_COLUMNS.items()})
    names.update({norm_header(k): k for k in LIST_COLUMNS})
    cols = {names[norm_header(c)]: i for i, c in enumerate(rows[0]) if not is_blank(c) and norm_header(c) in names}
    for key, ci in cols.items():
        if key in COMPUTED_LISTS:
            continue
        vals = []
        for row in rows[1:]:
            v = row[ci] if ci < len(row) else None
            if not is_blank(v):
                vals.append(coerce.halfwidth(coerce.to_text(v)))
        lists[key] = vals
    lists["staff"] = list(dict.fromkeys([*lists.get("owners", []), *lists.get("service", [])]))
    return lists


def read_settings(rows: list[list[Any]], lang: str) -> tuple[dict[str, int], list[Finding]]:
    settings = default_settings()
    notes: list[Finding] = []
    names = {}
    for s in SETTINGS:
        for text in (s.key, s.zh, s.en):
            names[norm_header(text)] = s
    for ri, row in enumerate(rows):
        if len(row) < 2 or is_blank(row[0]):
            continue
        spec = names.get(norm_header(row[0]))
        if spec is None:
            continue
        value = row[1]
        try:
            n = coerce.parse_int(value)
            if n < spec.minimum:
                raise ValueError(n)
            settings[spec.key] = n
        except (ValueError, TypeError):
            notes.append(make("settings.invalid", lang, sheet=SHEET_SETTINGS, row=ri + 1, column="B",
                              name=spec.zh if lang == "zh" else spec.en, value=coerce.to_text(value),
                              default=spec.default))
    return settings, notes


def read_meta(rows: list[list[Any]]) -> dict[str, str]:
    return {coerce.to_text(r[0]): coerce.to_text(r[1]) for r in rows
            if len(r) >= 2 and not is_blank(r[0]) and not is_blank(r[1])}


def read_not_duplicates(rows: list[list[Any]], date1904: bool, path: Path) -> list[tuple[str, str]]:
    if not rows:
        return []
    try:
        table, _, _ = read_table(rows, NOT_DUPLICATES, "NotDuplicates", date1904, path)
    except CrmError:
        return []
    pairs = []
    for r in table.records:
        a, b = r.values.get("customer_id_a"), r.values.get("customer_id_b")
        if a and b:
            pairs.append((a, b))
    return pairs


def _date1904(path: Path, data: bytes | None) -> bool:
    """Whether the workbook uses the 1904 date system (workbookPr date1904)."""
    import io
    import re
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(data) if data is not None else path) as z:
            name = next((n for n in z.namelist() if n.replace("\\", "/").endswith("xl/workbook.xml")), None)
            if name is None:
                return False
            with z.open(name) as f:
                head = f.read(8192).decode("utf-8", "replace")
        m = re.search(r'date1904\s*=\s*"(1|true)"', head)
        return bool(m)
    except (zipfile.BadZipFile, OSError, KeyError):
        return False


# ---- the workbook ------------------------------------------------------------------------


CustomersHook = Callable[[str, int, list[tuple[str, str]], int, dict[str, list[Any]]], None]


def load(path: str | Path, *, data: bytes | None = None,
         on_customers: tuple[tuple[str, ...], CustomersHook] | None = None) -> Workbook:
    """Read a CRM master workbook. Raises CrmError (one clear line) when it cannot be read.

    `data` lets a caller pass decrypted bytes (encrypted views and masters).
    `on_customers` = (field keys, hook): the hook gets (language, duplicate threshold,
    NotDuplicates pairs, first data row, converted customer columns of those keys) as soon
    as they exist, so the duplicate scan can start in another process during the read.
    """
    p = Path(path)
    if data is None:
        check_xlsx(p)
    cwb = open_calamine(p, data)
    try:
        with paused_gc():
            return _load(cwb, p, data, on_customers)
    finally:
        cwb.close()


def _load(cwb: pc.CalamineWorkbook, p: Path, data: bytes | None,
          on_customers: tuple[tuple[str, ...], CustomersHook] | None = None) -> Workbook:
    names = list(cwb.sheet_names)
    if not names:
        raise CrmError(f"工作簿中没有工作表 / {p.name} has no sheets")
    sheets, ambiguous, meta = sheet_map(cwb, p)
    for needed in (CUSTOMERS.name, FOLLOWUPS.name):
        if needed not in sheets:
            zh = CUSTOMERS.zh if needed == CUSTOMERS.name else FOLLOWUPS.zh
            raise CrmError(f"缺少工作表 '{needed}'（{zh}）/ {p.name} has no '{needed}' sheet "
                           f"(sheets: {', '.join(names)})")
    date1904 = _date1904(p, data)
    # The follow-up sheet is parsed on a second thread from the start (calamine and
    # fastexcel release the GIL while they parse), so its parse overlaps reading the small
    # sheets and reading and converting the customer sheet. Each data sheet is read by
    # columns (fastread) when that gives calamine's values for certain, else with calamine.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pending = pool.submit(_read_data_sheet, p, data, sheets["Followups"], date1904)
        try:
            # The small sheets first: the duplicate scan needs Settings and NotDuplicates.
            lists = read_lists(read_sheet_rows(cwb, sheets[SHEET_LISTS], p)) if SHEET_LISTS in sheets else \
                {k: list(v) for k, v in DEFAULT_LISTS.items()}
            settings_rows = read_sheet_rows(cwb, sheets[SHEET_SETTINGS], p) if SHEET_SETTINGS in sheets \
                else None
            nd = (read_not_duplicates(read_sheet_rows(cwb, sheets["NotDuplicates"], p), date1904, p)
                  if "NotDuplicates" in sheets else [])
            early = None
            if on_customers is not None:
                keys, hook = on_customers
                th_settings, _ = read_settings(settings_rows, "zh") if settings_rows is not None else \
                    (default_settings(), [])
                threshold = th_settings["duplicate_threshold"]
                early = (keys, lambda lang, first_row, cols: hook(lang, threshold, nd, first_row, cols))
            c_src = _read_data_sheet(p, data, sheets["Customers"], date1904, cwb)
            cust, lang, c_notes = _table_from(c_src, CUSTOMERS, sheets["Customers"], date1904, p, data,
                                              early, cwb)
            del c_src
        except BaseException:
            pending.cancel()
            raise
        f_src = pending.result()
        del pending  # the future would keep the raw rows alive after conversion
        fol, _, f_notes = _table_from(f_src, FOLLOWUPS, sheets["Followups"], date1904, p, data, None,
                                    None)
        del f_src
    settings, s_notes = (read_settings(settings_rows, lang) if settings_rows is not None
                         else (default_settings(), []))
    problems: list[Finding] = list(s_notes)
    for canon, chosen, other in ambiguous:
        problems.append(make("sheet.ambiguous", lang, sheet=canon, row=None, tab=other, used=chosen,
                             kind=canon))
    for table, notes in ((cust, c_notes), (fol, f_notes)):
        for code, params in notes:
            problems.append(make(code, lang, sheet=table.schema.name, row=params.pop("row"), **params))
    return Workbook(path=p, lang=lang, customers=cust, followups=fol, lists=lists, settings=settings,
                    meta=meta, not_duplicates=nd, sheet_names=names, problems=problems)


def _read_own_handle(p: Path, data: bytes | None, name: str) -> list[list[Any]]:
    """Rows of one sheet through a handle of its own (a calamine handle is not shareable)."""
    cwb = open_calamine(p, data, checked=True)
    try:
        return read_sheet_rows(cwb, name, p)
    finally:
        cwb.close()


def _read_data_sheet(p: Path, data: bytes | None, name: str, date1904: bool,
                     cwb: pc.CalamineWorkbook | None = None) -> fastread.FastSheet | list[list[Any]]:
    """A data sheet by columns when fastread can, else its calamine rows."""
    fs = fastread.read_columns(p, data, name, date1904=date1904)
    if fs is not None:
        return fs
    return read_sheet_rows(cwb, name, p) if cwb is not None else _read_own_handle(p, data, name)


def _table_from(src: fastread.FastSheet | list[list[Any]], schema: SheetSchema, name: str, date1904: bool,
                p: Path, data: bytes | None, early: tuple[tuple[str, ...], ColumnsHook] | None,
                cwb: pc.CalamineWorkbook | None) -> tuple[Table, str, list[tuple[str, dict]]]:
    if isinstance(src, fastread.FastSheet):
        done = read_table_fast(src, schema, name, date1904, p, early=early)
        if done is not None:
            return done
        src = read_sheet_rows(cwb, name, p) if cwb is not None else _read_own_handle(p, data, name)
    return read_table(src, schema, name, date1904, p, early=early)


def read_raw(path: str | Path, sheet: str | None = None) -> dict[str, list[list[Any]]]:
    """Every sheet (or one) of any xlsx as rows of values, after the same safety checks."""
    p = Path(path)
    check_xlsx(p)
    cwb = open_calamine(p)
    try:
        if sheet and sheet not in cwb.sheet_names:  # a stable key ('Customers') for its tab
            tab = sheet_map(cwb, p)[0].get(sheet)
            if tab is not None:
                return {sheet: read_sheet_rows(cwb, tab, p)}
        names = [sheet] if sheet else list(cwb.sheet_names)
        if not names:
            raise CrmError(f"工作簿中没有工作表 / {p.name} has no sheets")
        return {n: read_sheet_rows(cwb, n, p) for n in names}
    finally:
        cwb.close()
