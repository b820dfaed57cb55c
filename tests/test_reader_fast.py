"""reader.load's column conversion and fastread's eager read, against the code they replace.

- `reader._convert_arrow` (pandas-free, empty columns skipped, choices encoded with None as
  a value) gives what the previous code (kept below as `_old_convert_arrow`, commit
  68d0256) gave, and what the per-cell Python path gives, on odd literals;
- `fastread.to_values` likewise against its previous code;
- the eager whole-sheet read (`fastread.EAGER`) gives the same FastSheet as the lazy one on
  every workbook of test_fastread and on headers the eager read cannot name for certain;
- `reader.load` does not import pandas.
"""

from __future__ import annotations

import datetime as dt
import inspect
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import test_fastread as tf
from helpers import customer, followup, make_master

from crm_sheets import fastread, reader
from crm_sheets.schema import CUSTOMERS, FOLLOWUPS, Kind

ROOT = Path(__file__).resolve().parents[1]


def _old_convert_arrow(f: Any, fs: fastread.FastSheet, ci: int) -> list[Any] | None:
    """reader._convert_arrow as it was at 68d0256 (imports pandas through fill_null/to_numpy)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pac

    arr = fs.columns.get(ci)
    if arr is None or pa.types.is_null(arr.type):
        return [None] * fs.n_rows
    t = arr.type
    kind = f.kind
    if pa.types.is_string(t) and kind in reader._CHANGED:
        out = arr.to_pylist()
        odd = pac.match_substring_regex(arr, reader._CHANGED[kind])
        if odd.true_count:
            conv = reader._text if kind is Kind.TEXT else reader._code
            for i in pac.indices_nonzero(odd.fill_null(False)).to_pylist():
                out[i] = conv(out[i])
        return out
    if pa.types.is_string(t) and kind is Kind.CHOICE:
        enc = arr.dictionary_encode()
        distinct = enc.dictionary.to_pylist()
        mapped = np.empty(len(distinct) + 1, dtype=object)
        mapped[:] = [*map(reader._choice, distinct), None]
        return mapped[enc.indices.fill_null(len(distinct)).to_numpy(zero_copy_only=False)].tolist()
    if pa.types.is_timestamp(t):
        if kind is Kind.DATETIME:
            return arr.to_numpy(zero_copy_only=False).tolist()
        if kind is Kind.DATE:
            return pac.cast(arr, pa.date32()).to_numpy(zero_copy_only=False).tolist()
        return None
    if pa.types.is_float64(t) and kind in (Kind.NUMBER, Kind.INT):
        x = arr.to_numpy(zero_copy_only=False)
        valid = ~arr.is_null().to_numpy(zero_copy_only=False)
        v = x[valid]
        if not np.isfinite(v).all() or (np.abs(v) >= 2.0**53).any():
            return None
        whole = np.floor(x) == x
        if kind is Kind.INT and not whole[valid].all():
            return None
        out_arr = x.astype(object)
        if whole.any():
            out_arr[whole] = x[whole].astype(np.int64).astype(object)
        if arr.null_count:
            out_arr[~valid] = None
        return out_arr.tolist()
    return None


def _old_to_values(arr: Any) -> list[Any]:
    import pyarrow as pa

    if pa.types.is_timestamp(arr.type):
        vals = arr.to_numpy(zero_copy_only=False).tolist()
        midnight = dt.time(0, 0)
        return [v.date() if v is not None and v.time() == midnight else v for v in vals]
    return arr.to_pylist()


STAMPS = [
    dt.datetime(1899, 12, 30, 14),
    dt.datetime(1899, 12, 30, 0, 0),
    dt.datetime(1900, 1, 1, 23, 59, 59),
    None,
    dt.datetime(1969, 12, 31, 23, 59, 59, 999000),
    dt.datetime(1970, 1, 1),
    dt.datetime(2024, 3, 15),
    dt.datetime(2024, 3, 15, 9, 30, 0, 500000),
    dt.datetime(9999, 12, 31, 23, 59),
]
CHOICES = [*tf.STRANGE, "it", "IT", " it ", "信息技术", "ｉｔ", "Ｂ２Ｂ", " b2b", "意向 "]
CASES = [
    ("name", tf.STRANGE, "string"),
    ("customer_id", tf.STRANGE, "string"),
    ("name", tf.STRANGE * 4, "string"),  # repeated: converted once per distinct value
    ("customer_id", [*tf.STRANGE, None] * 4, "string"),
    ("content", [*tf.STRANGE, "跟进内容"] * 300, "string"),  # repeated past the sample
    ("name", [f"名称{i}" for i in range(5000)] + tf.STRANGE * 2, "string"),  # distinct head
    ("first_contact", STAMPS * 3, "timestamp"),
    ("updated_at", [None, *STAMPS] * 3, "timestamp"),
    ("phone", ["１３８００１３８０００", " 138 0013 8000 ", None, "+86-138", ""], "string"),
    ("industry", CHOICES * 3, "string"),
    ("stage", [None, None, "意向", None], "string"),
    ("stage", ["意向", "意向"], "string"),
    ("industry", [None, None, None], "string"),  # an empty column typed as text
    ("first_contact", [None, None], "string"),  # ... a date column fastexcel typed as text
    ("updated_at", [None, None, None], "timestamp"),
    ("employees", [None, None], "double"),
    ("notes", [None, None], "null"),
    ("employees", [None, None], "null"),
    ("first_contact", ["2024-03-15", "２０２４－０３－１５", None, "x"], "string"),
    ("employees", ["12", " 3 ", None, "十"], "string"),
    ("employees", [1.0, 2.0, None, -0.0, 3e15, -7.0], "double"),
    ("employees", [1.0, 2.5, None], "double"),
    ("annual_revenue", [1.0, 2.5, None, -0.0, 1e-9, -7.25, 123456789.0], "double"),
    ("annual_revenue", [1.0, float("nan"), None], "double"),
    ("annual_revenue", [9.007199254740993e15, 1.0], "double"),
    ("first_contact", STAMPS, "timestamp"),
    ("updated_at", STAMPS, "timestamp"),
    ("name", STAMPS, "timestamp"),  # a date-time column under a text field: declined
    ("lost_reason", [True, False, None], "bool"),
]


def _array(values: list[Any], pa_type: str, sliced: bool) -> Any:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "double": pa.float64(),
        "timestamp": pa.timestamp("ms"),
        "null": pa.null(),
        "bool": pa.bool_(),
    }
    if not sliced:
        return pa.array(values, types[pa_type])
    pad = [values[0], values[-1]]  # an array at an offset (a slice shares the buffers)
    return pa.array([*pad, *values, *pad], types[pa_type]).slice(2, len(values))


@pytest.mark.parametrize("sliced", [False, True])
@pytest.mark.parametrize(("key", "values", "pa_type"), CASES)
def test_convert_arrow_equals_old_and_python(
    key: str, values: list[Any], pa_type: str, sliced: bool
) -> None:
    arr = _array(values, pa_type, sliced)
    fs = fastread.FastSheet(header_row=1, header=["x"], columns={0: arr}, n_rows=len(values))
    f = next(f for f in [*CUSTOMERS.fields, *FOLLOWUPS.fields] if f.key == key)
    raws: dict = {}
    problems: dict = {}
    python = reader._convert_column(f, fs.values(0), False, raws, problems)
    old = _old_convert_arrow(f, fs, 0)
    new = reader._convert_arrow(f, fs, 0)
    if new is None:  # declined: the caller converts the Python values
        assert old is None
        return
    assert not raws and not problems
    assert repr(new) == repr(python)
    if old is not None:
        assert repr(new) == repr(old)
    else:  # only an empty column of a type the old code passed to Python
        assert all(v is None for v in values)


@pytest.mark.parametrize("sliced", [False, True])
@pytest.mark.parametrize(
    ("values", "pa_type"),
    [
        (STAMPS, "timestamp"),
        ([None, None], "timestamp"),
        (tf.STRANGE, "string"),
        ([1.0, None, 2.5], "double"),
        ([None], "null"),
    ],
)
def test_to_values_equals_old(values: list[Any], pa_type: str, sliced: bool) -> None:
    arr = _array(values, pa_type, sliced)
    assert repr(fastread.to_values(arr)) == repr(_old_to_values(arr))


def test_repeated_values_are_shared() -> None:
    import pyarrow as pa

    arr = pa.array(["  a  ", "b", "  a  ", None, "b"] * 3, pa.string())
    fs = fastread.FastSheet(header_row=1, header=["x"], columns={0: arr}, n_rows=len(arr))
    f = next(f for f in CUSTOMERS.fields if f.key == "name")
    got = reader._convert_arrow(f, fs, 0)
    assert got == ["a", "b", "a", None, "b"] * 3
    assert got[0] is got[2] and got[1] is got[4]


def test_np_values_empty_array() -> None:
    import pyarrow as pa

    arr = pa.array([dt.datetime(2024, 1, 1)], pa.timestamp("ms")).slice(1, 0)
    assert fastread.to_values(arr) == []
    assert len(fastread.np_values(pa.array([], pa.float64()), "float64")) == 0


def _same_sheet(a: fastread.FastSheet | None, b: fastread.FastSheet | None) -> None:
    assert (a is None) == (b is None)
    if a is None or b is None:
        return
    assert (a.header_row, a.header, a.n_rows, a.selected) == (
        b.header_row,
        b.header,
        b.n_rows,
        b.selected,
    )
    assert list(a.columns) == list(b.columns)
    for ci in a.columns:
        assert a.columns[ci].type == b.columns[ci].type, ci
        assert a.columns[ci].equals(b.columns[ci]), ci
        assert repr(a.values(ci)) == repr(b.values(ci))


def _eager_equals_lazy(path: Path, tabs: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CRM_FASTREAD", "1")
    for tab in tabs:
        monkeypatch.setattr(fastread, "EAGER", True)
        eager = fastread.read_columns(path, None, tab)
        monkeypatch.setattr(fastread, "EAGER", False)
        lazy = fastread.read_columns(path, None, tab)
        monkeypatch.setattr(fastread, "EAGER", True)
        _same_sheet(eager, lazy)


_WITH_BOTH = sorted(
    name
    for name, fn in vars(tf).items()
    if name.startswith("test_") and callable(fn) and "_both(" in inspect.getsource(fn)
)


@pytest.mark.parametrize("name", _WITH_BOTH)
def test_eager_equals_lazy_on_fastread_books(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every workbook test_fastread checks (fast vs calamine) reads the same eagerly and
    lazily; then its own check runs (on the eager read)."""
    original = tf._both
    seen: list[Path] = []

    def both(path: Path, mp: pytest.MonkeyPatch, *, fast: dict[str, bool]) -> None:
        seen.append(path)
        _eager_equals_lazy(path, fast, mp)
        original(path, mp, fast=fast)

    monkeypatch.setattr(tf, "_both", both)
    fn = getattr(tf, name)
    params = inspect.signature(fn).parameters
    if "tmp_path" not in params or "monkeypatch" not in params:
        pytest.skip("parametrized elsewhere")
    fn(tmp_path=tmp_path, monkeypatch=monkeypatch)
    assert seen


