"""crm dashboard: figures (pure), native charts with cached values, PDF, roles."""

from __future__ import annotations

import datetime as dt
import subprocess
import zipfile

from click.testing import CliRunner
from PIL import Image
from test_export import convert_with_libreoffice, pdf_text
from test_query_fixtures import BANK_CARD, RESIDENT_ID, TODAY, sample_workbook

from crm_sheets.charts_data import build_dashboard
from crm_sheets.cli import cli
from crm_sheets.dashboard import make_dashboard, reports_dir
from crm_sheets.model import Record
from crm_sheets.permissions import Actor
from crm_sheets.query import Filters, run_query
from crm_sheets.template import build_workbook


def one_customer():
    wb = sample_workbook(0)
    wb.customers.records.append(Record(row=2, values={"customer_id": "C1", "name": "甲公司",
                                                      "owner": "李娜", "stage": "线索"}))
    return wb


def table(dash, key):
    return next(t for t in dash.tables if t.key == key)


def test_figures_add_up():
    wb = sample_workbook(50)
    wb.customers.records[7].values["status"] = "已合并"
    dash = build_dashboard(wb, today=TODAY)
    funnel = table(dash, "funnel")
    lost = table(dash, "lost")
    assert [r[0] for r in funnel.rows] == ["线索", "意向", "谈判", "成交"]  # 流失 beside it
    assert funnel.rows[0][1] == 49  # every counted customer reached 线索; merged one not counted
    assert sum(r[3] for r in funnel.rows) + sum(r[1] for r in lost.rows) == 49
    amount = sum(r.values["expected_amount"] for i, r in enumerate(wb.customers.records) if i != 7)
    assert abs(sum(r[4] for r in funnel.rows) + sum(r[2] for r in lost.rows) - amount) < 1e-6
    assert sum(r[1] for r in table(dash, "industry").rows) == 49
    assert sum(r[1] for r in table(dash, "province").rows) == 49
    src = table(dash, "source")
    for _name, n, won, rate in src.rows:
        assert abs(rate - won / n) < 1e-9
    owners = table(dash, "owners")
    fups = [f for f in wb.followups.records if f.values["customer_id"] !=
            wb.customers.records[7].values["customer_id"]]
    assert sum(r[1] for r in owners.rows) == len(fups)
    eff = table(dash, "efficiency")
    assert len(eff.rows) == 12 and all(0.0 <= r[2] <= 1.0 for r in eff.rows)


def test_efficiency_week_share_and_median():
    wb = one_customer()
    base = TODAY - dt.timedelta(days=TODAY.weekday())  # this Monday
    for i, delay_h in enumerate([1, 2, 30, 50]):
        start = dt.datetime.combine(base, dt.time(9, 0))
        wb.followups.records.append(Record(row=i + 2, values={
            "customer_id": "C1", "start": start, "end": start + dt.timedelta(hours=1),
            "owner": "张伟", "recorded_at": start + dt.timedelta(hours=1 + delay_h)}))
    eff = table(build_dashboard(wb, today=TODAY), "efficiency")
    last = eff.rows[-1]
    assert last[0] == base.isoformat() and last[1] == 4
    assert last[2] == 0.5 and last[3] == 16.0  # median of 1, 2, 30, 50


def test_dormant_trend_today_matches_the_dormant_query():
    wb = sample_workbook(60)
    dash = build_dashboard(wb, today=TODAY)
    dormant_now = table(dash, "dormant").rows[-1][1]
    assert dormant_now == len(run_query(wb, Filters(dormant=True), today=TODAY).records) > 0
    assert len(table(dash, "dormant").rows) == 12


def test_stage_moves_count_changes_only():
    wb = one_customer()
    for i, st in enumerate(["线索", "意向", "意向", "谈判", None, "成交"]):
        wb.followups.records.append(Record(row=i + 2, values={
            "customer_id": "C1", "start": dt.datetime(2024, 5, 1 + i, 9), "owner": "李娜",
            "stage_after": st}))
    owners = table(build_dashboard(wb, today=TODAY), "owners")
    assert owners.rows == [["李娜", 6, 3, 0]]  # 意向, 谈判, 成交


