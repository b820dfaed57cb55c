"""Read a data sheet column by column (fastexcel, Arrow) with the values python-calamine gives.

`read_columns(path, data, tab)` parses one sheet into typed Arrow columns in about half
the time of calamine's per-cell Python objects. It answers None -- the caller reads the
sheet with calamine as before -- whenever the columns might not be exactly what
`reader.read_sheet_rows` would have given:

- a column mixing cell types (fastexcel's strict mode refuses it), or a column of a type
  other than text / number / date-time / boolean / empty;
- a header row fastexcel renamed (a duplicate header) or that is not the first row
  holding a value, or whose cells are not all text (a number used as a header);
- a workbook in the 1904 date system, an .xls/.ods file, or anything fastexcel cannot open.

Values: text is str, numbers float, booleans bool, a date-time at midnight a `date` and
any other a `datetime` (as calamine gives them); an empty cell is None where calamine
gives '' (every converter in `reader` treats both alike).
Set CRM_FASTREAD=0 to always answer None (the calamine path).

`read_columns(..., columns=pick)` reads only the columns whose header text `pick` accepts
(the header row is still whole): a column not read is neither converted nor type-checked,
so a column mixing types elsewhere does not send the sheet to calamine.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_STRINGLIKE = (b"s", b"inlineStr", b"str")
_CELL_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?c(?=[\s/>])([^>]*?)(/?)>")
_REF_RE = re.compile(rb'\sr="([A-Z]{1,3})(\d{1,7})"')
_TYPE_RE = re.compile(rb'\st="([A-Za-z]+)"')
_ROW_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?row(?=[\s/>])")
_END_ROW_RE = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?row>")
_END_CELL_RE = re.compile(rb"</(?:[A-Za-z_][\w.-]*:)?c>")
_VALUE_RE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?v>[^<]")
_DUP_RE = re.compile(r"^(.*)_(\d+)$")
_GENERATED_RE = re.compile(r"^__UNNAMED__\d+$")  # fastexcel's name for a blank header cell


def enabled() -> bool:
    return os.environ.get("CRM_FASTREAD", "1") != "0"


@dataclass
class FastSheet:
    """One sheet read by columns.

    `header_row`: the Excel row (1-based) of the header; `header`: that row's cells from
    column A (a list like calamine's row: '' where blank); `columns`: absolute column
    index -> Arrow array of the data rows below the header (row i is Excel row
    header_row + 1 + i); `n_rows`: their number; `selected`: None when every column was
    read, else the indexes of the columns read (`read_columns(columns=...)`)."""

    header_row: int
    header: list[Any]
    columns: dict[int, Any] = field(default_factory=dict)
    n_rows: int = 0
    selected: frozenset[int] | None = None

    def values(self, ci: int) -> list[Any]:
        """Column `ci`'s data as Python values equal to calamine's (None for empty);
        KeyError for a column the selection left out (its cells are unknown)."""
        arr = self.columns.get(ci)
        if arr is None:
            if self.selected is not None and ci not in self.selected:
                raise KeyError(ci)
            return [None] * self.n_rows
        return to_values(arr)


def to_values(arr: Any) -> list[Any]:
    import pyarrow as pa

    if pa.types.is_timestamp(arr.type):
        vals = stamps(arr).tolist()
        midnight = dt.time(0, 0)
        return [v.date() if v is not None and v.time() == midnight else v for v in vals]
    return arr.to_pylist()


# Arrow -> numpy without `Array.to_numpy` (or `fill_null`, or a Python -> Arrow scalar):
# those import pandas through pyarrow's pandas shim, ~0.2-0.5 s a run otherwise unspent.


def np_values(arr: Any, dtype: Any) -> Any:
    """The value buffer of a primitive Arrow array as numpy (no copy; read-only; the slots
    of nulls hold anything)."""
    import numpy as np

    t = np.dtype(dtype)
    if not len(arr):
        return np.empty(0, dtype=t)
    return np.frombuffer(arr.buffers()[1], dtype=t, count=len(arr), offset=arr.offset * t.itemsize)


def null_indices(arr: Any) -> list[int]:
    """Positions of the nulls of an Arrow array."""
    import pyarrow.compute as pac

    return pac.indices_nonzero(arr.is_null()).to_pylist() if arr.null_count else []


def stamps(arr: Any) -> Any:
    """A timestamp array as numpy datetime64 of its unit, NaT for nulls: what
    `arr.to_numpy(zero_copy_only=False)` gives (its `tolist()`: datetimes, None)."""
    x = np_values(arr, "int64").view(f"datetime64[{arr.type.unit}]")
    if arr.null_count:
        x = x.copy()
        x[null_indices(arr)] = None  # NaT
    return x


def open_reader(path: Path, data: bytes | None = None) -> Any | None:
    """A fastexcel reader on the file (or decrypted bytes); None when the fast path is off
    or the file is not an xlsx fastexcel can open."""
    if not enabled():
        return None
    try:
        import fastexcel
    except ImportError:  # pragma: no cover - fastexcel is a dependency
        return None
    logging.getLogger("fastexcel").setLevel(logging.ERROR)  # "falling back to string" notes
    try:
        if data is not None:
            if not data.startswith(b"PK"):
                return None
            return fastexcel.read_excel(data)
        with open(path, "rb") as f:
            if f.read(2) != b"PK":
                return None
        return fastexcel.read_excel(str(path))
    except Exception:
        return None


def _sheet_part(z: zipfile.ZipFile, tab: str) -> str | None:
    from .safezip import _sheet_names

    parts = [part for part, name in _sheet_names(z).items() if name == tab]
    if len(parts) != 1:
        return None
    names = {n.replace("\\", "/").lstrip("/"): n for n in z.namelist()}
    return names.get(parts[0])


def _col_index(letters: bytes) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + ch - 64
    return n - 1


def header_cells(path: Path, data: bytes | None, tab: str) -> tuple[int, dict[int, bool]] | None:
    """(Excel row, {column index: is text}) of the first row holding a value in the sheet,
    read from the start of its XML; None when unsure (cells placed by position, a valued
    cell before the first full row, an odd first cell)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data) if data is not None else path) as z:
            part = _sheet_part(z, tab)
            if part is None:
                return None
            buf = b""
            with z.open(part) as f:
                start = -1
                while True:
                    chunk = f.read(256 * 1024)
                    buf += chunk
                    if start < 0:
                        m = re.search(rb"<(?:[A-Za-z_][\w.-]*:)?sheetData[\s>]", buf)
                        if m:
                            start = m.start()
                    if start >= 0:
                        found = _first_valued_row(buf[start:])
                        if found is not None or not chunk:
                            return found if found else None
                    if not chunk or len(buf) > 64 * 1024 * 1024:
                        return None
    except (zipfile.BadZipFile, OSError, ValueError, EOFError):
        return None


