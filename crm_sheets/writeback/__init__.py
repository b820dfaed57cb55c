"""Safe write-back to the master workbook (DESIGN §6).

- `locks`: editor lock/owner files and artifacts (`is_editor_artifact`, `lock_holder`).
- `backups`: `create_backup` before every write.
- `atomic`: temp file in the same folder, fsync, `os.replace`, fsync the folder.
- `xlsxpatch`: `patch_workbook` edits only the cells that change, copies the rest.
- `safe`: `safe_patch` ties them together with the audit log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .xlsxpatch import CellKey, PatchError, PatchResult, SheetRows, patch_workbook

# Imported on first use (issue 15): `writeback.atomic` is used by every check's state
# files and must not load the xlsx patcher with it.
_LAZY = dict.fromkeys(("CellKey", "PatchError", "PatchResult", "SheetRows", "patch_workbook"),
                      ".xlsxpatch")


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    value = getattr(import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


__all__ = ["CellKey", "PatchError", "PatchResult", "SheetRows", "patch_workbook"]
