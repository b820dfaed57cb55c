"""Accounts library: passwords, TOTP, replay, lockout, recovery codes, sessions, storage."""

from __future__ import annotations

import datetime as dt
import os
import sqlite3
import stat
import threading
import time

import pytest
from argon2 import PasswordHasher

from crm_sheets import accounts, audit
from crm_sheets.accounts import passwords, sessions
from crm_sheets.accounts import totp as totp_mod
from crm_sheets.accounts.store import AccountStore
from crm_sheets.errors import CrmError, Refused
from crm_sheets.home import create_home, state_root
from crm_sheets.permissions import current_actor

PW = "correct horse battery"
T0 = dt.datetime(2026, 3, 15, 9, 0, 0, tzinfo=dt.UTC)


@pytest.fixture
def home(tmp_path, crm_state_dir):
    h = create_home(tmp_path / "home")
    accounts.create_first_admin(h, "admin", PW, display_name="管理员")
    return h


def enrol(home, name, now=T0):
    e = accounts.enrol_totp(home, name)
    codes = accounts.confirm_totp(home, name, totp_mod.code_at(e.secret, now), now=now)
    return e.secret, codes


def test_password_policy_and_hash_parameters(home):
    with pytest.raises(accounts.WeakPassword) as exc:
        accounts.add_user(home, "li", "sales", by="admin", password="short1234")
    assert "short1234" not in str(exc.value)
    with pytest.raises(accounts.WeakPassword):
        accounts.add_user(home, "li", "sales", by="admin", password=" " * 12)
    with AccountStore(home).read() as con:
        stored = con.execute("SELECT pw_hash FROM users WHERE name='admin'").fetchone()[0]
    assert stored.startswith("$argon2id$")
    params = dict(p.split("=") for p in stored.split("$")[3].split(","))
    assert int(params["m"]) >= 19 * 1024 and int(params["t"]) >= 2 and int(params["p"]) >= 1


def test_login_with_password_opens_a_session(home):
    s = accounts.login(home, "admin", PW, now=T0)
    assert (s.name, s.role) == ("admin", "admin")
    assert s.expires_at == T0 + dt.timedelta(hours=8)
    assert accounts.current_session(home, now=T0 + dt.timedelta(hours=1)).name == "admin"
    assert accounts.get_user(home, "admin").last_login == T0


def test_wrong_password_and_unknown_account_are_refused(home):
    with pytest.raises(accounts.LoginFailed) as exc:
        accounts.login(home, "admin", "wrong password 1")
    assert "wrong password 1" not in str(exc.value)
    with pytest.raises(accounts.LoginFailed):
        accounts.login(home, "nobody", PW)
    assert accounts.current_session(home) is None
    events = audit.read(home.state)
    assert [e["reason"] for e in events if e["action"] == "login.failed"] == [
        "password", "unknown_account"]


def test_totp_required_once_enrolled_and_wrong_code_refused(home):
    secret, _ = enrol(home, "admin")
    with pytest.raises(accounts.CodeRequired):
        accounts.login(home, "admin", PW, now=T0 + dt.timedelta(minutes=1))
    good = totp_mod.code_at(secret, T0 + dt.timedelta(minutes=1))
    wrong = f"{(int(good) + 1) % 1_000_000:06d}"
    with pytest.raises(accounts.LoginFailed):
        accounts.login(home, "admin", PW, code=wrong, now=T0 + dt.timedelta(minutes=1))
    with pytest.raises(accounts.LoginFailed):  # a right code with a wrong password
        accounts.login(home, "admin", "wrong password 1", code=good,
                       now=T0 + dt.timedelta(minutes=1))
    s = accounts.login(home, "admin", PW, code=good, now=T0 + dt.timedelta(minutes=1))
    assert s.name == "admin"


def test_totp_window_is_one_step_each_side(home):
    secret, _ = enrol(home, "admin")
    now = T0 + dt.timedelta(minutes=5)
    with pytest.raises(accounts.LoginFailed):
        accounts.login(home, "admin", PW, code=totp_mod.code_at(secret, now - dt.timedelta(seconds=60)),
                       now=now)
    accounts.login(home, "admin", PW, code=totp_mod.code_at(secret, now - dt.timedelta(seconds=30)),
                   now=now)
    accounts.login(home, "admin", PW, code=totp_mod.code_at(secret, now + dt.timedelta(seconds=30)),
                   now=now)


