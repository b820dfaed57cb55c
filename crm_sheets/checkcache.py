"""The warm re-check: do not redo what has not changed since the last check (issue 15).

`crm validate` keeps what its last check of a workbook found in the private state folder
(one file per workbook, mode 0600, replaced atomically). On the next check:
- rules of scope "row" (rules/registry.py) run only on rows whose fingerprint (a hash of
  the row's converted values, raw cells, coercion problems and unknown columns) is not in
  the cache; every other row gets its cached findings back, at the row it sits on now;
- rules of scope "cross" run on the whole workbook, as always;
- the duplicate scan is reused when its whole input (the matching fields of every named
  customer, in sheet order) is the same as last time, even when rows moved up or down
  (its result depends on the order of the rows, not on their numbers); otherwise it runs
  in full, in a second process started after the read when the sheet is big.

A data sheet whose inputs did not change at all is not looked at row by row: `crm
validate` (check_file) takes a digest of every member of the workbook's zip (its
compressed bytes) before the read; when every member but the other data sheet's is
byte-for-byte what the last check read, the sheet reads to the same records, and its row
rules' findings are the last check's (the follow-up sheet after customers were edited,
or both sheets when only another member changed). Row fingerprints of the follow-ups cost
more than their row rules: that sheet is either reused whole or checked whole.

The row part of the cache is keyed on everything a row rule may read besides the row:
the engine's code, Lists, Settings, meta, NotDuplicates, the sheets' layout, the language
and `today`; any change and every row is checked again. A cache that cannot be read, or
holds anything unexpected, is ignored: the check is then a full one. The findings are
identical to a full check's (tests/test_checkcache.py compares both paths).
"""

from __future__ import annotations

import hashlib
import marshal
import os
import pickle
import re
import sys
from collections.abc import Callable
from dataclasses import astuple, dataclass, replace
from functools import lru_cache
from operator import not_
from pathlib import Path
from typing import Any

from .findings import Finding, make
from .model import Table, Workbook

FORMAT = 3
ENV = "CRM_CHECK_CACHE"  # "0" turns the warm re-check off (a full check every time)
DUPLICATES = "possible_duplicate"
COLUMNS_KEY = "rules.columns"  # rules/columns.py's store in Context.extra
# Row fingerprints cost about 2.5 µs a customer and 6 µs a follow-up (datetimes pickle
# slowly), more than the follow-ups' row rules cost: only the customers' are kept.
CACHED_TABLES: tuple[str, ...] = ("customers",)

Template = tuple[int, Any, str, str, str, Any]  # rule position, column, code, severity, message, id
# a row rule's finding on a sheet: rule position, row, column, code, severity, message, id
Flat = tuple[int, Any, Any, str, str, str, Any]
TABLES = ("customers", "followups")


def enabled() -> bool:
    return os.environ.get(ENV, "").strip().lower() not in ("0", "off", "no", "false")


