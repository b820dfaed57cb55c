"""Safe write-back to the master workbook (DESIGN §6).

- `locks`: editor lock/owner files and artifacts (`is_editor_artifact`, `lock_holder`).
- `backups`: `create_backup` before every write.
- `atomic`: temp file in the same folder, fsync, `os.replace`, fsync the folder.
- `xlsxpatch`: `patch_workbook` edits only the cells that change, copies the rest.
- `safe`: `safe_patch` ties them together with the audit log.
"""

from __future__ import annotations

from .xlsxpatch import CellKey, PatchError, PatchResult, SheetRows, patch_workbook

__all__ = ["CellKey", "PatchError", "PatchResult", "SheetRows", "patch_workbook"]
