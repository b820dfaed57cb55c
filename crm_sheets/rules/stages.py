"""Pipeline rules: customer type agrees with stage; a lost customer has a reason."""

from __future__ import annotations

from collections.abc import Iterator

from ..findings import Finding
from ..model import Workbook
from ..schema import STAGE_TYPE
from .registry import Context, rule


@rule("stage_type", scope="row")
def stage_type(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    table = wb.customers
    for rec in table.records:
        stage, ctype = rec.values.get("stage"), rec.values.get("customer_type")
        expected = STAGE_TYPE.get(stage or "")
        if expected and ctype and ctype != expected:
            yield ctx.finding("stage.type_mismatch", table, rec, "customer_type", value=ctype, stage=stage,
                              expected=expected)


@rule("lost_reason", scope="row")
def lost_reason(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    table = wb.customers
    for rec in table.records:
        if rec.values.get("stage") == "流失" and not rec.values.get("lost_reason"):
            yield ctx.finding("stage.lost_reason_missing", table, rec, "lost_reason")
