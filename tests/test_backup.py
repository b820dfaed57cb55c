"""`crm backup create|list|verify|restore|prune` and the watcher's scheduled backups."""

from __future__ import annotations

import datetime as dt
import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from test_watch import book_bytes, fast_options, wait_kind

from crm_sheets import backup_admin
from crm_sheets.cli import cli
from crm_sheets.home import HOME_FILE
from crm_sheets.writeback.backups import MANIFEST, create_backup


@pytest.fixture
def admin_home(logged_in_home, tmp_path):
    h = logged_in_home("admin").home
    h.master.write_bytes(book_bytes(tmp_path))
    return h


def run(*args: str) -> tuple[int, str]:
    res = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return res.exit_code, res.output


def flip_byte_in_member(backup: Path, member: str, at: int = 100) -> None:
    with zipfile.ZipFile(backup) as zf:
        info = zf.getinfo(member)
    with open(backup, "r+b") as fh:
        fh.seek(info.header_offset + 26)
        n, m = int.from_bytes(fh.read(2), "little"), int.from_bytes(fh.read(2), "little")
        pos = info.header_offset + 30 + n + m + at
        fh.seek(pos)
        b = fh.read(1)
        fh.seek(pos)
        fh.write(bytes([b[0] ^ 0x01]))


def test_create_writes_home_and_private_state_backups(admin_home) -> None:
    code, out = run("backup", "create", "--home", str(admin_home.root))
    assert code == 0, out
    home_zip, state_zip = [Path(line) for line in out.split()]
    assert home_zip.parent == admin_home.backups
    with zipfile.ZipFile(home_zip) as zf:
        names = zf.namelist()
        manifest = json.loads(zf.read(MANIFEST))
        assert zf.read(admin_home.master.name) == admin_home.master.read_bytes()
    assert names[:2] == [admin_home.master.name, HOME_FILE]
    assert set(manifest["files"]) == {admin_home.master.name, HOME_FILE}
    # the private state is never in the shared home
    assert state_zip.parent == admin_home.state / "backups"
    assert admin_home.root not in state_zip.parents
    with zipfile.ZipFile(state_zip) as zf:
        assert "accounts.db" in zf.namelist() and "backups/" not in " ".join(zf.namelist())
        assert zf.read("accounts.db")[:16] == b"SQLite format 3\x00"
    code, out = run("backup", "list", "--home", str(admin_home.root), "--format", "json")
    ids = {b["id"] for b in json.loads(out)["backups"]}
    assert {home_zip.stem, state_zip.stem} <= ids


def test_verify_catches_a_flipped_byte(admin_home) -> None:
    made = backup_admin.create(admin_home, "manual")
    pre_write = create_backup(admin_home.master, admin_home.backups, "apply")
    code, out = run("backup", "verify", "--home", str(admin_home.root))
    assert code == 0 and "0" in out.splitlines()[-1], out
    flip_byte_in_member(made[0], admin_home.master.name)
    code, out = run("backup", "verify", "--home", str(admin_home.root))
    assert code == 1, out
    bad = [line for line in out.splitlines() if line.startswith("BAD")]
    assert len(bad) == 1 and made[0].stem in bad[0]
    assert any(line.startswith("OK") and pre_write.stem in line for line in out.splitlines())
    # a flipped byte in the state backup is caught as well
    flip_byte_in_member(made[1], "accounts.db", at=10)
    assert len([b for b, p in backup_admin.verify_all(admin_home) if p]) == 2
    # and a damaged backup is never restored
    with pytest.raises(Exception, match="damaged|已损坏"):
        backup_admin.restore(admin_home, made[0].stem)


