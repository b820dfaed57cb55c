"""Speed paths of the reports give exactly what the plain paths give (issue 15).

- the dashboard's overdue sheet written through `export.xlsx.CellPutter` / `fast_rows`
  is the same file as through xlsxwriter's per-cell calls;
"""

from __future__ import annotations

import datetime as dt
import zipfile

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
