"""Benchmark `crm import`: 50,000 rows into a 50,000-customer master, duplicate check included.

    .venv/bin/python bench/bench_import.py [--customers 50000] [--rows 50000] [--repeat 1]

The master is the cached benchmark workbook (bench/gen.py, 3 follow-ups per customer);
the source is an .xlsx written here from `sample_data.generate` with a different seed,
headers as other systems spell them (公司全称, 手机, 省份 ...), of which 5 % are
customers of the master again (same name, other phone formatting) so the duplicate
path is exercised. Each run copies the master to a temp folder and runs the import in
a fresh process; reported: wall time of the whole `crm import` command, and the
library steps (read+map+clean+plan / write / apply) from a second in-process run.
Budget: ≤ 30 s for the whole import.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import xlsxwriter

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen import BENCH_TODAY, OUT, cached_workbook  # noqa: E402

from crm_sheets.sample_data import generate  # noqa: E402

HEADERS = [("公司全称", "name"), ("联系人", "contact_name"), ("手机", "phone"), ("省份", "province"),
           ("城市", "city"), ("区县", "district"), ("所属行业", "industry"), ("负责人", "owner"),
           ("来源", "source"), ("首次接触时间", "first_contact"), ("邮箱", "email")]

STEPS = r"""
import datetime as dt, json, sys, time
sys.path.insert(0, {root!r})
from crm_sheets.importer.run import prepare_import, execute_import
t0 = time.perf_counter()
prep = prepare_import(sys.argv[1], sys.argv[2], today=dt.date.fromisoformat(sys.argv[3]))
t1 = time.perf_counter()
out = execute_import(prep, apply_after=False)
t2 = time.perf_counter()
from crm_sheets.apply.run import run_apply
run_apply(sys.argv[2], today=dt.date.fromisoformat(sys.argv[3]))
t3 = time.perf_counter()
print(json.dumps({{"prepare": t1 - t0, "write": t2 - t1, "apply": t3 - t2, **out.summary}}))
"""


def make_source(path: Path, rows: int, master_customers: int) -> Path:
    """A source workbook: `rows` rows, 5 % of them customers already in the master."""
    fresh, _ = generate(rows, 0, seed=7, today=BENCH_TODAY)
    known, _ = generate(master_customers, 3.0, seed=1, today=BENCH_TODAY)
    rng = random.Random(3)
    n_dup = rows // 20
    picks = rng.sample(known, n_dup)
    for p in picks:  # same company, phone typed with dashes
        ph = p["phone"]
        p["phone"] = f"{ph[:3]}-{ph[3:7]}-{ph[7:]}"
    data = fresh[: rows - n_dup] + picks
    rng.shuffle(data)
    wb = xlsxwriter.Workbook(str(path), {"constant_memory": True})
    ws = wb.add_worksheet("客户名单")
    datefmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    ws.write_row(0, 0, [h for h, _ in HEADERS])
    for r, c in enumerate(data, start=1):
        for col, (_, key) in enumerate(HEADERS):
            v = c.get(key)
            if v is None:
                continue
            if key == "first_contact":
                ws.write_datetime(r, col, _dt(v), datefmt)
            else:
                ws.write_string(r, col, str(v))
    wb.close()
    return path


def _dt(d):  # noqa: ANN001, ANN202
    import datetime as dt

    return dt.datetime(d.year, d.month, d.day)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    master_src = cached_workbook(args.customers, args.customers * 3)
    OUT.mkdir(parents=True, exist_ok=True)
    source = OUT / f"import_source_{args.rows}_{args.customers}.xlsx"
    if not source.exists():
        make_source(source, args.rows, args.customers)
    crm = str(ROOT / ".venv" / "bin" / "crm")
    walls: list[float] = []
    steps: list[dict] = []
    for _ in range(args.repeat):
        with tempfile.TemporaryDirectory() as tmp:
            master = Path(tmp) / "master.xlsx"
            shutil.copyfile(master_src, master)
            env = {**os.environ, "CRM_STATE_DIR": str(Path(tmp) / "state")}
            env.pop("CRM_HOME", None)
            t = time.perf_counter()
            proc = subprocess.run([crm, "import", str(source), str(master), "--today",
                                   BENCH_TODAY.isoformat()], env=env, capture_output=True,
                                  text=True)
            walls.append(time.perf_counter() - t)
            if proc.returncode not in (0, 1):
                raise SystemExit(proc.stderr[-2000:])
            last = [ln for ln in proc.stdout.splitlines() if ln.startswith("读取")]
            print("crm import:", round(walls[-1], 1), "s;", *last)
        with tempfile.TemporaryDirectory() as tmp:
            master = Path(tmp) / "master.xlsx"
            shutil.copyfile(master_src, master)
            env = {**os.environ, "CRM_STATE_DIR": str(Path(tmp) / "state")}
            proc = subprocess.run([sys.executable, "-c", STEPS.format(root=str(ROOT)),
                                   str(source), str(master), BENCH_TODAY.isoformat()],
                                  env=env, capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(proc.stderr[-2000:])
            steps.append(json.loads(proc.stdout.strip().splitlines()[-1]))
            print("steps:", {k: round(v, 2) if isinstance(v, float) else v
                             for k, v in steps[-1].items()})
    print(json.dumps({"customers": args.customers, "rows": args.rows,
                      "crm_import_seconds_median": round(statistics.median(walls), 2),
                      "runs": [round(w, 2) for w in walls],
                      "prepare_seconds": round(statistics.median(s["prepare"] for s in steps), 2),
                      "write_seconds": round(statistics.median(s["write"] for s in steps), 2),
                      "apply_seconds": round(statistics.median(s["apply"] for s in steps), 2)},
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