def test_restore_round_trips_and_backs_up_first(admin_home, tmp_path) -> None:
    original = admin_home.master.read_bytes()
    [home_zip, state_zip] = backup_admin.create(admin_home, "manual")
    changed = book_bytes(tmp_path, tweak="恢复之前的修改")
    admin_home.master.write_bytes(changed)
    code, out = run("backup", "restore", home_zip.stem, "--home", str(admin_home.root))
    assert code == 0, out
    assert admin_home.master.read_bytes() == original
    pre = [b for b in backup_admin.list_backups(admin_home) if b.reason == "pre-restore"]
    assert len(pre) == 1
    with zipfile.ZipFile(pre[0].path) as zf:
        assert zf.read(admin_home.master.name) == changed  # what was there is kept
    # a pre-write backup (engine format) restores too, by unique id prefix
    pw = create_backup(admin_home.master, admin_home.backups, "apply")
    admin_home.master.write_bytes(changed)
    backup_admin.restore(admin_home, pw.stem[:-2])
    assert admin_home.master.read_bytes() == original
    # the state folder round-trips
    with zipfile.ZipFile(state_zip) as zf:
        logged = zf.read("audit.log")
    log = admin_home.state / "audit.log"
    log.write_bytes(b"tampered\n")
    res = backup_admin.restore(admin_home, state_zip.stem)
    assert res.pre_backup.parent == admin_home.state / "backups"
    restored = log.read_bytes()
    assert restored.startswith(logged) and b"tampered" not in restored
    code, out = run("whoami", "--home", str(admin_home.root))
    assert code == 0, out  # accounts.db restored intact: the session still works


def test_non_admin_is_refused(logged_in_home, tmp_path) -> None:
    lg = logged_in_home("admin")
    lg.home.master.write_bytes(book_bytes(tmp_path))
    logged_in_home("sales", home=lg.home)
    code, out = run("backup", "list", "--home", str(lg.home.root))
    assert code == 1 and "管理员" in out, out


def _fake_backup(folder: Path, created: dt.datetime, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    p = folder / f"CRM-{created.strftime('%Y%m%d-%H%M%S-%f')}-{n}.zip"
    with zipfile.ZipFile(p, "w") as zf:
        zf.writestr("CRM.xlsx", b"x")
        zf.writestr(MANIFEST, json.dumps({"format": 1, "created": created.isoformat(),
                                          "reason": "scheduled", "files": {}}))
    return p


def test_prune_keeps_7_daily_4_weekly_12_monthly(admin_home) -> None:
    now = dt.datetime.now(dt.UTC).replace(hour=12, minute=0, second=0, microsecond=0)
    made = [_fake_backup(admin_home.backups, now - dt.timedelta(days=d, hours=h), d * 10 + h)
            for d in range(0, 500) for h in (0, 5)]
    # the thinning tiers alone (every backup of the last 24 h is kept: test_hardening)
    r = backup_admin.Retention(daily=7, weekly=4, monthly=12, keep_last=0, recent_hours=0)
    # 'now' is noon today, which may still be ahead of the clock: pass it, so no backup is
    # "from the future" (those are kept as recent whatever the hour the suite runs)
    removed = backup_admin.prune(admin_home, r, state=False, now=now)
    kept = sorted(p for p in made if p.exists())
    assert len(removed) + len(kept) == len(made)
    assert 12 <= len(kept) <= 7 + 4 + 12
    days = {backup_admin._info(p, "home").created.astimezone().date() for p in kept}
    today = now.astimezone().date()
    assert all((today - dt.timedelta(days=d)) in days for d in range(7))  # 7 daily
    months = {(d.year, d.month) for d in days}
    assert len(months) == 12  # one per month for 12 months
    oldest = min(days)
    assert (today - oldest).days < 370
    # the newest of each kept day is the one kept
    assert made[0].exists() and not made[1].exists()
    # prune with the defaults keeps the 10 newest whatever their dates
    assert backup_admin.Retention.from_settings({"backup_daily": 3}).daily == 3


def test_watcher_makes_the_scheduled_backup_and_prunes(admin_home) -> None:
    import threading

    from crm_sheets.watch import Watcher

    w = Watcher(admin_home, fast_options(backup_every=3600.0, backup_check_every=0.2))
    th = threading.Thread(target=w.run, daemon=True)
    th.start()
    try:
        ev = wait_kind(w, "backup", 0, timeout=30)
        assert Path(ev.data["path"]).exists()
        wait_kind(w, ("applied", "apply_unchanged"), 0, timeout=30)
        import time

        time.sleep(1.0)  # several backup checks: the weekly one is not repeated
        scheduled = [b for b in backup_admin.list_backups(admin_home)
                     if b.reason == "scheduled"]
        assert {b.kind for b in scheduled} == {"home", "state"} and len(scheduled) == 2
    finally:
        w.stop()
        th.join(10)
    assert not th.is_alive()
