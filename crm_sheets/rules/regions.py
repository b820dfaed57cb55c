"""Province / city / district must be real divisions and agree with each other."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from ..divisions import Divisions, load_divisions
from ..findings import Finding
from ..model import Workbook
from .columns import columns, where
from .registry import Context, rule


def _odd_places(ctx: Context, div: Divisions) -> Iterable[int]:
    """Records whose (province, city, district) the rule may report on: each distinct
    triple is checked once (every record when a value is not text)."""
    table = ctx.wb.customers
    try:
        cols = columns(ctx, table)
        triples = list(zip(*(cols.col(k) for k in ("province", "city", "district")), strict=True))
        odd = {t for t in set(triples) if not _fine(div, *t)}
        return where(map(odd.__contains__, triples)) if odd else []
    except Exception:  # noqa: BLE001 - the loop below meets it as it always did
        return range(len(table.records))


def _fine(div: Divisions, p_raw: Any, c_raw: Any, d_raw: Any) -> bool:
    """True when the rule reports nothing on these values (False when it may)."""
    if not (p_raw or c_raw or d_raw):
        return True
    if not (p_raw and type(p_raw) is str and (c_raw is None or type(c_raw) is str)
            and (d_raw is None or type(d_raw) is str)):
        return False
    prov = div.province(p_raw)
    if prov is None or not c_raw:
        return prov is not None and not d_raw
    city = div.city(prov, c_raw)
    if city is None:
        return False
    return not d_raw or div.district(prov, city, d_raw) is not None


@rule("region", scope="row")
def region(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    div = load_divisions()
    table = wb.customers
    zh = ctx.lang == "zh"
    recs = table.records
    for i in _odd_places(ctx, div):
        rec = recs[i]
        p_raw, c_raw, d_raw = (rec.values.get(k) for k in ("province", "city", "district"))
        if not (p_raw or c_raw or d_raw):
            continue
        if not p_raw:
            have = [ctx.header(table, k) for k, v in (("city", c_raw), ("district", d_raw)) if v]
            yield ctx.finding("region.incomplete", table, rec, "province", have="、".join(have) if zh else ", ".join(have),
                              missing=ctx.header(table, "province"))
            continue
        prov = div.province(p_raw)
        if prov is None:
            yield ctx.finding("region.province_unknown", table, rec, "province", value=p_raw)
            continue
        if not c_raw:
            if d_raw:
                yield ctx.finding("region.incomplete", table, rec, "city", have=ctx.header(table, "district"),
                                  missing=ctx.header(table, "city"))
            continue
        city = div.city(prov, c_raw)
        if city is None:
            yield ctx.finding("region.city_unknown", table, rec, "city", value=c_raw, province=prov)
            continue
        if d_raw and div.district(prov, city, d_raw) is None:
            districts = div.tree[prov][city]
            if districts or d_raw not in (city,):
                yield ctx.finding("region.district_unknown", table, rec, "district", value=d_raw,
                                  parent=city if city != prov else prov)
