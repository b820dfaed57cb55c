"""Province / city / district lookup (NBS 2023), tolerant of the short forms people type.

北京 = 北京市, 广东 = 广东省, 广西 = 广西壮族自治区, 深圳 = 深圳市; a district's
suffix may be dropped when that leaves it unambiguous within its city.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_ETHNIC = (
    "朝鲜|土家|苗|侗|布依|藏|彝|哈尼|傣|景颇|傈僳|白|壮|回|维吾尔|蒙古|哈萨克|柯尔克孜|羌|纳西|"
    "怒|独龙|普米|瑶|黎|畲|满|达斡尔|鄂温克|鄂伦春|锡伯|仫佬|毛南|仡佬|水|拉祜|佤|撒拉|土|保安|东乡|裕固|塔吉克"
)
_SUFFIX = re.compile(
    rf"(维吾尔自治区|(?:(?:{_ETHNIC})族)*(?:自治区|自治州|自治县|自治旗)|特别行政区|省|市|地区|盟|新区|区|县|旗)$"
)


def short_name(name: str) -> str:
    """The name people use in speech: 广西壮族自治区 -> 广西, 延边朝鲜族自治州 -> 延边."""
    s = _SUFFIX.sub("", name)
    return s if len(s) >= 2 else name


@dataclass(frozen=True)
class Divisions:
    tree: dict[str, dict[str, list[str]]]
    province_alias: dict[str, str]
    city_alias: dict[str, dict[str, str]]  # province -> alias -> city
    district_alias: dict[tuple[str, str], dict[str, str]]  # (province, city) -> alias -> district

    def province(self, text: str) -> str | None:
        return self.province_alias.get(text.strip())

    def city(self, province: str, text: str) -> str | None:
        return self.city_alias.get(province, {}).get(text.strip())

    def district(self, province: str, city: str, text: str) -> str | None:
        return self.district_alias.get((province, city), {}).get(text.strip())

    def find_city(self, text: str) -> list[tuple[str, str]]:
        """Every (province, city) a city name could mean, for addresses without a province."""
        t = text.strip()
        return [(p, c) for p, aliases in self.city_alias.items() if (c := aliases.get(t))]

    def find_district(self, text: str) -> list[tuple[str, str, str]]:
        t = text.strip()
        return [(p, c, d) for (p, c), aliases in self.district_alias.items() if (d := aliases.get(t))]


def _aliases(names: list[str]) -> dict[str, str]:
    out = {n: n for n in names}
    shorts: dict[str, list[str]] = {}
    for n in names:
        shorts.setdefault(short_name(n), []).append(n)
    for s, full in shorts.items():
        if len(full) == 1 and s not in out:
            out[s] = full[0]
    return out


@cache
def load_divisions() -> Divisions:
    raw = resources.files("crm_sheets.data").joinpath("divisions.json").read_text(encoding="utf-8")
    tree: dict[str, dict[str, list[str]]] = json.loads(raw)
    province_alias = _aliases(list(tree))
    city_alias = {p: _aliases(list(cities)) for p, cities in tree.items()}
    district_alias = {(p, c): _aliases(ds) for p, cities in tree.items() for c, ds in cities.items()}
    return Divisions(tree, province_alias, city_alias, district_alias)
