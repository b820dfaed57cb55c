"""Benchmark the team portal (issue 14), through HTTP against `crm serve --no-watch`.

    .venv/bin/python bench/bench_portal.py [--skip-100k] [--skip-load] [--only-100k] [--reps 20]

1. 10,000-customer home with 20 sales reps: login → the rendered dashboard page (budget
   ≤ 1 s; the first render after start reads the master, later ones reuse it: both shown),
   and a rep's workbook download (budget ≤ 2 s).
2. 100,000-customer master: an upload of one rep's copy with 200 changed cells (budget ≤ 3 ×
   a bare python-calamine read of that master, measured in the same run).
3. Loopback load test on the 10k home: every rep uploads a copy with 10 changed cells at
   the same moment; every upload must land (200, nothing lost, no 5xx). Bounded: each
   request times out after 600 s and the server is stopped at the end in any case.
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import bare_read  # noqa: E402
from gen import BENCH_TODAY, cached_workbook  # noqa: E402

PW = "bench password 1"


def make_home(root: Path, master: Path, state: Path, reps: int) -> list[str]:
    """A home with the master, an admin and one sales account (with a password) per owner."""
    os.environ["CRM_STATE_DIR"] = str(state)
    from crm_sheets import accounts
    from crm_sheets.home import create_home
    from crm_sheets.reader import read_raw

    home = create_home(root)
    shutil.copy(master, home.master)
    accounts.create_first_admin(home, "admin", PW, display_name="管理员")
    lists = read_raw(master, "Lists")["Lists"]
    col = lists[0].index("负责人")
    owners = [r[col] for r in lists[1:] if r[col]][:reps]
    names = []
    for i, owner in enumerate(owners):
        accounts.add_user(home, f"rep{i:02d}", "sales", by="admin", display_name=owner,
                          password=PW)
        names.append(f"rep{i:02d}")
    accounts.add_user(home, "boss", "manager", by="admin", display_name="经理", password=PW)
    return names


class Server:
    """`crm serve HOME --no-watch` on a free loopback port, stopped on exit."""

    def __init__(self, home: Path, state: Path) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, CRM_STATE_DIR=str(state), CRM_TODAY=BENCH_TODAY.isoformat())
        crm = Path(sys.executable).parent / "crm"
        self.proc = subprocess.Popen([str(crm), "serve", str(home), "--port", str(self.port),
                                      "--no-watch"], env=env, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.STDOUT)

    def __enter__(self) -> Server:
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.base + "/healthz", timeout=2).text == "ok":
                    return self
            except httpx.HTTPError:
                time.sleep(0.2)
        raise SystemExit("crm serve did not start")

    def __exit__(self, *exc: object) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def login(base: str, user: str):  # noqa: ANN201 - an httpx.Client
    import httpx

    c = httpx.Client(base_url=base, timeout=600)
    r = c.post("/api/login", json={"user": user, "password": PW})
    r.raise_for_status()
    c.headers["X-CSRF-Token"] = r.json()["csrf"]
    return c


def edit_notes(path: Path, n: int, tag: str) -> None:
    import openpyxl

    wb = openpyxl.load_workbook(path)
    ws = wb["客户"]
    col = [c.value for c in ws[1]].index("备注") + 1
    for r in range(2, 2 + n):
        ws.cell(r, col).value = f"{tag} {r}"
    wb.save(path)


def part1(tmp: Path, reps: int) -> tuple[Path, Path, list[str]]:
    m10 = cached_workbook(10_000, 30_000)
    state = tmp / "state10k"
    names = make_home(tmp / "home10k", m10, state, reps)
    home = tmp / "home10k"
    with Server(home, state) as srv:
        for label in ("first (reads the master)", "again"):
            t = time.perf_counter()
            c = login(srv.base, "boss")
            r = c.get("/dashboard")
            dt_ = time.perf_counter() - t
            assert r.status_code == 200 and "<svg" in r.text
            print(f"login → dashboard page, {label}: {dt_:.2f} s (budget 1.0)")
        c = login(srv.base, names[0])
        for label in ("first", "again"):
            t = time.perf_counter()
            r = c.get("/api/workbook")
            dt_ = time.perf_counter() - t
            assert r.status_code == 200
            print(f"a rep's workbook download, {label}: {dt_:.2f} s, {len(r.content) // 1024} KiB "
                  "(budget 2.0)")
    return home, state, names


def part2(tmp: Path, repeat: int) -> None:
    m100 = cached_workbook(100_000, 300_000)
    state = tmp / "state100k"
    make_home(tmp / "home100k", m100, state, 1)
    home = tmp / "home100k"
    pristine = tmp / "pristine100k.xlsx"
    shutil.copy(home / "CRM.xlsx", pristine)
    base = bare_read(home / "CRM.xlsx", repeat)
    with Server(home, state) as srv:
        c = login(srv.base, "rep00")
        copy = tmp / "rep00.xlsx"
        copy.write_bytes(c.get("/api/workbook").content)
        edit_notes(copy, 200, "bench note")
        data = copy.read_bytes()
        runs = []
        for i in range(repeat):
            if i:
                shutil.copy(pristine, home / "CRM.xlsx")
                (state / next(p.name for p in state.iterdir() if p.is_dir()) /
                 "views-merged.json").unlink(missing_ok=True)
            t = time.perf_counter()
            r = c.post("/api/workbook", files={"file": ("rep00.xlsx", data)})
            runs.append(time.perf_counter() - t)
            assert r.status_code == 200, r.text[:300]
            assert len(r.json()["landed"]) == 200, len(r.json()["landed"])
    med = sorted(runs)[len(runs) // 2]
    print(f"bare calamine read of the 100k master: {base['seconds']:.2f} s (runs {base['runs']})")
    print(f"upload of 200 changed cells into the 100k master: {med:.2f} s (runs "
          f"{[round(x, 2) for x in runs]}) = {med / base['seconds']:.2f} × bare read (budget 3.0)")


def part3(home: Path, state: Path, names: list[str], tmp: Path) -> None:
    with Server(home, state) as srv:
        clients, files = [], []
        for name in names:
            c = login(srv.base, name)
            p = tmp / f"{name}.xlsx"
            p.write_bytes(c.get("/api/workbook").content)
            edit_notes(p, 10, f"load {name}")
            clients.append(c)
            files.append(p)
        answers: dict[str, int] = {}
        start = threading.Barrier(len(names))

        def go(name: str, c, p: Path) -> None:  # noqa: ANN001
            start.wait()
            try:
                r = c.post("/api/workbook", files={"file": (p.name, p.read_bytes())})
                answers[name] = r.status_code
            except Exception as exc:  # noqa: BLE001 - counted as lost
                answers[name] = -1
                print(f"{name}: {exc}")

        t = time.perf_counter()
        threads = [threading.Thread(target=go, args=a) for a in zip(names, clients, files, strict=True)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(900)
        wall = time.perf_counter() - t
    os.environ["CRM_STATE_DIR"] = str(state)
    from crm_sheets.reader import load

    notes = [r.values.get("notes") or "" for r in load(home / "CRM.xlsx").customers.records]
    landed = {n for n in names if sum(1 for v in notes if v.startswith(f"load {n} ")) == 10}
    codes = sorted(answers.values())
    print(f"{len(names)} reps uploading at once: {wall:.1f} s wall; answers {codes}; "
          f"all 10 cells landed for {len(landed)}/{len(names)} reps; "
          f"5xx: {sum(1 for x in codes if x >= 500)}")
    assert len(landed) == len(names) and all(x == 200 for x in codes)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeat", type=int, default=1)
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--skip-100k", action="store_true")
    ap.add_argument("--skip-load", action="store_true")
    ap.add_argument("--only-100k", action="store_true", help="Only the 100k upload (part 2).")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-portal-"))
    try:
        if not args.only_100k:
            home, state, names = part1(tmp, args.reps)
            if not args.skip_load:
                part3(home, state, names, tmp)
        if not args.skip_100k:
            part2(tmp, args.repeat)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
