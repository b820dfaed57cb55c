"""Province / city / district must be real divisions and agree with each other."""

from __future__ import annotations

from collections.abc import Iterator

from ..divisions import load_divisions
from ..findings import Finding
from ..model import Workbook
from .registry import Context, rule


@rule("region", scope="row")
def region(wb: Workbook, ctx: Context) -> Iterator[Finding]:
    div = load_divisions()
    table = wb.customers
    zh = ctx.lang == "zh"
    for rec in table.records:
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
