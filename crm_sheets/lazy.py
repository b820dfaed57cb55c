"""Package attributes imported on first use (issue 15: start-up without unused modules)."""

from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import Any


def lazy_attrs(
    package: str, table: dict[str, str], namespace: dict[str, Any]
) -> Callable[[str], Any]:
    """A module `__getattr__` for `package`: name -> the submodule (".rules") it comes from.

    The first access imports the submodule and keeps the value in the package's namespace,
    so later accesses are plain attribute reads.
    """

    def __getattr__(name: str) -> Any:
        if name not in table:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(import_module(table[name], package), name)
        namespace[name] = value
        return value

    return __getattr__
