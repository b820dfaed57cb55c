"""Run every benchmark in turn (`make bench`). Each prints its figures and budget verdict;
docs/benchmarks.md records them with the exact commands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_core.py", "bench_dedupe.py", "bench_apply.py", "bench_reports.py", "bench_accounts.py",
           "bench_views.py", "bench_import.py", "bench_watch.py", "bench_portal.py", "bench_speed.py"]


def main() -> int:
    failed = []
    for name in SCRIPTS:
        script = HERE / name
        if not script.exists():
            continue
        print(f"=== {name}", flush=True)
        if subprocess.run([sys.executable, str(script), *sys.argv[1:]], check=False).returncode:
            failed.append(name)
    if failed:
        print("failed: " + ", ".join(failed))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
