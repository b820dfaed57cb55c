"""The duplicate scan of a big sheet in a second process, beside load and the other rules.

The scan is most of the cost of validating a large workbook and needs only six customer
columns, so `load` ships them here as soon as they are converted and the scan runs on the
second core while the reader, the follow-up sheet and the other rules go on.
The child is a plain `python -m crm_sheets.dedupe.worker` with pipes (the same on every
platform; a fork of a process with a reader thread would be unsafe); it starts before
reading begins, so its imports overlap the read.

Correctness does not depend on the worker: `matches_for` hands back a result only when
the customers it was computed from are still the workbook's (apply may have changed
them since), and any failure of the worker means the caller scans in-process.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..model import Record, Workbook

SCAN_FIELDS = ("customer_id", "name", "phone", "email", "province", "city", "status")
MIN_FILE_BYTES = 4 * 1024 * 1024  # smaller workbooks scan in well under a second in-process
MIN_CUSTOMERS = 10_000  # below this the process start costs more than it saves
CACHE_SAVE_WAIT = 10.0  # seconds a check waits for an earlier worker still saving its index
SAVING_STALE = 120.0  # a marker older than this was left by a worker that died
last_peak_mib = 0.0  # the last worker's peak memory as it reported it (benchmarks)
_DETACHED: list[Any] = []  # workers that answered and are finishing their cache save


def _reap() -> None:
    """Forget detached workers that have ended."""
    _DETACHED[:] = [p for p in _DETACHED if p.poll() is None]


def _wait_detached(timeout: float = CACHE_SAVE_WAIT) -> None:
    """Wait for this process's detached workers to finish saving (tests; the next check
    waits through `wait_saved` instead, and only when it needs the index)."""
    for p in _DETACHED:
        try:
            p.wait(timeout=timeout)
        except Exception:  # noqa: BLE001 - too slow: leave it (its writes are atomic)
            pass
    _reap()


# A worker that answered saves the name cache and the scan index after the check has
# printed its findings, even after the check's process has ended (nobody waits for it at
# exit). While it saves, a marker file beside the name cache says so: the next check that
# wants the index (checkcache._incremental) waits for it, up to CACHE_SAVE_WAIT seconds.
def saving_marker(cache: str | Path) -> Path:
    p = Path(cache)
    return p.with_name(p.name + ".saving")


def _alive(pid: int) -> bool:
    if os.name != "posix":
        return True  # no cheap check: the marker's age decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process (permission): treat as alive
        return True
    return True


def wait_saved(cache: str | Path | None, timeout: float = CACHE_SAVE_WAIT) -> bool:
    """Wait while a worker is still saving this workbook's name cache and scan index;
    True when none is (any more), False when it did not finish in `timeout` seconds."""
    import time

    if cache is None:
        return True
    _reap()
    marker = saving_marker(cache)
    end = time.monotonic() + timeout
    while True:
        try:
            st = marker.stat()
            pid = int(marker.read_text(encoding="ascii").strip() or "0")
        except (OSError, ValueError):
            return True
        if time.time() - st.st_mtime > SAVING_STALE or (pid and not _alive(pid)):
            return True  # left by a worker that died: its writes are atomic, nothing half-done
        if time.monotonic() >= end:  # too slow, or dead where that cannot be told
            try:  # (Windows): later checks need not wait for it again
                marker.unlink()
            except OSError:
                pass
            return False
        time.sleep(0.02)


ENV = "CRM_PARALLEL"  # "0" turns the second process off; "1" forces it (tests)


def _env_mode() -> bool | None:
    """CRM_PARALLEL: False (off), True (forced) or None (decide by size and cores)."""
    mode = os.environ.get(ENV, "").strip().lower()
    if mode in ("0", "off", "no", "false"):
        return False
    if mode in ("1", "on", "yes", "true"):
        return True
    return None


def wanted(path: Path | None, data: bytes | None = None) -> bool:
    """Whether a second process is worth starting for this workbook on this machine."""
    mode = _env_mode()
    if mode is not None:
        return mode
    if (os.cpu_count() or 1) < 2:
        return False
    try:
        size = len(data) if data is not None else (path.stat().st_size if path else 0)
    except OSError:
        return False
    return size >= MIN_FILE_BYTES


Payload = tuple[str, int, tuple[tuple[str, str], ...], list[tuple[Any, ...]]]


def _entries(rows: Sequence[int], cols: Sequence[Sequence[Any]], nd_ids: set[str]
             ) -> list[tuple[Any, ...]]:
    """What the scan depends on, per named customer: row and the five matching fields,
    and the label only where NotDuplicates mentions it (elsewhere a label cannot matter,
    so an ID that apply assigns after the scan does not invalidate it). The ID itself
    rides along last for the worker. Rows merged into another customer (状态 已合并) are
    left out: they take no part in duplicate detection."""
    from .api import is_merged, label_of

    out = []
    # one object per distinct place: pickle then sends each once (and the worker holds it once)
    places: dict[Any, Any] = {}
    place = places.setdefault
    for row, cid, name, phone, email, province, city, status in zip(rows, *cols, strict=True):
        if name is None or is_merged(status):
            continue
        label = label_of(row, cid) if nd_ids else None
        if type(province) is str:
            province = place(province, province)
        if type(city) is str:
            city = place(city, city)
        out.append((row, name, phone, email, province, city,
                    label if label in nd_ids else None, cid))
    return out


def _fingerprint(entries: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [e[:7] for e in entries]


def _head(lang: str, threshold: int, not_duplicates: Sequence[tuple[str, str]]
          ) -> tuple[str, int, tuple[tuple[str, str], ...], set[str]]:
    nd = tuple((str(a), str(b)) for a, b in not_duplicates)
    return lang, threshold, nd, {x.strip() for pair in nd for x in pair}


def payload_of(lang: str, threshold: int, not_duplicates: Sequence[tuple[str, str]],
               records: Sequence[Record]) -> Payload:
    """The scan's input from the records of a loaded workbook."""
    lang, threshold, nd, nd_ids = _head(lang, threshold, not_duplicates)
    rows = [r.row for r in records]
    cols = [[r.values.get(k) for r in records] for k in SCAN_FIELDS]
    return lang, threshold, nd, _entries(rows, cols, nd_ids)


