"""The column reader (fastread, fastexcel) gives the same Workbook and findings as calamine.

Every test loads a file twice -- CRM_FASTREAD=0 (calamine, cell by cell) and the fast
path -- and compares everything a Workbook holds, by repr (so 3 and 3.0, a date and a
midnight datetime differ), and then the validation findings.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
import xlsxwriter
from helpers import TODAY, customer, followup, make_master

from crm_sheets import fastread, reader, validation
from crm_sheets.schema import CUSTOMERS, FOLLOWUPS


def _snap(wb: Any) -> str:
    def tab(t: Any) -> tuple:
        return (
            t.sheet_name,
            t.columns,
            t.header_row,
            t.extra_columns,
            [(r.row, r.values, r.raw, r.problems, r.extra) for r in t.records],
        )

    return repr(
        (
            wb.lang,
            tab(wb.customers),
            tab(wb.followups),
            wb.lists,
            wb.settings,
            wb.meta,
            wb.not_duplicates,
            wb.sheet_names,
            wb.problems,
        )
    )


def _findings(wb: Any) -> str:
    report = validation.validate(wb, today=TODAY)
    return repr(
        [
            (f.sheet, f.row, f.column, f.code, f.severity, f.message, f.customer_id)
            for f in report.findings
        ]
    )


def _both(path: Path, monkeypatch: pytest.MonkeyPatch, *, fast: dict[str, bool]) -> None:
    """Calamine and fast loads agree; `fast` says which tabs must take the fast path."""
    for tab, expected in fast.items():
        monkeypatch.setenv("CRM_FASTREAD", "1")
        got = fastread.read_columns(path, None, tab)
        schema = CUSTOMERS if tab in ("客户", "Customers") else FOLLOWUPS
        used = got is not None and reader.read_table_fast(got, schema, tab, False, path) is not None
        assert used is expected, tab
    monkeypatch.setenv("CRM_FASTREAD", "0")
    slow = reader.load(path)
    assert fastread.read_columns(path, None, next(iter(fast))) is None
    monkeypatch.setenv("CRM_FASTREAD", "1")
    quick = reader.load(path)
    assert _snap(quick) == _snap(slow)
    assert _findings(quick) == _findings(slow)
    data = path.read_bytes()  # decrypted bytes take the same path
    assert _snap(reader.load(path, data=data)) == _snap(slow)


def test_demo_master(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from crm_sheets.demo import build_demo

    master = build_demo(tmp_path / "demo", today=TODAY).master
    monkeypatch.setenv("CRM_FASTREAD", "0")
    slow = reader.load(master)
    monkeypatch.setenv("CRM_FASTREAD", "1")
    quick = reader.load(master)
    assert _snap(quick) == _snap(slow)
    assert _findings(quick) == _findings(slow)


def test_small_bench_workbook(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from bench.gen import make_benchmark_workbook

    path = make_benchmark_workbook(tmp_path / "b.xlsx", customers=2000, followups=6000)
    _both(path, monkeypatch, fast={"客户": True, "跟进记录": True})


ODD_TEXT = [
    "  前后空格  ",
    "\u3000全角空格\u3000",
    "零\u200b宽",
    "ＡＢＣ全角",
    "tab\t",
    "",
    "\xa0nbsp\xa0",
    "软\u00adhyphen",
    "\ufeffbom",
    " ",
    "x\x1f",
    "普通",
    "a\u2007b",
    "e\u202f",
]


def _odd_customers() -> list[dict[str, Any]]:
    rows = []
    for i, t in enumerate(ODD_TEXT):
        rows.append(
            customer(
                customer_id=f"C2024031500{i:02d}" if i % 3 else f" ｃ2024031500{i:02d} ",
                name=t or "名称",
                contact_name=t,
                email=t,
                phone=f"１３８００１３８{i:03d}",
                notes=t,
                industry=["信息技术", " 制造业 ", "ｉｔ", "it"][i % 4],
                employees=[120, 0.5, -3, 1e20][i % 4],
                annual_revenue=[3500.5, float("inf") if False else 7.0, 12, 1e-9][i % 4],
                first_contact=[
                    dt.date(2024, 3, 15),
                    dt.datetime(2024, 3, 15, 9, 30),
                    dt.datetime(2024, 3, 16),
                ][i % 3],
                updated_at=[
                    dt.datetime(2024, 3, 15, 0, 0),
                    dt.datetime(2024, 3, 15, 23, 59, 59),
                    dt.datetime(1999, 12, 31, 12, 0, 0, 500000),
                ][i % 3],
            )
        )
    return rows


def test_odd_values_typed_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fols = [
        followup(
            followup_id=f"F20240320{i:04d}",
            content=t,
            next_action=t or None,
            start=dt.datetime(2024, 3, 20, 14, i),
            end=None if i % 2 else dt.datetime(2024, 3, 20, 15, 0),
            next_date=dt.datetime(2024, 3, 27, 0, 0) if i % 2 else dt.date(2024, 3, 28),
        )
        for i, t in enumerate(ODD_TEXT)
    ]
    path = make_master(tmp_path / "odd.xlsx", customers=_odd_customers(), followups=fols)
    _both(path, monkeypatch, fast={"客户": True, "跟进记录": True})


def test_text_dates_and_numbers_as_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Whole columns of text stay on the fast path (strings); the parsers see the same text.
    texts = [
        "2024-03-15",
        "2024/3/15 14:00",
        "2024年3月15日",
        "20240315",
        "not a date",
        " 45000 ",
        "2024-03-15 14:00-15:00",
        "２０２４－０３－１５",
    ]
    custs = [
        customer(
            customer_id=f"C20240315{i:03d}",
            first_contact=t,
            employees=str(i * 10) + " ",
            annual_revenue=["1,234.5", "３万", "x", "", "1e3", "-2", " 7 ", "NaN"][i],
            last_followup=t,
        )
        for i, t in enumerate(texts)
    ]
    fols = [
        followup(followup_id=f"F2024032000{i:02d}", start=t, end=t, next_date=t, recorded_at=t)
        for i, t in enumerate(texts)
    ]
    path = make_master(tmp_path / "text.xlsx", customers=custs, followups=fols)
    _both(path, monkeypatch, fast={"客户": True, "跟进记录": True})


def test_mixed_type_column_falls_back(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custs = [
        customer(customer_id="C20240315001", employees="十"),
        customer(customer_id="C20240315002"),
        customer(customer_id="C20240315003", first_contact="2024-03-15"),
    ]
    fols = [followup(start="2024-03-20 14:00"), followup(followup_id="F202403200002")]
    path = make_master(tmp_path / "mixed.xlsx", customers=custs, followups=fols)
    _both(path, monkeypatch, fast={"客户": False, "跟进记录": False})


def _raw_book(path: Path, sheets: dict[str, tuple[int, int, list[list[Any]]]], **options: Any) -> Path:
    """Sheets from literal rows placed at (row, column) offsets; None cells stay empty.
    `options` are more xlsxwriter Workbook options (e.g. date_1904)."""
    wb = xlsxwriter.Workbook(
        str(path),
        {"strings_to_numbers": False, "strings_to_formulas": False, "strings_to_urls": False, **options},
    )
    fmt = wb.add_format({"num_format": "yyyy-mm-dd hh:mm"})
    for name, (r0, c0, rows) in sheets.items():
        ws = wb.add_worksheet(name)
        for r, row in enumerate(rows):
            for c, v in enumerate(row):
                if v is None:
                    continue
                if isinstance(v, tuple):  # (formula, cached value), e.g. an error cell
                    ws.write_formula(r0 + r, c0 + c, v[0], None, v[1])
                elif isinstance(v, (dt.date, dt.datetime)):
                    ws.write_datetime(r0 + r, c0 + c, v, fmt)
                elif isinstance(v, str):
                    ws.write_string(r0 + r, c0 + c, v)
                else:
                    ws.write(r0 + r, c0 + c, v)
    wb.close()
    return path


def _rows(
    schema: Any,
    records: list[dict[str, Any]],
    extra: dict[str, list[Any]] | None = None,
    header: list[str] | None = None,
) -> list[list[Any]]:
    keys = [f.key for f in schema.fields]
    head = header or schema.headers("zh")
    out = [list(head) + list((extra or {}).keys())]
    for i, rec in enumerate(records):
        if rec is None:
            out.append([None] * len(out[0]))
            continue
        out.append([rec.get(k) for k in keys] + [col[i] for col in (extra or {}).values()])
    return out


def _fol_plain(i: int) -> dict[str, Any]:
    return followup(followup_id=f"F20240320{i:04d}")


def test_header_not_in_row_one_data_from_b(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custs = [
        customer(customer_id="C20240315001"),
        None,
        customer(customer_id="C20240315002", name=" x "),
        None,
        customer(
            customer_id="C20240315003", employees=("=1/0", "#DIV/0!"), email=("=NA()", "#N/A")
        ),
    ]
    fols = [_fol_plain(1), _fol_plain(2)]
    path = _raw_book(
        tmp_path / "offset.xlsx",
        {
            "客户": (
                2,
                1,
                _rows(
                    CUSTOMERS,
                    custs,
                    {
                        "自定义": ["a", None, " ", None, ("=1/0", "#DIV/0!")],
                        "空列": [None] * 5,
                        "零宽": ["\u200b", None, None, None, None],
                    },
                ),
            ),
            "跟进记录": (0, 3, _rows(FOLLOWUPS, fols)),
        },
    )
    _both(path, monkeypatch, fast={"客户": True, "跟进记录": True})


def test_duplicate_header_and_title_row_fall_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    head = CUSTOMERS.headers("zh")
    dup = [*head, head[1]]
    custs = _rows(CUSTOMERS, [customer()], header=dup[: len(head)])
    custs[0].append(head[1])
    custs[1].append("另一个名称")
    fol = [["跟进记录表"], *_rows(FOLLOWUPS, [_fol_plain(1)])]
    path = _raw_book(tmp_path / "dup.xlsx", {"客户": (0, 0, custs), "跟进记录": (0, 0, fol)})
    _both(path, monkeypatch, fast={"客户": False, "跟进记录": False})


def test_number_header_and_blank_headers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = _rows(CUSTOMERS, [customer(), customer(customer_id="C20240315009")])
    rows[0] += [2024, None, "备用"]
    rows[1] += [1, "no header", 3]
    rows[2] += [None, None, None]
    fol = _rows(FOLLOWUPS, [_fol_plain(1), _fol_plain(2)])
    fol[0] += [None, " 额外\n备注 "]
    fol[1] += ["under blank header", dt.datetime(2024, 1, 1)]
    fol[2] += [None, dt.datetime(2024, 1, 1, 8, 0)]
    path = _raw_book(tmp_path / "numhead.xlsx", {"客户": (0, 0, rows), "跟进记录": (0, 0, fol)})
    _both(path, monkeypatch, fast={"客户": False, "跟进记录": True})


STRANGE = [
    *ODD_TEXT,
    "\x85x",
    "x\x85",
    "\u2028行",
    "\u1680",
    "a b",
    "全角ＡＢ",
    "\u3000",
    "ｘ",
    "～",
    "\u200e左",
    "\x7f",
    "\x0b",
    "x\x0c",
    "普通文本",
    "ascii",
    "é",
    None,
    "\u2060",
    "\u205f",
    "\u00a0",
]


@pytest.mark.parametrize(
    ("kind_key", "values", "pa_type"),
    [
        ("name", STRANGE, "string"),
        ("customer_id", STRANGE, "string"),
        ("employees", [1.0, 2.5, None, -0.0, 3e15, -7.0], "double"),
        ("employees", [1.0, 2.0, None, -0.0, 3e15, -7.0, 9.007199254740993e15], "double"),
        (
            "annual_revenue",
            [1.0, 2.5, None, -0.0, 1e-9, -7.25, float("inf"), float("nan")],
            "double",
        ),
        ("annual_revenue", [1.0, 2.5, None, -0.0, 1e-9, -7.25, 123456789.0], "double"),
        (
            "first_contact",
            [
                dt.datetime(1899, 12, 30, 14),
                dt.datetime(1900, 1, 1, 23, 59, 59),
                None,
                dt.datetime(2024, 3, 15),
            ],
            "timestamp",
        ),
        (
            "updated_at",
            [
                dt.datetime(1899, 12, 30, 14),
                dt.datetime(1900, 1, 1, 23, 59, 59),
                None,
                dt.datetime(2024, 3, 15),
            ],
            "timestamp",
        ),
        ("notes", [None, None], "null"),
        ("industry", [*STRANGE, "it", "IT", " it ", "信息技术", "ｉｔ"] * 3, "string"),
        ("stage", [None, None, "意向"], "string"),
    ],
)
def test_arrow_conversion_equals_python(kind_key: str, values: list[Any], pa_type: str) -> None:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "double": pa.float64(),
        "timestamp": pa.timestamp("ms"),
        "null": pa.null(),
    }
    arr = pa.array(values, types[pa_type])
    fs = fastread.FastSheet(header_row=1, header=["x"], columns={0: arr}, n_rows=len(values))
    f = next(f for f in CUSTOMERS.fields if f.key == kind_key)
    raws: dict = {}
    problems: dict = {}
    expected = reader._convert_column(f, fs.values(0), False, raws, problems)
    got = reader._convert_arrow(f, fs, 0)
    if got is None:  # declined: the caller converts the Python values (the expected path)
        assert (
            raws
            or problems
            or any(type(v) is float and not v == v for v in values if v is not None)
            or any(isinstance(v, float) and abs(v) >= 2**53 for v in values if v is not None)
        )
        return
    assert not raws and not problems
    assert repr(got) == repr(expected)
