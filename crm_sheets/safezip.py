"""Checks on an untrusted workbook file before any parser touches it.

Each problem becomes one clear line (a CrmError): missing path, a folder, an empty
file, an encrypted or legacy .xls file, a CSV given where .xlsx is expected, a file
that is not a zip, a damaged zip, and a zip bomb (declared sizes over a cap, or an
absurd compression ratio). XML entity bombs are handled by the parsers themselves:
calamine's XML reader does not expand DTD entities and every XML we parse with the
standard library goes through defusedxml.
"""

from __future__ import annotations

import zipfile
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
