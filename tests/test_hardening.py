"""Hardening (issue 17 items 4, 6, 8, 9; issue 13 items 11, 16): files that claim a huge
sheet, the state folder and home_id, parallel password guesses, a save racing apply,
and backup retention."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from helpers import customer, make_master
from test_views_support import PW, TODAY, make_view_home

from crm_sheets import accounts, audit
from crm_sheets.cli import cli
from crm_sheets.errors import CrmError
from crm_sheets.home import HOME_FILE, create_home, ensure_private_dir, open_home, state_root
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


def test_the_watchers_read_of_a_far_cell_master_is_a_clear_error(tmp_path, crm_state_dir):
    """The watcher revalidates through the same reader: a CrmError it reports and sets
    aside, never an abort (setting the file aside is the watcher's: issue 17 item 4)."""
    from crm_sheets.watch.cycle import MasterTracker, revalidate

    home = create_home(tmp_path / "home")
    make_master(home.master)
    _far_cell(home.master)
    with pytest.raises(CrmError, match="XFD1048576"):
        revalidate(home, MasterTracker(), today=TODAY)
    p = _crm(["validate", str(home.master)], tmp_path)  # and no abort in a real process
    _refused_in_one_line(p.returncode, p.stdout + p.stderr)


def test_far_cell_in_the_follow_up_sheet_is_refused_too(tmp_path):
    path = _far_cell(make_master(tmp_path / "CRM.xlsx"), sheet_index=1, cell="ZZZ900000")
    with pytest.raises(CrmError, match="ZZZ900000"):
        load(path)


def test_cells_placed_by_position_cannot_slip_past_the_bound(tmp_path):
    """Rows and cells without a reference land after the previous one: a million empty
    rows, 16,383 empty cells and one value reach the sheet's far corner without naming it."""
    src = make_master(tmp_path / "src.xlsx")
    far = (b"<row/>" * 1048570 + b"<row>" + b"<c/>" * 16383
           + b'<c t="inlineStr"><is><t>x</t></is></c></row></sheetData>')
    path = _rewrite_sheet(src, tmp_path / "positional.xlsx",
                          lambda xml: xml.replace(b"</sheetData>", far))
    p = _crm(["validate", str(path)], tmp_path)  # first in a child: an abort shows as 134
    out = p.stdout + p.stderr
    assert p.returncode == 2 and ABORT_MARK not in out and "已拒绝" in out, out
    with pytest.raises(CrmError, match="XFD"):
        load(path)
    near = b"<row>" + b'<c s="1"/>' * 5 + b'<c t="inlineStr"><is><t>x</t></is></c></row></sheetData>'
    ok = _rewrite_sheet(src, tmp_path / "near.xlsx", lambda xml: xml.replace(b"</sheetData>", near))
    assert len(load(ok).customers.records) == 2  # a few positional cells read as before


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
    """A value 300,000 rows down beside a narrow table is big but bounded: read, not refused."""
    path = _far_cell(make_master(tmp_path / "CRM.xlsx"), cell="A300000")
    wb = load(path)
    assert wb.customers.records[-1].row == 300000


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


# ---- 17.6: home_id is not a path; the state folder and key must be private ------------------

posix_only = pytest.mark.skipif(os.name != "posix", reason="modes and owners are POSIX")


def _set_marker(home_root: Path, **fields) -> None:
    marker = home_root / HOME_FILE
    info = json.loads(marker.read_text(encoding="utf-8"))
    info.update(fields)
    marker.write_text(json.dumps(info), encoding="utf-8")


@pytest.mark.parametrize("bad", ["/tmp/evil-state", "../x", "..", "a/b", "ABCDEF", 42, None,
                                 "0" * 31, "0" * 32 + "/x"])
def test_a_home_id_that_is_not_the_generated_form_is_refused(tmp_path, crm_state_dir, bad):
    home = create_home(tmp_path / "home")
    _set_marker(home.root, home_id=bad)
    with pytest.raises(CrmError) as exc:
        open_home(home.root)
    assert "home_id" in str(exc.value) and "\n" not in str(exc.value)
    assert not (Path("/tmp/evil-state") / "accounts.db").exists()


def test_a_home_id_pointing_elsewhere_refuses_every_command_in_one_line(tmp_path, crm_state_dir):
    home = create_home(tmp_path / "home")
    make_master(home.master)
    elsewhere = tmp_path / "prepared"
    elsewhere.mkdir()
    _set_marker(home.root, home_id=str(elsewhere))
    for args in (["whoami"], ["user", "list"], ["apply", str(home.master)]):
        r = CliRunner().invoke(cli, args, env={"CRM_HOME": str(home.root)})
        assert r.exit_code == 2, (args, r.output)
        assert len(r.output.strip().splitlines()) == 1 and "home_id" in r.output
    assert list(elsewhere.iterdir()) == []  # nothing written where the file pointed


def test_a_master_name_that_is_a_path_is_refused(tmp_path, crm_state_dir):
    home = create_home(tmp_path / "home")
    for bad in ("../other/CRM.xlsx", "/etc/CRM.xlsx", "sub\\CRM.xlsx", "CRM.txt"):
        _set_marker(home.root, master=bad)
        with pytest.raises(CrmError):
            open_home(home.root)


@posix_only
def test_a_pre_made_state_folder_open_to_others_is_refused(tmp_path, crm_state_dir):
    home = create_home(tmp_path / "home")
    folder = state_root() / home.home_id
    folder.mkdir(parents=True)
    os.chmod(folder, 0o775)  # someone prepared it for the admin
    with pytest.raises(CrmError) as exc:
        _ = home.state
    assert "775" in str(exc.value)
    with pytest.raises(CrmError):
        accounts.create_first_admin(home, "admin", PW)
    assert list(folder.iterdir()) == []
    r = CliRunner().invoke(cli, ["user", "list"], env={"CRM_HOME": str(home.root)})
    assert r.exit_code == 2 and "775" in r.output


@posix_only
def test_a_state_folder_that_is_a_symlink_is_refused(tmp_path, crm_state_dir):
    home = create_home(tmp_path / "home")
    target = tmp_path / "elsewhere"
    target.mkdir(mode=0o700)
    state_root().mkdir(parents=True, exist_ok=True)
    (state_root() / home.home_id).symlink_to(target)
    with pytest.raises(CrmError, match="符号链接"):
        _ = home.state


@posix_only
def test_a_key_or_accounts_db_open_to_others_is_refused(tmp_path, crm_state_dir):
    from crm_sheets.accounts.store import AccountStore
    from crm_sheets.views.common import KEY_FILE, signing_key

    home = create_home(tmp_path / "home")
    accounts.create_first_admin(home, "admin", PW)
    key = home.state / KEY_FILE
    key.write_bytes(b"k" * 32)  # a planted key the engine would sign views with
    os.chmod(key, 0o644)
    with pytest.raises(CrmError, match="签名密钥"):
        signing_key(home)
    os.chmod(key, 0o600)
    assert signing_key(home) == b"k" * 32
    os.chmod(AccountStore(home).path, 0o644)
    with pytest.raises(CrmError, match="账户数据库"):
        accounts.list_users(home)


@posix_only
def test_an_own_subfolder_made_by_an_older_version_is_tightened_not_refused(tmp_path,
                                                                             crm_state_dir):
    home = create_home(tmp_path / "home")
    sub = home.state / "engine-snapshot"
    sub.mkdir(mode=0o755)
    os.chmod(sub, 0o755)
    assert ensure_private_dir(sub) == sub
    assert stat.S_IMODE(sub.stat().st_mode) == 0o700


# ---- 17.9: a save landing just after apply's replace is kept ---------------------------------


def _save_lands_after_replace(monkeypatch, user_bytes: bytes | None) -> list[Path]:
    """Make verification see what a racing save leaves: with `user_bytes`, someone saves
    the master right after the replace; without, the written file itself is bad."""
    from crm_sheets.writeback import safe

    real = safe.verify_written
    seen: list[Path] = []

    def racing(path, patch):
        seen.append(path)
        if user_bytes is not None:
            Path(path).write_bytes(user_bytes)  # Excel's save, a few ms after the replace
            return real(path, patch)
        raise CrmError("verification failed: simulated")

    monkeypatch.setattr(safe, "verify_written", racing)
    return seen


def test_a_save_right_after_apply_replaces_is_kept_not_wiped(tmp_path, monkeypatch):
    master = make_master(tmp_path / "CRM.xlsx", customers=[customer(customer_id=None)])
    other = make_master(tmp_path / "user-save.xlsx",
                        customers=[customer(customer_id=None, notes="用户刚保存的修改")])
    user_save = other.read_bytes()
    seen = _save_lands_after_replace(monkeypatch, user_save)
    r = CliRunner().invoke(cli, ["apply", str(master)])
    assert seen and r.exit_code == 1, r.output
    assert master.read_bytes() == user_save  # the newer save survives
    assert "已保留那次保存" in r.output and len(r.output.strip().splitlines()) == 1


def test_a_bad_write_is_still_undone_from_the_backup(tmp_path, monkeypatch):
    master = make_master(tmp_path / "CRM.xlsx", customers=[customer(customer_id=None)])
    before = master.read_bytes()
    seen = _save_lands_after_replace(monkeypatch, None)
    r = CliRunner().invoke(cli, ["apply", str(master)])
    assert seen and r.exit_code == 2, r.output
    assert master.read_bytes() == before


# ---- 13.16: retention a person can count on; one save, one backup --------------------------


def _backup_at(home, when: dt.datetime, reason: str) -> Path:
    from crm_sheets.writeback.backups import FORMAT_VERSION, new_backup_path, write_backup_zip

    manifest = {"format": FORMAT_VERSION, "created": when.isoformat(timespec="microseconds"),
                "reason": reason, "kind": "home"}
    return write_backup_zip(new_backup_path(home.backups, "CRM", reason, when),
                            [("CRM.xlsx", when.isoformat().encode())], manifest)


def test_prune_after_a_busy_day_keeps_what_a_person_needs(tmp_path, crm_state_dir):
    from crm_sheets.backup_admin import Retention, prune

    home = create_home(tmp_path / "home")
    now = dt.datetime(2026, 6, 10, 18, 0, tzinfo=dt.UTC)
    old_import = _backup_at(home, now - dt.timedelta(days=40), "import")
    old_merge = _backup_at(home, now - dt.timedelta(days=90, hours=3), "merge-customers")
    busy = [_backup_at(home, now - dt.timedelta(days=3, hours=10) + dt.timedelta(minutes=5 * i),
                       "apply") for i in range(60)]
    pre_import = _backup_at(home, now - dt.timedelta(hours=10), "import")
    today = [_backup_at(home, now - dt.timedelta(hours=9) + dt.timedelta(minutes=10 * i), "apply")
             for i in range(50)]  # a busy day: a save every ten minutes
    pre_restore = _backup_at(home, now - dt.timedelta(days=2), "pre-restore")
    removed = set(prune(home, Retention(), state=False, now=now))
    left = set(home.backups.glob("*.zip"))
    assert {pre_import, *today} <= left  # every backup of the last 24 hours
    assert {old_import, old_merge, pre_restore} <= left  # before import/merge/restore
    assert busy[-1] in left and not set(busy[:-1]) & left  # older days thinned to one
    assert removed == set(busy[:-1])


def test_a_protected_backup_goes_after_the_retention_period(tmp_path, crm_state_dir):
    from crm_sheets.backup_admin import Retention, prune

    home = create_home(tmp_path / "home")
    now = dt.datetime(2026, 6, 10, 18, 0, tzinfo=dt.UTC)
    r = Retention(daily=2, weekly=0, monthly=0, keep_last=1)
    expired = _backup_at(home, now - dt.timedelta(days=5), "import")
    kept = _backup_at(home, now - dt.timedelta(days=1, hours=1), "import")
    _backup_at(home, now - dt.timedelta(days=1, hours=2), "apply")
    newest = _backup_at(home, now - dt.timedelta(minutes=1), "apply")
    prune(home, r, state=False, now=now)
    assert set(home.backups.glob("*.zip")) == {kept, newest}
    assert not expired.exists()


def test_a_hand_back_merged_and_applied_makes_one_backup(tmp_path, crm_state_dir):
    """What the watcher does with an inbox copy: merge, then apply the merged master."""
    from test_views_support import LI_CUSTOMER, edit_view

    from crm_sheets.views import merge_view
    from crm_sheets.watch.cycle import apply_master

    vh = make_view_home(tmp_path)
    [copy] = build_views(vh.master, vh.home, users=["li"], today=TODAY)
    edit_view(copy, "客户", {(LI_CUSTOMER["customer_id"], "备注"): "展会上又聊了一次"})
    before = set(vh.home.backups.glob("*.zip"))
    r = merge_view(vh.master, copy, home=vh.home, runner=vh.actor("admin"), today=TODAY)
    assert r.written
    rep = apply_master(vh.home, today=TODAY)
    assert rep.status == "written", rep.message
    made = set(vh.home.backups.glob("*.zip")) - before
    assert len(made) == 1 and rep.backup in made  # the pre-merge backup serves both steps
    from crm_sheets.writeback.backups import read_manifest

    assert read_manifest(rep.backup)["reason"] == "views.merge"


def test_a_later_separate_write_still_gets_its_own_backup(tmp_path, monkeypatch):
    from crm_sheets.writeback import safe

    master = make_master(tmp_path / "CRM.xlsx", customers=[customer(customer_id=None)])
    assert CliRunner().invoke(cli, ["apply", str(master)]).exit_code in (0, 1)
    monkeypatch.setattr(safe, "CHAIN_SECONDS", -1)  # the engine's write is long past
    r = CliRunner().invoke(cli, ["apply", str(master), "--today", "2030-01-01"])
    assert r.exit_code in (0, 1), r.output
    assert len(list((tmp_path / "backups").glob("*.zip"))) == 2


def test_a_home_built_in_code_with_a_path_as_id_never_reaches_the_disk(tmp_path, crm_state_dir):
    """Defence in depth: a CrmHome made directly (not through open_home) is checked too."""
    from crm_sheets.accounts.sessions import session_path
    from crm_sheets.home import CrmHome

    home = CrmHome(root=tmp_path, home_id=str(tmp_path / "evil"))
    with pytest.raises(CrmError):
        _ = home.state
    with pytest.raises(CrmError):
        session_path(home)
    assert not (tmp_path / "evil").exists()
