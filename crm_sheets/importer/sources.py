"""Read any customer list into rows of cell values: xlsx/xlsm/xls/ods and csv/txt.

Spreadsheets go through python-calamine (after the zip/encryption/size checks for
OOXML files); merged cells are read as their top-left value in every cell they cover.
Text files may be UTF-8, UTF-8 with a BOM, UTF-16 with a BOM, or GBK/GB18030 (what
Chinese Excel writes by default); the delimiter is detected.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import CrmError
from ..reader import _date1904, open_calamine
from ..safezip import MAX_FILE_BYTES, OLE_MAGIC, _is_encrypted_ole, check_xlsx
from ..writeback.locks import is_editor_artifact

SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb", ".ods"}
TEXT_SUFFIXES = {".csv", ".txt", ".tsv"}
_DELIMITERS = ",\t;|"


@dataclass
class SourceSheet:
    """One sheet (or the one table of a text file) as rows of values from A1."""

    name: str
    rows: list[list[Any]]


@dataclass
class Source:
    path: Path
    kind: str  # "spreadsheet" or "text"
    sheets: list[SourceSheet]
    date1904: bool = False
    encoding: str | None = None
    delimiter: str | None = None
    notes: list[str] = field(default_factory=list)

    def sheet(self, name: str) -> SourceSheet:
        for s in self.sheets:
            if s.name == name or s.name.strip().lower() == name.strip().lower():
                return s
        raise CrmError(f"源文件中没有工作表 '{name}'（现有：{', '.join(s.name for s in self.sheets)}）"
                       f" / {self.path.name} has no sheet '{name}'")


def _check_file(p: Path) -> None:
    if not p.exists():
        raise CrmError(f"文件不存在 / no such file: {p}")
    if p.is_dir():
        raise CrmError(f"这是一个文件夹，不是表格文件 / {p} is a folder")
    if is_editor_artifact(p):
        raise CrmError(f"这是编辑器的临时/锁定文件，不是数据 / {p.name} is an editor lock or temp file, "
                       "not data")
    size = p.stat().st_size
    if size == 0:
        raise CrmError(f"文件是空的（0 字节）/ {p.name} is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise CrmError(f"文件过大 / {p.name} is larger than {MAX_FILE_BYTES // 1024**2} MB")


def fill_merged(rows: list[list[Any]], ranges: list[tuple[tuple[int, int], tuple[int, int]]]
                ) -> None:
    """Give every cell of a merged range the range's top-left value (in place)."""
    for (r0, c0), (r1, c1) in ranges:
        if r0 >= len(rows):
            continue
        top = rows[r0]
        value = top[c0] if c0 < len(top) else None
        if value is None or value == "":
            continue
        for r in range(r0, min(r1, len(rows) - 1) + 1):
            row = rows[r]
            if len(row) <= c1:
                row.extend([""] * (c1 + 1 - len(row)))
            for c in range(c0, c1 + 1):
                row[c] = value


def _decrypt(p: Path, password: str) -> bytes:
    import msoffcrypto

    try:
        with open(p, "rb") as fh:
            office = msoffcrypto.OfficeFile(fh)
            office.load_key(password=password)
            out = io.BytesIO()
            office.decrypt(out)
    except Exception:  # noqa: BLE001 - msoffcrypto raises several types for a wrong key
        raise CrmError(f"密码错误，无法打开 / wrong password for {p.name}") from None
    return out.getvalue()


