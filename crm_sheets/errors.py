"""Exceptions for "cannot continue": each is shown to a user as one clear line."""

from __future__ import annotations


class CrmError(Exception):
    """Bad usage or unreadable input: the CLI prints the message and exits 2."""

    exit_code = 2


class Refused(CrmError):
    """The action was refused (permissions, a workbook open in an editor): exit 1."""

    exit_code = 1


class WorkbookLocked(Refused):
    """An editor holds the workbook open (owner or lock file present)."""
