"""Fast reads of a master workbook for queries and dashboards (the CLI uses these).

`reader.load` builds every cell of every row; a query needs every column only of
the rows it selects, and a dashboard only a dozen columns. Both functions here use the
reader's own header detection and cell converters (same values, same row numbers),
but convert only what is needed:

- `load_for_query`: the value filters run on the converted filter columns first; only
  matching rows go through `reader.read_table`; follow-ups contribute just their
  customer and date (the latest contact per customer).
- `load_for_dashboard`: the columns the charts use, for all rows of both sheets.

Both data sheets are read by columns (`fastread`, Arrow) when that gives calamine's values
for certain -- the dashboard and the follow-ups of a query only the columns they use --
else with calamine as before (CRM_FASTREAD=0 forces calamine).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, MutableSequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from . import fastread, reader
from .charts_data import Columns
from .errors import CrmError
from .gcpause import paused_gc
from .i18n import t
from .model import Record, Table, Workbook, default_settings
from .query import VALUE_FILTERS, Filters, resolve_values
from .schema import (
    CUSTOMERS,
    DEFAULT_LISTS,
    FOLLOWUPS,
    SHEET_LISTS,
    SHEET_SETTINGS,
    Kind,
    SheetSchema,
)

DASHBOARD_CUSTOMER_KEYS = ("customer_id", "name", "industry", "province", "source", "stage",
                           "expected_amount", "status", "first_contact", "owner", "customer_type")
DASHBOARD_FOLLOWUP_KEYS = ("customer_id", "start", "end", "owner", "stage_after", "recorded_at",
                           "next_date", "next_action")
QUERY_FOLLOWUP_KEYS = ("customer_id", "start")
_DATA_SCHEMAS = {CUSTOMERS.name: CUSTOMERS, FOLLOWUPS.name: FOLLOWUPS}


class _Master:
    """An opened master: calamine handle, canonical sheet names, date system."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        if not self.path.exists():
            raise CrmError(t(f"{self.path} 不存在", f"{self.path} does not exist"))
        reader.check_xlsx(self.path)
        self.cwb = reader.open_calamine(self.path)
        names = list(self.cwb.sheet_names)
        self.names = names
        self.sheets = reader.sheet_map(self.cwb, self.path)[0]
        for needed, zh in ((CUSTOMERS.name, CUSTOMERS.zh), (FOLLOWUPS.name, FOLLOWUPS.zh)):
            if needed not in self.sheets:
                raise CrmError(f"缺少工作表 '{needed}'（{zh}）/ {self.path.name} has no '{needed}' "
                               f"sheet (sheets: {', '.join(names)})")
        self.date1904 = reader._date1904(self.path, None)
        self._ahead: dict[str, Future] = {}
        self._pool: ThreadPoolExecutor | None = None

    def prefetch(self, canon: str, keys: Iterable[str] | None = None) -> None:
        """Read a data sheet on a second thread meanwhile (fastexcel and calamine release
        the GIL while they parse; a handle of its own on the file already checked):
        `grid(canon)` takes it."""
        if canon in self._ahead or canon not in self.sheets:
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1)
        self._ahead[canon] = self._pool.submit(self._read_grid, canon, keys, True)

    def rows(self, canon: str) -> list[list[Any]]:
        """A sheet's cells as calamine reads them."""
        return reader.read_sheet_rows(self.cwb, self.sheets[canon], self.path)

    def grid(self, canon: str, keys: Iterable[str] | None = None) -> Grid:
        """A data sheet's cells: by columns (only the columns of these field `keys`, None =
        all) when fastread gives calamine's values for certain, else calamine's rows."""
        ahead = self._ahead.pop(canon, None)
        if ahead is not None:
            return ahead.result()
        return self._read_grid(canon, keys, False)

    def _read_grid(self, canon: str, keys: Iterable[str] | None, own: bool) -> Grid:
        name = self.sheets[canon]
        schema = _DATA_SCHEMAS.get(canon)
        if schema is not None:
            g = ColumnGrid.read(self, name, schema, keys)
            if g is not None:
                return g
        if not own:
            return Grid(self.rows(canon))
        cwb = reader.open_calamine(self.path, checked=True)
        try:
            return Grid(reader.read_sheet_rows(cwb, name, self.path))
        finally:
            cwb.close()

    def lists(self) -> dict[str, list[str]]:
        if SHEET_LISTS not in self.sheets:
            return {k: list(v) for k, v in DEFAULT_LISTS.items()}
        return reader.read_lists(self.rows(SHEET_LISTS))

    def settings(self, lang: str) -> dict[str, int]:
        if SHEET_SETTINGS not in self.sheets:
            return default_settings()
        return reader.read_settings(self.rows(SHEET_SETTINGS), lang)[0]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._ahead.clear()
        self.cwb.close()