def payload_from_columns(lang: str, threshold: int, not_duplicates: Sequence[tuple[str, str]],
                         first_row: int, columns: dict[str, list[Any]]) -> Payload:
    """The scan's input from converted sheet columns (`reader.load`'s early hook)."""
    lang, threshold, nd, nd_ids = _head(lang, threshold, not_duplicates)
    n = max((len(c) for c in columns.values()), default=0)
    cols = [columns.get(k) or [None] * n for k in SCAN_FIELDS]
    return lang, threshold, nd, _entries(range(first_row, first_row + n), cols, nd_ids)


def scan_payload(payload: Payload, cache: str | None = None, keep: list[Any] | None = None,
                 counts: list[Any] | None = None) -> tuple[list[Any], set[str]]:
    """Run the scan on shipped columns (in the worker, or in-process for tests).

    `cache`: the file of this workbook's name forms from earlier runs. Returns the
    matches and the sheet's names when the cache should be rewritten with them (it
    lacked some, or holds mostly names no longer in the sheet), else an empty set."""
    from . import formcache
    from .api import label_of, matches_from, profile_from
    from .normalize import remember_forms

    lang, threshold, nd, entries = payload[:4]
    known = formcache.load_forms(Path(cache)) if cache else {}
    remember_forms(known)
    names = {str(e[1]).strip() for e in entries}
    stale = bool(names - known.keys()) or len(known) > 2 * len(names)
    # what duplicate_matches makes of records with these values, without the records
    rows = [e[0] for e in entries]
    labels = [label_of(row, cid) for row, *_, cid in entries]
    raw = [profile_from(name, phone, email, province, city)
           for _row, name, phone, email, province, city, _label, _cid in entries]
    matches = matches_from(lang, threshold, list(nd), rows, labels, raw, keep, counts)
    return matches, names if cache and stale else set()