def test_sales_rep_sees_own_figures_only(tmp_path):
    from crm_sheets.dashboard import dashboard_for

    wb = sample_workbook(30)
    dash = dashboard_for(wb, today=TODAY, actor=Actor("s1", "sales", "李娜"))
    assert table(dash, "funnel").rows[0][1] == 10
    assert "李娜" in dash.scope
    svc = dashboard_for(wb, today=TODAY, actor=Actor("c1", "service", "客服"))
    assert {t.key for t in svc.tables} == {"efficiency", "owners", "dormant", "overdue_owners",
                                           "overdue_list"}


def test_dashboard_xlsx_has_native_charts_with_cached_values(tmp_path):
    wb = sample_workbook(40)
    files = make_dashboard(wb, xlsx_path=tmp_path / "dashboard.xlsx", today=TODAY)
    with zipfile.ZipFile(files.xlsx) as z:
        charts = [z.read(n).decode() for n in z.namelist() if n.startswith("xl/charts/chart")]
        raw = b"".join(z.read(n) for n in z.namelist())
    # funnel, ranking, industry, source, province, efficiency x2, owners, dormant (lost: one
    # stage, new customers: one month, overdue: none in this sample say nothing, left out)
    assert len(charts) == 9
    for xml in charts:
        assert "<c:numCache>" in xml and '<c:pt idx="0">' in xml
    assert any("<c:pieChart>" in x for x in charts) and any("<c:barDir val=\"bar\"/>" in x for x in charts)
    assert sum("<c:lineChart>" in x for x in charts) >= 4  # combos + trends
    assert RESIDENT_ID.encode() not in raw and BANK_CARD.encode() not in raw


def test_dashboard_pdf_and_libreoffice_render(tmp_path):
    wb = sample_workbook(40)
    files = make_dashboard(wb, xlsx_path=tmp_path / "dashboard.xlsx",
                           pdf_path=tmp_path / "看板.pdf", today=TODAY)
    text = pdf_text(files.pdf)
    for title in ("客户管理看板", "销售漏斗", "行业分布", "跟进效率", "客户来源与转化率", "各省客户数",
                  "负责人活动", "休眠客户数", "张伟", "制造业"):
        assert title in text, title
    assert RESIDENT_ID not in text and BANK_CARD not in text
    # LibreOffice opens the dashboard and draws it (charts from cached/sheet values)
    lo_pdf = convert_with_libreoffice(files.xlsx, tmp_path)
    lo_text = pdf_text(lo_pdf)
    assert "销售漏斗" in lo_text and "制造业" in lo_text
    # the chart titles are drawn by the chart renderer, not only the sheet's table titles
    assert lo_text.count("行业分布") >= 2
    subprocess.run(["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "-png", str(lo_pdf),
                    str(tmp_path / "lo")], check=True)
    img = Image.open(next(tmp_path.glob("lo*.png"))).convert("RGB")
    colours = img.getcolors(1 << 20)
    assert colours is not None and len(colours) > 50  # charts in colour, not a blank page


def test_reports_dir_beside_a_workbook_outside_a_home(tmp_path, monkeypatch):
    monkeypatch.delenv("CRM_HOME", raising=False)
    (tmp_path / "销售部").mkdir()
    wb_path = tmp_path / "销售部" / "客户.xlsx"
    assert reports_dir(wb_path) == (tmp_path / "销售部" / "reports").resolve()


def test_cli_dashboard_in_a_home(logged_in_home, tmp_path):
    li = logged_in_home("manager")
    wb = sample_workbook(30)
    build_workbook(li.home.master, customers=[r.values for r in wb.customers.records],
                   followups=[r.values for r in wb.followups.records])
    pdf = tmp_path / "看板.pdf"
    r = CliRunner().invoke(cli, ["dashboard", str(li.home.master), "--to", str(pdf),
                                 "--today", TODAY.isoformat()])
    assert r.exit_code == 0, r.output
    assert (li.home.reports / "dashboard.xlsx").is_file() and pdf.is_file()
    assert "看板" in r.output


def test_cli_dashboard_needs_a_login_in_a_home(crm_state_dir, tmp_path):
    from crm_sheets.home import create_home

    home = create_home(tmp_path / "h")
    wb = sample_workbook(5)
    build_workbook(home.master, customers=[r.values for r in wb.customers.records])
    r = CliRunner().invoke(cli, ["dashboard", str(home.master)])
    assert r.exit_code == 1 and "登录" in r.output
    assert not (home.reports / "dashboard.xlsx").exists()