def test_replayed_code_is_refused(home):
    secret, _ = enrol(home, "admin")
    now = T0 + dt.timedelta(minutes=2)
    code = totp_mod.code_at(secret, now)
    accounts.login(home, "admin", PW, code=code, now=now)
    with pytest.raises(accounts.LoginFailed) as exc:
        accounts.login(home, "admin", PW, code=code, now=now + dt.timedelta(seconds=10))
    assert "already used" in str(exc.value) or "已经用过" in str(exc.value)
    # the enrolment code itself cannot be replayed either
    with pytest.raises(accounts.LoginFailed):
        accounts.login(home, "admin", PW, code=totp_mod.code_at(secret, T0), now=T0)


def test_recovery_code_works_once(home):
    secret, codes = enrol(home, "admin")
    assert len(codes) == 10 and len(set(codes)) == 10
    now = T0 + dt.timedelta(minutes=3)
    accounts.login(home, "admin", PW, code=codes[3].upper(), now=now)
    assert accounts.recovery_codes_left(home, "admin") == 9
    with pytest.raises(accounts.LoginFailed):
        accounts.login(home, "admin", PW, code=codes[3], now=now)
    accounts.login(home, "admin", PW, code=codes[4].replace("-", ""), now=now)
    with AccountStore(home).read() as con:
        stored = [r[0] for r in con.execute("SELECT code_hash FROM recovery_codes")]
    assert len(stored) == 10 and not set(codes) & set(stored)


def test_lockout_after_five_failures_and_release_after_fifteen_minutes(home):
    for i in range(5):  # the guesser is never told about the lock (issue 13 item 11)
        with pytest.raises(accounts.LoginFailed):
            accounts.login(home, "admin", "wrong password 1", now=T0 + dt.timedelta(seconds=i))
    until = T0 + dt.timedelta(seconds=4, minutes=15)
    # the right password does not help while locked, but its owner learns until when
    with pytest.raises(accounts.AccountLocked) as exc2:
        accounts.login(home, "admin", PW, now=until - dt.timedelta(seconds=1))
    assert exc2.value.until == until and exc2.value.code == "locked"
    assert "锁定" in str(exc2.value)
    assert accounts.get_user(home, "admin", now=until - dt.timedelta(seconds=1)).locked
    assert accounts.login(home, "admin", PW, now=until + dt.timedelta(seconds=1)).name == "admin"
    actions = [e["action"] for e in audit.read(home.state)]
    assert actions.count("user.lockout") == 1 and "login.refused" in actions


def test_wrong_codes_count_towards_the_lock(home):
    enrol(home, "admin")
    for i in range(5):
        with pytest.raises((accounts.LoginFailed, accounts.AccountLocked)) as exc:
            accounts.login(home, "admin", PW, code="000000", now=T0 + dt.timedelta(minutes=1, seconds=i))
    assert isinstance(exc.value, accounts.AccountLocked)


def test_admin_unlock_lifts_the_lock(home):
    accounts.add_user(home, "li", "sales", by="admin", password=PW)
    for _ in range(5):
        with pytest.raises(Refused):
            accounts.login(home, "li", "wrong password 1", now=T0)
    with pytest.raises(accounts.AccountLocked):
        accounts.login(home, "li", PW, now=T0)
    accounts.unlock_user(home, "li", by="admin")
    assert accounts.login(home, "li", PW, now=T0).name == "li"


def test_disabled_user_is_refused_and_loses_its_session(home):
    accounts.add_user(home, "li", "sales", by="admin", password=PW)
    accounts.login(home, "li", PW)
    assert current_actor(home).name == "li"
    accounts.disable_user(home, "li", by="admin")
    assert current_actor(home) is None
    with pytest.raises(Refused) as exc:
        accounts.login(home, "li", PW)
    assert "停用" in str(exc.value)
    accounts.enable_user(home, "li", by="admin")
    assert accounts.login(home, "li", PW).name == "li"


