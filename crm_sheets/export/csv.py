"""CSV output: UTF-8 with a BOM (Excel then reads Chinese correctly), CRLF rows, every text
cell formula-neutralised (a leading single quote, OWASP) and prohibited numbers masked."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from ..safe_text import csv_cell, neutralise_csv
from . import atomic_path


def write_selection_csv(result: Any, path: Path, **_: Any) -> Path:
    """A QueryResult as CSV with headers in the workbook's language."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", encoding="utf-8-sig", newline="") as fh:
            write_csv(fh, result)
    return path


def write_csv(fh: Any, result: Any) -> None:
    """Write the header and rows of a QueryResult to an open text stream."""
    w = csv.writer(fh, lineterminator="\r\n")
    w.writerow([neutralise_csv(f.header(result.lang)) for f in result.fields])
    for row in result.rows():
        w.writerow([csv_cell(v) for v in row])