def _peak_rss_mib() -> float:
    """This process's peak memory (0 where the platform does not say): for benchmarks."""
    try:
        import resource
    except ImportError:  # Windows
        return 0.0
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _serve() -> None:  # pragma: no cover - runs in the child process
    """The child: read one pickled payload on stdin, write ("ok", matches) on stdout."""
    import gc
    import pickle
    import sys

    gc.disable()  # a short-lived process building many small objects without cycles
    from . import api  # noqa: F401 - import while the parent is still reading

    out = sys.stdout.buffer
    sys.stdout = sys.stderr  # nothing but the result may reach the pipe
    try:
        payload_blob = sys.stdin.buffer.read()
        payload = pickle.loads(payload_blob)
    except (EOFError, pickle.UnpicklingError):
        return
    del payload_blob
    payload, cache = payload[:4], payload[4]
    to_save: set[str] = set()
    kept: list[Any] = []
    counts: list[Any] = []
    try:
        matches, to_save = scan_payload(payload, cache, kept if cache else None, counts)
        result: tuple[str, Any, float] = ("ok", matches, _peak_rss_mib())
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which scans itself
        result = ("error", f"{type(exc).__name__}: {exc}", _peak_rss_mib())
    marker = None
    if cache and (to_save or kept):
        marker = saving_marker(cache)
        try:  # before answering: the parent's next check must see it
            fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as fh:
                fh.write(str(os.getpid()))
        except OSError:
            marker = None
    pickle.dump(result, out, protocol=pickle.HIGHEST_PROTOCOL)
    out.flush()
    out.close()
    result = matches = None  # type: ignore[assignment] # the parent's now: free them
    if not (cache and (to_save or kept)):
        return
    # After answering, in the background: nobody waits for this but a next check that
    # wants the index (wait_saved); leave the core to the check that is still running.
    try:
        if hasattr(os, "nice"):
            os.nice(10)
    except OSError:
        pass
    try:
        if to_save:
            from . import formcache

            formcache.save_forms(Path(cache), formcache.forms_for(to_save))
        to_save = set()
        if kept:  # the index the next check's incremental scan starts from
            # The scan's structures are let go as the index is made from them, so it takes
            # the memory they held instead of adding to it (#15: 100k customers, the peak
            # after answering 377 → 272 MiB, now that of the name-cache save above).
            from .normalize import forget_forms

            forget_forms()  # the forms live on in the profiles, as long as they are needed
            job = [payload, kept.pop(), counts.pop() if counts else None]
            payload = None  # type: ignore[assignment]
            _save_index(job, cache)
    finally:
        if marker is not None:
            try:
                marker.unlink()
            except OSError:
                pass


def save_scan_index(payload: Payload, cache: str, kept: Any, counts: Any = None) -> None:
    """Keep the index of this full scan beside the name cache (incremental.py); `counts`:
    the scan's contact counts when it has them."""
    _save_index([payload, kept, counts], cache, take=False)


def _save_index(job: list[Any], cache: str, take: bool = True) -> None:
    """`save_scan_index` of job = [payload, kept, counts], which it empties. `take`: the
    payload's entries and the scan's profiles are emptied too as the index is made (the
    worker's, after answering: nothing else holds them, so their memory is freed)."""
    from ..checkcache import code_digest
    from . import incremental

    try:
        payload, kept, counts = job
        job.clear()
        head = incremental.head_of(*payload[:3])
        entries = payload[3]
        del payload
        index = (incremental.index_after_scan(head, entries, kept) if counts is None
                 else index_from_counts(head, entries, kept, counts, take=take))
        del entries, kept, counts
        if index is not None:
            incremental.save_index(incremental.index_path(cache), index, code_digest())
    except Exception:  # noqa: BLE001 - only a cache: the next check scans in full
        pass


def _taken(items: list[Any]) -> Any:
    """The items of a list, each dropped from it as it is handed out."""
    for k in range(len(items)):
        x = items[k]
        items[k] = None
        yield x


def index_from_counts(head: Any, entries: Sequence[tuple[Any, ...]], kept: Any, counts: Any,
                      *, take: bool = False) -> tuple[Any, ...] | None:
    """`incremental.index_after_scan` given the scan's contact counts (`matches_from`'s
    `counts`): the same index without making every profile again. `take`: empty the
    lists `entries` and `kept`'s profiles as they are used (their memory goes to the index)."""
    from . import incremental

    profiles, scored = kept
    contents = [tuple(e[1:7]) for e in (_taken(entries) if take else entries)]  # type: ignore[arg-type]
    if sum(map(incremental._named, contents)) != len(profiles):
        return None
    phones, emails = counts
    return incremental.build_index(head, contents, _taken(profiles) if take else profiles,
                                   phones, emails, scored)


def _close_pipes(proc: Any) -> None:
    for stream in (proc.stdin, proc.stdout):
        try:
            if stream is not None:
                stream.close()
        except OSError:
            pass