class Grid:
    """A sheet's cells as calamine reads them, from A1: by row (`row`, `head`) or by
    column (`column`). Backed by calamine's rows; a column read can stand in for it."""

    def __init__(self, rows: list[list[Any]]) -> None:
        self.rows = rows

    def __len__(self) -> int:
        return len(self.rows)

    def head(self, n: int) -> list[list[Any]]:
        return self.rows[:n]

    def row(self, i: int) -> list[Any]:
        return self.rows[i]

    def column(self, ci: int, start: int) -> list[Any]:
        """The values of column `ci` from row index `start` down (None past a short row)."""
        return [r[ci] if ci < len(r) else None for r in self.rows[start:]]


class ColumnGrid(Grid):
    """A data sheet read by columns (`fastread.FastSheet`), standing in for calamine's rows.

    Made only when the header is certain: the first row holding a value, with enough known
    headers that `reader.find_header` stops there -- so `head` gives the rows down to the
    header (those above it empty) and the header is found where calamine's rows have it.
    `column` comes from the Arrow columns (None for an empty cell, where calamine has '':
    every converter treats both alike). `row` -- asked only of rows blank in every column
    read -- reads the other columns by columns too (`others`) on first use, or when they
    cannot be, calamine's rows (`rows`)."""

    def __init__(self, fs: fastread.FastSheet, calamine: Callable[[], list[list[Any]]],
                 others: Callable[[], fastread.FastSheet | None] | None = None) -> None:
        self.fs = fs
        self._calamine = calamine
        self._rows: list[list[Any]] | None = None
        self._read_others = others
        self._others: fastread.FastSheet | None = None
        self._all: dict[int, Any] | None = None

    @classmethod
    def read(cls, m: _Master, name: str, schema: SheetSchema,
             keys: Iterable[str] | None) -> ColumnGrid | None:
        """The sheet `name` by columns (those of the field `keys`, None = all), or None."""
        pick = None
        if keys is not None:
            wanted = set(keys)
            heads = {h for h, (k, _) in reader.header_lookup(schema).items() if k in wanted}

            def pick(text: str) -> bool:
                return reader.norm_header(text) in heads

        fs = fastread.read_columns(m.path, None, name, date1904=m.date1904, columns=pick)
        if fs is None or not _certain_header(fs, schema):
            return None
        others = None
        if pick is not None:
            taken = pick

            def others() -> fastread.FastSheet | None:
                return fastread.read_columns(m.path, None, name, date1904=m.date1904,
                                             columns=lambda text: not taken(text))

        return cls(fs, lambda: reader.read_sheet_rows(m.cwb, name, m.path), others)

    @property
    def rows(self) -> list[list[Any]]:  # type: ignore[override]
        """calamine's rows of the sheet (read on first use)."""
        if self._rows is None:
            self._rows = self._calamine()
        return self._rows

    def _whole(self) -> dict[int, Any] | None:
        """Every column of the sheet read by columns: this read's, and the columns it left
        out read once more (when that can be: the same header and rows); None = use
        calamine."""
        if self._all is not None:
            return self._all
        fs = self.fs
        if fs.selected is None:
            self._all = fs.columns
            return self._all
        if self._read_others is not None:
            self._others = self._read_others()
            self._read_others = None
            o = self._others
            def text(h: list[Any]) -> list[Any]:  # (each read's width ends at its columns)
                n = len(h)
                while n and h[n - 1] == "":
                    n -= 1
                return h[:n]

            if o is not None and not (text(o.header) == text(fs.header)
                                      and o.header_row == fs.header_row and o.n_rows == fs.n_rows
                                      and o.selected is not None and not (o.selected & fs.selected)):
                self._others = None
            if self._others is not None:
                self._all = {**fs.columns, **self._others.columns}
        return self._all

    def __len__(self) -> int:
        return self.fs.header_row + self.fs.n_rows

    def head(self, n: int) -> list[list[Any]]:
        """The first `n` rows down to the header (the header is certain: nothing below it
        is needed to find it)."""
        above = self.fs.header_row - 1
        return [[] for _ in range(min(n, above))] + ([self.fs.header] if n > above else [])

    def row(self, i: int) -> list[Any]:
        if self._rows is None and (cols := self._whole()) is not None:
            fs = self.fs
            j = i - fs.header_row
            if j < 0:
                return [] if i < fs.header_row - 1 else list(fs.header)
            if j >= fs.n_rows:
                return []
            width = max(len(fs.header), max(cols, default=-1) + 1)
            return [_arrow_values(cols[ci].slice(j, 1))[0] if ci in cols else None
                    for ci in range(width)]
        rows = self.rows
        return rows[i] if i < len(rows) else []  # a row calamine has not: no value in it

    def column(self, ci: int, start: int) -> list[Any]:
        fs = self.fs
        if fs.selected is not None and ci not in fs.selected:
            return Grid(self.rows).column(ci, start)
        arr = fs.columns.get(ci)
        data = [None] * fs.n_rows if arr is None else _arrow_values(arr)
        if start < fs.header_row:
            head = [None] * (fs.header_row - 1 - start)
            head.append(fs.header[ci] if ci < len(fs.header) else None)
            return head + data
        return data[start - fs.header_row :]

    def converted(self, ci: int, kind: Kind) -> list[Any] | None:
        """Column `ci`'s data converted for a field of `kind` on the Arrow array, when that
        gives `reader.column_converter(kind)`'s values with nothing that fails to convert;
        None = convert the values one by one (`_arrow_converted`)."""
        fs = self.fs
        if fs.selected is not None and ci not in fs.selected:
            return None
        arr = fs.columns.get(ci)
        return [None] * fs.n_rows if arr is None else _arrow_converted(arr, kind)

    def taken(self, index: list[int]) -> ColumnGrid:
        """The data rows at `index` (in that order) below the same header."""
        import numpy as np
        import pyarrow as pa

        ix = pa.Array.from_buffers(pa.int64(), len(index),
                                   [None, pa.py_buffer(np.asarray(index, dtype=np.int64))])
        fs = self.fs
        sub = fastread.FastSheet(header_row=fs.header_row, header=fs.header,
                                 columns={ci: a.take(ix) for ci, a in fs.columns.items()},
                                 n_rows=len(index), selected=fs.selected)
        return ColumnGrid(sub, lambda: [])

    def python_rows(self) -> list[list[Any]]:
        """calamine-like rows of a sheet read whole: those above the header empty, then the
        header, then the data rows (None for an empty cell, where calamine has '')."""
        fs = self.fs
        if fs.selected is not None:
            raise ValueError("not every column was read")
        width = max(len(fs.header), max(fs.columns, default=-1) + 1)
        cols = [_arrow_values(fs.columns[ci]) if ci in fs.columns else [None] * fs.n_rows
                for ci in range(width)]
        above: list[list[Any]] = [[] for _ in range(fs.header_row - 1)]
        return above + [list(fs.header)] + [list(r) for r in zip(*cols, strict=True)]


