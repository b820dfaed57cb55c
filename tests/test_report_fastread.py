"""`crm query` and `crm dashboard` read by columns (fastread) give what calamine gives.

report_load reads the data sheets with fastexcel (only the columns a report uses, where
it can) and converts them on Arrow. Every test here runs both paths -- CRM_FASTREAD=0
(calamine, cell by cell) and the column read -- and compares the dashboards of every
audience, every query of test_reports_exact (each role) and the records and values the
loaders return, by type as well as value (3 and 3.0, a date and a midnight datetime,
True and 1 differ). Odd literals: a column mixing types (in a column the report reads and
in one it does not), dates and date-times (midnight, before 1970, text), numbers stored as
text, blank and odd header cells, a header below row 1 and data from column B, rows with
values only in columns a report does not read, error cells, a 1904-date workbook, and the
demo master.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import customer, followup, make_master
from test_fastread import ODD_TEXT, STRANGE, _odd_customers, _raw_book, _rows
from test_reports_exact import FILTERS, TODAY, _dash, _enc, record_cases

from crm_sheets import reader
from crm_sheets.query import Filters
from crm_sheets.report_load import (
    DASHBOARD_CUSTOMER_KEYS,
    DASHBOARD_FOLLOWUP_KEYS,
    QUERY_FOLLOWUP_KEYS,
    ColumnGrid,
    Grid,
    _arrow_converted,
    _arrow_values,
    _column,
    _header,
    _Master,
    load_for_dashboard,
    load_for_query,
)
from crm_sheets.schema import CUSTOMERS, FOLLOWUPS, Kind


def _r(obj: Any) -> str:
    """repr, with a value that did not convert (reader.Bad) shown by its contents."""
    if isinstance(obj, list):
        return "[" + ", ".join(map(_r, obj)) + "]"
    if isinstance(obj, reader.Bad):
        return f"Bad({obj.raw!r}, {obj.code!r})"
    return repr(obj)


def _typed(obj: Any) -> str:
    return json.dumps(_enc(obj), ensure_ascii=False, sort_keys=True, default=repr)


def _records(table: Any) -> list:
    return [(r.row, r.values, r.raw, r.problems, r.extra) for r in table.records]


def _everything(path: Path) -> str:
    """What the reports give on `path`: recorded cases (dashboards of every audience,
    queries for each role), the dashboard loader's records, and for each query the
    workbook, resolved filters and latest contacts `load_for_query` returns."""
    from crm_sheets.charts_data import build_dashboard

    out: dict[str, Any] = {"cases": record_cases(path)}
    wb = load_for_dashboard(path)
    out["dash_records"] = [_records(wb.customers), _records(wb.followups), wb.lang]
    out["dash_lists"] = [wb.lists, wb.settings, wb.sheet_names]
    out["dash"] = _dash(build_dashboard(wb, today=TODAY))
    flat = load_for_dashboard(path, columns=False)
    out["dash_flat"] = [_records(flat.customers), _records(flat.followups)]
    out["query"] = []
    for f in [*FILTERS, {"industry": "信息技术"}, {"stage": "意向", "owner": "李娜"}]:
        qwb, resolved, last = load_for_query(path, Filters.from_options(**f), today=TODAY)
        out["query"].append(
            [
                _records(qwb.customers),
                qwb.customers.columns,
                qwb.customers.extra_columns,
                qwb.customers.header_row,
                qwb.lang,
                qwb.settings,
                repr(resolved),
                last,
            ]
        )
    return _typed(out)


def _paths_taken(path: Path) -> tuple[bool, bool, bool, bool]:
    """Which grids are read by columns: customers (dashboard columns), follow-ups
    (dashboard columns), customers (every column, as a query reads them), follow-ups (the
    query's two columns)."""
    m = _Master(path)
    try:
        return (
            isinstance(m.grid(CUSTOMERS.name, DASHBOARD_CUSTOMER_KEYS), ColumnGrid),
            isinstance(m.grid(FOLLOWUPS.name, DASHBOARD_FOLLOWUP_KEYS), ColumnGrid),
            isinstance(m.grid(CUSTOMERS.name), ColumnGrid),
            isinstance(m.grid(FOLLOWUPS.name, QUERY_FOLLOWUP_KEYS), ColumnGrid),
        )
    finally:
        m.close()


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, fast: tuple[bool, bool, bool, bool]):
    """The reports agree on both paths; `fast` says which grids must be read by columns."""
    monkeypatch.setenv("CRM_FASTREAD", "0")
    assert _paths_taken(path) == (False, False, False, False)
    slow = _everything(path)
    monkeypatch.setenv("CRM_FASTREAD", "1")
    assert _paths_taken(path) == fast
    assert _everything(path) == slow


