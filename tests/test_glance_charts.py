"""Issue 16 (1-5, 9, 10) and 13.10: charts that tell the truth, generated sheets that read and
print well, and a dashboard file per audience."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from test_export import convert_with_libreoffice, pdf_text
from test_query_fixtures import TODAY, sample_workbook

from crm_sheets.charts_data import (
    STAGE_WEIGHTS,
    build_dashboard,
    industry_mix,
    selection_tables,
)
from crm_sheets.cli import cli
from crm_sheets.dashboard import make_dashboard
from crm_sheets.export import export
from crm_sheets.export.xlsx import nice_step
from crm_sheets.model import Record, new_workbook
from crm_sheets.permissions import Actor
from crm_sheets.query import Filters, run_query
from crm_sheets.template import build_workbook
from crm_sheets.widths import fit_width, text_width

REPO = Path(__file__).resolve().parent.parent


def cust(cid: str, stage: str | None, **kw) -> Record:
    vals = {"customer_id": cid, "name": f"{cid}有限公司", "owner": "张伟", "stage": stage,
            "industry": "制造业", "source": "展会推荐", "expected_amount": 10.0, "status": "正常"}
    vals.update(kw)
    return Record(row=len(vals), values=vals)


def fup(cid: str, day: dt.date, stage_after: str | None = None, **kw) -> Record:
    vals = {"customer_id": cid, "start": dt.datetime.combine(day, dt.time(10)), "owner": "张伟",
            "stage_after": stage_after}
    vals.update(kw)
    return Record(row=2, values=vals)


def tbl(dash, key):
    return next(t for t in dash.tables if t.key == key)


def chart_xml(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as z:
        return [z.read(n).decode() for n in sorted(z.namelist()) if n.startswith("xl/charts/chart")]


# ---------------------------------------------------------------- 16.1 the funnel


def funnel_book():
    wb = new_workbook()
    wb.customers.records += [
        cust("A", "成交"),                           # no history: 成交 reached every stage
        cust("B", "线索"),
        cust("C", "意向"),
        cust("D", "流失", customer_type="潜在客户"),  # lost after reaching 谈判 (follow-up)
        cust("E", "流失", customer_type="意向客户"),  # no history: lost at 意向 (its type)
        cust("F", "意向"),                           # reached 谈判 per the audit log
    ]
    wb.followups.records += [fup("D", TODAY - dt.timedelta(days=40), "意向"),
                             fup("D", TODAY - dt.timedelta(days=20), "谈判"),
                             fup("D", TODAY - dt.timedelta(days=5), "流失")]
    return wb


AUDIT = [{"at": "2024-05-02T08:00:00+00:00", "action": "apply", "column": "stage",
          "customer_id": "F", "old": "意向", "new": "谈判"},
         {"at": "2024-05-09T08:00:00+00:00", "action": "apply", "column": "stage",
          "customer_id": "F", "old": "谈判", "new": "意向"}]


def test_funnel_counts_customers_who_reached_each_stage():
    dash = build_dashboard(funnel_book(), today=TODAY, audit_events=AUDIT)
    funnel = tbl(dash, "funnel")
    assert [r[0] for r in funnel.rows] == ["线索", "意向", "谈判", "成交"]  # no 流失 bar
    reached = [r[1] for r in funnel.rows]
    assert reached == [6, 5, 3, 1]  # A..F; 意向: A C D E F; 谈判: A D F; 成交: A
    assert reached == sorted(reached, reverse=True)
    assert funnel.rows[0][2] is None
    assert [round(r[2], 4) for r in funnel.rows[1:]] == [round(5 / 6, 4), 0.6, round(1 / 3, 4)]
    # now-at-stage and the weighted amount (weights stated in the note)
    assert [r[3] for r in funnel.rows] == [1, 2, 0, 1]
    for r in funnel.rows:
        assert r[5] == pytest.approx(r[4] * STAGE_WEIGHTS[r[0]])
    assert "10%" in funnel.note and "60%" in funnel.note
    lost = tbl(dash, "lost")
    assert lost.rows == [["意向", 1, 10.0], ["谈判", 1, 10.0]]
    # without the audit log F only reached 意向
    plain = tbl(build_dashboard(funnel_book(), today=TODAY), "funnel")
    assert plain.rows[2][1] == 2


def test_funnel_chart_has_conversion_on_a_0_to_100_percent_axis(tmp_path):
    wb = sample_workbook(40)
    files = make_dashboard(wb, xlsx_path=tmp_path / "d.xlsx", today=TODAY)
    funnel = next(x for x in chart_xml(files.xlsx) if "销售漏斗" in x)
    # bars: reached counts; line: conversion on the secondary axis, 0 %..100 %
    assert "<c:barChart>" in funnel and "<c:lineChart>" in funnel
    assert '<c:formatCode>0.0%</c:formatCode>' in funnel or 'formatCode="0%"' in funnel
    assert re.search(r'<c:max val="1(\.0)?"/>\s*<c:min val="0"/>', funnel)
    assert "流失" not in funnel.split("<c:cat>")[1]


# ---------------------------------------------------------------- 16.2 key figures


def test_key_figures_won_against_target_win_rate_new_customers_and_overdue():
    today = dt.date(2024, 6, 20)
    wb = new_workbook()
    wb.settings["monthly_target"] = 100
    month0 = today.replace(day=1)
    wb.customers.records += [
        cust("W1", "成交", expected_amount=40.0, owner="李娜", first_contact=month0),
        cust("W2", "成交", expected_amount=30.0, owner="张伟", first_contact=dt.date(2024, 5, 22)),
        cust("L1", "流失"),
        cust("O1", "意向", expected_amount=50.0, first_contact=dt.date(2024, 5, 20)),
    ]
    wb.followups.records += [
        fup("W1", today - dt.timedelta(days=1), "成交", owner="李娜"),
        fup("W2", dt.date(2024, 5, 29), "成交"),  # won last month, in this quarter
        fup("O1", today - dt.timedelta(days=40), next_date=today - dt.timedelta(days=33),
            next_action="发送报价"),
    ]
    dash = build_dashboard(wb, today=today)
    k = {x.label: x for x in dash.kpis}
    assert k["本月成交(万元)"].value == 40.0 and k["本月成交(万元)"].kind == "wan"
    assert "目标 100.0，完成 40%" in k["本月成交(万元)"].note
    assert k["本季度成交(万元)"].value == 70.0 and "目标 300.0" in k["本季度成交(万元)"].note
    assert k["赢单率"].value == pytest.approx(2 / 3) and k["赢单率"].kind == "pct"
    assert k["本月新增客户"].value == 1 and "环比 -50.0%" in k["本月新增客户"].note
    assert k["在途商机(万元)"].value == 50.0 and "加权 15.0" in k["在途商机(万元)"].note
    assert k["逾期未跟进"].value == 1
    assert tbl(dash, "new").rows[-1] == ["2024-06", 1, -0.5]
    ranking = tbl(dash, "ranking")
    assert [r[0] for r in ranking.rows] == ["李娜", "张伟"]  # by won amount
    listing = tbl(dash, "overdue_list")
    assert listing.rows == [["张伟", 33, today - dt.timedelta(days=33), "发送报价", "O1", "O1有限公司"]]
    assert listing.mark == 1


def test_targets_typed_in_the_settings_sheet_reach_the_key_figures(tmp_path):
    from crm_sheets.report_load import load_for_dashboard

    wb = sample_workbook(20)
    path = build_workbook(tmp_path / "CRM.xlsx", customers=[r.values for r in wb.customers.records],
                          followups=[r.values for r in wb.followups.records],
                          settings={"monthly_target": 500, "quarterly_target": 1200})
    ws = openpyxl.load_workbook(path)["设置"]  # the Settings sheet, tab in the home's language
    assert "月度成交目标(万元)" in [c.value for c in ws["A"]]
    dash = build_dashboard(load_for_dashboard(path), today=TODAY)
    k = {x.label: x for x in dash.kpis}
    assert "目标 500.0" in k["本月成交(万元)"].note
    assert "目标 1,200.0" in k["本季度成交(万元)"].note


def test_overdue_list_is_its_own_sheet_marked_with_repeated_header(tmp_path):
    wb = sample_workbook(30)
    for r in wb.followups.records[::2]:
        r.values["next_date"] = TODAY - dt.timedelta(days=45)
    files = make_dashboard(wb, xlsx_path=tmp_path / "d.xlsx", today=TODAY)
    book = openpyxl.load_workbook(files.xlsx)
    assert book.sheetnames == ["看板", "逾期跟进"]
    ws = book["逾期跟进"]
    assert ws.print_title_rows == "$1:$1" and ws.auto_filter.ref.startswith("A1:")
    assert ws.cell(1, 2).value == "逾期天数"
    rules = [r for rng in ws.conditional_formatting for r in rng.rules]
    assert {(r.operator, tuple(r.formula)) for r in rules} >= {("greaterThan", ("30",)),
                                                              ("greaterThan", ("0",))}
    assert ws.max_row - 1 == len(tbl(files.dashboard, "overdue_list").rows) > 0


# ---------------------------------------------------------------- 16.3 industry pie


def test_industry_pie_groups_only_when_there_are_too_many_slices():
    wb = new_workbook()
    names = ["制造业", "信息技术", "金融", "零售", "医疗健康", "教育", "房地产", "物流", "能源",
             "餐饮", "其他"]
    wb.customers.records += [cust(f"C{i}", "线索", industry=n) for i, n in enumerate(names)]
    pie = industry_mix(wb.customers.records)
    assert sorted(r[0] for r in pie.rows) == sorted(names)  # 11 fit: no made-up bucket
    more = wb.customers.records + [cust(f"X{i}", "线索", industry=f"行业{i}") for i in range(4)]
    pie = industry_mix(more)
    assert len(pie.rows) == 12 and pie.rows[-1] == ["其余 4 个行业", 4]
    assert sum(r[1] for r in pie.rows) == 15
    # a real value with the bucket's name never merges with it
    clash = more + [cust("Y", "线索", industry="其余 4 个行业")]
    labels = [r[0] for r in industry_mix(clash).rows]
    assert len(labels) == len(set(labels))
    en = industry_mix(more, "en")
    assert en.rows[-1][0] == "4 other industries"


# ---------------------------------------------------------------- 16.4 selection charts


def test_filtered_export_charts_are_computed_on_the_selection_and_mute_ones_left_out(tmp_path):
    wb = sample_workbook(40)
    res = run_query(wb, Filters.from_options(stage="意向", industry="制造业"), today=TODAY)
    assert res.records and all(r.values["stage"] == "意向" for r in res.records)
    tables = {t.key: t for t in selection_tables(res.records)}
    assert tables["funnel"].rows[0][1] == len(res.records)  # the selection, not the sheet
    assert tables["funnel"].charts == []  # everyone at 意向: no drop-off to show
    assert tables["source"].charts == []  # 0 % conversion everywhere
    assert tables["industry"].charts == []  # a single 100 % slice
    out = export(res, tmp_path / "sel.xlsx")
    charts = chart_xml(out)
    assert not any("销售漏斗" in x or "行业分布" in x or "来源转化" in x for x in charts)
    # the whole sheet: every chart has something to say
    full = {t.key: t for t in selection_tables(wb.customers.records)}
    assert full["funnel"].charts and full["industry"].charts and full["source"].charts


# ---------------------------------------------------------------- 16.5 axes and formats


def test_axes_start_at_zero_whole_number_ticks_percent_stops_at_100(tmp_path):
    assert [nice_step(x) for x in (3, 8, 9, 40, 77, 300)] == [1, 1, 2, 5, 10, 50]
    wb = sample_workbook(40)
    files = make_dashboard(wb, xlsx_path=tmp_path / "d.xlsx", today=TODAY)
    charts = chart_xml(files.xlsx)
    for xml in charts:
        for ax in re.findall(r"<c:valAx>.*?</c:valAx>", xml, re.S):
            assert '<c:min val="0"/>' in ax, ax[:200]
            fmt = re.search(r'<c:numFmt formatCode="([^"]+)"', ax).group(1)
            if fmt == "#,##0":  # counts: whole-number steps
                unit = float(re.search(r'<c:majorUnit val="([^"]+)"/>', ax).group(1))
                assert unit == int(unit) >= 1
            if "%" in fmt:
                assert float(re.search(r'<c:max val="([^"]+)"/>', ax).group(1)) <= 1
    ws = openpyxl.load_workbook(files.xlsx)["看板"]
    fmts = {}
    for row in ws.iter_rows():
        for c in row:
            if isinstance(c.value, str) and "(万元)" in c.value:
                below = ws.cell(c.row + 1, c.column)
                if isinstance(below.value, (int, float)):
                    fmts[c.value] = below.number_format
    assert fmts and set(fmts.values()) == {"#,##0.0"}, fmts  # KPI cards and table columns alike


# ---------------------------------------------------------------- 16.9 page setup


def _breaks_and_anchors(path: Path, sheet_no: int = 1) -> tuple[list[int], list[tuple[int, int]]]:
    with zipfile.ZipFile(path) as z:
        sheet = z.read(f"xl/worksheets/sheet{sheet_no}.xml").decode()
        drawing = z.read("xl/drawings/drawing1.xml").decode()  # the only sheet with charts
    breaks = [int(b) for b in re.findall(r'<brk id="(\d+)"', sheet)]
    anchors = [(int(a), int(b)) for a, b in re.findall(
        r"<xdr:from><xdr:col>\d+</xdr:col><xdr:colOff>\d+</xdr:colOff><xdr:row>(\d+)</xdr:row>.*?"
        r"<xdr:to><xdr:col>\d+</xdr:col><xdr:colOff>\d+</xdr:colOff><xdr:row>(\d+)</xdr:row>",
        drawing, re.S)]
    return breaks, anchors


def test_generated_chart_sheets_print_on_a4_one_page_wide_charts_never_cut(tmp_path):
    wb = sample_workbook(60)
    dash = make_dashboard(wb, xlsx_path=tmp_path / "d.xlsx", today=TODAY).xlsx
    sel = export(run_query(wb, Filters(), today=TODAY), tmp_path / "e.xlsx")
    for path, name, sheet_no in ((dash, "看板", 1), (sel, "图表", 2)):
        ws = openpyxl.load_workbook(path)[name]
        ps = ws.page_setup
        assert ps.paperSize == 9 and ps.orientation == "landscape"
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ps.fitToWidth in (None, 1)  # 1 = default
        assert ps.fitToHeight == 0
        breaks, anchors = _breaks_and_anchors(path, sheet_no)
        assert anchors
        for a, b in anchors:
            assert not [k for k in breaks if a < k <= b], (path.name, a, b, breaks)
        last_row = int(re.search(r"\$(\d+)$", ws.print_area).group(1))
        last_used = max(ws.max_row, max(b + 1 for _, b in anchors))
        assert last_used - 2 <= last_row <= last_used + 2  # everything, no trailing blank page
    assert _breaks_and_anchors(dash)[0]  # the dashboard runs over pages: breaks were placed
    data = openpyxl.load_workbook(sel)["客户"]
    assert data.print_title_rows == "$1:$1"
    assert data.page_setup.paperSize == 9


def test_rep_chart_sheet_in_a_view_has_the_page_setup(tmp_path):
    from crm_sheets.dashboard import dashboard_for, write_dashboard_xlsx

    wb = sample_workbook(30)

    dash = dashboard_for(wb, today=TODAY, actor=Actor("s1", "sales", "李娜"))
    assert dash.audience == "own"
    path = write_dashboard_xlsx(dash, tmp_path / "rep.xlsx")
    ws = openpyxl.load_workbook(path)["看板"]
    assert ws.page_setup.paperSize == 9 and ws.print_area


def test_views_chart_sheets_carry_the_page_setup(tmp_path, crm_state_dir):
    from test_views_support import TODAY as VTODAY
    from test_views_support import make_view_home

    from crm_sheets.views import build_views

    vh = make_view_home(tmp_path)
    paths = {p.stem: p for p in build_views(vh.master, vh.home, today=VTODAY)}
    for stem in ("sales-li", "service", "management"):
        ws = openpyxl.load_workbook(paths[stem])["图表"]
        ps = ws.page_setup
        assert ps.paperSize == 9 and ps.orientation == "landscape", stem
        assert ws.sheet_properties.pageSetUpPr.fitToPage and ws.print_area, stem


# ---------------------------------------------------------------- 16.10 widths


def test_width_helper_counts_cjk_double():
    assert text_width("新疆维吾尔自治区") == 16
    assert text_width("凉山彝族自治州") == 14
    assert text_width("wang.xiaoming@huaxin-tech.com.cn") == 32
    assert fit_width("省", ["新疆维吾尔自治区"]) >= 18
    assert fit_width("备注", ["长" * 200]) == 50  # long text wraps instead


def test_export_and_dashboard_columns_fit_chinese_content(tmp_path):
    wb = sample_workbook(20)
    r = wb.customers.records[5].values
    r.update(province="新疆维吾尔自治区", city="凉山彝族自治州",
             email="wang.xiaoming@huaxin-tech.com.cn")
    out = export(run_query(wb, Filters(), today=TODAY), tmp_path / "w.xlsx")
    ws = openpyxl.load_workbook(out)["客户"]
    head = {ws.cell(1, c).value: openpyxl.utils.get_column_letter(c)
            for c in range(1, ws.max_column + 1)}
    for header, text in (("省", "新疆维吾尔自治区"), ("市", "凉山彝族自治州"),
                         ("邮箱", "wang.xiaoming@huaxin-tech.com.cn")):
        assert ws.column_dimensions[head[header]].width >= text_width(text) + 1, header
    dash = make_dashboard(wb, xlsx_path=tmp_path / "d.xlsx", today=TODAY).xlsx
    ws = openpyxl.load_workbook(dash)["看板"]
    assert ws.column_dimensions["A"].width >= text_width("新疆维吾尔自治区")


def test_pdf_headers_never_break_inside_a_word(tmp_path):
    out = export(run_query(sample_workbook(30), Filters(), today=TODAY), tmp_path / "h.pdf")
    text = pdf_text(out, 1)
    for header in ("商机阶段", "客户类型", "客户来源", "最近跟进时间", "预计金额", "跟进记录摘要"):
        assert header in text, header
    assert not re.search(r"商机阶\s*\n", text)


# ---------------------------------------------------------------- 13.10 one file per audience


def test_each_audience_gets_its_own_dashboard_file(logged_in_home, tmp_path):
    li = logged_in_home("manager")
    wb = sample_workbook(30)
    build_workbook(li.home.master, customers=[r.values for r in wb.customers.records],
                   followups=[r.values for r in wb.followups.records],
                   lists={"owners": ["张伟", "李娜", "王芳"]})
    run = CliRunner()
    args = ["dashboard", str(li.home.master), "--today", TODAY.isoformat()]
    r = run.invoke(cli, args)
    assert r.exit_code == 0, r.output
    team = li.home.reports / "dashboard.xlsx"
    before = team.read_bytes()
    logged_in_home("sales", name="zhangwei", display_name="张伟", home=li.home)
    r = run.invoke(cli, args)
    assert r.exit_code == 0, r.output
    rep = li.home.reports / "dashboard-zhangwei.xlsx"
    assert rep.is_file() and str(rep) in r.output
    assert team.read_bytes() == before  # the team's dashboard is not overwritten
    ws = openpyxl.load_workbook(rep)["看板"]
    assert "张伟" in ws.cell(2, 1).value
    logged_in_home("service", home=li.home)
    r = run.invoke(cli, args)
    assert r.exit_code == 0, r.output
    assert (li.home.reports / "dashboard-service.xlsx").is_file()
    assert team.read_bytes() == before


# ---------------------------------------------------------------- rendered, looked at


@pytest.mark.libreoffice
def test_dashboard_and_rep_copy_render_to_png_for_the_readme(tmp_path):
    assert shutil.which("soffice") and shutil.which("pdftoppm")
    from crm_sheets.demo import build_demo
    from crm_sheets.reader import load

    today = dt.date(2026, 11, 28)
    demo = build_demo(tmp_path / "demo", today=today)
    wb = load(demo.master)
    team = make_dashboard(wb, xlsx_path=tmp_path / "dashboard.xlsx", today=today)
    rep = make_dashboard(wb, xlsx_path=tmp_path / "rep-copy.xlsx", today=today,
                         actor=Actor("sales1", "sales", wb.lists["owners"][0]))
    img = REPO / "docs" / "img"
    img.mkdir(parents=True, exist_ok=True)
    for files, name in ((team, "dashboard"), (rep, "rep-copy")):
        pdf = convert_with_libreoffice(files.xlsx, tmp_path / name)
        info = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True).stdout
        assert re.search(r"Page size:\s+841\.\d+ x 595\.\d+", info)  # A4 landscape
        text = pdf_text(pdf, 1)
        assert "销售漏斗" in text and "本月成交" in text
        subprocess.run(["pdftoppm", "-r", "60", "-f", "1", "-l", "1", "-png", "-singlefile",
                        str(pdf), str(tmp_path / name)], check=True)
        shutil.copyfile(tmp_path / f"{name}.png", img / f"{name}.png")
        from PIL import Image

        im = Image.open(img / f"{name}.png").convert("RGB")
        assert im.width > im.height and len(im.getcolors(1 << 20) or []) > 50
