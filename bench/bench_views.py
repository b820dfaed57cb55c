"""Benchmark views (issue 7).

    .venv/bin/python bench/bench_views.py [--repeat 1]

1. Build all views — 20 sales reps plus the service, marketing and management copies —
   from a 10,000-customer / 30,000-follow-up master (budget ≤ 20 s).
2. Merge one rep's view with 200 changed cells into a 100,000-customer / 300,000-follow-up
   master (budget ≤ 3 × the bare python-calamine read of that master, measured in the
   same run). Each merge run starts from a fresh copy of the master (copy untimed).
Both timed steps run in fresh processes (bench/common.measure). Accounts are created
without passwords (no argon2 cost; not part of the figures).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import bare_read, measure  # noqa: E402
from gen import BENCH_TODAY, cached_workbook  # noqa: E402


def make_home(root: Path, master: Path, state: Path) -> Path:
    os.environ["CRM_STATE_DIR"] = str(state)
    from crm_sheets import accounts
    from crm_sheets.home import create_home
    from crm_sheets.reader import read_raw

    home = create_home(root)
    shutil.copy(master, home.master)
    accounts.create_first_admin(home, "admin", "bench password 1", display_name="管理员")
    lists = read_raw(master, "Lists")["Lists"]
    owners = [r[lists[0].index("负责人")] for r in lists[1:] if r[lists[0].index("负责人")]]
    for i, owner in enumerate(owners):
        accounts.add_user(home, f"rep{i:02d}", "sales", by="admin", display_name=owner)
    return home.root


def edit_cells(view: Path, n: int) -> int:
    import openpyxl

    wb = openpyxl.load_workbook(view)
    ws = wb["客户"]
    headers = [c.value for c in ws[1]]
    col = headers.index("备注") + 1
    for r in range(2, 2 + n):
        ws.cell(r, col).value = f"bench note {r}"
    wb.save(view)
    return n


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--skip-build", action="store_true")
    ap.add_argument("--skip-merge", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-views-"))
    state = tmp / "state"
    setup = (f"import os, datetime, shutil\nos.environ['CRM_STATE_DIR'] = {str(state)!r}\n"
             "from crm_sheets.home import open_home\n"
             "from crm_sheets.views import build_views, merge_view\n")
    if not args.skip_build:
        m10 = cached_workbook(10_000, 30_000)
        root = make_home(tmp / "home10k", m10, state)
        res = measure(f"paths = build_views(PATH, home, today=datetime.date.fromisoformat("
                      f"{BENCH_TODAY.isoformat()!r}))\nassert len(paths) == 23, len(paths)",
                      setup + f"home = open_home(__import__('pathlib').Path({str(root)!r}))\n",
                      root / "CRM.xlsx", args.repeat)
        sizes = sorted(p.stat().st_size for p in (root / "views").glob("*.xlsx"))
        print(f"build 23 views from 10k customers: {res['seconds']:.2f} s (runs {res['runs']}, "
              f"peak {res['peak_rss_mib']:.0f} MiB; views {sizes[0] // 1024}–{sizes[-1] // 1024} KiB)")
    if not args.skip_merge:
        m100 = cached_workbook(100_000, 300_000)
        root = make_home(tmp / "home100k", m100, state)
        from crm_sheets.home import open_home
        from crm_sheets.views import build_views

        home = open_home(root)
        t = time.perf_counter()
        [view] = build_views(home.master, home, users=["rep00"], today=BENCH_TODAY)
        t_view = time.perf_counter() - t
        edit_cells(view, 200)
        pristine = tmp / "pristine.xlsx"
        shutil.copy(home.master, pristine)
        base = bare_read(home.master, args.repeat)
        stmt = (f"r = merge_view(PATH, {str(view)!r}, home=home, today=datetime.date.fromisoformat("
                f"{BENCH_TODAY.isoformat()!r}))\nassert len(r.landed) == 200, (len(r.landed), "
                "r.rejected[:3])\nassert r.written")
        res = measure(stmt, setup + f"shutil.copy({str(pristine)!r}, PATH)\n"
                      f"home = open_home(__import__('pathlib').Path({str(root)!r}))\n",
                      home.master, args.repeat)
        ratio = res["seconds"] / base["seconds"]
        print(f"one rep's view from 100k customers (untimed setup): {t_view:.2f} s")
        print(f"bare calamine read of the 100k master: {base['seconds']:.2f} s (runs {base['runs']})")
        print(f"merge 200 changed cells into 100k master: {res['seconds']:.2f} s (runs {res['runs']}, "
              f"peak {res['peak_rss_mib']:.0f} MiB) = {ratio:.2f} × bare read (budget 3.0)")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