@lru_cache(maxsize=1)
def code_digest() -> str:
    """What cached findings depend on besides the workbook: this engine's files (the rules,
    messages, divisions, the normaliser) and the libraries the rules and the scan call.

    By each file's size and modification time, as Python itself tells a stale .pyc: an
    installed or edited file gets a new time (reading 2 MB of sources on every check
    would cost more than the rules the cache saves)."""
    from importlib.util import find_spec

    from . import __version__

    h = hashlib.sha256(f"{FORMAT}|{__version__}|{sys.version}".encode())
    root = Path(__file__).resolve().parent
    folders = [root]
    for mod in ("phonenumbers", "email_validator", "opencc"):
        spec = find_spec(mod)
        if spec is not None and spec.origin:
            folders.append(Path(spec.origin).parent)
    for top in folders:
        h.update(f"|{top}".encode())
        for dirpath, dirnames, filenames in os.walk(top):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            if top != root and dirpath != str(top):
                continue  # a library: its top folder (its sources and data) is enough
            for name in sorted(filenames):
                try:
                    st = os.stat(os.path.join(dirpath, name))
                except OSError:
                    continue
                h.update(f"{dirpath}/{name}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()


def cache_file(workbook: str | Path) -> Path:
    """The check cache of one workbook, in its private state folder."""
    from .apply.state import state_dir_for
    from .home import stable_id

    resolved = Path(workbook).resolve()
    return state_dir_for(resolved) / f"check-{stable_id(str(resolved))}.bin"


def key_of(wb: Workbook, today: Any) -> str:
    """Everything besides a row that a row rule may read."""
    layout = [
        (t.sheet_name, sorted(t.columns.items()), t.header_row, sorted(t.extra_columns.items()))
        for t in (wb.customers, wb.followups)
    ]
    parts = (
        wb.lang,
        sorted(wb.settings.items()),
        sorted((k, list(v)) for k, v in wb.lists.items()),
        sorted(wb.meta.items()),
        [tuple(p) for p in wb.not_duplicates],
        str(today),
        layout,
        [tuple(tables_keys) for tables_keys in _first_keys(wb)],
    )
    return hashlib.sha256(repr(parts).encode("utf-8")).hexdigest()


def _first_keys(wb: Workbook) -> list[tuple[str, ...]]:
    """The field order `fingerprints` hashes values in (that of each sheet's first row)."""
    return [tuple(t.records[0].values) if t.records else () for t in (wb.customers, wb.followups)]


def fingerprints(table: Table) -> list[bytes]:
    """One hash per record of everything a row rule reads of it (its row number aside)."""
    dumps, b2 = pickle.dumps, hashlib.blake2b
    records = table.records
    if not records:
        return []
    keys = tuple(records[0].values)  # the reader's field order; the keys ride along otherwise
    return [
        b2(
            dumps(
                (tuple(r.values.values()), r.raw, r.problems, r.extra)
                if tuple(r.values) == keys
                else (tuple(r.values.items()), r.raw, r.problems, r.extra),
                5,
            ),
            digest_size=16,
        ).digest()
        for r in records
    ]


@dataclass
class Saved:
    """A cache file's content."""

    key: str
    rows: dict[str, dict[bytes, tuple[Template, ...]]]  # table -> fingerprint -> findings
    dup_head: Any  # (language, threshold, NotDuplicates) the scan ran with
    # a digest of the scan's input: per scanned customer, its matching fields, in order
    dup_contents: bytes | None
    dup_matches: list[tuple[int, int, str, str, int]] | None  # positions in that input
    # the workbook's zip members as read (name -> digest of the compressed bytes) and the
    # members the two data sheets were read from; None when not known (apply, a race)
    members: dict[str, bytes] | None = None
    data_members: tuple[str, str] | None = None
    # per data table: its row rules' findings (in the order the check found them)
    sheets: dict[str, list[Flat]] | None = None
    # per cross rule that says what it reads (Rule.reads): (what those inputs were, its
    # findings as (sheet, row, column, code, severity, message, id))
    cross: dict[str, tuple[Any, list[tuple[Any, ...]]]] | None = None


def _read(path: Path) -> Saved | None:
    try:
        data = marshal.loads(path.read_bytes())
    except (OSError, EOFError, ValueError, TypeError):
        return None
    try:
        (
            fmt,
            digest,
            key,
            rows,
            dup_head,
            contents,
            matches,
            members,
            data_members,
            sheets,
            cross,
        ) = data
        if fmt != FORMAT or digest != code_digest() or not isinstance(key, str):
            return None
        if members is not None and not (
            isinstance(members, dict)
            and isinstance(data_members, tuple)
            and len(data_members) == 2
            and isinstance(sheets, dict)
            and all(isinstance(v, list) for v in sheets.values())
            and isinstance(cross, dict)
            and all(isinstance(v, tuple) and len(v) == 2 for v in cross.values())
        ):
            members = data_members = sheets = cross = None
        if not (isinstance(rows, dict) and all(isinstance(v, dict) for v in rows.values())):
            return None
        if contents is not None and not (
            isinstance(contents, bytes)
            and isinstance(matches, list)
            and all(len(m) == 5 for m in matches)
        ):
            return None
        return Saved(key, rows, dup_head, contents, matches, members, data_members, sheets, cross)
    except (TypeError, ValueError):
        return None


class CheckCache:
    """The cache of one workbook for one check: read before the workbook, written after."""

    def __init__(self, path: Path | None, saved: Saved | None) -> None:
        self.path = path
        self.saved = saved
        self.warm = False  # set after a check: whether cached findings were used
        self.rechecked = 0  # rows the row rules ran on (benchmarks, tests)
        self.scan_reused = False
        self.scan_incremental = False  # the scan was brought up to date from its index
        self.start_scan: Callable[[Any], Any] | None = None  # payload -> started worker
        # tables whose row findings are kept; () when no later check can use them (apply:
        # its write changes `_meta`, part of the key) — their fingerprints are not taken
        self.tables: tuple[str, ...] = CACHED_TABLES
        # the file the workbook is read from, as it was before the read (`watch_source`):
        # only then may a data sheet's findings be reused whole
        self.source: tuple[Path, bytes | None, Any] | None = None
        self._digesting: Any = None
        self._digests: list[Any] = []
        self.reused_whole: tuple[str, ...] = ()  # tables whose row findings were reused whole
        self.cross_reused: tuple[str, ...] = ()  # cross rules whose findings were reused

    def watch_source(self, path: str | Path, data: bytes | None = None) -> None:
        """Say that the workbook about to be checked is read, unmodified, from `path` (or
        `data`): call before the read. The check then compares the file's zip members
        with the last check's."""
        import threading

        p = Path(path)
        try:
            st = None if data is not None else _stat(p)
        except OSError:
            return
        self.source = (p, data, st)
        # taken on a thread during the read (hashing and file reads release the GIL)
        box: list[Any] = []

        def digest() -> None:
            try:
                box.append(member_digests(data if data is not None else p))
            except Exception:  # noqa: BLE001 - only a shortcut: none taken (no traceback)
                pass

        self._digesting = t = threading.Thread(target=digest, name="crm-check-digests", daemon=True)
        self._digests = box
        t.start()

    def members_now(self) -> tuple[dict[str, bytes], dict[str, str]] | None:
        """The zip members' digests and the data sheets' members, when the file is still
        what was read (else None)."""
        if self.source is None:
            return None
        path, data, st = self.source
        self._digesting.join()
        got = self._digests[0] if self._digests else None
        try:
            if data is None and _stat(path) != st:
                return None  # written during the check: what was read is not known
        except OSError:
            return None
        return got

    @classmethod
    def open(cls, workbook: str | Path) -> CheckCache | None:
        """The cache of this workbook (empty when none is usable); None when there is no
        state folder to keep one in."""
        try:
            path = cache_file(workbook)
        except OSError:
            return None
        return cls(path, _read(path))

    @property
    def promising(self) -> bool:
        """Whether the last check's duplicate scan is there to be reused (then no worker is
        started before the read)."""
        return self.saved is not None and self.saved.dup_contents is not None

    def save(self, saved: Saved) -> None:
        if self.path is None:
            return
        import tempfile

        try:
            blob = marshal.dumps(  # version 2: no back-references, 3x faster here
                (
                    FORMAT,
                    code_digest(),
                    saved.key,
                    saved.rows,
                    saved.dup_head,
                    saved.dup_contents,
                    saved.dup_matches,
                    saved.members,
                    saved.data_members,
                    saved.sheets,
                    saved.cross,
                ),
                2,
            )
        except ValueError:  # a value marshal cannot keep: only a cache
            return

        # Replaced atomically, created 0600 (mkstemp), without fsync: a cache the machine
        # lost power over is unreadable at worst, and an unreadable cache is ignored.
        try:
            fd, tmp = tempfile.mkstemp(prefix=".check-", suffix=".tmp", dir=self.path.parent)
        except OSError:  # only a cache: the next check is a full one
            return
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(blob)
            os.replace(tmp, self.path)
        except OSError:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _stat(path: Path) -> tuple[int, int, int, int]:
    st = os.stat(path)
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


_TARGET = re.compile(r"(?:/xl/|)(worksheets/[A-Za-z0-9_.-]+\.xml)")
_LINKS_MAX = 8 * 1024**2  # inflated bytes of workbook.xml or its links read for the tabs


def member_digests(source: Path | bytes) -> tuple[dict[str, bytes], dict[str, str]] | None:
    """(zip member name -> a digest of its compressed bytes and header, tab name -> the
    worksheet member it is read from), or None when the zip or its links are not plain
    (then nothing is reused whole). The same compressed bytes inflate to the same part."""
    import io
    import struct
    import zipfile

    from defusedxml import ElementTree  # a user's file: no entity expansion (safezip.py)

    try:
        fh = io.BytesIO(source) if isinstance(source, bytes | bytearray) else open(source, "rb")  # noqa: SIM115
        with fh, zipfile.ZipFile(fh) as z:
            out: dict[str, bytes] = {}
            for info in z.infolist():
                if info.filename in out:
                    return None  # two members of one name: which one is read is unknown
                fh.seek(info.header_offset)
                head = fh.read(30)
                if len(head) != 30 or head[:4] != b"PK\x03\x04":
                    return None
                n, e = struct.unpack("<HH", head[26:30])
                fh.seek(info.header_offset + 30 + n + e)
                h = hashlib.blake2b(
                    struct.pack(
                        "<QQIHH",
                        info.file_size,
                        info.compress_size,
                        info.CRC,
                        info.compress_type,
                        info.flag_bits,
                    ),
                    digest_size=16,
                )
                left = info.compress_size
                while left > 0:
                    chunk = fh.read(min(left, 1 << 22))
                    if not chunk:
                        return None
                    h.update(chunk)
                    left -= len(chunk)
                out[info.filename] = h.digest()
            # tab -> member, only through the plain links every writer uses; parts of a
            # plain size only (this may run before the zip-bomb guard has seen the file)
            if any(z.getinfo(n).file_size > _LINKS_MAX
                   for n in ("xl/_rels/workbook.xml.rels", "xl/workbook.xml")):
                return None
            ns_r = "{http://schemas.openxmlformats.org/officeDocument/2006/relationships}id"
            rels = ElementTree.fromstring(z.read("xl/_rels/workbook.xml.rels"))
            targets: dict[str, str] = {}
            for rel in rels:
                m = _TARGET.fullmatch(rel.get("Target") or "")
                rid = rel.get("Id")
                if rid is not None and m is not None:
                    targets[rid] = "xl/" + m.group(1)
            tabs: dict[str, str] = {}
            for el in ElementTree.fromstring(z.read("xl/workbook.xml")).iter():
                if el.tag.rsplit("}", 1)[-1] != "sheet":
                    continue
                name, rid = el.get("name"), el.get(ns_r)
                if name is not None:
                    # a tab named twice, or linked elsewhere than a plain worksheet: unknown
                    tabs[name] = targets.get(rid, "") if name not in tabs else ""
            return out, tabs
    except (
        OSError,
        KeyError,
        ValueError,
        struct.error,
        zipfile.BadZipFile,
        ElementTree.ParseError,
    ):
        return None


def _crashed(wb: Workbook, name: str, exc: Exception) -> Finding:
    return make(
        "rule.crashed", wb.lang, sheet="Customers", rule=name, error=f"{type(exc).__name__}: {exc}"
    )


def run(wb: Workbook, ctx: Any, cache: CheckCache, scan: Any = None) -> list[Finding] | None:
    """The findings of every rule (unsorted, in an order that sorts like the full check's),
    using and refreshing the cache; None when only a full check can answer exactly (the
    caller then runs one)."""
    from .dedupe.api import DuplicateMatch, findings_from_matches, resolve_threshold
    from .dedupe.worker import payload_of
    from .rules import RULES, Context
    from .rules.columns import where as rows_where

    ordered = sorted(RULES, key=lambda r: r.deferred)
    cached_tables = cache.tables
    key = key_of(wb, ctx.today)
    saved = cache.saved
    rows_old = saved.rows if saved is not None and saved.key == key else {}
    tables = {"customers": wb.customers, "followups": wb.followups}

    # --- data sheets read from the same bytes as last time: their row findings whole
    src = cache.members_now()
    members = data_members = None
    whole: dict[str, list[Flat]] = {}
    if src is not None:
        tab_of = src[1]
        dm = (tab_of.get(wb.customers.sheet_name, ""), tab_of.get(wb.followups.sheet_name, ""))
        if dm[0] and dm[1] and dm[0] != dm[1] and dm[0] in src[0] and dm[1] in src[0]:
            members, data_members = src[0], dm
    if (
        members is not None
        and saved is not None
        and saved.key == key
        and saved.members is not None
        and saved.data_members == data_members
        and saved.sheets is not None
    ):
        changed = {
            m
            for m in members.keys() | saved.members.keys()
            if members.get(m) != saved.members.get(m)
        }
        for name, other in zip(TABLES, reversed(data_members), strict=True):
            kept = saved.sheets.get(name)
            if (
                changed <= {other}
                and kept is not None
                and (name not in cached_tables or name in rows_old)
            ):
                whole[name] = kept
    cache.reused_whole = tuple(whole)

    # --- which rows the row rules run on
    fps: dict[str, list[bytes]] = {}
    todo: dict[str, list[int]] = {}
    for name, table in tables.items():
        known = rows_old.get(name) if name in cached_tables else None
        if name in whole:
            todo[name] = []  # its findings are the last check's; its fingerprints too
        elif known:
            fps[name] = fps_t = fingerprints(table)
            todo[name] = rows_where(map(not_, map(known.__contains__, fps_t)))
        else:  # nothing cached (a cold check): every row; fingerprints only for the save,
            # taken later, while the duplicate scan's worker is still busy (`fill`)
            todo[name] = list(range(len(table.records)))

    # --- the duplicate scan: reuse, or start it now so it runs beside the other rules
    threshold = resolve_threshold(wb, None)
    payload = payload_of(wb.lang, threshold, wb.not_duplicates, wb.customers.records)
    dup_head = [payload[0], payload[1], [list(p) for p in payload[2]]]
    contents = [e[1:7] for e in payload[3]]
    contents_digest = _digest_of(contents)
    dup_rows = [e[0] for e in payload[3]]
    reuse = (
        saved is not None
        and saved.dup_contents is not None
        and saved.dup_head == dup_head
        and contents_digest is not None
        and saved.dup_contents == contents_digest
    )
    if not reuse and saved is not None and saved.dup_contents is not None:
        # the last scan's input (the sheet's matching fields) is of no more use: free it
        # before the index is read (memory)
        cache.saved = saved = replace(saved, dup_contents=None, dup_matches=None)
    quick = None  # the scan brought up to date from the last full scan's index
    if not reuse and scan is None:
        quick = _incremental(wb, payload, dup_head, threshold, contents)
    cache.scan_incremental = quick is not None
    own_scan = None
    if not reuse and quick is None and scan is None and cache.start_scan is not None:
        own_scan = scan = cache.start_scan(payload)

    try:
        out: list[tuple[int, Finding]] = [(-1, f) for f in wb.problems]
        # --- row rules on the rows that need them
        sub = {
            name: replace(t, records=[t.records[i] for i in todo[name]])
            if len(todo[name]) != len(t.records)
            else t
            for name, t in tables.items()
        }
        sub_wb = replace(wb, customers=sub["customers"], followups=sub["followups"])
        # the rules' column store is shared (it is keyed by table and checks identity);
        # nothing else of the full check's context is
        shared = {COLUMNS_KEY: ctx.extra.setdefault(COLUMNS_KEY, {})}
        sub_ctx = Context(wb=sub_wb, today=ctx.today, extra=shared)
        # findings on a cached sheet are kept per row; the others are the full check's as
        # they stand (their sheet's rows all ran)
        cached_sheets = {tables[n].schema.name: n for n in cached_tables}
        at = {
            (t.schema.name, r.row): (name, k)
            for name, t in sub.items()
            if name in cached_tables
            for k, r in enumerate(t.records)
        }
        if len(at) != sum(len(sub[n].records) for n in cached_tables):
            return None  # two rows of one sheet with one number: cannot attribute
        fresh: dict[tuple[str, int], list[tuple[int, Finding]]] = {}
        for pos, r in enumerate(ordered):
            if r.scope != "row":
                continue
            try:
                found = list(r.fn(sub_wb, sub_ctx))
            except Exception:  # noqa: BLE001 - the full check reports it as it always did
                return None
            for f in found:
                if f.sheet not in cached_sheets:
                    out.append((pos, f))
                    continue
                where = at.get((f.sheet, f.row))  # type: ignore[arg-type]
                if where is None:
                    return None
                fresh.setdefault(where, []).append((pos, f))
        for name, kept in whole.items():
            sheet = tables[name].schema.name
            out.extend(
                (pos, Finding(sheet, row, column, code, severity, message, cid))
                for pos, row, column, code, severity, message, cid in kept
            )
        # per cached row, in order: the findings templates the next check may reuse
        tpls: dict[str, list[tuple[Template, ...]]] = {}
        no_findings: tuple[Template, ...] = ()
        for name, t in tables.items():
            if name not in cached_tables or name in whole:
                continue
            known = rows_old.get(name, {})
            fps_t = fps.get(name)
            recs = t.records
            sheet = t.schema.name
            # the unchanged rows' templates (None for a row checked now), their findings
            # at the rows they sit on now; then the rows checked now (the order of `out`
            # across rows does not matter: it is sorted by row, then rule)
            row_tpls: list[Any] = (
                list(map(known.get, fps_t)) if known and fps_t else [None] * len(recs)
            )
            for i in rows_where(row_tpls):
                row = recs[i].row
                out.extend(
                    (pos, Finding(sheet, row, column, code, severity, message, cid))
                    for pos, column, code, severity, message, cid in row_tpls[i]
                )
            for k, i in enumerate(todo[name]):
                got = fresh.get((name, k))
                if got is None:
                    row_tpls[i] = no_findings
                    continue
                out.extend(got)
                row_tpls[i] = tuple(
                    (pos, f.column, f.code, f.severity, f.message, f.customer_id) for pos, f in got
                )
            tpls[name] = row_tpls
        new_rows: dict[str, dict[bytes, tuple[Template, ...]]] = {}

        def fill() -> None:
            """The rows part of the next cache: fingerprint -> templates (of rows with
            equal fingerprints the last wins, as it always did)."""
            code_digest()  # the save's (cached), taken here too while the worker scans
            for name, row_tpls in tpls.items():
                if name not in new_rows:
                    fps_t = fps.get(name)
                    if fps_t is None:
                        fps_t = fps[name] = fingerprints(tables[name])
                    new_rows[name] = dict(zip(fps_t, row_tpls, strict=True))

        for name in CACHED_TABLES:  # not taken this time: what the key still vouches for
            if (name not in cached_tables or name in whole) and name in rows_old:
                new_rows[name] = rows_old[name]
        # per data sheet, its row rules' findings (for a check that reuses the sheet whole)
        row_rule = {pos for pos, r in enumerate(ordered) if r.scope == "row"}
        known_sheets = {t.schema.name for t in tables.values()}
        if any(pos in row_rule and f.sheet not in known_sheets for pos, f in out):
            members = None  # a row finding on no data sheet: keep no sheet for reuse whole
        sheets: dict[str, list[Flat]] = {}
        for name, t in tables.items():
            if name in whole:
                sheets[name] = whole[name]
            else:
                sheet = t.schema.name
                sheets[name] = [
                    (pos, f.row, f.column, f.code, f.severity, f.message, f.customer_id)
                    for pos, f in out
                    if pos in row_rule and f.sheet == sheet
                ]

        # --- cross rules on the whole workbook (the last findings of one whose inputs
        # are all unchanged)
        cross_old = (
            saved.cross
            if saved is not None and saved.key == key and saved.cross is not None
            else {}
        )
        cross_new: dict[str, tuple[Any, list[tuple[Any, ...]]]] = {}
        digests: dict[str, bytes | None] = {}
        matches = None
        for pos, r in enumerate(ordered):
            if r.scope == "row":
                continue
            sig = _inputs_of(r, wb, ctx, digests) if members is not None else None
            last = cross_old.get(r.name)
            if (
                sig is not None
                and last is not None
                and last[0] == sig
                and all(t in whole for t in r.reads if "." not in t)
            ):
                cross_new[r.name] = last
                out.extend((pos, Finding(*f)) for f in last[1])
                cache.cross_reused += (r.name,)
                continue
            try:
                if r.name == DUPLICATES:
                    fill()  # while the worker, if any, still scans
                    if reuse:
                        assert saved is not None and saved.dup_matches is not None
                        matches = [
                            DuplicateMatch(dup_rows[a], dup_rows[b], n, why, score)
                            for a, b, n, why, score in saved.dup_matches
                        ]
                    elif quick is not None:
                        matches = quick
                    else:
                        matches = (
                            scan.matches_for(wb, threshold, payload) if scan is not None else None
                        )
                        if matches is None:
                            from .dedupe.api import duplicate_matches

                            kept: list[Any] = []
                            matches = duplicate_matches(wb, threshold, keep=kept)
                            _save_index(wb, payload, dup_head, kept)
                    out.extend((pos, f) for f in findings_from_matches(wb, matches))
                else:
                    found = list(r.fn(wb, ctx))
                    out.extend((pos, f) for f in found)
                    if sig is not None:
                        cross_new[r.name] = (sig, [astuple(f) for f in found])
            except Exception as exc:  # noqa: BLE001 - as the full check: a finding
                out.append((pos, _crashed(wb, r.name, exc)))
                if r.name == DUPLICATES:
                    matches = None
    finally:
        if own_scan is not None:
            own_scan.close()

    fill()
    cache.warm = bool(rows_old) or reuse
    cache.rechecked = sum(len(todo[n]) for n in cached_tables)
    cache.scan_reused = reuse
    if matches is None:
        dup_contents, dup_matches = None, None
    elif reuse:
        dup_contents, dup_matches = contents_digest, saved.dup_matches  # type: ignore[union-attr]
    else:
        pos_of = {row: k for k, row in enumerate(dup_rows)}
        dup_contents = contents_digest
        dup_matches = [
            (pos_of[m.row], pos_of[m.other_row], m.other_name, m.reason, m.score) for m in matches
        ]
    unchanged = (
        rows_old
        and reuse
        and not any(todo[n] for n in cached_tables)
        and all(len(new_rows[n]) == len(rows_old.get(n, {})) for n in cached_tables)
        and members is not None
        and saved.members == members  # type: ignore[union-attr]
        and saved.data_members == data_members  # type: ignore[union-attr]
        and saved.sheets == sheets  # type: ignore[union-attr]
        and saved.cross == cross_new  # type: ignore[union-attr]
    )
    if not unchanged:
        cache.save(
            Saved(
                key,
                new_rows,
                dup_head,
                dup_contents,
                dup_matches,
                members,
                data_members,
                sheets if members is not None else None,
                cross_new if members is not None else None,
            )
        )
    return [f for _pos, f in sorted(out, key=_order)]


def _digest_of(contents: list[tuple[Any, ...]]) -> bytes | None:
    """A digest of the duplicate scan's input (equal marshal bytes load to equal lists);
    None when marshal cannot keep a value."""
    try:
        return hashlib.blake2b(marshal.dumps(contents, 2), digest_size=16).digest()
    except ValueError:
        return None


def _inputs_of(r: Any, wb: Workbook, ctx: Any, digests: dict[str, bytes | None]) -> Any:
    """What a cross rule's findings depend on besides the key and its whole tables, when it
    says (Rule.reads): the digests of the customer columns it reads (kept in `digests` for
    the check); None when that cannot be told."""
    if not r.reads:
        return None
    from .rules.columns import columns

    sig = []
    for what in r.reads:
        if "." not in what:
            continue
        if what not in digests:
            key = what.split(".", 1)[1]
            col = (
                [r.row for r in wb.customers.records]
                if key == "@row"
                else columns(ctx, wb.customers).col(key)
            )
            try:  # equal pickles unpickle to equal lists
                digests[what] = hashlib.blake2b(pickle.dumps(col, 5), digest_size=16).digest()
            except Exception:  # noqa: BLE001 - a value pickle cannot take: run the rule
                digests[what] = None
        if digests[what] is None:
            return None
        sig.append(digests[what])
    return tuple(sig)


def _index_file(wb: Workbook) -> Path | None:
    from .dedupe import formcache, incremental

    if wb.path is None:
        return None
    try:
        return incremental.index_path(formcache.cache_path(wb.path))
    except OSError:
        return None


def _incremental(
    wb: Workbook, payload: Any, head: Any, threshold: int, contents: list[Any] | None = None
) -> list[Any] | None:
    """The duplicate matches from the last full scan's index, or None (scan in full)."""
    from .dedupe import incremental

    path = _index_file(wb)
    if path is None:
        return None
    from .dedupe.worker import wait_saved

    wait_saved(incremental.names_cache_of(path))  # a worker may still be writing it
    index = incremental.load_index(path, code_digest())
    if index is None:
        return None
    entries = payload[3]
    try:
        return incremental.update(
            index,
            head,
            [tuple(e[1:7]) for e in entries] if contents is None else contents,
            [e[0] for e in entries],
            [e[7] for e in entries],
            payload[2],
            threshold,
            wb.lang,
        )
    except Exception:  # noqa: BLE001 - an optimisation: the full scan answers instead
        return None


def _save_index(wb: Workbook, payload: Any, head: Any, kept: list[Any]) -> None:
    from .dedupe import incremental

    path = _index_file(wb)
    if path is None or not kept:
        return
    try:
        index = incremental.index_after_scan(head, payload[3], kept[0])
        if index is not None:
            incremental.save_index(path, index, code_digest())
    except Exception:  # noqa: BLE001 - only a cache
        pass


def _order(item: tuple[int, Finding]) -> tuple:
    from .findings import sort_key

    return (*sort_key(item[1]), item[0])
