"""Issue 15 "Speed to the floor": every budgeted step in ONE table, with verdicts.

    .venv/bin/python bench/bench_speed.py [--sizes 10000,40000,100000] [--repeat 3]
        [--compare DIR] [--steps validate_warm,validate_cold,apply,dashboard,query]
        [--watch] [--json FILE]

Each step is a whole `crm` process (CLI start-up included), timed from outside, on the
bench/gen.py workbook of each size. Every round runs the bare python-calamine read of
both data sheets (bench/common.py BARE_READ, its in-process time) and then each step, so
a noisy neighbour slows all alike (interleaved); "× bare" is the median over the rounds
of step seconds / bare seconds of the same round.

Steps (CRM_TODAY fixed to the benchmark's date, CRM_STATE_DIR pointed at a folder of the
bench, CRM_HOME unset):
- validate_warm: `crm validate --format json` on a copy where 1 % of the customer rows
  had a phone, notes or stage cell edited since the last check; the state folder holds the
  check of the unedited copy (restored before every round).
- validate_cold: the same command and workbook with an empty state folder.
- apply: `crm apply` after 6,000 edited cells (bench_apply.user_edits: 1,000 new
  follow-ups without IDs and 1,000 edited notes), from the file and state left by a first
  apply (restored before every round).
- dashboard: `crm dashboard`; query: `crm query` with three filters (table output).
- watch (--watch): bench_watch.py on the same size; save → findings beyond the debounce.

Peak MiB is the step's own peak RSS plus the largest peak of a process it started (the
duplicate-scan worker): an upper bound of all its processes together.
Budgets are the issue's at 100,000 customers; at smaller sizes each ratio may be 0.2 higher.
`--compare DIR` also runs each step with the code of another checkout (PYTHONPATH=DIR, e.g.
`git -C /work/main worktree add /tmp/base-b 3b17668`), interleaved in the same rounds, and
prints its rows beside ours ("base").
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import BARE_READ  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
HERE = Path(__file__).resolve().parent

STEPS = ("validate_warm", "validate_cold", "apply", "dashboard", "query")
BUDGETS = {"validate_warm": 1.0, "validate_cold": 1.4, "apply": 1.8, "dashboard": 1.0, "query": 0.9}
WATCH_BUDGET_S = 5.0  # save → findings, beyond the debounce
MEM_BUDGET_MIB = 1024.0
FULL_SIZE = 100_000
SMALL_SLACK = 0.2  # at 10k and 40k the same ratios hold within 0.2
EDIT_SHARE = 0.01  # validate_warm: 1 % of the customer rows edited

BENCH_TODAY = "2026-11-26"  # bench/gen.py BENCH_TODAY (a test checks they agree)
QUERY_ARGS = ["--industry", "制造业", "--type", "意向客户", "--not-followed-within", "30d"]


# ---------------------------------------------------------------- table and verdicts


def budget_for(step: str, size: int) -> float:
    """The step's budget at this size: a ratio to the bare read (seconds for watch)."""
    if step == "watch":
        return WATCH_BUDGET_S
    base = BUDGETS[step]
    return base if size >= FULL_SIZE else round(base + SMALL_SLACK, 2)


def verdict(step: str, size: int, value: float | None, peak_mib: float | None) -> str:
    """'met' when the time (ratio, or seconds for watch) and the memory are within budget."""
    if value is None:
        return "n/a"
    over = value > budget_for(step, size) + 1e-9
    if peak_mib is not None and peak_mib > MEM_BUDGET_MIB:
        over = True
    return "over" if over else "met"


def ratio_median(step_s: list[float], bare_s: list[float]) -> float:
    """Median over rounds of step / bare of the same round (interleaved pairs)."""
    return statistics.median(s / b for s, b in zip(step_s, bare_s, strict=True))