def read_spreadsheet(p: Path, sheet: str | None = None, password: str | None = None) -> Source:
    """All sheets (or one) of a spreadsheet file via python-calamine."""
    suffix = p.suffix.lower()
    _check_file(p)
    with open(p, "rb") as fh:
        head = fh.read(8)
    data: bytes | None = None
    if head == OLE_MAGIC and _is_encrypted_ole(p):
        if password is None:
            raise CrmError(f"文件已加密，请用 --password 提供密码，或在 Excel 中取消密码后另存 / "
                           f"{p.name} is password-protected (encrypted): pass --password, or remove "
                           "the password in Excel and save")
        data = _decrypt(p, password)
    elif (head.startswith(b"PK") and suffix != ".ods") or (
            head != OLE_MAGIC and suffix in (".xlsx", ".xlsm", ".xltx", ".xltm")):
        check_xlsx(p)
    cwb = open_calamine(p, data)
    try:
        names = list(cwb.sheet_names)
        if not names:
            raise CrmError(f"工作簿中没有工作表 / {p.name} has no sheets")
        if sheet is not None:
            wanted = [n for n in names if n == sheet or n.strip().lower() == sheet.strip().lower()]
            if not wanted:
                raise CrmError(f"源文件中没有工作表 '{sheet}'（现有：{', '.join(names)}）"
                               f" / {p.name} has no sheet '{sheet}'")
            names = wanted[:1]
        sheets = []
        for n in names:
            try:
                ws = cwb.get_sheet_by_name(n)
                rows = ws.to_python(skip_empty_area=False)
                ranges = ws.merged_cell_ranges or []
            except Exception as exc:  # noqa: BLE001 - calamine raises several types
                if sheet is not None:
                    raise CrmError(f"工作表 '{n}' 已损坏 / sheet '{n}' of {p.name} is damaged: "
                                   f"{str(exc).splitlines()[0][:200] if str(exc) else exc!r}"
                                   ) from None
                continue  # chart sheets and the like: not data
            rows = [list(r) for r in rows]
            if ranges:
                fill_merged(rows, ranges)
            sheets.append(SourceSheet(n, rows))
    finally:
        cwb.close()
    if not sheets:
        raise CrmError(f"工作簿中没有可读取的工作表 / {p.name} has no readable sheet")
    return Source(path=p, kind="spreadsheet", sheets=sheets,
                  date1904=_date1904(p, data) if (data or head.startswith(b"PK")) else False)


def decode_text(data: bytes) -> tuple[str, str]:
    """Bytes of a text export -> (text, encoding name): BOMs, UTF-8, then GB18030."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8", errors="replace"), "utf-8-sig"
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        return data.decode("utf-16"), "utf-16"
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030"), "gb18030"
    except UnicodeDecodeError:
        pass
    raise CrmError("无法识别文件编码（支持 UTF-8、GBK/GB18030、UTF-16）/ "
                   "cannot tell the text encoding (UTF-8, GBK/GB18030 and UTF-16 are supported)")


def detect_delimiter(text: str) -> str:
    """The delimiter of a delimited text: the candidate splitting the first lines most evenly."""
    lines = [ln for ln in text.splitlines()[:50] if ln.strip()]
    if not lines:
        return ","
    try:
        return csv.Sniffer().sniff("\n".join(lines[:20]), delimiters=_DELIMITERS).delimiter
    except csv.Error:
        pass
    best, best_score = ",", -1.0
    for d in _DELIMITERS:
        counts = [ln.count(d) for ln in lines]
        if not any(counts):
            continue
        common = max(set(counts), key=counts.count)
        score = common * counts.count(common) / len(counts) if common else 0.0
        if score > best_score:
            best, best_score = d, score
    return best


def read_text(p: Path) -> Source:
    """A delimited text file (csv, tsv, txt) as one table of strings."""
    _check_file(p)
    data = p.read_bytes()
    if data[:4] == b"PK\x03\x04" or data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise CrmError(f"{p.name} 实际上是 Excel 文件，请把扩展名改为 .xlsx/.xls / "
                       f"{p.name} is really a spreadsheet: rename it to .xlsx or .xls")
    if b"\x00" in data[:4096] and not data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise CrmError(f"{p.name} 不是文本文件 / {p.name} is not a text file")
    text, encoding = decode_text(data)
    delimiter = "\t" if p.suffix.lower() == ".tsv" else detect_delimiter(text)
    try:
        rows = [list(r) for r in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise CrmError(f"{p.name} 不是有效的 CSV：{exc} / {p.name} is not valid CSV: {exc}") from None
    return Source(path=p, kind="text", sheets=[SourceSheet(p.stem, rows)], encoding=encoding,
                  delimiter=delimiter)


def read_source(path: str | Path, sheet: str | None = None, password: str | None = None
                ) -> Source:
    """Read a source file of any supported kind; a clear one-line CrmError otherwise."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in TEXT_SUFFIXES:
        return read_text(p)
    if suffix in SPREADSHEET_SUFFIXES:
        return read_spreadsheet(p, sheet, password)
    _check_file(p)
    with open(p, "rb") as fh:
        head = fh.read(8)
    if head[:4] == b"PK\x03\x04" or head == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        return read_spreadsheet(p, sheet, password)
    raise CrmError(f"不支持的文件类型 '{p.suffix}'（支持 .xlsx .xls .ods .csv .txt）/ "
                   f"unsupported file type '{p.suffix}' (use .xlsx, .xls, .ods, .csv or .txt)")
