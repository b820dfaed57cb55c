"""`crm import`: bring customers (and follow-ups) from any spreadsheet or CSV into the master.

- `sources.read_source(path)`: xlsx/xls/ods via calamine, csv/txt in UTF-8/BOM/GBK,
  delimiter detected, merged cells filled with their top-left value
- `mapping`: automatic and fuzzy column mapping, mapping files (TOML/YAML)
- `cleaning.clean_rows`: coercion, phones, address splitting, time ranges
- `plan.plan_import`: per row imported / updated / skipped / rejected (pure data)
- `run.run_import` (= `prepare_import` + `execute_import`): rejects file, safe write, apply
"""

from __future__ import annotations

from . import codes  # noqa: F401  (registers the import.* finding codes)
from .cleaning import Incoming, clean_phone, clean_rows, split_address
from .mapping import ColumnMap, find_mapping, load_mapping_file, map_headers, match_header
from .plan import ImportPlan, RowResult, plan_import
from .run import ImportOutcome, Prepared, execute_import, prepare_import, run_import
from .sources import Source, read_source

__all__ = ["ColumnMap", "ImportOutcome", "ImportPlan", "Incoming", "Prepared", "RowResult",
           "Source", "clean_phone", "clean_rows", "execute_import", "find_mapping",
           "load_mapping_file", "map_headers", "match_header", "plan_import", "prepare_import",
           "read_source", "run_import", "split_address"]
