"""Engine core budget: load + validate ≤ 2.0 × the bare calamine read, peak RSS ≤ 1.5 GiB.

"load + validate" is `check_file`, the call `crm validate` makes (and apply's read +
check): it runs the duplicate scan in a second process while the rest is read and
checked. The memory figure compared with the budget is the main process's peak plus the
scan worker's peak (an upper bound of what the machine needs at once).

Usage: .venv/bin/python bench/bench_core.py [--customers N] [--repeat R]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bare_read, measure  # noqa: E402
from gen import BENCH_TODAY, cached_workbook  # noqa: E402

TODAY = f"datetime.date.fromisoformat({BENCH_TODAY.isoformat()!r})"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--customers", type=int, default=100_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    path = cached_workbook(args.customers, 3 * args.customers)
    base = bare_read(path, args.repeat)
    lv = measure(f"wb, rep = check_file(PATH, {TODAY})",
                 "import datetime\nfrom crm_sheets.validation import check_file", path, args.repeat)
    seq = measure(f"wb = load(PATH); rep = validate(wb, {TODAY})",
                  "import datetime, os\nos.environ['CRM_PARALLEL'] = '0'\n"
                  "from crm_sheets import load, validate", path, args.repeat)
    only_load = measure("wb = load(PATH)", "from crm_sheets import load", path, args.repeat)
    ratio = lv["seconds"] / base["seconds"]
    mem = lv["peak_rss_mib"] + lv["child_rss_mib"]
    print(f"workbook: {path.name}")
    print(f"bare calamine read        : {base['seconds']:.2f} s  (runs {base['runs']}, peak {base['peak_rss_mib']:.0f} MiB)")
    print(f"load                      : {only_load['seconds']:.2f} s  (runs {only_load['runs']}, peak {only_load['peak_rss_mib']:.0f} MiB)")
    print(f"load + validate, 1 process: {seq['seconds']:.2f} s  (runs {seq['runs']}, peak {seq['peak_rss_mib']:.0f} MiB)"
          f"  = {seq['seconds'] / base['seconds']:.2f} x")
    print(f"load + validate (check_file): {lv['seconds']:.2f} s  (runs {lv['runs']}, peak {lv['peak_rss_mib']:.0f} MiB"
          f" + scan worker {lv['child_rss_mib']:.0f} MiB = {mem:.0f} MiB)")
    print(f"ratio                     : {ratio:.2f} x  (budget 2.0 x)   memory {mem:.0f} MiB (budget 1536 MiB)")
    ok = ratio <= 2.0 and mem <= 1536
    print("PASS" if ok else "OVER BUDGET")


if __name__ == "__main__":
    main()
