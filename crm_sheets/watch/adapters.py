"""Guarded hooks into modules built in parallel (controlled-mode merge, shared-mode checks).

`crm_sheets.views` provides `merge_view`, `shared_mode_check` and `last_modified_by`.
The watcher calls them through `Hooks`, resolved at call time, so it runs (and is
tested with stubs) whether or not that module exists yet. `last_modified_by` has a
small fallback here: docProps/core.xml `cp:lastModifiedBy`.
"""

from __future__ import annotations

import importlib
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from defusedxml import ElementTree as SafeET

MergeFn = Callable[..., Any]
SharedCheckFn = Callable[..., list]
AuthorFn = Callable[[Path], str | None]


def _views_attr(name: str) -> Callable[..., Any] | None:
    try:
        mod = importlib.import_module("crm_sheets.views")
    except ImportError:
        return None
    fn = getattr(mod, name, None)
    return fn if callable(fn) else None


def docprops_last_modified_by(path: Path) -> str | None:
    """`cp:lastModifiedBy` of an xlsx (docProps/core.xml), or None."""
    try:
        with zipfile.ZipFile(path) as zf:
            info = zf.getinfo("docProps/core.xml")
            if info.file_size > 1 << 20:
                return None
            root = SafeET.fromstring(zf.read(info))
    except Exception:  # noqa: BLE001 - missing or damaged properties: author unknown
        return None
    for el in root.iter():
        if el.tag.rsplit("}", 1)[-1] == "lastModifiedBy":
            text = (el.text or "").strip()
            return text or None
    return None


@dataclass
class Hooks:
    """The functions the watcher calls; None means "look in crm_sheets.views"."""

    merge_view: MergeFn | None = None
    shared_mode_check: SharedCheckFn | None = None
    last_modified_by: AuthorFn | None = None

    def merge(self) -> MergeFn | None:
        return self.merge_view or _views_attr("merge_view")

    def shared_check(self) -> SharedCheckFn | None:
        return self.shared_mode_check or _views_attr("shared_mode_check")

    def author(self, path: Path) -> str | None:
        fn = self.last_modified_by or _views_attr("last_modified_by") or docprops_last_modified_by
        try:
            name = fn(Path(path))
        except Exception:  # noqa: BLE001 - attribution is best effort
            name = docprops_last_modified_by(Path(path))
        return str(name).strip() or None if name else None
