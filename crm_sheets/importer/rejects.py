"""The rejects file: every row (or follow-up part of a row) not imported, with its reasons.

`import-rejects-<time>.xlsx` is written beside the source: the source's header row,
then each rejected row as it was read, after two leading columns (source row, reasons).
Prohibited numbers (resident IDs, bank cards) are masked: the source still holds them,
and the engine never writes a new copy. Text is written as text, never as a formula.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import TYPE_CHECKING, Any

import xlsxwriter

from .. import prohibited
from ..errors import CrmError

if TYPE_CHECKING:
    from .run import Prepared


def _free_name(folder: Path, now: dt.datetime) -> Path:
    base = f"import-rejects-{now:%Y%m%d-%H%M%S}"
    path = folder / f"{base}.xlsx"
    n = 2
    while path.exists():
        path = folder / f"{base}-{n}.xlsx"
        n += 1
    return path


def _write(ws: Any, r: int, c: int, v: Any, fmts: dict[str, Any]) -> None:
    if v is None or v == "":
        return
    if isinstance(v, bool):
        ws.write_boolean(r, c, v)
    elif isinstance(v, (int, float)):
        ws.write_number(r, c, v)
    elif isinstance(v, dt.datetime):
        ws.write_datetime(r, c, v, fmts["datetime"])
    elif isinstance(v, dt.date):
        ws.write_datetime(r, c, dt.datetime(v.year, v.month, v.day), fmts["date"])
    elif isinstance(v, (dt.time, dt.timedelta)):
        ws.write_string(r, c, str(v))
    else:
        ws.write_string(r, c, str(v)[:32767], fmts["text"])


def write_rejects(prep: Prepared, *, now: dt.datetime | None = None,
                  folder: Path | None = None) -> Path:
    """Write the rejects workbook beside the source; returns its path."""
    now = now or dt.datetime.now()
    folder = folder or prep.source.path.resolve().parent
    path = _free_name(folder, now)
    zh = prep.master.lang == "zh"
    rows = prep.source.sheet(prep.sheet).rows
    header = rows[prep.mapping.header_row] if prep.mapping.header_row < len(rows) else []
    by_row = {inc.source_row: inc for inc in prep.incoming}
    rejected = [r for r in prep.plan.results if r.rejected_part]
    try:
        wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False,
                                             "strings_to_urls": False,
                                             "strings_to_numbers": False})
    except OSError as exc:
        raise CrmError(f"无法写入未导入行文件 / cannot write the rejects file {path}: {exc}") from None
    try:
        fmts = {"text": wb.add_format({"num_format": "@", "text_wrap": False}),
                "date": wb.add_format({"num_format": "yyyy-mm-dd"}),
                "datetime": wb.add_format({"num_format": "yyyy-mm-dd hh:mm"}),
                "head": wb.add_format({"bold": True, "bg_color": "#FDE9D9", "border": 1}),
                "reason": wb.add_format({"font_color": "#C00000", "text_wrap": True,
                                         "valign": "top"})}
        ws = wb.add_worksheet("未导入" if zh else "Rejects")
        heads = ["源行号" if zh else "Source row", "原因" if zh else "Reasons",
                 "部分" if zh else "Part"]
        for c, h in enumerate(heads):
            ws.write_string(0, c, h, fmts["head"])
        for c, h in enumerate(header):
            _write(ws, 0, c + len(heads), h if h not in (None, "") else "", fmts)
        ws.set_column(0, 0, 8)
        ws.set_column(1, 1, 50)
        ws.set_column(2, 2, 10)
        ws.freeze_panes(1, 3)
        for i, res in enumerate(rejected, start=1):
            inc = by_row.get(res.source_row)
            part = ("整行" if zh else "row") if res.action == "rejected" else \
                ("跟进记录" if zh else "follow-up")
            ws.write_number(i, 0, res.source_row)
            ws.write_string(i, 1, "；".join(res.reasons()) or "", fmts["reason"])
            ws.write_string(i, 2, part)
            for c, v in enumerate(inc.cells if inc is not None else []):
                v = prohibited.redact(v)
                _write(ws, i, c + len(heads), v, fmts)
        wb.close()
    except Exception:
        path.unlink(missing_ok=True)
        raise
    return path
