"""Watcher speed: save of a 10,000-customer master → findings written; idle CPU.

Run: .venv/bin/python bench/bench_watch.py [--customers 10000] [--saves 5] [--idle 20]
     [--modes events,polling] [--json FILE]
--customers picks the bench/gen.py workbook (issue 15 budgets the 100,000-customer master:
save → findings ≤ 5 s median beyond the debounce); --json writes the raw figures.
Latency is measured from the moment an Excel-style save lands (the rename of the temp
over the master) to the `findings` event, which is emitted after
reports/latest-findings.json is written; "beyond debounce" subtracts the debounce.
Apply is off here (it runs after the findings and is measured by bench_apply.py).
Idle CPU is the process CPU time (all threads) over an idle period / wall time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from gen import BENCH_TODAY, cached_workbook  # noqa: E402

from crm_sheets.home import create_home  # noqa: E402
from crm_sheets.reader import load  # noqa: E402
from crm_sheets.watch import Watcher, WatchOptions  # noqa: E402
from crm_sheets.writeback.xlsxpatch import patch_workbook  # noqa: E402


def variants(src: Path, out: Path, n: int) -> list[bytes]:
    wb = load(src)
    t = wb.customers
    col = t.columns["name"]
    datas = []
    for i in range(n):
        rec = t.records[(i * 997) % len(t.records)]
        dst = out / f"v{i}.xlsx"
        patch_workbook(src, dst, {(t.sheet_name, rec.row, col): f"基准测试变更{i}有限公司"})
        datas.append(dst.read_bytes())
    return datas


def excel_save(master: Path, data: bytes) -> float:
    tmp = master.with_name(os.urandom(4).hex().upper())
    tmp.write_bytes(data)
    os.unlink(master)
    os.rename(tmp, master)
    return time.monotonic()


def wait_idle(w: Watcher, timeout: float = 300.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if w.is_idle():
            time.sleep(0.3)
            if w.is_idle():
                return
        time.sleep(0.1)


def run(polling: bool, saves: int, idle: float, debounce: float, datas: list[bytes],
        src: Path) -> dict:
    os.environ["CRM_STATE_DIR"] = tempfile.mkdtemp(prefix="crm-bench-state-")
    root = Path(tempfile.mkdtemp(prefix="crm-bench-watch-")) / "home"
    home = create_home(root)
    shutil.copyfile(src, home.master)
    opts = WatchOptions(polling=polling, interval=1.0, debounce=debounce, settle=0.3,
                        apply=False, backup_every=None, today=lambda: BENCH_TODAY)
    w = Watcher(home, opts)
    th = threading.Thread(target=w.run, daemon=True)
    t0 = time.monotonic()
    th.start()
    first = w.wait_for(lambda e: e.kind == "findings", timeout=600)
    baseline = time.monotonic() - t0
    lat = []
    inner = []
    for data in datas[:saves]:
        wait_idle(w)  # saves minutes apart: each one lands on an idle watcher
        time.sleep(0.5)
        sha = hashlib.sha256(data).hexdigest()
        seq = w.seq
        landed = excel_save(home.master, data)
        ev = w.wait_for(lambda e, sha=sha: e.kind == "findings" and e.data["sha256"] == sha,
                        after=seq, timeout=120)
        assert ev is not None, "save not validated"
        lat.append(ev.at - landed)
        inner.append(ev.data["seconds"])
    wait_idle(w)
    time.sleep(2.0)
    c0, w0 = time.process_time(), time.monotonic()
    time.sleep(idle)
    cpu = (time.process_time() - c0) / max(time.monotonic() - w0, 1e-6) * 100
    w.stop()
    th.join(30)
    return {"mode": "polling" if polling else "events", "baseline_s": baseline,
            "first_findings": first.data["findings"] if first else None,
            "latency": lat, "cycle": inner, "idle_cpu_pct": cpu, "debounce": debounce}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--saves", type=int, default=5)
    ap.add_argument("--idle", type=float, default=20.0)
    ap.add_argument("--debounce", type=float, default=1.0)
    ap.add_argument("--customers", type=int, default=10_000)
    ap.add_argument("--modes", default="events,polling")
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    args = ap.parse_args()
    src = cached_workbook(args.customers, 3 * args.customers)
    with tempfile.TemporaryDirectory() as tmp:
        datas = variants(src, Path(tmp), args.saves)
    print(f"# bench_watch {dt.date.today()} cpus={os.cpu_count()} "
          f"load={os.getloadavg()[0]:.1f} customers={args.customers}")
    results = []
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    for polling in [m == "polling" for m in ("events", "polling") if m in modes]:
        r = run(polling, args.saves, args.idle, args.debounce, datas, src)
        results.append(r)
        med = statistics.median(r["latency"])
        print(f"{r['mode']}: first full validation {r['baseline_s']:.1f} s; save→findings median "
              f"{med:.2f} s (beyond debounce {med - r['debounce']:.2f} s; runs "
              f"{[round(x, 2) for x in r['latency']]}); cycle {statistics.median(r['cycle']):.2f} s; "
              f"idle CPU {r['idle_cpu_pct']:.2f} % of a core")
    if args.json:
        args.json.write_text(json.dumps(results, ensure_ascii=False, indent=1))


if __name__ == "__main__":
    main()
