"""The master's single-writer lock (crm_sheets/writeback/writer.py) that the portal, the
watcher and the CLI share: a second process waits for it; it is re-entrant in a thread."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from crm_sheets.errors import CrmError
from crm_sheets.writeback.writer import master_writer

HOLD = """
import sys, time
sys.path.insert(0, {root!r})
from crm_sheets.writeback.writer import master_writer
with master_writer(__import__('pathlib').Path({state!r})):
    print('held', flush=True)
    time.sleep(1.5)
"""


def test_another_process_waits_for_the_writer(tmp_path):
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(root=root, state=str(tmp_path))],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        t = time.monotonic()
        with master_writer(tmp_path):
            waited = time.monotonic() - t
        assert waited > 0.8  # it queued behind the other process instead of writing alongside
    finally:
        proc.wait(10)


def test_reentrant_in_one_thread_and_times_out_across_processes(tmp_path):
    with master_writer(tmp_path), master_writer(tmp_path):  # safe_patch inside an upload
        pass
    root = str(Path(__file__).resolve().parents[1])
    proc = subprocess.Popen([sys.executable, "-c", HOLD.format(root=root, state=str(tmp_path))],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "held"
        with pytest.raises(CrmError, match="等待超时"), master_writer(tmp_path, timeout=0.2):
            pass
    finally:
        proc.wait(10)