# Arrow -> Python without `Array.to_numpy` or Python -> Arrow conversions: those import
# pandas (pyarrow's pandas shim), half a second a report does not otherwise spend.


def _np(arr: Any, dtype: Any) -> Any:
    """The value buffer of a primitive Arrow array as a numpy array (no copy; the slots of
    nulls hold anything)."""
    import numpy as np

    dt_ = np.dtype(dtype)
    return np.frombuffer(arr.buffers()[1], dtype=dt_, count=len(arr), offset=arr.offset * dt_.itemsize)


def _nulls(arr: Any) -> list[int]:
    import pyarrow.compute as pac

    return pac.indices_nonzero(arr.is_null()).to_pylist() if arr.null_count else []


def _stamps(arr: Any) -> Any:
    """A timestamp array as numpy datetime64 (datetimes from `tolist`), NaT for nulls
    (None from `tolist`)."""
    unit = arr.type.unit
    x = _np(arr, "int64").view(f"datetime64[{unit}]")
    if unit == "ns":
        x = x.astype("datetime64[us]")
    if arr.null_count:
        x = x.copy()
        x[_nulls(arr)] = None  # NaT
    return x


def _arrow_values(arr: Any) -> list[Any]:
    """`fastread.to_values`: the column's values as calamine gives them (a midnight
    date-time a date; None for empty)."""
    import pyarrow as pa

    if not pa.types.is_timestamp(arr.type):
        return arr.to_pylist()
    midnight = dt.time(0, 0)
    return [v.date() if v is not None and v.time() == midnight else v
            for v in _stamps(arr).tolist()]


