"""Shared benchmark helpers: run a step in a fresh process, report seconds and peak RSS."""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

_RUNNER = r"""
import json, resource, sys, time
sys.path.insert(0, {root!r})
{setup}
t = time.perf_counter()
{stmt}
elapsed = time.perf_counter() - t
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
_w = sys.modules.get("crm_sheets.dedupe.worker")  # a scan worker still saving its cache
child = max(child, int(getattr(_w, "last_peak_mib", 0) * 1024**2))
print(json.dumps({{"seconds": elapsed, "peak_rss": rss, "child_rss": child}}))
"""

BARE_READ_SETUP = "import python_calamine as pc"
BARE_READ = """
wb = pc.CalamineWorkbook.from_path(PATH)
for name in ("客户", "跟进记录"):  # the tabs of a Chinese master (bench/gen.py)
    wb.get_sheet_by_name(name).to_python(skip_empty_area=False)
"""


def _run_once(stmt: str, setup: str, path: Path | None) -> dict:
    code = _RUNNER.format(root=str(ROOT), setup=f"PATH = {str(path)!r}\n{setup}", stmt=stmt)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(runs: list[dict]) -> dict:
    return {"seconds": statistics.median(r["seconds"] for r in runs),
            "peak_rss_mib": max(r["peak_rss"] for r in runs) / 1024**2,
            "child_rss_mib": max(r.get("child_rss", 0) for r in runs) / 1024**2,
            "runs": [round(r["seconds"], 2) for r in runs]}


def measure_interleaved(steps: dict[str, tuple[str, str]], path: Path | None,
                        repeat: int = 3) -> dict[str, dict]:
    """Like `measure` for several steps, run in turn (A B C A B C …) so a noisy neighbour
    slows every step alike instead of one whole series."""
    runs: dict[str, list[dict]] = {k: [] for k in steps}
    for _ in range(repeat):
        for name, (stmt, setup) in steps.items():
            runs[name].append(_run_once(stmt, setup, path))
    return {k: _summary(v) for k, v in runs.items()}


def measure(stmt: str, setup: str = "", path: Path | None = None, repeat: int = 3) -> dict:
    """Median seconds and max peak RSS of `stmt` over `repeat` fresh processes.

    child_rss_mib: the largest peak of a child process the step started (the duplicate
    scan worker); peak_rss_mib + child_rss_mib bounds the step's memory from above.
    """
    return _summary([_run_once(stmt, setup, path) for _ in range(repeat)])


def bare_read(path: Path, repeat: int = 3) -> dict:
    """The floor every budget is a ratio of: python-calamine reading both data sheets."""
    return measure(BARE_READ, BARE_READ_SETUP, path, repeat)
