"""crm-sheets: a spreadsheet-native CRM engine.

Library entry points: `load(path) -> Workbook`, `validate(workbook, today=...) -> Report`.
"""

from __future__ import annotations

from .reader import load
from .validate import validate

__all__ = ["load", "validate"]
__version__ = "0.1.0"