def _first_valued_row(xml: bytes) -> tuple[int, dict[int, bool]] | bool | None:
    """The first row element with a value cell, if complete in `xml`; None = need more;
    False = unsure."""
    pos = 0
    while True:
        rm = _ROW_RE.search(xml, pos)
        if rm is None:
            return None
        end = _END_ROW_RE.search(xml, rm.end())
        tag_end = xml.find(b">", rm.end())
        if tag_end < 0:
            return None
        if xml[tag_end - 1 : tag_end] == b"/":  # <row .../>: no cells
            pos = tag_end + 1
            continue
        if end is None:
            return None
        body = xml[tag_end + 1 : end.start()]
        cells: dict[int, bool] = {}
        row_no = None
        for cm in _CELL_RE.finditer(body):
            attrs = b" " + cm.group(1)
            ref = _REF_RE.search(attrs)
            if ref is None:
                return False
            if cm.group(2):  # <c r=".." s=".."/>: formatting only, calamine skips it
                continue
            close = _END_CELL_RE.search(body, cm.end())
            inner = body[cm.end() : close.start() if close else len(body)]
            t = _TYPE_RE.search(attrs)
            ctype = t.group(1) if t else b"n"
            if not (_VALUE_RE.search(inner) or b"<is" in inner):
                if b"<v" in inner or b":v" in inner:
                    return False  # an empty value element: unsure whether calamine counts it
                continue  # a formula without a cached value: calamine leaves it empty
            r = int(ref.group(2))
            if row_no is None:
                row_no = r
            elif r != row_no:
                return False
            cells[_col_index(ref.group(1))] = ctype in _STRINGLIKE
        if cells:
            return row_no, cells
        pos = end.end()


def read_columns(
    path: str | Path,
    data: bytes | None,
    tab: str,
    *,
    reader: Any | None = None,
    date1904: bool = False,
    columns: Callable[[str], bool] | None = None,
) -> FastSheet | None:
    """The sheet `tab` read by columns, or None: read it with calamine instead.

    `columns`: read only the columns whose header text it accepts (None: all).
    The caller has run the safety checks (`safezip.check_xlsx`/`check_extents`) first."""
    if date1904 or not enabled():
        return None
    p = Path(path)
    rd = reader if reader is not None else open_reader(p, data)
    if rd is None:
        return None
    head = header_cells(p, data, tab)
    if head is None:
        return None
    row_no, cells = head
    if not all(cells.values()):
        return None
    if columns is not None:
        return _read_some(rd, tab, row_no, cells, columns)
    if EAGER:
        got = _read_eager(rd, tab, row_no, cells)
        if got is not _UNSURE:
            return got
    try:
        sheet = rd.load_sheet(tab, header_row=0, dtype_coercion="strict", schema_sample_rows=None)
        info = sheet.available_columns()
        table = sheet.to_arrow()
    except Exception:  # a column mixing types (strict), a damaged sheet...: calamine decides
        return None
    if table.num_columns != len(info):
        return None
    provided = {c.name for c in info if str(c.column_name_from).lower().endswith("looked_up")}
    header: dict[int, str] = {}
    for c in info:
        generated = str(c.column_name_from).lower().endswith("generated")
        if generated:
            if c.absolute_index in cells:  # a text header fastexcel did not take as a name
                return None
            continue
        if c.absolute_index not in cells:
            return None
        m = _DUP_RE.match(c.name)
        if m and m.group(1) in provided:
            return None  # maybe a duplicate fastexcel renamed: calamine keeps both texts
        header[c.absolute_index] = c.name
    if set(header) != set(cells):  # every text cell of the row is a column's name
        return None
    arrays = _arrays(info, table)
    if arrays is None:
        return None
    return FastSheet(
        header_row=row_no, header=_header_row(header, arrays), columns=arrays, n_rows=table.num_rows
    )


