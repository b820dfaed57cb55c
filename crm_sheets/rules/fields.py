"""Rules on single cells: required, parse problems, numbers, phones, emails, dropdowns, IDs."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Iterator
from functools import lru_cache
from operator import attrgetter

from .. import phones
from ..choices import canonical
from ..coerce import to_text
from ..findings import Finding
from ..model import Table, Workbook
from ..schema import Kind
from .columns import columns, where
from .registry import Context, rule

_EMAIL_FAST = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
CUSTOMER_ID = re.compile(r"C(\d{8})(\d{3,})")
FOLLOWUP_ID = re.compile(r"F(\d{8})(\d{4,})")
# A real day as 8 ASCII digits YYYYMMDD (year 0001-9999; 29 February in leap years only):
# a value `_id_date_ok` accepts (test_rules_exact checks every day of 1,600 years).
_DAY = (r"(?:(?!0000)[0-9]{4}(?:(?:0[13578]|1[02])(?:0[1-9]|[12][0-9]|3[01])"
        r"|(?:0[469]|11)(?:0[1-9]|[12][0-9]|30)|02(?:0[1-9]|1[0-9]|2[0-8]))"
        r"|(?:[0-9]{2}(?:0[48]|[2468][048]|[13579][26])|(?:0[48]|[2468][048]|[13579][26])00)0229)")
# Whole columns of well-formed IDs with real days, one a line: what `_check_ids` accepts.
_COLUMN_OK = {CUSTOMER_ID: re.compile(rf"(?:C{_DAY}[0-9]{{3,}}\n)*C{_DAY}[0-9]{{3,}}"),
              FOLLOWUP_ID: re.compile(rf"(?:F{_DAY}[0-9]{{4,}}\n)*F{_DAY}[0-9]{{4,}}")}


def _tables(wb: Workbook):
    return (wb.customers, wb.followups)


@rule("parse", scope="row")
def parse_problems(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    """Values the reader could not coerce (a date that is not a date, …)."""
    for table in _tables(wb):
        recs = table.records
        for i in where(map(attrgetter("problems"), recs)):  # records with problems
            rec = recs[i]
            for key, code in rec.problems.items():
                yield ctx.finding(code if code != "value.invalid" else "number.invalid", table, rec, key,
                                  header=ctx.header(table, key), value=to_text(rec.raw.get(key)))


@rule("required", scope="row")
def required(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    for table in _tables(wb):
        keys = [f.key for f in table.schema.fields if f.required and not f.engine]
        for rec in table.records:  # one pass: most of these columns no other rule reads
            for key in keys:
                if rec.values.get(key) is None and key not in rec.problems:
                    yield ctx.finding("required.missing", table, rec, key, header=ctx.header(table, key))


@rule("non_negative", scope="row")
def non_negative(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    for table in _tables(wb):
        keys = [f.key for f in table.schema.fields if f.kind in (Kind.INT, Kind.NUMBER)]
        for rec in table.records:  # one pass: three gets a record beat three column reads
            for key in keys:
                v = rec.values.get(key)
                if v is not None and v < 0:
                    yield ctx.finding("number.negative", table, rec, key, header=ctx.header(table, key),
                                      value=to_text(v))


@rule("phone", scope="row")
def phone(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    table = wb.customers
    for rec in table.records:
        v = rec.values.get("phone")
        if v and not phones.is_valid(v):
            yield ctx.finding("phone.invalid", table, rec, "phone", header=ctx.header(table, "phone"), value=v)


def email_ok(value: str) -> bool:
    if _EMAIL_FAST.fullmatch(value):
        return True
    # only past the fast check: email_validator costs ~20 ms to import (issue 15)
    from email_validator import EmailNotValidError, validate_email

    try:
        validate_email(value, check_deliverability=False)
        return True
    except EmailNotValidError:
        return False


@rule("email", scope="row")
def email(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    table = wb.customers
    for rec in table.records:
        v = rec.values.get("email")
        if v and not email_ok(v):
            yield ctx.finding("email.invalid", table, rec, "email", header=ctx.header(table, "email"), value=v)


@rule("choices", scope="row")
def choices(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    """Dropdown values must come from Lists; owners must be known owners."""
    service = set(wb.lists.get("service", []))
    for table in _tables(wb):
        for f in table.schema.fields:
            if not f.choices or f.engine:
                continue
            allowed = set(wb.lists.get(f.choices, []))
            if f.choices == "owners":
                allowed |= service if table is wb.followups else set()
                if not wb.lists.get("owners"):
                    continue  # no owners listed yet: nothing to check against
            shown = "、".join(wb.lists.get(f.choices, [])[:12])
            listed = wb.lists.get(f.choices, [])
            recs = table.records
            try:  # records holding a value not allowed (each distinct value tested once)
                col = columns(ctx, table).col(f.key)
                out = set(col).difference(allowed)
                out.discard(None)
                todo = where(map(out.__contains__, col)) if out else []
            except Exception:  # noqa: BLE001 - the loop below meets it as it always did
                todo = range(len(recs))
            for i in todo:
                rec = recs[i]
                v = rec.values.get(f.key)
                if v is None or v in allowed:
                    continue
                if f.choices == "owners":
                    yield ctx.finding("owner.unknown", table, rec, f.key, header=f.header(ctx.lang), value=v)
                elif (c := canonical(f.choices, v, listed)) is not None:
                    # 零售业 for 零售, 展会 for 展会推荐: a hint naming the list's value, which
                    # `crm apply` writes (crm_sheets/choices.py)
                    yield ctx.finding("choice.synonym", table, rec, f.key, header=f.header(ctx.lang),
                                      value=v, canonical=c)
                else:
                    yield ctx.finding("choice.invalid", table, rec, f.key, header=f.header(ctx.lang), value=v,
                                      allowed=shown)


@lru_cache(maxsize=8192)
def _id_date_ok(digits: str) -> bool:
    try:
        dt.date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
        return True
    except ValueError:
        return False


def _id_suspects(ctx: Context, table: Table, key: str, pattern: re.Pattern[str]) -> Iterable[int]:
    """Records whose ID may be reported: malformed, a bad date or used twice (a superset;
    every record when a value is not text)."""
    recs = table.records
    try:
        col = columns(ctx, table).col(key)
        texts = list(filter(None, col))
        joined = "\n".join(texts)  # TypeError unless all texts
        distinct = set(texts)
        if (len(distinct) == len(texts) and joined.count("\n") == len(texts) - 1
                and _COLUMN_OK[pattern].fullmatch(joined)):
            return []  # each value one line, every line a well-formed ID, none used twice
        seen: set[str] = set()
        twice = {v for v in texts if v in seen or seen.add(v)}  # type: ignore[func-returns-value]
        wrong = {v for v in distinct if not ((m := pattern.fullmatch(v)) and _id_date_ok(m.group(1)))}
        odd = twice | wrong
        return where(map(odd.__contains__, col)) if odd else []
    except Exception:  # noqa: BLE001 - the loop below meets it as it always did
        return range(len(recs))


def _check_ids(ctx: Context, table, key: str, pattern: re.Pattern[str], invalid: str, dup: str):
    seen: dict[str, int] = {}
    recs = table.records
    for i in _id_suspects(ctx, table, key, pattern):
        rec = recs[i]
        v = rec.values.get(key)
        if not v:
            continue
        m = pattern.fullmatch(v)
        if not m or not _id_date_ok(m.group(1)):
            yield ctx.finding(invalid, table, rec, key, value=v)
            continue
        if v in seen:
            yield ctx.finding(dup, table, rec, key, value=v, other_row=seen[v])
        else:
            seen[v] = rec.row


@rule("customer_id", reads=("customers.customer_id", "customers.@row"))
def customer_id(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    yield from _check_ids(ctx, wb.customers, "customer_id", CUSTOMER_ID, "customer_id.invalid",
                          "customer_id.duplicate")


@rule("followup_id", reads=("followups",))
def followup_id(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    yield from _check_ids(ctx, wb.followups, "followup_id", FOLLOWUP_ID, "followup_id.invalid",
                          "followup_id.duplicate")
