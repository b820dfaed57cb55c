"""Benchmark `crm apply` on the 100k-customer / 300k-follow-up workbook.

    .venv/bin/python bench/bench_apply.py [--customers 100000] [--repeat 3]

Steps: copy the cached benchmark workbook (bench/gen.py) to a temp folder; run a first
`crm apply` (it fills every engine column once: untimed for the budget, reported);
then, each round, patch in a few thousand user edits (new follow-ups without IDs, edited
notes) and time `crm apply` in a fresh process, next to a bare python-calamine read of
both data sheets of the same file, measured in the same round; the median ratio counts.
Each round starts from the state after the first apply, so the duplicate-scan worker
has no name cache (a cold run). Peak RSS is the apply process's maxrss; the worker's own
peak is in the timings line (rss_scan_worker).
Budget: apply ≤ 3 × the calamine read, peak RSS ≤ 2 GiB.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen import BENCH_TODAY, cached_workbook  # noqa: E402

from crm_sheets.schema import CUSTOMERS  # noqa: E402
from crm_sheets.writeback.xlsxpatch import patch_workbook  # noqa: E402

NOTES_COL = CUSTOMERS.keys.index("notes")

CALAMINE = """
import sys, time
from python_calamine import CalamineWorkbook
t = time.perf_counter()
wb = CalamineWorkbook.from_path(sys.argv[1])
for name in ("客户", "跟进记录"):  # the tabs of a Chinese master (bench/gen.py)
    wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
print(time.perf_counter() - t)
"""


def run_child(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """(wall seconds, peak RSS bytes of this child alone, stdout + timings line)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        t = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{args[:4]} failed ({proc.returncode}): "
                             f"{err.read().decode()[-2000:]}")
        timing = [ln for ln in err.read().decode("utf-8").splitlines()
                  if ln.startswith("timings:")]
        lines = [ln for ln in out.read().decode("utf-8").splitlines() if ln.strip()]
        return wall, usage.ru_maxrss * 1024, "\n".join(lines + timing)


def user_edits(path: Path, out: Path, n_followups: int, n_notes: int) -> int:
    """Append follow-ups without IDs and edit customers' notes; returns cells edited."""
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    cust = wb.get_sheet_by_name("客户").to_python(skip_empty_area=False)
    fol = wb.get_sheet_by_name("跟进记录").to_python(skip_empty_area=False)
    wb.close()
    ch: dict = {}
    step = max(1, (len(cust) - 1) // max(1, n_followups))
    for i in range(n_followups):
        crow = cust[1 + (i * step) % (len(cust) - 1)]
        r = len(fol) + 1 + i
        start = dt.datetime.combine(BENCH_TODAY, dt.time(9)) - dt.timedelta(hours=i % 20)
        for col, v in ((1, crow[0]), (3, start), (5, "电话"), (6, f"基准测试跟进 {i}"),
                       (9, crow[15])):
            ch[("Followups", r, col)] = v
    for i in range(n_notes):
        ch[("Customers", 2 + i * 37 % (len(cust) - 1), NOTES_COL)] = f"备注已修改 {i}"
    patch_workbook(path, out, ch)
    return len(ch)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--followups", type=int, default=1000)
    ap.add_argument("--notes", type=int, default=1000)
    ap.add_argument("--fresh", action="store_true", help="redo the first apply")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds (median reported)")
    args = ap.parse_args()
    base = cached_workbook(args.customers, 3 * args.customers)
    py = sys.executable
    crm = [py, "-c", "from crm_sheets.cli import main; main()"]
    cache = ROOT / "bench" / "out" / f"apply_{args.customers}"
    # a fixed work folder: the local state folder is keyed by the workbook's path
    tmp_p = ROOT / "bench" / "out" / f"apply_work_{args.customers}"
    shutil.rmtree(tmp_p, ignore_errors=True)
    tmp_p.mkdir(parents=True)
    master = tmp_p / "CRM.xlsx"
    env = {**os.environ, "CRM_STATE_DIR": str(tmp_p / "state"), "PYTHONPATH": str(ROOT),
           "CRM_TODAY": BENCH_TODAY.isoformat(), "CRM_TIMINGS": "1"}
    env.pop("CRM_HOME", None)
    if args.fresh or not (cache / "CRM.xlsx").exists():
        shutil.copyfile(base, master)
        first, rss1, out1 = run_child([*crm, "apply", str(master)], env)
        print(f"first apply (fills every engine column): {first:.1f} s, "
              f"peak RSS {rss1 / 2**20:.0f} MiB; "
              f"{' | '.join(out1.strip().splitlines()[-2:])}")
        shutil.rmtree(cache, ignore_errors=True)
        shutil.copytree(tmp_p, cache)
    else:
        print(f"reusing {cache.relative_to(ROOT)} (after the first apply; --fresh redoes it)")
    ratios, walls, bares, rsss = [], [], [], []
    for i in range(args.repeat):
        # each round: the workbook after its first apply (and its state), fresh edits
        shutil.rmtree(tmp_p)
        shutil.copytree(cache, tmp_p)
        edited = tmp_p / "edited.xlsx"
        n = user_edits(master, edited, args.followups, args.notes)
        os.replace(edited, master)
        read_s, _, out = run_child([py, "-c", CALAMINE, str(master)], env)
        bare = float(out.strip())
        wall, rss, out2 = run_child([*crm, "apply", str(master)], env)
        summary = " | ".join(out2.strip().splitlines()[-2:])
        ratios.append(wall / bare)
        walls.append(wall)
        bares.append(bare)
        rsss.append(rss)
        print(f"round {i + 1}: {n} cells edited; bare calamine read {bare:.2f} s; "
              f"crm apply {wall:.2f} s = {wall / bare:.2f} x; peak RSS {rss / 2**20:.0f} MiB; "
              f"{summary}")
    again, _, out3 = run_child([*crm, "apply", str(master)], env)
    print(f"second apply (nothing new): {again:.2f} s; "
          f"{' | '.join(out3.strip().splitlines()[-2:])}")
    print(f"file size {master.stat().st_size / 2**20:.1f} MiB")
    med = statistics.median(ratios)
    print(f"median: crm apply {statistics.median(walls):.2f} s, bare read "
          f"{statistics.median(bares):.2f} s, ratio {med:.2f} x (budget 3.0 x); "
          f"peak RSS {max(rsss) / 2**20:.0f} MiB (the apply process; the scan worker's own "
          f"peak is rss_scan_worker above; budget 2048 MiB for their sum)")
    shutil.rmtree(tmp_p, ignore_errors=True)


if __name__ == "__main__":
    main()
