"""The watcher, driven by saves that mimic Excel, LibreOffice, WPS and in-place writers.

The real `Watcher` loop runs in a thread with short debounce/intervals; tests wait for
its events with bounded timeouts and stop it cleanly.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from crm_sheets.home import CrmHome
from crm_sheets.reader import load
from crm_sheets.sample_data import generate
from crm_sheets.template import build_workbook
from crm_sheets.watch import Watcher, WatchOptions
from crm_sheets.watch.adapters import Hooks
from crm_sheets.watch.cycle import MasterTracker, revalidate
from crm_sheets.watch.events import Classifier, Kind
from crm_sheets.writeback.safe import file_sha256

TODAY = dt.date(2026, 11, 26)
APPLY_DONE = ("applied", "apply_unchanged", "apply_refused")
LO_LOCK = ",张三,pc-zhang,26.11.2026 10:00,file:///home/zhang/.config/libreoffice/4;"


# ------------------------------------------------------------------ workbooks and editors


def book_bytes(tmp: Path, *, n: int = 25, seed: int = 3, tweak: str | None = None,
               author: str | None = None) -> bytes:
    """A master workbook's bytes; `tweak` renames the first customer (a distinct save)."""
    cust, fol = generate(n, 2, seed=seed, today=TODAY)
    if tweak:
        cust[0]["name"] = tweak
    path = tmp / f"gen-{uuid.uuid4().hex}.xlsx"
    build_workbook(path, customers=cust, followups=fol)
    data = path.read_bytes()
    path.unlink()
    if author:
        data = set_author(data, author)
    return data


def set_author(data: bytes, author: str) -> bytes:
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            body = src.read(info)
            if info.filename == "docProps/core.xml":
                text = body.decode("utf-8")
                if "<cp:lastModifiedBy>" in text:
                    import re

                    text = re.sub("<cp:lastModifiedBy>.*?</cp:lastModifiedBy>",
                                  f"<cp:lastModifiedBy>{author}</cp:lastModifiedBy>", text)
                else:
                    text = text.replace("</cp:coreProperties>",
                                        f"<cp:lastModifiedBy>{author}</cp:lastModifiedBy>"
                                        "</cp:coreProperties>")
                body = text.encode("utf-8")
            dst.writestr(info, body)
    return out.getvalue()


