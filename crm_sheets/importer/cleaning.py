"""Turn mapped source rows into clean field values, keeping what could not be cleaned.

Every value goes through the reader's coercion for its field kind (Chinese and
squashed dates, full-width characters, numbers stored as text); phones are
normalised; a combined address is split into province/city/district with the
divisions data; a combined time such as `2024-03-15 14:00-15:00` becomes start and
end. A value that does not coerce is kept as typed with a problem code, so the row
can still be imported (and flagged) or rejected with its reason — never lost.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from .. import coerce
from ..divisions import load_divisions
from ..phones import _MOBILE, _SPLIT
from ..phones import normalize as normalize_phone
from ..reader import Bad, column_converter, is_blank
from ..schema import CUSTOMERS, FOLLOWUPS, Kind
from .mapping import ADDRESS, FU, ColumnMap, Mapping_

_WS = " \t\r\n\u3000"


@dataclass(slots=True)
class Incoming:
    """One source row after cleaning."""

    source_row: int  # 1-based row number in the source sheet (what the user sees)
    cells: list[Any]  # the source row as read (for the rejects file)
    values: dict[str, Any]  # customer field -> value (None when blank)
    raw: dict[str, Any] = field(default_factory=dict)  # field -> value as typed, when it differs
    problems: dict[str, str] = field(default_factory=dict)  # field -> coercion problem code
    fu_values: dict[str, Any] = field(default_factory=dict)  # follow-up field -> value
    fu_raw: dict[str, Any] = field(default_factory=dict)
    fu_problems: dict[str, str] = field(default_factory=dict)
    notes: list[tuple[str, str | None, dict[str, Any]]] = field(default_factory=list)

    @property
    def has_followup(self) -> bool:
        return any(v is not None for v in self.fu_values.values()) or bool(self.fu_problems)


# ---- phones ------------------------------------------------------------------------------


def clean_phone(value: Any) -> str | None:
    """Half-width, mobiles as 11 digits (no +86, spaces or dashes); several joined with ' / '."""
    if value is None:
        return None
    s = coerce.halfwidth(value if isinstance(value, str) else coerce.to_text(value))
    if not s:
        return None
    out = []
    for part in _SPLIT.split(s):
        part = part.strip()
        if not part:
            continue
        n = normalize_phone(part)
        m = n[3:] if n.startswith("+86") else n
        out.append(m if len(m) == 11 and _MOBILE.fullmatch(m) else part)
    return " / ".join(out) or None


# ---- addresses -----------------------------------------------------------------------------


@dataclass(frozen=True)
class _AddrIndex:
    province: dict[str, str]
    city: dict[str, list[tuple[str, str]]]
    district: dict[str, list[tuple[str, str, str]]]


@cache
def _addr_index() -> _AddrIndex:
    d = load_divisions()
    city: dict[str, list[tuple[str, str]]] = {}
    for p, aliases in d.city_alias.items():
        for a, c in aliases.items():
            if len(a) >= 2:
                city.setdefault(a, []).append((p, c))
    district: dict[str, list[tuple[str, str, str]]] = {}
    for (p, c), aliases in d.district_alias.items():
        for a, dist in aliases.items():
            if len(a) >= 2:
                district.setdefault(a, []).append((p, c, dist))
    prov = {a: p for a, p in d.province_alias.items() if len(a) >= 2}
    return _AddrIndex(prov, city, district)


_NOT_AFTER_SHORT = set("区县旗镇乡路街道巷弄号村大")


def _prefix(s: str, table: dict[str, Any], longest: int = 12) -> tuple[str, Any] | None:
    """The longest key of `table` that starts `s`; a short form (朝阳) must not run on into
    a longer name (朝阳区, 山西路)."""
    for n in range(min(len(s), longest), 1, -1):
        hit = table.get(s[:n])
        if hit is not None:
            full = hit if isinstance(hit, str) else (hit[0][-1] if isinstance(hit, list) else "")
            if full != s[:n] and s[n:n + 1] in _NOT_AFTER_SHORT:
                continue
            return s[:n], hit
    return None


_LEAD = re.compile(r"^[\s,，、;；:：\-]+")


@cache
def split_address(text: str) -> tuple[str | None, str | None, str | None, str]:
    """'北京市海淀区中关村大街1号' -> ('北京市', '北京市', '海淀区', '中关村大街1号').

    Province, city and district are canonical names (or None when not found); the
    last item is what is left of the text.
    """
    div = load_divisions()
    idx = _addr_index()
    s = coerce.halfwidth(text).replace(" ", "")
    prov = city = dist = None
    hit = _prefix(s, idx.province)
    if hit:
        prov = hit[1]
        s = s[len(hit[0]):]
    if prov is not None:
        c_hit = _prefix(s, div.city_alias.get(prov, {}))
        if c_hit and len(c_hit[0]) >= 2:
            city = c_hit[1]
            s = s[len(c_hit[0]):]
        elif list(div.tree.get(prov, {})) == [prov]:  # 北京市, 上海市 ...: the city is the province
            city = prov
    else:
        c_hit = _prefix(s, idx.city)
        if c_hit and len(c_hit[1]) == 1:
            prov, city = c_hit[1][0]
            s = s[len(c_hit[0]):]
    if prov is not None and city is not None:
        d_hit = _prefix(s, div.district_alias.get((prov, city), {}))
        if d_hit and len(d_hit[0]) >= 2:
            dist = d_hit[1]
            s = s[len(d_hit[0]):]
    elif prov is None:
        d_hit = _prefix(s, idx.district)
        if d_hit and len(d_hit[1]) == 1:
            prov, city, dist = d_hit[1][0]
            s = s[len(d_hit[0]):]
    return prov, city, dist, _LEAD.sub("", s)


def canonical_region(values: dict[str, Any]) -> None:
    """Short forms to official names (广东 -> 广东省), a missing province from a unique city.

    Values that are not real divisions are left as typed (validation reports them).
    """
    div = load_divisions()
    p, c, d = (values.get(k) for k in ("province", "city", "district"))
    prov = div.province(p) if isinstance(p, str) else None
    if isinstance(p, str) and prov is None and len(p) > 3:  # 广东省深圳市 in the province column
        sp, sc, sd, rest = split_address(p)
        if sp is not None and not rest:
            prov = sp
            if sc and not c:
                c = values["city"] = sc
            if sd and not d:
                d = values["district"] = sd
    if prov is not None:
        values["province"] = prov
    if isinstance(c, str):
        if prov is None and not p:
            cands = {pc for pc in div.find_city(c)}
            if len(cands) == 1:
                prov = next(iter(cands))[0]
                values["province"] = prov
        if prov is not None:
            city = div.city(prov, c)
            if city is None and len(c) > 3:  # 深圳市南山区 in the city column
                sp, sc, sd, rest = split_address(prov + c if not c.startswith(prov) else c)
                if sp == prov and sc and not rest:
                    city = sc
                    if sd and not d:
                        d = values["district"] = sd
            if city is not None:
                values["city"] = city
                if isinstance(d, str):
                    dist = div.district(prov, city, d)
                    if dist is not None:
                        values["district"] = dist
    elif prov is not None and list(div.tree.get(prov, {})) == [prov]:  # 北京市: city = province
        values["city"] = prov
        if isinstance(d, str):
            dist = div.district(prov, prov, d)
            if dist is not None:
                values["district"] = dist


# ---- rows ---------------------------------------------------------------------------------


def _text_join(parts: Sequence[str]) -> str | None:
    parts = [p for p in parts if p]
    return "；".join(parts) if parts else None


def _converter(target: str, date1904: bool) -> Callable[[Any], Any]:
    if target == "phone":
        return clean_phone
    if target.startswith(FU):
        f = FOLLOWUPS.field(target[len(FU):])
    elif target == ADDRESS:
        return column_converter(Kind.TEXT, date1904)
    else:
        f = CUSTOMERS.field(target)
    if f.kind is Kind.DATETIME:
        return column_converter(Kind.DATETIME, date1904)
    return column_converter(f.kind, date1904)


_FIELD, _PHONE, _NOTES, _ADDR = range(4)


def _blank_row(row: list[Any]) -> bool:
    return all(is_blank(c) for c in row)


def clean_rows(rows: list[list[Any]], mapping: Mapping_, *, date1904: bool = False,
               keep_unknown: bool = False, defaults: dict[str, Any] | None = None,
               lang: str = "zh") -> list[Incoming]:
    """Clean every data row below the header (blank rows and repeated headers are skipped)."""
    defaults = defaults or {}
    used = mapping.used()
    unknown: list[ColumnMap] = [c for c in mapping.columns if c.how in ("unknown", "duplicate")] \
        if keep_unknown else []
    convs = {c.index: _converter(c.target, date1904) for c in used if c.target}
    default_vals: dict[str, Any] = {}
    for t, v in defaults.items():
        conv = _converter(t, date1904)
        default_vals[t] = conv(v)
    region_defaults = any(t in ("province", "city", "district") for t in default_vals)
    header_folded = [coerce.to_text(c).strip() for c in rows[mapping.header_row]] \
        if mapping.header_row < len(rows) else []
    plan = []
    for c in used:
        t = c.target or ""
        kind = _PHONE if t == "phone" else _NOTES if t == "notes" else _ADDR if t == ADDRESS \
            else _FIELD
        is_fu = t.startswith(FU)
        plan.append((c.index, kind, t[len(FU):] if is_fu else t, is_fu, convs[c.index]))
    probe_col = used[0].index if used else 0
    header_cells = rows[mapping.header_row] if mapping.header_row < len(rows) else []
    probe_val = header_cells[probe_col] if probe_col < len(header_cells) else None
    out: list[Incoming] = []
    customer_keys = [f.key for f in CUSTOMERS.fields if not f.engine] + ["customer_id"]
    label = "地址" if lang == "zh" else "Address"
    for i in range(mapping.header_row + 1, len(rows)):
        row = rows[i]
        if _blank_row(row):
            continue
        if probe_col < len(row) and row[probe_col] == probe_val and \
                [coerce.to_text(c).strip() for c in row] == header_folded:
            continue  # a header repeated inside the data (concatenated exports)
        inc = Incoming(source_row=i + 1, cells=row, values=dict.fromkeys(customer_keys))
        phones: list[str] = []
        notes: list[str] = []
        address: str | None = None
        values, fu_values = inc.values, inc.fu_values
        for ci, kind, key, is_fu, conv in plan:
            v = row[ci] if ci < len(row) else None
            if v is None or v == "":
                continue
            val = conv(v)
            if val is None:
                continue
            if kind == _PHONE:
                phones.append(val)
                continue
            if kind == _NOTES:
                notes.append(str(val))
                continue
            if kind == _ADDR:
                address = val if address is None else f"{address} {val}"
                continue
            tv = type(val)
            if tv is str:
                (fu_values if is_fu else values)[key] = val
                continue
            if tv is Bad:
                if is_fu:
                    inc.fu_raw[key], inc.fu_problems[key] = val.raw, val.code
                else:
                    inc.raw[key], inc.problems[key] = val.raw, val.code
                continue
            store = fu_values if is_fu else values
            if tv is tuple:  # a datetime with an optional end on the same day
                val, end = val
                if key == "start" and end is not None and store.get("end") is None:
                    store["end"] = end
            store[key] = val
            if type(v) is str:
                (inc.fu_raw if is_fu else inc.raw)[key] = v
        if phones:
            inc.values["phone"] = " / ".join(dict.fromkeys(phones))
        if any(inc.values.get(k) for k in ("province", "city", "district")):
            canonical_region(inc.values)
        if address:
            sp, sc, sd, rest = split_address(address)
            if sp is None and sc is None:
                inc.notes.append(("import.address_unresolved", "province", {"value": address}))
                notes.append(f"{label}：{address}")
            else:
                vals = inc.values
                if vals.get("province") is None:
                    vals["province"] = sp
                if vals.get("city") is None and vals.get("province") == sp:
                    vals["city"] = sc
                if vals.get("district") is None and vals.get("city") == sc and sd:
                    vals["district"] = sd
                if rest:
                    notes.append(f"{label}：{address}")
        for c in unknown:
            v = row[c.index] if c.index < len(row) else None
            if not is_blank(v):
                notes.append(f"{c.header}：{coerce.to_text(v).strip(_WS)}")
        if notes:
            inc.values["notes"] = _text_join(notes)
        for t, v in default_vals.items():
            if v is None or type(v) is Bad:
                continue
            if t.startswith(FU):
                if inc.has_followup and inc.fu_values.get(t[len(FU):]) is None:
                    inc.fu_values[t[len(FU):]] = v
            elif inc.values.get(t) is None and t not in inc.problems:
                inc.values[t] = v
        if region_defaults:
            canonical_region(inc.values)
        out.append(inc)
    return out
