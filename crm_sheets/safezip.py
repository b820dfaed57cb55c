"""Checks on an untrusted workbook file before any parser touches it.

Each problem becomes one clear line (a CrmError): missing path, a folder, an empty
file, an encrypted or legacy .xls file, a CSV given where .xlsx is expected, a file
that is not a zip, a damaged zip, and a zip bomb (declared sizes over a cap, or an
absurd compression ratio). XML entity bombs are handled by the parsers themselves:
calamine's XML reader does not expand DTD entities and every XML we parse with the
standard library goes through defusedxml.
"""

from __future__ import annotations

import html
import io
import re
import zipfile
import zlib
from collections.abc import Iterator
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
# the area it can claim is bounded. A fast pass finds the last row element and the widest
# column reference; only when that bound is large does a slow pass look at each cell (a
# cell without a value is skipped by calamine, so it does not count). `<dimension>` is not
# trusted either way: calamine does not allocate from it (measured), and neither do we.

MAX_SHEET_CELLS = 40_000_000  # rows x columns calamine may allocate (32 bytes each)
_CHUNK = 4 * 1024**2
# Literal-prefixed patterns (fast). A row element written another way only makes the
# bound looser, which sends the sheet to the exact pass: never to a wrong answer.
_WIDE_RE = re.compile(rb'r="([A-Za-z]{2,4})\d')
_TAG_RE = re.compile(rb'<(?:[A-Za-z_][\w.-]*:)?(row|c)(?=[\s/>])([^>]*?)(/?)>')
_ROW_ATTR_RE = re.compile(rb'\sr="(\d{1,9})"')
_POSITIONAL_RE = re.compile(rb'<c(?! r=")[\s/>]')
_PREFIXED_RE = re.compile(rb':c[\s/>]')
_REF_RE = re.compile(rb'\sr="([A-Za-z]{1,4})(\d{1,9})"')
_extents_cache: dict[tuple[str, int, int, int], None] = {}


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


def _chunks(z: zipfile.ZipFile, name: str) -> Iterator[bytes]:
    """The member's XML in pieces cut before a '<', so no tag is split between two."""
    tail = b""
    with z.open(name) as f:
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


def _fast_bound(z: zipfile.ZipFile, name: str) -> int:
    """An upper bound on rows x columns of the sheet, cheap enough for every read.

    Rows: the last row element of each piece (rows are written in order; an out-of-order
    file only makes the next check fire). Any cell whose row number has more digits than
    that is a reason for the exact pass. Columns: the widest multi-letter reference."""
    max_row = 0
    max_col = 26
    for buf in _chunks(z, name):
        # A cell placed by position (no r attribute first, or a prefixed tag): only the
        # exact pass knows where it lands. (A row placed by position moves only such
        # cells: a cell with a reference is where its reference says.)
        if _POSITIONAL_RE.search(buf) or _PREFIXED_RE.search(buf):
            return MAX_SHEET_CELLS + 1
        at = buf.rfind(b'<row r="')
        if at >= 0:
            end = buf.find(b'"', at + 8)
            digits = buf[at + 8 : end]
            if digits.isdigit() and len(digits) < 10:
                max_row = max(max_row, int(digits))
        width = len(str(max_row)) if max_row else 1
        if not re.search(rb'r="[A-Za-z](?:[A-Za-z]|\d{%d})' % (width + 1), buf):
            continue  # one pass: nothing wide, no long row number in this piece
        if re.search(rb'r="[A-Za-z]{1,4}\d{%d}' % (width + 1), buf):
            return MAX_SHEET_CELLS + 1
        wide = _WIDE_RE.findall(buf)
        if wide:
            max_col = max(max_col, max(map(_col_number, set(wide))))
    return (10 ** len(str(max_row)) - 1 if max_row else 1) * max_col


def _exact_extent(z: zipfile.ZipFile, name: str) -> tuple[int, int, str]:
    """(last row, last column, farthest cell) over cells that hold a value. Rows and cells
    without an `r` attribute take the next position, as the reader places them."""
    max_row = max_col = best = 0
    far = ""
    cur_row = col = 0
    for buf in _chunks(z, name):
        for m in _TAG_RE.finditer(buf):
            attrs = b" " + m.group(2)
            if m.group(1) == b"row":
                r = _ROW_ATTR_RE.search(attrs)
                cur_row = int(r.group(1)) if r else cur_row + 1
                col = 0
                continue
            ref = _REF_RE.search(attrs)
            if ref is not None:
                row, col = int(ref.group(2)), _col_number(ref.group(1))
            else:
                row, col = max(cur_row, 1), col + 1
            if m.group(3):  # <c r="…" s="1"/>: formatting only, calamine skips it
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
            for name in z.namelist():
                norm = name.replace("\\", "/").lstrip("/")
                if not (norm.startswith("xl/worksheets/") and norm.endswith(".xml")):
                    continue
                if _fast_bound(z, name) <= MAX_SHEET_CELLS:
                    continue
                rows, cols, far = _exact_extent(z, name)
                if rows * cols <= MAX_SHEET_CELLS:
                    continue
                tab = _sheet_names(z).get(norm, norm.rsplit("/", 1)[-1])
                raise CrmError(
                    f"工作表「{tab}」在 {far} 有内容，远在表格之外（读取需要 {rows:,} 行 × {cols:,} 列），"
                    f"已拒绝：请删除该单元格的内容后保存 / sheet '{tab}' of {p.name} has a value in "
                    f"{far}, far outside the table (reading it would take {rows:,} rows x {cols:,} "
                    f"columns): refused; clear that cell and save")
    except (zipfile.BadZipFile, OSError, ValueError, zlib.error, EOFError) as exc:
        raise CrmError(f"文件已损坏 / {p.name} is damaged: {exc}") from None
    if key is not None:
        if len(_extents_cache) > 64:
            _extents_cache.clear()
        _extents_cache[key] = None
