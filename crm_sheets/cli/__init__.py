"""Command line entry point: importing the command modules registers them on `cli`."""

from __future__ import annotations

from . import (
    apply_cmd,  # noqa: F401
    core_cmds,  # noqa: F401
    report_cmds,  # noqa: F401  (query, export, dashboard)
    user_cmds,  # noqa: F401
)
from . import dedupe_cmd  # noqa: F401
from .app import cli


def main() -> None:
    cli(prog_name="crm")