@pytest.mark.parametrize(
    "head",
    [
        ["__UNNAMED__3"],  # a text that looks like a blank cell's generated name
        ["备注", "备注_1"],  # 'X_1' beside 'X': maybe renamed
        ["备注_1", "备注"],
        ["__UNNAMED__0_1"],
        ["x_2"],
    ],
)
def test_eager_unsure_names_read_lazily(
    head: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = tf._rows(CUSTOMERS, [customer(), customer(customer_id="C20240315009")])
    rows[0] += head
    rows[1] += [f"v{i}" for i in range(len(head))]
    rows[2] += [None] * len(head)
    fol = tf._rows(FOLLOWUPS, [tf._fol_plain(1)])
    fol[0] += [None, *head]
    fol[1] += ["under a blank header", *[dt.datetime(2024, 1, 1)] * len(head)]
    path = tf._raw_book(tmp_path / "names.xlsx", {"客户": (0, 0, rows), "跟进记录": (1, 2, fol)})
    _eager_equals_lazy(path, ["客户", "跟进记录"], monkeypatch)
    monkeypatch.setenv("CRM_FASTREAD", "0")
    slow = reader.load(path)
    monkeypatch.setenv("CRM_FASTREAD", "1")
    assert tf._snap(reader.load(path)) == tf._snap(slow)


def test_empty_and_odd_columns_load_as_calamine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Empty columns of every kind, a choice column mostly blank, full-width codes and
    dates typed as text: the fast load equals the calamine load, findings too."""
    custs = [
        customer(
            customer_id=f"Ｃ20240315{i:03d}" if i % 2 else f"C20240315{i:03d}",
            industry=None if i % 3 else " ｉｔ ",
            stage="意向" if i == 4 else None,
            first_contact=None,
            employees=None,
            annual_revenue=None,
            notes=None,
            email=None,
            last_followup="2024-03-15 14:00" if i == 2 else None,
            next_followup_date="２０２４－０３－１５" if i == 3 else None,
        )
        for i in range(8)
    ]
    fols = [
        followup(followup_id=f"F20240320{i:04d}", next_date=None, end=None, next_action=None)
        for i in range(5)
    ]
    path = make_master(tmp_path / "empty.xlsx", customers=custs, followups=fols)
    tf._both(path, monkeypatch, fast={"客户": True, "跟进记录": True})


def test_load_does_not_import_pandas(tmp_path: Path) -> None:
    path = make_master(
        tmp_path / "m.xlsx",
        customers=[customer(), customer(customer_id="C20240315002", stage=None)],
        followups=[followup(end=None)],
    )
    code = (
        "import sys\n"
        "from crm_sheets import fastread, reader\n"
        f"wb = reader.load({str(path)!r})\n"
        "assert fastread.read_columns("
        f"{str(path)!r}, None, wb.customers.sheet_name) is not None\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"