ALL_FAST = (True, True, True, True)


def test_demo_master(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_sheets.demo import build_demo

    master = build_demo(tmp_path / "demo", today=TODAY).master
    # the demo's follow-up starts mix text ('… 14:00-15:00') and date-times: calamine
    _both(master, monkeypatch, (True, False, True, False))


def _odd_followups() -> list[dict[str, Any]]:
    return [
        followup(
            followup_id=f"F20261120{i:04d}",
            customer_id=f"C2024031500{i:02d}" if i % 3 else f" ｃ2024031500{i:02d} ",
            content=t,
            next_action=t or None,
            start=dt.datetime(2026, 11, 20 - i % 5, 14, i) if i % 4 else dt.datetime(1965, 5, 1),
            end=None if i % 2 else dt.datetime(2026, 11, 20, 15, 0),
            next_date=dt.datetime(2026, 11, 27, 0, 0) if i % 2 else dt.date(2026, 11, 28),
            recorded_at=None if i % 5 == 1 else dt.datetime(2026, 11, 20, 16, i),
            stage_after=["意向", " 谈判 ", None, "成交", "ｉｔ"][i % 5],
            owner=["张伟", " 李娜 ", None][i % 3],
        )
        for i, t in enumerate(ODD_TEXT)
    ]


def _odd_fast_customers() -> list[dict[str, Any]]:
    rows = _odd_customers()
    for i, r in enumerate(rows):
        r["stage"] = ["意向", " 谈判 ", None, "成交", "流失", "线索"][i % 6]
        r["customer_type"] = ["意向客户", None, "成交客户", " 潜在客户 "][i % 4]
        r["expected_amount"] = [50.0, 12.5, None, 0.0, -3.0, 1e9][i % 6]
        r["owner"] = ["张伟", " 李娜 ", None][i % 3]
        r["province"] = ["广东", "北京市", None, " 上海 "][i % 4]
        r["source"] = ["展会推荐", "trade show", None][i % 3]
        r["status"] = [None, "休眠", "已合并", "正常"][i % 4]
        r["first_contact"] = [dt.date(2026, 3, 15), dt.datetime(1965, 5, 1, 9, 30), None][i % 3]
    return rows


def test_odd_values_read_by_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = make_master(
        tmp_path / "odd.xlsx", customers=_odd_fast_customers(), followups=_odd_followups()
    )
    _both(path, monkeypatch, ALL_FAST)


def test_text_dates_and_numbers_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [
        "2026-11-15",
        "2026/11/15 14:00",
        "2026年11月1日",
        "20261115",
        "不是日期",
        " 46000 ",
        "2026-11-15 14:00-15:00",
        "２０２６－１１－１５",
    ]
    custs = [
        customer(
            customer_id=f"C20240315{i:03d}",
            first_contact=t,
            expected_amount=["1,234.5", "３万", "x", "", "1e3", "-2", " 7 ", "NaN"][i],
            last_followup=t,
            industry=["制造业", "信息技术"][i % 2],
            customer_type="意向客户",
        )
        for i, t in enumerate(texts)
    ]
    fols = [
        followup(
            followup_id=f"F2024032000{i:02d}",
            customer_id=f"C20240315{i:03d}",
            start=t,
            end=t,
            next_date=t,
            recorded_at=t,
        )
        for i, t in enumerate(texts)
    ]
    path = make_master(tmp_path / "text.xlsx", customers=custs, followups=fols)
    _both(path, monkeypatch, ALL_FAST)


def test_mixed_type_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # customers: employees (no report reads it) and expected_amount (the dashboard reads it)
    # mix numbers and text; follow-ups: start (every report reads it) mixes text and a
    # date-time, content (none reads it) text and a number
    custs = [
        customer(customer_id="C20240315001", employees="十", expected_amount="十二"),
        customer(customer_id="C20240315002", industry="制造业"),
        customer(customer_id="C20240315003", first_contact="2024-03-15", customer_type=None),
    ]
    fols = [
        followup(start="2024-03-20 14:00", content=12),
        followup(followup_id="F202403200002", customer_id="C20240315002"),
    ]
    path = make_master(tmp_path / "mixed.xlsx", customers=custs, followups=fols)
    _both(path, monkeypatch, (False, False, False, False))
    # only the unread columns mix types: a column read checks only the columns it reads
    # (a query reads every customer column: calamine)
    custs[0]["expected_amount"] = 12
    custs[2]["first_contact"] = dt.date(2024, 3, 15)
    fols[0]["start"] = dt.datetime(2024, 3, 20, 14)
    path = make_master(tmp_path / "mixed2.xlsx", customers=custs, followups=fols)
    _both(path, monkeypatch, (True, True, False, True))


def _book(path: Path, sheets: dict[str, tuple[int, int, list[list[Any]]]], **options: Any) -> Path:
    """Sheets from literal rows at (row, column) offsets (None cells stay empty), with a
    Lists tab of two owners (no Settings tab: the reports use the defaults)."""
    return _raw_book(path, {**sheets, "列表": (0, 0, [["负责人"], ["张伟"], ["李娜"]])}, **options)


def _layout_sheets() -> dict[str, tuple[int, int, list[list[Any]]]]:
    custs = [
        customer(customer_id="C20240315001", industry="制造业", customer_type="意向客户"),
        None,  # a blank row
        customer(customer_id="C20240315002", name=" x ", stage="谈判"),
        {"notes": "只有备注"},  # a value only in a column no report reads
        customer(
            customer_id="C20240315003", employees=("=1/0", "#DIV/0!"), email=("=NA()", "#N/A")
        ),
        {"phone": "   "},  # whitespace only, in a column no report reads
        customer(customer_id="C20240315004", industry="制造业", customer_type="意向客户"),
        {"notes": "末行只有备注"},  # the last row: a value only in an unread column
    ]
    crow = _rows(
        CUSTOMERS,
        [None if c is None else {k: c.get(k) for k in c} for c in custs],
        {
            "自定义": ["a", None, " ", None, ("=1/0", "#DIV/0!"), None, "b", None],
            "空列": [None] * 8,
        },
    )
    crow[0].insert(3, None)  # a blank header cell with values under it
    for i, r in enumerate(crow[1:]):
        r.insert(3, f"无表头{i}" if i % 2 else None)
        r.append("尾列" if i % 3 == 0 else None)  # a column past the last header cell
    fols = [
        followup(followup_id="F202611200001", customer_id="C20240315001"),
        followup(followup_id="F202611200002", customer_id="C20240315004", content="   "),
        None,
        {"content": "只有内容"},
        followup(
            followup_id="F202611200003",
            customer_id="C20240315002",
            start=dt.datetime(2026, 11, 20),
            next_date=dt.datetime(2026, 11, 21, 0, 0),
        ),
    ]
    frow = _rows(FOLLOWUPS, [None if f is None else dict(f) for f in fols])
    return {"客户": (2, 1, crow), "跟进记录": (0, 3, frow)}


def test_layout_blank_rows_and_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _book(tmp_path / "layout.xlsx", _layout_sheets())
    _both(path, monkeypatch, ALL_FAST)


def test_1904_dates(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _book(tmp_path / "d1904.xlsx", _layout_sheets(), date_1904=True)
    _both(path, monkeypatch, (False, False, False, False))  # fastread declines 1904 books


def test_headers_fastexcel_might_have_renamed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a text that looks like fastexcel's name of a blank header cell, and 'X_1' beside 'X':
    # a partial column read cannot tell them from renamed columns, so it declines
    sheets = _layout_sheets()
    crow = sheets["客户"][2]
    crow[0][3] = "__UNNAMED__3"
    frow = sheets["跟进记录"][2]
    frow[0] += ["备注", "备注_1"]
    frow[1] += ["a", "b"]
    path = _book(tmp_path / "names.xlsx", sheets)
    _both(path, monkeypatch, (False, False, True, False))


def test_booleans_and_a_header_in_the_last_scanned_row(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    custs = [customer(customer_id=f"C2024031500{i}", notes=bool(i % 2)) for i in range(4)]
    custs[1]["expected_amount"] = True  # a boolean in a number column the dashboard reads
    custs[2]["expected_amount"] = None
    rows = _rows(CUSTOMERS, custs)
    frow = _rows(FOLLOWUPS, [followup(followup_id=f"F20240320000{i}") for i in range(3)])
    path = _book(tmp_path / "bool.xlsx", {"客户": (19, 0, rows), "跟进记录": (20, 0, frow)})
    # customers: expected_amount mixes numbers and booleans (calamine); follow-ups: the
    # header in row 21 is past the rows find_header scans (calamine finds no header)
    monkeypatch.setenv("CRM_FASTREAD", "1")
    with pytest.raises(Exception) as fast_err:
        _everything(path)
    monkeypatch.setenv("CRM_FASTREAD", "0")
    with pytest.raises(Exception) as slow_err:
        _everything(path)
    assert str(fast_err.value) == str(slow_err.value)
    frow = _rows(FOLLOWUPS, [followup(followup_id=f"F20240320000{i}") for i in range(3)])
    custs[1]["expected_amount"] = 7.0
    rows = _rows(CUSTOMERS, custs)
    path = _book(tmp_path / "bool2.xlsx", {"客户": (19, 0, rows), "跟进记录": (0, 0, frow)})
    _both(path, monkeypatch, ALL_FAST)


# ---------------------------------------------------------------- column by column


def _grids(path: Path, canon: str) -> tuple[Grid, Grid, int]:
    import os

    old = os.environ.get("CRM_FASTREAD")
    m = _Master(path)
    try:
        os.environ["CRM_FASTREAD"] = "1"
        fast = m.grid(canon)
        os.environ["CRM_FASTREAD"] = "0"
        slow = m.grid(canon)
    finally:
        m.close()
        if old is None:
            os.environ.pop("CRM_FASTREAD", None)
        else:
            os.environ["CRM_FASTREAD"] = old
    assert isinstance(fast, ColumnGrid) and not isinstance(slow, ColumnGrid)
    return fast, slow, len(fast.fs.header)


@pytest.mark.parametrize("which", ["odd", "layout"])
def test_every_column_as_every_kind(tmp_path: Path, which: str) -> None:
    """`_column` of a column read by columns equals `_column` of calamine's cells, for
    every column converted as every field kind (the Arrow conversions and the fallback)."""
    if which == "odd":
        path = make_master(
            tmp_path / "odd.xlsx", customers=_odd_fast_customers(), followups=_odd_followups()
        )
    else:
        path = _book(tmp_path / "layout.xlsx", _layout_sheets())
    for canon, schema in ((CUSTOMERS.name, CUSTOMERS), (FOLLOWUPS.name, FOLLOWUPS)):
        fast, slow, width = _grids(path, canon)
        idx, _cols, _ = _header(slow, schema, canon, path)
        assert _header(fast, schema, canon, path) == _header(slow, schema, canon, path)
        assert len(fast) == len(slow)
        for ci in range(width):
            want_raw = [None if v == "" else v for v in slow.column(ci, idx + 1)]
            assert repr(fast.column(ci, idx + 1)) == repr(want_raw)
            for kind in Kind:
                conv = reader.column_converter(kind, False)
                want = _column(slow, idx + 1, ci, conv, kind)
                got = _column(fast, idx + 1, ci, conv, kind, field_kind=kind)
                assert _r(got) == _r(want), (canon, ci, kind)
                got = _column(fast, idx + 1, ci, conv, field_kind=kind)
                assert _r(got) == _r(_column(slow, idx + 1, ci, conv)), (canon, ci, kind)
            pick = list(range(len(want_raw)))[::-2]
            sub = fast.taken(pick)
            assert repr(sub.column(ci, idx + 1)) == repr([want_raw[i] for i in pick])


@pytest.mark.parametrize(
    ("values", "pa_type"),
    [
        (STRANGE, "string"),
        ([*STRANGE, "it", "IT", " it ", "信息技术", "ｉｔ", "意向", " 成交 "] * 3, "string"),
        ([1.0, 2.5, None, -0.0, 3e15, -7.0], "double"),
        ([1.0, 2.0, None, -0.0, 3e15, -7.0, 9.007199254740993e15], "double"),
        ([1.0, 2.5, None, -0.0, 1e-9, -7.25, float("inf"), float("nan")], "double"),
        ([None, 4.0, 5.0, None], "double"),
        (
            [
                dt.datetime(1899, 12, 30, 14),
                dt.datetime(1965, 5, 1, 9, 30),
                dt.datetime(1969, 12, 31, 23, 59, 59),
                None,
                dt.datetime(2024, 3, 15),
                dt.datetime(2026, 11, 26, 0, 0, 0, 1000),
            ],
            "timestamp",
        ),
        ([dt.datetime(2024, 3, 15, 1), None, dt.datetime(1950, 1, 1)], "timestamp_ns"),
        ([None, None], "null"),
        ([True, False, None], "bool"),
    ],
)
def test_arrow_conversions_equal_python(values: list[Any], pa_type: str) -> None:
    """`_arrow_converted` / `_arrow_values` (pandas-free) against the Python converters
    on `fastread.to_values`, whole arrays and slices (an offset into the buffers)."""
    import pyarrow as pa

    from crm_sheets import fastread

    types = {
        "string": pa.string(),
        "double": pa.float64(),
        "timestamp": pa.timestamp("ms"),
        "timestamp_ns": pa.timestamp("ns"),
        "null": pa.null(),
        "bool": pa.bool_(),
    }
    whole = pa.array(values, types[pa_type])
    for arr in (whole, whole.slice(1), whole.slice(2, max(0, len(values) - 3))):
        # (fastread.to_values takes the ms of fastexcel's date-times)
        py = fastread.to_values(arr.cast(pa.timestamp("ms")) if pa_type == "timestamp_ns" else arr)
        assert repr(_arrow_values(arr)) == repr(py)
        for kind in Kind:
            conv = reader.column_converter(kind, False)
            want = _column(Grid([[v] for v in py]), 0, 0, conv, kind)
            got = _arrow_converted(arr, kind)
            if got is not None:
                assert _r(got) == _r(want), kind


def test_partial_read_holds_the_columns_of_a_whole_read(tmp_path: Path) -> None:
    from crm_sheets import fastread

    path = _book(tmp_path / "layout.xlsx", _layout_sheets())
    whole = fastread.read_columns(path, None, "客户")
    assert whole is not None and whole.selected is None
    names = {"客户编号", "*客户编号", "所属行业", "自定义"}
    part = fastread.read_columns(path, None, "客户", columns=lambda t: t in names)
    assert part is not None and part.selected
    n = len(part.header)  # (a header row ends at its last text or column read)
    assert part.header == whole.header[:n] and not any(whole.header[n:])
    assert part.header_row == whole.header_row
    assert part.n_rows == whole.n_rows
    assert set(part.columns) == part.selected
    assert {whole.header[ci] for ci in part.selected} <= names
    for ci in part.selected:
        assert part.columns[ci].equals(whole.columns[ci])
    other = next(ci for ci in whole.columns if ci not in part.selected)
    with pytest.raises(KeyError):
        part.values(other)
    assert fastread.read_columns(path, None, "客户", columns=lambda t: False) is None


def test_reports_do_not_import_pandas(tmp_path: Path) -> None:
    """The column read converts without `Array.to_numpy` (pyarrow imports pandas for it)."""
    path = make_master(
        tmp_path / "odd.xlsx", customers=_odd_fast_customers(), followups=_odd_followups()
    )
    code = f"""
import sys, datetime as dt
from pathlib import Path
from crm_sheets.charts_data import build_dashboard
from crm_sheets.cli.report_cmds import select
from crm_sheets.query import Filters
from crm_sheets.report_load import load_for_dashboard
p = Path({str(path)!r})
build_dashboard(load_for_dashboard(p), today=dt.date(2026, 11, 26))
select(p, Filters.from_options(industry="信息技术", not_followed_within="30d"),
       dt.date(2026, 11, 26), None)
print("pandas" in sys.modules)
"""
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=root,
        env={"PYTHONPATH": str(root), "CRM_FASTREAD": "1", "PATH": "/usr/bin:/bin"},
        check=True,
    )
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("mixed", [False, True])
def test_rows_blank_in_the_columns_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mixed: bool
) -> None:
    """A row with no value in the columns a dashboard reads is looked at whole: from the
    other columns read by columns, or -- when those cannot be (a column mixing types) --
    from calamine's rows; either way the cells calamine gives (None for '')."""
    sheets = _layout_sheets()
    if mixed:  # a text among the numbers of a column the dashboard does not read
        crow = sheets["客户"][2]
        crow[1][crow[0].index(CUSTOMERS.field("employees").zh)] = "十"
    path = _book(tmp_path / "rows.xlsx", sheets)
    monkeypatch.setenv("CRM_FASTREAD", "1")
    m = _Master(path)
    try:
        fast = m.grid(CUSTOMERS.name, DASHBOARD_CUSTOMER_KEYS)
        assert isinstance(fast, ColumnGrid) and fast.fs.selected
        slow = Grid(m.rows(CUSTOMERS.name))
        for i in range(len(slow)):
            want = [None if v == "" else v for v in slow.row(i)]
            got = [None if v == "" else v for v in fast.row(i)]  # (calamine's, if read)
            got += [None] * (len(want) - len(got))  # (rows above the header: [])
            assert _r(got) == _r(want), i
        assert (fast._rows is not None) is mixed  # calamine read only when it had to be
    finally:
        m.close()
    _both(path, monkeypatch, (True, True, not mixed, True))
