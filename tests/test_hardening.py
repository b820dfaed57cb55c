"""Hardening (issue 17 items 4, 6, 8, 9; issue 13 items 11, 16): files that claim a huge
sheet, the state folder and home_id, parallel password guesses, a save racing apply,
and backup retention."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from helpers import make_master
from test_views_support import PW, TODAY, make_view_home

from crm_sheets import accounts, audit
from crm_sheets.cli import cli
from crm_sheets.errors import CrmError
from crm_sheets.reader import load
from crm_sheets.views import build_views

ABORT_MARK = "memory allocation"


# ---- 17.4: one value in XFD1048576 ------------------------------------------------------


def _far_cell(path: Path, sheet_index: int = 0, cell: str = "XFD1048576") -> Path:
    """What an unlucky (or hostile) user does: one value far outside a normal table."""
    wb = openpyxl.load_workbook(path)
    wb.worksheets[sheet_index][cell] = "x"
    wb.save(path)
    return path


def _rewrite_sheet(src: Path, dst: Path, fn) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_DEFLATED) as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                data = fn(data)
            zout.writestr(info, data)
    return dst


def _crm(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    """The real `crm` in a child process, so a native abort shows as exit 134."""
    return subprocess.run([sys.executable, "-c", "from crm_sheets.cli import main; main()", *args],
                          capture_output=True, text=True, cwd=cwd, timeout=300)


def _refused_in_one_line(exit_code: int, output: str) -> None:
    assert exit_code == 2, output
    assert ABORT_MARK not in output
    lines = [ln for ln in output.splitlines() if "XFD1048576" in ln]
    assert len(lines) == 1 and "已拒绝" in lines[0], output


@pytest.fixture
def far_master(tmp_path):
    (tmp_path / "far").mkdir()
    return _far_cell(make_master(tmp_path / "far" / "CRM.xlsx"))


def test_far_cell_is_refused_by_the_reader_before_calamine_allocates(far_master):
    with pytest.raises(CrmError) as exc:
        load(far_master)
    msg = str(exc.value)
    assert "XFD1048576" in msg and "客户" in msg and "\n" not in msg


def test_far_cell_refused_by_validate_apply_and_import_in_process(far_master, tmp_path):
    runner = CliRunner()
    for args in (["validate", str(far_master)], ["apply", str(far_master)]):
        r = runner.invoke(cli, args)
        _refused_in_one_line(r.exit_code, r.output)
    (tmp_path / "t").mkdir()
    target = make_master(tmp_path / "t" / "CRM.xlsx")
    r = runner.invoke(cli, ["import", str(far_master), str(target)])
    _refused_in_one_line(r.exit_code, r.output)


def test_far_cell_never_aborts_the_process(far_master, tmp_path):
    """Each command in a child process: before the fix every one died with exit 134."""
    (tmp_path / "t").mkdir()
    target = make_master(tmp_path / "t" / "CRM.xlsx")
    for args in (["validate", str(far_master)], ["apply", str(far_master)],
                 ["import", str(far_master), str(target)]):
        p = _crm(args, tmp_path)
        _refused_in_one_line(p.returncode, p.stdout + p.stderr)


def test_far_cell_in_a_handed_back_copy_is_refused_by_views_merge(tmp_path, crm_state_dir):
    vh = make_view_home(tmp_path)
    [copy] = build_views(vh.master, vh.home, users=["li"], today=TODAY)
    _far_cell(copy)
    accounts.login(vh.home, "admin", PW)
    r = CliRunner().invoke(cli, ["views", "merge", str(vh.master), str(copy)])
    _refused_in_one_line(r.exit_code, r.output)
    p = _crm(["views", "merge", str(vh.master), str(copy)], tmp_path)
    _refused_in_one_line(p.returncode, p.stdout + p.stderr)


def test_far_cell_in_the_follow_up_sheet_is_refused_too(tmp_path):
    path = _far_cell(make_master(tmp_path / "CRM.xlsx"), sheet_index=1, cell="ZZZ900000")
    with pytest.raises(CrmError, match="ZZZ900000"):
        load(path)


def test_a_far_claim_without_a_value_still_reads(tmp_path):
    """`<dimension>` and a formatted empty far cell allocate nothing: the file reads."""
    src = make_master(tmp_path / "src.xlsx")

    def claim(xml: bytes) -> bytes:
        xml = re.sub(rb'<dimension ref="[^"]*"/>', b'<dimension ref="A1:XFD1048576"/>', xml)
        return xml.replace(b"</sheetData>",
                           b'<row r="1048576"><c r="XFD1048576" s="1"/></row></sheetData>')

    wb = load(_rewrite_sheet(src, tmp_path / "claim.xlsx", claim))
    assert len(wb.customers.records) == 1


def test_a_value_far_down_a_narrow_sheet_is_read_not_refused(tmp_path):
    """A1048576 beside a table is big but bounded (about 27M cells): read, not refused."""
    path = _far_cell(make_master(tmp_path / "CRM.xlsx"), cell="A1048000")
    wb = load(path)
    assert wb.customers.records[-1].row == 1048000


# ---- 17.8 / 13.11: parallel guesses and what a guesser learns ------------------------------

GUESS = "wrong password 1"


@pytest.fixture
def slow_kdf(monkeypatch):
    """A cheap hash for new accounts (21 parallel 64 MiB checks would strain the machine)
    and a password check that takes 0.3 s, so every guess of a burst is in flight at once."""
    from argon2 import PasswordHasher

    from crm_sheets.accounts import passwords, service

    monkeypatch.setattr(passwords, "HASHER", PasswordHasher(time_cost=1, memory_cost=1024,
                                                            parallelism=1))
    real = service.verify_password
    calls: list[int] = []

    def slow(stored, password):
        calls.append(1)
        time.sleep(0.3)
        return real(stored, password)

    monkeypatch.setattr(service, "verify_password", slow)
    return calls


def _burst(home, name: str, right: str, wrong: int = 20) -> list[BaseException | None]:
    """`wrong` guesses and the right password started at the same moment (right one last)."""
    passwords = [GUESS] * wrong + [right]
    results: list[BaseException | None] = [None] * len(passwords)
    gate = threading.Barrier(len(passwords))

    def attempt(i: int) -> None:
        gate.wait()
        try:
            accounts.login(home, name, passwords[i], session_file=False)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            results[i] = exc

    threads = [threading.Thread(target=attempt, args=(i,)) for i in range(len(passwords))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return results


def _checked(home, name: str, since: int) -> int:
    """Attempts whose password got a verdict (failed as wrong, or logged in)."""
    events = audit.read(home.state)[since:]
    return sum(1 for e in events if e.get("who") == name and (
        (e.get("action") == "login.failed" and e.get("reason") == "password")
        or e.get("action") == "login"))


def test_parallel_guesses_never_check_more_than_the_limit(logged_in_home, slow_kdf):
    li = logged_in_home("sales", name="li")
    home = li.home
    before = len(slow_kdf)
    for _ in range(3):
        mark = len(audit.read(home.state))
        results = _burst(home, "li", li.password)
        assert _checked(home, "li", mark) <= accounts.MAX_FAILURES
        # every guess got the same answer as an unknown account
        assert all(isinstance(r, accounts.LoginFailed) for r in results[:-1])
        assert len({str(r) for r in results[:-1]}) == 1
        accounts.unlock_user(home, "li", by="admin")
    assert len(slow_kdf) - before == 63  # every attempt ran the password hash, locked or not


def test_parallel_guesses_from_separate_processes(logged_in_home, slow_kdf, tmp_path):
    li = logged_in_home("sales", name="li")
    home = li.home
    script = tmp_path / "guess.py"
    script.write_text(
        "import sys, time, threading\n"
        "from crm_sheets import accounts\n"
        "from crm_sheets.accounts import service\n"
        "from crm_sheets.home import open_home\n"
        "real = service.verify_password\n"
        "service.verify_password = lambda h, p: (time.sleep(0.3), real(h, p))[1]\n"
        "home = open_home(sys.argv[1]); start = float(sys.argv[2])\n"
        "def go(pw):\n"
        "    try:\n"
        "        accounts.login(home, 'li', pw, session_file=False)\n"
        "    except Exception:\n"
        "        pass\n"
        "pws = sys.argv[3:]\n"
        "time.sleep(max(0.0, start - time.time()))\n"
        "ts = [threading.Thread(target=go, args=(p,)) for p in pws]\n"
        "[t.start() for t in ts]; [t.join() for t in ts]\n", encoding="utf-8")
    mark = len(audit.read(home.state))
    start = time.time() + 4
    groups = [[GUESS] * 3 for _ in range(6)] + [[GUESS, GUESS, li.password]]
    procs = [subprocess.Popen([sys.executable, str(script), str(home.root), str(start), *g])
             for g in groups]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    assert _checked(home, "li", mark) <= accounts.MAX_FAILURES
    refused = [e for e in audit.read(home.state)[mark:] if e.get("action") == "login.refused"]
    assert len(refused) >= 21 - accounts.MAX_FAILURES


def test_a_locked_account_answers_a_guesser_like_an_unknown_one(logged_in_home, slow_kdf):
    li = logged_in_home("sales", name="li")
    home = li.home
    for _ in range(accounts.MAX_FAILURES):
        with pytest.raises(accounts.LoginFailed):
            accounts.login(home, "li", GUESS, session_file=False)
    answers = []
    for name, pw in (("li", GUESS), ("nobody", GUESS), ("admin", GUESS)):
        before = len(slow_kdf)
        with pytest.raises(accounts.LoginFailed) as exc:
            accounts.login(home, name, pw, session_file=False)
        assert len(slow_kdf) == before + 1  # the same hashing path, locked or unknown
        answers.append((type(exc.value), str(exc.value), exc.value.code))
    assert len(set(answers)) == 1 and answers[0][2] == "bad_credentials"
    with pytest.raises(accounts.AccountLocked) as exc:  # only the owner learns of the lock
        accounts.login(home, "li", li.password, session_file=False)
    assert exc.value.code == "locked" and exc.value.until


def test_portal_login_tells_the_lock_only_to_the_right_password(tmp_path, crm_state_dir):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient

    from crm_sheets.portal import create_app

    vh = make_view_home(tmp_path)
    c = TestClient(create_app(vh.home.root))
    for _ in range(accounts.MAX_FAILURES):
        c.post("/api/login", json={"user": "li", "password": GUESS})
    locked = c.post("/api/login", json={"user": "li", "password": GUESS})
    unknown = c.post("/api/login", json={"user": "nobody", "password": GUESS})
    assert locked.status_code == unknown.status_code == 401
    assert locked.json() == unknown.json() and locked.json()["error"] == "bad_credentials"
    owner = c.post("/api/login", json={"user": "li", "password": PW})
    assert owner.status_code == 423 and owner.json()["until"]