@dataclass
class Row:
    step: str
    size: int
    code: str  # "ours" or "base"
    seconds: list[float]  # per round (watch: save → findings beyond debounce)
    ratio: float | None  # × bare (None for watch)
    peak_mib: float | None
    extra: dict = field(default_factory=dict)

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def budget(self) -> float:
        return budget_for(self.step, self.size)

    @property
    def verdict(self) -> str:
        value = self.median_s if self.step == "watch" else self.ratio
        return verdict(self.step, self.size, value, self.peak_mib)

    def as_dict(self) -> dict:
        return {
            "step": self.step,
            "size": self.size,
            "code": self.code,
            "seconds": [round(s, 3) for s in self.seconds],
            "median_s": round(self.median_s, 3),
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "budget": self.budget,
            "peak_mib": None if self.peak_mib is None else round(self.peak_mib, 1),
            "verdict": self.verdict,
            **self.extra,
        }


def format_table(rows: list[Row], bare: dict[int, list[float]]) -> str:
    """The one table: a bare-read row per size, then each step (ours, then base)."""
    out = [
        "| step | size | code | median s | × bare | budget | peak MiB | verdict |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for size in sorted({r.size for r in rows} | set(bare)):
        if size in bare:
            out.append(
                f"| bare calamine read | {size:,} | | {statistics.median(bare[size]):.2f} "
                "| 1.00 | | | |"
            )
        for r in sorted(
            (r for r in rows if r.size == size),
            key=lambda r: (_step_order(r.step), r.code != "ours"),
        ):
            ratio = "" if r.ratio is None else f"{r.ratio:.2f}"
            budget = (
                f"≤ {r.budget:g} s beyond debounce" if r.step == "watch" else f"≤ {r.budget:.1f} ×"
            )
            peak = "" if r.peak_mib is None else f"{r.peak_mib:.0f}"
            out.append(
                f"| {r.step} | {size:,} | {r.code} | {r.median_s:.2f} | {ratio} | {budget} "
                f"| {peak} | {r.verdict} |"
            )
    return "\n".join(out)


def _step_order(step: str) -> int:
    return STEPS.index(step) if step in STEPS else len(STEPS)


# ---------------------------------------------------------------- running processes

# Runs the CLI in this process and, last thing at exit, writes its peak memory (own, and
# the largest of its children, including the scan worker's self-reported peak).
_WRAP = r"""
import atexit, json, os, resource, sys
_out = os.environ.pop("BENCH_SPEED_OUT")
def _report():
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    w = sys.modules.get("crm_sheets.dedupe.worker")
    child = max(child, int(getattr(w, "last_peak_mib", 0) * 1024**2))
    with open(_out, "w") as f:
        json.dump({"peak_rss": rss, "child_rss": child}, f)
atexit.register(_report)
sys.argv = ["crm", *sys.argv[1:]]
from crm_sheets.cli import main
main()
"""

_BARE = """
import sys, time
import python_calamine as pc
PATH = sys.argv[1]
t = time.perf_counter()
{stmt}
print(time.perf_counter() - t)
"""


def _progress(msg: str) -> None:
    if sys.stderr.isatty():
        print(msg, file=sys.stderr, flush=True)


def _env(code_dir: Path, state: Path) -> dict[str, str]:
    env = {
        **os.environ,
        "PYTHONPATH": str(code_dir),
        "CRM_STATE_DIR": str(state),
        "CRM_TODAY": BENCH_TODAY,
    }
    # PYTHONDONTWRITEBYTECODE would make every run compile the modules edited since their
    # .pyc was written (~0.4 s for the whole package): an installed crm always has its .pyc
    for k in ("CRM_HOME", "CRM_TIMINGS", "CRM_LANG", "PYTHONDONTWRITEBYTECODE"):
        env.pop(k, None)
    return env


def compile_code(*code_dirs: Path | None) -> None:
    """Write every module's .pyc before timing, as an installed package has them."""
    for d in code_dirs:
        if d is not None:
            compileall.compile_dir(str(d / "crm_sheets"), quiet=1)


def run_crm(args: list[str], env: dict[str, str], cwd: Path) -> tuple[float, float]:
    """(wall seconds of the whole process, peak MiB of it and its largest child)."""
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        report = Path(tmp) / "peak.json"
        err = Path(tmp) / "err"
        env = {**env, "BENCH_SPEED_OUT": str(report)}
        with open(os.devnull, "wb") as null, open(err, "wb") as errf:
            t = time.perf_counter()
            proc = subprocess.Popen(
                [sys.executable, "-c", _WRAP, *args], env=env, cwd=cwd, stdout=null, stderr=errf
            )
            _, status, usage = os.wait4(proc.pid, 0)
            wall = time.perf_counter() - t
        rc = os.waitstatus_to_exitcode(status)
        if rc not in (0, 1):  # validate exits 1 when the workbook has errors
            raise SystemExit(
                f"crm {' '.join(args[:2])} failed ({rc}): {err.read_text(errors='replace')[-2000:]}"
            )
        peak = json.loads(report.read_text()) if report.exists() else {}
        own = peak.get("peak_rss", usage.ru_maxrss * 1024)
        return wall, (own + peak.get("child_rss", 0)) / 2**20


def bare_read(path: Path) -> float:
    """In-process seconds of python-calamine reading both data sheets (the floor)."""
    out = subprocess.run(
        [sys.executable, "-c", _BARE.format(stmt=BARE_READ), str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------- preparing workbooks


def edit_customers(src: Path, dest: Path, share: float = EDIT_SHARE) -> int:
    """Copy `src` to `dest` with `share` of the customer rows edited (phone, notes or stage,
    in turn), through the engine's own patcher; returns the rows edited."""
    from python_calamine import CalamineWorkbook

    from crm_sheets.schema import CUSTOMERS
    from crm_sheets.writeback.xlsxpatch import patch_workbook

    wb = CalamineWorkbook.from_path(str(src))
    cust = wb.get_sheet_by_name("客户").to_python(skip_empty_area=False)
    wb.close()
    n_rows = len(cust) - 1
    n = max(1, int(n_rows * share))
    step = max(1, n_rows // n)
    phone, notes, stage = (CUSTOMERS.keys.index(k) for k in ("phone", "notes", "stage"))
    cells = {}
    for i in range(n):
        r = 1 + i * step  # index in `cust`; its sheet row is r + 1
        kind = i % 3
        if kind == 0:
            old = str(cust[r][phone] or "13800000000")
            cells[("Customers", r + 1, phone)] = (
                old[:-1] + str((int(old[-1]) + 1) % 10) if old[-1:].isdigit() else old + "1"
            )
        elif kind == 1:
            cells[("Customers", r + 1, notes)] = f"备注已修改 {i}"
        else:
            cells[("Customers", r + 1, stage)] = "谈判" if cust[r][stage] == "意向" else "意向"
    patch_workbook(src, dest, cells)
    return n


def workbook(size: int) -> Path:
    """bench/gen.py's workbook of this size (generated by a child process if missing)."""
    path = ROOT / "bench" / "out" / f"bench_{size}_{3 * size}_1.xlsx"
    if not path.exists():
        subprocess.run(
            [sys.executable, str(HERE / "gen.py"), str(size)], check=True, stdout=subprocess.DEVNULL
        )
    return path


def _child(*args: str) -> None:
    """Run a preparation of this script in a child process: the bench process stays small,
    and a process it starts does not inherit its memory high-water mark into ru_maxrss."""
    subprocess.run([sys.executable, str(Path(__file__).resolve()), *args], check=True)


@dataclass
class Prepared:
    """One size, one code: the workbooks and state snapshots its steps start from."""

    work: Path
    env: dict[str, str]
    steps: dict[str, tuple[list[str], object]]  # name -> (crm args, before-round hook)


def prepare(size: int, code_dir: Path, label: str, steps: list[str], work_root: Path) -> Prepared:
    base = workbook(size)
    work = work_root / f"{label}_{size}"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    plan: dict[str, tuple[list[str], object]] = {}

    if {"validate_warm", "validate_cold"} & set(steps):
        vdir = work / "validate"
        vdir.mkdir()
        master = vdir / "CRM.xlsx"
        edited = work / "edited.xlsx"
        _child("--edit-customers", str(base), str(edited))
        state, snap = work / "state_v", work / "state_v0"
        if "validate_warm" in steps:
            shutil.copyfile(base, master)
            _progress(f"{label} {size}: first validate (fills the state folder)")
            run_crm(["validate", "--format", "json", str(master)], _env(code_dir, state), vdir)
            state.mkdir(exist_ok=True)  # code before issue 15 keeps no check there
            for _ in range(3000):  # the scan worker saves its index after the check exits
                if not any(state.rglob("*.saving")):
                    break
                time.sleep(0.02)
            shutil.copytree(state, snap)
        shutil.copyfile(edited, master)

        def warm() -> None:
            shutil.rmtree(state, ignore_errors=True)
            shutil.copytree(snap, state)

        if "validate_warm" in steps:
            plan["validate_warm"] = (["validate", "--format", "json", str(master)], warm)
        cold_state = work / "state_cold"

        def cold() -> None:
            shutil.rmtree(cold_state, ignore_errors=True)
            cold_state.mkdir()

        if "validate_cold" in steps:
            plan["validate_cold"] = (
                ["validate", "--format", "json", str(master)],
                ("state", cold_state, cold),
            )

    if "apply" in steps:
        adir, snapdir = work / "apply", work / "apply0"
        adir.mkdir()
        master = adir / "CRM.xlsx"
        shutil.copyfile(base, master)
        state = work / "state_a"
        _progress(f"{label} {size}: first apply (fills every engine column)")
        run_crm(["apply", str(master)], _env(code_dir, state), adir)
        state.mkdir(exist_ok=True)
        tmp = adir / "edited.xlsx"
        _child("--user-edits", str(master), str(tmp))
        os.replace(tmp, master)
        shutil.copytree(adir, snapdir)
        shutil.copytree(state, work / "state_a0")

        def apply_round() -> None:
            shutil.rmtree(adir, ignore_errors=True)
            shutil.copytree(snapdir, adir)
            shutil.rmtree(state, ignore_errors=True)
            shutil.copytree(work / "state_a0", state)

        plan["apply"] = (["apply", str(master)], ("state", state, apply_round))

    if {"dashboard", "query"} & set(steps):
        rdir = work / "reports"
        rdir.mkdir()
        master = rdir / "CRM.xlsx"
        shutil.copyfile(base, master)
        if "dashboard" in steps:
            plan["dashboard"] = (["dashboard", str(master)], None)
        if "query" in steps:
            plan["query"] = (["query", *QUERY_ARGS, str(master)], None)
    return Prepared(work=work, env=_env(code_dir, work / "state_v"), steps=plan)


def run_step(prep: Prepared, name: str, code_dir: Path) -> tuple[float, float]:
    args, hook = prep.steps[name]
    env = prep.env
    if isinstance(hook, tuple):  # ("state", folder, hook): the step has its own state folder
        _, state, fn = hook
        env = _env(code_dir, state)
        fn()
    elif callable(hook):
        hook()
    got = run_crm(args, env, Path(args[-1]).parent)
    # a scan worker may go on saving its index after the check exits: let it finish
    # before the next step, so that it slows no other measurement (not counted here)
    state = Path(env["CRM_STATE_DIR"])
    for _ in range(3000):
        if not any(state.rglob("*.saving")):
            break
        time.sleep(0.02)
    return got


def run_watch(size: int, saves: int) -> Row:
    """bench_watch.py at this size (event mode): save → findings beyond the debounce."""
    with tempfile.TemporaryDirectory(prefix="bench-speed-") as tmp:
        out = Path(tmp) / "watch.json"
        subprocess.run(
            [
                sys.executable,
                str(HERE / "bench_watch.py"),
                "--customers",
                str(size),
                "--saves",
                str(saves),
                "--idle",
                "0",
                "--modes",
                "events",
                "--json",
                str(out),
            ],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        r = json.loads(out.read_text())[0]
    beyond = [x - r["debounce"] for x in r["latency"]]
    return Row(
        "watch", size, "ours", beyond, None, None, {"first_validation_s": round(r["baseline_s"], 2)}
    )


# ---------------------------------------------------------------- main


def measure(
    sizes: list[int], steps: list[str], repeat: int, compare: Path | None, work_root: Path
) -> tuple[list[Row], dict[int, list[float]]]:
    codes = [("ours", ROOT)] + ([("base", compare)] if compare else [])
    rows: list[Row] = []
    bare: dict[int, list[float]] = {}
    for size in sizes:
        preps = {label: prepare(size, d, label, steps, work_root) for label, d in codes}
        path = workbook(size)
        bare[size] = []
        runs = {(label, s): ([], []) for label, _ in codes for s in steps}
        for i in range(repeat):
            _progress(f"{size}: round {i + 1}/{repeat}: bare read")
            bare[size].append(bare_read(path))
            for s in steps:
                for label, d in codes:
                    _progress(f"{size}: round {i + 1}/{repeat}: {s} ({label})")
                    sec, peak = run_step(preps[label], s, d)
                    runs[(label, s)][0].append(sec)
                    runs[(label, s)][1].append(peak)
        for (label, s), (secs, peaks) in runs.items():
            rows.append(Row(s, size, label, secs, ratio_median(secs, bare[size]), max(peaks)))
        for p in preps.values():
            shutil.rmtree(p.work, ignore_errors=True)
    return rows, bare


def _prep_main(argv: list[str]) -> int:
    sys.path.insert(0, str(ROOT))
    if argv[0] == "--edit-customers":
        edit_customers(Path(argv[1]), Path(argv[2]))
    else:
        from bench_apply import user_edits

        user_edits(Path(argv[1]), Path(argv[2]), 1000, 1000)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] in (["--edit-customers"], ["--user-edits"]):
        return _prep_main(argv)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000,40000,100000")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--compare", type=Path, help="another checkout to run beside ours")
    ap.add_argument("--steps", default=",".join(STEPS))
    ap.add_argument("--watch", action="store_true", help="also the watcher (bench_watch.py)")
    ap.add_argument("--watch-saves", type=int, default=3)
    ap.add_argument("--json", type=Path, help="write the raw figures here")
    ap.add_argument("--customers", type=int, help="one size (as bench/run.py passes it)")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if args.customers:
        sizes = [args.customers]
    steps = [s for s in args.steps.split(",") if s.strip()]
    unknown = [s for s in steps if s not in STEPS]
    if unknown:
        ap.error(f"unknown steps {unknown}; known: {', '.join(STEPS)}")
    sys.path.insert(0, str(ROOT))
    load = os.getloadavg()
    # a folder of this run's own (two runs must not share one); within the run each step
    # keeps its paths, as the state folder is keyed by the workbook's path
    work_root = ROOT / "bench" / "out" / "speed_work" / f"run-{os.getpid()}"
    compile_code(ROOT, args.compare)
    rows, bare = measure(sizes, steps, args.repeat, args.compare, work_root)
    if args.watch:
        for size in sizes:
            _progress(f"{size}: watcher")
            rows.append(run_watch(size, args.watch_saves))
    shutil.rmtree(work_root, ignore_errors=True)
    load_end = os.getloadavg()
    print(
        f"# bench_speed {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, "
        f"cpus={os.cpu_count()}, load {load[0]:.2f} → {load_end[0]:.2f}, repeat={args.repeat}"
        + (f", base={args.compare}" if args.compare else "")
    )
    print(format_table(rows, bare))
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "load": [load[0], load_end[0]],
                    "repeat": args.repeat,
                    "compare": str(args.compare) if args.compare else None,
                    "bare": {str(k): [round(x, 3) for x in v] for k, v in bare.items()},
                    "rows": [r.as_dict() for r in rows],
                },
                ensure_ascii=False,
                indent=1,
            )
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