# The whole sheet is read eagerly (fastexcel builds the Arrow batch straight from the
# parsed cells and frees them before returning): ~0.1-0.15 s less CPU per 100k-row sheet than
# load_sheet + to_arrow, and the parsed cells are not alive beside the arrays. False: the
# lazy read (kept: tests compare the two).
EAGER = True


_UNSURE: Any = object()


def _read_eager(rd: Any, tab: str, row_no: int, cells: dict[int, bool]) -> Any:
    """`read_columns` of every column, eagerly, or `_UNSURE`: the eager read says only each
    column's name (not how it was named), so when a name might not be the header cell's
    text (it looks generated, or like a renamed duplicate) the lazy read decides."""
    info: list[Any] = []

    def use(c: Any) -> bool:
        info.append(c)
        return True

    try:
        table = rd.load_sheet(
            tab,
            header_row=0,
            dtype_coercion="strict",
            schema_sample_rows=None,
            use_columns=use,
            eager=True,
        )
    except Exception:  # a column mixing types (strict), a damaged sheet...: calamine decides
        return None
    if table.num_columns != len(info) or [c.name for c in info] != table.schema.names:
        return _UNSURE
    header = _certain_names({c.absolute_index: c.name for c in info}, cells)
    if header is None:
        return _UNSURE
    arrays = _arrays(info, table)
    if arrays is None:
        return None
    return FastSheet(
        header_row=row_no, header=_header_row(header, arrays), columns=arrays, n_rows=table.num_rows
    )


def _certain_names(names: dict[int, str], cells: dict[int, bool]) -> dict[int, str] | None:
    """Column index -> header text from fastexcel's column names, when each is certainly the
    text of the header cell: blank cells have generated names, every text cell a name of
    its own that is not generated-looking nor maybe a renamed duplicate ('X_1' beside 'X');
    else None."""
    header: dict[int, str] = {}
    taken = set(names.values())
    for ci, name in names.items():
        generated = bool(_GENERATED_RE.match(name))
        if ci not in cells:
            if not generated:
                return None
            continue
        m = _DUP_RE.match(name)
        if generated or (m and m.group(1) in taken):
            return None
        header[ci] = name
    if set(header) != set(cells):
        return None
    return header


def _arrays(info: list[Any], table: Any) -> dict[int, Any] | None:
    """Absolute column index -> Arrow array; None if a column's type is not one calamine's
    values map to for certain."""
    import pyarrow as pa

    columns: dict[int, Any] = {}
    for c, col in zip(info, table.columns, strict=True):
        arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
        t = arr.type
        if not (
            pa.types.is_string(t)
            or pa.types.is_large_string(t)
            or pa.types.is_float64(t)
            or pa.types.is_boolean(t)
            or pa.types.is_null(t)
            or (pa.types.is_timestamp(t) and t.tz is None)
        ):
            return None
        columns[c.absolute_index] = arr
    return columns


def _header_row(header: dict[int, str], columns: dict[int, Any]) -> list[Any]:
    width = max([*header, *columns], default=-1) + 1
    row: list[Any] = [""] * width
    for ci, text in header.items():
        row[ci] = text
    return row


def _read_some(
    rd: Any, tab: str, row_no: int, cells: dict[int, bool], pick: Callable[[str], bool]
) -> FastSheet | None:
    """`read_columns` of the columns `pick` accepts. fastexcel's callable sees every
    column's name (not how it was named), so a name is taken as the header cell's text only
    when that is certain: a blank cell's generated name, a text that looks generated, or a
    name that may be a renamed duplicate ('X_1' beside 'X') answer None."""
    names: dict[int, str] = {}

    def use(c: Any) -> bool:
        names[c.absolute_index] = c.name
        return bool(pick(c.name))

    try:
        sheet = rd.load_sheet(
            tab, header_row=0, dtype_coercion="strict", schema_sample_rows=None, use_columns=use
        )
        chosen = sheet.selected_columns
        height = sheet.height
        table = sheet.to_arrow() if chosen else None
    except Exception:  # a chosen column mixing types (strict), a damaged sheet...
        return None
    if table is None or table.num_columns != len(chosen) or table.num_rows != height:
        return None
    header = _certain_names(names, cells)
    if header is None:
        return None
    arrays = _arrays(chosen, table)
    if arrays is None:
        return None
    return FastSheet(
        header_row=row_no,
        header=_header_row(header, arrays),
        columns=arrays,
        n_rows=table.num_rows,
        selected=frozenset(arrays),
    )
