"""Duplicate detection at scale: full dedupe of N customers and one incremental check.

Usage:
    .venv/bin/python bench/bench_dedupe.py [--n 100000] [--checks 200] [--seed 1]

Names are generated here (deterministic seed): region + brand + industry + legal form,
about 5% planted twins (variants of an existing name) so the clusters are realistic.
Reports wall time and peak extra memory (tracemalloc plus RSS) of `find_duplicates`, the
time to build a `DuplicateIndex`, and the median/p95 of `DuplicateIndex.check` on rows
that are not in the sheet. Targets: full ≤ 10 s, ≤ 1 GiB extra; one check ≤ 20 ms median.
"""

from __future__ import annotations

import argparse
import random
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from crm_sheets.dedupe import DuplicateIndex, find_duplicates  # noqa: E402
from crm_sheets.dedupe.normalize import forget_forms  # noqa: E402
from crm_sheets.dedupe.synthetic import company_names, variant  # noqa: E402
from crm_sheets.model import Record, new_workbook  # noqa: E402

KINDS = ("spaces", "brackets", "drop_youxian", "region_drop", "typo", "short", "traditional")


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def build(n: int, seed: int):  # noqa: ANN201
    rng = random.Random(seed)
    base = company_names(int(n * 0.95), seed=seed)
    names = list(base)
    while len(names) < n:
        names.append(variant(rng.choice(base), rng.choice(KINDS), rng))
    rng.shuffle(names)
    wb = new_workbook()
    for k, name in enumerate(names):
        wb.customers.records.append(Record(row=k + 2, values={
            "customer_id": f"C2024{k // 1000:04d}{k % 1000:03d}", "name": name,
            "phone": f"1{rng.randrange(3, 9)}{rng.randrange(10**8, 10**9):09d}",
            "email": None}))
    return wb


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=100_000)
    ap.add_argument("--checks", type=int, default=200)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--trace-memory", action="store_true",
                    help="also trace Python allocations (slows the run down ~2x)")
    args = ap.parse_args(argv)

    wb = build(args.n, args.seed)
    forget_forms()  # time normalisation as part of the run
    rss0, peak0 = rss_mib(), peak_rss_mib()
    if args.trace_memory:
        tracemalloc.start()
    t0, c0 = time.perf_counter(), time.process_time()
    res = find_duplicates(wb)
    full_s, full_cpu = time.perf_counter() - t0, time.process_time() - c0
    peak = tracemalloc.get_traced_memory()[1] if args.trace_memory else 0
    tracemalloc.stop()
    rss1, peak1 = rss_mib(), peak_rss_mib()
    pairs = sum(len(c.pairs) for c in res.clusters)
    print(f"customers: {args.n}  clusters: {len(res.clusters)}  pairs: {pairs}  "
          f"candidates: {res.candidates}")
    traced = f"  peak traced: {peak / 2**20:.0f} MiB" if args.trace_memory else ""
    print(f"full dedupe: {full_s:.2f} s wall, {full_cpu:.2f} s CPU  extra memory: RSS +{rss1 - rss0:.0f} MiB, "
          f"peak RSS +{max(0.0, peak1 - max(peak0, rss0)):.0f} MiB over the loaded sheet{traced}")

    t0 = time.perf_counter()
    idx = DuplicateIndex.from_workbook(wb)
    build_s = time.perf_counter() - t0
    rng = random.Random(args.seed + 1)
    probes = [variant(rng.choice(company_names(2000, seed=99)), rng.choice(KINDS), rng)
              for _ in range(args.checks // 2)]
    probes += [variant(wb.customers.records[rng.randrange(args.n)].values["name"],
                       rng.choice(KINDS), rng) for _ in range(args.checks - len(probes))]
    times: list[float] = []
    hits = 0
    for name in probes:
        t = time.perf_counter()
        hits += bool(idx.check({"name": name, "phone": None, "email": None}))
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    print(f"index build: {build_s:.2f} s  incremental check: median "
          f"{statistics.median(times):.2f} ms  p95 {times[int(len(times) * 0.95) - 1]:.2f} ms  "
          f"max {times[-1]:.2f} ms  ({len(times)} checks, {hits} with a match)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
