"""Checks on an untrusted workbook file before any parser touches it.

Each problem becomes one clear line (a CrmError): missing path, a folder, an empty
file, an encrypted or legacy .xls file, a CSV given where .xlsx is expected, a file
that is not a zip, a damaged zip, and a zip bomb (declared sizes over a cap, or an
absurd compression ratio). XML entity bombs are handled by the parsers themselves:
calamine's XML reader does not expand DTD entities and every XML we parse with the
standard library goes through defusedxml.
"""

from __future__ import annotations

import contextlib
import hashlib
import html
import io
import os
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from .errors import CrmError

MAX_FILE_BYTES = 512 * 1024**2
MAX_UNCOMPRESSED_BYTES = 2 * 1024**3
MAX_RATIO = 200  # uncompressed / compressed, for members above RATIO_MIN_BYTES
RATIO_MIN_BYTES = 16 * 1024**2
OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _is_encrypted_ole(path: Path) -> bool:
    try:
        import msoffcrypto

        with path.open("rb") as f:
            return bool(msoffcrypto.OfficeFile(f).is_encrypted())
    except Exception:  # noqa: BLE001 - an unreadable OLE file is simply "not encrypted"
        return False


def check_xlsx(path: Path) -> None:
    """Raise CrmError with one line when `path` is not a readable, safe .xlsx file."""
    p = Path(path)
    if not p.exists():
        raise CrmError(f"文件不存在 / no such file: {p}")
    if p.is_dir():
        raise CrmError(f"这是一个文件夹，不是工作簿 / {p} is a folder, not a workbook")
    size = p.stat().st_size
    if size == 0:
        raise CrmError(f"文件是空的（0 字节）/ {p.name} is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise CrmError(f"文件过大 / {p.name} is larger than {MAX_FILE_BYTES // 1024**2} MB")
    with p.open("rb") as f:
        head = f.read(8)
    if head == OLE_MAGIC:
        if _is_encrypted_ole(p):
            raise CrmError(
                f"工作簿已加密：请在 Excel 中取消密码（文件 > 信息 > 保护工作簿）后另存；导入时可用 "
                f"crm import --password / {p.name} is password-protected: remove the password in "
                f"Excel (File > Info > Protect Workbook) and save; crm import accepts --password"
            )
        raise CrmError(
            f"这是旧版 .xls 文件，请另存为 .xlsx，或用 crm import 导入 / {p.name} is an old "
            f".xls (Excel 97-2003) file: save it as .xlsx, or bring it in with 'crm import'"
        )
    if p.suffix.lower() in (".csv", ".txt", ".tsv"):
        raise CrmError(
            f"需要 .xlsx 工作簿；CSV 请用 crm import 导入 / {p.name} is a CSV file: this command "
            f"needs an .xlsx workbook; bring CSV data in with 'crm import'"
        )
    if not head.startswith(b"PK"):
        raise CrmError(f"不是 .xlsx 文件（不是 zip 格式）/ {p.name} is not an .xlsx file (not a zip archive)")
    try:
        with zipfile.ZipFile(p) as z:
            infos = z.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise CrmError(f"文件已损坏 / {p.name} is damaged: {exc}") from None
    total = 0
    for info in infos:
        total += info.file_size
        if info.file_size > RATIO_MIN_BYTES and info.file_size > MAX_RATIO * max(info.compress_size, 1):
            raise CrmError(f"疑似压缩炸弹，已拒绝 / {p.name} refused: {info.filename} expands "
                           f"{info.file_size // max(info.compress_size, 1)}x (zip bomb?)")
    if total > MAX_UNCOMPRESSED_BYTES:
        raise CrmError(f"解压后超过 {MAX_UNCOMPRESSED_BYTES // 1024**3} GB，已拒绝 / {p.name} refused: "
                       f"it would expand to {total // 1024**2} MB")
    names = {i.filename.replace("\\", "/").lstrip("/") for i in infos}
    if "xl/workbook.xml" not in names and not any(n.endswith("workbook.xml") for n in names):
        raise CrmError(f"不是 Excel 工作簿（缺少 workbook.xml）/ {p.name} is a zip but not an Excel workbook")
    check_extents(p)


# ---- what a sheet claims ---------------------------------------------------------------
#
# calamine builds one dense array from the top-left to the bottom-right cell that holds a
# value, before any Python code sees a row: one value in XFD1048576 asks for 549 GB and
# the process aborts (no exception to catch). So every sheet's XML is streamed first and
# the area it can claim is bounded. A fast pass proves that every cell tag has the one
# plain form (`<c r="B12" s="3" t="s">`) and bounds rows by the last row element and
# columns by the widest reference; any other form of a cell tag, or a large bound, sends
# the sheet to the exact pass, which places each cell as calamine does (measured: the last
# `r` of a cell wins, quotes ' or ", spaces around '=', '<' and '>' inside quoted values,
# any prefix `x:c`, letters and digits of any length) and judges. `<dimension>` is not
# trusted either way: calamine does not allocate from it (measured), and neither do we.

MAX_SHEET_CELLS = 40_000_000  # rows x columns calamine may allocate (32 bytes each)
_CHUNK = 4 * 1024**2
_RAW_PIECE = 512 * 1024  # compressed bytes inflated at a time (~4 MiB of XML)
_MAX_TAG = 32 * 1024**2  # a tag longer than this is damage, not a workbook
_extents_cache: dict[tuple[str, int, int, int], None] = {}

# Exact pass: every tag start of a row or cell element (any prefix: quick_xml compares
# the local name), its attributes up to the '>' outside quotes, each attribute.
_START_RE = re.compile(rb'<(?:[^\s/<>:]*+:)?(row|c)(?=[\s/>])')
_ATTRS_RE = re.compile(rb'(?:[^>"\']++|"[^"]*+"|\'[^\']*+\')*+>')
_ATTR_RE = re.compile(rb'(?<![^\s"\'])([^\s="\']++)\s*+=\s*+(?:"([^"]*+)"|\'([^\']*+)\')')
_CELL_REF_RE = re.compile(rb'([A-Za-z]+)([0-9]+)')
_LONGEST = 20  # letters or digits read of a reference: more is absurdly far either way
_ROW_NUM_RE = re.compile(rb'[0-9]+')
# Fast pass: the widest plain reference of a piece whose cells are all plain.
_WIDE_RE = re.compile(rb'<c r="([A-Z]{2,3})[0-9]')


def _col_number(letters: bytes) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ch - 64
    return n


def _col_letters(n: int) -> str:
    out = ""
    while n:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


_not_plain_cache: dict[tuple[int, int], tuple[str, ...]] = {}


def _not_plain(letters: int, digits: int) -> tuple[str, ...]:
    """Regular expressions (RE2 and Python re alike) that find, in a piece of sheet XML,
    anything the fast pass cannot bound: a cell tag that does not begin exactly `<c r="` +
    1..`letters` capitals + 1..`digits` digits + `"` (or is cut off by the end of the
    piece), a prefixed cell tag (`x:c`), or a further `r` attribute after a quoted value
    (the reader places a cell by its last `r`). Each starts with one fixed byte, so RE2
    skips to the candidates at memchr speed."""
    key = (letters, digits)
    if key in _not_plain_cache:
        return _not_plain_cache[key]
    z = r"\z"
    ref = r'<c r="[A-Z]{1,' + str(letters) + "}"
    first = "|".join([
        r"<c(?:[\t\n\r\x0b\x0c/>]|" + z + ")",
        r"<c (?:[^r]|" + z + ")",
        r"<c r(?:[^=]|" + z + ")",
        r'<c r=(?:[^"]|' + z + ")",
        r'<c r="(?:[^A-Z]|' + z + ")",
        r'<c r="[A-Z]{' + str(letters + 1) + "}",
        ref + r"(?:[^A-Z0-9]|" + z + ")",
        ref + "[0-9]{" + str(digits + 1) + "}",
        ref + "[0-9]{1," + str(digits) + r'}(?:[^0-9"]|' + z + ")",
    ])
    out = _not_plain_cache[key] = (first, r":c[\t\n\r\x0b\x0c />]", r'"[\t\n\r ]*r[\t\n\r ]*=',
                                   r"'[\t\n\r ]*r[\t\n\r ]*=")
    return out


_py_not_plain: dict[tuple[int, int], re.Pattern[bytes]] = {}


def _py_finds(buf: bytes, end: int, letters: int, digits: int) -> bool:
    """`_not_plain` with Python's re (the reference, and the path without pyarrow)."""
    key = (letters, digits)
    pat = _py_not_plain.get(key)
    if pat is None:
        text = "|".join(_not_plain(letters, digits)).replace(r"\z", r"\Z")
        pat = _py_not_plain[key] = re.compile(text.encode())
    return pat.search(buf, 0, end) is not None


def _re2_finder():
    """`_not_plain` searched by RE2 through pyarrow (a DFA, with the GIL released), or None
    when pyarrow is missing."""
    try:
        import pyarrow as pa
        import pyarrow.compute as pc
    except ImportError:  # pragma: no cover - pyarrow is a dependency
        return None

    def finds(buf: bytes, end: int, letters: int, digits: int) -> bool:
        offs = pa.py_buffer(struct.pack("<ii", 0, end))
        arr = pa.Array.from_buffers(pa.binary(), 1, [None, offs, pa.py_buffer(buf)])
        return any(pc.match_substring_regex(arr, pat)[0].as_py() for pat in _not_plain(letters, digits))
    return finds


_finder: list = []


def _finds(buf: bytes, end: int, letters: int, digits: int) -> bool:
    if not _finder:
        _finder.append(_re2_finder() or _py_finds)
    return _finder[0](buf, end, letters, digits)


def _pieces(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[tuple[bytes, int]]:
    """The member's XML as (buffer, end): buffer[:end] is a piece cut before a '<' (no tag
    split between two, unless a quoted value holds a '<'), the pieces in order make the
    whole member. A deflated member is inflated here straight from its raw bytes (larger
    pieces, no copies); anything unusual, and any error or CRC mismatch, goes back to
    zipfile's own reader so a damaged file gets zipfile's own message."""
    raw = _raw_inflate(z, info)
    if raw is None:
        yield from ((b, len(b)) for b in _chunks(z, info))
        return
    tail = b""
    for out in raw:
        buf = tail + out if tail else out
        cut = buf.rfind(b"<")
        if cut <= 0:
            tail = buf
            continue
        yield buf, cut
        tail = buf[cut:]
    if tail:
        yield tail, len(tail)


class _Fallback(Exception):
    """The raw inflate met something only zipfile should report."""


def _data_start(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> int | None:
    """Where the member's compressed bytes begin, or None when its local header is odd."""
    if z.fp is None:
        return None
    try:
        z.fp.seek(info.header_offset)
        head = z.fp.read(30)
        if len(head) != 30 or head[:4] != b"PK\x03\x04":
            return None
        n, m = struct.unpack("<HH", head[26:30])
        return info.header_offset + 30 + n + m
    except (OSError, ValueError):
        return None


def _raw_inflate(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes] | None:
    if (info.compress_type != zipfile.ZIP_DEFLATED or info.flag_bits & 0x1
            or z.fp is None or getattr(z, "_writing", False)):
        return None
    fp = z.fp
    start = _data_start(z, info)
    if start is None:
        return None

    def gen() -> Iterator[bytes]:
        d = zlib.decompressobj(-15)
        crc = 0
        left = info.compress_size
        pos = start
        total = 0
        while left > 0:
            fp.seek(pos)
            data = fp.read(min(_RAW_PIECE, left))
            if not data:
                raise _Fallback
            pos += len(data)
            left -= len(data)
            while data:  # at most _CHUNK out at a time, whatever the input claims
                try:
                    out = d.decompress(data, _CHUNK)
                except zlib.error:
                    raise _Fallback from None
                data = d.unconsumed_tail
                if out:
                    crc = zlib.crc32(out, crc)
                    total += len(out)
                    if total > info.file_size:
                        raise _Fallback  # more than declared: zipfile's reader decides
                    yield out
        try:
            out = d.flush()
        except zlib.error:
            raise _Fallback from None
        if out:
            crc = zlib.crc32(out, crc)
            total += len(out)
            yield out
        if not d.eof or total != info.file_size or crc != info.CRC:
            raise _Fallback
    return gen()


def _chunks(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    """The member's XML in pieces cut before a '<', read by zipfile."""
    tail = b""
    with z.open(info) as f:
        while True:
            chunk = f.read(_CHUNK)
            if not chunk:
                if tail:
                    yield tail
                return
            buf = tail + chunk
            cut = buf.rfind(b"<")
            if cut <= 0:
                tail = buf
                continue
            yield buf[:cut]
            tail = buf[cut:]


def _fast_bound(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> int:
    """An upper bound on rows x columns of the sheet, cheap enough for every read.

    Every cell tag of every piece is the plain `<c r="B12" …>` (else: the exact pass), so
    each cell is where its reference says. Rows: the last row element of each piece
    (rows are written in order); a reference with more digits than that sends the sheet to
    the exact pass. Columns: one capital letter, or else the widest reference of the piece
    (up to three letters)."""
    try:
        return _fast_bound_of(_pieces(z, info), info.file_size <= _SMALL)
    except _Fallback:
        return _fast_bound_of(((b, len(b)) for b in _chunks(z, info)), info.file_size <= _SMALL)


_SMALL = 2 * 1024**2  # a member this small is searched by Python's re (no pyarrow import)


def _fast_bound_of(pieces: Iterator[tuple[bytes, int]], small: bool = False) -> int:
    max_row = 0
    max_col = 26
    for buf, end in pieces:
        at = buf.rfind(b'<row r="', 0, end)
        if at >= 0:
            stop = buf.find(b'"', at + 8, end)
            digits = buf[at + 8 : stop] if stop > 0 else b""
            if digits.isdigit() and len(digits) < 10:
                max_row = max(max_row, int(digits))
        width = len(str(max_row)) if max_row else 1
        finds = _py_finds if small else _finds
        if not finds(buf, end, 1, width):
            continue
        if finds(buf, end, 3, width):
            return MAX_SHEET_CELLS + 1
        wide = _WIDE_RE.findall(buf, 0, end)
        if wide:
            max_col = max(max_col, max(map(_col_number, set(wide))))
    width = len(str(max_row)) if max_row else 1
    return (10**width - 1) * max_col


def _exact_extent(z: zipfile.ZipFile, info: zipfile.ZipInfo) -> tuple[int, int, str]:
    try:
        return _exact_extent_of(_pieces(z, info))
    except _Fallback:
        return _exact_extent_of((b, len(b)) for b in _chunks(z, info))


def _ref(value: bytes) -> tuple[int, int] | None:
    m = _CELL_REF_RE.fullmatch(value)
    if m is None:
        return None  # calamine refuses the sheet ("Expecting alphanumeric character")
    return int(m.group(2)[:_LONGEST]), _col_number(m.group(1)[:_LONGEST])


def _exact_extent_of(pieces: Iterator[tuple[bytes, int]]) -> tuple[int, int, str]:
    """(last row, last column, farthest cell) over cells that hold a value, placed as the
    reader places them: a cell by its `r` (several: the farthest of them), else after the
    previous cell; a row by its `r`, else after the previous row. Attributes are read as
    XML reads them (either quote, spaces around '=', '<' or '>' inside a quoted value)."""
    max_row = max_col = best = 0
    far = ""
    cur_row = col = 0
    carry = b""
    for piece, end in pieces:
        buf = carry + piece[:end] if carry else (piece if end == len(piece) else piece[:end])
        carry = b""
        for m in _START_RE.finditer(buf):
            tag = _ATTRS_RE.match(buf, m.end())
            if tag is None:  # the tag goes on in the next piece ('<' inside a quoted value)
                carry = buf[m.start():]
                if len(carry) > _MAX_TAG:
                    raise ValueError(f"a tag longer than {_MAX_TAG // 1024**2} MiB")
                break
            attrs = tag.group(0)[:-1]
            rs = [a.group(2) if a.group(2) is not None else a.group(3)
                  for a in _ATTR_RE.finditer(attrs) if a.group(1) == b"r"]
            if m.group(1) == b"row":
                nums = [int(v[:_LONGEST]) for v in rs if _ROW_NUM_RE.fullmatch(v)]
                cur_row = max(nums) if nums else cur_row + 1
                col = 0
                continue
            refs = [r for r in map(_ref, rs) if r is not None]
            if refs:
                row, col = max(r[0] for r in refs), max(r[1] for r in refs)
            else:
                row, col = max(cur_row, 1), col + 1
            if attrs.rstrip().endswith(b"/"):  # <c r="…" s="1"/>: formatting only, skipped
                continue
            if row * col > best:
                best, far = row * col, f"{_col_letters(col)}{row}"
            max_row, max_col = max(max_row, row), max(max_col, col)
    return max_row, max_col, far


def _sheet_names(z: zipfile.ZipFile) -> dict[str, str]:
    """worksheet part name -> tab name (best effort, for the message)."""
    try:
        wb = z.read("xl/workbook.xml").decode("utf-8", "replace")
        rels = z.read("xl/_rels/workbook.xml.rels").decode("utf-8", "replace")
    except (KeyError, OSError, zipfile.BadZipFile):
        return {}
    targets = {}
    for rel in re.findall(r"<Relationship\b[^>]*>", rels):
        rid = re.search(r'\bId="([^"]+)"', rel)
        target = re.search(r'\bTarget="([^"]+)"', rel)
        if rid and target:
            t = target.group(1).lstrip("/")
            targets[rid.group(1)] = t if t.startswith("xl/") else "xl/" + t
    out = {}
    for sheet in re.findall(r"<(?:\w+:)?sheet\b[^>]*>", wb):
        nm = re.search(r'\bname="([^"]*)"', sheet)
        rid = re.search(r'\br:id="([^"]+)"', sheet) or re.search(r'\b\w+:id="([^"]+)"', sheet)
        if nm and rid and rid.group(1) in targets:
            out[targets[rid.group(1)]] = html.unescape(nm.group(1))
    return out


_PARALLEL_MIN = 8 * 1024**2  # inflated bytes of a member worth a thread of its own


def _check_members(z: zipfile.ZipFile, p: Path, reopen) -> None:
    """Bound every member (the reader takes a sheet from wherever the workbook's links
    point, under any name), the two largest on threads of their own (zlib and RE2 release
    the GIL); the first member in the archive's order that is over the limit is refused.
    A large member whose compressed bytes were bounded before (`_known`) is not scanned."""
    infos = z.infolist()
    known = _Known.load() if any(i.file_size > _KNOWN_MIN for i in infos) else None
    keys = {id(i): known.key(z, i) for i in infos if i.file_size > _KNOWN_MIN} if known else {}
    todo = [i for i in infos if keys.get(id(i)) is None or keys[id(i)] not in known.seen]
    big = sorted((i for i in todo if i.file_size > _PARALLEL_MIN), key=lambda i: -i.file_size)
    pending: dict[int, Future[int]] = {}
    pool = ThreadPoolExecutor(max_workers=2) if len(big) > 1 else None
    try:
        if pool is not None:
            for info in big:
                pending[id(info)] = pool.submit(_fast_bound_own, reopen, info)
        for info in todo:
            fut = pending.get(id(info))
            bound = fut.result() if fut is not None else _fast_bound(z, info)
            if bound > MAX_SHEET_CELLS:
                rows, cols, far = _exact_extent(z, info)
                if rows * cols > MAX_SHEET_CELLS:
                    norm = info.filename.replace("\\", "/").lstrip("/")
                    tab = _sheet_names(z).get(norm, norm.rsplit("/", 1)[-1])
                    raise CrmError(
                        f"工作表「{tab}」在 {far} 有内容，远在表格之外（读取需要 {rows:,} 行 × {cols:,} 列），"
                        f"已拒绝：请删除该单元格的内容后保存 / sheet '{tab}' of {p.name} has a value in "
                        f"{far}, far outside the table (reading it would take {rows:,} rows x {cols:,} "
                        f"columns): refused; clear that cell and save")
            if keys.get(id(info)) is not None:
                known.add(keys[id(info)])
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    if known is not None:
        known.save()


_KNOWN_MIN = 4 * 1024**2  # inflated bytes of a member worth remembering
_KNOWN_KEEP = 256
_KNOWN_TAG = b"extents-2:%d:" % MAX_SHEET_CELLS  # a change to the guard forgets all


class _Known:
    """Members already bounded, by a BLAKE2 digest of their compressed bytes (the same
    bytes inflate to the same XML), kept in the private state folder: a master read again
    unchanged (a dashboard after a check) or with only some sheets changed skips the
    scan of the unchanged ones. Unreadable or damaged: nothing is known."""

    def __init__(self, path: Path, seen: list[str]) -> None:
        self.path, self.seen, self.added = path, dict.fromkeys(seen), False

    @classmethod
    def load(cls) -> _Known | None:
        try:
            from .home import ensure_private_dir, state_root

            root = state_root()
            if not root.is_dir():  # never made here: the home code makes it, private
                return None
            path = ensure_private_dir(root / "cache") / "extents-known"
            seen = path.read_text("ascii").split() if path.exists() else []
        except (CrmError, OSError, ValueError):
            return None
        return cls(path, [k for k in seen if len(k) == 64])

    def key(self, z: zipfile.ZipFile, info: zipfile.ZipInfo) -> str | None:
        start = _data_start(z, info)
        if start is None or z.fp is None:
            return None
        h = hashlib.blake2b(_KNOWN_TAG, digest_size=32)
        h.update(struct.pack("<QQIH", info.file_size, info.compress_size, info.CRC, info.compress_type))
        try:
            z.fp.seek(start)
            left = info.compress_size
            while left > 0:
                data = z.fp.read(min(left, 1024**2))
                if not data:
                    return None
                h.update(data)
                left -= len(data)
        except (OSError, ValueError):
            return None
        return h.hexdigest()

    def add(self, key: str) -> None:
        if key not in self.seen:
            self.seen[key] = None
            self.added = True

    def save(self) -> None:
        if not self.added:
            return
        keep = list(self.seen)[-_KNOWN_KEEP:]
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="ascii") as f:
                f.write("\n".join(keep) + "\n")
            os.replace(tmp, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                tmp.unlink()


def _fast_bound_own(reopen, info: zipfile.ZipInfo) -> int:
    """`_fast_bound` on a handle of its own (a ZipFile's file is not shared across threads)."""
    with zipfile.ZipFile(reopen()) as z:
        return _fast_bound(z, info)


def check_extents(path: Path, data: bytes | None = None) -> None:
    """Refuse, in one line, a workbook with a sheet whose cells span more than
    MAX_SHEET_CELLS (e.g. one value in XFD1048576 beside a small table), before calamine
    allocates that area. A file already checked unchanged is not scanned again."""
    p = Path(path)
    key = None
    if data is None:
        try:
            st = p.stat()
            key = (str(p.resolve()), st.st_size, st.st_mtime_ns, st.st_ino)
        except OSError:
            key = None
        if key is not None and key in _extents_cache:
            return
    source = io.BytesIO(data) if data is not None else p
    try:
        if not zipfile.is_zipfile(source):
            return  # .xls (at most 65,536 x 256 cells) and .ods: nothing of this kind to bound
    except OSError:
        return
    try:
        with zipfile.ZipFile(source) as z:
            _check_members(z, p, (lambda: io.BytesIO(data)) if data is not None else (lambda: p))
    except (zipfile.BadZipFile, OSError, ValueError, zlib.error, EOFError) as exc:
        raise CrmError(f"文件已损坏 / {p.name} is damaged: {exc}") from None
    if key is not None:
        if len(_extents_cache) > 64:
            _extents_cache.clear()
        _extents_cache[key] = None
