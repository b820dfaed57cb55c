"""Validation rules; importing this package registers every rule module."""

from . import duplicates, fields, followups, prohibited_data, regions, stages  # noqa: F401
from .registry import RULES, Context, Rule, rule

__all__ = ["RULES", "Context", "Rule", "rule"]
