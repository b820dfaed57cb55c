"""Reports benchmark: query, dashboard and PDF export on the benchmark workbook.

    .venv/bin/python bench/bench_reports.py [--customers 100000] [--repeat 1]

Bars (issue 5): dashboard.xlsx <= 15 s; a three-filter query <= 1.5 x the bare
python-calamine read of the same workbook (measured in the same run); PDF export of
1,000 rows <= 10 s. Prints one markdown table row per measurement.
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import python_calamine as pc  # noqa: E402
from gen import BENCH_TODAY, cached_workbook  # noqa: E402

from crm_sheets.charts_data import build_dashboard  # noqa: E402
from crm_sheets.cli.report_cmds import select  # noqa: E402
from crm_sheets.dashboard import write_dashboard_xlsx  # noqa: E402
from crm_sheets.export.pdf import write_selection_pdf  # noqa: E402
from crm_sheets.query import Filters, QueryResult  # noqa: E402
from crm_sheets.report_load import load_for_dashboard  # noqa: E402


def timed(fn, repeat: int):  # noqa: ANN001, ANN201
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), out


def bare_calamine(path: Path) -> None:
    wb = pc.CalamineWorkbook.from_path(str(path))
    for name in wb.sheet_names:
        wb.get_sheet_by_name(name).to_python()
    wb.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    path = cached_workbook(args.customers, 3 * args.customers)
    today = BENCH_TODAY
    print(f"workbook: {path.name} ({path.stat().st_size / 1e6:.1f} MB), today {today}")

    t_cal, _ = timed(lambda: bare_calamine(path), args.repeat)
    filters = Filters.from_options(industry="制造业", type="意向客户", not_followed_within="30d")
    t_q, res = timed(lambda: select(path, filters, today, None), args.repeat)

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)

        def dashboard() -> None:
            wb = load_for_dashboard(path)
            write_dashboard_xlsx(build_dashboard(wb, today=today), out / "dashboard.xlsx")

        t_d, _ = timed(dashboard, args.repeat)
        big = select(path, Filters.from_options(stage="意向,谈判"), today, None)
        first = QueryResult(records=big.records[:1000], filters=big.filters, today=today,
                            lang=big.lang, fields=big.fields, last_followup=big.last_followup)
        assert len(first.records) == 1000
        t_pdf, _ = timed(lambda: write_selection_pdf(first, out / "1000.pdf"), args.repeat)

    rows = [
        ("bare python-calamine read, all sheets", t_cal, ""),
        (f"crm query, 3 filters ({len(res.records)} rows)", t_q,
         f"{t_q / t_cal:.2f} x calamine (bar 1.5)"),
        ("crm dashboard -> dashboard.xlsx (read + figures + write)", t_d, "bar 15 s"),
        ("PDF export, 1,000 rows (table + charts)", t_pdf, "bar 10 s"),
    ]
    print(f"\n{dt.date.today()}  customers={args.customers:,}  repeat={args.repeat} (median)\n")
    print("| operation | seconds | note |\n|---|---|---|")
    for name, sec, note in rows:
        print(f"| {name} | {sec:.2f} | {note} |")


if __name__ == "__main__":
    main()