def test_expired_session_is_refused(home):
    accounts.login(home, "admin", PW, now=T0)
    assert accounts.current_session(home, now=T0 + dt.timedelta(hours=7, minutes=59)) is not None
    assert accounts.current_session(home, now=T0 + dt.timedelta(hours=8)) is None
    # a session opened 9 hours ago is gone by the real clock
    accounts.login(home, "admin", PW, now=dt.datetime.now(dt.UTC) - dt.timedelta(hours=9))
    assert current_actor(home) is None


def test_logout_password_reset_and_role_change_end_sessions(home):
    accounts.add_user(home, "li", "sales", by="admin", password=PW)
    accounts.login(home, "li", PW)
    token = sessions.read_session_file(home)["token"]
    assert accounts.logout(home) == "li"
    assert current_actor(home) is None
    # a copy of the old token file is useless after logout
    sessions.write_session_file(home, "li", token, dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert current_actor(home) is None

    accounts.login(home, "li", PW)
    accounts.set_role(home, "li", "manager", by="admin")
    assert current_actor(home) is None
    assert accounts.login(home, "li", PW).role == "manager"
    accounts.reset_password(home, "li", by="admin", password="a new password 2")
    assert current_actor(home) is None
    with pytest.raises(accounts.LoginFailed):
        accounts.login(home, "li", PW)
    accounts.login(home, "li", "a new password 2")


def test_session_file_for_another_account_name_is_rejected(home):
    accounts.add_user(home, "li", "sales", by="admin", password=PW)
    accounts.login(home, "li", PW)
    data = sessions.read_session_file(home)
    sessions.write_session_file(home, "admin", data["token"],
                                dt.datetime.now(dt.UTC) + dt.timedelta(hours=1))
    assert current_actor(home) is None


def test_new_user_sets_password_with_setup_code(home):
    code = accounts.add_user(home, "li", "sales", by="admin", display_name="李四")
    assert code and accounts.needs_setup(home, "li")
    with pytest.raises(accounts.SetupRequired):
        accounts.login(home, "li", PW)
    with pytest.raises(accounts.LoginFailed):
        accounts.complete_setup(home, "li", "aaaa-bbbb-cccc", PW)
    accounts.complete_setup(home, "li", code, PW)
    assert not accounts.needs_setup(home, "li")
    assert accounts.login(home, "li", PW).display_name == "李四"
    with pytest.raises(accounts.LoginFailed):  # a setup code works once
        accounts.complete_setup(home, "li", code, "another password")


def test_setup_code_expires(home):
    code = accounts.add_user(home, "li", "sales", by="admin", now=T0)
    with pytest.raises(accounts.LoginFailed):
        accounts.complete_setup(home, "li", code, PW, now=T0 + dt.timedelta(days=8))


def test_last_admin_cannot_be_disabled_or_demoted(home):
    with pytest.raises(Refused):
        accounts.disable_user(home, "admin", by="admin")
    with pytest.raises(Refused):
        accounts.set_role(home, "admin", "sales", by="admin")
    accounts.add_user(home, "root2", "admin", by="admin", password=PW)
    accounts.set_role(home, "admin", "manager", by="admin")


def test_names_roles_and_duplicates(home):
    with pytest.raises(CrmError):
        accounts.add_user(home, "li", "boss", by="admin", password=PW)
    with pytest.raises(CrmError):
        accounts.add_user(home, "bad name", "sales", by="admin", password=PW)
    accounts.add_user(home, "li", "sales", by="admin", password=PW, display_name="李四")
    with pytest.raises(CrmError):
        accounts.add_user(home, "LI", "sales", by="admin", password=PW)
    with pytest.raises(CrmError):  # display names are owner names: unique
        accounts.add_user(home, "li2", "sales", by="admin", password=PW, display_name="李四")
    with pytest.raises(CrmError):
        accounts.create_first_admin(home, "other", PW)


def test_owner_names_match_accounts(home):
    accounts.add_user(home, "li", "sales", by="admin", password=PW, display_name="李四")
    accounts.add_user(home, "wang", "sales", by="admin", password=PW, display_name="王五")
    accounts.disable_user(home, "wang", by="admin")
    assert accounts.owner_names(home) == ["管理员", "李四"]
    assert accounts.account_for_owner(home, " 李四 ").name == "li"
    assert accounts.account_for_owner(home, "li").name == "li"
    assert accounts.account_for_owner(home, "赵六") is None


def test_totp_enrolment_needs_a_right_code_and_reset_removes_it(home):
    e = accounts.enrol_totp(home, "admin")
    assert e.uri.startswith("otpauth://totp/") and f"secret={e.secret}" in e.uri
    assert "secret" not in repr(e).lower() or e.secret not in repr(e)
    with pytest.raises(Refused):
        accounts.confirm_totp(home, "admin", "000000" if totp_mod.code_at(e.secret, T0) != "000000"
                              else "111111", now=T0)
    assert not accounts.get_user(home, "admin").totp
    accounts.confirm_totp(home, "admin", totp_mod.code_at(e.secret, T0), now=T0)
    assert accounts.get_user(home, "admin").totp
    accounts.reset_totp(home, "admin", by="admin")
    assert not accounts.get_user(home, "admin").totp
    accounts.login(home, "admin", PW)
    assert "█" in totp_mod.qr_text(e.uri) or "▀" in totp_mod.qr_text(e.uri)


def test_change_own_password_checks_the_old_one(home):
    with pytest.raises(accounts.LoginFailed):
        accounts.change_password(home, "admin", "wrong password 1", "a new password 2")
    accounts.change_password(home, "admin", PW, "a new password 2")
    accounts.login(home, "admin", "a new password 2")


def test_old_hash_is_upgraded_on_login(home):
    weak = PasswordHasher(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash(PW)
    with AccountStore(home).write() as con:
        con.execute("UPDATE users SET pw_hash = ? WHERE name = 'admin'", (weak,))
    accounts.login(home, "admin", PW)
    with AccountStore(home).read() as con:
        stored = con.execute("SELECT pw_hash FROM users WHERE name='admin'").fetchone()[0]
    assert stored != weak and not passwords.needs_rehash(stored)
    assert any(e.get("rehashed") for e in audit.read(home.state))


def test_password_file_first_line_only(tmp_path):
    f = tmp_path / "pw.txt"
    f.write_text("line one password\r\nsecond line\n", encoding="utf-8")
    assert passwords.read_password_file(f) == "line one password"
    f.write_text("\n", encoding="utf-8")
    with pytest.raises(CrmError):
        passwords.read_password_file(f)
    with pytest.raises(CrmError):
        passwords.read_password_file(tmp_path / "missing.txt")


def test_state_is_private_and_outside_the_home(home, tmp_path):
    accounts.login(home, "admin", PW)
    db = AccountStore(home).path
    sess = sessions.session_path(home)
    assert db.is_relative_to(state_root()) and sess.is_relative_to(state_root())
    assert not db.is_relative_to(home.root) and not sess.is_relative_to(home.root)
    if os.name == "posix":
        assert stat.S_IMODE(home.state.stat().st_mode) == 0o700
        assert stat.S_IMODE(sess.parent.stat().st_mode) == 0o700
        assert stat.S_IMODE(db.stat().st_mode) == 0o600
        assert stat.S_IMODE(sess.stat().st_mode) == 0o600
    token = sessions.read_session_file(home)["token"]
    assert token.encode() not in db.read_bytes()


def test_concurrent_logins_do_not_corrupt_the_store(home):
    accounts.add_user(home, "li", "sales", by="admin", password=PW)
    errors: list[BaseException] = []

    def worker(name: str, password: str) -> None:
        try:
            accounts.login(home, name, password)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=("admin", PW)) for _ in range(3)]
    threads += [threading.Thread(target=worker, args=("li", "wrong password 1"))
                for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(errors) == 4 and all(isinstance(e, accounts.LoginFailed) for e in errors)
    with sqlite3.connect(AccountStore(home).path) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT failures FROM users WHERE name='li'").fetchone()[0] == 4
        assert con.execute("SELECT COUNT(*) FROM sessions WHERE user='admin'").fetchone()[0] == 3


def test_login_takes_under_a_second(home):
    best = min(_timed(lambda: accounts.login(home, "admin", PW)) for _ in range(3))
    assert best < 1.0


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def test_display_names_may_hold_spaces_but_account_names_not(home):
    accounts.add_user(home, "zw", "sales", by="admin", password=PW, display_name="Zhang Wei")
    assert accounts.account_for_owner(home, "zhang wei").name == "zw"
    with pytest.raises(CrmError):
        accounts.add_user(home, "zw2", "sales", by="admin", password=PW, display_name="a\tb")
