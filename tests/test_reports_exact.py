"""Speed paths of the reports give exactly what the plain paths give (issue 15).

- the dashboard's overdue sheet written through `export.xlsx.CellPutter` / `fast_rows`
  is the same file as through xlsxwriter's per-cell calls;
- dashboard figures (every audience) and query results (rows, order, values as each role
  sees them) on the demo master and a 2,000-customer demo equal what the code at commit
  3b17668 produced (tests/fixtures/reports/*.json, recorded with `record_cases` below:
  see tests/fixtures/PROVENANCE.md).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import zipfile
from pathlib import Path

import pytest
from test_query_fixtures import BANK_CARD, RESIDENT_ID

from crm_sheets.charts_data import ChartTable, Dashboard, Kpi
from crm_sheets.dashboard import write_dashboard_xlsx

TODAY = dt.date(2026, 11, 26)


def _members(path):
    with zipfile.ZipFile(path) as z:  # docProps/core.xml carries the time of writing
        return {n: z.read(n) for n in z.namelist() if n != "docProps/core.xml"}


def _listing(rows):
    return ChartTable(
        key="overdue_list",
        title="逾期未跟进明细",
        columns=["负责人", "逾期天数", "下次跟进日期", "后续计划", "客户编号", "客户名称"],
        rows=rows,
        formats=["text", "int", "date", "text", "text", "text"],
        mark=1,
    )


def _dashboard(rows):
    return Dashboard(
        title="客户管理看板",
        today=TODAY,
        lang="zh",
        kpis=[Kpi("客户总数", len(rows), "int")],
        tables=[_listing(rows)],
    )


ODD_ROWS = [
    ["张伟", 3, dt.date(2026, 11, 23), "发送报价", "C1", "甲公司"],
    ["张伟", 45, dt.date(2026, 10, 12), "", "C2", None],  # blanks: formatted blank cells
    ["李娜", 1.5, dt.datetime(2026, 11, 25, 9, 30), "=1+1", "C3", " 前后空格 "],
    ["李娜", True, "2026-11-01", "@cmd", "", '乙<&>"公司'],  # text in typed columns
    ["王五", 7, None, f"身份证 {RESIDENT_ID} 已收", "C5", f"卡 {BANK_CARD}"],
    ["王五", 9, dt.date(2026, 11, 17), f"截断的号码 {RESIDENT_ID[:17]}…", "C6", "丙\x01公司"],
    ["赵六", 2, dt.date(2026, 11, 24), "x" * 20000, "C7", "丁公司"],  # xlsxwriter truncates
    ["赵六", 2.0, dt.date(2026, 11, 24), "计划", "C8", 12.0],
]


def test_overdue_sheet_fast_is_the_same_file(tmp_path):
    for rows in (ODD_ROWS, ODD_ROWS[:2], ODD_ROWS[:1] * 40, [r[:] for r in ODD_ROWS[:4]]):
        slow = write_dashboard_xlsx(_dashboard(rows), tmp_path / "slow.xlsx", fast=False)
        fast = write_dashboard_xlsx(_dashboard(rows), tmp_path / "fast.xlsx")
        assert _members(fast) == _members(slow)


def _plain_rows(n, edge=True):
    """Rows of the types the listing holds, some masked, some blank, many repeated (with
    `edge`, a text with spaces around it)."""
    out = []
    for i in range(n):
        plan = [
            "发送报价",
            "",
            f"核对 {RESIDENT_ID}",
            "回访…",
            "a & b <c>",
            " 空格 " if edge else "空格",
        ][i % 6]
        out.append(
            [
                ["张伟", "李娜", ""][i % 3],
                i % 97 - 3,
                dt.date(2026, 1, 1) + dt.timedelta(days=i % 300),
                plan,
                f"C{i:06d}",
                f"公司{i % 1000}",
            ]
        )
    return out


def test_overdue_block_is_the_same_file(tmp_path):
    from crm_sheets.dashboard import _overdue_block
    from crm_sheets.export.xlsx import Formats, new_workbook

    book = new_workbook(tmp_path / "probe.xlsx")
    ws = book.add_worksheet("x")
    assert _overdue_block(book, ws, Formats(book), _listing(_plain_rows(40)))  # taken
    book.close()
    for n, edge in ((1, True), (15, True), (16, False), (17, True), (5000, True), (300, False)):
        rows = _plain_rows(n, edge)
        slow = write_dashboard_xlsx(_dashboard(rows), tmp_path / "slow.xlsx", fast=False)
        fast = write_dashboard_xlsx(_dashboard(rows), tmp_path / "fast.xlsx")
        assert _members(fast) == _members(slow), n


def test_overdue_sheet_fast_masks_like_the_slow_path(tmp_path):
    fast = write_dashboard_xlsx(_dashboard(ODD_ROWS), tmp_path / "fast.xlsx")
    strings = _members(fast)["xl/sharedStrings.xml"].decode()
    for secret in (RESIDENT_ID, BANK_CARD, RESIDENT_ID[:17]):
        assert secret not in strings


def test_fast_rows_mirror_this_xlsxwriter():
    # the lean row loop copies this xlsxwriter's sheet XML; a new version must be compared
    # (the test above) and added to export.xlsx._FAST_VERSIONS, else the plain path runs
    from crm_sheets.export.xlsx import fast_ok

    assert fast_ok()


# ---------------------------------------------------------------- against recorded results

REFERENCE = Path(__file__).resolve().parent / "fixtures" / "reports"
FILTERS = [
    {"industry": "制造业", "type": "意向客户", "not_followed_within": "30d"},
    {"stage": "意向,谈判"},
    {"dormant": True},
    {},
    {"province": "广东", "followed_within": "60d"},
    {"status": "已合并"},
    {"owner": "张伟", "source": "trade show"},
]


def _enc(v):
    if isinstance(v, (dt.date, dt.datetime)):
        return {"d": v.isoformat(), "t": type(v).__name__}
    if isinstance(v, float):
        return {"f": repr(v)}
    if isinstance(v, (list, tuple)):
        return [_enc(x) for x in v]
    if isinstance(v, dict):
        return {k: _enc(x) for k, x in v.items()}
    return v


def _digest(obj) -> str:
    text = json.dumps(_enc(obj), ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _dash(d) -> dict:
    return {
        "head": [d.title, d.today.isoformat(), d.lang, d.scope, d.audience],
        "kpis": [[k.label, k.value, k.kind, k.note] for k in d.kpis],
        "tables": [
            [
                t.key,
                t.title,
                t.columns,
                t.rows,
                t.formats,
                t.note,
                t.mark,
                t.beside,
                [
                    [
                        c.kind,
                        list(c.values),
                        list(c.secondary),
                        c.title,
                        c.y_title,
                        c.y2_title,
                        None if c.needs is None else list(c.needs),
                    ]
                    for c in t.charts
                ],
            ]
            for t in d.tables
        ],
    }


def record_cases(path: Path) -> dict:
    """What the dashboard and `crm query` give on a master, for each audience and role
    (digests of the full results; the dashboard's key figures in clear)."""
    from crm_sheets.cli.report_cmds import result_json, select
    from crm_sheets.dashboard import dashboard_for
    from crm_sheets.permissions import Actor
    from crm_sheets.query import Filters
    from crm_sheets.report_load import load_for_dashboard

    wb = load_for_dashboard(path)
    out: dict = {"dashboard": {}, "query": []}
    for who in (
        None,
        Actor("s1", "sales", wb.lists["owners"][0]),
        Actor("c1", "service"),
        Actor("m1", "marketing"),
    ):
        d = _dash(dashboard_for(wb, today=TODAY, actor=who, audit_events=[]))
        out["dashboard"][who.role if who else "all"] = {
            "kpis": _enc(d["kpis"]),
            "digest": _digest(d),
        }
    for f in FILTERS:
        for who in (None, Actor("m1", "marketing"), Actor("s1", "sales", "张伟")):
            r = select(path, Filters.from_options(**f), TODAY, who)
            keys = [fl.key for fl in r.fields]
            full = {
                "json": result_json(r),
                "considered": r.considered,
                "masked": sorted(r.masked),
                "rows": [[rec.row] + [r.value(rec, k) for k in keys] for rec in r.records],
            }
            out["query"].append(
                {
                    "filters": f,
                    "actor": who.role if who else None,
                    "count": len(r.records),
                    "digest": _digest(full),
                }
            )
    return out


@pytest.fixture(scope="module")
def demos(tmp_path_factory):
    from crm_sheets.demo import build_demo

    root = tmp_path_factory.mktemp("demos")
    return {
        "demo": build_demo(root / "demo", today=TODAY).master,
        "demo2000": build_demo(root / "demo2000", today=TODAY, n_customers=2000).master,
    }


@pytest.mark.parametrize("name", ["demo", "demo2000"])
def test_dashboard_and_query_equal_the_recorded_results(demos, name):
    want = json.loads((REFERENCE / f"{name}.json").read_text(encoding="utf-8"))
    got = json.loads(json.dumps(record_cases(demos[name]), ensure_ascii=False))
    assert got["dashboard"] == want["dashboard"]
    assert got["query"] == want["query"]


# ---------------------------------------------------------------- column reads, record reads


def _odd_master(path):
    """Merged duplicates, blank rows and cells, text dates, stages out of order, planned
    follow-ups, a prohibited number in a plan: the corners of every figure."""
    from helpers import customer, followup, make_master

    custs = [
        customer(customer_id="C1", stage="成交", customer_type="成交客户", expected_amount=80.5),
        customer(customer_id="C2", stage="流失", customer_type="意向客户", owner="李娜"),
        customer(
            customer_id="C3",
            stage=None,
            customer_type=None,
            expected_amount=None,
            industry=None,
            province=None,
            source=None,
            owner=None,
        ),
        customer(customer_id="C4", status="已合并", stage="谈判"),
        customer(customer_id="C5", status="休眠", stage="意向", first_contact=None),
        customer(
            customer_id="C6", stage="谈判", first_contact="2026年3月1日", expected_amount="12"
        ),
        {},  # a blank row between customers
        customer(customer_id="C7", stage="线索", customer_type="潜在客户", name="=HYPERLINK()"),
        customer(customer_id="C1", name="重复编号公司", stage="意向"),
    ]
    fups = [
        followup(
            customer_id="C1",
            start=dt.datetime(2026, 9, 1, 10),
            stage_after="谈判",
            next_date=dt.date(2026, 10, 1),
        ),
        followup(
            customer_id="C1",
            start=dt.datetime(2026, 11, 2, 10),
            stage_after="成交",
            next_date=dt.date(2026, 11, 20),
            next_action=f"核对 {RESIDENT_ID}",
        ),
        followup(
            customer_id="C2",
            start=dt.datetime(2026, 8, 1, 9),
            stage_after="意向",
            next_date=None,
            recorded_at=None,
        ),
        followup(customer_id="C2", start=dt.datetime(2026, 8, 1, 8), stage_after="流失"),
        followup(customer_id="C4", start=dt.datetime(2026, 11, 1, 9)),
        followup(
            customer_id="C6",
            start="2026-11-20 09:00",
            end=None,
            next_date="2026/11/25",
            recorded_at=dt.datetime(2026, 11, 22, 9),
        ),
        followup(customer_id="C7", start=dt.datetime(2026, 12, 24, 9)),  # planned
        followup(customer_id="C9", start=dt.datetime(2026, 11, 3, 9)),  # no such customer
        {},
        followup(
            customer_id="C3",
            start=dt.datetime(2025, 1, 3, 9),
            owner=None,
            next_date=dt.date(2025, 2, 1),
        ),
    ]
    return make_master(path, custs, fups)


@pytest.mark.parametrize("which", ["odd", "demo"])
def test_dashboard_from_columns_equals_dashboard_from_records(tmp_path, demos, which):
    from crm_sheets.charts_data import build_dashboard
    from crm_sheets.reader import load
    from crm_sheets.report_load import load_for_dashboard

    path = _odd_master(tmp_path / "odd.xlsx") if which == "odd" else demos["demo"]
    cols = load_for_dashboard(path)
    assert cols.customers.records.unread_columns() is not None
    recs = load_for_dashboard(path, columns=False)
    a = _dash(build_dashboard(cols, today=TODAY))
    assert cols.customers.records.unread_columns() is not None  # no Record was built
    assert a == _dash(build_dashboard(recs, today=TODAY))
    assert a == _dash(build_dashboard(load(path), today=TODAY))
    # the records, when asked for, are the ones a record read gives
    assert [(r.row, r.values) for r in cols.customers.records] == [
        (r.row, r.values) for r in recs.customers.records
    ]
    assert [(r.row, r.values) for r in cols.followups.records] == [
        (r.row, r.values) for r in recs.followups.records
    ]


def test_column_records_once_built_are_what_the_figures_read(tmp_path):
    from crm_sheets.charts_data import build_dashboard
    from crm_sheets.report_load import load_for_dashboard

    path = _odd_master(tmp_path / "odd.xlsx")
    wb = load_for_dashboard(path)
    recs = wb.customers.records
    first = recs[0]  # builds the records: from now on they are the truth
    assert recs.unread_columns() is None and len(recs) == len(list(recs))
    first.values["stage"] = "流失"
    recs.append(first)
    ref = load_for_dashboard(path, columns=False)
    ref.customers.records[0].values["stage"] = "流失"
    ref.customers.records.append(ref.customers.records[0])
    assert _dash(build_dashboard(wb, today=TODAY)) == _dash(build_dashboard(ref, today=TODAY))


def test_block_with_a_row_of_its_own_height_is_written_cell_by_cell(tmp_path):
    from crm_sheets.export.xlsx import Formats, new_workbook, put_block

    cols = [
        ("text", ["甲", "", "乙"] * 7),
        ("number", list(range(21))),
        ("date", [dt.date(2026, 1, d) for d in range(1, 22)]),
    ]
    files = []
    for fast in (True, False):
        path = tmp_path / f"{fast}.xlsx"
        book = new_workbook(path)
        fm = Formats(book)
        ws = book.add_worksheet("x")
        ws.write_string(0, 0, "表头", fm.header)
        fmts = {"text": fm.text, "number": fm.int, "date": fm.day}
        if fast:
            assert put_block(book, ws, 1, [(fmts[k], k, v) for k, v in cols])
        else:
            for r in range(21):
                for c, (k, v) in enumerate(cols):
                    x = v[r]
                    if k == "date":
                        ws.write_datetime(r + 1, c, dt.datetime.combine(x, dt.time()), fm.day)
                    elif k == "number":
                        ws.write_number(r + 1, c, x, fm.int)
                    elif x:
                        ws.write_string(r + 1, c, x, fm.text)
                    else:
                        ws.write_blank(r + 1, c, None, fm.text)
        ws.set_row(5, 40)  # a row of the block with its own height
        book.close()
        files.append(_members(path))
    assert files[0] == files[1]


def test_dashboard_from_columns_without_follow_ups(tmp_path):
    from helpers import customer, make_master

    from crm_sheets.charts_data import build_dashboard
    from crm_sheets.report_load import load_for_dashboard

    path = make_master(tmp_path / "nofu.xlsx", [customer(), customer(customer_id="C2")], [])
    cols = load_for_dashboard(path)
    recs = load_for_dashboard(path, columns=False)
    assert len(cols.followups.records) == 0
    assert _dash(build_dashboard(cols, today=TODAY)) == _dash(build_dashboard(recs, today=TODAY))


@pytest.mark.parametrize("odd", [False, True])
def test_last_contacts_of_selected_customers_equal_those_of_all(tmp_path, odd):
    from helpers import followup, make_master

    from crm_sheets import reader
    from crm_sheets.report_load import _column, _header, _last_contacts, _Master
    from crm_sheets.schema import FOLLOWUPS

    starts = [
        dt.datetime(2026, 11, 1, 9),
        "2026-11-02 10:00",
        "2026/11/03",
        "11月4日 9:00",
        dt.date(2026, 11, 5),
        "",
        None,
        "不是日期",
        dt.datetime(2027, 1, 1, 9),
    ]
    if odd:  # equal values of different types: converted as in one pass over the column
        starts += [True, 1, 1.0, 46000, 46000.0, False, 0]
    fups = [
        followup(customer_id=f"C{i % 4}", start=s, followup_id=f"F{i:012d}")
        for i, s in enumerate(starts * 3)
    ]
    path = make_master(tmp_path / "lc.xlsx", followups=fups)
    m = _Master(path)
    try:
        rows = m.grid(FOLLOWUPS.name)
        idx, columns, _ = _header(rows, FOLLOWUPS, m.sheets[FOLLOWUPS.name], m.path)
        kind = FOLLOWUPS.by_key["start"].kind
        cids = _column(
            rows,
            idx + 1,
            columns["customer_id"],
            reader.column_converter(FOLLOWUPS.by_key["customer_id"].kind, False),
        )
        every = _column(rows, idx + 1, columns["start"], reader.column_converter(kind, False), kind)
        for ids in (None, {"C1", "C3"}, {"C2"}, set()):
            want: dict = {}
            for cid, s in zip(cids, every, strict=True):
                if cid is None or s is None or (ids is not None and cid not in ids):
                    continue
                d = s.date() if isinstance(s, dt.datetime) else s
                if isinstance(d, dt.date) and d <= TODAY and (cid not in want or d > want[cid]):
                    want[cid] = d
            got = _last_contacts(m, ids, TODAY)
            assert list(got.items()) == list(want.items())
    finally:
        m.close()