def _arrow_converted(arr: Any, kind: Kind) -> list[Any] | None:
    """`_column` of an Arrow column (reader's converter for `kind`, blank -> None) where the
    array's type makes that certain and no value fails to convert; else None. The same
    computations as `reader._convert_arrow`, pandas-free."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pac

    t = arr.type
    if pa.types.is_null(t):
        return [None] * len(arr)
    if pa.types.is_string(t) and kind in (Kind.TEXT, Kind.CODE):
        # only strings _text/_code could change go through them (reader._CHANGED)
        out = arr.to_pylist()
        odd = pac.match_substring_regex(arr, reader._CHANGED[kind])
        if odd.true_count:
            conv = reader._text if kind is Kind.TEXT else reader._code
            for i in pac.indices_nonzero(odd).to_pylist():
                out[i] = conv(out[i])
        return out
    if pa.types.is_string(t) and kind is Kind.CHOICE:  # each distinct value once
        enc = arr.dictionary_encode()
        mapped = np.empty(len(enc.dictionary) + 1, dtype=object)
        mapped[:] = [*map(reader._choice, enc.dictionary.to_pylist()), None]
        ix = _np(enc.indices, f"i{enc.indices.type.bit_width // 8}").astype(np.intp)
        if enc.indices.null_count:
            ix[_nulls(enc.indices)] = len(mapped) - 1
        return mapped[ix].tolist()
    if pa.types.is_timestamp(t) and kind in (Kind.DATETIME, Kind.DATE):
        x = _stamps(arr)
        return (x if kind is Kind.DATETIME else x.astype("datetime64[D]")).tolist()
    if pa.types.is_float64(t) and kind in (Kind.NUMBER, Kind.INT):
        x = _np(arr, np.float64)
        valid = np.ones(len(x), dtype=bool)
        nulls = _nulls(arr)
        valid[nulls] = False
        v = x[valid]
        if not np.isfinite(v).all() or (np.abs(v) >= 2.0**53).any():
            return None
        whole = valid & (np.floor(x) == x)
        if kind is Kind.INT and not whole[valid].all():
            return None
        obj = x.astype(object)
        if whole.any():
            obj[whole] = x[whole].astype(np.int64).astype(object)
        out = obj.tolist()
        for i in nulls:
            out[i] = None
        return out
    return None


def _certain_header(fs: fastread.FastSheet, schema: SheetSchema) -> bool:
    """`reader.find_header` stops at the FastSheet's header row (the first row holding a
    value): within the rows it scans, with enough known headers (as `read_table_fast`)."""
    if fs.header_row > reader.HEADER_SCAN_ROWS:
        return False
    lookup = reader.header_lookup(schema)
    hits = len({lookup[h][0] for c in fs.header
                if not reader.is_blank(c) and (h := reader.norm_header(c)) in lookup})
    return hits >= max(3, len(schema.fields) // 2)


def _header(rows: Grid, schema: SheetSchema, sheet: str, path: Path) -> tuple[int, dict[str, int], str]:
    idx, columns, _extras, lang, _dups = reader.find_header(rows.head(reader.HEADER_SCAN_ROWS),
                                                            schema)
    if idx < 0:
        raise CrmError(f"工作表 '{sheet}' 找不到表头 / sheet '{sheet}' of {path.name} has no "
                       f"recognisable header row")
    return idx, columns, lang


def _column(rows: Grid, start: int, ci: int | None, conv: Any,
            kind: Kind | None = None, *, field_kind: Kind | None = None) -> list[Any]:
    """Converted values of one column (None for blanks and for values that do not convert).

    Datetimes and dates already typed by calamine skip the converter where that gives the
    same value; text is converted once per distinct value. `field_kind`: the kind `conv`
    converts for; a column read by columns is then converted on its Arrow array where
    that gives the same values (`ColumnGrid.converted`).
    """
    if ci is None:
        return [None] * (len(rows) - start)
    if field_kind is not None and isinstance(rows, ColumnGrid) and start == rows.fs.header_row:
        done = rows.converted(ci, field_kind)
        if done is not None:
            return done
    DT, D = dt.datetime, dt.date  # noqa: N806
    cache: dict[Any, Any] = {}
    out = []
    append = out.append
    for v in rows.column(ci, start):
        t = type(v)
        if t is DT:  # as coerce.parse_datetime_range / parse_date treat typed values
            append(v if kind is Kind.DATETIME else v.date() if kind is Kind.DATE else conv(v))
            continue
        if t is D and kind is Kind.DATE:
            append(v)
            continue
        try:
            c = cache[v]
        except KeyError:
            c = conv(v)
            if type(c) is reader.Bad:
                c = None
            elif type(c) is tuple:  # a "start-end" range: the start
                c = c[0]
            cache[v] = c
        append(c)
    return out


def _last_contacts(m: _Master, ids: set[str] | None, today: dt.date | None) -> dict[str, dt.date]:
    rows = m.grid(FOLLOWUPS.name, QUERY_FOLLOWUP_KEYS)
    idx, columns, _ = _header(rows, FOLLOWUPS, m.sheets[FOLLOWUPS.name], m.path)
    if "customer_id" not in columns or "start" not in columns:
        return {}
    fk = FOLLOWUPS.by_key
    ckind = fk["customer_id"].kind
    cids = _column(rows, idx + 1, columns["customer_id"], reader.column_converter(ckind, m.date1904),
                   field_kind=ckind)
    pick = [i for i, c in enumerate(cids) if c is not None and (ids is None or c in ids)]
    kind = fk["start"].kind
    conv = reader.column_converter(kind, m.date1904)
    if isinstance(rows, ColumnGrid):
        # one Arrow type per column (no True == 1 == 1.0 of different types): converting
        # only the rows of the selected customers gives each the value converting all would
        starts = _column(rows.taken(pick), idx + 1, columns["start"], conv, kind, field_kind=kind)
    elif len(set(map(type, raw := rows.column(columns["start"], idx + 1)))
             & {bool, int, float}) <= 1:
        # no two equal values of different types (True == 1 == 1.0): converting only the
        # rows of the selected customers gives each the value converting all would
        starts = _column(Grid([[raw[i]] for i in pick]), 0, 0, conv, kind)
    else:
        every = _column(rows, idx + 1, columns["start"], conv, kind)
        starts = [every[i] for i in pick]
    out: dict[str, dt.date] = {}
    for cid, s in zip([cids[i] for i in pick], starts, strict=True):
        if s is None:
            continue
        d = s.date() if isinstance(s, dt.datetime) else s
        if not isinstance(d, dt.date) or (today is not None and d > today):
            continue
        cur = out.get(cid)
        if cur is None or d > cur:
            out[cid] = d
    return out


def load_for_query(path: str | Path, filters: Filters, *,
                   today: dt.date | None = None) -> tuple[Workbook, Filters, dict[str, dt.date]]:
    """The workbook with only the customers the value filters can select (full rows, true
    Excel row numbers), the filters resolved against the whole sheet, and each selected
    customer's latest follow-up date."""
    m = _Master(Path(path))
    try:
        m.prefetch(FOLLOWUPS.name, QUERY_FOLLOWUP_KEYS)
        rows = m.grid(CUSTOMERS.name)  # every column: the selected rows are read whole
        sheet = m.sheets[CUSTOMERS.name]
        idx, columns, lang = _header(rows, CUSTOMERS, sheet, m.path)
        lists = m.lists()
        # resolve filter values against Lists + every value in the column, then pre-select
        keep: list[int] | None = None
        domains: dict[str, list[str]] = {}
        col_values: dict[str, list[Any]] = {}
        for attr, key in VALUE_FILTERS:
            if not getattr(filters, attr):
                continue
            kind = CUSTOMERS.field(key).kind
            col = _column(rows, idx + 1, columns.get(key),
                          reader.column_converter(kind, m.date1904), kind, field_kind=kind)
            col_values[key] = col
            domains[key] = [str(v) for v in dict.fromkeys(col) if v is not None and v != ""]
        filters = resolve_values(filters, lists, domains)
        from .query import value_checks

        checks = value_checks(filters)
        if checks:
            # each distinct value checked once: the rows whose value passes every check
            keep = list(range(len(rows) - idx - 1))
            for key, match in checks:
                col = col_values[key]
                good = {v for v in dict.fromkeys(col) if match(v)}
                keep = [i for i in keep if col[i] in good]
        got = None
        if isinstance(rows, ColumnGrid):
            if keep is None:  # every row: converted on the Arrow columns
                got = reader.read_table_fast(rows.fs, CUSTOMERS, sheet, m.date1904, m.path)
            else:  # the selected rows' values as calamine gives them (pandas-free)
                got = reader.read_table(rows.taken(keep).python_rows(), CUSTOMERS, sheet,
                                        m.date1904, m.path)
            if got is None:  # (not expected: the header is certain) calamine's rows
                rows = Grid(rows.rows)
        if got is None:
            if keep is None:
                sub = [rows.row(i) for i in range(len(rows))]
            else:
                sub = rows.head(idx + 1) + [rows.row(idx + 1 + i) for i in keep]
            got = reader.read_table(sub, CUSTOMERS, sheet, m.date1904, m.path)
        table, _lang, _notes = got
        if keep is not None:
            for rec in table.records:
                rec.row = idx + 2 + keep[rec.row - idx - 2]
        ids = {r.values.get("customer_id") for r in table.records if r.values.get("customer_id")}
        last = _last_contacts(m, ids, today)
        for r in table.records:  # the Customers column counts too (engine-maintained)
            d = r.values.get("last_followup")
            d = d.date() if isinstance(d, dt.datetime) else d
            cid = r.values.get("customer_id")
            if isinstance(d, dt.date) and cid and (today is None or d <= today) \
                    and (cid not in last or d > last[cid]):
                last[cid] = d
        settings = m.settings(lang)
    finally:
        m.close()
    wb = Workbook(path=m.path, lang=lang, customers=table,
                  followups=Table(schema=FOLLOWUPS, sheet_name=FOLLOWUPS.name, columns={},
                                  header_row=1),
                  lists=lists, settings=settings, sheet_names=m.names)
    return wb, filters, last


