"""crm-sheets: a spreadsheet-native CRM engine.

Library entry points: `load(path) -> Workbook`, `validate(workbook, today=...) -> Report`.
"""

from __future__ import annotations

from typing import Any

__all__ = ["load", "validate"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:  # lazy, so importing a submodule stays cheap
    if name == "load":
        from .reader import load

        return load
    if name == "validate":
        from .validate import validate

        return validate
    raise AttributeError(name)
