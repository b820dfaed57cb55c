"""Rules on follow-ups and dates: references, time order, ownership, timeliness, no future dates."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from functools import partial
from operator import is_not, ne
from typing import Any

from ..findings import Finding
from ..model import Workbook
from .columns import columns, where
from .registry import Context, rule


def _fmt(v: dt.date | dt.datetime) -> str:
    if isinstance(v, dt.datetime):
        return v.strftime("%Y-%m-%d %H:%M") if (v.hour or v.minute) else v.strftime("%Y-%m-%d")
    return v.isoformat()


@rule("followup_customer", reads=("followups", "customers.customer_id"))
def followup_customer(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    table = wb.followups
    recs = table.records
    try:  # records naming a customer ID no customer has (each distinct ID looked up once)
        col = columns(ctx, table).col("customer_id")
        unknown = set(col).difference(columns(ctx, wb.customers).col("customer_id"))
        todo: Iterable[int] = where(map(unknown.__contains__, col)) if any(unknown) else []
    except Exception:  # noqa: BLE001 - the loop below meets it as it always did
        todo = range(len(recs))
    if not todo:
        return
    known = ctx.customers_by_id
    for i in todo:
        rec = recs[i]
        cid = rec.values.get("customer_id")
        if cid and cid not in known:
            f = ctx.finding("followup.customer_unknown", table, rec, "customer_id", value=cid)
            yield f


@rule("followup_times", scope="row")
def followup_times(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    table = wb.followups
    for rec in table.records:
        start, end, nxt = rec.values.get("start"), rec.values.get("end"), rec.values.get("next_date")
        if start and end and end < start:
            yield ctx.finding("followup.end_before_start", table, rec, "end", start=_fmt(start), end=_fmt(end))
        if start and nxt and nxt < start.date():
            yield ctx.finding("followup.next_before_start", table, rec, "next_date", start=_fmt(start),
                              next=_fmt(nxt))


@rule("followup_owner", reads=("followups", "customers.customer_id", "customers.owner"))
def followup_owner(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    """同一客户由专人负责跟进: a follow-up by someone else is a warning, unless they are service."""
    table = wb.followups
    service = set(wb.lists.get("service", []))
    recs = table.records
    try:  # records whose owner is neither service nor the first such customer's owner
        cust = columns(ctx, wb.customers)
        first_owner = dict(zip(reversed(cust.col("customer_id")), reversed(cust.col("owner")), strict=True))
        cols = columns(ctx, table)
        whos = cols.col("owner")
        expected = map(first_owner.get, cols.col("customer_id"))
        todo: Iterable[int] = where(map(ne, whos, map({s: s for s in service}.get, whos, expected)))
    except Exception:  # noqa: BLE001 - the loop below meets it as it always did
        todo = range(len(recs))
    if not todo:
        return
    known = ctx.customers_by_id
    for i in todo:
        rec = recs[i]
        who, cust = rec.values.get("owner"), known.get(rec.values.get("customer_id") or "")
        if not who or cust is None or who in service:
            continue
        owner = cust.values.get("owner")
        if owner and who != owner:
            yield ctx.finding("followup.not_owner", table, rec, "owner", value=who, owner=owner)


@rule("timeliness", scope="row")
def timeliness(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    """A follow-up recorded more than `timeliness_hours` after the contact ended."""
    table = wb.followups
    limit = wb.settings.get("timeliness_hours", 24)
    try:  # follow-ups that existed when the engine first ran were not entered late
        baseline = dt.datetime.fromisoformat(wb.meta["baseline_at"])
    except (KeyError, ValueError):
        baseline = None
    for rec in table.records:
        recorded = rec.values.get("recorded_at")
        ended = rec.values.get("end") or rec.values.get("start")
        if recorded and ended and (baseline is None or recorded > baseline):
            hours = (recorded - ended).total_seconds() / 3600
            if hours > limit:
                yield ctx.finding("followup.late_entry", table, rec, "recorded_at", hours=int(hours), limit=limit)


def _may_be_future(col: list[Any], today: dt.date) -> bool:
    """False when no value of the column is a day after `today`: all dates (or all
    datetimes) and the latest is not; True when one may be (the rule's loop decides)."""
    vals = list(filter(partial(is_not, None), col))
    if not vals:
        return False
    kinds = set(map(type, vals))
    if kinds != {dt.date} and kinds != {dt.datetime}:
        return True
    latest = max(vals)
    return (latest.date() if kinds == {dt.datetime} else latest) > today


@rule("future_dates", scope="row")
def future_dates(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    """Dates that record the past (first contact, a contact's start) cannot be after today."""
    for table, keys in ((wb.customers, ("first_contact",)), (wb.followups, ("start",))):
        if not any(_may_be_future(columns(ctx, table).col(k), ctx.today) for k in keys):
            continue
        for rec in table.records:
            for key in keys:
                v = rec.values.get(key)
                if v is None:
                    continue
                day = v.date() if isinstance(v, dt.datetime) else v
                if day > ctx.today:
                    yield ctx.finding("date.future", table, rec, key, header=ctx.header(table, key), value=_fmt(v))