def _write_slowly(path: Path, data: bytes, pieces: int = 4, pause: float = 0.01) -> None:
    with open(path, "wb") as fh:
        step = max(1, len(data) // pieces)
        for i in range(0, len(data), step):
            fh.write(data[i:i + step])
            fh.flush()
            if pause:
                time.sleep(pause)


def excel_save(master: Path, data: bytes, *, keep_owner: bool = False) -> None:
    """Excel: owner file while open; temp with 8 hex chars, delete original, rename temp."""
    owner = master.with_name("~$" + master.name)
    owner.write_bytes(b"\x06zhang" + b" " * 48 + (5).to_bytes(2, "little")
                      + "zhang".encode("utf-16-le"))
    tmp = master.with_name(uuid.uuid4().hex[:8].upper())
    _write_slowly(tmp, data)
    os.unlink(master)
    os.rename(tmp, master)
    if not keep_owner:
        owner.unlink()


def libreoffice_save(master: Path, data: bytes, *, keep_lock: bool = False,
                     lock_exists: bool = False) -> None:
    """LibreOffice: drop the lock, write lu*.tmp, rename it over the file, recreate the lock."""
    lock = master.with_name(f".~lock.{master.name}#")
    if not lock_exists:
        lock.write_text(LO_LOCK, encoding="utf-8")
    lock.unlink()
    tmp = master.with_name(f"lu{uuid.uuid4().hex[:10]}.tmp")
    _write_slowly(tmp, data)
    os.replace(tmp, master)
    lock.write_text(LO_LOCK, encoding="utf-8")
    if not keep_lock:
        time.sleep(0.02)
        lock.unlink()


def wps_save(master: Path, data: bytes) -> None:
    owner = master.with_name("~$" + master.name)
    owner.write_bytes(b"\x03wps")
    tmp = master.with_name(f"~WPS{uuid.uuid4().hex[:6]}.tmp")
    _write_slowly(tmp, data)
    os.replace(tmp, master)
    owner.unlink()


def inplace_save(master: Path, data: bytes, pause: float = 0.05) -> None:
    """A program that rewrites the file in place, in pieces (half-written for a moment)."""
    _write_slowly(master, data, pieces=6, pause=pause)


# ------------------------------------------------------------------ the watcher in a thread


@pytest.fixture
def home(crm_state_dir, tmp_path) -> CrmHome:
    """A home with a 25-customer master (the loop itself checks no session; the CLI does)."""
    from crm_sheets.home import create_home

    h = create_home(tmp_path / "home")
    h.master.write_bytes(book_bytes(tmp_path))
    return h


def fast_options(**kw) -> WatchOptions:
    base = dict(debounce=0.3, settle=0.1, lock_recheck=0.3, rearm_every=0.3, rescan_every=60.0,
                retries=3, retry_delay=0.2, backup_every=None, today=lambda: TODAY,
                inbox_defer=0.5, max_tick=0.2)
    base.update(kw)
    return WatchOptions(**base)


@contextlib.contextmanager
def watching(home: CrmHome, *, hooks: Hooks | None = None, settle_first: bool = True,
             **opts) -> Iterator[Watcher]:
    w = Watcher(home, fast_options(**opts), hooks=hooks or Hooks())
    errors: list[BaseException] = []

    def target() -> None:
        try:
            w.run()
        except BaseException as exc:  # noqa: BLE001 - surfaced by the test
            errors.append(exc)

    th = threading.Thread(target=target, daemon=True)
    th.start()
    assert w.ready.wait(10)
    try:
        if settle_first and home.master.exists():
            assert w.wait_for(lambda e: e.kind in APPLY_DONE or e.kind == "locked",
                              timeout=30), kinds(w)
            idle(w)
        yield w
    finally:
        w.stop()
        th.join(15)
        assert not th.is_alive(), "watcher did not stop"
        assert not errors, errors
    assert not [e for e in w.events if e.kind == "error"], [e.text for e in w.events
                                                           if e.kind == "error"]


def kinds(w: Watcher, after: int = 0) -> list[str]:
    return [e.kind for e in list(w.events) if e.seq > after]


def idle(w: Watcher, quiet: float = 0.45, timeout: float = 20.0) -> None:
    """Wait until no event arrived for `quiet` seconds and nothing is pending."""
    deadline = time.monotonic() + timeout
    last = w.seq
    since = time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        if w.seq != last or w.pending:
            last, since = w.seq, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return
    raise AssertionError(f"watcher never went idle: {kinds(w)[-10:]}")


def wait_kind(w: Watcher, kind: str | tuple[str, ...], after: int, timeout: float = 20.0):
    want = (kind,) if isinstance(kind, str) else kind
    ev = w.wait_for(lambda e: e.kind in want, after=after, timeout=timeout)
    assert ev is not None, f"no {kind} after {after}: {kinds(w, after)}"
    return ev


def latest_findings(home: CrmHome) -> dict:
    return json.loads((home.reports / "latest-findings.json").read_text(encoding="utf-8"))


def names_in(master: Path) -> list[str]:
    return [r.values.get("name") for r in load(master).customers.records]


# ------------------------------------------------------------------ unit-level


def test_classifier_sorts_paths(tmp_path: Path) -> None:
    c = Classifier(tmp_path / "CRM.xlsx", tmp_path / "inbox")
    assert c.classify(tmp_path / "CRM.xlsx").kind is Kind.MASTER
    for noise in ("A1B2C3D4", "lu1234abcd.tmp", "~WPS0001.tmp", ".crm-write-ab.tmp", "x.xlsx"):
        assert c.classify(tmp_path / noise).kind is Kind.NOISE
    for lock in ("~$CRM.xlsx", ".~lock.CRM.xlsx#", ".~CRM.xlsx"):
        assert c.classify(tmp_path / lock).kind is Kind.MASTER_LOCK
    assert c.classify(tmp_path / "inbox" / "张三.xlsx").kind is Kind.INBOX
    assert c.classify(tmp_path / "inbox" / "~$张三.xlsx").kind is Kind.NOISE
    # Excel's save: the rename's destination is the master
    touches = c.touches("moved", str(tmp_path / "A1B2C3D4"), str(tmp_path / "CRM.xlsx"))
    assert [t.kind for t in touches] == [Kind.MASTER]


def test_incremental_duplicates_match_full_scan(tmp_path: Path) -> None:
    from crm_sheets.dedupe import duplicate_findings

    cust, fol = generate(60, 1, seed=5, today=TODAY)
    p = tmp_path / "m.xlsx"
    build_workbook(p, customers=cust, followups=fol)
    from crm_sheets.home import create_home

    h = create_home(tmp_path / "h")
    tracker = MasterTracker()
    revalidate(h, tracker, today=TODAY, path=p)
    assert tracker.dup.last_full
    # a copy of customer 3 appears as a new row; customer 10 is renamed to look like 11
    extra = dict(cust[3], customer_id=None, contact_name="李四")
    cust2 = [*cust, extra]
    cust2[10] = dict(cust2[10], name=cust2[11]["name"] + "（分公司）")
    build_workbook(p, customers=cust2, followups=fol)
    save = revalidate(h, tracker, today=TODAY, path=p)
    assert not tracker.dup.last_full and tracker.dup.last_changed == 2
    inc = sorted((f.row, f.code) for f in save.findings if f.code == "customer.possible_duplicate")
    full = sorted((f.row, f.code) for f in duplicate_findings(load(p)))
    assert inc == full and len(inc) >= 1


def test_save_is_judged_against_the_engines_last_write(home: CrmHome, tmp_path: Path) -> None:
    """The base of the shared-mode check: the previous save, or the engine's write when the
    engine wrote since; a file that is the engine's write is not judged at all (13.7)."""
    from crm_sheets.apply.state import record_engine_write
    from crm_sheets.watch.cycle import check_ownership

    seen: list[tuple[str, str, str | None]] = []

    def check(before, after, author, h):
        seen.append((before.customers.records[0].values["name"],
                     after.customers.records[0].values["name"], author))
        return []

    hooks = Hooks(shared_mode_check=check)
    tracker = MasterTracker()

    def save(name: str, author: str) -> object:
        home.master.write_bytes(book_bytes(tmp_path, tweak=name, author=author))
        s = revalidate(home, tracker, today=TODAY, hooks=hooks)
        check_ownership(home, s, hooks)
        return s

    save("甲保存", "甲")  # the watcher's first look: no base, not judged
    save("甲再保存", "甲")
    assert seen == [("甲保存", "甲再保存", "甲")]
    home.master.write_bytes(book_bytes(tmp_path, tweak="引擎写入", author="甲"))
    record_engine_write(home.state, home.master, action="apply", who="admin")  # a CLI apply
    save_engine = revalidate(home, tracker, today=TODAY, hooks=hooks)
    check_ownership(home, save_engine, hooks)
    assert save_engine.engine_write == "apply" and save_engine.author == "引擎（apply）"
    assert len(seen) == 1  # the engine's own write is not judged
    save("乙保存", "乙")
    assert seen[-1] == ("引擎写入", "乙保存", "乙")
    # the engine writes again (the watcher's apply: its event is skipped, no revalidate)
    home.master.write_bytes(book_bytes(tmp_path, tweak="引擎又写", author="乙"))
    record_engine_write(home.state, home.master, action="apply", who="engine")
    save("丙保存", "丙")
    assert seen[-1] == ("引擎又写", "丙保存", "丙")  # not 乙's save: the engine's write


# ------------------------------------------------------------------ editors


@pytest.mark.parametrize("editor", [excel_save, libreoffice_save, wps_save, inplace_save])
def test_each_editor_save_is_validated_and_applied(home: CrmHome, tmp_path: Path,
                                                   editor) -> None:
    with watching(home) as w:
        start = w.seq
        name = f"{editor.__name__}有限公司"
        data = book_bytes(tmp_path, tweak=name)
        editor(home.master, data)
        ev = wait_kind(w, "findings", start)
        assert ev.data["sha256"] == __import__("hashlib").sha256(data).hexdigest()
        assert latest_findings(home)["sha256"] == ev.data["sha256"]
        wait_kind(w, "applied", ev.seq)
        idle(w)
        assert kinds(w, start).count("findings") == 1, kinds(w, start)  # no cycle of our own
        assert "engine_write" in kinds(w, start)
        wb = load(home.master)
        assert wb.customers.records[0].values["name"] == name
        assert wb.customers.records[0].values.get("status")  # derived field applied


def test_save_while_locked_validates_but_never_writes(home: CrmHome, tmp_path: Path) -> None:
    with watching(home) as w:
        start = w.seq
        data = book_bytes(tmp_path, tweak="锁定期间保存")
        libreoffice_save(home.master, data, keep_lock=True)
        ev = wait_kind(w, "findings", start)
        wait_kind(w, "locked", ev.seq)
        idle(w)
        assert "applied" not in kinds(w, start)
        assert home.master.read_bytes() == data  # untouched while the editor holds it
        assert latest_findings(home)["sha256"] == ev.data["sha256"]
        # the editor closes: the deferred apply runs
        closed = w.seq
        home.master.with_name(f".~lock.{home.master.name}#").unlink()
        wait_kind(w, "applied", closed)
        assert home.master.read_bytes() != data


def test_excel_owner_file_left_open_blocks_writes(home: CrmHome, tmp_path: Path) -> None:
    with watching(home) as w:
        start = w.seq
        excel_save(home.master, book_bytes(tmp_path, tweak="Excel仍打开"), keep_owner=True)
        wait_kind(w, "locked", start)
        idle(w)
        assert "applied" not in kinds(w, start)


def test_corrupt_save_is_retried_then_reported(home: CrmHome, tmp_path: Path) -> None:
    with watching(home) as w:
        start = w.seq
        good = book_bytes(tmp_path, tweak="坏文件之前")
        tmp = home.master.with_name("0A1B2C3D")
        tmp.write_bytes(good[: len(good) // 2])  # a truncated save
        os.unlink(home.master)
        os.rename(tmp, home.master)
        ev = wait_kind(w, "corrupt", start)
        retries = [e for e in w.events if e.seq > start and e.kind == "retry"]
        assert len(retries) == 3 and ev.data["attempts"] == 4
        assert "findings" not in kinds(w, start)
        # the watcher is still alive and takes the next good save
        after = w.seq
        excel_save(home.master, good)
        wait_kind(w, "findings", after)
        wait_kind(w, "applied", after)


def test_half_written_then_completed_save_is_read_once(home: CrmHome, tmp_path: Path) -> None:
    with watching(home) as w:
        start = w.seq
        data = book_bytes(tmp_path, tweak="慢慢写完")
        with open(home.master, "wb") as fh:  # in place, with a pause longer than debounce
            fh.write(data[:1000])
            fh.flush()
            time.sleep(0.7)
            fh.write(data[1000:])
        ev = wait_kind(w, "findings", start)
        assert ev.data["sha256"] == file_sha256(home.master) or "applied" in kinds(w, start)
        idle(w)
        assert kinds(w, start).count("findings") == 1, kinds(w, start)


def test_libreoffice_headless_saves_into_the_watched_folder(home: CrmHome, tmp_path: Path) -> None:
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    assert soffice, "LibreOffice is required for this test"
    src_dir = tmp_path / "lo-src"
    src_dir.mkdir()
    src = src_dir / home.master.name
    src.write_bytes(book_bytes(tmp_path, tweak="LibreOffice保存的客户"))
    profile = tmp_path / f"lo-profile-{uuid.uuid4().hex}"
    with watching(home) as w:
        start = w.seq
        subprocess.run([soffice, f"-env:UserInstallation={profile.as_uri()}", "--headless",
                        "--convert-to", "xlsx", "--outdir", str(home.root), str(src)],
                       check=True, capture_output=True, timeout=120)
        ev = wait_kind(w, "findings", start, timeout=30)
        wait_kind(w, APPLY_DONE, ev.seq, timeout=30)
        idle(w)
        assert "LibreOffice保存的客户" in names_in(home.master)
        assert latest_findings(home)["summary"]["customers"] == 25


def test_soak_200_saves_final_state_validated_and_applied(home: CrmHome, tmp_path: Path) -> None:
    variants = [book_bytes(tmp_path, tweak=f"浸泡测试{i}号公司") for i in range(8)]
    final = book_bytes(tmp_path, tweak="最后一次保存的公司")
    savers = [excel_save, libreoffice_save, wps_save, inplace_save]
    with watching(home) as w:
        start = w.seq
        t0 = time.monotonic()
        lock = home.master.with_name(f".~lock.{home.master.name}#")
        n = 0
        while n < 200:
            # a session: the file is open (lock), several saves, then closed for a moment
            lock.write_text(LO_LOCK, encoding="utf-8")
            time.sleep(0.05)
            for _ in range(10):
                data = final if n == 199 else variants[n % len(variants)]
                saver = savers[n % len(savers)]
                if saver is libreoffice_save:
                    libreoffice_save(home.master, data, keep_lock=True, lock_exists=True)
                elif saver is inplace_save:
                    inplace_save(home.master, data, pause=0.01)
                else:
                    saver(home.master, data)
                n += 1
                time.sleep(0.12)
            lock.unlink()
            time.sleep(0.4)
        elapsed = time.monotonic() - t0
        ev = w.wait_for(lambda e: e.kind == "findings" and e.data["sha256"]
                        == __import__("hashlib").sha256(final).hexdigest(), after=start,
                        timeout=30)
        assert ev is not None, "the last save was never validated"
        wait_kind(w, "applied", ev.seq, timeout=30)
        idle(w, quiet=1.0)
        got = kinds(w, start)
        assert got.count("findings") >= 20, got.count("findings")
        assert "corrupt" not in got
        assert 25 <= elapsed <= 75, elapsed
        wb = load(home.master)
        assert wb.customers.records[0].values["name"] == "最后一次保存的公司"
        assert wb.customers.records[0].values.get("status")
        assert latest_findings(home)["sha256"] == ev.data["sha256"]


def test_polling_mode_sees_excel_and_libreoffice_saves(home: CrmHome, tmp_path: Path) -> None:
    with watching(home, polling=True, interval=0.2) as w:
        for editor in (excel_save, libreoffice_save):
            start = w.seq
            editor(home.master, book_bytes(tmp_path, tweak=f"轮询{editor.__name__}"))
            ev = wait_kind(w, "findings", start)
            wait_kind(w, "applied", ev.seq)
            idle(w)
        assert f"轮询{libreoffice_save.__name__}" in names_in(home.master)


def test_folder_vanishes_and_comes_back(home: CrmHome, tmp_path: Path) -> None:
    parked = tmp_path / "parked"
    with watching(home) as w:
        start = w.seq
        os.rename(home.root, parked)  # the share disconnects
        wait_kind(w, "folder_missing", start)
        time.sleep(0.5)
        assert w.armed is False
        back = w.seq
        os.rename(parked, home.root)  # ... and reconnects
        wait_kind(w, "rearmed", back)
        idle(w)
        after = w.seq
        excel_save(home.master, book_bytes(tmp_path, tweak="断线之后保存"))
        ev = wait_kind(w, "findings", after)
        wait_kind(w, "applied", ev.seq)
        assert "断线之后保存" in names_in(home.master)


def test_periodic_rescan_catches_a_missed_event(home: CrmHome, tmp_path: Path) -> None:
    class Deaf:  # an observer that never reports anything (an SMB share without polling)
        def schedule(self, *a, **k) -> None: ...
        def start(self) -> None: ...
        def stop(self) -> None: ...
        def join(self, timeout: float | None = None) -> None: ...
        def is_alive(self) -> bool:
            return True

    w = Watcher(home, fast_options(rescan_every=0.5), observer_factory=lambda o: Deaf())
    th = threading.Thread(target=w.run, daemon=True)
    th.start()
    try:
        wait_kind(w, APPLY_DONE, 0, timeout=30)
        idle(w)
        start = w.seq
        excel_save(home.master, book_bytes(tmp_path, tweak="没有事件的保存"))
        wait_kind(w, "rescan", start, timeout=5)
        wait_kind(w, "findings", start)
    finally:
        w.stop()
        th.join(10)
    assert not th.is_alive()


# ------------------------------------------------------------------ inbox and attribution


class StubResult:
    def __init__(self, landed: int, rejected: int, written: bool) -> None:
        self.landed = [f"l{i}" for i in range(landed)]
        self.rejected = [f"r{i}" for i in range(rejected)]
        self.conflicts: list[str] = []
        self.written = written

    def to_dict(self) -> dict:
        return {"landed": self.landed, "rejected": self.rejected, "conflicts": self.conflicts,
                "written": self.written, "account": "sales1", "refused": False}


def test_inbox_drops_are_merged_and_filed(home: CrmHome, tmp_path: Path) -> None:
    calls: list[tuple[Path, Path]] = []

    def fake_merge(master_path, view_path, *, home, runner=None, dry_run=False, password=None):
        calls.append((Path(master_path), Path(view_path)))
        if "bad" in Path(view_path).name:
            return StubResult(0, 2, False)
        return StubResult(3, 1, False)

    with watching(home, hooks=Hooks(merge_view=fake_merge)) as w:
        start = w.seq
        (home.inbox / "~$销售一号.xlsx").write_bytes(b"owner")  # noise
        excel_like = home.inbox / "销售一号.xlsx"
        _write_slowly(excel_like, book_bytes(tmp_path))
        ev = wait_kind(w, "merged", start)
        assert ev.data["landed"] == 3 and ev.data["rejected"] == 1
        done = home.inbox / "done" / "销售一号.xlsx"
        assert done.exists() and not excel_like.exists()
        beside = json.loads((done.parent / (done.name + ".findings.json")).read_text("utf-8"))
        assert beside["status"] == "done" and len(beside["landed"]) == 3
        after = w.seq
        (home.inbox / "bad-copy.xlsx").write_bytes(book_bytes(tmp_path))
        wait_kind(w, "merge_rejected", after)
        assert (home.inbox / "rejected" / "bad-copy.xlsx").exists()
        assert (home.inbox / "rejected" / "bad-copy.xlsx.findings.json").exists()
        idle(w)
    assert [c[1].name for c in calls] == ["销售一号.xlsx", "bad-copy.xlsx"]
    assert (home.inbox / "~$销售一号.xlsx").exists()  # artifacts are never touched


def test_inbox_corrupt_copy_goes_to_rejected_after_merge_raises(home: CrmHome,
                                                                tmp_path: Path) -> None:
    from crm_sheets.errors import CrmError

    def raising_merge(master_path, view_path, **kw):
        raise CrmError("文件已损坏")

    with watching(home, hooks=Hooks(merge_view=raising_merge)) as w:
        start = w.seq
        (home.inbox / "x.xlsx").write_bytes(book_bytes(tmp_path))
        ev = wait_kind(w, "merge_rejected", start)
        assert "损坏" in ev.text
        assert (home.inbox / "rejected" / "x.xlsx.findings.json").exists()


def test_attribution_and_shared_mode_check_are_wired(home: CrmHome, tmp_path: Path) -> None:
    from crm_sheets.findings import make

    seen: list[tuple] = []

    def check(before, after, author, h):
        seen.append((len(before.customers.records), len(after.customers.records), author))
        return [make("shared.unknown_author", after.lang, sheet="Customers", author=author,
                     count=1)] if author == "陌生人" else []

    with watching(home, hooks=Hooks(shared_mode_check=check)) as w:
        start = w.seq
        excel_save(home.master, book_bytes(tmp_path, tweak="署名保存", author="陌生人"))
        ev = wait_kind(w, "findings", start)
        assert ev.data["author"] == "陌生人"
        wait_kind(w, "ownership", start)
        wait_kind(w, "applied", ev.seq)
        assert latest_findings(home)["saved_by"] == "陌生人"
        assert any(f["code"] == "shared.unknown_author" for f in latest_findings(home)["findings"])
    assert seen and seen[-1][2] == "陌生人"
    audit_log = (home.state / "audit.log").read_text(encoding="utf-8")
    assert '"watch.save"' in audit_log and "陌生人" in audit_log
    applies = [json.loads(x) for x in audit_log.splitlines() if '"action": "apply"' in x]
    assert applies and all(a["who"] == "engine" for a in applies)
