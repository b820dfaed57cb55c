"""The watch loop: events in, debounced and settled saves out to `cycle`.

One worker (the thread that calls `run()`) does everything that reads or writes the
home, so saves of the master and inbox merges never overlap. The observer thread only
queues events. Per path, the loop waits until events have been quiet for `debounce`
seconds, then until two probes `settle` seconds apart agree (size, mtime, sha256)
and the file reads as a complete xlsx; unreadable saves are retried `retries` times
with growing delays and then reported. After validation, apply runs only if no
owner/lock file exists, checked twice `lock_recheck` seconds apart (LibreOffice drops
its lock for a moment while saving). The SHA-256 of every file the engine wrote is
remembered so its own writes never start another cycle.

A periodic rescan (stat of the master and a listing of the inbox) backstops missed
events (network shares, overflowing inotify queues); if the watched folder vanishes
the loop says so and re-arms the observer when it is back.

Everything time-related is injectable (`clock`, `observer_factory`, intervals) so
tests run the real loop in a thread with short intervals and stop it with `stop()`.
"""

from __future__ import annotations

import collections
import datetime as dt
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from watchdog.events import FileSystemEventHandler

from ..errors import CrmError
from ..gcpause import paused_gc
from ..home import CrmHome
from ..writeback.locks import lock_holder
from . import messages
from .adapters import Hooks
from .cycle import (
    _REASONS_ZH,
    MasterTracker,
    apply_master,
    audit_save,
    check_ownership,
    count_changes,
    process_inbox,
    recover_processing,
    revalidate,
    set_aside,
    unreadable_text,
    write_findings,
)
from .events import Classifier, Kind, event_paths
from .stability import Settle, incomplete_reason, quick_stat

_STOP = object()
_IGNORED_TYPES = {"opened", "closed_no_write"}


@dataclass
class WatchOptions:
    """Timings and switches of the watcher (seconds)."""

    polling: bool = False
    interval: float = 1.0  # PollingObserver interval
    debounce: float = 1.0
    settle: float = 0.3
    lock_recheck: float | None = None  # default: = debounce
    rescan_every: float = 30.0
    rearm_every: float = 2.0
    retries: int = 4
    retry_delay: float = 1.0
    apply: bool = True
    backup_every: float | None = 7 * 86400.0  # scheduled backups; None: off
    backup_check_every: float = 3600.0
    inbox_defer: float = 10.0  # retry a merge deferred by a lock after this long
    today: Callable[[], dt.date] | None = None
    max_tick: float = 1.0  # the loop wakes at least this often (cheap)


@dataclass
class WatchEvent:
    seq: int
    kind: str
    level: str  # info | warn | error | ok
    text: str
    data: dict[str, Any] = field(default_factory=dict)
    at: float = 0.0


@dataclass
class _Pending:
    kind: Kind
    path: Path
    due: float
    settle: Settle
    events: list[str] = field(default_factory=list)
    attempts: int = 0
    announced: bool = False
    early: float | None = None  # first stability probe, `settle` s before `due`
    warm: threading.Thread | None = None  # the safety checks run ahead (`_warm_check`)


def _default_observer(options: WatchOptions) -> Any:
    if options.polling:
        from watchdog.observers.polling import PollingObserver

        return PollingObserver(timeout=options.interval)
    from watchdog.observers import Observer

    return Observer()


class _Handler(FileSystemEventHandler):
    """A watchdog handler that only queues (watchdog calls `dispatch`)."""

    def __init__(self, q: queue.Queue) -> None:
        super().__init__()
        self.q = q

    def dispatch(self, event: Any) -> None:
        self.q.put(event)


