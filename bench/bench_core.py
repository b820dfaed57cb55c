"""Engine core budget: load + validate ≤ 2.0 × the bare calamine read, peak RSS ≤ 1.5 GiB.

"load + validate" is `check_file`, the call `crm validate` makes (and apply's read +
check): it runs the duplicate scan in a second process while the rest is read and
checked. The memory figure compared with the budget is the main process's peak plus the
scan worker's peak (an upper bound of what the machine needs at once). "cold" runs start
from an empty state folder (every name normalised); "warm" ones find the name-forms
cache an earlier run of the same workbook left. The budget is judged on the slower.

Usage: .venv/bin/python bench/bench_core.py [--customers N] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import BARE_READ, BARE_READ_SETUP, measure, measure_interleaved  # noqa: E402
from gen import BENCH_TODAY, cached_workbook  # noqa: E402

TODAY = f"datetime.date.fromisoformat({BENCH_TODAY.isoformat()!r})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = cached_workbook(args.customers, 3 * args.customers)
    check = f"wb, rep = check_file(PATH, {TODAY})"
    imports = "import datetime, os, tempfile\nfrom crm_sheets.validation import check_file"
    warm_dir = Path(__file__).resolve().parent / "out" / "state_warm"
    warm_env = f"import os\nos.environ['CRM_STATE_DIR'] = {str(warm_dir)!r}\n" + imports
    measure(check, warm_env, path, 1)  # leaves the name-forms cache for the warm runs
    r = measure_interleaved({
        "bare": (BARE_READ, BARE_READ_SETUP),
        # cold: an empty state folder each run, so the scan normalises every name
        "cold": (check, "import tempfile, os\nos.environ['CRM_STATE_DIR'] = tempfile.mkdtemp()\n"
                 + imports),
        # warm: the name-forms cache a previous run of the same workbook left
        "warm": (check, warm_env),
        "seq": (f"wb = load(PATH); rep = validate(wb, {TODAY})",
                "import datetime, os\nos.environ['CRM_PARALLEL'] = '0'\n"
                "from crm_sheets import load, validate"),
        "load": ("wb = load(PATH)", "from crm_sheets import load"),
    }, path, args.repeat)
    base, cold, warm, seq, only_load = r["bare"], r["cold"], r["warm"], r["seq"], r["load"]
    b = base["seconds"]

    def line(label: str, r: dict) -> str:
        mem = r["peak_rss_mib"] + r["child_rss_mib"]
        worker = f" + scan worker {r['child_rss_mib']:.0f} = {mem:.0f} MiB" if r["child_rss_mib"] else " MiB"
        return (f"{label:34}: {r['seconds']:6.2f} s = {r['seconds'] / b:.2f} x  (runs {r['runs']}, "
                f"peak {r['peak_rss_mib']:.0f}{worker})")

    print(f"workbook: {path.name}")
    print(line("bare calamine read", base))
    print(line("load", only_load))
    print(line("load + validate, one process", seq))
    print(line("check_file (crm validate), cold", cold))
    print(line("check_file (crm validate), warm", warm))
    worst = max(cold["seconds"], warm["seconds"]) / b
    mem = max(r["peak_rss_mib"] + r["child_rss_mib"] for r in (cold, warm))
    print(f"budget: ratio {worst:.2f} x (<= 2.0), memory {mem:.0f} MiB (<= 1536)")
    print("PASS" if worst <= 2.0 and mem <= 1536 else "OVER BUDGET")


if __name__ == "__main__":
    main()
