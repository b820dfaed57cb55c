"""Load the master for an import: like `reader.load`, but the Followups sheet is only
parsed when the source brings follow-ups (at 150k follow-ups that halves the read)."""

from __future__ import annotations

from pathlib import Path

from ..errors import CrmError
from ..findings import make
from ..model import Workbook, default_settings, empty_table
from ..reader import (
    _date1904,
    canonical_sheets,
    load,
    open_calamine,
    read_lists,
    read_meta,
    read_not_duplicates,
    read_settings,
    read_sheet_rows,
    read_table,
)
from ..safezip import check_xlsx
from ..schema import CUSTOMERS, DEFAULT_LISTS, FOLLOWUPS, SHEET_LISTS, SHEET_META, SHEET_SETTINGS


def load_master(path: str | Path, *, followups: bool = True) -> Workbook:
    """The master workbook; with `followups=False` its Followups table has no records.

    The Followups sheet must still exist (a master without it is refused as by `load`).
    """
    if followups:
        return load(path)
    p = Path(path)
    check_xlsx(p)
    cwb = open_calamine(p)
    try:
        names = list(cwb.sheet_names)
        sheets = canonical_sheets(names)
        for needed, zh in ((CUSTOMERS.name, CUSTOMERS.zh), (FOLLOWUPS.name, FOLLOWUPS.zh)):
            if needed not in sheets:
                raise CrmError(f"缺少工作表 '{needed}'（{zh}）/ {p.name} has no '{needed}' sheet "
                               f"(sheets: {', '.join(names)})")
        date1904 = _date1904(p, None)
        cust, lang, notes = read_table(read_sheet_rows(cwb, sheets["Customers"], p), CUSTOMERS,
                                       sheets["Customers"], date1904, p)
        fol = empty_table(FOLLOWUPS)
        fol.sheet_name = sheets["Followups"]
        lists = read_lists(read_sheet_rows(cwb, sheets[SHEET_LISTS], p)) \
            if SHEET_LISTS in sheets else {k: list(v) for k, v in DEFAULT_LISTS.items()}
        settings, s_notes = (read_settings(read_sheet_rows(cwb, sheets[SHEET_SETTINGS], p), lang)
                             if SHEET_SETTINGS in sheets else (default_settings(), []))
        meta = read_meta(read_sheet_rows(cwb, sheets[SHEET_META], p)) \
            if SHEET_META in sheets else {}
        nd = (read_not_duplicates(read_sheet_rows(cwb, sheets["NotDuplicates"], p), date1904, p)
              if "NotDuplicates" in sheets else [])
    finally:
        cwb.close()
    problems = list(s_notes)
    for code, params in notes:
        problems.append(make(code, lang, sheet=CUSTOMERS.name, row=params.pop("row"), **params))
    return Workbook(path=p, lang=lang, customers=cust, followups=fol, lists=lists,
                    settings=settings, meta=meta, not_duplicates=nd, sheet_names=names,
                    problems=problems)
