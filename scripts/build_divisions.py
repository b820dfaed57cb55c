"""Derive crm_sheets/data/divisions.json from the NBS 2023 tree in ../shared/data/divisions.

Placeholder city entries (市辖区, 县, 省直辖县级行政区划, 自治区直辖县级行政区划) are not
cities: a municipality's districts hang under the municipality itself, and directly
administered county-level cities (仙桃市, 石河子市…) count as cities of their province.
Output: {province: {city: [district, ...]}} with full official names.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

PLACEHOLDER_CITIES = {"市辖区", "县", "省直辖县级行政区划", "自治区直辖县级行政区划"}
ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "divisions" / "pca-code.json"
TARGET = ROOT / "crm_sheets" / "data" / "divisions.json"


def build(source: Path = SOURCE) -> dict[str, dict[str, list[str]]]:
    tree = json.loads(source.read_text(encoding="utf-8"))
    out: dict[str, dict[str, list[str]]] = {}
    for prov in tree:
        cities: dict[str, list[str]] = {}
        for city in prov.get("children", []):
            districts = [d["name"] for d in city.get("children", [])]
            if city["name"] in ("市辖区", "县"):
                cities.setdefault(prov["name"], []).extend(districts)
            elif city["name"] in PLACEHOLDER_CITIES:
                for d in districts:
                    cities.setdefault(d, [])
            else:
                cities[city["name"]] = districts
        out[prov["name"]] = cities
    return out


def render(data: dict) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), sort_keys=False) + "\n"


if __name__ == "__main__":
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(render(build(Path(sys.argv[1]) if len(sys.argv) > 1 else SOURCE)), encoding="utf-8")
    print(f"wrote {TARGET}")
