"""Command line entry point: which module defines each command (imported on first use).

One line per command so engineers adding commands in parallel never collide.
"""

from __future__ import annotations

from .app import CrmGroup, cli

CrmGroup.lazy = {
    "init": "core_cmds",
    "validate": "core_cmds",
    "demo": "core_cmds",
    "user": "user_cmds",
    "login": "user_cmds",
    "logout": "user_cmds",
    "whoami": "user_cmds",
    "dedupe": "dedupe_cmd",
    "apply": "apply_cmd",
    "merge-customers": "apply_cmd",
    "query": "report_cmds",
    "export": "report_cmds",
    "dashboard": "report_cmds",
    "views": "views_cmd",
    "import": "import_cmd",
    "watch": "watch_cmd",
    "backup": "backup_cmd",
    "audit": "audit_cmd",
    "serve": "serve_cmd",
}


def main() -> None:
    cli(prog_name="crm")