class DuplicateScan:
    """One duplicate scan in a child process: start early, submit columns, collect.

    The child is `python -m crm_sheets.dedupe.worker` with pipes, not multiprocessing:
    that never re-runs the caller's main module (a library user's unguarded script stays
    safe) and behaves the same on Windows and POSIX.
    """

    def __init__(self, workbook: Path | None = None) -> None:
        import subprocess
        import sys

        self.cache: str | None = None  # the workbook's name-forms cache file
        if workbook is not None:
            from .formcache import cache_path

            try:
                self.cache = str(cache_path(workbook))
            except OSError:  # no state folder: scan without a cache
                self.cache = None

        env = dict(os.environ)
        pkg_parent = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(x for x in (pkg_parent, env.get("PYTHONPATH")) if x)
        flags = getattr(subprocess, "CREATE_NO_WINDOW", 0)  # no console flash on Windows
        self._proc = subprocess.Popen([sys.executable, "-m", "crm_sheets.dedupe.worker"],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                      stderr=subprocess.DEVNULL, env=env, creationflags=flags)
        self._sent: Payload | None = None
        self._result: list[Any] | None = None
        self._failed = False
        self.error: str | None = None
        self.peak_rss_mib = 0.0  # the worker's peak memory as it reported it

    @classmethod
    def start(cls, path: Path | None = None, data: bytes | None = None,
              force: bool | None = None) -> DuplicateScan | None:
        """A started worker, or None when a second process is not worthwhile (force: True
        always starts one, False never)."""
        _reap()
        if force is False or (force is None and not wanted(path, data)):
            return None
        try:
            return cls(path)
        except OSError:  # no processes available: scan in-process
            return None

    def submit(self, payload: Payload, *, force: bool = False) -> bool:
        """Ship the customers to the worker; False (and the worker stops) when the sheet is
        too small for a second process to pay off."""
        if self._sent is not None or self._failed:
            return False
        if not force and len(payload[3]) < MIN_CUSTOMERS and _env_mode() is not True:
            self.close()
            self._failed = True
            return False
        import pickle
        import threading

        blob = pickle.dumps((*payload, self.cache), protocol=pickle.HIGHEST_PROTOCOL)
        # A thread writes the pipe (without the GIL), so the reader never waits for the
        # child to take it.
        threading.Thread(target=self._send, args=(blob,), daemon=True).start()
        self._sent = payload
        return True

    def _send(self, blob: bytes) -> None:
        try:
            assert self._proc.stdin is not None
            self._proc.stdin.write(blob)
            self._proc.stdin.close()
        except (OSError, ValueError):  # the child is gone: matches_for notices
            pass

    def submit_columns(self, lang: str, threshold: int, not_duplicates: Sequence[tuple[str, str]],
                       first_row: int, columns: dict[str, list[Any]], *, force: bool = False) -> bool:
        """`submit` from converted sheet columns (the reader's hook)."""
        return self.submit(payload_from_columns(lang, threshold, not_duplicates, first_row,
                                                columns), force=force)

    def matches_for(self, wb: Workbook, threshold: int, now: Payload | None = None
                    ) -> list[Any] | None:
        """The worker's matches when they still describe `wb`'s customers, else None.
        `now`: `payload_of` the workbook as it is, when the caller has it already."""
        if self._sent is None or self._failed:
            return None
        lang, th, nd, entries = self._sent
        if now is None:
            now = payload_of(wb.lang, threshold, wb.not_duplicates, wb.customers.records)
        if (lang, th, nd) != now[:3] or _fingerprint(entries) != _fingerprint(now[3]):
            return None
        if self._result is None:
            import pickle

            try:
                assert self._proc.stdout is not None
                status, value, self.peak_rss_mib = pickle.load(self._proc.stdout)
            except (EOFError, OSError, ValueError, pickle.UnpicklingError):
                self._fail("worker ended without a result")
                return None
            if status != "ok":
                self._fail(value)
                return None
            self._result = value  # close() lets the worker finish saving its cache
            global last_peak_mib
            last_peak_mib = self.peak_rss_mib
        return self._result

    def _fail(self, why: str) -> None:
        self._failed = True
        self.error = why
        self.close()

    def abandon(self, why: str) -> None:
        """Give up on the worker (validate then scans in-process)."""
        self._sent = None
        self._fail(why)

    def close(self) -> None:
        """Stop the worker (idempotent)."""
        proc = self._proc
        if proc.poll() is None and self._result is not None:
            # It answered and may still be saving its name cache: let it finish on its
            # own instead of making the user wait (reaped later, or at exit).
            if proc not in _DETACHED:
                _DETACHED.append(proc)
            _close_pipes(proc)
            return
        if proc.poll() is None:
            proc.kill()
        try:
            proc.wait(timeout=5)
        except Exception:  # noqa: BLE001 - nothing more to do for a stuck child
            pass
        _close_pipes(proc)
        if self.cache and proc.returncode is not None and self._result is None:
            try:  # stopped before it could remove its saving marker (if it wrote one)
                saving_marker(self.cache).unlink()
            except OSError:
                pass

    def __enter__(self) -> DuplicateScan:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


if __name__ == "__main__":  # pragma: no cover
    _serve()
