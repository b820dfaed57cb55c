"""Safe write-back to the master workbook (DESIGN §6).

- `locks`: editor lock/owner files and artifacts (`is_editor_artifact`, `lock_holder`).
- `backups`: `create_backup` before every write.
- `atomic`: temp file in the same folder, fsync, `os.replace`, fsync the folder.
- `xlsxpatch`: `patch_workbook` edits only the cells that change, copies the rest.
- `safe`: `safe_patch` ties them together with the audit log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_attrs

if TYPE_CHECKING:
    from .xlsxpatch import CellKey, PatchError, PatchResult, SheetRows, patch_workbook

# Imported on first use (issue 15): `writeback.atomic` is used by every check's state
# files and must not load the xlsx patcher with it.
_LAZY = dict.fromkeys(("CellKey", "PatchError", "PatchResult", "SheetRows", "patch_workbook"),
                      ".xlsxpatch")


__getattr__ = lazy_attrs(__name__, _LAZY, globals())


__all__ = ["CellKey", "PatchError", "PatchResult", "SheetRows", "patch_workbook"]
