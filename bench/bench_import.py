"""Benchmark `crm import`: 50,000 rows into a 50,000-customer master, duplicate check included.

    .venv/bin/python bench/bench_import.py [--customers 50000] [--rows 50000] [--repeat 1]

The master is the cached benchmark workbook (bench/gen.py, 3 follow-ups per customer);
applied once (a master in use has its engine columns filled);
the source is an .xlsx written here from `sample_data.generate` with a different seed,
headers as other systems spell them (公司全称, 手机, 省份 ...), of which 5 % are
customers of the master again (same name, other phone formatting) so the duplicate
path is exercised. Each run copies the master to a temp folder and runs `crm import` in a
fresh process, once as by default and once with `--apply` (import, then `crm apply`);
reported: wall and CPU seconds of each. Budget: ≤ 30 s for the import.
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


def applied_master(customers: int) -> Path:
    """The benchmark master after one `crm apply` (a master in use has its engine columns
    filled), cached in bench/out/."""
    path = OUT / f"import_master_{customers}_applied.xlsx"
    if not path.exists():
        src = cached_workbook(customers, customers * 3)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp) / "master.xlsx"
            shutil.copyfile(src, work)
            env = {**os.environ, "CRM_STATE_DIR": str(Path(tmp) / "state")}
            subprocess.run([str(ROOT / ".venv" / "bin" / "crm"), "apply", str(work), "--today",
                            BENCH_TODAY.isoformat()], env=env, check=True, capture_output=True)
            shutil.copyfile(work, path)
    return path


def run_import_cli(source: Path, master_src: Path, extra: list[str]) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the child, summary line) of one `crm import`."""
    with tempfile.TemporaryDirectory() as tmp:
        master = Path(tmp) / "master.xlsx"
        shutil.copyfile(master_src, master)
        env = {**os.environ, "CRM_STATE_DIR": str(Path(tmp) / "state")}
        env.pop("CRM_HOME", None)
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            t = time.perf_counter()
            proc = subprocess.Popen([str(ROOT / ".venv" / "bin" / "crm"), "import", str(source),
                                     str(master), "--today", BENCH_TODAY.isoformat(), *extra],
                                    env=env, stdout=out, stderr=err)
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t
            out.seek(0)
            err.seek(0)
            code = os.waitstatus_to_exitcode(status)
            text = out.read().decode("utf-8")
            if code not in (0, 1):
                raise SystemExit(err.read().decode("utf-8")[-2000:])
    line = next((ln for ln in text.splitlines() if ln.startswith("读取")), "")
    return wall, usage.ru_utime + usage.ru_stime, line


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=50_000)
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args()
    master_src = applied_master(args.customers)
    OUT.mkdir(parents=True, exist_ok=True)
    source = OUT / f"import_source_{args.rows}_{args.customers}.xlsx"
    if not source.exists():
        make_source(source, args.rows, args.customers)
    result: dict = {"customers": args.customers, "rows": args.rows}
    for label, extra in (("import", []), ("import_and_apply", ["--apply"])):
        runs = [run_import_cli(source, master_src, extra) for _ in range(args.repeat)]
        print(label, runs[-1][2])
        result[label] = {"wall_median": round(statistics.median(r[0] for r in runs), 2),
                         "cpu_median": round(statistics.median(r[1] for r in runs), 2),
                         "walls": [round(r[0], 2) for r in runs]}
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