def _projected(m: _Master, schema: SheetSchema, keys: Iterable[str]) -> tuple[Table, str]:
    keys = list(keys)
    rows = m.grid(schema.name, keys)
    sheet = m.sheets[schema.name]
    idx, columns, lang = _header(rows, schema, sheet, m.path)
    keys = [k for k in keys if k in columns]
    kinds = [schema.field(k).kind for k in keys]
    cols = [_column(rows, idx + 1, columns[k], reader.column_converter(kd, m.date1904), kd,
                    field_kind=kd)
            for k, kd in zip(keys, kinds, strict=True)]
    table = Table(schema=schema, sheet_name=sheet, columns={k: columns[k] for k in keys},
                  header_row=idx + 1)
    recs = table.records
    nkeys = len(keys)
    base = idx + 2
    for i, vals in enumerate(zip(*cols, strict=True) if cols else ()):
        if vals.count(None) == nkeys and not any(not reader.is_blank(c)
                                                 for c in rows.row(idx + 1 + i)):
            continue
        recs.append(Record(base + i, dict(zip(keys, vals, strict=True))))
    return table, lang


class ColumnRecords(MutableSequence):
    """A sheet's records kept as the columns they were read as. The dashboard's figures
    read the columns (`unread_columns`); anything else that uses the records gets Record
    objects, built on first use (and from then on the columns are no longer offered)."""

    def __init__(self, rows: list[int], cols: Columns) -> None:
        self._rows = rows
        self._cols = cols
        self._records: list[Record] | None = None

    def unread_columns(self) -> Columns | None:
        """The columns, while no Record has been built (nothing could have changed)."""
        return self._cols if self._records is None else None

    def _list(self) -> list[Record]:
        if self._records is None:
            keys = list(self._cols.cols)
            cols = [self._cols.cols[k] for k in keys]
            self._records = [Record(row, dict(zip(keys, vals, strict=True)))
                             for row, *vals in zip(self._rows, *cols, strict=True)]
        return self._records

    def __len__(self) -> int:
        return len(self._rows) if self._records is None else len(self._records)

    def __iter__(self) -> Iterator[Record]:
        return iter(self._list())

    def __getitem__(self, i: Any) -> Any:
        return self._list()[i]

    def __setitem__(self, i: Any, value: Any) -> None:
        self._list()[i] = value

    def __delitem__(self, i: Any) -> None:
        del self._list()[i]

    def insert(self, i: int, value: Record) -> None:
        self._list().insert(i, value)

    def sort(self, *args: Any, **kwargs: Any) -> None:
        self._list().sort(*args, **kwargs)

    def __eq__(self, other: object) -> bool:
        return self._list() == (list(other) if isinstance(other, ColumnRecords) else other)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"ColumnRecords({len(self)} rows)"


