"""`crm watch` as a user runs it (Ctrl-C, refusal) and the watcher with the real merge."""

from __future__ import annotations

import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from test_views_support import LI_CUSTOMER, TODAY, edit_view, make_view_home
from test_watch import book_bytes, excel_save, wait_kind, watching

from crm_sheets.reader import load
from crm_sheets.watch.adapters import Hooks

ROOT = Path(__file__).resolve().parents[1]


def _reader(stream, q: queue.Queue) -> None:
    for line in iter(stream.readline, ""):
        q.put(line)
    q.put(None)


def _wait_line(q: queue.Queue, needle: str, timeout: float, seen: list[str]) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            line = q.get(timeout=max(0.05, deadline - time.monotonic()))
        except queue.Empty:
            return False
        if line is None:
            return False
        seen.append(line)
        if needle in line:
            return True
    return False


def _crm(*args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1", COLUMNS="200", CRM_TODAY="2026-11-26")
    return subprocess.Popen([sys.executable, "-c", "from crm_sheets.cli import main; main()",
                             *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, encoding="utf-8")


def test_crm_watch_logs_saves_and_stops_cleanly_on_ctrl_c(logged_in_home, tmp_path) -> None:
    home = logged_in_home("admin").home
    home.master.write_bytes(book_bytes(tmp_path))
    proc = _crm("watch", str(home.root), "--debounce", "0.3", "--backup-every", "0")
    q: queue.Queue = queue.Queue()
    threading.Thread(target=_reader, args=(proc.stdout, q), daemon=True).start()
    seen: list[str] = []
    try:
        assert _wait_line(q, "已应用", 60, seen), "".join(seen)
        excel_save(home.master, book_bytes(tmp_path, tweak="命令行保存"))
        assert _wait_line(q, "检测到保存", 20, seen), "".join(seen)
        assert _wait_line(q, "校验 CRM.xlsx", 20, seen), "".join(seen)
        assert _wait_line(q, "已应用", 20, seen), "".join(seen)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            raise
    err = proc.stderr.read()
    assert proc.returncode == 0, err
    assert "Traceback" not in err and "Traceback" not in "".join(seen)
    time.sleep(0.2)
    while not q.empty():
        seen.append(q.get() or "")
    assert "已停止监视" in "".join(seen)


def test_crm_watch_needs_the_admin(logged_in_home, tmp_path) -> None:
    lg = logged_in_home("admin")
    lg.home.master.write_bytes(book_bytes(tmp_path))
    logged_in_home("sales", home=lg.home)
    proc = _crm("watch", str(lg.home.root))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 1 and "管理员" in err, (out, err)


def test_watcher_merges_a_real_handed_back_view(tmp_path, crm_state_dir) -> None:
    from crm_sheets.views import build_views

    vh = make_view_home(tmp_path)
    [view] = build_views(vh.master, vh.home, users=["li"], today=TODAY)
    cid = LI_CUSTOMER["customer_id"]
    edit_view(view, "客户", {(cid, "备注"): "监视器合并的备注", (cid, "负责人"): "王五"},
              author="李四")
    with watching(vh.home, hooks=Hooks(), today=lambda: TODAY) as w:
        start = w.seq
        drop = vh.home.inbox / view.name
        shutil.copyfile(view, vh.home.inbox / ("~$" + view.name))  # noise while copying
        shutil.copyfile(view, drop)
        ev = wait_kind(w, ("merged", "merge_rejected"), start, timeout=30)
        assert ev.kind == "merged", ev.text
        assert ev.data["landed"] >= 1 and ev.data["rejected"] >= 1  # owner change refused
        done = vh.home.inbox / "done" / view.name
        assert done.exists() and (done.parent / (done.name + ".findings.json")).exists()
        after = wait_kind(w, "findings", ev.seq)
        assert after.data["author"] == "merge:li" and after.data["account"] is None
        wait_kind(w, ("applied", "apply_unchanged"), after.seq)
    values = load(vh.master).customers_by_id()[cid].values
    assert values["notes"] == "监视器合并的备注" and values["owner"] == "李四"
