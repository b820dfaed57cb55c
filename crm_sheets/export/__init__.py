"""Exports of a query selection: xlsx (formatted, with charts), PDF (A4 landscape), CSV.

`export(result, path)` picks the format from the file suffix. Every text value passes
through `crm_sheets.safe_text` (prohibited numbers masked, formulas neutralised).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import CrmError
from ..i18n import t

FORMATS = (".xlsx", ".pdf", ".csv")


def export(result: Any, path: str | Path, **options: Any) -> Path:
    """Write a QueryResult to FILE.xlsx, FILE.pdf or FILE.csv; returns the path written."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        from .xlsx import write_selection_xlsx as writer
    elif suffix == ".pdf":
        from .pdf import write_selection_pdf as writer
    elif suffix == ".csv":
        from .csv import write_selection_csv as writer
    else:
        raise CrmError(t(f"--to 的文件名须以 .xlsx、.pdf 或 .csv 结尾，收到的是 {path.name!r}", f"--to must end in .xlsx, .pdf or .csv, got {path.name!r}"))
    if not path.parent.is_dir():
        raise CrmError(t(f"文件夹 {path.parent} 不存在", f"folder {path.parent} does not exist"))
    writer(result, path, **options)
    return path


class atomic_path:  # noqa: N801 - used as a context manager, reads like a function
    """Write to a temporary file beside `path`, then replace `path` in one step.

    A crash leaves the old file or the new one; a target held open by Excel on Windows
    becomes a clear error instead of a traceback.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.tmp = self.path.with_name(f".{self.path.stem}.tmp-{os.getpid()}{self.path.suffix}")

    def __enter__(self) -> Path:
        return self.tmp

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if exc_type is not None:
            self.tmp.unlink(missing_ok=True)
            return
        try:
            with open(self.tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(self.tmp, self.path)
        except PermissionError as err:
            self.tmp.unlink(missing_ok=True)
            raise CrmError(t(f"无法替换 {self.path.name}：是否在其他程序中打开？", f"cannot replace {self.path.name}: is it open in another program?")) from err


def export_selection(wb: Any, path: str | Path, filters: Any = None, *, today: Any = None,
                     actor: Any = None) -> Path:
    """Select customers with `filters` (a query.Filters, default: all) and export them."""
    from ..query import Filters, run_query

    return export(run_query(wb, filters or Filters(), today=today, actor=actor), path)
