"""The benchmark workbook: 100,000 customers and 300,000 follow-ups, deterministic.

`make_benchmark_workbook(path)` writes it with the same writer as the template (so it
has the master's headers, formats and dropdowns); `cached_workbook()` reuses a file
already generated with the same parameters under bench/out/.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from crm_sheets.sample_data import SALES_TEAM, SERVICE_STAFF, generate  # noqa: E402
from crm_sheets.template import build_workbook  # noqa: E402

OUT = ROOT / "bench" / "out"
BENCH_TODAY = dt.date(2026, 11, 26)


def make_benchmark_workbook(path: str | Path, customers: int = 100_000, followups: int = 300_000,
                            seed: int = 1) -> Path:
    """Write a master workbook with `customers` rows and about `followups` follow-ups."""
    cust, fol = generate(customers, followups / customers, seed=seed, today=BENCH_TODAY)
    owners = list(SALES_TEAM) + [f"销售{i:02d}" for i in range(1, 16)]
    for i, c in enumerate(cust):  # 20 reps for view benchmarks
        c["owner"] = owners[i % len(owners)]
    by_id = {c["customer_id"]: c["owner"] for c in cust}
    for f in fol:
        if f["owner"] not in SERVICE_STAFF:
            f["owner"] = by_id[f["customer_id"]]
    return build_workbook(path, customers=cust, followups=fol, constant_memory=True,
                          lists={"owners": owners, "service": list(SERVICE_STAFF)})


def cached_workbook(customers: int = 100_000, followups: int = 300_000, seed: int = 1) -> Path:
    """The benchmark workbook for these parameters, generated once into bench/out/."""
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / f"bench_{customers}_{followups}_{seed}.xlsx"
    if not path.exists():
        tmp = path.with_suffix(".tmp.xlsx")
        t = time.perf_counter()
        make_benchmark_workbook(tmp, customers, followups, seed)
        tmp.replace(path)
        print(f"generated {path.name} in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    return path


if __name__ == "__main__":
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 100_000
    print(cached_workbook(n, 3 * n))
