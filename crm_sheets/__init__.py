"""crm-sheets: a spreadsheet-native CRM engine.

Library entry points: `load(path) -> Workbook`, `validate(workbook, today=...) -> Report`.
They are imported on first use, so `import crm_sheets.<module>` and the CLI start fast.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load", "validate"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "load":
        from .reader import load

        return load
    if name == "validate":
        from .validation import validate

        return validate
    raise AttributeError(f"module 'crm_sheets' has no attribute {name!r}")