def _projected_columns(m: _Master, schema: SheetSchema, keys: Iterable[str]) -> tuple[Table, str]:
    """As `_projected`, the records kept as columns (ColumnRecords): the same rows, row
    numbers and values."""
    keys = list(keys)
    rows = m.grid(schema.name, keys)
    sheet = m.sheets[schema.name]
    idx, columns, lang = _header(rows, schema, sheet, m.path)
    keys = [k for k in keys if k in columns]
    kinds = [schema.field(k).kind for k in keys]
    cols = [_column(rows, idx + 1, columns[k], reader.column_converter(kd, m.date1904), kd,
                    field_kind=kd)
            for k, kd in zip(keys, kinds, strict=True)]
    n = len(rows) - idx - 1 if cols else 0  # (no column: no record, as in `_projected`)
    # a row with none of these values is left out when every cell of it is blank
    empty = list(range(n))
    for col in cols:
        empty = [i for i in empty if col[i] is None]
        if not empty:
            break
    drop = {i for i in empty if not any(not reader.is_blank(c) for c in rows.row(idx + 1 + i))}
    base = idx + 2
    if drop:
        index = [i for i in range(n) if i not in drop]
        cols = [[col[i] for i in index] for col in cols]
        numbers = [base + i for i in index]
    else:
        numbers = list(range(base, base + n))
    table = Table(schema=schema, sheet_name=sheet, columns={k: columns[k] for k in keys},
                  header_row=idx + 1)
    table.records = ColumnRecords(numbers, Columns(dict(zip(keys, cols, strict=True)),
                                                   len(numbers)))  # type: ignore[assignment]
    return table, lang


def load_for_dashboard(path: str | Path, *, columns: bool = True) -> Workbook:
    """The columns the dashboard uses, for every row of Customers and Followups.

    The records are kept as columns (`ColumnRecords`: the figures never build a Record);
    `columns=False` builds them as Records straight away (the same workbook)."""
    project = _projected_columns if columns else _projected
    m = _Master(Path(path))
    try:
        m.prefetch(FOLLOWUPS.name, DASHBOARD_FOLLOWUP_KEYS)
        with paused_gc():  # millions of small objects, no cycles (gcpause)
            customers, lang = project(m, CUSTOMERS, DASHBOARD_CUSTOMER_KEYS)
            followups, _ = project(m, FOLLOWUPS, DASHBOARD_FOLLOWUP_KEYS)
        lists = m.lists()
        settings = m.settings(lang)
    finally:
        m.close()
    return Workbook(path=m.path, lang=lang, customers=customers, followups=followups,
                    lists=lists, settings=settings, sheet_names=m.names)