class Watcher:
    """Watch one CRM home: revalidate and apply master saves, merge inbox drops."""

    def __init__(self, home: CrmHome, options: WatchOptions | None = None, *,
                 hooks: Hooks | None = None, on_event: Callable[[WatchEvent], None] | None = None,
                 observer_factory: Callable[[WatchOptions], Any] | None = None,
                 clock: Callable[[], float] = time.monotonic, keep_events: int = 5000) -> None:
        self.home = home
        self.opt = options or WatchOptions()
        self.hooks = hooks or Hooks()
        self.on_event = on_event
        self.observer_factory = observer_factory or _default_observer
        self.clock = clock
        self.classifier = Classifier(home.master, home.inbox)
        self.tracker = MasterTracker()
        self.q: queue.Queue = queue.Queue()
        self.events: collections.deque[WatchEvent] = collections.deque(maxlen=keep_events)
        self._cond = threading.Condition()
        self._seq = 0
        self._stop = threading.Event()
        self.pending: dict[Path, _Pending] = {}
        self.engine_shas: collections.deque[str] = collections.deque(maxlen=64)
        self.merge_shas: dict[str, str] = {}  # master sha after an inbox merge -> account
        self.seen: dict[Path, tuple[int, int] | None] = {}  # last handled stat per path
        self.inbox_skip: dict[Path, tuple[int, int] | None] = {}  # unavailable merges
        self.observer: Any = None
        self.armed = False
        self.apply_due: float | None = None
        self.apply_deferred = False  # a lock held us off: apply when it goes
        self._lock_seen_at_first_check = False
        self._next_rescan = 0.0
        self._next_rearm = 0.0
        self._next_backup_check = 0.0
        self.ready = threading.Event()  # set once armed and the first scan is queued
        self.busy = False  # inside a tick (a cycle may be running)
        self.cycles = 0

    # ---------------------------------------------------------------- public
    @property
    def lang(self) -> str:
        return self.home.lang

    def stop(self) -> None:
        """Ask the loop to finish (from any thread); `run()` returns promptly."""
        self._stop.set()
        self.q.put(_STOP)

    def run(self) -> None:
        """Watch until `stop()` (or KeyboardInterrupt in the calling thread)."""
        now = self.clock()
        mode = "polling" if self.opt.polling else "events"
        self._emit("started", "info", root=str(self.home.root), mode=mode,
                   debounce=self.opt.debounce)
        for rep in recover_processing(self.home):  # a copy that stopped an earlier run
            self._emit("merge_rejected", "warn", name=rep.path.name, message=rep.message,
                       dest=str(rep.moved_to), result={})
        try:
            self._arm()
            self._queue_full_scan(now, immediate=True)
            self._next_rescan = now + self.opt.rescan_every
            self._next_rearm = now + self.opt.rearm_every
            self._next_backup_check = now
            self.ready.set()
            while not self._stop.is_set():
                timeout = self._timeout()
                try:
                    item = self.q.get(timeout=timeout)
                except queue.Empty:
                    item = None
                while item is not None:
                    if item is _STOP:
                        return
                    self._on_raw(item)
                    try:
                        item = self.q.get_nowait()
                    except queue.Empty:
                        item = None
                self.busy = True
                try:
                    self._tick()
                finally:
                    self.busy = False
        finally:
            self._disarm()
            self._emit("stopped", "info")

    def wait_for(self, pred: Callable[[WatchEvent], bool], *, after: int = 0,
                 timeout: float = 10.0) -> WatchEvent | None:
        """The first event with seq > `after` matching `pred`, waiting up to `timeout`."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for ev in self.events:
                    if ev.seq > after and pred(ev):
                        return ev
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def is_idle(self) -> bool:
        """Nothing pending, no apply scheduled and no cycle running (tests, benchmarks)."""
        return not self.busy and not self.pending and self.apply_due is None

    @property
    def seq(self) -> int:
        return self._seq

    # ---------------------------------------------------------------- events
    def _emit(self, kind: str, level: str, **data: Any) -> WatchEvent:
        with self._cond:
            self._seq += 1
            ev = WatchEvent(self._seq, kind, level, messages.text(kind, self.lang, **data), data,
                            self.clock())
            self.events.append(ev)
            self._cond.notify_all()
        if self.on_event is not None:
            try:
                self.on_event(ev)
            except Exception:  # noqa: BLE001,S110 - a broken log sink must not stop watching
                pass
        return ev

    def _on_raw(self, event: Any) -> None:
        etype, src, dest, is_dir = event_paths(event)
        if etype in _IGNORED_TYPES:
            return
        now = self.clock()
        if is_dir:
            if etype in ("deleted", "moved") and str(src) in (str(self.home.root),
                                                                str(self.home.inbox)):
                self._next_rearm = now  # our folder went away: check right now
            return
        for touch in self.classifier.touches(etype, src, dest):
            if touch.kind is Kind.MASTER_LOCK:
                if self.apply_deferred or self.apply_due is not None:
                    self._schedule_apply(now)
                continue
            self._touch(touch.kind, touch.path, etype, now)

    def _touch(self, kind: Kind, path: Path, etype: str, now: float) -> None:
        p = self.pending.get(path)
        if p is None:
            p = _Pending(kind, path, now + self.opt.debounce, Settle(path))
            self.pending[path] = p
        else:
            p.due = max(p.due, now + self.opt.debounce)
            p.settle.reset()
        # Take the first of the two stability probes inside the quiet period, so a file
        # that stays quiet is known stable the moment the debounce ends.
        p.early = p.due - self.opt.settle if self.opt.debounce > self.opt.settle else None
        if etype not in p.events:
            p.events.append(etype)
        if kind is Kind.MASTER:
            self.apply_due = None  # a newer save supersedes a scheduled apply

    def _schedule_apply(self, now: float) -> None:
        self.apply_due = now + (self.opt.lock_recheck if self.opt.lock_recheck is not None
                                else self.opt.debounce)

    # ---------------------------------------------------------------- timing
    def _timeout(self) -> float:
        now = self.clock()
        due = [p.due for p in self.pending.values()]
        due += [p.early for p in self.pending.values() if p.early is not None]
        if self.apply_due is not None:
            due.append(self.apply_due)
        due += [self._next_rescan, self._next_rearm]
        return max(0.0, min(self.opt.max_tick, min(due) - now))

    def _tick(self) -> None:
        now = self.clock()
        if now >= self._next_rearm:
            self._next_rearm = now + self.opt.rearm_every
            self._check_armed(now)
        if not self.armed:
            return
        for item in list(self.pending.values()):
            if item.early is not None and item.early <= now:
                item.early = None  # once passed, never a wake-up time again (no busy loop)
                if now < item.due and item.settle.last is None:
                    item.settle.check()
                    if item.kind is Kind.MASTER and item.settle.last is not None \
                            and (item.warm is None or not item.warm.is_alive()):
                        item.warm = threading.Thread(target=_warm_check, args=(item.path,),
                                                     name="crm-watch-warm", daemon=True)
                        item.warm.start()
        for path in sorted((p for p, item in self.pending.items() if item.due <= now),
                           key=lambda p: self.pending[p].due):
            if self._stop.is_set():
                return
            item = self.pending.get(path)
            if item is None:
                continue
            try:
                self._process(item)
            except Exception as exc:  # noqa: BLE001 - never let one save kill the watcher
                self.pending.pop(path, None)
                self._emit("error", "error", message=f"{type(exc).__name__}: {exc}")
        now = self.clock()
        if self.apply_due is not None and now >= self.apply_due \
                and not any(p.kind is Kind.MASTER for p in self.pending.values()):
            self.apply_due = None
            try:
                self._maybe_apply()
            except Exception as exc:  # noqa: BLE001
                self._emit("error", "error", message=f"{type(exc).__name__}: {exc}")
        if now >= self._next_rescan:
            self._next_rescan = now + self.opt.rescan_every
            self._rescan(now)
        if self.opt.backup_every and now >= self._next_backup_check and not self.pending:
            self._next_backup_check = now + self.opt.backup_check_every
            try:
                self._scheduled_backup()
            except Exception as exc:  # noqa: BLE001
                self._emit("error", "error", message=f"backup: {type(exc).__name__}: {exc}")

    # ---------------------------------------------------------------- arming
    def _arm(self) -> None:
        if not self.home.root.is_dir():
            self.armed = False
            self._emit("folder_missing", "warn", root=str(self.home.root),
                       every=self.opt.rearm_every)
            return
        self.home.inbox.mkdir(exist_ok=True)
        obs = self.observer_factory(self.opt)
        handler = _Handler(self.q)
        obs.schedule(handler, str(self.home.root), recursive=False)
        obs.schedule(handler, str(self.home.inbox), recursive=False)
        obs.start()
        self.observer = obs
        self.armed = True

    def _disarm(self) -> None:
        obs, self.observer = self.observer, None
        self.armed = False
        if obs is not None:
            try:
                obs.stop()
                obs.join(timeout=5)
            except Exception:  # noqa: BLE001,S110 - a dead observer is what we are replacing
                pass

    def _observer_alive(self) -> bool:
        obs = self.observer
        if obs is None:
            return False
        try:
            if not obs.is_alive():
                return False
            emitters = getattr(obs, "emitters", None)
            if emitters is not None:
                return all(e.is_alive() for e in emitters) and len(emitters) >= 2
        except Exception:  # noqa: BLE001
            return True
        return True

    def _check_armed(self, now: float) -> None:
        present = self.home.root.is_dir() and self.home.inbox.is_dir()
        if self.armed and present and self._observer_alive():
            return
        if self.armed:
            self._disarm()
            self.pending.clear()
            if not present:
                self._emit("folder_missing", "warn", root=str(self.home.root),
                           every=self.opt.rearm_every)
                return
        if not self.home.root.is_dir():
            return
        try:
            self._arm()
        except OSError as exc:
            self._disarm()
            self._emit("error", "warn", message=f"re-arm failed: {exc}")
            return
        if self.armed:
            self._emit("rearmed", "ok", root=str(self.home.root))
            self._queue_full_scan(now, immediate=False, force=True)

    # ---------------------------------------------------------------- scanning
    def _queue_full_scan(self, now: float, *, immediate: bool, force: bool = False) -> None:
        master = self.home.master
        if master.exists() and (force or quick_stat(master) != self.seen.get(master)):
            self._touch(Kind.MASTER, master, "scan", now)
            if immediate:
                self.pending[master].due = now
        for p in self._inbox_files():
            if p not in self.pending and quick_stat(p) != self.inbox_skip.get(p):
                self._touch(Kind.INBOX, p, "scan", now)
                if immediate:
                    self.pending[p].due = now

    def _inbox_files(self) -> list[Path]:
        try:
            entries = list(self.home.inbox.iterdir())
        except OSError:
            return []
        out = []
        for p in entries:
            if self.classifier.classify(p).kind is Kind.INBOX and p.is_file():
                out.append(p)
        return sorted(out)

    def _rescan(self, now: float) -> None:
        master = self.home.master
        if master not in self.pending and master.exists() \
                and quick_stat(master) != self.seen.get(master):
            self._emit("rescan", "info", name=master.name)
            self._touch(Kind.MASTER, master, "rescan", now)
        for p in self._inbox_files():
            if p not in self.pending and quick_stat(p) != self.inbox_skip.get(p):
                self._touch(Kind.INBOX, p, "rescan", now)
        if self.apply_deferred and lock_holder(master) is None and self.apply_due is None:
            self._schedule_apply(now)

    # ---------------------------------------------------------------- processing
    def _today(self) -> dt.date:
        if self.opt.today is not None:
            return self.opt.today()
        from ..cli.app import parse_today

        return parse_today(None)

    def _process(self, item: _Pending) -> None:
        name = item.path.name
        state = item.settle.check()
        now = self.clock()
        if state == "missing":
            item.attempts += 1
            if item.kind is Kind.INBOX or item.attempts > self.opt.retries:
                self.pending.pop(item.path, None)
                if item.kind is Kind.MASTER:
                    self.seen[item.path] = None
                    self._emit("missing", "warn", name=name)
                return
            item.due = now + self.opt.debounce
            return
        if state == "changing":
            item.due = now + self.opt.settle
            return
        probe = item.settle.last
        assert probe is not None
        stat_now = (probe.size, probe.mtime_ns)
        if item.kind is Kind.MASTER:
            if probe.sha256 in self.engine_shas:
                self.pending.pop(item.path, None)
                self.seen[item.path] = stat_now
                self._emit("engine_write", "info", name=name, sha256=probe.sha256)
                return
            if probe.sha256 == self.tracker.sha256:
                self.pending.pop(item.path, None)
                self.seen[item.path] = stat_now
                self._emit("unchanged", "info", name=name)
                return
        if not item.announced:
            item.announced = True
            self._emit("save_detected", "info", name=name, events=",".join(item.events),
                       path=str(item.path))
        reason = incomplete_reason(item.path)
        if reason is not None and item.kind is Kind.INBOX and _ole(item.path):
            reason = None  # an encrypted copy: process_inbox opens it or sets it aside
        if reason is None and item.kind is Kind.MASTER:
            if item.warm is not None:  # its cache is warm once it ends (else load checks anew)
                item.warm.join()
                item.warm = None
            try:
                self._master_saved(item, probe.sha256)
            except CrmError as exc:
                reason = str(exc)
            else:
                self.pending.pop(item.path, None)
                self.seen[item.path] = stat_now
                return
        if reason is not None:
            if self.lang == "zh":  # the reason in the home's language (CrmError texts already are)
                reason = next((zh for en, zh in _REASONS_ZH if reason.startswith(en)), reason)
            item.attempts += 1
            if item.attempts > self.opt.retries:
                self.pending.pop(item.path, None)
                self.seen[item.path] = stat_now
                if item.kind is Kind.INBOX:  # set aside: never retried at the next start
                    rep = set_aside(self.home, item.path, "rejected",
                                    unreadable_text(self.lang, name, reason))
                    self._emit("merge_rejected", "warn", name=name, message=rep.message,
                               dest=str(rep.moved_to), result={})
                    return
                self._emit("corrupt", "error", name=name, reason=reason, path=str(item.path),
                           attempts=item.attempts)
                return
            item.settle.reset()
            item.due = now + self.opt.retry_delay * item.attempts
            self._emit("retry", "warn", name=name, reason=reason, attempt=item.attempts)
            return
        self.pending.pop(item.path, None)
        self._inbox_dropped(item, stat_now)

    def _master_saved(self, item: _Pending, sha: str) -> None:
        merged_by = self.merge_shas.pop(sha, None)
        # The collector walks the new workbook after the findings are out: the first
        # allocation after it is resumed runs a collection over every object loaded (0.05-0.2 s
        # at 40k customers), so the findings event is emitted before it is resumed.
        with paused_gc():
            save = revalidate(self.home, self.tracker, today=self._today(), sha256=sha,
                              hooks=self.hooks, path=item.path, merged_by=merged_by)
            write_findings(self.home, save)
            self.cycles += 1
            count_changes(save)
            summ = save.report.summary()
            self._emit("findings", "error" if summ["errors"] else "ok", name=item.path.name,
                       findings=summ["findings"], errors=summ["errors"], warnings=summ["warnings"],
                       changed=save.changed_customers + save.changed_followups,
                       author=save.author or "?", account=save.account,
                       seconds=round(save.seconds, 2), sha256=sha, summary=summ,
                       incremental=save.incremental)
        if check_ownership(self.home, save, self.hooks):
            write_findings(self.home, save)
        for f in save.ownership:
            self._emit("ownership", "warn", message=f.message, finding=f.to_dict())
        try:
            audit_save(self.home, save)
        except (OSError, ValueError) as exc:  # the log is best effort here; the save stands
            save.errors.append(f"audit: {type(exc).__name__}: {exc}")
        for e in save.errors:
            self._emit("error", "error", message=e)
        from .. import audit

        audit.record(self.home.state, "engine", "watch.save", workbook=item.path.name,
                     sha256=sha, saved_by=save.author, account=save.account,
                     findings=summ["findings"], errors=summ["errors"],
                     ownership=len(save.ownership))
        self._author = (save.author, save.account)
        if not self.opt.apply:
            return
        holder = lock_holder(self.home.master)
        if holder is not None:
            self.apply_deferred = True
            self._emit("locked", "warn", name=item.path.name, holder=holder)
            return
        self._schedule_apply(self.clock())

    def _maybe_apply(self) -> None:
        master = self.home.master
        holder = lock_holder(master)
        if holder is not None:
            self.apply_deferred = True
            self._emit("locked", "warn", name=master.name, holder=holder)
            return
        if self.tracker.sha256 is None:
            return
        self.apply_deferred = False
        author, account = getattr(self, "_author", (None, None))
        rep = apply_master(self.home, today=self._today(), author=author, account=account)
        if rep.status == "written":
            if rep.sha256_after:
                self.engine_shas.append(rep.sha256_after)
            self.seen[master] = quick_stat(master)
            self._emit("applied", "ok", name=master.name, changes=rep.changes,
                       backup=rep.backup.name if rep.backup else "-", **_plain(rep.to_dict()))
            self._prune()
        elif rep.status == "unchanged":
            self._emit("apply_unchanged", "info", name=master.name, **_plain(rep.to_dict()))
        else:
            if rep.status == "locked":
                self.apply_deferred = True
            self._emit("apply_refused", "warn", name=master.name, message=rep.message,
                       status=rep.status)

    def _inbox_dropped(self, item: _Pending, stat_now: tuple[int, int]) -> None:
        rep = process_inbox(self.home, item.path, hooks=self.hooks)
        name = item.path.name
        if rep.result.get("written"):  # revalidate + apply the merged master right away
            from ..writeback.safe import file_sha256

            try:
                sha = file_sha256(self.home.master)
            except OSError:
                sha = ""
            account = rep.result.get("account") or f"@{rep.result.get('department') or '?'}"
            self.merge_shas[sha] = f"merge:{account}"
            self._touch(Kind.MASTER, self.home.master, "merge", self.clock())
            self.pending[self.home.master].due = self.clock()
        if rep.status == "done":
            self._emit("merged", "ok", name=name, landed=rep.landed, rejected=rep.rejected,
                       conflicts=rep.conflicts, dest=str(rep.moved_to), result=rep.result,
                       findings=rep.moved_to.name + ".findings.txt" if rep.moved_to else "-")
        elif rep.status == "rejected":
            msg = rep.message or messages.text(
                "merge_counts", self.lang, rejected=rep.rejected, conflicts=rep.conflicts,
                findings=rep.moved_to.name + ".findings.txt" if rep.moved_to else "-")
            self._emit("merge_rejected", "warn", name=name, message=msg, dest=str(rep.moved_to),
                       result=rep.result)
        elif rep.status == "needs_attention":
            self._emit("merge_set_aside", "warn", name=name, message=rep.message,
                       dest=str(rep.moved_to), result=rep.result)
        elif rep.status == "deferred":
            self._emit("merge_deferred", "warn", name=name, message=rep.message)
            p = _Pending(Kind.INBOX, item.path, self.clock() + self.opt.inbox_defer,
                         Settle(item.path), ["retry"], announced=True)
            self.pending[item.path] = p
        else:
            self.inbox_skip[item.path] = stat_now
            self._emit("merge_unavailable", "warn", name=name, message=rep.message)

    # ---------------------------------------------------------------- backups
    def _retention(self) -> Any:
        from ..backup_admin import Retention

        wb = self.tracker.workbook
        return Retention.from_settings(wb.settings if wb is not None else None)

    def _prune(self) -> None:
        from ..backup_admin import prune

        removed = prune(self.home, self._retention())
        if removed:
            self._emit("pruned", "info", count=len(removed))

    def _scheduled_backup(self) -> None:
        from ..backup_admin import create, list_backups

        if not self.home.master.exists() or self.opt.backup_every is None:
            return
        last = next((b for b in list_backups(self.home, state=False)
                     if b.reason == "scheduled"), None)
        age = (dt.datetime.now(dt.UTC) - last.created).total_seconds() if last else None
        if age is not None and age < self.opt.backup_every:
            return
        for p in create(self.home, "scheduled"):
            self._emit("backup", "ok", name=p.name, path=str(p))
        self._prune()


def _warm_check(path: Path) -> None:
    """The workbook safety checks `reader.load` starts with (`safezip.check_xlsx`: the zip
    and every sheet's extents, ~0.5 s at 100k customers when a sheet changed), run while the
    save settles: their results are kept by content (the file's size/mtime, each member's
    digest), so the load after a stable probe finds them done. A failure here means
    nothing: the load checks again and reports."""
    from ..safezip import check_xlsx

    try:
        check_xlsx(path)
    except Exception:  # noqa: BLE001,S110 - only a head start
        pass


def _ole(path: Path) -> bool:
    """Does the file start like an encrypted Office file (an OLE container)?"""
    from ..safezip import OLE_MAGIC

    try:
        with open(path, "rb") as fh:
            return fh.read(8) == OLE_MAGIC
    except OSError:
        return False


def _plain(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if k not in ("changes", "message", "backup")}
