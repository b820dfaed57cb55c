"""Command line entry point: importing the command modules registers them on `cli`.

One import line per command module (isort is off for this file so parallel edits
never collide).
"""

from __future__ import annotations

from . import core_cmds  # noqa: F401
from . import user_cmds  # noqa: F401
from . import dedupe_cmd  # noqa: F401
from . import apply_cmd  # noqa: F401
from . import report_cmds  # noqa: F401  (query, export, dashboard)
from . import views_cmd  # noqa: F401  (views build / mine / merge)
from . import import_cmd  # noqa: F401
from . import watch_cmd  # noqa: F401
from . import backup_cmd  # noqa: F401
from .app import cli


def main() -> None:
    cli(prog_name="crm")
